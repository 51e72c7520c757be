// A long-running tool (bpftrace, nethogs) supervised for a streaming source: argument array, no
// shell, output streamed line by line and never buffered whole, stderr kept short, and a child that
// dies with the agent even when the agent is SIGKILLed (PR_SET_PDEATHSIG through setpriv).
import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import type { HostIO } from './types.js';

/** Stderr lines kept for error messages. */
const STDERR_LINES = 20;
const STOP_GRACE_MS = 3000;

export interface ChildSpec {
  file: string;
  args: readonly string[];
  env?: Record<string, string>;
  /** Wrap in `setpriv --pdeathsig SIGKILL` so the child cannot outlive the agent. */
  pdeathsig: string | undefined;
  onLine(line: string): void;
  onStderr?(line: string): void;
}

export class SupervisedChild {
  private process: ResultPromise | undefined;
  private exit: Promise<void> | undefined;
  private exitReason: string | undefined;
  private readonly stderr: string[] = [];

  constructor(private readonly spec: ChildSpec) {}

  get pid(): number | undefined {
    return this.process?.pid;
  }

  /** Why the child is not running, or undefined while it runs. */
  get failure(): string | undefined {
    if (!this.process) return 'not started';
    return this.exitReason;
  }

  start(): void {
    const { spec } = this;
    const [file, args] = spec.pdeathsig
      ? [spec.pdeathsig, ['--pdeathsig', 'SIGKILL', '--', spec.file, ...spec.args]]
      : [spec.file, [...spec.args]];
    this.exitReason = undefined;
    this.stderr.length = 0;
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
      // The last error line: bpftrace prints a harmless RLIMIT_MEMLOCK "ERROR" first on every start.
      const why = [...this.stderr].reverse().find((l) => /error|fail/i.test(l) && !/RLIMIT_MEMLOCK/.test(l)) ?? this.stderr.at(-1);
      this.exitReason = `${spec.file} exited with ${how}${why ? `: ${why}` : ''}`;
    });
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

  recentStderr(): readonly string[] {
    return this.stderr;
  }
}

/** Whether setpriv (util-linux) is here to set the child's parent-death signal. */
export async function hasSetpriv(io: HostIO): Promise<boolean> {
  try {
    await io.run('setpriv', ['--version'], { timeoutMs: 5000 });
    return true;
  } catch {
    return false;
  }
}
