// Cost of the ebpf source on the traffic it watches: loopback TCP throughput of iperf3 with 1 KiB
// writes (one send call per KiB: the worst case for a per-call probe), with no agent and with the
// agent running the ebpf source, and with bpftrace running empty programs on the same tracepoints (the
// floor any bpftrace program starts from), in rotating rounds; plus the agent's and bpftrace's memory and CPU.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { positiveInt } from './support/env.js';
import type { BenchReport } from './support/report.js';
import { summarize } from './support/stats.js';
import { onPath } from '../test/helpers/requirements.js';

const ROUNDS = positiveInt('BENCH_EBPF_ROUNDS', 9);
const SECONDS = positiveInt('BENCH_EBPF_SECONDS', 5);
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const GOAL = 0.95;


/** utime + stime of a process, in ms (USER_HZ = 100). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function rssMiB(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return kb ? Number(kb[1]) / 1024 : 0;
}

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

interface Agent {
  proc: ChildProcess;
  bpftrace: number;
}

async function startAgent(): Promise<Agent> {
  const proc = spawn(process.execPath, [CLI, 'run', '--sources', 'ebpf', '--interval', '1s', '--prometheus-host', '127.0.0.1', '--prometheus-port', '0', '--log-level', 'info'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  for (let i = 0; i < 600; i++) {
    const port = /"url":"http:\/\/[^"]*:(\d+)\/metrics"/.exec(stderr)?.[1];
    if (port) {
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false);
      const child = spawnSync('pgrep', ['-P', String(proc.pid), '-x', 'bpftrace'], { encoding: 'utf8' }).stdout.trim();
      if (ready && child) return { proc, bpftrace: Number(child) };
    }
    if (proc.exitCode !== null) break;
    await sleep(100);
  }
  proc.kill('SIGKILL');
  throw new Error(`the agent did not become ready: ${stderr.slice(-1000)}`);
}

async function stopAgent(agent: Agent): Promise<void> {
  const exited = new Promise((r) => agent.proc.once('exit', r));
  agent.proc.kill('SIGTERM');
  await exited;
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
  const ratios: number[] = [];
  const floorRatios: number[] = [];
  const without: number[] = [];
  const withAgent: number[] = [];
  const withEmpty: number[] = [];
  const addedNs: { agent: number[]; empty: number[] } = { agent: [], empty: [] };
  const cpuPerSecond: number[] = [];
  const rss: number[] = [];
  try {
    await sleep(500);
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate which run goes first, so drift in the machine's load falls on all of them alike.
      const modes = ['none', 'agent', 'empty'];
      const order = [...modes.slice(round % 3), ...modes.slice(0, round % 3)];
      const result: Record<string, IperfRun> = {};
      for (const mode of order) {
        if (mode === 'none') {
          result.none = iperf(port);
          continue;
        }
        if (mode === 'empty') {
          const empty = await startEmptyProgram();
          await sleep(1000);
          result.empty = iperf(port);
          const exited = new Promise((r) => empty.once('exit', r));
          empty.kill('SIGINT');
          await exited;
          continue;
        }
        const agent = await startAgent();
        await sleep(1000);
        const cpuBefore = cpuMs(agent.proc.pid!) + cpuMs(agent.bpftrace);
        const began = Date.now();
        result.agent = iperf(port);
        const seconds = (Date.now() - began) / 1000;
        cpuPerSecond.push((cpuMs(agent.proc.pid!) + cpuMs(agent.bpftrace) - cpuBefore) / seconds);
        rss.push(rssMiB(agent.proc.pid!) + rssMiB(agent.bpftrace));
        await stopAgent(agent);
      }
      const { none, agent, empty } = result as Record<'none' | 'agent' | 'empty', IperfRun>;
      without.push(none.bitsPerSecond);
      withAgent.push(agent.bitsPerSecond);
      withEmpty.push(empty.bitsPerSecond);
      ratios.push(agent.bitsPerSecond / none.bitsPerSecond);
      floorRatios.push(empty.bitsPerSecond / none.bitsPerSecond);
      addedNs.agent.push(agent.cpuNsPerKiB - none.cpuNsPerKiB);
      addedNs.empty.push(empty.cpuNsPerKiB - none.cpuNsPerKiB);
      const gbits = (run: IperfRun): string => `${(run.bitsPerSecond / 1e9).toFixed(2)} Gbit/s, ${run.cpuNsPerKiB.toFixed(0)} ns CPU/KiB`;
      console.log(
        `round ${round + 1} (${order.join(', ')}): no agent ${gbits(none)}; with agent ${gbits(agent)} (ratio ${ratios.at(-1)!.toFixed(3)}); ` +
          `empty bpftrace program ${gbits(empty)} (ratio ${floorRatios.at(-1)!.toFixed(3)})`,
      );
    }
  } finally {
    server.kill('SIGTERM');
  }
  const ratio = summarize(ratios);
  const floor = summarize(floorRatios);
  const cpu = summarize(cpuPerSecond);
  const memory = summarize(rss);
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const summary = [
    `throughput with agent / without, median of ${ROUNDS} rounds: ${ratio.median.toFixed(3)} (min ${ratio.min.toFixed(3)}, max ${ratio.max.toFixed(3)}); goal >= ${GOAL}: ${ratio.median >= GOAL ? 'PASS' : 'MISS'}`,
    `floor, bpftrace with empty programs on the same tracepoints / without, median: ${floor.median.toFixed(3)} (min ${floor.min.toFixed(3)}, max ${floor.max.toFixed(3)})`,
    `CPU of iperf3 client + server per KiB (one send, one recv) added, medians: agent ${summarize(addedNs.agent).median.toFixed(0)} ns, ` +
      `empty bpftrace program ${summarize(addedNs.empty).median.toFixed(0)} ns`,
    `median throughput: no agent ${(summarize(without).median / 1e9).toFixed(2)} Gbit/s, with agent ${(summarize(withAgent).median / 1e9).toFixed(2)} Gbit/s, ` +
      `empty program ${(summarize(withEmpty).median / 1e9).toFixed(2)} Gbit/s`,
    `agent + bpftrace CPU under the stream: ${cpu.median.toFixed(0)} ms per second (median)`,
    `agent + bpftrace RSS: ${memory.median.toFixed(0)} MiB (median)`,
    `load average at the end: ${load}`,
  ];
  for (const line of summary) console.log(line);
  return { name, summary };
}
