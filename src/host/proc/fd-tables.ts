// The socket inodes each process holds, from the links of /proc/PID/fd, and the network namespace
// each process lives in; large fd tables are kept between cycles and only their new fd numbers
// read (see CachedTable). SocketOwners turns that into socket inode -> the PIDs holding it, for
// every source that lists sockets by inode (procfs, ss).
import { isDenied, isGone } from '../io.js';
import type { HostIO, LinkTable } from '../types.js';
import { parseNsInode, socketInode } from './parse.js';

export interface Scan {
  /** pid -> the socket inodes in its fd table, in table order */
  held: Map<number, number[]>;
  /** pids whose table came partly from the cache this cycle */
  fromCache: number[];
  /** netns inode -> a PID inside it, whose /proc/PID/net shows that netns */
  namespaces: Map<number, string>;
  /** pid -> the inode number of /proc/PID/fd this cycle (with the cache on): which process instance was read */
  dirs: Map<number, number>;
  /** Processes the agent may not inspect (EACCES, EPERM). */
  denied: number;
  /** Processes skipped for an unexpected error (not gone, not denied), e.g. EIO, ELOOP. */
  failed: number;
}


/**
 * An fd table kept between cycles. Listing /proc/PID/fd costs about 30 µs and reading one link
 * about 6 µs (1,000 processes holding 15,000 fds: 35 + 95 ms here); a stat() of the directory
 * about 8 µs. Since Linux 6.2 that stat() gives the number of open fds as the size, and its inode
 * number is the kernel's instance of this directory: another process under the same PID gets a
 * new one (so may the same process, when the kernel dropped the instance: that only costs a
 * read). So each cycle a table costs one stat(), and:
 * - same directory, same fd count: the table is served as kept, nothing read;
 * - same directory, another count: a large table (MIN_CACHED_FDS fds or more) is listed, and only
 *   the links of fd numbers that are new are read; a small one is read whole;
 * - another directory, or kept fdCacheMaxAge: read whole;
 * - a kernel that reports no count (size 0, before 6.2): a large table is listed every cycle and
 *   its new fd numbers read, a small one read whole.
 * An fd number taken to hold what it held is wrong when the fd was closed and its number reused
 * within one cycle, or when one fd was closed and another opened (same count). It is put right:
 * - a new socket: its inode is held by no fd read. Still so in the next cycle, it sends every
 *   table served from the cache to be read whole. The cycle's wait lets a socket opened during
 *   the scan, by a process read before, be found by the next scan instead (the aggregator holds
 *   a new ownerless socket back one cycle anyway); sockets no fd holds after a whole read (the
 *   kernel's own, those of processes the agent may not inspect) are remembered, so that they do
 *   not send tables to be read whole every cycle;
 * - anything else while the old socket lives on in another process (handed over or inherited):
 *   nothing shows it, and the old socket stays credited to this process too until the table is
 *   read whole again, after fdCacheMaxAge.
 */
interface CachedTable {
  /** The inode number of /proc/PID/fd when the table was read whole. */
  dirIno: number;
  /** The fd count stat() gave before the table was last read; 0 where the kernel gives none. */
  count: number;
  /** The socket inodes, in table order. */
  inodes: number[];
  /** Large tables only: fd name -> socket inode, 0 for anything else. */
  fds: Map<string, number> | undefined;
  readWholeAtMs: number;
  /** The netns read with the table (scans that read namespaces), served with it while it is served as kept. */
  netns?: number | undefined;
}

/** Tables smaller than this are read whole when their count changed: a list and a few links cost less than keeping every fd. */
export const MIN_CACHED_FDS = 128;

/** What is kept from one cycle to the next: the fd tables, by PID. */
export interface FdTableState {
  tables: Map<number, CachedTable>;
  /**
   * Whether this kernel gives fd counts: some fd directory had a size. Until then a size of 0 may
   * be a kernel without counts; after, it is a table without fds (a kernel thread's, of which a
   * node has 60 to a few hundred), served as kept like any other.
   */
  countsFds: boolean;
}

