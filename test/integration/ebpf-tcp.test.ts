// The ebpf source on TCP: a 24 MiB transfer one way and a 3 MiB reply the other way, on loopback
// and into a network namespace (a pod's view). Bytes must be exactly the payload for both processes
// in both directions (the programs count what each process's sendmsg/recvmsg moved, as the parser
// test does); TCP packets within 2% of the kernel's own segs_in/segs_out for those
// sockets, read with `ss -ti` just before the connection closes (the close adds the FIN exchange).
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSs } from '../../src/sources/ss/parse.js';
import { SS_ARGS } from '../../src/sources/ss/source.js';
import type { AgentUnderTest } from '../helpers/agent.js';
import { EBPF_NEEDS, settled, startEbpfAgent, trafficOf } from '../helpers/ebpf.js';
import { createNamespace, type TestNamespace } from '../helpers/netns.js';
import { killAll, peer, type Child } from '../helpers/processes.js';
import { missing } from '../helpers/requirements.js';

const PAYLOAD = 24 * 1024 * 1024;
const REPLY = 3 * 1024 * 1024;
const PACKETS_TOLERANCE = 0.02;
const FIN_SEGMENTS = 2;

/** The kernel's segment counters of each process's socket on `port`, as `ss -ti` shows them. */
function kernelSegments(port: number): Map<number, { segsIn: number; segsOut: number }> {
  // The ss source's own arguments: with -t alone ss drops the Netid column the parser reads.
  const text = execFileSync('ss', [...SS_ARGS, `( sport = :${port} or dport = :${port} )`], {
    encoding: 'utf8',
  });
  const segments = new Map<number, { segsIn: number; segsOut: number }>();
  for (const socket of parseSs(text).sockets) {
    if (socket.state !== 'established') continue;
    for (const pid of socket.pids) segments.set(pid, { segsIn: socket.rxPackets ?? 0, segsOut: socket.txPackets ?? 0 });
  }
  return segments;
}

async function transfer(
  agent: AgentUnderTest,
  sink: Child,
  connectTo: string,
  segmentsVisible: boolean,
): Promise<{ sender: Child; segments: Map<number, { segsIn: number; segsOut: number }> }> {
  const { port } = await sink.next('port');
  const sender = peer('send', connectTo, port, PAYLOAD);
  await sender.next('sent');
  // Both directions fully delivered before the kernel's counters are read.
  for (;;) {
    sender.proc.kill('SIGUSR2');
    const { received } = await sender.next('received');
    sink.proc.kill('SIGUSR2');
    const sunk = await sink.next('received');
    if (received === REPLY && sunk.received === PAYLOAD) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const segments = segmentsVisible ? kernelSegments(port) : new Map();
  sender.proc.kill('SIGUSR1');
  await sender.next('closed');
  void agent;
  return { sender, segments };
}

describe.skipIf(missing('ebpf-tcp', ...EBPF_NEEDS, 'ip'))('ebpf source, TCP', () => {
  let agent: AgentUnderTest;
  let ns: TestNamespace | undefined;
  afterAll(async () => {
    await agent?.stop();
    await killAll();
    ns?.remove();
  });

  it('counts a loopback transfer exactly per PID in both directions, and segments as the kernel does', async () => {
    agent = await startEbpfAgent();
    const sink = peer('sink', '127.0.0.1', REPLY);
    const { sender, segments } = await transfer(agent, sink, '127.0.0.1', true);
    const read = (s: Parameters<typeof trafficOf>[0]) => [trafficOf(s, sender.pid, 'tcp'), trafficOf(s, sink.pid, 'tcp')];
    const samples = await settled(agent, read, (s) => trafficOf(s, sink.pid, 'tcp').rxBytes >= PAYLOAD);
    const [client, server] = read(samples) as [ReturnType<typeof trafficOf>, ReturnType<typeof trafficOf>];

    expect(client.txBytes, 'client tx').toBe(PAYLOAD);
    expect(client.rxBytes, 'client rx').toBe(REPLY);
    expect(server.rxBytes, 'server rx').toBe(PAYLOAD);
    expect(server.txBytes, 'server tx').toBe(REPLY);

    const kc = segments.get(sender.pid)!;
    const ks = segments.get(sink.pid)!;
    expect(kc, 'ss shows the client socket').toBeDefined();
    expect(ks, 'ss shows the server socket').toBeDefined();
    // The kernel was read before the close; the FIN exchange after it adds at most two segments in
    // each direction (FIN, and the ACK of the peer's FIN), which the agent counts at close.
    for (const [what, actual, kernel] of [
      ['client tx segments', client.txPackets, kc.segsOut],
      ['client rx segments', client.rxPackets, kc.segsIn],
      ['server tx segments', server.txPackets, ks.segsOut],
      ['server rx segments', server.rxPackets, ks.segsIn],
    ] as const) {
      const message = `${what}: agent ${actual}, kernel before close ${kernel}`;
      expect(actual, message).toBeGreaterThanOrEqual(kernel * (1 - PACKETS_TOLERANCE));
      expect(actual, message).toBeLessThanOrEqual((kernel + FIN_SEGMENTS) * (1 + PACKETS_TOLERANCE));
    }
  });

  it('attributes the bytes of a receiver inside another network namespace to its PID', async () => {
    ns = createNamespace(31);
    const sink = ns.peer('sink', ns.nsAddress, REPLY);
    const { sender } = await transfer(agent, sink, ns.nsAddress, false);
    const read = (s: Parameters<typeof trafficOf>[0]) => [trafficOf(s, sender.pid, 'tcp'), trafficOf(s, sink.pid, 'tcp')];
    const samples = await settled(agent, read, (s) => trafficOf(s, sink.pid, 'tcp').rxBytes >= PAYLOAD);
    const [client, server] = read(samples) as [ReturnType<typeof trafficOf>, ReturnType<typeof trafficOf>];
    expect(server.rxBytes, 'namespaced server rx').toBe(PAYLOAD);
    expect(server.txBytes, 'namespaced server tx').toBe(REPLY);
    expect(client.txBytes, 'client tx').toBe(PAYLOAD);
  });
});
