// Cost of the ebpf source on the traffic it watches: loopback TCP throughput of iperf3 with 1 KiB
// writes (one send call per KiB: the worst case for a per-call probe), with no agent and with the
// agent running the ebpf source, and with bpftrace running empty programs on the same tracepoints (the
// floor any bpftrace program starts from), in rotating rounds; plus the agent's and bpftrace's memory and CPU.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSourceAgent } from './support/cli-agent.js';
import { processCpuMs as cpuMs } from './support/cpu.mjs';
import { positiveInt } from './support/env.js';
import type { BenchReport } from './support/report.js';
import { summarize } from './support/stats.js';
import { stopChild } from './support/stop.js';
import { onPath } from '../test/helpers/requirements.js';

const ROUNDS = positiveInt('BENCH_EBPF_ROUNDS', 9);
const SECONDS = positiveInt('BENCH_EBPF_SECONDS', 5);
const GOAL = 0.95;

function rssMiB(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return kb ? Number(kb[1]) / 1024 : 0;
}

const MODES = ['none', 'agent', 'empty'] as const;
/** No agent; the agent with the ebpf source; bpftrace running empty programs (the floor). */
type Mode = (typeof MODES)[number];

interface IperfRun {
  bitsPerSecond: number;
  /**
   * CPU of the iperf3 client and server (user + system) per KiB carried: one send and one recv
   * call of 1 KiB each. Steadier than throughput on a 2-vCPU VM, where throughput also depends
   * on whether the two land on the same vCPU; the probes' cost shows here as added nanoseconds.
   */
  cpuNsPerKiB: number;
}

function iperf(port: number): IperfRun {
  const out = execFileSync('iperf3', ['-c', '127.0.0.1', '-p', String(port), '-t', String(SECONDS), '-l', '1K', '-J'], { encoding: 'utf8' });
  const { end } = JSON.parse(out) as {
    end: {
      sum_received: { bits_per_second: number; bytes: number; seconds: number };
      cpu_utilization_percent: { host_total: number; remote_total: number };
    };
  };
  const cpuSeconds = ((end.cpu_utilization_percent.host_total + end.cpu_utilization_percent.remote_total) / 100) * end.sum_received.seconds;
  return { bitsPerSecond: end.sum_received.bits_per_second, cpuNsPerKiB: (cpuSeconds * 1e9) / (end.sum_received.bytes / 1024) };
}

/**
 * The floor: bpftrace 0.17 with programs that do nothing, on the same two tracepoints. bpftrace
 * attaches a tracepoint program through a perf event and returns 1 from it (bpftrace #1857), so
 * the kernel also runs the perf sample path for each event; no program it builds costs less.
 */
const EMPTY_PROGRAM = 'tracepoint:sock:sock_send_length { } tracepoint:sock:sock_recv_length { } BEGIN { printf("ready\\n"); }';

async function startEmptyProgram(): Promise<ChildProcess> {
  const proc = spawn('bpftrace', ['-e', EMPTY_PROGRAM], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BPFTRACE_BTF: '/sys/kernel/btf/vmlinux' },
  });
  let output = '';
  proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  for (let i = 0; i < 300 && !output.includes('ready') && proc.exitCode === null; i++) await sleep(100);
  if (!output.includes('ready')) {
    proc.kill('SIGKILL');
    throw new Error(`bpftrace with an empty program did not start: ${output.slice(-500)}`);
  }
  return proc;
}

