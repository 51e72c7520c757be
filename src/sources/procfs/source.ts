// procfs: TCP/UDP sockets by state from /proc/PID/net/{tcp,tcp6,udp,udp6}, one read per network
// namespace, owners from the socket inodes behind /proc/PID/fd. Sees every netns through the PIDs
// living in it, without entering any (no CAP_SYS_ADMIN).
import { parseDuration } from '../../config/duration.js';
import { isDenied, isGone } from '../../host/io.js';
import type { Transport } from '../../semconv.js';
import type { SourceContext } from '../context.js';
import { pidMappingWarnings } from '../privileges.js';
import type { Collection, HostIO, LinkTable, ProbeResult, SocketRecord, Source } from '../types.js';
import { parseNetTable, parseNsInode, parseStat, socketInode, type NetEntry } from './parse.js';

const TABLES: ReadonlyArray<[file: string, transport: Transport]> = [
  ['tcp', 'tcp'],
  ['tcp6', 'tcp'],
  ['udp', 'udp'],
  ['udp6', 'udp'],
];

interface NetTable {
  entries: NetEntry[];
  skipped: number;
}

interface Scan {
  /** pid -> the socket inodes in its fd table, in table order */
  held: Map<number, number[]>;
  /** pids whose table came partly from the cache this cycle */
  fromCache: number[];
  /** netns inode -> a PID inside it, whose /proc/PID/net shows that netns */
  namespaces: Map<number, string>;
  denied: number;
}

/**
 * An fd table kept between cycles. Reading a link costs a system call (about 6 µs here, 60 ms for
 * 10,000 sockets), listing the table about 1 µs per fd. So a large table is read whole once, and
 * afterwards only the links of fd numbers that are new: an fd number that is still there is taken
 * to hold what it held. That is wrong only when the fd was closed and its number reused within
 * one cycle, and it is put right as follows:
 * - reused for a socket: the new socket's inode is held by no fd read. Still so in the next
 *   cycle, it sends every table served from the cache to be read whole. The cycle's wait lets a
 *   socket opened during the scan, by a process read before, be found by the next scan instead
 *   (the aggregator holds a new ownerless socket back one cycle anyway); sockets no fd holds
 *   after a whole read (the kernel's own, those of processes the agent may not inspect) are
 *   remembered, so that they do not send tables to be read whole every cycle;
 * - reused for something else while the old socket lives on in another process (handed over
 *   or inherited): nothing shows it, and the old socket stays credited to this process too
 *   until the table is read whole again, after fdCacheMaxAge;
 * - a new process under the same PID: its start time differs, so the table is read whole.
 */
interface CachedTable {
  /** undefined: seen large once, not read whole after its start time yet, so not served. */
  startTicks: number | undefined;
  /** fd name -> socket inode, 0 for anything else */
  fds: Map<string, number>;
  readWholeAtMs: number;
}

/** Tables smaller than this are read whole every cycle: the saving would not pay for the cache. */
export const MIN_CACHED_FDS = 128;

/** What the source keeps from one cycle to the next. */
interface ProcfsState {
  tables: Map<number, CachedTable>;
  /** Socket inodes no fd held at the end of the last cycle. */
  unowned: Set<number>;
  /** Socket inodes no fd held even after every table was read whole: they need no search. */
  settled: Set<number>;
}

