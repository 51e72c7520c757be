// The cost curve: what one collection cycle costs at 1,000, 10,000 and 50,000 established loopback
// sockets, held by 10 and by 1,000 processes. Per size: CPU and wall time per cycle of the ss and
// procfs sources (agent-worker.mjs, as in sockets.bench.ts) next to raw `ss -tuanpi` on the same
// sockets in the same rounds, and raw ss with the ss source's own arguments (SS_ARGS); the ebpf
// engine's CPU per interval (when it is built); and the whole agent as shipped (default sources, Prometheus and OTLP on): its RSS, its CPU per interval, the
// size of /metrics and the time to serve one scrape, the size of one OTLP export.
// Goals (issue 12): ss source <= 1.5x raw `ss -tuanpi` CPU at every size; procfs <= 100 ms CPU per
// cycle at 10,000 sockets and <= 500 ms at 50,000; agent RSS <= 150 MB at 50,000 sockets held by
// 1,000 processes; cost per socket at 50,000 <= 1.2x that at 10,000, for each source.
// Figures are printed, never asserted.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually, startAgent, type AgentUnderTest } from '../test/helpers/agent.js';
import { OtlpReceiver } from '../test/helpers/otlp-receiver.js';
import { startAgentProcess, type AgentProcess, type CycleReply } from './support/agent-process.js';
import { childCpuMs, liveChildrenCpuMs, processWithChildrenCpuMs } from './support/cpu.mjs';
import { ssSourceModule } from './support/dist.js';
import { positiveInt, positiveIntList } from './support/env.js';
import { startHolder, type Holder } from './support/holder.js';
import { loaderBuilt, loaderCycles, type LoaderCycles } from './support/loader.js';
import { countLines, runSs } from './support/raw-ss.js';
import type { BenchReport } from './support/report.js';
import { summarize } from './support/stats.js';
import { formatTable, ms } from './support/table.js';

/** Established sockets (twice the connections), as listed in BENCH_SIZES. */
const SIZES = positiveIntList('BENCH_SIZES', [1000, 10_000, 50_000]);
const HOLDERS = positiveIntList('BENCH_HOLDERS', [10, 1000]);
const REPS = positiveInt('BENCH_CURVE_REPS', 7);
const WARMUP = positiveInt('BENCH_WARMUP', 2);
/** Loader intervals (1 s each) measured per size. */
const LOADER_INTERVALS = positiveInt('BENCH_CURVE_LOADER_INTERVALS', 8);
/** OTLP exports (and collection intervals) the whole agent runs per size before it is measured. */
const EXPORTS = positiveInt('BENCH_CURVE_EXPORTS', 3);
/** Node options for a second run of the whole agent at each size, e.g. --max-semi-space-size=8 (an A/B). */
const AGENT_NODE_OPTIONS = process.env.BENCH_AGENT_NODE_OPTIONS ?? '';
const SCRAPES = 5;
const AGENT_INTERVAL_S = 5;
const AGENT_STOP_TIMEOUT_MS = 15_000;
const REFERENCE_ARGS = ['-tuanpi'];
const GOALS = { ssRatio: 1.5, procfs10kMs: 100, procfs50kMs: 500, rss50kMB: 150, perSocketGrowth: 1.2 };

/** One size held by one number of processes, measured. */
interface Point {
  holders: number;
  sockets: number;
  /** TCP/UDP sockets on the host in all (`ss -tuanH | wc -l`): the work every variant does. */
  hostSockets: number;
  raw: Cost;
  /** Raw ss with the ss source's arguments: the child's share of the ss source. */
  rawSource: Cost;
  ss: Cost;
  procfs: Cost;
  /** procfs with every fd link read (the cycle that refreshes the fd cache, or the cache off). */
  procfsWhole: Cost;
  loader?: LoaderCycles;
  /** The whole agent as shipped, then (with BENCH_AGENT_NODE_OPTIONS) with those node options. */
  agents: WholeAgent[];
  workerRssMiB: { ss: number; procfs: number };
  loadBefore: number;
  loadAfter: number;
}

/** Medians over the rounds, ms. */
interface Cost {
  cpu: number;
  cpuMean: number;
  wall: number;
}

