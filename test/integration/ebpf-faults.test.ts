// Faults and privileges of the ebpf source: a killed loader is restarted while ss serves the
// families, totals never decrease, and traffic after the restart is counted; a SIGKILLed agent
// leaves no loader behind; the agent runs as uid 65534 holding only the engine's capabilities.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, startAgent, type AgentUnderTest } from '../helpers/agent.js';
import { EBPF_NEEDS, settled, startEbpfAgent, trafficOf } from '../helpers/ebpf.js';
import { killAll, peer } from '../helpers/processes.js';
import { valueOf } from '../helpers/prometheus-text.js';
import { missing } from '../helpers/requirements.js';

const PAYLOAD = 8 * 1024 * 1024;

/** The loader the agent started, its direct child. */
function loaderChild(agentPid: number): number | undefined {
  try {
    const out = execFileSync('pgrep', ['-P', String(agentPid), '-x', 'netproc-loader'], { encoding: 'utf8' }).trim();
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
  const samples = await settled(agent, (s) => trafficOf(s, sender.pid, 'tcp').txBytes, (s) => trafficOf(s, sender.pid, 'tcp').txBytes >= bytes);
  return { pid: sender.pid, tx: trafficOf(samples, sender.pid, 'tcp').txBytes };
}

describe.skipIf(missing('ebpf-faults', ...EBPF_NEEDS, 'setpriv'))('ebpf source faults and least privilege', () => {
  let agent: AgentUnderTest | undefined;
  afterAll(async () => {
    await agent?.stop();
    await killAll();
  });

  it('restarts a killed loader, with ss serving meanwhile, totals never decreasing, and counts traffic after', async () => {
    agent = await startEbpfAgent();
    const a = agent;
    const before = await sendAndMeasure(a, PAYLOAD);
    expect(before.tx).toBe(PAYLOAD);

    const loader = loaderChild(a.child.pid);
    expect(loader, 'the agent runs the loader as its child').toBeDefined();
    process.kill(loader!, 'SIGKILL');

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
    const restarted = loaderChild(a.child.pid);
    expect(restarted).toBeDefined();
    expect(restarted).not.toBe(loader);
    expect(a.child.stderr()).toMatch(/"source":"ebpf".*"msg":"source failed: \S*netproc-loader exited with signal SIGKILL/);

    const after = await sendAndMeasure(a, PAYLOAD);
    expect(after.tx, 'after restart').toBe(PAYLOAD);
    const final = await a.scrape();
    expect(trafficOf(final, before.pid, 'tcp').txBytes).toBeGreaterThanOrEqual(last);
  });

  it('leaves no loader behind when the agent is SIGKILLed', async () => {
    const loader = loaderChild(agent!.child.pid)!;
    expect(existsSync(`/proc/${loader}`)).toBe(true);
    await agent!.child.kill('SIGKILL');
    agent = undefined;
    // A killed orphan stays a zombie until init reaps it: gone means no /proc entry or state Z.
    const gone = (): boolean => !existsSync(`/proc/${loader}`) || /^State:\s+Z/m.test(readFileSync(`/proc/${loader}/status`, 'utf8'));
    await eventually(async () => (gone() ? true : undefined), 10_000, `loader ${loader} to exit`);
  });

  it('works as uid 65534 holding only CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN and the two /proc ones, and counts exactly', async () => {
    const caps = '+bpf,+perfmon,+net_admin,+dac_read_search,+sys_ptrace';
    agent = await startAgent(
      ['--sources', 'ebpf,ss,procfs', '--interval', '1s'],
      {},
      ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups', '--inh-caps', caps, '--ambient-caps', caps, '--'],
    );
    const a = agent;
    await eventually(async () => ((await fetch(`http://127.0.0.1:${a.port}/readyz`)).status === 200 ? true : undefined), 30_000, 'ready');
    const status = readFileSync(`/proc/${a.child.pid}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)/m.exec(status)![1]).toBe('65534');
    // The agent's own effective set: exactly the five (bits 2, 12, 19, 38, 39).
    const capEff = /^CapEff:\s+([0-9a-f]+)$/m.exec(status)![1]!;
    expect(BigInt(`0x${capEff}`)).toBe((1n << 2n) | (1n << 12n) | (1n << 19n) | (1n << 38n) | (1n << 39n));
    const samples = await a.scrape();
    expect(valueOf(samples, 'netproc_source_selected', { source: 'ebpf', family: 'bytes' }), a.child.stderr().slice(-1000)).toBe(1);
    const { tx } = await sendAndMeasure(a, PAYLOAD);
    expect(tx, 'least privilege tx').toBe(PAYLOAD);
  });
});
