// Shared pieces of the eBPF integration tests: the agent with the ebpf source, ready, and the
// per-PID values it reports.
import { eventually, startAgentServing, type AgentUnderTest } from './agent.js';
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

export const within = (actual: number, expected: number, tolerance: number): boolean =>
  Math.abs(actual - expected) <= expected * tolerance;