interface WholeAgent {
  nodeOptions: string;
  sources: string;
  rssMiB: number;
  hwmMiB: number;
  /** The agent's CPU and its children's (ss, loader) per collection interval, over EXPORTS intervals. */
  cpuPerIntervalMs: number;
  metricsBytes: number;
  metricsSeries: number;
  scrapeMs: number;
  otlpBytes: number;
}

interface Sample {
  cpu: number;
  wall: number;
}

export async function run(): Promise<BenchReport> {
  const points: Point[] = [];
  for (const holders of HOLDERS) {
    for (const sockets of SIZES) {
      console.log(`\n--- ${sockets} established sockets held by ${holders} processes`);
      points.push(await measure(sockets, holders));
    }
  }
  console.log();
  printTables(points);
  const summary = goals(points);
  console.log();
  for (const line of summary) console.log(line);
  return { name: `cost curve: ${SIZES.join(', ')} established sockets held by ${HOLDERS.join(' and ')} processes, ${REPS} rounds`, summary };
}

async function measure(sockets: number, holders: number): Promise<Point> {
  if (sockets % 2 !== 0) throw new Error(`BENCH_SIZES: ${sockets} is odd; each connection is two established sockets`);
  let holder: Holder | undefined;
  const workers: AgentProcess[] = [];
  const cleanUp = async (): Promise<void> => {
    await Promise.all(workers.map((w) => w.stop()));
    await holder?.stop();
  };
  const interrupted = (): void => void cleanUp().finally(() => process.exit(130));
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const began = Date.now();
    holder = await startHolder(sockets / 2, holders);
    const hostSockets = await verifySockets(holder, sockets);
    console.log(`holders ready in ${((Date.now() - began) / 1000).toFixed(1)} s; ${hostSockets} TCP/UDP sockets on the host in all`);
    const ss = await startAgentProcess('ss', holder.pids);
    workers.push(ss);
    const procfs = await startAgentProcess('procfs', holder.pids);
    workers.push(procfs);
    const procfsWhole = await startAgentProcess('procfs', holder.pids, ['--procfs-fd-cache-max-age', '']);
    workers.push(procfsWhole);

    const { SS_ARGS } = await ssSourceModule();
    const samples = { raw: [] as Sample[], rawSource: [] as Sample[], ss: [] as Sample[], procfs: [] as Sample[], procfsWhole: [] as Sample[] };
    const last: Record<string, CycleReply> = {};
    const round = async (): Promise<void> => {
      for (const [name, args] of [['raw', REFERENCE_ARGS], ['rawSource', SS_ARGS]] as const) {
        const before = childCpuMs();
        const t = process.hrtime.bigint();
        await runSs('ss', args);
        samples[name].push({ wall: Number(process.hrtime.bigint() - t) / 1e6, cpu: childCpuMs() - before });
      }
      for (const [name, worker] of [['ss', ss], ['procfs', procfs], ['procfsWhole', procfsWhole]] as const) {
        const reply = await worker.cycle();
        if (!reply.up) throw new Error(`${name}: source failed: ${JSON.stringify(reply.errors)}`);
        samples[name].push({ cpu: reply.selfMs + reply.childMs, wall: reply.wallMs });
        last[name] = reply;
      }
    };
    for (let i = 0; i < WARMUP; i++) await round();
    for (const name of ['ss', 'procfs', 'procfsWhole']) checkSeen(name, last[name]!, sockets);
    for (const list of Object.values(samples)) list.length = 0;
    const loadBefore = loadavg()[0]!;
    for (let i = 0; i < REPS; i++) await round();
    const loadAfter = loadavg()[0]!;
    const workerRssMiB = { ss: mib(last.ss!.rssBytes), procfs: mib(last.procfs!.rssBytes) };
    await Promise.all(workers.splice(0).map((w) => w.stop()));

    const loader = loaderBuilt() ? await loaderCycles(LOADER_INTERVALS) : undefined;
    const agents: WholeAgent[] = [];
    for (const options of ['', ...(AGENT_NODE_OPTIONS ? [AGENT_NODE_OPTIONS] : [])]) agents.push(await wholeAgent(options));
    const agent = agents[0]!;
    const point: Point = {
      holders,
      sockets,
      hostSockets,
      raw: cost(samples.raw),
      rawSource: cost(samples.rawSource),
      ss: cost(samples.ss),
      procfs: cost(samples.procfs),
      procfsWhole: cost(samples.procfsWhole),
      ...(loader ? { loader } : {}),
      agents,
      workerRssMiB,
      loadBefore,
      loadAfter,
    };
    console.log(
      `raw ss ${ms(point.raw.cpu)} ms (with the source's args ${ms(point.rawSource.cpu)}), ss source ${ms(point.ss.cpu)} ms, procfs ${ms(point.procfs.cpu)} ms ` +
        `(whole ${ms(point.procfsWhole.cpu)}), loader ${loader ? ms(loader.meanMs) : '-'} ms CPU per cycle; ` +
        `agent (${agent.sources}) RSS ${agent.rssMiB.toFixed(0)} MiB; load ${loadBefore.toFixed(2)} -> ${loadAfter.toFixed(2)}`,
    );
    return point;
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await cleanUp();
  }
}

