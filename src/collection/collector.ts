// Runs collection cycles: asks the selected sources for data, falls back when one fails,
// retries failed sources with backoff, and publishes a fresh snapshot after each cycle.
import type { Logger } from 'pino';
import { FAMILIES, type Family } from '../semconv.js';
import type { Aggregator } from '../aggregation/aggregator.js';
import { emptySnapshot, type Snapshot } from '../aggregation/snapshot.js';
import type { ProbeResult, Source } from '../sources/types.js';
import { HealthBook } from './health.js';
import { familiesBySource, selectSources, type Assignment } from './selection.js';

const MAX_BACKOFF_MS = 5 * 60_000;
/** How long stop() waits for a collection in flight. */
const STOP_WAIT_MS = 2000;
/** A source unusable at start is probed again at doubling intervals, up to this many times reprobeMs. */
const MAX_REPROBE_FACTOR = 8;

interface Down {
  retryAtMs: number;
  backoffMs: number;
}

export interface CollectorOptions {
  intervalMs: number;
  /** How long after a probe that found a source unusable it is probed again (then with backoff). */
  reprobeMs: number;
  logger: Logger;
  now?: () => number;
}

export class Collector {
  readonly health: HealthBook;
  assignment: Assignment = new Map();
  snapshot: Snapshot;
  private readonly usable = new Set<string>();
  /** Sources whose last attempt failed; they sit out until their retry time. */
  private readonly failures = new Map<string, Down>();
  /** Sources that could not run when last probed; probed again at retryAtMs. */
  private readonly unusable = new Map<string, Down>();
  /** Streaming sources found usable again and started, to join the selection; see joinStarted. */
  private readonly joining = new Set<string>();
  private readonly started = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private cycles = 0;
  private readonly now: () => number;

  constructor(
    private readonly sources: readonly Source[],
    private readonly aggregator: Aggregator,
    private readonly options: CollectorOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.health = new HealthBook(sources.map((s) => s.name));
    this.snapshot = emptySnapshot(this.now());
  }

  /** Probes every source once, reports what cannot run and why, and starts the streaming ones that are selected. */
  async init(): Promise<void> {
    const { logger } = this.options;
    await Promise.all(
      this.sources.map(async (source) => {
        const result = await source.probe();
        this.probed(source.name, result);
        for (const p of result.problems) logger.warn({ source: source.name, fix: p.fix }, `source unusable: ${p.what}`);
        for (const p of result.warnings) logger.warn({ source: source.name, fix: p.fix }, `source degraded: ${p.what}`);
      }),
    );
    this.assignment = selectSources(this.sources, this.usable);
    // Streaming sources start in their first collection, where a failure to start is a fallback.
    logger.info({ assignment: Object.fromEntries(this.assignment) }, 'sources selected');
  }

  /** Records a probe: a usable source joins the selection, an unusable one is probed again later. */
  private probed(name: string, result: ProbeResult): void {
    // A usable source on standby counts as up until a collection says otherwise.
    this.health.get(name).up = result.usable;
    if (result.usable) {
      this.usable.add(name);
      this.unusable.delete(name);
      return;
    }
    const previous = this.unusable.get(name);
    const backoffMs = previous ? Math.min(previous.backoffMs * 2, this.options.reprobeMs * MAX_REPROBE_FACTOR) : this.options.reprobeMs;
    this.unusable.set(name, { retryAtMs: this.now() + backoffMs, backoffMs });
  }

  /**
   * Probes again the sources that could not run, when their time has come. One that can run now
   * (a tool installed, a capability granted) joins the selection and takes over the families it is
   * preferred for, from a baseline: nothing is counted twice. A streaming source is started first,
   * in the background, while the others keep serving (an engine may take seconds to attach); it joins
   * at the end of the first cycle after it is running (see joinStarted).
   */
  private async reprobe(): Promise<void> {
    const now = this.now();
    const due = this.sources.filter((s) => (this.unusable.get(s.name)?.retryAtMs ?? Infinity) <= now);
    for (const source of due) {
      const result = await source.probe();
      if (!result.usable || !source.start) {
        this.probed(source.name, result);
        if (result.usable) this.options.logger.info({ source: source.name }, 'source became usable');
        continue;
      }
      // Not probed again while it starts; on failure, the backoff goes on doubling.
      this.unusable.get(source.name)!.retryAtMs = Infinity;
      source.start().then(
        () => {
          if (this.stopped) return void source.stop?.().catch(() => undefined);
          this.started.add(source.name);
          this.joining.add(source.name);
        },
        (err: unknown) => {
          const message = err instanceof Error ? err.message : String(err);
          this.options.logger.warn({ source: source.name }, `source usable but failed to start: ${firstLine(message)}`);
          this.probed(source.name, { usable: false, problems: [], warnings: [], details: [] });
        },
      );
    }
  }

  /**
   * Streaming sources started by reprobe() join the selection. What they counted while the other
   * sources still served their families is dropped, right after those sources' last collection:
   * from here on only they count.
   */
  private async joinStarted(): Promise<void> {
    for (const name of this.joining) {
      this.joining.delete(name);
      await this.sources.find((s) => s.name === name)!.collect().catch(() => undefined);
      this.probed(name, { usable: true, problems: [], warnings: [], details: [] });
      this.options.logger.info({ source: name }, 'source became usable');
    }
  }

