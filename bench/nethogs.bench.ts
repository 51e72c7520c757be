// The nethogs source against the eBPF source on the same traffic: a TCP stream across a veth pair
// into a network namespace, paced at 6 MB/s. Each round runs three variants in turn, each with
// its own agent started fresh (`node dist/cli.js run --sources nethogs|ebpf`) and stopped after:
// no agent, the nethogs source, the eBPF source. CPU is read from /proc/PID/stat of the agent, of
// its child (nethogs, netproc-loader), and of the two traffic processes, over the same window.
// Then nethogs's undercount: a 20 MiB burst at full rate against the same paced at 6 MB/s, as the
// agent reports them next to the payload and the device's own byte counter.
// Figures are printed, never asserted. Needs root, nethogs, the built ebpf engine, ip and ss.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSourceAgent, type SourceAgent } from './support/cli-agent.js';
import { processCpuMs as cpuMs } from './support/cpu.mjs';
import { positiveInt } from './support/env.js';
import type { BenchReport } from './support/report.js';
import { summarize } from './support/stats.js';
import { formatTable, ms } from './support/table.js';
import { createNamespace, type TestNamespace } from '../test/helpers/netns.js';
import { killAll, peer, type Child } from '../test/helpers/processes.js';
import { valueOf, type Sample } from '../test/helpers/prometheus-text.js';
import { LOADER, onPath } from '../test/helpers/requirements.js';

const ROUNDS = positiveInt('BENCH_NETHOGS_ROUNDS', 3);
const BURSTS = positiveInt('BENCH_NETHOGS_BURSTS', 3);
const STREAM_BYTES = 48_000_000;
const STREAM_RATE = 6_000_000;
const BURST_BYTES = 20 * 1024 * 1024;
/** The integration test's shaping: nethogs maps a new connection before bulk data flows. */
const START_DELAY_MS = 3000;
/** The veth's subnet: 10.213.<slot>.0/30, apart from the integration tests' slots. */
const VETH_SLOT = 240;

type Variant = 'none' | 'nethogs' | 'ebpf';
const TOOL: Record<Exclude<Variant, 'none'>, string> = { nethogs: 'nethogs', ebpf: 'netproc-loader' };

interface RoundSample {
  agentMs: number;
  childMs: number;
  trafficMs: number;
  /** Bytes the agent credited to the sender. */
  counted?: number;
  wireBytes: number;
}

export async function run(): Promise<BenchReport> {
  const absent = ['nethogs', 'ip', 'ss'].filter((tool) => !onPath(tool));
  if (!existsSync(LOADER)) absent.push('the ebpf engine (npm run build)');
  if (process.getuid?.() !== 0 || absent.length > 0) {
    const why = `needs root and ${absent.length > 0 ? absent.join(', ') : 'nothing else'}; skipped`;
    console.log(why);
    return { name: 'nethogs: nethogs and eBPF sources on a veth stream', summary: [why] };
  }
  const veth = createNamespace(VETH_SLOT);
  const cleanUp = async (): Promise<void> => {
    await killAll(); // the agents too
    veth.remove();
  };
  const interrupted = (): void => void cleanUp().finally(() => process.exit(130));
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    console.log(
      `veth ${veth.hostIf} <-> netns ${veth.name}; ${ROUNDS} rounds of [no agent, nethogs, ebpf] in rotating order, ` +
        `each a ${STREAM_BYTES / 1e6} MB stream paced at ${STREAM_RATE / 1e6} MB/s (bulk ${START_DELAY_MS / 1000} s after connecting)`,
    );
    // nethogs re-reads /proc/net/tcp every refresh and every /proc/PID/fd on each new connection:
    // its cost grows with the sockets on the host.
    console.log(`host: ${execFileSync('ss', ['-s'], { encoding: 'utf8' }).split('\n')[0]}`);
    const samples: Record<Variant, RoundSample[]> = { none: [], nethogs: [], ebpf: [] };
    const order: Variant[] = ['none', 'nethogs', 'ebpf'];
    const loadBefore = loadavg()[0]!;
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < order.length; i++) {
        const variant = order[(round + i) % order.length]!;
        const sample = await streamRound(veth, variant);
        samples[variant].push(sample);
        console.log(`round ${round + 1} ${variant}: ${describe(sample)}`);
      }
    }
    const loadAfter = loadavg()[0]!;
    console.log();
    console.log(cpuTable(samples));
    console.log(
      'CPU = user + system from /proc/PID/stat (10 ms ticks) over the window from starting the sender to 2.5 s after the sink had every byte; ' +
        'traffic = the sender and the sink. The eBPF programs run in the kernel on the traffic processes\' time, so their cost shows in the traffic column.',
    );
    console.log(`1-minute load average: ${loadBefore.toFixed(2)} before the rounds, ${loadAfter.toFixed(2)} after`);

    console.log(`\nnethogs undercount: ${BURSTS} transfers of ${BURST_BYTES} bytes each way of sending, one nethogs agent`);
    const bursts = await undercount(veth);
    console.log();
    console.log(burstTable(bursts));

    const summary = summaryLines(samples, bursts);
    console.log();
    for (const line of summary) console.log(line);
    return { name: `nethogs: nethogs and eBPF sources on a veth stream, ${ROUNDS} rounds`, summary };
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await cleanUp();
  }
}