function cost(samples: readonly Sample[]): Cost {
  const cpu = summarize(samples.map((s) => s.cpu));
  return { cpu: cpu.median, cpuMean: cpu.mean, wall: summarize(samples.map((s) => s.wall)).median };
}

/** Counts with real ss that the holders' sockets are all there; returns the host's TCP/UDP sockets. */
async function verifySockets(holder: Holder, expected: number): Promise<number> {
  const filter = holder.ports.map((p) => `sport = :${p} or dport = :${p}`).join(' or ');
  const own = await countLines('ss', ['-tanH', 'state', 'established', `( ${filter} )`]);
  if (own !== expected) throw new Error(`expected ${expected} established sockets on ports ${holder.ports.join(',')}, ss shows ${own}`);
  return countLines('ss', ['-tuanH']);
}

/**
 * The source must see what ss sees, or its cost would be that of a smaller job. Past the
 * --max-processes cap (500) some holders are summed into [other], so then only the total is checked.
 */
function checkSeen(name: string, reply: CycleReply, expected: number): void {
  const capped = reply.trackedProcesses > reply.series;
  const ok = capped ? reply.allEstablished >= expected && reply.helperEstablished <= expected : reply.helperEstablished === expected;
  if (!ok) {
    throw new Error(
      `${name}: ${reply.helperEstablished} established TCP connections credited to the holders (${reply.allEstablished} in all, ` +
        `${reply.series} series of ${reply.trackedProcesses} processes), expected ${expected}`,
    );
  }
}

/** The agent as shipped, default sources, both exporters: RSS, CPU per interval, scrape and export sizes. */
async function wholeAgent(nodeOptions: string): Promise<WholeAgent> {
  const receiver = await new OtlpReceiver().start();
  let agent: AgentUnderTest | undefined;
  try {
    const args = ['--interval', `${AGENT_INTERVAL_S}s`, '--otlp-endpoint', receiver.endpoint, '--otlp-interval', `${AGENT_INTERVAL_S}s`];
    agent = await startAgent(args, nodeOptions ? { NODE_OPTIONS: nodeOptions } : {});
    const a = agent;
    await eventually(async () => ((await fetch(`http://127.0.0.1:${a.port}/readyz`)).status === 200 ? true : undefined), 120_000, 'the agent to be ready');
    // From the first export on, EXPORTS more: that many collection intervals, all at full size.
    await eventually(async () => (receiver.requests.length >= 1 ? true : undefined), 60_000, 'a first OTLP export');
    const pid = a.child.pid;
    const cpuBefore = processWithChildrenCpuMs(pid) + liveChildrenCpuMs(pid);
    const t = Date.now();
    const firstCounted = receiver.requests.length;
    await eventually(async () => (receiver.requests.length >= firstCounted + EXPORTS ? true : undefined), 60_000 + EXPORTS * AGENT_INTERVAL_S * 2000, `${EXPORTS} OTLP exports`);
    const intervals = (Date.now() - t) / (AGENT_INTERVAL_S * 1000);
    const cpuPerIntervalMs = (processWithChildrenCpuMs(pid) + liveChildrenCpuMs(pid) - cpuBefore) / intervals;
    const scrapes: number[] = [];
    let text = '';
    for (let i = 0; i < SCRAPES; i++) {
      const began = process.hrtime.bigint();
      text = await a.metricsText();
      scrapes.push(Number(process.hrtime.bigint() - began) / 1e6);
      await sleep(100);
    }
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? 0);
    const selected = [...text.matchAll(/^netproc_source_selected\{([^}]*)\} 1$/gm)].map((m) => /source="([^"]+)"/.exec(m[1]!)?.[1] + ':' + /family="([^"]+)"/.exec(m[1]!)?.[1]);
    const lines = text.split('\n');
    const exports = receiver.requests.slice(firstCounted);
    return {
      nodeOptions,
      sources: selected.sort().join(' ') || '(none)',
      rssMiB: kb('VmRSS') / 1024,
      hwmMiB: kb('VmHWM') / 1024,
      cpuPerIntervalMs,
      metricsBytes: Buffer.byteLength(text),
      metricsSeries: lines.filter((l) => l !== '' && !l.startsWith('#')).length,
      scrapeMs: summarize(scrapes).median,
      otlpBytes: summarize(exports.map((r) => r.bytes)).median,
    };
  } finally {
    if (agent) {
      const timer = setTimeout(() => agent!.child.proc.kill('SIGKILL'), AGENT_STOP_TIMEOUT_MS);
      await agent.stop();
      clearTimeout(timer);
    }
    await receiver.stop();
  }
}

