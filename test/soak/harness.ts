// The soak: the agent with its default sources under continuous process and connection churn,
// sampled every few seconds. After a warm-up, each resource's trend is the Theil-Sen slope of its
// samples (the median of the pairwise slopes: a GC sawtooth or one outlier does not move it), and
// "flat" means the growth that slope predicts over the measured window stays within a stated bound.
// Used by `npm run soak` (30 minutes and more) and by test/soak/soak.test.ts (3 minutes, in CI).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SELF_METRICS } from '../../src/semconv.js';
import { startAgent, eventually, type AgentUnderTest } from '../helpers/agent.js';
import { killAll, peer, start, type Child } from '../helpers/processes.js';
import { parsePrometheusText, valueOf } from '../helpers/prometheus-text.js';

export interface SoakOptions {
  minutes: number;
  sampleSeconds: number;
  /** Share of the run before the trend is measured (caches filling, JIT, first GCs). */
  warmupShare: number;
  /** Short-lived processes started per second, and bytes each sends. */
  processesPerSecond: number;
  bytesPerProcess: number;
  /** The agent's --max-processes: the series bound. */
  maxProcesses: number;
  log(line: string): void;
}

export const DEFAULTS: Omit<SoakOptions, 'minutes' | 'log'> = {
  sampleSeconds: 5,
  warmupShare: 0.25,
  processesPerSecond: 5,
  bytesPerProcess: 10_000,
  maxProcesses: 50,
};

export interface Sample {
  atS: number;
  rssBytes: number;
  heapBytes: number;
  fds: number;
  children: number;
  series: number;
}

type Resource = Exclude<keyof Sample, 'atS'>;

export interface Trend {
  resource: Resource;
  median: number;
  /** Theil-Sen slope, per hour. */
  slopePerHour: number;
  /** Growth the slope predicts over the measured window. */
  windowGrowth: number;
  /** The most growth over the window that still counts as flat. */
  bound: number;
  max: number;
  flat: boolean;
}

export interface SoakResult {
  samples: Sample[];
  trends: Trend[];
  /** Short-lived processes started, and how many could not send. */
  spawned: number;
  failed: number;
  agentStderr: string;
}

const MiB = 1024 * 1024;

/** The stated bounds: what growth over the measured window still counts as flat. */
export function boundFor(resource: Resource, median: number, maxProcesses: number): number {
  switch (resource) {
    case 'rssBytes':
    case 'heapBytes':
      return Math.max(0.1 * median, 8 * MiB);
    case 'fds':
      return 5;
    case 'children':
      return 1;
    case 'series':
      return Math.max(1, 0.1 * maxProcesses);
  }
}

/** Median of the slopes between every pair of samples (Theil-Sen), per second. */
export function theilSen(points: ReadonlyArray<[number, number]>): number {
  const slopes: number[] = [];
  for (let i = 0; i < points.length; i++) {
    for (let j = i + 1; j < points.length; j++) {
      const dx = points[j]![0] - points[i]![0];
      if (dx > 0) slopes.push((points[j]![1] - points[i]![1]) / dx);
    }
  }
  if (slopes.length === 0) return 0;
  slopes.sort((a, b) => a - b);
  const mid = slopes.length >> 1;
  return slopes.length % 2 ? slopes[mid]! : (slopes[mid - 1]! + slopes[mid]!) / 2;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function trends(samples: readonly Sample[], warmupShare: number, maxProcesses: number): Trend[] {
  const end = samples.at(-1)?.atS ?? 0;
  const measured = samples.filter((s) => s.atS >= end * warmupShare);
  const window = (measured.at(-1)?.atS ?? 0) - (measured[0]?.atS ?? 0);
  return (['rssBytes', 'heapBytes', 'fds', 'children', 'series'] as const).map((resource) => {
    const values = measured.map((s) => s[resource]);
    const slope = theilSen(measured.map((s) => [s.atS, s[resource]]));
    const mid = median(values);
    const bound = boundFor(resource, mid, maxProcesses);
    const windowGrowth = slope * window;
    return { resource, median: mid, slopePerHour: slope * 3600, windowGrowth, bound, max: Math.max(...values), flat: windowGrowth <= bound };
  });
}

/** Children of `pid` that are alive (zombies not counted: reaped at once by the agent). */
function childrenOf(pid: number): number {
  let count = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(join('/proc', entry, 'stat'), 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid && fields[0] !== 'Z') count++;
    } catch {
      // exited meanwhile
    }
  }
  return count;
}

