// The one lifecycle of a streaming source's child (the ebpf loader, nethogs): started through the host's
// spawn (argument array, no shell, lines bounded in length), ready once the source says so,
// each run (a generation) gathering its own increments and errors until drained, what the child
// says on stderr logged once per kind per outage, and stopped with SIGTERM, then SIGKILL. The
// child dies with the agent even when the agent is SIGKILLed (PR_SET_PDEATHSIG through setpriv).
import type { Logger } from 'pino';
import { boundMessage } from '../host/names.js';
import type { ChildHandle, HostIO } from '../host/types.js';
import { mergeIncrements } from './increments.js';
import type { Collection, Increment, Problem } from './types.js';

/** Stderr lines kept to say why a child exited. */
const STDERR_LINES = 20;
const STOP_GRACE_MS = 3000;
/** The shortest silentLimitMs a source should use: a loaded host can delay a child's print by seconds. */
export const SILENT_LIMIT_MIN_MS = 10_000;
/** Longest message of a child put in a log line. */
const MAX_LOGGED_MESSAGE = 300;

/** One run of the child: what it counted since the last drain. A new child counts from zero. */
export class Generation {
  increments: Increment[] = [];
  errors: Record<string, number> = {};
  /** Why the child is gone, once it is. */
  exitReason: string | undefined;
  readonly stderr: string[] = [];
  handle: ChildHandle | undefined;
  exited: Promise<void> = Promise.resolve();
  /** Called by the source once the child's output says it is ready. */
  ready: () => void = () => undefined;
  /** When the child last printed a line on stdout (io.now()). */
  lastOutputMs = 0;
  /** When the child last printed a line that shows it at work (see LaunchSpec.isProgress). */
  lastProgressMs = 0;
  /** When the child last printed a line the source could not read (see StreamingChild.unreadable). */
  lastUnreadableMs = -Infinity;
  /** See LaunchSpec.silentLimitMs. */
  silentLimitMs: number | undefined;

  add(increments: readonly Increment[]): void {
    if (increments.length === 0) return;
    this.increments = this.increments.length === 0 ? [...increments] : mergeIncrements(this.increments, increments);
  }

  count(kind: string, n = 1): void {
    this.errors[kind] = (this.errors[kind] ?? 0) + n;
  }
}

export interface LaunchSpec {
  file: string;
  args: readonly string[];
  env?: Record<string, string>;
  /** Wrap in `setpriv --pdeathsig SIGKILL` so the child cannot outlive the agent (see hasSetpriv). */
  pdeathsig: boolean;
  /** See SpawnSpec.stdinPipe. */
  stdinPipe?: boolean;
  /** See SpawnSpec.maxLineBytes; a longer line is counted as a `parse` error of its generation. */
  maxLineBytes: number;
  onStdout(line: string, generation: Generation): void;
  onStderr(line: string, generation: Generation): void;
  /** Which stderr line says why the child exited: the last it matches (default: looksLikeError). */
  isErrorLine?(line: string): boolean;
  /** How long the child may take to become ready. */
  readyTimeoutMs: number;
  /**
   * A child that printed nothing on stdout for this long, once ready, is hung (stopped, or stuck in
   * the kernel): `failure` says so, and the collector restarts the source. Set it to a few of the
   * child's own print intervals.
   */
  silentLimitMs?: number;
  /**
   * A stdout line that shows the child at work, for the silent limit (default: any line). A child
   * that prints only garbage for the silent limit reports nothing, as a silent one does.
   */
  isProgress?(line: string): boolean;
  messages: { exited: string; timedOut: string };
}

export class StreamingChild {
  private current: Generation | undefined;
  /** Generations not drained yet: the current one, and replaced ones still printing. */
  private generations: Generation[] = [];
  /** Kinds of message logged in the current outage of each; see said(). */
  private readonly logged = new Set<string>();
  private readonly seen = new Set<string>();
  /** When each kind in `logged` was last seen (io.now()). */
  private readonly lastSeenMs = new Map<string, number>();

  /**
   * `quietMs`: how long a kind of message must be absent for its outage to end (see said()); a
   * child that prints once per period longer than the collection interval needs a few periods, or
   * a drain between two of its prints would end an outage that goes on.
   */
  constructor(
    private readonly io: HostIO,
    private readonly logger: Logger,
    private readonly source: string,
    private readonly quietMs = 0,
  ) {}

  /** Why the current child is not running, or undefined while it runs. */
  get failure(): string | undefined {
    const current = this.current;
    if (!current) return 'not started';
    if (current.exitReason !== undefined) return current.exitReason;
    const silentMs = this.io.now() - current.lastProgressMs;
    if (current.silentLimitMs !== undefined && silentMs > current.silentLimitMs) {
      const seconds = Math.round(silentMs / 1000);
      return current.lastUnreadableMs > current.lastProgressMs
        ? `${this.source}'s child printed nothing usable for ${seconds} s, only lines that could not be read`
        : `${this.source}'s child printed nothing for ${seconds} s: it is stopped or hung`;
    }
    return undefined;
  }

