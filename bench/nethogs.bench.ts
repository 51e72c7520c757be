// The nethogs source against the eBPF source on the same traffic: a TCP stream across a veth pair
// into a network namespace, paced at 6 MB/s. Each round runs three variants in turn, each with
// its own agent started fresh (`node dist/cli.js run --sources nethogs|ebpf`) and stopped after:
// no agent, the nethogs source, the eBPF source. CPU is read from /proc/PID/stat of the agent, of
// its child (nethogs, bpftrace), and of the two traffic processes, over the same window.
// Then nethogs's undercount: a 20 MiB burst at full rate against the same paced at 6 MB/s, as the
// agent reports them next to the payload and the device's own byte counter.
// Figures are printed, never asserted. Needs root, nethogs, bpftrace (with tracefs), ip and ss.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { positiveInt } from './support/env.js';
import type { BenchReport } from './support/report.js';
import { summarize } from './support/stats.js';
import { formatTable, ms } from './support/table.js';
import { createNamespace, type TestNamespace } from '../test/helpers/netns.js';
import { killAll, peer, type Child } from '../test/helpers/processes.js';
import { onPath } from '../test/helpers/requirements.js';

const ROUNDS = positiveInt('BENCH_NETHOGS_ROUNDS', 3);
const BURSTS = positiveInt('BENCH_NETHOGS_BURSTS', 3);
const STREAM_BYTES = 48_000_000;
const STREAM_RATE = 6_000_000;
const BURST_BYTES = 20 * 1024 * 1024;
/** The integration test's shaping: nethogs maps a new connection before bulk data flows. */
const START_DELAY_MS = 3000;
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
/** The veth's subnet: 10.213.<slot>.0/30, apart from the integration tests' slots. */
const VETH_SLOT = 240;
/** USER_HZ: the unit of utime and stime in /proc/PID/stat. */
const TICK_MS = 10;

type Variant = 'none' | 'nethogs' | 'ebpf';
const TOOL: Record<Exclude<Variant, 'none'>, string> = { nethogs: 'nethogs', ebpf: 'bpftrace' };

interface Agent {
  proc: ChildProcess;
  port: number;
  child: number;
  stop(): Promise<void>;
}

interface RoundSample {
  agentMs: number;
  childMs: number;
  trafficMs: number;
  /** Bytes the agent credited to the sender. */
  counted?: number;
  wireBytes: number;
}

const live = new Set<ChildProcess>();

