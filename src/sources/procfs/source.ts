// procfs: TCP/UDP sockets by state from /proc/PID/net/{tcp,tcp6,udp,udp6}, one read per network
// namespace, owners from the socket inodes behind /proc/PID/fd. Sees every netns through the PIDs
// living in it, without entering any (no CAP_SYS_ADMIN).
import type { ConfigOf } from '../../config/keys.js';
import { ownersOf, readFdTable, scanFailed, scanProcesses, type FdTableState } from '../../host/proc/fd-tables.js';
import { NET_TABLES, readNetTable } from '../../host/proc/net-tables.js';
import type { NetEntry } from '../../host/proc/parse.js';
import type { Transport } from '../../semconv.js';
import type { SourceContext } from '../definition.js';
import { pidMappingWarnings } from '../privileges.js';
import type { Collection, ProbeResult, SocketRecord, SourceBehaviour } from '../types.js';
import type { config } from './config.js';
import type { HostIO } from '../../host/types.js';

/** What the source keeps from one cycle to the next. */
interface ProcfsState extends FdTableState {
  /** Socket inodes no fd held at the end of the last cycle. */
  unowned: Set<number>;
  /** Socket inodes no fd held even after every table was read whole: they need no search. */
  settled: Set<number>;
}

export function createProcfsSource(ctx: SourceContext<ConfigOf<typeof config>>): SourceBehaviour {
  const { io } = ctx;
  const root = ctx.agent.procRoot;
  // Unset: read every link every cycle.
  const maxAgeMs = ctx.settings.fdCacheMaxAge ?? 0;
  const state: ProcfsState = { tables: new Map(), unowned: new Set(), settled: new Set() };
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
          fix: `check procRoot (now ${root}); in Kubernetes, hostPID: true makes the container's /proc the host's, or mount the host's /proc (hostPath) and set procRoot to where it is mounted`,
        });
        return result;
      }
      result.warnings.push(...pidMappingWarnings(ctx.privileges, 'procfs'));
      return result;
    },

    collect: () => collect(io, root, maxAgeMs, state),
  };
}

/**
 * Sockets from the net tables of every netns, with the processes holding them. A process or a
 * table that cannot be read is counted by kind (permission, process, net_table) and skipped.
 */
async function collect(io: HostIO, root: string, maxAgeMs: number, state: ProcfsState): Promise<Collection> {
  const scan = await scanProcesses(io, root, maxAgeMs, state);
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

  let owners = ownersOf(scan.held);
  // Whether every socket without an owner is known to have none; see CachedTable.
  let complete = scan.fromCache.length === 0;
  if (!complete && isStillUnowned(tables, owners, state)) {
    // A socket no fd read holds, two cycles running: perhaps behind an fd number that was reused.
    for (const pid of scan.fromCache) {
      scan.held.delete(pid);
      await readFdTable(io, root, pid, scan, { maxAgeMs, state, whole: true }).catch((err) => scanFailed(err, pid, scan, state));
    }
    owners = ownersOf(scan.held);
    complete = true;
  }
  const unowned = new Set<number>();

  const sockets: SocketRecord[] = [];
  // Should two tables list a socket (its process moved to another netns meanwhile), keep the first.
  const seenInodes = new Set<number>();
  const seenTuples = new Set<string>();
  for (const { netns, transport, entries } of tables) {
    for (const entry of entries) {
      let id: string;
      let pids: number[] = [];
      if (entry.inode !== 0) {
        if (seenInodes.has(entry.inode)) continue;
        seenInodes.add(entry.inode);
        id = `ino:${entry.inode}`;
        const holders = owners.get(entry.inode);
        if (typeof holders === 'number') pids = [holders];
        // Handed over as is: each inode's array goes to one record only, and owners is dropped.
        else if (holders) pids = holders.sort((a, b) => a - b);
        else unowned.add(entry.inode);
      } else {
        id = `tuple:${netns}:${transport}:${entry.local}->${entry.remote}`;
        if (seenTuples.has(id)) continue;
        seenTuples.add(id);
      }
      sockets.push({ id, transport, state: entry.state, pids });
    }
  }
  state.unowned = unowned;
  state.settled = complete ? unowned : new Set([...state.settled].filter((inode) => unowned.has(inode)));
  errors.permission += scan.denied;
  errors.process += scan.failed;
  return { sockets, errors };
}

/** Whether a table lists a socket that no fd held in this cycle nor in the last, and not known to have no owner. */
function isStillUnowned(tables: Array<{ entries: NetEntry[] }>, owners: Map<number, unknown>, state: ProcfsState): boolean {
  for (const { entries } of tables) {
    for (const { inode } of entries) {
      if (inode !== 0 && !owners.has(inode) && state.unowned.has(inode) && !state.settled.has(inode)) return true;
    }
  }
  return false;
}

