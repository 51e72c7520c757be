// CPU of one collection cycle of each polled source with 10,000 established loopback sockets on
// the host, side by side with raw `ss -tuanpi` on the same sockets in the same run.
// Goals: the ss source costs at most 1.5x raw `ss -tuanpi`; procfs at most 100 ms of CPU per cycle.
// Figures are printed, never asserted: the exit code says only whether the bench itself ran.
import { loadavg } from 'node:os';
import { startAgentProcess, type AgentProcess, type CycleReply } from './support/agent-process.js';
import { CHILD_CPU_RESOLUTION_MS, childCpuMs } from './support/cpu.mjs';
import { ssSourceModule } from './support/dist.js';
import { positiveInt } from './support/env.js';
import { startHolder, type Holder } from './support/holder.js';
import { countLines, runSs } from './support/raw-ss.js';
import type { BenchReport } from './support/report.js';
import { summarize, type Summary } from './support/stats.js';
import { formatTable, ms } from './support/table.js';

const PAIRS = positiveInt('BENCH_SOCKET_PAIRS', 5000);
const REPS = positiveInt('BENCH_REPS', 15);
const WARMUP = positiveInt('BENCH_WARMUP', 2);
const SS = 'ss';
const REFERENCE_ARGS = ['-tuanpi'];
const SS_SOURCE_GOAL_RATIO = 1.5;
const PROCFS_GOAL_MS = 100;

interface Sample {
  /** CPU of the agent's process; 0 for raw ss. */
  agentMs: number;
  /** CPU of the ss child, reaped by the end of the sample. */
  ssMs: number;
  wallMs: number;
}

interface Variant {
  label: string;
  samples: Sample[];
  /** The agent's last answer; undefined for raw ss. */
  last?: CycleReply;
  /** Agent CPU from starting ss to having its output, per sample (ss source only). */
  runSelfMs: number[];
  measure(): Promise<void>;
}

export async function run(): Promise<BenchReport> {
  let holder: Holder | undefined;
  const agents: AgentProcess[] = [];
  const cleanUp = async (): Promise<void> => {
    await Promise.all(agents.map((a) => a.stop()));
    await holder?.stop();
  };
  const interrupted = (): void => void cleanUp().finally(() => process.exit(130));
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    console.log(`starting a helper process with ${PAIRS} loopback connections to itself...`);
    holder = await startHolder(PAIRS);
    const hostSockets = await verifySockets(holder);
    const ssAgent = await startAgentProcess('ss', holder.pid);
    agents.push(ssAgent);
    const procfsAgent = await startAgentProcess('procfs', holder.pid);
    agents.push(procfsAgent);
    const procfsWholeAgent = await startAgentProcess('procfs', holder.pid, ['--procfs-fd-cache-max-age', '']);
    agents.push(procfsWholeAgent);
    const { SS_ARGS } = await ssSourceModule();

    const variants = [
      rawVariant(`raw ss ${REFERENCE_ARGS.join(' ')} (reference)`, REFERENCE_ARGS),
      rawVariant(`raw ss ${compactArgs(SS_ARGS)} (the ss source's args)`, SS_ARGS),
      agentVariant('ss source (agent + its ss child)', ssAgent),
      agentVariant('procfs source (agent)', procfsAgent),
      agentVariant('procfs, fd cache off (every link read)', procfsWholeAgent),
    ] as const;
    console.log(
      `${hostSockets} TCP/UDP sockets on the host in all; ${WARMUP} warm-up round(s), then ${REPS} measured rounds, ` +
        `each running the ${variants.length} variants in turn`,
    );
    for (let round = 0; round < WARMUP; round++) for (const v of variants) await v.measure();
    for (const v of variants.slice(2)) checkSeen(v);
    for (const v of variants) {
      v.samples.length = 0;
      v.runSelfMs.length = 0;
    }
    const loadBefore = loadavg()[0]!;
    for (let round = 0; round < REPS; round++) for (const v of variants) await v.measure();
    const loadAfter = loadavg()[0]!;

    const rows = variants.map(toRow);
    console.log();
    printTable(rows);
    console.log();
    console.log(await ssBreakdown(ssAgent, variants[2]));
    for (const v of variants.slice(2)) console.log(hostCalls(v));
    console.log(
      `agent RSS after the cycles: ss ${mib(variants[2].last!.rssBytes)} MiB, procfs ${mib(variants[3].last!.rssBytes)} MiB, ` +
        `procfs with the cache off ${mib(variants[4].last!.rssBytes)} MiB (each in a process of its own)`,
    );
    // Other work on the machine inflates CPU times too (shared caches, SMT siblings, steal).
    console.log(`1-minute load average: ${loadBefore.toFixed(2)} before the measured rounds, ${loadAfter.toFixed(2)} after`);
    const summary = goals(rows[0]!.cpu, rows[2]!.cpu, rows[3]!.cpu, rows[4]!.cpu);
    console.log();
    for (const line of summary) console.log(line);
    return { name: `sockets: ${2 * PAIRS} established loopback sockets, ${REPS} rounds`, summary };
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await cleanUp();
  }
}