async function sample(agent: AgentUnderTest, atS: number): Promise<Sample> {
  const pid = agent.child.pid;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssBytes = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0) * 1024;
  const samples = parsePrometheusText(await agent.metricsText());
  return {
    atS,
    rssBytes,
    heapBytes: valueOf(samples, SELF_METRICS.heap) ?? 0,
    fds: readdirSync(`/proc/${pid}/fd`).length,
    children: childrenOf(pid),
    series: new Set(samples.filter((s) => s.name.startsWith('process_network_')).map((s) => `${s.labels.process_pid}/${s.labels.process_executable_name}`)).size,
  };
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  let agent: AgentUnderTest | undefined;
  let churn: Child | undefined;
  try {
    const sink = peer('sink', '127.0.0.1');
    const { port } = await sink.next('port');
    // The default sources: no --sources.
    agent = await startAgent(['--interval', '1s', '--max-processes', String(options.maxProcesses)]);
    const running = agent;
    await eventually(async () => ((await fetch(`http://127.0.0.1:${running.port}/readyz`)).status === 200 ? true : undefined), 60_000, 'the agent to be ready');
    churn = start(process.execPath, [join(import.meta.dirname, 'churn.mjs'), String(port), String(options.processesPerSecond), String(options.bytesPerProcess)]);
    const samples: Sample[] = [];
    const began = Date.now();
    const endAt = began + options.minutes * 60_000;
    while (Date.now() < endAt) {
      const s = await sample(running, (Date.now() - began) / 1000);
      samples.push(s);
      options.log(
        `t=${s.atS.toFixed(0)}s rss=${(s.rssBytes / MiB).toFixed(1)}MiB heap=${(s.heapBytes / MiB).toFixed(1)}MiB fds=${s.fds} children=${s.children} series=${s.series}`,
      );
      await new Promise((r) => setTimeout(r, options.sampleSeconds * 1000));
      if (running.child.proc.exitCode !== null) throw new Error(`the agent exited: ${running.child.stderr().slice(-2000)}`);
    }
    churn.proc.kill('SIGUSR2');
    const counts = await churn.next<{ spawned: number; failed: number }>('spawned');
    return {
      samples,
      trends: trends(samples, options.warmupShare, options.maxProcesses),
      spawned: counts.spawned,
      failed: counts.failed,
      agentStderr: running.child.stderr(),
    };
  } finally {
    await churn?.kill();
    await agent?.stop();
    await killAll();
  }
}

/** The trends as a table for the log and docs/reliability.md. */
export function formatTrends(result: SoakResult): string[] {
  const unit = (r: Resource, v: number): string => (r === 'rssBytes' || r === 'heapBytes' ? `${(v / MiB).toFixed(1)} MiB` : v.toFixed(1));
  return [
    'resource    median       slope/hour     growth over window   bound        max          flat',
    ...result.trends.map((t) =>
      [
        t.resource.padEnd(11),
        unit(t.resource, t.median).padEnd(12),
        unit(t.resource, t.slopePerHour).padEnd(14),
        unit(t.resource, t.windowGrowth).padEnd(20),
        unit(t.resource, t.bound).padEnd(12),
        unit(t.resource, t.max).padEnd(12),
        t.flat ? 'yes' : 'NO',
      ].join(' '),
    ),
    `short-lived processes started: ${result.spawned} (${result.failed} could not send)`,
  ];
}