  /** Families that at least one configured, usable source can measure. */
  servableFamilies(): Family[] {
    return FAMILIES.filter((f) => this.sources.some((s) => this.usable.has(s.name) && s.families.includes(f)));
  }

  /** Undefined when every family some usable source can measure is served by a source that is up. */
  notReadyReason(): string | undefined {
    if (this.cycles === 0) return 'no collection has completed yet';
    for (const family of this.servableFamilies()) {
      const name = this.assignment.get(family);
      if (name === undefined || !this.health.get(name).up) return `no source is serving ${family}`;
    }
    return undefined;
  }

  /** One collection cycle; never throws. */
  async collectOnce(): Promise<Snapshot> {
    await this.reprobe();
    this.aggregator.beginCycle();
    const served = new Set<Family>();
    for (;;) {
      const assignment = this.reassign();
      const pending = familiesBySource(new Map([...assignment].filter(([family]) => !served.has(family))));
      if (pending.size === 0) break;
      let failed = false;
      for (const [name, families] of pending) {
        const ok = await this.collectFrom(name, families);
        if (ok) for (const f of families) served.add(f);
        else failed = true;
      }
      if (!failed) break;
    }
    await this.joinStarted();
    await this.aggregator.endCycle();
    this.snapshot = this.aggregator.snapshot();
    this.cycles++;
    return this.snapshot;
  }

  /** Collects every interval until stop(), handing each snapshot to onSnapshot; the first cycle runs at once. */
  start(onSnapshot?: (snapshot: Snapshot) => void): void {
    const tick = async (): Promise<void> => {
      const began = this.now();
      this.running = this.collectOnce().then((snapshot) => onSnapshot?.(snapshot));
      await this.running;
      if (this.stopped) return;
      const wait = Math.max(0, began + this.options.intervalMs - this.now());
      this.timer = setTimeout(() => void tick(), wait);
    };
    void tick();
  }

  /**
   * Stops the cycles and the started sources. A collection in flight gets STOP_WAIT_MS to finish: a
   * hung child (ss stopped, waiting for its timeout) must not hold a shutdown for its whole timeout.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    let waited: NodeJS.Timeout | undefined;
    await Promise.race([this.running, new Promise<void>((resolve) => (waited = setTimeout(resolve, STOP_WAIT_MS)))]);
    clearTimeout(waited);
    await Promise.all(
      this.sources.filter((s) => this.started.has(s.name)).map((s) => s.stop?.().catch(() => undefined)),
    );
  }

  private async collectFrom(name: string, families: Set<Family>): Promise<boolean> {
    const source = this.sources.find((s) => s.name === name)!;
    const health = this.health.get(name);
    const began = process.hrtime.bigint();
    try {
      await this.ensureStarted(name);
      const collection = await source.collect();
      health.lastDurationSeconds = Number(process.hrtime.bigint() - began) / 1e9;
      this.health.countErrors(name, collection.errors);
      await this.aggregator.ingest(name, collection, families, this.takeovers.has(name));
      this.takeovers.delete(name);
      this.failures.delete(name);
      if (!health.up) this.options.logger.info({ source: name }, 'source recovered');
      health.up = true;
      return true;
    } catch (err) {
      health.lastDurationSeconds = Number(process.hrtime.bigint() - began) / 1e9;
      this.health.countErrors(name, { collect: 1 });
      this.markDown(name, err);
      return false;
    }
  }

  /** Sources that take families over at runtime from another source: they baseline their first snapshot. */
  private readonly takeovers = new Set<string>();

  private reassign(): Assignment {
    const now = this.now();
    const waiting = (name: string): boolean => (this.failures.get(name)?.retryAtMs ?? 0) > now;
    const available = new Set([...this.usable].filter((name) => !waiting(name)));
    const next = selectSources(this.sources, available);
    for (const [family, name] of next) {
      const before = this.assignment.get(family);
      if (before !== undefined && before !== name) {
        this.takeovers.add(name);
        this.options.logger.info({ family, from: before, to: name }, 'family moved to another source');
      }
    }
    // A snapshot source's per-socket state is dropped only once another source serves its family:
    // coming back, it must start from a baseline, as the other counted the time between. While
    // nobody serves the family (a failed source with no fallback), the state is kept, so the first
    // snapshot after the outage credits exactly what moved during it, and nothing twice.
    for (const [family, before] of this.assignment) {
      const after = next.get(family);
      if (after !== undefined && after !== before) this.aggregator.release(before);
    }
    this.assignment = next;
    return next;
  }

  private markDown(name: string, err: unknown): void {
    const health = this.health.get(name);
    const previous = this.failures.get(name);
    const backoffMs = previous ? Math.min(previous.backoffMs * 2, MAX_BACKOFF_MS) : this.options.intervalMs;
    this.failures.set(name, { retryAtMs: this.now() + backoffMs, backoffMs });
    // Logged once per outage; the errors self-metric counts every failure.
    if (!previous) {
      const message = err instanceof Error ? err.message : String(err);
      this.options.logger.warn({ source: name, retryInMs: backoffMs }, `source failed: ${firstLine(message)}`);
    }
    health.up = false;
    this.started.delete(name);
    const source = this.sources.find((s) => s.name === name);
    void source?.stop?.().catch(() => undefined);
  }

  private async ensureStarted(name: string): Promise<void> {
    if (this.started.has(name)) return;
    const source = this.sources.find((s) => s.name === name)!;
    await source.start?.();
    this.started.add(name);
  }
}

function firstLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
