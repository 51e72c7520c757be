// Cost of the ebpf source (the CO-RE engine netproc-loader) on the traffic it watches, and its own
// cost: iperf3 on loopback with and without the agent, alternated (ABBA) in one session, for a TCP
// stream of 1 KiB writes (one send per KiB) and a 64-byte UDP flood; the loader's RSS and the
// agent's; the loader's start-to-ready time; and its CPU per collection at 10,000 sockets, next to
// raw `ss -tuanpi` on the same sockets in the same run. Figures are printed, never asserted: on a
// shared 2-vCPU machine a throughput ratio is only as good as the spread printed beside it.
import { execFileSync, spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { LOADER, onPath } from '../test/helpers/requirements.js';
import { startSourceAgent } from './support/cli-agent.js';
import { childCpuMs, processCpuMs as cpuMs } from './support/cpu.mjs';
import { positiveInt } from './support/env.js';
import { startHolder } from './support/holder.js';
import { loaderBuilt, loaderCycles, rssMiB } from './support/loader.js';
import { runSs } from './support/raw-ss.js';
import type { BenchReport } from './support/report.js';
import { summarize, type Summary } from './support/stats.js';

const PAIRS = positiveInt('BENCH_EBPF_PAIRS', 6);
const SECONDS = positiveInt('BENCH_EBPF_SECONDS', 5);
const SOCKET_PAIRS = positiveInt('BENCH_SOCKET_PAIRS', 5000);
const GOALS = { tcp: 0.98, udp: 0.9, tcpAddedNs: 100, loaderRssMiB: 10, totalRssMiB: 90, readyMs: 1000 };

interface IperfRun {
  /** Bits per second (TCP) or datagrams received per second (UDP). */
  rate: number;
  /** CPU of the iperf3 client and server (user + system) per KiB (TCP) or per datagram (UDP), ns. */
  cpuNs: number;
}

function iperf(port: number, udp: boolean): IperfRun {
  const args = ['-c', '127.0.0.1', '-p', String(port), '-t', String(SECONDS), '-J', ...(udp ? ['-u', '-b', '0', '-l', '64'] : ['-l', '1K'])];
  const out = JSON.parse(execFileSync('iperf3', args, { encoding: 'utf8' })) as {
    end: {
      sum_received?: { bits_per_second: number; bytes: number; seconds: number };
      sum?: { packets: number; lost_packets: number; seconds: number };
      cpu_utilization_percent: { host_total: number; remote_total: number };
    };
  };
  const { end } = out;
  const seconds = udp ? end.sum!.seconds : end.sum_received!.seconds;
  const cpuNs = ((end.cpu_utilization_percent.host_total + end.cpu_utilization_percent.remote_total) / 100) * seconds * 1e9;
  if (udp) {
    const received = end.sum!.packets - end.sum!.lost_packets;
    return { rate: received / seconds, cpuNs: cpuNs / received };
  }
  return { rate: end.sum_received!.bits_per_second, cpuNs: cpuNs / (end.sum_received!.bytes / 1024) };
}

/** ABBA pairs of no-agent / agent runs; the agent's and loader's RSS and CPU during its runs. */
async function alternate(port: number, udp: boolean) {
  const none: IperfRun[] = [];
  const agent: IperfRun[] = [];
  const rss = { loader: [] as number[], agent: [] as number[] };
  const cpuPerSecond: number[] = [];
  const withAgent = async (): Promise<IperfRun> => {
    const a = await startSourceAgent('ebpf', 'netproc-loader');
    try {
      await sleep(1000);
      const both = (): number => cpuMs(a.agent.child.pid) + cpuMs(a.toolPid);
      const before = both();
      const began = Date.now();
      const result = iperf(port, udp);
      cpuPerSecond.push((both() - before) / ((Date.now() - began) / 1000));
      rss.loader.push(rssMiB(a.toolPid));
      rss.agent.push(rssMiB(a.agent.child.pid));
      return result;
    } finally {
      await a.stop();
    }
  };
  for (let pair = 0; pair < PAIRS; pair++) {
    // ABBA: which run goes first alternates, so drift in the machine's load falls on both alike.
    if (pair % 2 === 0) {
      none.push(iperf(port, udp));
      agent.push(await withAgent());
    } else {
      agent.push(await withAgent());
      none.push(iperf(port, udp));
    }
    const unit = udp ? (r: IperfRun) => `${(r.rate / 1000).toFixed(1)} k dgram/s, ${r.cpuNs.toFixed(0)} ns CPU/dgram` : (r: IperfRun) => `${(r.rate / 1e9).toFixed(2)} Gbit/s, ${r.cpuNs.toFixed(0)} ns CPU/KiB`;
    console.log(`${udp ? 'UDP' : 'TCP'} pair ${pair + 1}: no agent ${unit(none.at(-1)!)}; agent ${unit(agent.at(-1)!)}; ratio ${(agent.at(-1)!.rate / none.at(-1)!.rate).toFixed(3)}`);
  }
  return {
    ratio: summarize(agent.map((a, i) => a.rate / none[i]!.rate)),
    none: summarize(none.map((r) => r.rate)),
    agent: summarize(agent.map((r) => r.rate)),
    addedNs: summarize(agent.map((a, i) => a.cpuNs - none[i]!.cpuNs)),
    loaderRss: summarize(rss.loader),
    agentRss: summarize(rss.agent),
    cpuPerSecond: summarize(cpuPerSecond),
  };
}

/** Wall time from exec of the loader to its ready line (everything attached, baselines taken). */
async function startToReady(): Promise<{ wallMs: number; attachMs: number }> {
  const began = process.hrtime.bigint();
  const proc = spawn(LOADER, ['--interval-ms', '1000'], { stdio: ['pipe', 'pipe', 'ignore'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).once('line', resolve);
    proc.once('exit', () => reject(new Error('the loader exited before ready')));
  });
  const wallMs = Number(process.hrtime.bigint() - began) / 1e6;
  proc.stdin!.end();
  await new Promise((r) => proc.once('exit', r));
  return { wallMs, attachMs: (JSON.parse(line) as { attachMs: number }).attachMs };
}

/** CPU of the loader per 1 s interval with SOCKET_PAIRS x 2 idle sockets, next to raw `ss -tuanpi`. */
async function perCollection(): Promise<{ loaderMs: Summary; iterMs: Summary; ssMs: Summary; sockets: number; loaderRss: number }> {
  const holder = await startHolder(SOCKET_PAIRS);
  try {
    const loader = await loaderCycles(9);
    const ss: number[] = [];
    for (let i = 0; i < 10; i++) {
      const before = childCpuMs();
      await runSs('ss', ['-tuanpi']);
      ss.push(childCpuMs() - before);
    }
    return { loaderMs: loader.perInterval, iterMs: loader.iterMs, ssMs: summarize(ss), sockets: loader.sockets, loaderRss: loader.rssMiB };
  } finally {
    await holder.stop();
  }
}

export async function run(): Promise<BenchReport> {
  const name = 'ebpf source (netproc-loader): loopback iperf3 TCP 1 KiB and UDP 64 B flood, memory, start, CPU per collection';
  const missing = [process.getuid?.() === 0 ? '' : 'root', onPath('iperf3') ? '' : 'iperf3 (apt-get install iperf3)', onPath('ss') ? '' : 'ss'].filter(Boolean);
  if (!loaderBuilt()) missing.push('the engine (npm run build with clang, libbpf-dev, libelf-dev, zlib1g-dev)');
  if (missing.length > 0) {
    console.log(`SKIPPED: missing ${missing.join(', ')}`);
    return { name, summary: [`SKIPPED: missing ${missing.join(', ')}`] };
  }
  const loadBefore = loadavg().map((l) => l.toFixed(2)).join(' ');
  const port = 20000 + (process.pid % 20000);
  const server = spawn('iperf3', ['-s', '-p', String(port)], { stdio: 'ignore' });
  let tcp, udp;
  try {
    await sleep(500);
    tcp = await alternate(port, false);
    udp = await alternate(port, true);
  } finally {
    server.kill('SIGTERM');
  }
  const ready: Array<{ wallMs: number; attachMs: number }> = [];
  for (let i = 0; i < 5; i++) ready.push(await startToReady());
  const scale = await perCollection();
  const loadAfter = loadavg().map((l) => l.toFixed(2)).join(' ');
  const spread = (s: Summary, digits = 3): string => `${s.median.toFixed(digits)} (min ${s.min.toFixed(digits)}, max ${s.max.toFixed(digits)})`;
  const wall = summarize(ready.map((r) => r.wallMs));
  const summary = [
    `TCP 1 KiB, ${PAIRS} ABBA pairs of ${SECONDS} s: throughput with agent / without, median ${spread(tcp.ratio)}; goal >= ${GOALS.tcp}`,
    `  medians: no agent ${(tcp.none.median / 1e9).toFixed(2)} Gbit/s, agent ${(tcp.agent.median / 1e9).toFixed(2)} Gbit/s; iperf3 CPU per KiB added by the agent, median ${tcp.addedNs.median.toFixed(0)} ns (min ${tcp.addedNs.min.toFixed(0)}, max ${tcp.addedNs.max.toFixed(0)}); goal <= ${GOALS.tcpAddedNs}`,
    `UDP 64 B flood, ${PAIRS} ABBA pairs of ${SECONDS} s: datagrams received per second with agent / without, median ${spread(udp.ratio)}; goal >= ${GOALS.udp}`,
    `  medians: no agent ${(udp.none.median / 1000).toFixed(1)} k/s, agent ${(udp.agent.median / 1000).toFixed(1)} k/s; iperf3 CPU per datagram added, median ${udp.addedNs.median.toFixed(0)} ns`,
    `agent + loader CPU under the TCP stream: ${tcp.cpuPerSecond.median.toFixed(0)} ms per second; under the UDP flood: ${udp.cpuPerSecond.median.toFixed(0)} ms per second (medians)`,
    `RSS (median): loader ${tcp.loaderRss.median.toFixed(1)} MiB (goal <= ${GOALS.loaderRssMiB}), agent ${tcp.agentRss.median.toFixed(1)} MiB; at ${scale.sockets} sockets the loader holds ${scale.loaderRss.toFixed(1)} MiB`,
    `start to ready (exec to the ready line, 5 starts): median ${wall.median.toFixed(0)} ms (max ${wall.max.toFixed(0)}); goal < ${GOALS.readyMs}`,
    `CPU per collection at ${scale.sockets} sockets: loader ${spread(scale.loaderMs, 1)} ms per 1 s interval (iterator wall ${scale.iterMs.median.toFixed(1)} ms); raw ss -tuanpi ${spread(scale.ssMs, 1)} ms`,
    `load average before ${loadBefore}, after ${loadAfter}`,
  ];
  for (const line of summary) console.log(line);
  return { name, summary };
}
