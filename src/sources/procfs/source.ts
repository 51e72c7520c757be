// procfs: TCP/UDP sockets by state from /proc/PID/net/{tcp,tcp6,udp,udp6}, one read per network
// namespace, owners from the socket inodes behind /proc/PID/fd. Sees every netns through the PIDs
// living in it, without entering any (no CAP_SYS_ADMIN).
import type { ConfigOf } from '../../config/keys.js';
import { SocketOwners } from '../../host/proc/fd-tables.js';
import { NET_TABLES, readNetTable } from '../../host/proc/net-tables.js';
import type { NetEntry } from '../../host/proc/parse.js';
import type { Transport } from '../../semconv.js';
import type { SourceContext } from '../definition.js';
import { pidMappingWarnings, procRootFix } from '../privileges.js';
import type { Collection, ProbeResult, SocketRecord, SourceBehaviour } from '../types.js';
import type { config } from './config.js';
import type { HostIO } from '../../host/types.js';

export function createProcfsSource(ctx: SourceContext<ConfigOf<typeof config>>): SourceBehaviour {
  const { io } = ctx;
  const root = ctx.agent.procRoot;
  // Unset: read every link every cycle.
  const maxAgeMs = ctx.settings.fdCacheMaxAge ?? 0;
  const ownership = new SocketOwners(io, root, maxAgeMs);
  return {
    async probe(): Promise<ProbeResult> {
      const result: ProbeResult = { usable: true, problems: [], warnings: [], details: [] };
      try {
        await io.readFile(`${root}/self/net/tcp`);
        await io.readdir(`${root}/self/fd`);
      } catch (err) {
        result.usable = false;
        result.problems.push({
          what: `cannot read ${root}/self/net/tcp or ${root}/self/fd (${(err as NodeJS.ErrnoException).code ?? err})`,
          fix: procRootFix(root),
        });
        return result;
      }
      result.warnings.push(...pidMappingWarnings(ctx.privileges, 'procfs'));
      return result;
    },

    collect: () => collect(io, root, ownership),
  };
}

/**
 * Sockets from the net tables of every netns, with the processes holding them. A process or a
 * table that cannot be read is counted by kind (permission, process, net_table) and skipped.
 */
async function collect(io: HostIO, root: string, ownership: SocketOwners): Promise<Collection> {
  const scan = await ownership.scan();
  const tables: Array<{ netns: number; transport: Transport; entries: NetEntry[] }> = [];
  const errors = { parse: 0, permission: 0, process: 0, net_table: 0 };
  for (const [netns, pid] of scan.namespaces) {
    for (const [file, transport] of NET_TABLES) {
      const table = await readNetTable(io, `${root}/${pid}/net/${file}`, transport);
      if ('failed' in table) {
        if (table.failed !== 'gone') errors[table.failed]++;
        continue;
      }
      errors.parse += table.skipped;
      tables.push({ netns, transport, entries: table.entries });
    }
  }

  const listed = listedInodes(tables);
  const owners = await ownership.owners(scan, listed);

  const sockets: SocketRecord[] = [];
  // Should two tables list a socket (a netns read twice, through a process that moved to it
  // meanwhile), keep the first.
  const repeated = repeatedInodes(listed);
  const seenTuples = new Set<string>();
  for (const { netns, transport, entries } of tables) {
    for (const entry of entries) {
      let id: string;
      let pids: number[] = [];
      if (entry.inode !== 0) {
        const seen = repeated.get(entry.inode);
        if (seen === true) continue;
        if (seen === false) repeated.set(entry.inode, true);
        id = `ino:${entry.inode}`;
        const holders = owners.get(entry.inode);
        if (typeof holders === 'number') pids = [holders];
        // Handed over as is: each inode's array goes to one record only, and owners is dropped.
        else if (holders) pids = holders.sort((a, b) => a - b);
      } else {
        id = `tuple:${netns}:${transport}:${entry.local}->${entry.remote}`;
        if (seenTuples.has(id)) continue;
        seenTuples.add(id);
      }
      sockets.push({ id, transport, state: entry.state, pids });
    }
  }
  errors.permission += scan.denied;
  errors.process += scan.failed;
  return { sockets, processDirs: scan.dirs, errors };
}

/**
 * The inodes listed more than once, each mapped to false (not yet taken). Found by sorting: a Set
 * of every inode costs about 0.3 µs a socket (V8 grows it by rehashing), ten times the sort.
 */
function repeatedInodes(listed: readonly number[]): Map<number, boolean> {
  const inodes = Float64Array.from(listed).sort();
  const repeated = new Map<number, boolean>();
  for (let i = 1; i < inodes.length; i++) if (inodes[i] === inodes[i - 1] && inodes[i] !== 0) repeated.set(inodes[i]!, false);
  return repeated;
}

function listedInodes(tables: Array<{ entries: NetEntry[] }>): number[] {
  const inodes: number[] = [];
  for (const { entries } of tables) for (const { inode } of entries) inodes.push(inode);
  return inodes;
}