// ---------------------------------------------------------------------------------------------
// Rounds

async function streamRound(veth: TestNamespace, variant: Variant): Promise<RoundSample> {
  const agent = variant === 'none' ? undefined : await startAgent(variant, veth);
  try {
    const sink = veth.peer('sink', veth.nsAddress);
    const { port } = await sink.next('port');
    const before = { wire: wireTx(veth), agent: agent ? cpuMs(agent.agent.child.pid) : 0, child: agent ? cpuMs(agent.toolPid) : 0 };
    const sender = peer('send-paced', veth.nsAddress, port, STREAM_BYTES, STREAM_RATE, START_DELAY_MS);
    const trafficBefore = cpuMs(sender.proc.pid!) + cpuMs(sink.proc.pid!);
    await sender.next('sent', 120_000);
    await delivered(sink, STREAM_BYTES);
    await sleep(2500); // the agent's last collection
    const sample: RoundSample = {
      agentMs: agent ? cpuMs(agent.agent.child.pid) - before.agent : 0,
      childMs: agent ? cpuMs(agent.toolPid) - before.child : 0,
      trafficMs: cpuMs(sender.proc.pid!) + cpuMs(sink.proc.pid!) - trafficBefore,
      wireBytes: wireTx(veth) - before.wire,
    };
    if (agent) sample.counted = transmitted(await agent.agent.scrape(), sender.pid);
    await Promise.all([sender.kill(), sink.kill()]);
    return sample;
  } finally {
    await agent?.stop();
  }
}

interface BurstResult {
  label: string;
  payload: number;
  wire: number[];
  /** Credited to the sender. */
  counted: number[];
  /** Credited to [kernel] (pid 0) meanwhile: traffic nethogs saw but could not attribute. */
  kernel: number[];
}

