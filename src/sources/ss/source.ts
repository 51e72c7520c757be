// ss (iproute2): TCP bytes and segments from tcp_info, and TCP/UDP sockets by state, with owners.
// Sees the network namespace the agent runs in (the host's, with hostNetwork); see docs/sources.md.
import type { ConfigOf } from '../../config/keys.js';
import { SocketOwners } from '../../host/proc/fd-tables.js';
import type { HostIO } from '../../host/types.js';
import type { SourceContext } from '../definition.js';
import { pidMappingWarnings, procRootFix } from '../privileges.js';
import type { Collection, ProbeResult, SourceBehaviour } from '../types.js';
import type { config } from './config.js';
import { parseSs, type SsListing } from './parse.js';

/**
 * tcp + udp, all states, numeric, tcp_info (-i), inode (-e), no header, one line per socket. No
 * -p: ss would map inodes to processes through a hash of 256 chains, a cost that grows with the
 * square of the sockets (docs/benchmarks.md); the source reads the fd tables itself instead.
 */
export const SS_ARGS = ['-t', '-u', '-a', '-n', '-i', '-e', '-H', '-O'] as const;

type Settings = ConfigOf<typeof config>;

export function createSsSource(ctx: SourceContext<Settings>): SourceBehaviour {
  const { io, settings } = ctx;
  const root = ctx.agent.procRoot;
  const timeoutMs = settings.timeout;
  // Unset: read every link every cycle. ss lists its own netns only: no process's netns is read.
  const ownership = new SocketOwners(io, root, settings.fdCacheMaxAge ?? 0, false);
  return {
    async probe(): Promise<ProbeResult> {
      const result: ProbeResult = { usable: true, problems: [], warnings: [], details: [] };
      try {
        result.details.push((await io.run(settings.path, ['--version'], { timeoutMs })).trim());
        await io.run(settings.path, ['-t', '-a', '-n', '-H'], { timeoutMs });
      } catch (err) {
        result.usable = false;
        result.problems.push({
          what: `cannot run ${JSON.stringify(settings.path)}: ${shortError(err)}`,
          fix: 'install iproute2 (Debian/Ubuntu: apt-get install iproute2) or set ss.path',
        });
        return result;
      }
      try {
        await io.readdir(`${root}/self/fd`);
      } catch (err) {
        result.usable = false;
        result.problems.push({
          what: `cannot read ${root}/self/fd, where the owners of sockets are found (${(err as NodeJS.ErrnoException).code ?? err})`,
          fix: procRootFix(root),
        });
        return result;
      }
      result.warnings.push(...pidMappingWarnings(ctx.privileges, 'ss'));
      return result;
    },

    collect: () => collect(io, settings, ownership),
  };
}

/**
 * The sockets ss lists, with the processes holding them. ss is a child process, so the agent
 * reads the fd tables meanwhile; the owners are then looked up by the inodes ss printed. A process
 * the agent may not inspect, or that failed otherwise, is counted (permission, process) and its
 * sockets have no owner.
 */
async function collect(io: HostIO, settings: Settings, ownership: SocketOwners): Promise<Collection> {
  // ss first: it is spawned before the scan starts.
  const [listed, scan] = await bothSettled(listSockets(io, settings), ownership.scan());
  const owners = await ownership.owners(scan, listed.inodes);
  const { sockets, inodes } = listed;
  for (let i = 0; i < sockets.length; i++) {
    // 0: no inode (TIME-WAIT), so no owner; the id is the 4-tuple.
    const holders = inodes[i] === 0 ? undefined : owners.get(inodes[i]!);
    if (typeof holders === 'number') sockets[i]!.pids.push(holders);
    // Handed over as is: ss lists a socket once, so each inode's array goes to one record.
    else if (holders) sockets[i]!.pids = holders.sort((a, b) => a - b);
  }
  return { sockets, processDirs: scan.dirs, errors: { parse: listed.skipped, permission: scan.denied, process: scan.failed } };
}

/** Runs ss and parses its output, owners left empty. */
async function listSockets(io: HostIO, settings: Settings): Promise<SsListing> {
  // parseSs reads each line alone, so parsing the output block by block gives what parsing it
  // whole would, without a string of the whole output (~630 bytes a socket).
  const listed: SsListing = { sockets: [], inodes: [], skipped: 0 };
  await io.runLines(
    settings.path,
    SS_ARGS,
    (text) => {
      const block = parseSs(text);
      for (const socket of block.sockets) listed.sockets.push(socket);
      for (const inode of block.inodes) listed.inodes.push(inode);
      listed.skipped += block.skipped;
    },
    { timeoutMs: settings.timeout },
  );
  // ss always lists the agent's own sockets (its metrics endpoint, its OTLP connection). An
  // answer without a single socket is a broken ss, not an empty host: applied, it would make
  // every socket look closed, and each would be counted again, from zero, when seen next.
  if (listed.sockets.length === 0) {
    throw new Error(listed.skipped > 0 ? `ss printed ${listed.skipped} lines and not one socket could be read` : 'ss printed no socket at all');
  }
  return listed;
}

/**
 * Both results once both have settled, or the first failure. The scan is always awaited: one
 * left running past a failed cycle would share the fd table cache with the next cycle's scan.
 */
async function bothSettled<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [first, second] = await Promise.allSettled([a, b]);
  if (first.status === 'rejected') throw first.reason;
  if (second.status === 'rejected') throw second.reason;
  return [first.value, second.value];
}

export function shortError(err: unknown): string {
  const e = err as { shortMessage?: string; message?: string; code?: string };
  return (e.code ?? e.shortMessage ?? e.message ?? String(err)).split('\n', 1)[0]!;
}
