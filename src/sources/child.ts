// A long-running tool (bpftrace, nethogs) supervised for a streaming source: argument array, no
// shell, output streamed line by line and never buffered whole, stderr kept short, and a child that
// dies with the agent even when the agent is SIGKILLed (PR_SET_PDEATHSIG through setpriv).
import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import type { HostIO, Problem } from './types.js';

/** Stderr lines kept for error messages. */
const STDERR_LINES = 20;
const STOP_GRACE_MS = 3000;

export interface ChildSpec {
  file: string;
  args: readonly string[];
  env?: Record<string, string>;
  /** Wrap in `setpriv --pdeathsig SIGKILL` so the child cannot outlive the agent (see hasSetpriv). */
  pdeathsig: boolean;
  onLine(line: string): void;
  onStderr?(line: string): void;
  /** Which stderr line says why the child exited: the last it matches (default: looksLikeError). */
  isErrorLine?(line: string): boolean;
}

export class SupervisedChild {
  private process: ResultPromise | undefined;
  private exit: Promise<void> | undefined;
  private exitReason: string | undefined;
  private readonly stderr: string[] = [];

  constructor(private readonly spec: ChildSpec) {}

  /** Why the child is not running, or undefined while it runs. */
  get failure(): string | undefined {
    if (!this.process) return 'not started';
    return this.exitReason;
  }

  start(): void {
    const { spec } = this;
    const [file, args] = spec.pdeathsig
      ? ['setpriv', ['--pdeathsig', 'SIGKILL', '--', spec.file, ...spec.args]]
      : [spec.file, [...spec.args]];
    const child = execa(file, args, {
      buffer: false,
      stdin: 'ignore',
      reject: false,
      env: { LC_ALL: 'C', ...spec.env },
      extendEnv: true,
      cleanup: true,
    });
    this.process = child;
    createInterface({ input: child.stdout! }).on('line', (line) => spec.onLine(line));
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (this.stderr.length === STDERR_LINES) this.stderr.shift();
      this.stderr.push(line);
      spec.onStderr?.(line);
    });
    this.exit = child.then((result) => {
      const how = result.signal ? `signal ${result.signal}` : `code ${result.exitCode}`;
      const why = [...this.stderr].reverse().find(spec.isErrorLine ?? looksLikeError) ?? this.stderr.at(-1);
      this.exitReason = `${spec.file} exited with ${how}${why ? `: ${why}` : ''}`;
    });
  }

  /**
   * Starts the child and resolves once `ready` does. Rejects, with the child stopped, when the
   * child exits first (with why) or `ready` takes longer than timeoutMs.
   */
  async startUntil(ready: Promise<void>, timeoutMs: number, messages: { exited: string; timedOut: string }): Promise<void> {
    this.start();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        ready,
        this.exited().then(() => {
          throw new Error(this.failure ?? messages.exited);
        }),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(messages.timedOut)), timeoutMs);
        }),
      ]);
    } catch (err) {
      await this.stop();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves when the child has exited (immediately if it never started). */
  async exited(): Promise<void> {
    await this.exit;
  }

  /** Stops the child: SIGTERM, then SIGKILL after a grace period. */
  async stop(): Promise<void> {
    const child = this.process;
    if (!child || this.exitReason !== undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await this.exit;
    clearTimeout(timer);
  }
}

/** A stderr line that says something failed. */
export function looksLikeError(line: string): boolean {
  return /error|fail/i.test(line);
}

/** The probe's warning when hasSetpriv is false. */
export function setprivWarning(tool: string): Problem {
  return {
    what: `setpriv is missing: ${tool} may outlive the agent if the agent is SIGKILLed`,
    fix: 'install util-linux (setpriv), which sets the child\'s parent-death signal',
  };
}

const setprivPresence = new WeakMap<HostIO, Promise<boolean>>();

/** Whether setpriv (util-linux) is here to set the child's parent-death signal; asked once per host. */
export function hasSetpriv(io: HostIO): Promise<boolean> {
  let present = setprivPresence.get(io);
  if (!present) {
    present = io.run('setpriv', ['--version'], { timeoutMs: 5000 }).then(
      () => true,
      () => false,
    );
    setprivPresence.set(io, present);
  }
  return present;
}
