import { beforeEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregation/aggregator.js';
import type { ProcessSeries, Snapshot } from '../../src/aggregation/snapshot.js';
import { ProcessResolver } from '../../src/host/processes.js';
import type { Family } from '../../src/semconv.js';
import type { Increment, SocketRecord } from '../../src/sources/types.js';
import { FakeHost } from '../helpers/fake-host.js';

const ALL = new Set(['bytes', 'packets', 'connections'] as const);

function sock(id: string, pids: number[], rx = 0, tx = 0, state: SocketRecord['state'] = 'established'): SocketRecord {
  return { id, transport: 'tcp', state, pids, rxBytes: rx, txBytes: tx, rxPackets: 1, txPackets: 1 };
}

function byPid(snapshot: Snapshot, pid: number): ProcessSeries | undefined {
  return snapshot.processes.find((p) => p.process.pid === pid);
}

function tcpBytes(series: ProcessSeries | undefined): { rx: number; tx: number } | undefined {
  return series?.traffic.find((t) => t.transport === 'tcp')?.bytes;
}

describe('Aggregator', () => {
  let host: FakeHost;
  let agg: Aggregator;

  async function cycle(sockets: SocketRecord[], maxProcesses?: number): Promise<Snapshot> {
    if (maxProcesses !== undefined) (agg as unknown as { options: { maxProcesses: number } }).options.maxProcesses = maxProcesses;
    agg.beginCycle();
    await agg.ingest('ss', { sockets, errors: {} }, ALL);
    await agg.endCycle();
    return agg.snapshot();
  }

  beforeEach(async () => {
    host = new FakeHost();
    const resolver = await ProcessResolver.create(host, '/proc');
    agg = new Aggregator(resolver, { retainCycles: 2, maxProcesses: 0, startTimeMs: 5, now: host.now });
  });

  it('attributes a shared socket to its lowest live PID only, in bytes and in connections', async () => {
    host.startProcess(300, 'worker');
    host.startProcess(200, 'master');
    const snap = await cycle([sock('s', [200, 300], 1000, 10)]);
    expect(tcpBytes(byPid(snap, 200))).toEqual({ rx: 1000, tx: 10 });
    expect(byPid(snap, 300)).toBeUndefined();
    expect(byPid(snap, 200)!.connections).toEqual([{ transport: 'tcp', state: 'established', count: 1 }]);
  });

  it('keeps a process total when its sockets close, and never lets it go backwards', async () => {
    host.startProcess(10, 'client');
    await cycle([sock('a', [10], 100, 0), sock('b', [10], 50, 0)]);
    const afterClose = await cycle([sock('b', [10], 70, 0)]);
    expect(tcpBytes(byPid(afterClose, 10))!.rx).toBe(170);
    const afterAll = await cycle([]);
    expect(tcpBytes(byPid(afterAll, 10))!.rx).toBe(170);
  });

  it('counts unowned sockets under the [kernel] pseudo-process with PID 0', async () => {
    const snap = await cycle([sock('tw', [], 0, 0, 'time_wait'), sock('tw2', [], 0, 0, 'time_wait')]);
    const kernel = byPid(snap, 0)!;
    expect(kernel.process.name).toBe('[kernel]');
    expect(kernel.connections).toEqual([{ transport: 'tcp', state: 'time_wait', count: 2 }]);
  });

  it('drops an exited process after retainCycles cycles, and treats a reused PID as a new process', async () => {
    host.startProcess(42, 'old');
    await cycle([sock('a', [42], 500, 0)]);
    host.exit(42);
    expect(byPid(await cycle([]), 42)).toBeDefined(); // exit seen: cycle 1 of retention
    expect(byPid(await cycle([]), 42)).toBeDefined(); // still within retention
    expect(byPid(await cycle([]), 42)).toBeUndefined();
    host.startProcess(42, 'new', 9999);
    const snap = await cycle([sock('b', [42], 7, 0)]);
    expect(byPid(snap, 42)!.process.name).toBe('new');
    expect(tcpBytes(byPid(snap, 42))!.rx).toBe(7);
  });

  it('caps exported processes with --max-processes and keeps the [other] series monotonic as ranks change', async () => {
    for (const pid of [1, 2, 3]) host.startProcess(pid, `p${pid}`);
    const first = await cycle([sock('a', [1], 300), sock('b', [2], 200), sock('c', [3], 100)], 1);
    expect(first.processes.map((p) => p.process.pid).sort()).toEqual([-1, 0, 1]);
    expect(tcpBytes(byPid(first, -1))!.rx).toBe(300);
    // p3 overtakes p1: p3 leaves [other], p1 joins it; [other] must not shrink.
    const second = await cycle([sock('a', [1], 300), sock('b', [2], 200), sock('c', [3], 1000)], 1);
    expect(byPid(second, 3)).toBeDefined();
    expect(tcpBytes(byPid(second, -1))!.rx).toBeGreaterThanOrEqual(300);
    host.exit(2);
    let other = tcpBytes(byPid(second, -1))!.rx;
    for (let i = 0; i < 4; i++) {
      const next = tcpBytes(byPid(await cycle([sock('a', [1], 300), sock('c', [3], 1000)], 1), -1))!.rx;
      expect(next).toBeGreaterThanOrEqual(other);
      other = next;
    }
  });

  it('gives a new socket listed without an owner one cycle to find it (opened between the fd scan and the listing), then [kernel]', async () => {
    host.startProcess(10, 'client');
    // Cycle 1: ss listed the fresh socket before it knew the owner.
    let snap = await cycle([sock('new', [], 5000, 100)]);
    expect(tcpBytes(byPid(snap, 0))).toBeUndefined();
    // Cycle 2: the owner is known; it gets everything the socket carried.
    snap = await cycle([sock('new', [10], 7000, 100)]);
    expect(tcpBytes(byPid(snap, 10))).toEqual({ rx: 7000, tx: 100 });
    expect(tcpBytes(byPid(snap, 0))).toBeUndefined();
    // A socket that stays ownerless goes to [kernel] after its one cycle of grace.
    await cycle([sock('new', [10], 7000, 100), sock('orphan', [], 300, 0)]);
    snap = await cycle([sock('new', [10], 7000, 100), sock('orphan', [], 400, 0)]);
    expect(tcpBytes(byPid(snap, 0))!.rx).toBe(400);
  });

  it('credits only the families the source serves', async () => {
    host.startProcess(10, 'x');
    agg.beginCycle();
    await agg.ingest('ss', { sockets: [sock('a', [10], 100, 100)], errors: {} }, new Set(['connections'] as const));
    await agg.endCycle();
    const series = byPid(agg.snapshot(), 10)!;
    expect(series.traffic).toEqual([]);
    expect(series.connections).toHaveLength(1);
  });

  /** One cycle of increments from an event source (the ebpf source). */
  async function incrementCycle(increments: Increment[], families: ReadonlySet<Family> = ALL): Promise<Snapshot> {
    agg.beginCycle();
    await agg.ingest('ebpf', { increments, errors: {} }, families);
    await agg.endCycle();
    return agg.snapshot();
  }
  const inc = (pid: number, retransSegs?: number): Increment => ({ pid, transport: 'tcp', rxBytes: 10, txBytes: 20, rxPackets: 1, txPackets: 2, retransSegs });

  it('credits increments of pid 0 (an accepted socket closed before any process held it) to [kernel]', async () => {
    const snap = await incrementCycle([inc(0, 1)]);
    expect(byPid(snap, 0)!.process.name).toBe('[kernel]');
    expect(byPid(snap, 0)!.traffic).toEqual([{ transport: 'tcp', bytes: { rx: 10, tx: 20 }, packets: { rx: 1, tx: 2 }, retransmittedSegments: 1 }]);
  });

  it('credits increments of an exited process to its own series, during and after its retention, not to a second series with its labels', async () => {
    // nethogs or ebpf reports the FIN and RST of a killed client a refresh later, when /proc has no such PID.
    const resolver = await ProcessResolver.create(host, '/proc');
    agg = new Aggregator(resolver, { retainCycles: 2, maxProcesses: 0, startTimeMs: 5, now: host.now, exitRetentionMs: 120_000 });
    host.startProcess(42, 'client');
    await incrementCycle([inc(42)]);
    host.exit(42);
    await incrementCycle([inc(42)]); // retained
    await incrementCycle([]);
    await incrementCycle([]); // dropped; its series is still exported (exit retention)
    const snap = await incrementCycle([inc(42)]);
    const series = snap.processes.filter((p) => p.process.pid === 42);
    expect(series).toHaveLength(1);
    expect(series[0]!.process.name).toBe('client');
    expect(tcpBytes(series[0])).toEqual({ rx: 30, tx: 60 });
  });

  it('sums retransmitted segments per process, monotonic, and only under the packets family', async () => {
    host.startProcess(10, 'sender');
    await incrementCycle([inc(10, 3)]);
    const snap = await incrementCycle([inc(10, 4), inc(10, -5)]);
    expect(byPid(snap, 10)!.traffic[0]!.retransmittedSegments).toBe(7);
    host.startProcess(11, 'bytes-only');
    const bytesOnly = await incrementCycle([inc(11, 9)], new Set(['bytes'] as const));
    expect(byPid(bytesOnly, 11)!.traffic[0]!.retransmittedSegments).toBeUndefined();
    // A source that does not measure retransmissions (no field) exports none.
    host.startProcess(12, 'udp');
    const none = await incrementCycle([inc(12)]);
    expect(byPid(none, 12)!.traffic[0]!.retransmittedSegments).toBeUndefined();
  });

  it('exports no packet series for a transport whose increments carry no packets (percall-kprobe on TCP), and exports them on the others', async () => {
    host.startProcess(13, 'percall');
    const snap = await incrementCycle([
      { pid: 13, transport: 'tcp', rxBytes: 10, txBytes: 20 },
      { pid: 13, transport: 'udp', rxBytes: 30, txBytes: 40, rxPackets: 1, txPackets: 2 },
    ]);
    expect(byPid(snap, 13)!.traffic).toEqual([
      { transport: 'tcp', bytes: { rx: 10, tx: 20 } },
      { transport: 'udp', bytes: { rx: 30, tx: 40 }, packets: { rx: 1, tx: 2 } },
    ]);
  });

  it('keeps the [other] retransmissions monotonic as processes leave it', async () => {
    host.startProcess(1, 'a');
    host.startProcess(2, 'b');
    host.startProcess(3, 'c');
    (agg as unknown as { options: { maxProcesses: number } }).options.maxProcesses = 1;
    const first = await incrementCycle([{ ...inc(1, 1), rxBytes: 1000 }, inc(2, 2), inc(3, 4)]);
    expect(byPid(first, -1)!.traffic[0]!.retransmittedSegments).toBe(6);
    host.exit(2);
    await incrementCycle([]);
    await incrementCycle([]);
    const later = await incrementCycle([]);
    expect(byPid(later, -1)!.traffic[0]!.retransmittedSegments).toBe(6);
  });
});