  /**
   * Starts a new generation and resolves once it is ready. Rejects, with the child stopped, when
   * the child exits first (with why) or takes longer than spec.readyTimeoutMs. The generation it
   * replaces, if any, keeps printing into its own counts until it is stopped.
   */
  async launch(spec: LaunchSpec): Promise<Generation> {
    const generation = new Generation();
    generation.silentLimitMs = spec.silentLimitMs;
    generation.lastOutputMs = generation.lastProgressMs = this.io.now();
    const ready = new Promise<void>((resolve) => (generation.ready = resolve));
    const [file, args] = spec.pdeathsig
      ? ['setpriv', ['--pdeathsig', 'SIGKILL', '--', spec.file, ...spec.args]]
      : [spec.file, [...spec.args]];
    const handle = this.io.spawn({
      file,
      args,
      env: spec.env ?? {},
      maxLineBytes: spec.maxLineBytes,
      stdinPipe: spec.stdinPipe ?? false,
      onStdout: (line) => {
        generation.lastOutputMs = this.io.now();
        if (spec.isProgress?.(line) ?? true) generation.lastProgressMs = generation.lastOutputMs;
        spec.onStdout(line, generation);
      },
      onStderr: (line) => {
        if (generation.stderr.length === STDERR_LINES) generation.stderr.shift();
        generation.stderr.push(line);
        spec.onStderr(line, generation);
      },
      onLongLine: () => generation.count('parse'),
    });
    generation.handle = handle;
    generation.exited = handle.exited.then((exit) => {
      const how = exit.error ? `could not start: ${exit.error}` : `exited with ${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`}`;
      const why = [...generation.stderr].reverse().find(spec.isErrorLine ?? looksLikeError) ?? generation.stderr.at(-1);
      generation.exitReason = `${spec.file} ${how}${why ? `: ${boundMessage(why, MAX_LOGGED_MESSAGE)}` : ''}`;
    });
    this.current = generation;
    this.generations.push(generation);

    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        ready,
        generation.exited.then(() => {
          throw new Error(generation.exitReason ?? spec.messages.exited);
        }),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(spec.messages.timedOut)), spec.readyTimeoutMs);
        }),
      ]);
    } catch (err) {
      await stopGeneration(generation);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    generation.lastOutputMs = generation.lastProgressMs = this.io.now();
    return generation;
  }

  /**
   * A message the child printed, counted under `kind` in its generation and logged the first
   * time the kind shows up in an outage: an outage of a kind ends with a drain that saw none,
   * once none has been seen for quietMs.
   */
  said(generation: Generation, kind: string, message: string): void {
    this.countAndLogOnce(generation, kind, `${this.source} child said: ${boundMessage(message, MAX_LOGGED_MESSAGE)}`);
  }

  /** A stdout line the source could not read: counted as a `parse` error, and logged as said() logs. */
  unreadable(generation: Generation, line: string): void {
    generation.lastUnreadableMs = this.io.now();
    this.countAndLogOnce(generation, 'parse', `${this.source} printed lines it could not read, such as: ${boundMessage(line, MAX_LOGGED_MESSAGE)}`);
  }

  private countAndLogOnce(generation: Generation, kind: string, message: string): void {
    generation.count(kind);
    this.seen.add(kind);
    this.lastSeenMs.set(kind, this.io.now());
    if (this.logged.has(kind)) return;
    this.logged.add(kind);
    this.logger.warn({ source: this.source, kind }, message);
  }

  /** The increments and errors of every generation since the last drain. */
  drain(): Collection {
    let increments: Increment[] = [];
    const errors: Record<string, number> = {};
    for (const generation of this.generations) {
      if (generation.increments.length > 0) {
        increments = increments.length === 0 ? generation.increments : mergeIncrements(increments, generation.increments);
      }
      for (const [kind, n] of Object.entries(generation.errors)) errors[kind] = (errors[kind] ?? 0) + n;
      generation.increments = [];
      generation.errors = {};
    }
    this.generations = this.generations.filter((g) => g === this.current || g.exitReason === undefined);
    const now = this.io.now();
    for (const kind of this.logged) {
      if (this.seen.has(kind) || now - (this.lastSeenMs.get(kind) ?? 0) < this.quietMs) continue;
      this.logged.delete(kind);
      this.lastSeenMs.delete(kind);
    }
    this.seen.clear();
    return { increments, errors };
  }

  /** Stops every generation: SIGTERM, then SIGKILL after a grace period. */
  async stop(): Promise<void> {
    const stopping = this.generations;
    await Promise.all(stopping.map(stopGeneration));
  }

  /** Stops one generation, for a planned replacement; what it printed is still drained. */
  async retire(generation: Generation): Promise<void> {
    await stopGeneration(generation);
  }
}

async function stopGeneration(generation: Generation): Promise<void> {
  const { handle } = generation;
  if (!handle || generation.exitReason !== undefined) return generation.exited;
  handle.kill('SIGTERM');
  const timer = setTimeout(() => handle.kill('SIGKILL'), STOP_GRACE_MS);
  // 'exited' waits for the child's output to close too; a descendant that inherited it (a wrapper's
  // pipeline, say) may hold it open. Past the SIGKILL and one more grace period, stop waiting, or a
  // restart of the source would wait forever.
  let gaveUp: NodeJS.Timeout | undefined;
  await Promise.race([generation.exited, new Promise<void>((resolve) => (gaveUp = setTimeout(resolve, 2 * STOP_GRACE_MS)))]);
  clearTimeout(timer);
  clearTimeout(gaveUp);
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
