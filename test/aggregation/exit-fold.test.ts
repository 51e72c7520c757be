// No traffic lost when processes exit: in every mode, the sum over all series of every counter
// never falls. An exited process's series stays, unchanged, for the exit retention (so a scrape
// sees its last value), then its totals fold into [other] in the same snapshot in which it leaves.
// Under churn, --max-processes bounds the series and the process table empties once processes are
// gone. All values are exact: the fake host's sockets carry known counters.
import { beforeEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregation/aggregator.js';
import { AGGREGATION_MODES, type AggregationMode } from '../../src/aggregation/grouping.js';
import type { Snapshot } from '../../src/aggregation/snapshot.js';
import { ProcessResolver } from '../../src/host/processes.js';
import type { Increment, SocketRecord } from '../../src/sources/types.js';
import { FakeHost } from '../helpers/fake-host.js';

const ALL = new Set(['bytes', 'packets', 'connections'] as const);
const INTERVAL_MS = 1000;
const RETENTION_MS = 5000;

type Field = 'rx' | 'tx' | 'rxPackets' | 'txPackets' | 'retransmits';
function sumOver(snapshot: Snapshot, field: Field): number {
  let sum = 0;
  for (const p of snapshot.processes) {
    for (const t of p.traffic) {
      if (field === 'retransmits') sum += t.retransmittedSegments ?? 0;
      else if (field === 'rx' || field === 'tx') sum += t.bytes?.[field] ?? 0;
      else sum += t.packets?.[field === 'rxPackets' ? 'rx' : 'tx'] ?? 0;
    }
  }
  return sum;
}
const FIELDS: Field[] = ['rx', 'tx', 'rxPackets', 'txPackets', 'retransmits'];

describe('exited processes fold into a long-lived series', () => {
  let host: FakeHost;
  let agg: Aggregator;

  async function setup(mode: AggregationMode, maxProcesses = 0): Promise<void> {
    agg = new Aggregator(await ProcessResolver.create(host, '/proc'), {
      retainCycles: 2,
      maxProcesses,
      startTimeMs: 5,
      now: host.now,
      aggregateBy: mode,
      exitRetentionMs: RETENTION_MS,
    });
  }

  async function cycle(sockets: SocketRecord[]): Promise<Snapshot> {
    host.clock += INTERVAL_MS;
    agg.beginCycle();
    await agg.ingest('ss', { sockets, errors: {} }, ALL);
    await agg.endCycle();
    return agg.snapshot();
  }

  /** One cycle of ebpf increments (traffic since the last cycle, retransmissions included). */
  async function incrementCycle(increments: Increment[]): Promise<Snapshot> {
    host.clock += INTERVAL_MS;
    agg.beginCycle();
    await agg.ingest('ebpf', { increments, errors: {} }, ALL);
    await agg.endCycle();
    return agg.snapshot();
  }
  const inc = (pid: number, bytes: number, retransSegs: number): Increment => ({
    pid, transport: 'tcp', rxBytes: bytes, txBytes: 2 * bytes, rxPackets: 3, txPackets: 4, retransSegs,
  });

  const sock = (id: string, pid: number, bytes: number): SocketRecord => ({
    id, transport: 'tcp', state: 'established', pids: [pid], rxBytes: bytes, txBytes: 2 * bytes, rxPackets: 3, txPackets: 4,
  });

  beforeEach(() => {
    host = new FakeHost();
  });

  for (const mode of AGGREGATION_MODES) {
    it(`${mode}: the sum over all series never falls across exits, and ends at what was sent`, async () => {
      await setup(mode);
      host.startProcess(10, 'server');
      host.startProcess(11, 'job');
      let previous: Snapshot | undefined;
      const check = (s: Snapshot): void => {
        for (const f of FIELDS) if (previous) expect(sumOver(s, f), f).toBeGreaterThanOrEqual(sumOver(previous, f));
        previous = s;
      };
      check(await cycle([sock('a', 10, 100), sock('b', 11, 5000)]));
      check(await cycle([sock('a', 10, 200), sock('b', 11, 7000)]));
      host.exit(11); // its socket closed with it
      const retained: number[] = [];
      for (let i = 0; i < 12; i++) {
        const s = await cycle([sock('a', 10, 200)]);
        check(s);
        retained.push(s.processes.filter((p) => p.process.name === 'job').length);
      }
      // The job's own series is exported for the retention (plus the 2 cycles it stays tracked), then folds.
      expect(retained.filter((n) => n === 1).length).toBeGreaterThanOrEqual(RETENTION_MS / INTERVAL_MS);
      expect(retained.at(-1)).toBe(0);
      expect(sumOver(previous!, 'rx')).toBe(7200);
      expect(sumOver(previous!, 'tx')).toBe(14400);
      const other = previous!.processes.find((p) => p.process.name === '[other]')!;
      expect(other.process).toEqual({ pid: -1, name: '[other]' });
      expect(other.traffic[0]!.bytes).toEqual({ rx: 7000, tx: 14000 });
      expect(previous!.foldedProcesses).toBe(1);
      expect(previous!.foldedSeries).toBe(1);
    });
  }

  for (const mode of AGGREGATION_MODES) {
    it(`${mode}: retransmitted segments never fall across exits and fold into [other] with the bytes`, async () => {
      await setup(mode);
      host.startProcess(10, 'server');
      host.startProcess(11, 'job');
      let previous: Snapshot | undefined;
      const check = (s: Snapshot): void => {
        for (const f of FIELDS) if (previous) expect(sumOver(s, f), f).toBeGreaterThanOrEqual(sumOver(previous, f));
        previous = s;
      };
      check(await incrementCycle([inc(10, 100, 1), inc(11, 5000, 7)]));
      check(await incrementCycle([inc(10, 100, 2), inc(11, 2000, 5)]));
      host.exit(11);
      const retained: number[] = [];
      for (let i = 0; i < 12; i++) {
        const s = await incrementCycle([]);
        check(s);
        retained.push(s.processes.filter((p) => p.process.name === 'job').length);
      }
      expect(retained.at(-1)).toBe(0);
      expect(sumOver(previous!, 'retransmits')).toBe(15);
      const other = previous!.processes.find((p) => p.process.name === '[other]')!;
      expect(other.traffic[0]!.bytes).toEqual({ rx: 7000, tx: 14000 });
      expect(other.traffic[0]!.retransmittedSegments).toBe(12);
      const server = previous!.processes.find((p) => p.process.name === 'server')!;
      expect(server.traffic[0]!.retransmittedSegments).toBe(3);
      expect(previous!.foldedSeries).toBe(1);
    });
  }

  it('executable: a process that exits hands its totals to its executable\'s series, which stays while others run', async () => {
    await setup('executable');
    host.startProcess(20, 'worker');
    host.startProcess(21, 'worker');
    await cycle([sock('a', 20, 100), sock('b', 21, 50)]);
    host.exit(21);
    for (let i = 0; i < 10; i++) {
      const s = await cycle([sock('a', 20, 100)]);
      expect(s.processes.find((p) => p.process.name === 'worker')!.traffic[0]!.bytes!.rx).toBe(150);
      expect(s.processes.find((p) => p.process.name === '[other]')).toBeUndefined();
    }
  });

  for (const mode of AGGREGATION_MODES) {
    it(`${mode}: 600 short-lived processes under --max-processes 5: series bounded, sums monotonic, table empties`, async () => {
      const CAP = 5;
      await setup(mode, CAP);
      let previous = 0;
      let sent = 0;
      let pid = 1000;
      for (let c = 0; c < 60; c++) {
        // 10 new processes a cycle, named from a set of 7 executables, each living one cycle.
        const sockets: SocketRecord[] = [];
        for (let i = 0; i < 10; i++, pid++) {
          host.startProcess(pid, `exe${pid % 7}`);
          sockets.push(sock(`s${pid}`, pid, pid));
          sent += pid;
        }
        const s = await cycle(sockets);
        expect(s.processes.length).toBeLessThanOrEqual(CAP + 2); // + [kernel], [other]
        expect(sumOver(s, 'rx')).toBeGreaterThanOrEqual(previous);
        previous = sumOver(s, 'rx');
        for (let p = pid - 10; p < pid; p++) host.exit(p);
      }
      let last: Snapshot | undefined;
      for (let c = 0; c < 10; c++) last = await cycle([]);
      expect(last!.trackedProcesses).toBe(0);
      expect(last!.foldedProcesses).toBe(600);
      // Every series whose processes are gone has folded: only [kernel] and [other] are left.
      expect(last!.processes.map((p) => p.process.name).sort()).toEqual(['[kernel]', '[other]']);
      // Series that moved between the cap's top and [other] may be counted twice (see docs/metrics.md),
      // never less than once.
      expect(sumOver(last!, 'rx')).toBeGreaterThanOrEqual(sent);
      expect((agg as unknown as { groups: Map<string, unknown> }).groups.size).toBe(1); // [kernel]
    });
  }
});
