// An in-memory /proc for unit tests: processes come and go by calling startProcess() and exit().
// Children a source spawns are FakeChild objects the test drives: it prints lines and ends them.
import type { ChildExit, ChildHandle, HostIO, LinkTable, SpawnSpec } from '../../src/host/types.js';

const enoent = (path: string): Error => Object.assign(new Error(`no ${path}`), { code: 'ENOENT' });

export class FakeHost implements HostIO {
  private readonly procs = new Map<number, { comm: string; startTicks: number; exe: string }>();
  files = new Map<string, string>();
  /** Symlinks by path, e.g. `/proc/10/fd/3` -> `socket:[123]`, `/proc/10/ns/net` -> `net:[4026531840]`. */
  links = new Map<string, string>();
  /** Output of commands, by `file arg arg...`. */
  commands = new Map<string, string>();
  /** readLines and runLines hand over this many lines at a time, so callers see several blocks. */
  blockLines = 3;
  clock = 1_000_000;

  startProcess(pid: number, comm: string, startTicks = pid * 10, exe = `/usr/bin/${comm}`): void {
    this.procs.set(pid, { comm, startTicks, exe });
  }

  exit(pid: number): void {
    this.procs.delete(pid);
  }

  async readFile(path: string): Promise<string> {
    const stat = /^\/proc\/(\d+)\/stat$/.exec(path);
    if (stat) {
      const p = this.procs.get(Number(stat[1]));
      if (!p) throw Object.assign(new Error('gone'), { code: 'ENOENT' });
      // field 3 is the state, fields 4..21 are irrelevant here, field 22 is starttime
      const middle = Array.from({ length: 18 }, () => '0').join(' ');
      return `${stat[1]} (${p.comm}) S ${middle} ${p.startTicks} 0 0\n`;
    }
    if (path === '/proc/stat') return 'cpu 0\nbtime 1700000000\n';
    const file = this.files.get(path);
    if (file === undefined) throw enoent(path);
    return file;
  }

  async readLines(path: string, onLines: (text: string) => void): Promise<void> {
    this.deliver(await this.readFile(path), onLines);
  }

  /** The names of the links and files directly inside `path`; /proc also lists the processes. */
  async readdir(path: string): Promise<string[]> {
    const names = new Set<string>();
    const prefix = `${path}/`;
    for (const key of [...this.links.keys(), ...this.files.keys()]) {
      if (key.startsWith(prefix) && !key.slice(prefix.length).includes('/')) names.add(key.slice(prefix.length));
    }
    if (path === '/proc') for (const pid of this.procs.keys()) names.add(String(pid));
    return [...names];
  }

  /** Every path readlink() was asked for, in order. */
  readlinks: string[] = [];

  async readlink(path: string): Promise<string> {
    this.readlinks.push(path);
    const link = this.links.get(path);
    if (link !== undefined) return link;
    const exe = /^\/proc\/(\d+)\/exe$/.exec(path);
    const p = exe && this.procs.get(Number(exe[1]));
    if (!p) throw Object.assign(new Error('gone'), { code: 'ENOENT' });
    return p.exe;
  }

  /** Whether stat() of a directory gives the number of its links as its size, as /proc/PID/fd does since Linux 6.2. */
  reportsFdCount = true;
  private readonly dirInodes = new Map<string, number>();

  /**
   * A process's directory (/proc/PID, /proc/PID/fd: there while the process is started, or while
   * it holds links), or any directory of links; the size is the number of links. The inode number
   * is one per (path, start time of its process), so a new process under the same PID has
   * another, as in /proc.
   */
  async stat(path: string): Promise<{ ino: number; size: number }> {
    const pid = /^\/proc\/(\d+)(\/|$)/.exec(path);
    const proc = pid ? this.procs.get(Number(pid[1])) : undefined;
    const names = pid?.[2] === '' ? [] : await this.readdir(path);
    // A process's own directories are there while it is; other directories while they hold links.
    if (pid ? !proc && names.length === 0 : names.length === 0) throw enoent(path);
    const instance = `${path}@${proc?.startTicks ?? ''}`;
    let ino = this.dirInodes.get(instance);
    if (ino === undefined) this.dirInodes.set(instance, (ino = 1000 + this.dirInodes.size));
    return { ino, size: this.reportsFdCount ? names.length : 0 };
  }

  /** Links readLinks read, by path: what a cache of fd tables saved shows here. */
  linksRead: string[] = [];

  /** PIDs whose fd directory is there and empty, as a kernel thread's. */
  emptyFdDirs = new Set<number>();
  /** Directories readLinks listed, in order. */
  tablesListed: string[] = [];

  /** An fd directory without links reads as that of a process that is gone, unless its PID is in emptyFdDirs. */
  async readLinks(dir: string, skip?: (name: string) => boolean): Promise<LinkTable> {
    const names = await this.readdir(dir);
    const pid = /^\/proc\/(\d+)\/fd$/.exec(dir);
    if (names.length === 0 && !(pid && this.emptyFdDirs.has(Number(pid[1])) && this.procs.has(Number(pid[1])))) throw enoent(dir);
    this.tablesListed.push(dir);
    const targets = names.map((name) => {
      if (skip?.(name)) return undefined;
      this.linksRead.push(`${dir}/${name}`);
      return this.links.get(`${dir}/${name}`) ?? '';
    });
    return { names, targets };
  }

  async run(file: string, args: readonly string[]): Promise<string> {
    const output = this.commands.get([file, ...args].join(' '));
    if (output === undefined) throw new Error('no commands in FakeHost');
    return output;
  }

  async runLines(file: string, args: readonly string[], onLines: (text: string) => void): Promise<void> {
    this.deliver(await this.run(file, args), onLines);
  }

  /** Children spawned so far, the latest last. */
  children: FakeChild[] = [];
  /** Called with each new child, e.g. to make it print its ready line. */
  onSpawn: (child: FakeChild) => void = () => undefined;

  spawn(spec: SpawnSpec): ChildHandle {
    const child = new FakeChild(spec);
    this.children.push(child);
    this.onSpawn(child);
    return child;
  }

  now = (): number => this.clock;

  private deliver(text: string, onLines: (text: string) => void): void {
    const lines = text.split(/(?<=\n)/);
    for (let at = 0; at < lines.length; at += this.blockLines) onLines(lines.slice(at, at + this.blockLines).join(''));
  }
}

/** A child of the fake host: the test prints its lines and decides how it ends. */
export class FakeChild implements ChildHandle {
  readonly exited: Promise<ChildExit>;
  /** Signals the source sent it. */
  readonly signals: string[] = [];
  private finish!: (exit: ChildExit) => void;
  private done = false;

  constructor(readonly spec: SpawnSpec) {
    this.exited = new Promise((resolve) => (this.finish = resolve));
  }

  /** Prints lines on stdout (as the host's line reader hands them on). */
  print(...lines: string[]): void {
    for (const line of lines) this.spec.onStdout(line);
  }

  printErr(...lines: string[]): void {
    for (const line of lines) this.spec.onStderr(line);
  }

  exit(exit: ChildExit): void {
    if (this.done) return;
    this.done = true;
    this.finish(exit);
  }

  kill(signal: 'SIGTERM' | 'SIGKILL'): void {
    this.signals.push(signal);
    this.exit({ code: null, signal });
  }
}
