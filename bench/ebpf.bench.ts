// Cost of the ebpf source on the traffic it watches: loopback TCP throughput of iperf3 with 1 KiB
// writes (one send call per KiB: the worst case for a per-call probe), with no agent and with the
// agent running the ebpf source, alternated in pairs; plus the agent's and bpftrace's memory and CPU.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { BenchReport } from './support/report.js';
import { summarize } from './support/stats.js';

const PAIRS = Number(process.env.BENCH_EBPF_PAIRS ?? 5);
const SECONDS = Number(process.env.BENCH_EBPF_SECONDS ?? 5);
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const GOAL = 0.95;

const has = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

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

function iperf(port: number): number {
  const out = execFileSync('iperf3', ['-c', '127.0.0.1', '-p', String(port), '-t', String(SECONDS), '-l', '1K', '-J'], { encoding: 'utf8' });
  return (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second;
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
  const missing = [process.getuid?.() === 0 ? '' : 'root', has('iperf3') ? '' : 'iperf3 (apt-get install iperf3)', has('bpftrace') ? '' : 'bpftrace'].filter(Boolean);
  if (missing.length > 0) {
    console.log(`SKIPPED: missing ${missing.join(', ')}`);
    return { name, summary: [`SKIPPED: missing ${missing.join(', ')}`] };
  }
  const port = 20000 + (process.pid % 20000);
  const server = spawn('iperf3', ['-s', '-p', String(port)], { stdio: 'ignore' });
  const ratios: number[] = [];
  const without: number[] = [];
  const withAgent: number[] = [];
  const cpuPerSecond: number[] = [];
  const rss: number[] = [];
  try {
    await sleep(500);
    for (let pair = 0; pair < PAIRS; pair++) {
      // Alternate which half goes first, so drift in the machine's load falls on both equally.
      const order = pair % 2 === 0 ? ['none', 'agent'] : ['agent', 'none'];
      const result: Record<string, number> = {};
      for (const mode of order) {
        if (mode === 'none') {
          result.none = iperf(port);
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
      without.push(result.none!);
      withAgent.push(result.agent!);
      ratios.push(result.agent! / result.none!);
      console.log(
        `pair ${pair + 1}: no agent ${(result.none! / 1e9).toFixed(2)} Gbit/s, with agent ${(result.agent! / 1e9).toFixed(2)} Gbit/s, ratio ${ratios.at(-1)!.toFixed(3)}`,
      );
    }
  } finally {
    server.kill('SIGTERM');
  }
  const ratio = summarize(ratios);
  const cpu = summarize(cpuPerSecond);
  const memory = summarize(rss);
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const summary = [
    `throughput with agent / without, median of ${PAIRS} pairs: ${ratio.median.toFixed(3)} (min ${ratio.min.toFixed(3)}, max ${ratio.max.toFixed(3)}); goal >= ${GOAL}: ${ratio.median >= GOAL ? 'PASS' : 'MISS'}`,
    `median throughput: no agent ${(summarize(without).median / 1e9).toFixed(2)} Gbit/s, with agent ${(summarize(withAgent).median / 1e9).toFixed(2)} Gbit/s`,
    `agent + bpftrace CPU under the stream: ${cpu.median.toFixed(0)} ms per second (median)`,
    `agent + bpftrace RSS: ${memory.median.toFixed(0)} MiB (median)`,
    `load average at the end: ${load}`,
  ];
  for (const line of summary) console.log(line);
  return { name, summary };
}
