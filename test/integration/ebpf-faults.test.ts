// Faults and privileges of the ebpf source: a killed bpftrace is restarted while ss serves the
// families, totals never decrease, and traffic after the restart is counted; a SIGKILLed agent
// leaves no bpftrace behind; the agent runs as uid 0 holding only four capabilities.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, startAgent, type AgentUnderTest } from '../helpers/agent.js';
import { EBPF_NEEDS, settled, startEbpfAgent, trafficOf, within } from '../helpers/ebpf.js';
import { killAll, peer } from '../helpers/processes.js';
import { valueOf } from '../helpers/prometheus-text.js';
import { missing } from '../helpers/requirements.js';

const PAYLOAD = 8 * 1024 * 1024;

/** The bpftrace process the agent started (setpriv execs into it, so it is a direct child). */
function bpftraceChild(agentPid: number): number | undefined {
  try {
    const out = execFileSync('pgrep', ['-P', String(agentPid), '-x', 'bpftrace'], { encoding: 'utf8' }).trim();
    return out === '' ? undefined : Number(out.split('\n')[0]);
  } catch {
    return undefined;
  }
}

async function sendAndMeasure(agent: AgentUnderTest, bytes: number): Promise<{ pid: number; tx: number }> {
  const sink = peer('sink', '127.0.0.1');
  const { port } = await sink.next('port');
  const sender = peer('send', '127.0.0.1', port, bytes);
  await sender.next('sent');
  const samples = await settled(agent, (s) => trafficOf(s, sender.pid, 'tcp').txBytes, (s) => trafficOf(s, sender.pid, 'tcp').txBytes >= bytes * 0.995);
  return { pid: sender.pid, tx: trafficOf(samples, sender.pid, 'tcp').txBytes };
}

describe.skipIf(missing('ebpf-faults', ...EBPF_NEEDS, 'setpriv'))('ebpf source faults and least privilege', () => {
  let agent: AgentUnderTest | undefined;
  afterAll(async () => {
    await agent?.stop();
    await killAll();
  });

  it('restarts a killed bpftrace, with ss serving meanwhile, totals never decreasing, and counts traffic after', async () => {
    agent = await startEbpfAgent();
    const a = agent;
    const before = await sendAndMeasure(a, PAYLOAD);
    expect(within(before.tx, PAYLOAD, 0.005)).toBe(true);

    const bpftrace = bpftraceChild(a.child.pid);
    expect(bpftrace, 'the agent runs bpftrace as its child').toBeDefined();
    process.kill(bpftrace!, 'SIGKILL');

    // Scrape throughout: the endpoint keeps answering and the sender's total never drops.
    let sawDown = false;
    let last = before.tx;
    await eventually(async () => {
      const s = await a.scrape();
      const tx = trafficOf(s, before.pid, 'tcp').txBytes;
      expect(tx).toBeGreaterThanOrEqual(last);
      last = tx;
      const up = valueOf(s, 'netproc_source_up', { source: 'ebpf' });
      if (up === 0) {
        sawDown = true;
        expect(valueOf(s, 'netproc_source_selected', { source: 'ss', family: 'bytes' })).toBe(1);
        expect(valueOf(s, 'netproc_source_errors_total', { source: 'ebpf', kind: 'collect' })).toBeGreaterThanOrEqual(1);
      }
      return sawDown && up === 1 && valueOf(s, 'netproc_source_selected', { source: 'ebpf', family: 'bytes' }) === 1 ? true : undefined;
    }, 60_000, 'ebpf to be reported down, then up again');
    const restarted = bpftraceChild(a.child.pid);
    expect(restarted).toBeDefined();
    expect(restarted).not.toBe(bpftrace);
    expect(a.child.stderr()).toMatch(/"source":"ebpf".*"msg":"source failed: bpftrace exited with signal SIGKILL/);

    const after = await sendAndMeasure(a, PAYLOAD);
    expect(within(after.tx, PAYLOAD, 0.005), `after restart: ${after.tx}`).toBe(true);
    const final = await a.scrape();
    expect(trafficOf(final, before.pid, 'tcp').txBytes).toBeGreaterThanOrEqual(last);
  });

  it('leaves no bpftrace behind when the agent is SIGKILLed', async () => {
    const bpftrace = bpftraceChild(agent!.child.pid)!;
    expect(existsSync(`/proc/${bpftrace}`)).toBe(true);
    await agent!.child.kill('SIGKILL');
    agent = undefined;
    await eventually(async () => (existsSync(`/proc/${bpftrace}`) ? undefined : true), 10_000, `bpftrace ${bpftrace} to exit`);
  });

  it('works as uid 0 with only CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE', async () => {
    const caps = '-all,+bpf,+perfmon,+dac_read_search,+sys_ptrace';
    agent = await startAgent(
      ['--sources', 'ebpf,ss,procfs', '--interval', '1s'],
      {},
      ['setpriv', '--inh-caps', caps, '--bounding-set', caps, '--'],
    );
    const a = agent;
    await eventually(async () => ((await fetch(`http://127.0.0.1:${a.port}/readyz`)).status === 200 ? true : undefined), 60_000, 'ready');
    // The agent's own effective set: exactly the four (bits 2, 19, 38, 39).
    const capEff = /^CapEff:\s+([0-9a-f]+)$/m.exec(readFileSync(`/proc/${a.child.pid}/status`, 'utf8'))![1]!;
    expect(BigInt(`0x${capEff}`)).toBe((1n << 2n) | (1n << 19n) | (1n << 38n) | (1n << 39n));
    expect(valueOf(await a.scrape(), 'netproc_source_selected', { source: 'ebpf', family: 'bytes' })).toBe(1);
    const { tx } = await sendAndMeasure(a, PAYLOAD);
    expect(within(tx, PAYLOAD, 0.005), `least privilege tx ${tx}`).toBe(true);
  });
});
