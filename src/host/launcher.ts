// A long-lived /bin/sh that runs one fixed program (ss, every cycle) on request, so that the agent
// does not fork itself every cycle. Node starts a child with fork(): the kernel copies the agent's
// page tables (100 MB of heap), the child tears them down again at exec, and every page the agent
// writes afterwards takes a copy-on-write fault first. That was about 13 ms of CPU per ss run,
// more than the source's own work at 1,000 sockets (docs/benchmarks.md). A shell of a few hundred
// KiB forks for it instead.
//
// The shell never parses the program or its arguments: they are the script's positional
// parameters, run as "$@", and the script itself is a constant. A request carries no data at all
// (an empty line). The output goes to the launcher's spool, an unlinked file the shell holds as
// fd 3 and truncates for each run by opening /proc/self/fd/3 afresh; the agent reads it back with pread.
// The reply, on the shell's stdout, is the program's stderr, then a line "TOKEN STATUS", where
// TOKEN is a random string fixed at start.
//
// The shell runs in a process group of its own, so that a run past its timeout is ended by killing
// the group (the shell and the program) and the next run starts a new shell. It reads requests
// from a pipe of the agent's: when the agent is gone, even by SIGKILL, `read` sees end of file and
// the shell exits, after the run in progress if any.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, fstatSync, ftruncateSync } from 'node:fs';

const SHELL = '/bin/sh';
const SCRIPT = 'token=$1; shift; while IFS= read -r _; do "$@" 2>&1 >/proc/self/fd/3; echo "$token $?"; done';
/** The shell's status for a program it could not find, or not execute. */
const NOT_FOUND = 127;
const NOT_EXECUTABLE = 126;

export interface LauncherRun {
  /** The output, in the launcher's spool; valid until the next run. */
  spool: number;
  size: number;
}

/** A run's failure: the program's status, or a timeout, or the launcher gone. */
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
  private token = '';
  /** The run in progress: its reply so far, and how to end it. */
  private pending: { reply: string; settle(err: Error | undefined, status?: number, stderr?: string): void } | undefined;
  /** Runs queue behind each other: one shell runs one program at a time. */
  private queue: Promise<unknown> = Promise.resolve();

  /** `spool`: an unlinked file open for reading and writing, which the launcher owns from now on. */
  constructor(
    private readonly file: string,
    private readonly args: readonly string[],
    private spool: number | undefined,
    private readonly maxStderr: number,
  ) {}

  /** Whether a launcher can work here: a shell to run. */
  static available(): boolean {
    try {
      accessSync(SHELL, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Runs the program once; resolves with its output in the spool once it exited with 0. Rejects
   * when it failed (the first line of its stderr), was not found (code ENOENT) or not executable
   * (EACCES), or ran past timeoutMs (the shell and the program are killed).
   */
  run(timeoutMs: number): Promise<LauncherRun> {
    const run = this.queue.then(() => this.runNow(timeoutMs));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Empties the spool, so that an output read is not kept on disk until the next run. */
  release(): void {
    if (this.spool !== undefined) ftruncateSync(this.spool, 0);
  }

  /** Ends the shell (and a program it runs) and closes the spool. */
  close(): void {
    this.stop(new LaunchError(`${this.file}: the agent is stopping`));
    if (this.spool !== undefined) closeSync(this.spool);
    this.spool = undefined;
  }

  private runNow(timeoutMs: number): Promise<LauncherRun> {
    return new Promise<LauncherRun>((resolve, reject) => {
      const child = this.child ?? this.start();
      const timer = setTimeout(() => this.stop(new LaunchError(`${this.file} timed out after ${timeoutMs} ms`)), timeoutMs);
      this.pending = {
        reply: '',
        settle: (err, status, stderr) => {
          clearTimeout(timer);
          this.pending = undefined;
          if (err) return reject(err);
          if (status === 0) return resolve({ spool: this.spool!, size: fstatSync(this.spool!).size });
          reject(this.failure(status!, stderr ?? ''));
        },
      };
      child.stdin!.write('\n');
    });
  }

  private failure(status: number, stderr: string): LaunchError {
    const first = stderr.trim().split('\n', 1)[0] ?? '';
    if (status === NOT_FOUND) return new LaunchError(`cannot run ${this.file}: not found`, 'ENOENT');
    if (status === NOT_EXECUTABLE) return new LaunchError(`cannot run ${this.file}: not executable`, 'EACCES');
    // The shell reports a program killed by signal N as 128 + N.
    return new LaunchError(`${this.file} failed with ${status}: ${first}`);
  }

  private start(): ChildProcess {
    if (this.spool === undefined) throw new LaunchError(`${this.file}: the launcher is closed`);
    this.token = `netproc-${process.getBuiltinModule('node:crypto').randomUUID()}`;
    const child = spawn(SHELL, ['-c', SCRIPT, 'netproc-launcher', this.token, this.file, ...this.args], {
      stdio: ['pipe', 'pipe', 'ignore', this.spool],
      detached: true,
      env: { ...process.env, LC_ALL: 'C' },
    });
    this.child = child;
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (text: string) => this.onReply(text));
    child.stdin!.on('error', () => undefined); // EPIPE once the shell is gone: its exit says why.
    child.once('error', (err) => this.gone(child, err));
    child.once('exit', (code, signal) => this.gone(child, new LaunchError(`${SHELL} for ${this.file} exited (${code ?? signal})`)));
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

  /** Kills the shell's process group; the run in progress, if any, fails with err. */
  private stop(err: Error): void {
    const child = this.child;
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    this.gone(child, err);
  }

  private gone(child: ChildProcess | undefined, err: Error): void {
    if (child !== undefined && this.child !== child) return;
    this.child = undefined;
    child?.stdin?.destroy();
    child?.stdout?.destroy();
    this.pending?.settle(err);
  }
}