async function undercount(veth: TestNamespace): Promise<BurstResult[]> {
  const agent = await startAgent('nethogs', veth);
  const fullRate = 1e12; // send-paced never waits: every write is due at once
  const kinds: Array<{ label: string; args: (port: number) => Array<string | number> }> = [
    { label: 'full rate, at connect', args: (port) => ['send', veth.nsAddress, port, BURST_BYTES] },
    { label: `full rate, ${START_DELAY_MS / 1000} s after connect`, args: (port) => ['send-paced', veth.nsAddress, port, BURST_BYTES, fullRate, START_DELAY_MS] },
    { label: `paced ${STREAM_RATE / 1e6} MB/s, at connect`, args: (port) => ['send-paced', veth.nsAddress, port, BURST_BYTES, STREAM_RATE] },
    { label: `paced ${STREAM_RATE / 1e6} MB/s, ${START_DELAY_MS / 1000} s after connect`, args: (port) => ['send-paced', veth.nsAddress, port, BURST_BYTES, STREAM_RATE, START_DELAY_MS] },
  ];
  const results = kinds.map((k) => ({ label: k.label, payload: BURST_BYTES, wire: [] as number[], counted: [] as number[], kernel: [] as number[] }));
  try {
    for (let i = 0; i < BURSTS; i++) {
      for (const [k, kind] of kinds.entries()) {
        const sink = veth.peer('sink', veth.nsAddress);
        const { port } = await sink.next('port');
        const wire0 = wireTx(veth);
        const kernel0 = transmitted(await agent.agent.scrape(), 0);
        const sender = peer(...kind.args(port));
        await sender.next('sent', 120_000);
        await delivered(sink, BURST_BYTES);
        await sleep(2500);
        const samples = await agent.agent.scrape();
        results[k]!.wire.push(wireTx(veth) - wire0);
        results[k]!.counted.push(transmitted(samples, sender.pid));
        results[k]!.kernel.push(transmitted(samples, 0) - kernel0);
        const r = results[k]!;
        console.log(`${kind.label}: nethogs ${r.counted.at(-1)} B to the sender, ${r.kernel.at(-1)} B to [kernel]; device ${r.wire.at(-1)} B; payload ${BURST_BYTES} B`);
        await Promise.all([sender.kill(), sink.kill()]);
      }
    }
  } finally {
    await agent.stop();
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// Output

function describe(s: RoundSample): string {
  const counted = s.counted === undefined ? '' : `, counted ${s.counted} B (payload ${STREAM_BYTES} B, device ${s.wireBytes} B)`;
  return `agent ${s.agentMs} ms, child ${s.childMs} ms, traffic ${s.trafficMs} ms CPU${counted}`;
}

function cpuTable(samples: Record<Variant, RoundSample[]>): string {
  const header = ['CPU ms per stream (medians)', 'agent', 'child', 'agent + child', 'traffic', 'counted / payload, per round'];
  const rows = (['none', 'nethogs', 'ebpf'] as const).map((variant) => {
    const s = samples[variant];
    const med = (f: (x: RoundSample) => number) => summarize(s.map(f)).median;
    const label = variant === 'none' ? 'no agent' : `${variant} source (agent + ${TOOL[variant]})`;
    const counted = variant === 'none' ? '' : s.map((x) => (x.counted! / STREAM_BYTES).toFixed(3)).join(' ');
    return [label, ms(med((x) => x.agentMs)), ms(med((x) => x.childMs)), ms(med((x) => x.agentMs + x.childMs)), ms(med((x) => x.trafficMs)), counted];
  });
  return formatTable(header, rows);
}

function burstTable(results: readonly BurstResult[]): string {
  const header = ['20 MiB transfer', 'sender / payload', 'sender / device bytes', '[kernel] / device bytes'];
  const ratios = (values: readonly number[], of: (i: number) => number) => values.map((v, i) => (v / of(i)).toFixed(3)).join(' ');
  const rows = results.map((r) => [r.label, ratios(r.counted, () => r.payload), ratios(r.counted, (i) => r.wire[i]!), ratios(r.kernel, (i) => r.wire[i]!)]);
  return formatTable(header, rows);
}

function summaryLines(samples: Record<Variant, RoundSample[]>, bursts: readonly BurstResult[]): string[] {
  const med = (v: Variant, f: (x: RoundSample) => number) => summarize(samples[v].map(f)).median;
  const both = (v: Variant) => med(v, (x) => x.agentMs + x.childMs);
  const lines = [
    `CPU per ${STREAM_BYTES / 1e6} MB stream at ${STREAM_RATE / 1e6} MB/s (medians of ${ROUNDS}): ` +
      `nethogs source ${ms(both('nethogs'))} ms (agent ${ms(med('nethogs', (x) => x.agentMs))} + nethogs ${ms(med('nethogs', (x) => x.childMs))}), ` +
      `ebpf source ${ms(both('ebpf'))} ms (agent ${ms(med('ebpf', (x) => x.agentMs))} + loader ${ms(med('ebpf', (x) => x.childMs))}); ` +
      `traffic processes ${ms(med('none', (x) => x.trafficMs))} ms alone, ${ms(med('nethogs', (x) => x.trafficMs))} with nethogs, ${ms(med('ebpf', (x) => x.trafficMs))} with ebpf`,
  ];
  for (const r of bursts) {
    lines.push(`nethogs, 20 MiB ${r.label}: ${r.counted.map((c) => (c / r.payload).toFixed(3)).join(', ')} x the payload`);
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Processes and the host

function startAgent(source: Exclude<Variant, 'none'>, veth: TestNamespace): Promise<SourceAgent> {
  return startSourceAgent(source, TOOL[source], { NETPROC_NETHOGS_DEVICES: veth.hostIf });
}

/** Bytes the agent credits to `pid` as transmitted, all transports. */
function transmitted(samples: readonly Sample[], pid: number): number {
  return valueOf(samples, 'process_network_transmit_bytes_total', { process_pid: pid }) ?? 0;
}

async function delivered(sink: Child, bytes: number): Promise<void> {
  for (;;) {
    sink.proc.kill('SIGUSR2');
    if ((await sink.next('received')).received >= bytes) return;
    await sleep(100);
  }
}

function wireTx(veth: TestNamespace): number {
  return Number(readFileSync(`/sys/class/net/${veth.hostIf}/statistics/tx_bytes`, 'utf8'));
}
