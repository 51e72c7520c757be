// A long-lived /bin/sh that runs one fixed program (ss, every cycle) on request, so that the agent
// does not fork itself every cycle. Node starts a child with fork(): the kernel copies the agent's
// page tables (100 MB of heap), the child tears them down again at exec, and every page the agent
// writes afterwards takes a copy-on-write fault first. That was about 13 ms of CPU per ss run,
// more than the source's own work at 1,000 sockets (docs/benchmarks.md). A shell of a few hundred
// KiB forks for it instead.
//
// The shell never parses the program or its arguments: they are the script's positional
// parameters, run as "$@", and the script itself is a constant. The program is given by a path
// with a slash (resolve()), so the shell runs that file: no builtin, no function, no PATH search.
// A request carries no data at all (an empty line). The program's stdin is /dev/null, its stdout
// the launcher's spool (an unlinked file opened for appending, which the agent empties before each
// run and reads back with pread), its stderr the shell's stdout. The reply is that stderr, then a
// line "TOKEN STATUS", where TOKEN is a random string fixed at start.
//
// The shell runs in a process group of its own. A run past its timeout, or a shell that died, ends
// with the group killed (the shell and the program), and the next run starts a new shell with a
// new spool, so that a program that outlived its run cannot write into the next one's output. The
// shell reads requests from a pipe of the agent's: when the agent is gone, even by SIGKILL, `read`
// sees end of file and the shell exits, after the run in progress if any.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, fstatSync, ftruncateSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const SHELL = '/bin/sh';
const SCRIPT = 'token=$1; shift; while IFS= read -r _; do "$@" </dev/null 2>&1 >&3 3>&-; echo "$token $?"; done';
/** The shell's status for a program it could not find, or not execute. */
const NOT_FOUND = 127;
const NOT_EXECUTABLE = 126;

/** A run's failure: the program's status, or a timeout, or the launcher gone; code ENOSPOOL: no file for the output. */
export class LaunchError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

export class Launcher {
  private child: ChildProcess | undefined;
  private spool: number | undefined;
  private token = '';
  private closed = false;
  /** A run, or the reading of its output, is in progress. */
  private busy = false;
  /** The run in progress: its reply so far, and how to end it. */
  private pending: { reply: string; settle(err: Error | undefined, status?: number, stderr?: string): void } | undefined;
  /** Runs, each with the reading of its output, queue behind each other. */
  private queue: Promise<unknown> = Promise.resolve();

  /**
   * `file`: a path with a slash (see resolve()). `openSpool`: an unlinked file opened for reading
   * and appending, or undefined when none can be made; the launcher owns and closes it.
   */
  constructor(
    private readonly file: string,
    private readonly args: readonly string[],
    private readonly openSpool: () => number | undefined,
    private readonly maxStderr: number,
  ) {}

  /** Whether a launcher can work here: a shell to run. */
  static available(): boolean {
    return isExecutable(SHELL);
  }

  /**
   * `file` as the shell is to run it: as it is when it has a slash, else the first executable of
   * that name on PATH, as execvp would find it; undefined when there is none.
   */
  static resolve(file: string): string | undefined {
    if (file.includes('/')) return file;
    for (const dir of (process.env.PATH ?? '').split(delimiter)) {
      if (dir === '') continue;
      const path = join(dir, file);
      if (isExecutable(path)) return path;
    }
    return undefined;
  }

