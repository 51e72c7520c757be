// A 24 MiB TCP transfer on loopback, kept open across several collection intervals:
// the ss source must report the sender's transmitted and the receiver's received bytes exactly.
// Then the launcher that runs ss: one for the agent's life, gone with a SIGKILLed agent.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, startAgent, type AgentUnderTest } from '../helpers/agent.js';
import { killAll, peer } from '../helpers/processes.js';
import { valueOf } from '../helpers/prometheus-text.js';
import { missing } from '../helpers/requirements.js';

const PAYLOAD = 24 * 1024 * 1024;
const REPLY = 3 * 1024 * 1024;
// tcp_info counts sequence numbers; the parser takes the SYN (and a FIN) out and caps bytes_acked by
// bytes_sent - bytes_retrans (src/sources/tcp-info.ts), so the payload comes out exact. The
// connection stays open: no FIN is in flight when the counters are read.

describe.skipIf(missing('ss-transfer', 'root', 'ss'))('ss source, TCP transfer of a known size', () => {
  let agent: AgentUnderTest;
  afterAll(async () => {
    await agent?.stop();
    await killAll();
  });

  it('reports sender tx and receiver rx bytes exactly, and TCP segments, per PID', async () => {
    agent = await startAgent(['--sources', 'ss', '--interval', '500ms']);
    const sink = peer('sink', '127.0.0.1', REPLY);
    const { port } = await sink.next('port');
    const sender = peer('send', '127.0.0.1', port, PAYLOAD);
    await sender.next('sent');

    const tx = (pid: number, s: Awaited<ReturnType<AgentUnderTest['scrape']>>) =>
      valueOf(s, 'process_network_transmit_bytes_total', { process_pid: pid, network_transport: 'tcp' }) ?? 0;
    const rx = (pid: number, s: Awaited<ReturnType<AgentUnderTest['scrape']>>) =>
      valueOf(s, 'process_network_receive_bytes_total', { process_pid: pid, network_transport: 'tcp' }) ?? 0;

    // Settled: both directions complete and unchanged over a full interval.
    let previous = '';
    const samples = await eventually(async () => {
      const s = await agent.scrape();
      const now = [tx(sender.pid, s), rx(sink.pid, s), tx(sink.pid, s), rx(sender.pid, s)].join();
      const settled = now === previous && rx(sink.pid, s) >= PAYLOAD && rx(sender.pid, s) >= REPLY;
      previous = now;
      if (!settled) await new Promise((r) => setTimeout(r, 500));
      return settled ? s : undefined;
    }, 20_000, 'the transfer to show up and settle');

    expect(tx(sender.pid, samples), 'sender tx').toBe(PAYLOAD);
    expect(rx(sink.pid, samples), 'sink rx').toBe(PAYLOAD);
    expect(tx(sink.pid, samples), 'sink tx').toBe(REPLY);
    expect(rx(sender.pid, samples), 'sender rx').toBe(REPLY);

    // At a 64 KiB loopback MSS, 24 MiB needs at least 384 data segments; the receiver saw them.
    const rxPackets = valueOf(samples, 'process_network_rx_packets', { process_pid: sink.pid, network_transport: 'tcp' });
    expect(rxPackets).toBeGreaterThanOrEqual(PAYLOAD / 65536);

    // Held open across later intervals, the totals stay put.
    await new Promise((r) => setTimeout(r, 1500));
    const later = await agent.scrape();
    expect(tx(sender.pid, later)).toBe(tx(sender.pid, samples));
    const name = later.find((s) => s.labels.process_pid === String(sender.pid))?.labels.process_executable_name;
    expect(name).toMatch(/^node/);
  });

  it('runs ss through one launcher shell for the agent\'s life, which exits when the agent is SIGKILLed', async () => {
    const launchers = (): number[] => {
      try {
        const out = execFileSync('pgrep', ['-P', String(agent.child.pid), '-f', 'netproc-launcher'], { encoding: 'utf8' }).trim();
        return out === '' ? [] : out.split('\n').map(Number);
      } catch {
        return [];
      }
    };
    const first = await eventually(async () => (launchers().length === 1 ? launchers()[0] : undefined), 10_000, 'the launcher');
    // Several intervals later, the same shell.
    await new Promise((r) => setTimeout(r, 1500));
    expect(launchers()).toEqual([first]);
    await agent.child.kill('SIGKILL');
    const gone = (): boolean => !existsSync(`/proc/${first}`) || /^State:\s+Z/m.test(readFileSync(`/proc/${first}/status`, 'utf8'));
    await eventually(async () => (gone() ? true : undefined), 10_000, `launcher ${first} to exit`);
  });
});
