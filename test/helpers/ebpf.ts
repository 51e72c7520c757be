// Shared pieces of the eBPF integration tests: the agent with the ebpf source, ready, and the
// per-PID values it reports.
import { fileURLToPath } from 'node:url';
import { METRICS } from '../../src/semconv.js';
import { eventually, startAgentServing, type AgentUnderTest } from './agent.js';
import { peer, start, type Child } from './processes.js';
import { valueOf, type Sample } from './prometheus-text.js';

export const EBPF_NEEDS = ['root', 'netproc-loader', 'cgroup2', 'ss'] as const;

/** The agent with ebpf first; resolves once the engine has attached (the first collection is done). */
export function startEbpfAgent(extra: readonly string[] = [], env: NodeJS.ProcessEnv = {}): Promise<AgentUnderTest> {
  return startAgentServing('ebpf', 'bytes', ['--sources', 'ebpf,ss,procfs', '--interval', '1s', ...extra], { env, timeoutMs: 30_000 });
}

export interface Traffic {
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
}

export function trafficOf(samples: readonly Sample[], pid: number, transport: 'tcp' | 'udp'): Traffic {
  const match = { process_pid: pid, network_transport: transport };
  return {
    rxBytes: valueOf(samples, 'process_network_receive_bytes_total', match) ?? 0,
    txBytes: valueOf(samples, 'process_network_transmit_bytes_total', match) ?? 0,
    rxPackets: valueOf(samples, 'process_network_rx_packets', match) ?? 0,
    txPackets: valueOf(samples, 'process_network_tx_packets', match) ?? 0,
  };
}

/** Scrapes until `done` holds for two scrapes a collection interval apart with identical values. */
export async function settled(
  agent: AgentUnderTest,
  read: (s: Sample[]) => unknown,
  done: (s: Sample[]) => boolean,
  timeoutMs = 20_000,
): Promise<Sample[]> {
  let previous = '';
  return eventually(
    async () => {
      const s = await agent.scrape();
      const now = JSON.stringify(read(s));
      const ok = done(s) && now === previous;
      previous = now;
      if (!ok) await new Promise((r) => setTimeout(r, 1100));
      return ok ? s : undefined;
    },
    timeoutMs,
    'the counters to settle',
  );
}

/**
 * A UDP sender that sends `count` datagrams of `size` bytes to a sink on `host`, once the sink has
 * read every one of them (so exact counts are the right expectation: none was dropped).
 */
export async function udpExchange(host: string, count: number, size: number): Promise<{ sender: Child; sink: Child }> {
  const sink = peer('udp-sink', host);
  const { port } = await sink.next('port');
  const sender = peer('udp-send', host, port, count, size);
  await sender.next('sent');
  const delivered = await eventually(async () => {
    sink.proc.kill('SIGUSR2');
    const counts = await sink.next('datagrams');
    return counts.datagrams === count ? counts : undefined;
  }, 10_000, `the receiver to read all ${count} datagrams`);
  if (delivered.bytes !== count * size) throw new Error(`the receiver read ${delivered.bytes} bytes in ${count} datagrams, not ${count * size}`);
  return { sender, sink };
}

export const within = (actual: number, expected: number, tolerance: number): boolean =>
  Math.abs(actual - expected) <= expected * tolerance;

/** A TCP role of tcp-roles.py, in the namespace `netns` when given (`ip netns exec` keeps the PID). */
export function tcpRole(netns: string | undefined, ...args: Array<string | number>): Child {
  const command = ['python3', fileURLToPath(new URL('./tcp-roles.py', import.meta.url)), ...args.map(String)];
  return netns ? start('ip', ['netns', 'exec', netns, ...command]) : start(command[0]!, command.slice(1));
}

/** Segment counters of one socket, as tcp-roles.py reports them. */
export interface Segments {
  segsIn: number;
  segsOut: number;
  retrans: number;
}

/** What a server or client role of tcp-roles.py did, and what the kernel counted for its socket. */
export interface RoleResult {
  pid: number;
  rxBytes: number;
  txBytes: number;
  /** `ss -tin` before the shutdown. */
  ss?: Segments;
  /** TCP_INFO once the socket reached TCP_CLOSE: final. */
  kernel?: Segments;
}

/** The TCP retransmitted segments the agent reports for `pid`. */
export function retransOf(samples: readonly Sample[], pid: number): number {
  return valueOf(samples, METRICS.retransmittedSegments.prometheusName, { process_pid: pid, network_transport: 'tcp' }) ?? 0;
}

/** Traffic and retransmissions the agent reports for each pid, in one scrape. */
export function reportsOf(samples: readonly Sample[], pids: readonly number[]): Array<Traffic & { retrans: number }> {
  return pids.map((pid) => ({ ...trafficOf(samples, pid, 'tcp'), retrans: retransOf(samples, pid) }));
}
