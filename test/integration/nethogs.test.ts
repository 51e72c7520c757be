// The nethogs source on real traffic across a veth pair into a network namespace the test makes,
// nethogs capturing on the host end only (nethogs.devices).
//
// The traffic is shaped the way nethogs can count it, since its losses are the benchmark's to
// measure (docs/benchmarks.md), not this test's:
// - Paced at 1.5 MB/s. nethogs reads packets through libpcap's default 2 MiB ring, which holds
//   whole packets: frozen with SIGSTOP during a paced 8 MB transfer it still counted 1.4-1.6 MB,
//   so it survives a stall of 2 MiB / rate, 0.3 s at 6 MB/s. Each refresh costs it ~40 ms of CPU
//   here (it re-reads /proc/net/tcp, 10,000 sockets when other benches run), which with both CPUs
//   busy stretched to 0.5-0.7 s: at 6 MB/s, 16 of 66 paced 8 MB transfers lost 1-26%. At
//   1.5 MB/s a stall of 1.3 s is survived.
// - Bulk data starts 3 s after the connection is made: on its first packet nethogs stalls to find
//   the owner (it reads every /proc/PID/fd link and, for each new socket, /proc/PID/cmdline:
//   ~0.2 s of CPU with 10,000 sockets on the host).
//
// What nethogs counts: every packet pcap sees on the device, at its full length, Ethernet header
// included (pcap's `len`). A veth passes TCP's GSO packets on whole, so pcap sees one packet per
// GSO packet (up to 64 KiB; 35 KB on average here), not per MSS segment, and `ss -ti` segs_out
// would overstate the headers twentyfold. The packets are counted by the device itself instead
// (/sys/class/net/DEV/statistics/{tx,rx}_packets, read before and after the transfer; nothing
// else uses the device), and the expected count is
//     payload + packets x 66    (14 Ethernet + 20 IPv4 + 32 TCP with the timestamps option)
// nethogs's figure must be within 10% of it: so shaped, nethogs counts what the device counted
// (measured 1.000x of the device's byte counter), and 10% is the room left for it falling behind
// longer still while other test files load both CPUs.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, startAgentServing, type AgentUnderTest } from '../helpers/agent.js';
import { settled, trafficOf, within, type Traffic } from '../helpers/ebpf.js';
import { createNamespace, type TestNamespace } from '../helpers/netns.js';
import { CLI, killAll, peer, type Child } from '../helpers/processes.js';
import { valueOf, type Sample } from '../helpers/prometheus-text.js';
import { missing } from '../helpers/requirements.js';

const PAYLOAD = 4_500_000;
const RATE = 1_500_000;
const HEADERS_PER_PACKET = 14 + 20 + 32;
const TOLERANCE = 0.1;
/** Time nethogs has to map a new connection to its process before bulk data flows. */
const START_DELAY_MS = 3000;
/** The least-privilege set: capture (NET_RAW, NET_ADMIN) and PID mapping (DAC_READ_SEARCH, SYS_PTRACE). */
const CAPS = '-all,+net_raw,+net_admin,+dac_read_search,+sys_ptrace';
const CAP_BITS = (1n << 13n) | (1n << 12n) | (1n << 2n) | (1n << 19n);

interface DeviceCounters {
  txBytes: number;
  txPackets: number;
  rxBytes: number;
  rxPackets: number;
}

function counters(device: string): DeviceCounters {
  const read = (name: string): number => Number(readFileSync(`/sys/class/net/${device}/statistics/${name}`, 'utf8'));
  return { txBytes: read('tx_bytes'), txPackets: read('tx_packets'), rxBytes: read('rx_bytes'), rxPackets: read('rx_packets') };
}

function diff(after: DeviceCounters, before: DeviceCounters): DeviceCounters {
  return {
    txBytes: after.txBytes - before.txBytes,
    txPackets: after.txPackets - before.txPackets,
    rxBytes: after.rxBytes - before.rxBytes,
    rxPackets: after.rxPackets - before.rxPackets,
  };
}

function startNethogsAgent(device: string, wrapper: readonly string[] = []): Promise<AgentUnderTest> {
  return startAgentServing('nethogs', 'bytes', ['--sources', 'nethogs,procfs', '--interval', '1s'], { env: { NETPROC_NETHOGS_DEVICES: device }, wrapper });
}