function rawVariant(label: string, args: readonly string[]): Variant {
  const variant: Variant = {
    label,
    samples: [],
    runSelfMs: [],
    async measure() {
      const before = childCpuMs();
      const began = process.hrtime.bigint();
      await runSs(SS, args);
      const wallMs = Number(process.hrtime.bigint() - began) / 1e6;
      variant.samples.push({ agentMs: 0, ssMs: childCpuMs() - before, wallMs });
    },
  };
  return variant;
}

function agentVariant(label: string, agent: AgentProcess): Variant {
  const variant: Variant = {
    label,
    samples: [],
    runSelfMs: [],
    async measure() {
      const reply = await agent.cycle();
      if (!reply.up) throw new Error(`${agent.source} source failed: ${JSON.stringify(reply.errors)}`);
      variant.samples.push({ agentMs: reply.selfMs, ssMs: reply.childMs, wallMs: reply.wallMs });
      variant.runSelfMs.push(reply.runSelfMs);
      variant.last = reply;
    },
  };
  return variant;
}

/** Counts with real ss that the helper's sockets are there before anything is measured. */
async function verifySockets(holder: Holder): Promise<number> {
  const expected = 2 * PAIRS;
  const total = await countLines(SS, ['-tanH', 'state', 'established']);
  const own = await countLines(SS, ['-tanH', 'state', 'established', `( sport = :${holder.port} or dport = :${holder.port} )`]);
  console.log(
    `helper pid ${holder.pid} on 127.0.0.1:${holder.port}: \`ss -tanH state established | wc -l\` = ${total}, ` +
      `${own} of them on the helper's port (expected ${expected})`,
  );
  if (own !== expected) throw new Error(`expected ${expected} established sockets on port ${holder.port}, ss shows ${own}`);
  return countLines(SS, ['-tuanH']);
}

/** The agent must see what ss sees, or its cost would be that of a smaller job. */
function checkSeen(variant: Variant): void {
  const seen = variant.last?.helperEstablished ?? 0;
  if (seen !== 2 * PAIRS) {
    throw new Error(`${variant.label}: ${seen} established TCP connections credited to the helper, expected ${2 * PAIRS}`);
  }
}

interface Row {
  label: string;
  cpu: Summary;
  agent: Summary;
  ss: Summary;
  wall: Summary;
}

function toRow(v: Variant): Row {
  return {
    label: v.label,
    cpu: summarize(v.samples.map((s) => s.agentMs + s.ssMs)),
    agent: summarize(v.samples.map((s) => s.agentMs)),
    ss: summarize(v.samples.map((s) => s.ssMs)),
    wall: summarize(v.samples.map((s) => s.wallMs)),
  };
}

