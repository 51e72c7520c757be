// The ebpf source on UDP and on short-lived TCP connections, which snapshot sources cannot see:
// both exact.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import type { AgentUnderTest } from '../helpers/agent.js';
import { EBPF_NEEDS, settled, startEbpfAgent, trafficOf, udpExchange } from '../helpers/ebpf.js';
import { killAll, peer } from '../helpers/processes.js';
import { missing } from '../helpers/requirements.js';

const DATAGRAMS = 4321;
const DATAGRAM_SIZE = 777;
const SHORT_CONNECTIONS = 333;
const SHORT_PAYLOAD = 8192;
/** Collection interval for the short-lived test: every connection opens and closes inside one. */
const LONG_INTERVAL_MS = 5000;

describe.skipIf(missing('ebpf-udp-short', ...EBPF_NEEDS))('ebpf source, UDP and short-lived connections', () => {
  let agent: AgentUnderTest | undefined;
  afterAll(async () => {
    await agent?.stop();
    await killAll();
  });

  /** DATAGRAMS datagrams over ::1 under the agent started with `extra`, counted exactly both ways. */
  async function udpExactly(extra: string[], variant: string): Promise<void> {
    // Room for the receiver's 8 MiB buffer, restored afterwards.
    const rmemMax = readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim();
    if (Number(rmemMax) < 8 * 1024 * 1024) writeFileSync('/proc/sys/net/core/rmem_max', String(8 * 1024 * 1024));
    onTestFinished(() => writeFileSync('/proc/sys/net/core/rmem_max', rmemMax));
    agent = await startEbpfAgent(extra);
    const loaderArgs = execFileSync('ps', ['-o', 'args=', '--ppid', String(agent.child.pid)], { encoding: 'utf8' });
    expect(loaderArgs).toContain(`--variant ${variant}`);
    // None dropped: the receiver read every datagram, so exact is the right expectation.
    const { sender, sink } = await udpExchange('::1', DATAGRAMS, DATAGRAM_SIZE);

    const read = (s: Parameters<typeof trafficOf>[0]) => [trafficOf(s, sender.pid, 'udp'), trafficOf(s, sink.pid, 'udp')];
    const samples = await settled(agent, read, (s) => trafficOf(s, sink.pid, 'udp').rxPackets >= DATAGRAMS);
    const [tx, rx] = read(samples);
    expect(tx).toEqual({ rxBytes: 0, txBytes: DATAGRAMS * DATAGRAM_SIZE, rxPackets: 0, txPackets: DATAGRAMS });
    expect(rx).toEqual({ rxBytes: DATAGRAMS * DATAGRAM_SIZE, txBytes: 0, rxPackets: DATAGRAMS, txPackets: 0 });
    await agent.stop();
    agent = undefined;
  }

  it('counts UDP bytes and datagrams exactly for sender and receiver (IPv6 loopback), variant counters (cgroup_skb)', async () => {
    await udpExactly([], 'counters');
  });

  it('counts them exactly with the variant counters-udp-tp too (per call at the sock_send_length tracepoints)', async () => {
    await udpExactly(['--ebpf-variant', 'counters-udp-tp'], 'counters-udp-tp');
  });

  it(`counts every byte of ${SHORT_CONNECTIONS} connections opened and closed within one interval, exactly`, async () => {
    agent = await startEbpfAgent(['--interval', `${LONG_INTERVAL_MS}ms`]);
    const sink = peer('sink', '127.0.0.1');
    const { port } = await sink.next('port');
    const began = Date.now();
    const client = peer('churn', '127.0.0.1', port, SHORT_CONNECTIONS, SHORT_PAYLOAD, 0);
    await client.next('done', 60_000);
    const tookMs = Date.now() - began;
    expect(tookMs, 'all connections fit in one collection interval').toBeLessThan(LONG_INTERVAL_MS);
    sink.proc.kill('SIGUSR2');
    expect((await sink.next('received')).received).toBe(SHORT_CONNECTIONS * SHORT_PAYLOAD);

    const total = SHORT_CONNECTIONS * SHORT_PAYLOAD;
    const read = (s: Parameters<typeof trafficOf>[0]) => [trafficOf(s, client.pid, 'tcp').txBytes, trafficOf(s, sink.pid, 'tcp').rxBytes];
    const samples = await settled(agent, read, (s) => trafficOf(s, sink.pid, 'tcp').rxBytes >= total, 30_000).catch(async () => agent!.scrape());
    // The engine charges a socket that closes between two reads at its last state change.
    expect(read(samples), 'client tx, server rx').toEqual([total, total]);
  });
});