function printTables(points: readonly Point[]): void {
  const cpuHeader = ['holders', 'sockets', 'host', 'raw ss', 'raw src args', 'ss src', 'ss/raw', 'procfs', 'procfs whole', 'ebpf loader', 'raw wall', 'ss wall', 'procfs wall', 'load'];
  console.log(
    `CPU and wall ms per collection cycle (medians; the loader: mean per 1 s interval). raw ss: ss ${REFERENCE_ARGS.join(' ')}, ` +
      `the reference; raw src args: ss with the ss source's arguments, its child's share`,
  );
  console.log(
    formatTable(
      cpuHeader,
      points.map((p) => [
        String(p.holders),
        String(p.sockets),
        String(p.hostSockets),
        ms(p.raw.cpu),
        ms(p.rawSource.cpu),
        ms(p.ss.cpu),
        (p.ss.cpu / p.raw.cpu).toFixed(2),
        ms(p.procfs.cpu),
        ms(p.procfsWhole.cpu),
        p.loader ? ms(p.loader.meanMs) : '-',
        ms(p.raw.wall),
        ms(p.ss.wall),
        ms(p.procfs.wall),
        `${p.loadBefore.toFixed(1)}-${p.loadAfter.toFixed(1)}`,
      ]),
    ),
  );
  console.log();
  console.log(`The whole agent (default sources, --interval ${AGENT_INTERVAL_S}s, Prometheus + OTLP), after ${EXPORTS} exports at the size`);
  console.log(
    formatTable(
      ['holders', 'sockets', 'node options', 'RSS MiB', 'peak MiB', 'CPU ms/interval', '/metrics bytes', 'samples', 'scrape ms', 'OTLP bytes/export', 'worker RSS ss/procfs'],
      points.flatMap((p) =>
        p.agents.map((a) => [
          String(p.holders),
          String(p.sockets),
          a.nodeOptions || '(none)',
          a.rssMiB.toFixed(0),
          a.hwmMiB.toFixed(0),
          ms(a.cpuPerIntervalMs),
          String(a.metricsBytes),
          String(a.metricsSeries),
          ms(a.scrapeMs),
          String(a.otlpBytes),
          `${p.workerRssMiB.ss.toFixed(0)}/${p.workerRssMiB.procfs.toFixed(0)}`,
        ]),
      ),
    ),
  );
  const sources = [...new Set(points.flatMap((p) => p.agents.map((a) => a.sources)))];
  console.log(`sources serving the whole agent's families (source:family): ${sources.join(' | ')}`);
  console.log();
  console.log('CPU per socket on the host, µs (host sockets: every TCP/UDP socket each variant reads)');
  console.log(
    formatTable(
      ['holders', 'sockets', 'raw ss', 'raw src args', 'ss src', 'procfs', 'procfs whole', 'ebpf loader'],
      points.map((p) => [
        String(p.holders),
        String(p.sockets),
        ...[p.raw.cpu, p.rawSource.cpu, p.ss.cpu, p.procfs.cpu, p.procfsWhole.cpu].map((c) => perSocketUs(c, p.hostSockets)),
        p.loader ? perSocketUs(p.loader.meanMs, p.loader.sockets) : '-',
      ]),
    ),
  );
}