export function createProcfsSource(ctx: SourceContext): Source {
  const { io } = ctx;
  const root = ctx.config.procRoot;
  const maxAgeMs = parseDuration(ctx.config.procfs.fdCacheMaxAge) ?? 0;
  const state: ProcfsState = { tables: new Map(), unowned: new Set(), settled: new Set() };
  return {
    name: 'procfs',
    mode: 'polled',
    families: ['connections'],

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

/** Sockets from the net tables of every netns, with the processes holding them. */
async function collect(io: HostIO, root: string, maxAgeMs: number, state: ProcfsState): Promise<Collection> {
  const scan = await scanProcesses(io, root, maxAgeMs, state);
  const tables: Array<{ netns: number; transport: Transport; entries: NetEntry[] }> = [];
  let skipped = 0;
  for (const [netns, pid] of scan.namespaces) {
    for (const [file, transport] of TABLES) {
      const table = await readTable(io, `${root}/${pid}/net/${file}`, transport);
      if (!table) continue; // the PID left, or the protocol (IPv6) is disabled
      skipped += table.skipped;
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
  return { sockets, errors: { parse: skipped, permission: scan.denied } };
}

/** socket inode -> the PID holding it, or the PIDs when several do (after a fork, or passed on) */
function ownersOf(held: Map<number, number[]>): Map<number, number | number[]> {
  const owners = new Map<number, number | number[]>();
  for (const [owner, inodes] of held) {
    for (const inode of inodes) {
      const holders = owners.get(inode);
      if (holders === undefined) owners.set(inode, owner);
      else if (typeof holders === 'number') {
        if (holders !== owner) owners.set(inode, [holders, owner]);
      } else if (!holders.includes(owner)) holders.push(owner);
    }
  }
  return owners;
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

/**
 * One table, parsed block by block when the host can read it so (parseNetTable reads each row
 * alone, so the result is the same); undefined when it cannot be read.
 */
async function readTable(io: HostIO, path: string, transport: Transport): Promise<NetTable | undefined> {
  try {
    // Sockets with an inode are named by it: their endpoints need not be decoded.
    if (!io.readLines) return parseNetTable(await io.readFile(path), transport, 'without-inode');
    const table: NetTable = { entries: [], skipped: 0 };
    await io.readLines(path, (text) => {
      const block = parseNetTable(text, transport, 'without-inode');
      for (const entry of block.entries) table.entries.push(entry);
      table.skipped += block.skipped;
    });
    return table;
  } catch {
    return undefined;
  }
}

async function scanProcesses(io: HostIO, root: string, maxAgeMs: number, state: ProcfsState): Promise<Scan> {
  const scan: Scan = { held: new Map(), fromCache: [], namespaces: new Map(), denied: 0 };
  // The agent's own netns first, so it is read even when no other PID can be inspected.
  const self = await io.readlink(`${root}/self/ns/net`).then(parseNsInode, () => undefined);
  if (self !== undefined) scan.namespaces.set(self, 'self');
  const pids = (await io.readdir(root)).filter((name) => /^\d+$/.test(name));
  const live = new Set<number>();
  const options = { maxAgeMs, state, live };
  if (io.readLinks) {
    // One process after the other: readLinks reads a whole fd table at once, and yields to the
    // event loop before each, so the loop waits for one table at most.
    for (const pid of pids) await scanProcess(io, root, pid, scan, options);
  } else {
    await Promise.all(pids.map((pid) => scanProcess(io, root, pid, scan, options)));
  }
  for (const pid of state.tables.keys()) if (!live.has(pid)) state.tables.delete(pid);
  return scan;
}

interface TableOptions {
  /** 0: read every link every cycle, keep nothing. */
  maxAgeMs: number;
  state: ProcfsState;
  /** Read the table whole, whatever the cache holds; its start time was read earlier this cycle. */
  whole?: boolean;
}

/** Reads one process's netns and the socket inodes of its fd table into scan. */
async function scanProcess(
  io: HostIO,
  root: string,
  pid: string,
  scan: Scan,
  options: TableOptions & { live: Set<number> },
): Promise<void> {
  const owner = Number(pid);
  try {
    const netns = parseNsInode(await io.readlink(`${root}/${pid}/ns/net`));
    if (netns !== undefined && !scan.namespaces.has(netns)) scan.namespaces.set(netns, pid);
    options.live.add(owner);
    await readFdTable(io, root, owner, scan, options);
  } catch (err) {
    scanFailed(err, owner, scan, options.state);
  }
}

/**
 * The socket inodes of one fd table into scan.held, from the cache where it may, keeping a large
 * table for the next cycle. A table is served from the cache from the third cycle it is seen
 * large: its start time must have been read before its links (see CachedTable).
 */
async function readFdTable(io: HostIO, root: string, owner: number, scan: Scan, options: TableOptions): Promise<void> {
  const { maxAgeMs, state, whole } = options;
  const dir = `${root}/${owner}`;
  const kept = maxAgeMs > 0 ? state.tables.get(owner) : undefined;
  // Before the links: a process that takes this PID after this read has another start time.
  const startTicks = kept === undefined ? undefined : whole ? kept.startTicks : await readStartTicks(io, dir);
  const now = io.now();
  const fresh = kept?.startTicks !== undefined && kept.startTicks === startTicks && now - kept.readWholeAtMs < maxAgeMs;
  const cached = fresh && !whole ? kept : undefined;
  const fdDir = `${dir}/fd`;
  const { names, targets } = io.readLinks
    ? await io.readLinks(fdDir, cached && ((name) => cached.fds.has(name)))
    : await readLinksOneByOne(io, fdDir, cached);
  const large = maxAgeMs > 0 && names.length >= MIN_CACHED_FDS;
  const fds = new Map<string, number>();
  const inodes: number[] = [];
  for (let i = 0; i < names.length; i++) {
    const target = targets[i];
    const inode = target === undefined ? cached!.fds.get(names[i]!)! : (socketInode(target) ?? 0);
    if (large) fds.set(names[i]!, inode);
    if (inode !== 0) inodes.push(inode);
  }
  scan.held.set(owner, inodes);
  if (!large) {
    state.tables.delete(owner);
  } else if (cached) {
    scan.fromCache.push(owner);
    cached.fds = fds;
  } else {
    state.tables.set(owner, { startTicks, fds, readWholeAtMs: now });
  }
}

/** A process that vanished is silent; one the agent may not inspect is counted. */
function scanFailed(err: unknown, owner: number, scan: Scan, state: ProcfsState): void {
  state.tables.delete(owner);
  if (isDenied(err)) scan.denied++;
  else if (!isGone(err)) throw err;
}

async function readStartTicks(io: HostIO, dir: string): Promise<number | undefined> {
  return parseStat(await io.readFile(`${dir}/stat`))?.startTicks;
}

/** For a HostIO without readLinks; a link that vanishes meanwhile reads as ''. */
async function readLinksOneByOne(io: HostIO, dir: string, cached: CachedTable | undefined): Promise<LinkTable> {
  const names = await io.readdir(dir);
  const targets = await Promise.all(
    names.map((fd) => (cached?.fds.has(fd) ? undefined : io.readlink(`${dir}/${fd}`).catch(() => ''))),
  );
  return { names, targets };
}