export async function run(): Promise<BenchReport> {
  const absent = ['nethogs', 'bpftrace', 'ip', 'ss'].filter((tool) => !onPath(tool));
  if (process.getuid?.() !== 0 || absent.length > 0) {
    const why = `needs root and ${absent.length > 0 ? absent.join(', ') : 'nothing else'}; skipped`;
    console.log(why);
    return { name: 'nethogs: nethogs and eBPF sources on a veth stream', summary: [why] };
  }
  const veth = createNamespace(VETH_SLOT);
  const cleanUp = async (): Promise<void> => {
    await Promise.all([...live].map((p) => kill(p)));
    await killAll();
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
    const before = { wire: wireTx(veth), agent: agent ? cpuMs(agent.proc.pid!) : 0, child: agent ? cpuMs(agent.child) : 0 };
    const sender = peer('send-paced', veth.nsAddress, port, STREAM_BYTES, STREAM_RATE, START_DELAY_MS);
    const trafficBefore = cpuMs(sender.proc.pid!) + cpuMs(sink.proc.pid!);
    await sender.next('sent', 120_000);
    await delivered(sink, STREAM_BYTES);
    await sleep(2500); // the agent's last collection
    const sample: RoundSample = {
      agentMs: agent ? cpuMs(agent.proc.pid!) - before.agent : 0,
      childMs: agent ? cpuMs(agent.child) - before.child : 0,
      trafficMs: cpuMs(sender.proc.pid!) + cpuMs(sink.proc.pid!) - trafficBefore,
      wireBytes: wireTx(veth) - before.wire,
    };
    if (agent) sample.counted = await transmitted(agent, sender.proc.pid!);
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
        const kernel0 = await transmitted(agent, 0);
        const sender = peer(...kind.args(port));
        await sender.next('sent', 120_000);
        await delivered(sink, BURST_BYTES);
        await sleep(2500);
        results[k]!.wire.push(wireTx(veth) - wire0);
        results[k]!.counted.push(await transmitted(agent, sender.proc.pid!));
        results[k]!.kernel.push((await transmitted(agent, 0)) - kernel0);
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
      `ebpf source ${ms(both('ebpf'))} ms (agent ${ms(med('ebpf', (x) => x.agentMs))} + bpftrace ${ms(med('ebpf', (x) => x.childMs))}); ` +
      `traffic processes ${ms(med('none', (x) => x.trafficMs))} ms alone, ${ms(med('nethogs', (x) => x.trafficMs))} with nethogs, ${ms(med('ebpf', (x) => x.trafficMs))} with ebpf`,
  ];
  for (const r of bursts) {
    lines.push(`nethogs, 20 MiB ${r.label}: ${r.counted.map((c) => (c / r.payload).toFixed(3)).join(', ')} x the payload`);
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Processes and the host

async function startAgent(source: Exclude<Variant, 'none'>, veth: TestNamespace): Promise<Agent> {
  const proc = spawn(
    process.execPath,
    [CLI, 'run', '--sources', source, '--interval', '1s', '--prometheus-host', '127.0.0.1', '--prometheus-port', '0', '--no-otlp'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NETPROC_NETHOGS_DEVICES: veth.hostIf } },
  );
  live.add(proc);
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const stop = async (): Promise<void> => kill(proc, 'SIGTERM');
  try {
    const port = await until(
      async () => {
        const match = /"url":"http:\/\/[^"]*:(\d+)\/metrics"/.exec(stderr);
        return match ? Number(match[1]) : undefined;
      },
      30_000,
      () => `the ${source} agent to listen; stderr: ${stderr}`,
    );
    await until(async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200 ? true : undefined), 60_000, () => `the ${source} agent to be ready; stderr: ${stderr}`);
    const child = await until(async () => childPid(proc.pid!, TOOL[source]), 10_000, () => `${TOOL[source]} under the agent`);
    return { proc, port, child, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function childPid(parent: number, name: string): number | undefined {
  try {
    const out = execFileSync('pgrep', ['-P', String(parent), '-x', name], { encoding: 'utf8' }).trim();
    return out === '' ? undefined : Number(out.split('\n')[0]);
  } catch {
    return undefined;
  }
}

/** Bytes the agent credits to `pid` as transmitted, all transports. */
async function transmitted(agent: Agent, pid: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${agent.port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('process_network_transmit_bytes_total{') && line.includes(`process_pid="${pid}"`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function delivered(sink: Child, bytes: number): Promise<void> {
  for (;;) {
    sink.proc.kill('SIGUSR2');
    if ((await sink.next('received')).received >= bytes) return;
    await sleep(100);
  }
}

async function kill(proc: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  live.delete(proc);
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill(signal);
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** User + system CPU of a live process, in ms (0 once it is gone). */
function cpuMs(pid: number): number {
  const path = `/proc/${pid}/stat`;
  if (!existsSync(path)) return 0;
  const stat = readFileSync(path, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15; the fields after the comm start at field 3.
  return (Number(fields[14 - 3]) + Number(fields[15 - 3])) * TICK_MS;
}

function wireTx(veth: TestNamespace): number {
  return Number(readFileSync(`/sys/class/net/${veth.hostIf}/statistics/tx_bytes`, 'utf8'));
}

async function until<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await sleep(100);
  }
}

function sleep(msToWait: number): Promise<void> {
  return new Promise((r) => setTimeout(r, msToWait));
}