  /**
   * Runs the program once and hands its output (the spool, and its size) to `read`; the spool is
   * emptied afterwards. Rejects when the program failed (the first line of its stderr), was not
   * found (code ENOENT) or not executable (EACCES), ran past timeoutMs (the shell and the program
   * are killed), when no spool could be made (ENOSPOOL), or with what `read` threw.
   */
  use<T>(timeoutMs: number, read: (spool: number, size: number) => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      this.busy = true;
      try {
        const { spool, size } = await this.runOnce(timeoutMs);
        return await read(spool, size);
      } finally {
        this.busy = false;
        this.afterRun();
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Ends the shell (and a program it runs); the spool is closed once a run reading it is done. */
  close(): void {
    this.closed = true;
    this.end(new LaunchError(`${this.file}: the agent is stopping`));
    if (!this.busy) this.afterRun();
  }

  private runOnce(timeoutMs: number): Promise<{ spool: number; size: number }> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new LaunchError(`${this.file}: the agent is stopping`));
      this.spool ??= this.openSpool();
      if (this.spool === undefined) return reject(new LaunchError(`${this.file}: no file for its output`, 'ENOSPOOL'));
      const spool = this.spool;
      ftruncateSync(spool, 0);
      const child = this.child ?? this.start(spool);
      const timer = setTimeout(() => this.end(new LaunchError(`${this.file} timed out after ${timeoutMs} ms`)), timeoutMs);
      this.pending = {
        reply: '',
        settle: (err, status, stderr) => {
          clearTimeout(timer);
          this.pending = undefined;
          if (err) return reject(err);
          if (status === 0) return resolve({ spool, size: fstatSync(spool).size });
          reject(this.failure(status!, stderr ?? ''));
        },
      };
      child.stdin!.write('\n');
    });
  }

  /** The spool emptied, or closed when the launcher was stopped or the run ended abnormally. */
  private afterRun(): void {
    if (this.spool === undefined) return;
    if (this.closed || this.child === undefined) {
      // No shell: it was stopped, or died. A program it ran may live on with the spool open.
      closeSync(this.spool);
      this.spool = undefined;
    } else {
      ftruncateSync(this.spool, 0);
    }
  }

  private failure(status: number, stderr: string): LaunchError {
    const first = stderr.trim().split('\n', 1)[0] ?? '';
    if (status === NOT_FOUND) return new LaunchError(`cannot run ${this.file}: not found`, 'ENOENT');
    if (status === NOT_EXECUTABLE) return new LaunchError(`cannot run ${this.file}: not executable`, 'EACCES');
    // The shell reports a program killed by signal N as 128 + N.
    return new LaunchError(`${this.file} failed with ${status}: ${first}`);
  }

  private start(spool: number): ChildProcess {
    this.token = `netproc-${process.getBuiltinModule('node:crypto').randomUUID()}`;
    const child = spawn(SHELL, ['-c', SCRIPT, 'netproc-launcher', this.token, this.file, ...this.args], {
      stdio: ['pipe', 'pipe', 'ignore', spool],
      detached: true,
      env: { ...process.env, LC_ALL: 'C' },
    });
    // Listeners first: a spawn that fails (EMFILE, EAGAIN) emits 'error' on the next tick.
    child.once('error', (err) => this.end(err, child));
    child.once('exit', (code, signal) => this.end(new LaunchError(`${SHELL} for ${this.file} exited (${code ?? signal})`), child));
    if (!child.stdin || !child.stdout) throw new LaunchError(`cannot start ${SHELL} for ${this.file}`);
    this.child = child;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => this.onReply(text));
    child.stdin.on('error', () => undefined); // EPIPE once the shell is gone: its exit says why.
    // Neither the shell nor its pipes keep the agent running: close() or the agent's exit ends it.
    child.unref();
    (child.stdout as unknown as { unref(): void }).unref();
    (child.stdin as unknown as { unref(): void }).unref();
    return child;
  }

  private onReply(text: string): void {
    const pending = this.pending;
    if (!pending) return;
    pending.reply += text;
    const end = pending.reply.lastIndexOf(`${this.token} `);
    if (end === -1 || !pending.reply.endsWith('\n')) {
      // Bounded: the head of the program's stderr (what is reported) and the tail (where the
      // status line arrives) are kept.
      const half = this.maxStderr >> 1;
      if (pending.reply.length > this.maxStderr) pending.reply = pending.reply.slice(0, half) + pending.reply.slice(-half);
      return;
    }
    // What came before the status line is the program's stderr.
    pending.settle(undefined, Number(pending.reply.slice(end + this.token.length + 1).trim()), pending.reply.slice(0, end));
  }

  /**
   * The shell is done with: its process group is killed (a program it ran with it), and the run in
   * progress, if any, fails with err. `child`: only if that is still the launcher's shell.
   */
  private end(err: Error, child: ChildProcess | undefined = this.child): void {
    if (child === undefined || child !== this.child) return;
    this.child = undefined;
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // The group is gone already.
      }
    }
    child.stdin?.destroy();
    child.stdout?.destroy();
    this.pending?.settle(err);
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