function perSocketUs(cpuMs: number, sockets: number): string {
  return ((cpuMs * 1000) / sockets).toFixed(2);
}

function goals(points: readonly Point[]): string[] {
  const lines: string[] = [];
  const verdict = (ok: boolean): string => (ok ? 'PASS' : 'MISS');
  for (const p of points) {
    const ratio = p.ss.cpu / p.raw.cpu;
    lines.push(
      `${p.sockets} sockets / ${p.holders} holders: ss source / raw ss ${REFERENCE_ARGS.join(' ')} ${ratio.toFixed(2)}x CPU ` +
        `(${ms(p.ss.cpu)} / ${ms(p.raw.cpu)} ms; means ${(p.ss.cpuMean / p.raw.cpuMean).toFixed(2)}x): ${verdict(ratio <= GOALS.ssRatio)}`,
    );
    const procfsGoal = p.sockets === 10_000 ? GOALS.procfs10kMs : p.sockets === 50_000 ? GOALS.procfs50kMs : undefined;
    if (procfsGoal !== undefined) {
      const amortized = (11 * p.procfs.cpu + p.procfsWhole.cpu) / 12;
      lines.push(
        `${p.sockets} sockets / ${p.holders} holders: procfs ${ms(p.procfs.cpu)} ms CPU per cycle (one whole read in 12: ` +
          `${ms(amortized)} ms on average), goal <= ${procfsGoal} ms: ${verdict(amortized <= procfsGoal)}`,
      );
    }
    if (p.sockets === 50_000 && p.holders === 1000) {
      for (const a of p.agents) {
        const mb = (a.rssMiB * 2 ** 20) / 1e6;
        lines.push(
          `50000 sockets / 1000 holders: agent RSS ${mb.toFixed(0)} MB (peak ${((a.hwmMiB * 2 ** 20) / 1e6).toFixed(0)} MB)` +
            `${a.nodeOptions ? ` with NODE_OPTIONS=${a.nodeOptions}` : ''}, goal <= ${GOALS.rss50kMB} MB: ${verdict(mb <= GOALS.rss50kMB)}`,
        );
      }
    }
  }
  for (const holders of HOLDERS) {
    const at = (n: number): Point | undefined => points.find((p) => p.holders === holders && p.sockets === n);
    const small = at(10_000);
    const large = at(50_000);
    if (!small || !large) continue;
    const growth = (a: number, aSockets: number, b: number, bSockets: number): number => b / bSockets / (a / aSockets);
    const rows: Array<[string, number]> = [
      ['raw ss (reference)', growth(small.raw.cpu, small.hostSockets, large.raw.cpu, large.hostSockets)],
      ["raw ss, the source's args", growth(small.rawSource.cpu, small.hostSockets, large.rawSource.cpu, large.hostSockets)],
      ['ss source', growth(small.ss.cpu, small.hostSockets, large.ss.cpu, large.hostSockets)],
      ['procfs', growth(small.procfs.cpu, small.hostSockets, large.procfs.cpu, large.hostSockets)],
      ['procfs whole', growth(small.procfsWhole.cpu, small.hostSockets, large.procfsWhole.cpu, large.hostSockets)],
    ];
    if (small.loader && large.loader) rows.push(['ebpf loader', growth(small.loader.meanMs, small.loader.sockets, large.loader.meanMs, large.loader.sockets)]);
    for (const [name, g] of rows) {
      const goal = name.startsWith('raw') ? '' : `, goal <= ${GOALS.perSocketGrowth}x: ${verdict(g <= GOALS.perSocketGrowth)}`;
      lines.push(`${holders} holders: ${name} CPU per socket at 50,000 / at 10,000: ${g.toFixed(2)}x${goal}`);
    }
  }
  return lines;
}

function mib(bytes: number): number {
  return bytes / 2 ** 20;
}