export async function run(): Promise<BenchReport> {
  const name = 'ebpf source: loopback TCP throughput, 1 KiB writes (iperf3)';
  const missing = [process.getuid?.() === 0 ? '' : 'root', onPath('iperf3') ? '' : 'iperf3 (apt-get install iperf3)', onPath('bpftrace') ? '' : 'bpftrace'].filter(Boolean);
  if (missing.length > 0) {
    console.log(`SKIPPED: missing ${missing.join(', ')}`);
    return { name, summary: [`SKIPPED: missing ${missing.join(', ')}`] };
  }
  const port = 20000 + (process.pid % 20000);
  const server = spawn('iperf3', ['-s', '-p', String(port)], { stdio: 'ignore' });
  const rounds: Array<Record<Mode, IperfRun>> = [];
  const cpuPerSecond: number[] = [];
  const rss: number[] = [];
  const measure: Record<Mode, () => Promise<IperfRun>> = {
    none: async () => iperf(port),
    async empty() {
      const empty = await startEmptyProgram();
      const exited = new Promise<void>((r) => empty.once('exit', () => r()));
      try {
        await sleep(1000);
        return iperf(port);
      } finally {
        await stopChild(empty, exited, 5000, 'SIGINT');
      }
    },
    async agent() {
      const { agent, toolPid, stop } = await startSourceAgent('ebpf', 'bpftrace');
      try {
        await sleep(1000);
        const both = (): number => cpuMs(agent.child.pid) + cpuMs(toolPid);
        const cpuBefore = both();
        const began = Date.now();
        const result = iperf(port);
        cpuPerSecond.push((both() - cpuBefore) / ((Date.now() - began) / 1000));
        rss.push(rssMiB(agent.child.pid) + rssMiB(toolPid));
        return result;
      } finally {
        await stop();
      }
    },
  };
  try {
    await sleep(500);
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate which run goes first, so drift in the machine's load falls on all of them alike.
      const order = MODES.map((_, i) => MODES[(round + i) % MODES.length]!);
      const result = {} as Record<Mode, IperfRun>;
      for (const mode of order) result[mode] = await measure[mode]();
      rounds.push(result);
      const { none, agent, empty } = result;
      const gbits = (run: IperfRun): string => `${(run.bitsPerSecond / 1e9).toFixed(2)} Gbit/s, ${run.cpuNsPerKiB.toFixed(0)} ns CPU/KiB`;
      console.log(
        `round ${round + 1} (${order.join(', ')}): no agent ${gbits(none)}; with agent ${gbits(agent)} (ratio ${(agent.bitsPerSecond / none.bitsPerSecond).toFixed(3)}); ` +
          `empty bpftrace program ${gbits(empty)} (ratio ${(empty.bitsPerSecond / none.bitsPerSecond).toFixed(3)})`,
      );
    }
  } finally {
    server.kill('SIGTERM');
  }
  const of = (f: (round: Record<Mode, IperfRun>) => number) => summarize(rounds.map(f));
  const ratio = of((r) => r.agent.bitsPerSecond / r.none.bitsPerSecond);
  const floor = of((r) => r.empty.bitsPerSecond / r.none.bitsPerSecond);
  const throughput = (mode: Mode): string => (of((r) => r[mode].bitsPerSecond).median / 1e9).toFixed(2);
  const addedNs = (mode: Mode): string => of((r) => r[mode].cpuNsPerKiB - r.none.cpuNsPerKiB).median.toFixed(0);
  const cpu = summarize(cpuPerSecond);
  const memory = summarize(rss);
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const summary = [
    `throughput with agent / without, median of ${ROUNDS} rounds: ${ratio.median.toFixed(3)} (min ${ratio.min.toFixed(3)}, max ${ratio.max.toFixed(3)}); goal >= ${GOAL}: ${ratio.median >= GOAL ? 'PASS' : 'MISS'}`,
    `floor, bpftrace with empty programs on the same tracepoints / without, median: ${floor.median.toFixed(3)} (min ${floor.min.toFixed(3)}, max ${floor.max.toFixed(3)})`,
    `CPU of iperf3 client + server per KiB (one send, one recv) added, medians: agent ${addedNs('agent')} ns, ` +
      `empty bpftrace program ${addedNs('empty')} ns`,
    `median throughput: no agent ${throughput('none')} Gbit/s, with agent ${throughput('agent')} Gbit/s, empty program ${throughput('empty')} Gbit/s`,
    `agent + bpftrace CPU under the stream: ${cpu.median.toFixed(0)} ms per second (median)`,
    `agent + bpftrace RSS: ${memory.median.toFixed(0)} MiB (median)`,
    `load average at the end: ${load}`,
  ];
  for (const line of summary) console.log(line);
  return { name, summary };
}
