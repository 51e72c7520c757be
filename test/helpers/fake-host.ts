// An in-memory /proc for unit tests: processes come and go by calling spawn() and exit().
import type { HostIO } from '../../src/sources/types.js';

export class FakeHost implements HostIO {
  private readonly procs = new Map<number, { comm: string; startTicks: number; exe: string }>();
  files = new Map<string, string>();
  clock = 1_000_000;

  spawn(pid: number, comm: string, startTicks = pid * 10, exe = `/usr/bin/${comm}`): void {
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
      // fields 3..21 are irrelevant here; field 22 is starttime
      const middle = Array.from({ length: 19 }, () => '0').join(' ');
      return `${stat[1]} (${p.comm}) S ${middle} ${p.startTicks} 0 0\n`;
    }
    if (path === '/proc/stat') return 'cpu 0\nbtime 1700000000\n';
    const file = this.files.get(path);
    if (file === undefined) throw Object.assign(new Error(`no ${path}`), { code: 'ENOENT' });
    return file;
  }

  async readdir(): Promise<string[]> {
    return [];
  }

  async readlink(path: string): Promise<string> {
    const exe = /^\/proc\/(\d+)\/exe$/.exec(path);
    const p = exe && this.procs.get(Number(exe[1]));
    if (!p) throw Object.assign(new Error('gone'), { code: 'ENOENT' });
    return p.exe;
  }

  async run(): Promise<string> {
    throw new Error('no commands in FakeHost');
  }

  now = (): number => this.clock;
}