/** A paced transfer of PAYLOAD from `sender` to `sink`; resolves once the sink has it all. */
async function pacedTransfer(device: string, sink: Child, startSender: (port: number) => Child): Promise<{ sender: Child; wire: DeviceCounters }> {
  const { port } = await sink.next('port');
  const before = counters(device);
  const sender = startSender(port);
  await sender.next('sent');
  for (;;) {
    sink.proc.kill('SIGUSR2');
    if ((await sink.next('received')).received === PAYLOAD) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 300)); // the last ACKs
  return { sender, wire: diff(counters(device), before) };
}

/**
 * The agent's traffic of `pid` once its figure has reached 90% of `expected` and held still for
 * a collection interval; on timeout, the figure as it stood.
 */
async function settledTraffic(agent: AgentUnderTest, pid: number, pick: (t: Traffic) => number, expected: number): Promise<Traffic> {
  const read = (s: Sample[]): Traffic => trafficOf(s, pid, 'tcp');
  let last: Sample[] = [];
  try {
    return read(await settled(agent, (s) => read((last = s)), (s) => pick(read(s)) >= expected * (1 - TOLERANCE), 30_000));
  } catch (err) {
    const kernel = trafficOf(last, 0, 'tcp');
    throw new Error(`${(err as Error).message}: pid ${pid} stood at ${JSON.stringify(read(last))}, [kernel] at ${JSON.stringify(kernel)}; expected ${expected}`);
  }
}

/** The nethogs process the agent started (setpriv execs into it, so it is a direct child). */
function nethogsChild(agentPid: number): number | undefined {
  const result = spawnSync('pgrep', ['-P', String(agentPid), '-x', 'nethogs'], { encoding: 'utf8' });
  const out = result.stdout.trim();
  return out === '' ? undefined : Number(out.split('\n')[0]);
}