function printTable(rows: readonly Row[]): void {
  const header = ['ms per cycle', 'CPU median', 'CPU p90', 'CPU mean', 'agent median', 'ss median', 'wall median', 'wall p90'];
  const body = rows.map((r) => [
    r.label,
    ms(r.cpu.median),
    ms(r.cpu.p90),
    ms(r.cpu.mean),
    ms(r.agent.median),
    ms(r.ss.median),
    ms(r.wall.median),
    ms(r.wall.p90),
  ]);
  console.log(formatTable(header, body));
  console.log(
    `CPU = user + system. agent: its own process, every thread (process.cpuUsage, 1 µs resolution); ` +
      `ss: the children reaped meanwhile (/proc/self/stat cutime + cstime: ${CHILD_CPU_RESOLUTION_MS} ms resolution per sample).`,
  );
}

/**
 * Where the ss source's agent CPU goes: starting ss and reading its output, parsing, and the rest.
 * The source scans the fd tables while ss runs, so the first part holds what of the scan ran in
 * that time, and the rest what ran after it.
 */
async function ssBreakdown(agent: AgentProcess, variant: Variant): Promise<string> {
  const timing = await agent.parseTiming(REPS);
  const agentMs = summarize(variant.samples.map((s) => s.agentMs)).median;
  const runMs = summarize(variant.runSelfMs).median;
  const parseMs = summarize(timing.parseMs).median;
  return (
    `ss source, agent CPU (medians): ${ms(agentMs)} ms = spawn ss + read ${(timing.outputBytes / 1e6).toFixed(1)} MB, ` +
    `with the fd scan running meanwhile, ${ms(runMs)} ms` +
    ` + parseSs of ${timing.outputSockets} sockets ${ms(parseMs)} ms (timed apart on output of the same command)` +
    ` + the rest of the fd scan, owners, aggregation, snapshot and GC ${ms(Math.max(agentMs - runMs - parseMs, 0))} ms (the rest)`
  );
}

/** The HostIO calls of a source's last cycle: the fd tables it read, the files, links and programs. */
function hostCalls(variant: Variant): string {
  const c = variant.last!.calls;
  return (
    `${variant.label}, calls in the last cycle: ${c.readLinks} readLinks (${c.fds} fds listed, ${c.links} links read), ` +
    `${c.readlink} readlink, ${c.readdir} readdir, ${c.readLines} readLines, ${c.readFile} readFile, ${c.runLines} runLines`
  );
}

function goals(reference: Summary, ssSource: Summary, procfs: Summary, procfsWhole: Summary): string[] {
  const ratio = ssSource.median / reference.median;
  // With the defaults (interval 5 s, procfs.fdCacheMaxAge 60 s) a large table is read whole once
  // every 12 cycles; such a cycle costs about what a cycle with the cache off does.
  const amortized = (11 * procfs.median + procfsWhole.median) / 12;
  return [
    `ss source / raw \`ss ${REFERENCE_ARGS.join(' ')}\`: ${ratio.toFixed(2)}x CPU (medians ${ms(ssSource.median)} / ${ms(reference.median)} ms; ` +
      `means ${(ssSource.mean / reference.mean).toFixed(2)}x); goal <= ${SS_SOURCE_GOAL_RATIO}x: ${ratio <= SS_SOURCE_GOAL_RATIO ? 'PASS' : 'MISS'}`,
    `procfs source: ${ms(procfs.median)} ms CPU per cycle (median; p90 ${ms(procfs.p90)}) = ` +
      `${(procfs.median / PROCFS_GOAL_MS).toFixed(2)}x the goal of <= ${PROCFS_GOAL_MS} ms: ${procfs.median <= PROCFS_GOAL_MS ? 'PASS' : 'MISS'}`,
    `procfs source with every table read whole (fd cache off, or the cycle that refreshes it): ${ms(procfsWhole.median)} ms ` +
      `(median; p90 ${ms(procfsWhole.p90)}); with the defaults, one such cycle in 12: ${ms(amortized)} ms per cycle on average: ` +
      `${amortized <= PROCFS_GOAL_MS ? 'PASS' : 'MISS'}`,
  ];
}

function compactArgs(args: readonly string[]): string {
  return `-${args.map((a) => a.replace(/^-/, '')).join('')}`;
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(0);
}
