// Process identity: PID plus start time, so a reused PID is a new process.
import { sanitizeName } from './names.js';
import { parseContainerId, parseStat } from './proc/parse.js';
import type { HostIO } from './types.js';

/** USER_HZ: /proc/PID/stat counts start time in these ticks; 100 on every mainstream Linux ABI. */
const CLOCK_TICKS_PER_SECOND = 100;
/** An executable's base name may be up to 255 bytes; a label keeps this many characters. */
const MAX_NAME_LENGTH = 128;

export interface ProcessIdentity {
  /** `pid/startTicks`: unique across PID reuse. */
  key: string;
  pid: number;
  startTicks: number;
  /** Wall-clock start, the `startTime` of the process's cumulative series. */
  startTimeMs: number;
  /** Base name of /proc/PID/exe, falling back to comm. */
  name: string;
  containerId?: string;
}

export function exeBaseName(link: string): string {
  const path = link.endsWith(' (deleted)') ? link.slice(0, -' (deleted)'.length) : link;
  return path.slice(path.lastIndexOf('/') + 1);
}

export async function readBootTimeMs(io: HostIO, procRoot: string): Promise<number> {
  const stat = await io.readFile(`${procRoot}/stat`).catch(() => '');
  const match = /^btime (\d+)$/m.exec(stat);
  return match ? Number(match[1]) * 1000 : 0;
}

/**
 * Resolves PIDs to identities, once per collection cycle. /proc/PID/stat costs about 35 µs to
 * read (the kernel sums the times of every thread to print it), a stat() of /proc/PID/fd about
 * 8 µs: its inode number is the kernel's instance of that directory, which another process under
 * the same PID never shares. So a PID whose directory is the one seen before keeps its identity
 * without a read; a new inode (a new process, or the kernel dropped the instance) reads stat. A
 * source whose fd scan stat()ed the directory this cycle hands its inode over (learnDirs), and
 * costs the resolver nothing.
 */
export class ProcessResolver {
  private readonly known = new Map<number, ProcessIdentity>();
  /** pid -> the inode number of /proc/PID/fd when its identity in `known` was read. */
  private readonly dirInodes = new Map<number, number>();
  /** pid -> the inode number of /proc/PID/fd a source's scan saw this cycle. */
  private cycleDirs = new Map<number, number>();
  private cycle = new Map<number, Promise<ProcessIdentity | undefined>>();

  constructor(
    private readonly io: HostIO,
    private readonly procRoot: string,
    private readonly bootTimeMs: number,
  ) {}

  static async create(io: HostIO, procRoot: string): Promise<ProcessResolver> {
    return new ProcessResolver(io, procRoot, await readBootTimeMs(io, procRoot));
  }

  /** Starts a new cycle: a PID's start time is read again, once. */
  beginCycle(): void {
    this.cycle = new Map();
    this.cycleDirs = new Map();
  }

  /** What a source's fd scan stat()ed this cycle: pid -> inode number of /proc/PID/fd. */
  learnDirs(dirs: ReadonlyMap<number, number>): void {
    for (const [pid, ino] of dirs) this.cycleDirs.set(pid, ino);
  }

  resolve(pid: number): Promise<ProcessIdentity | undefined> {
    let pending = this.cycle.get(pid);
    if (!pending) {
      pending = this.lookup(pid);
      this.cycle.set(pid, pending);
    }
    return pending;
  }

  async isAlive(identity: ProcessIdentity): Promise<boolean> {
    return (await this.resolve(identity.pid))?.key === identity.key;
  }

  private async lookup(pid: number): Promise<ProcessIdentity | undefined> {
    const dir = `${this.procRoot}/${pid}`;
    // Undefined where stat() fails: stat is read, and says whether the process is there.
    const dirIno =
      this.cycleDirs.get(pid) ??
      (await this.io.stat(`${dir}/fd`).then(
        ({ ino }) => ino,
        () => undefined,
      ));
    const known = this.known.get(pid);
    if (known && dirIno !== undefined && this.dirInodes.get(pid) === dirIno) return known;
    let stat;
    try {
      stat = parseStat(await this.io.readFile(`${dir}/stat`));
    } catch {
      stat = undefined; // exited mid-scan: normal
    }
    if (!stat) {
      this.forget(pid);
      return undefined;
    }
    // Read before stat: a process that took the PID meanwhile has another inode, read next cycle.
    if (dirIno === undefined) this.dirInodes.delete(pid);
    else this.dirInodes.set(pid, dirIno);
    if (known && known.startTicks === stat.startTicks) return known;

    const [exe, cgroup] = await Promise.all([
      this.io.readlink(`${dir}/exe`).catch(() => ''),
      this.io.readFile(`${dir}/cgroup`).catch(() => ''),
    ]);
    const identity: ProcessIdentity = {
      key: `${pid}/${stat.startTicks}`,
      pid,
      startTicks: stat.startTicks,
      startTimeMs: this.bootTimeMs + (stat.startTicks * 1000) / CLOCK_TICKS_PER_SECOND,
      name: sanitizeName(exe ? exeBaseName(exe) : stat.comm, MAX_NAME_LENGTH) ?? '',
    };
    const containerId = parseContainerId(cgroup);
    if (containerId) identity.containerId = containerId;
    this.known.set(pid, identity);
    return identity;
  }

  private forget(pid: number): void {
    this.known.delete(pid);
    this.dirInodes.delete(pid);
  }
}