describe.skipIf(missing('nethogs', 'root', 'nethogs', 'ip', 'setpriv'))('nethogs source', () => {
  let agent: AgentUnderTest | undefined;
  const namespaces: TestNamespace[] = [];
  afterAll(async () => {
    await agent?.stop();
    await killAll();
    for (const ns of namespaces) ns.remove();
  });

  let ns: TestNamespace;
  let device: string;
  /** The first test's sender and the total the agent credited it with. */
  let firstSender: { pid: number; tx: number };

  it('credits a paced sender in the root namespace with its transmitted wire bytes, within 10%', async () => {
    ns = createNamespace(41);
    namespaces.push(ns);
    device = ns.hostIf;
    agent = await startNethogsAgent(device);
    const sink = ns.peer('sink', ns.nsAddress);
    const { sender, wire } = await pacedTransfer(device, sink, (port) => peer('send-paced', ns.nsAddress, port, PAYLOAD, RATE, START_DELAY_MS));
    const expected = PAYLOAD + wire.txPackets * HEADERS_PER_PACKET;
    const traffic = await settledTraffic(agent, sender.pid, (t) => t.txBytes, expected);
    firstSender = { pid: sender.pid, tx: traffic.txBytes };
    const detail = `nethogs ${traffic.txBytes} B; payload ${PAYLOAD} + ${wire.txPackets} packets x ${HEADERS_PER_PACKET} = ${expected}; device tx_bytes ${wire.txBytes}`;
    expect(within(traffic.txBytes, expected, TOLERANCE), detail).toBe(true);
    // What it received is the receiver's ACKs: headers only, one per packet the device received.
    expect(traffic.rxBytes, `rx ${traffic.rxBytes}, device rx_bytes ${wire.rxBytes}`).toBeLessThanOrEqual(wire.rxBytes * 1.001);
  });

  it('credits a receiver in the root namespace, of a paced sender inside the namespace, within 10%', async () => {
    const a = agent!;
    const sink = peer('sink', ns.hostAddress);
    const { wire } = await pacedTransfer(device, sink, (port) => ns.peer('send-paced', ns.hostAddress, port, PAYLOAD, RATE, START_DELAY_MS));
    const expected = PAYLOAD + wire.rxPackets * HEADERS_PER_PACKET;
    const traffic = await settledTraffic(a, sink.pid, (t) => t.rxBytes, expected);
    const detail = `nethogs ${traffic.rxBytes} B; payload ${PAYLOAD} + ${wire.rxPackets} packets x ${HEADERS_PER_PACKET} = ${expected}; device rx_bytes ${wire.rxBytes}`;
    expect(within(traffic.rxBytes, expected, TOLERANCE), detail).toBe(true);
  });

  it('restarts a killed nethogs: the source goes down, then up, and totals never decrease', async () => {
    const a = agent!;
    const nethogs = nethogsChild(a.child.pid);
    expect(nethogs, 'the agent runs nethogs as its child').toBeDefined();
    const { pid, tx: before } = firstSender;
    process.kill(nethogs!, 'SIGKILL');
    let sawDown = false;
    let last = before;
    /** Every scrape whose total of the first sender was below the one before: [before, after]. */
    const drops: Array<[number, number]> = [];
    await eventually(
      async () => {
        const s = await a.scrape();
        const tx = trafficOf(s, pid, 'tcp').txBytes;
        if (tx < last) drops.push([last, tx]);
        last = tx;
        const up = valueOf(s, 'netproc_source_up', { source: 'nethogs' });
        if (up === 0) sawDown = true;
        return sawDown && up === 1 ? true : undefined;
      },
      30_000,
      'nethogs to be reported down, then up again',
    );
    expect(drops, `the first sender's tx total across scrapes, from ${before}`).toEqual([]);
    const restarted = nethogsChild(a.child.pid);
    expect(restarted).toBeDefined();
    expect(restarted).not.toBe(nethogs);
    expect(a.child.stderr()).toMatch(/"source":"nethogs".*"msg":"source failed: nethogs exited with signal SIGKILL/);
  });

  it('leaves no nethogs behind when the agent is SIGKILLed', async () => {
    const a = agent!;
    const nethogs = await eventually(async () => nethogsChild(a.child.pid), 30_000, 'a nethogs child');
    expect(existsSync(`/proc/${nethogs}`)).toBe(true);
    await a.child.kill('SIGKILL');
    agent = undefined;
    await eventually(async () => (existsSync(`/proc/${nethogs}`) ? undefined : true), 10_000, `nethogs ${nethogs} to exit`);
  });

  it('works as uid 65534 holding only CAP_NET_RAW, CAP_NET_ADMIN, CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE (ambient)', async () => {
    const ns2 = createNamespace(42);
    namespaces.push(ns2);
    const device2 = ns2.hostIf;
    agent = await startNethogsAgent(device2, [
      'setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups',
      '--inh-caps', CAPS, '--ambient-caps', CAPS, '--bounding-set', CAPS, '--',
    ]);
    const a = agent;
    // Ambient capabilities survive exec of binaries without file capabilities: setpriv (the
    // parent-death wrapper), then nethogs, hold exactly the four, as uid 65534.
    for (const pid of [a.child.pid, nethogsChild(a.child.pid)!]) {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      expect(/^Uid:\s+65534\s/m.test(status), `uid of ${pid}`).toBe(true);
      expect(BigInt(`0x${/^CapEff:\s+([0-9a-f]+)$/m.exec(status)![1]}`), `CapEff of ${pid}`).toBe(CAP_BITS);
    }
    const sink = ns2.peer('sink', ns2.nsAddress);
    const { sender, wire } = await pacedTransfer(device2, sink, (port) => peer('send-paced', ns2.nsAddress, port, PAYLOAD, RATE, START_DELAY_MS));
    const expected = PAYLOAD + wire.txPackets * HEADERS_PER_PACKET;
    const traffic = await settledTraffic(a, sender.pid, (t) => t.txBytes, expected);
    expect(within(traffic.txBytes, expected, TOLERANCE), `least privilege: nethogs ${traffic.txBytes} B, expected ${expected}`).toBe(true);
  });

  it('doctor, as uid 65534 without capabilities, names CAP_NET_RAW and CAP_NET_ADMIN with the fix', () => {
    const result = spawnSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--', process.execPath, CLI, 'doctor', '--sources', 'nethogs'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(result.status).toBe(1);
    const section = result.stdout.split('\n\n').find((s) => s.startsWith('nethogs:'))!;
    expect(section).toMatch(/^nethogs: NOT usable \(measures bytes\)$/m);
    expect(section).toMatch(/problem: nethogs will lack CAP_NET_RAW and CAP_NET_ADMIN/);
    expect(section).toMatch(/fix: grant CAP_NET_RAW, CAP_NET_ADMIN: Kubernetes: .*capabilities\.add: \[NET_RAW, NET_ADMIN\] and hostNetwork: true/);
    expect(section).toMatch(/setpriv --ambient-caps \+net_raw,\+net_admin/);
    expect(section).toMatch(/warning: nethogs will lack CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH/);
  });
});