/** socket inode -> the PID holding it, or the PIDs when several do (after a fork, or passed on) */
export function ownersOf(held: Map<number, number[]>): Map<number, number | number[]> {
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


/**
 * Reads every process's fd table, and its netns unless `namespaces` is false (a source that lists
 * only its own netns). The netns link (about 8 µs) is kept with the table: read when the table is
 * read, served when it is served as kept; the link of each netns's reader is checked every cycle
 * (docs/sources.md, procfs). A process that vanished is silent, one the agent may not inspect is
 * counted as denied, one with any other error is counted as failed and skipped: one odd process
 * never fails the whole scan.
 */
export async function scanProcesses(io: HostIO, root: string, maxAgeMs: number, state: FdTableState, namespaces = true): Promise<Scan> {
  const scan: Scan = { held: new Map(), fromCache: [], namespaces: new Map(), dirs: new Map(), denied: 0, failed: 0 };
  // The agent's own netns first, so it is read even when no other PID can be inspected.
  const self = namespaces ? await readNetns(io, root, 'self').catch(() => undefined) : undefined;
  if (self !== undefined) scan.namespaces.set(self, 'self');
  const pids = (await io.readdir(root)).filter((name) => /^\d+$/.test(name));
  const live = new Set<number>();
  const netnsOf: NetnsSeen = new Map();
  const options = { maxAgeMs, state, live, namespaces, netnsOf };
  // One process after the other: readLinks reads a whole fd table at once, and yields to the
  // event loop before each, so the loop waits for one table at most.
  for (const pid of pids) await scanProcess(io, root, pid, scan, options);
  for (const pid of state.tables.keys()) if (!live.has(pid)) state.tables.delete(pid);
  if (namespaces && !(await representativesHold(io, root, scan, netnsOf))) {
    // A kept netns was wrong: the process moved (setns) with its fd table as it was. Read every
    // process's netns again; a rare cycle that costs what every cycle cost without the cache.
    for (const [netns, pid] of [...scan.namespaces]) if (pid !== 'self') scan.namespaces.delete(netns);
    for (const [pid, known] of netnsOf) {
      const netns = known.kept ? await readNetns(io, root, pid).catch(() => undefined) : known.netns;
      const table = state.tables.get(Number(pid));
      if (known.kept && table) table.netns = netns;
      if (netns !== undefined && !scan.namespaces.has(netns)) scan.namespaces.set(netns, pid);
    }
  }
  return scan;
}

/**
 * Whether the PID each netns is to be read through still lives in it, where that netns was served
 * from the cache. Another process in it, wrongly kept, does no harm: the netns has its reader.
 */
async function representativesHold(
  io: HostIO,
  root: string,
  scan: Scan,
  netnsOf: NetnsSeen,
): Promise<boolean> {
  for (const [netns, pid] of scan.namespaces) {
    if (netnsOf.get(pid)?.kept !== true) continue;
    if ((await readNetns(io, root, pid).catch(() => undefined)) !== netns) return false;
  }
  return true;
}

/** The inode of the netns `pid` lives in (undefined for an odd link); rejects as readlink does. */
async function readNetns(io: HostIO, root: string, pid: string): Promise<number | undefined> {
  return parseNsInode(await io.readlink(`${root}/${pid}/ns/net`));
}

/** PID -> the netns it was found in this cycle, and whether that was served from the cache. */
type NetnsSeen = Map<string, { netns: number | undefined; kept: boolean }>;

export interface TableOptions {
  /** 0: read every link every cycle, keep nothing. */
  maxAgeMs: number;
  state: FdTableState;
  /** Read the table whole, whatever the cache holds. */
  whole?: boolean;
}

/** Reads one process's netns (if asked) and the socket inodes of its fd table into scan. */
async function scanProcess(
  io: HostIO,
  root: string,
  pid: string,
  scan: Scan,
  options: TableOptions & { live: Set<number>; namespaces: boolean; netnsOf: NetnsSeen },
): Promise<void> {
  const owner = Number(pid);
  try {
    const { namespaces, state, netnsOf } = options;
    // A process with no netns kept: its link first, so that one the agent may not inspect fails
    // before its fd table is read.
    let netns = namespaces && state.tables.get(owner)?.netns === undefined ? await readNetns(io, root, pid) : undefined;
    const kept = await readFdTable(io, root, owner, scan, options);
    if (namespaces) {
      // A table served as kept serves its netns too; a table read again has the link read again.
      const fromCache = netns === undefined && kept?.netns !== undefined;
      if (fromCache) netns = kept!.netns;
      else if (netns === undefined) netns = await readNetns(io, root, pid);
      const table = state.tables.get(owner);
      if (table) table.netns = netns;
      netnsOf.set(pid, { netns, kept: fromCache });
      if (netns !== undefined && !scan.namespaces.has(netns)) scan.namespaces.set(netns, pid);
    }
    options.live.add(owner);
  } catch (err) {
    // Its netns link failed after its table was read: the process is as good as not read.
    scan.held.delete(owner);
    scan.dirs.delete(owner);
    const cached = scan.fromCache.lastIndexOf(owner);
    if (cached !== -1) scan.fromCache.splice(cached, 1);
    scanFailed(err, owner, scan, options.state);
  }
}

/**
 * The socket inodes of one fd table into scan.held, from the cache where it may (see
 * CachedTable), keeping the table for the next cycle. Returns the kept table when it was served
 * as kept, nothing read.
 */
export async function readFdTable(io: HostIO, root: string, owner: number, scan: Scan, options: TableOptions): Promise<CachedTable | undefined> {
  const { maxAgeMs, state, whole } = options;
  const fdDir = `${root}/${owner}/fd`;
  if (maxAgeMs <= 0) {
    scan.held.set(owner, socketInodes(await io.readLinks(fdDir)).inodes);
    return undefined;
  }
  // Before the links: a process that takes this PID after this stat() has another directory.
  const dir = await io.stat(fdDir);
  scan.dirs.set(owner, dir.ino);
  const now = io.now();
  const kept = state.tables.get(owner);
  const same = !whole && kept !== undefined && kept.dirIno === dir.ino && now - kept.readWholeAtMs < maxAgeMs;
  if (dir.size > 0) state.countsFds = true;
  if (same && (dir.size > 0 || state.countsFds) && dir.size === kept.count) {
    scan.held.set(owner, kept.inodes);
    scan.fromCache.push(owner);
    return kept;
  }
  const cached = same ? kept.fds : undefined;
  const table = await io.readLinks(fdDir, cached && ((name) => cached.has(name)));
  const { inodes, fds } = socketInodes(table, cached, table.names.length >= MIN_CACHED_FDS);
  scan.held.set(owner, inodes);
  if (cached) {
    scan.fromCache.push(owner);
    kept!.count = dir.size;
    kept!.inodes = inodes;
    kept!.fds = fds;
  } else {
    state.tables.set(owner, { dirIno: dir.ino, count: dir.size, inodes, fds, readWholeAtMs: now });
  }
  return undefined;
}

/**
 * The socket inodes of a table as read, links not read taken from `cached`; and, when `keep`,
 * the table as fd name -> socket inode (0 for anything else).
 */
function socketInodes(
  { names, targets }: LinkTable,
  cached?: Map<string, number>,
  keep = false,
): { inodes: number[]; fds: Map<string, number> | undefined } {
  const fds = keep ? new Map<string, number>() : undefined;
  const inodes: number[] = [];
  for (let i = 0; i < names.length; i++) {
    const target = targets[i];
    const inode = target === undefined ? cached!.get(names[i]!)! : (socketInode(target) ?? 0);
    fds?.set(names[i]!, inode);
    if (inode !== 0) inodes.push(inode);
  }
  return { inodes, fds };
}

/** A process that vanished is silent; one the agent may not inspect, or that failed otherwise, is counted. */
export function scanFailed(err: unknown, owner: number, scan: Scan, state: FdTableState): void {
  state.tables.delete(owner);
  if (isDenied(err)) scan.denied++;
  else if (!isGone(err)) scan.failed++;
}

/**
 * Who holds each socket, cycle after cycle, with the fd tables kept between cycles (see
 * CachedTable). A source calls scan() for the cycle, lists its sockets, then owners() with the
 * inodes it listed: a socket that no fd read holds two cycles running sends every table served
 * from the cache to be read whole before the answer.
 */
export class SocketOwners {
  private readonly state: FdTableState = { tables: new Map(), countsFds: false };
  /** Socket inodes no fd held at the end of the last cycle. */
  private unowned = new Set<number>();
  /** Socket inodes no fd held even after every table was read whole: they need no search. */
  private settled = new Set<number>();

  /**
   * maxAgeMs 0: read every link every cycle, keep nothing. namespaces false: scan() leaves
   * Scan.namespaces empty, for a source that lists the sockets of its own netns only.
   */
  constructor(
    private readonly io: HostIO,
    private readonly root: string,
    private readonly maxAgeMs: number,
    private readonly namespaces = true,
  ) {}

  scan(): Promise<Scan> {
    return scanProcesses(this.io, this.root, this.maxAgeMs, this.state, this.namespaces);
  }

  /** socket inode -> the PID or PIDs holding it, for the inodes listed this cycle (0: no inode, ignored). */
  async owners(scan: Scan, listed: readonly number[]): Promise<Map<number, number | number[]>> {
    let owners = ownersOf(scan.held);
    // Whether every socket without an owner is known to have none; see CachedTable.
    let complete = scan.fromCache.length === 0;
    if (!complete && this.isStillUnowned(listed, owners)) {
      // A socket no fd read holds, two cycles running: perhaps behind an fd number that was reused.
      const { io, root, maxAgeMs, state } = this;
      for (const pid of scan.fromCache) {
        scan.held.delete(pid);
        await readFdTable(io, root, pid, scan, { maxAgeMs, state, whole: true }).catch((err) => scanFailed(err, pid, scan, state));
      }
      owners = ownersOf(scan.held);
      complete = true;
    }
    const unowned = new Set<number>();
    for (const inode of listed) if (inode !== 0 && !owners.has(inode)) unowned.add(inode);
    this.unowned = unowned;
    this.settled = complete ? unowned : new Set([...this.settled].filter((inode) => unowned.has(inode)));
    return owners;
  }

  /** Whether a socket listed now had no owner in this cycle nor in the last, and is not known to have none. */
  private isStillUnowned(listed: readonly number[], owners: Map<number, unknown>): boolean {
    for (const inode of listed) {
      if (inode !== 0 && !owners.has(inode) && this.unowned.has(inode) && !this.settled.has(inode)) return true;
    }
    return false;
  }
}
