// Selection, fallback and recovery with scripted sources: a failing source hands its families to the
// next usable source in the same cycle, is retried with backoff, and takes them back without
// double counting.
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregation/aggregator.js';
import type { Snapshot } from '../../src/aggregation/snapshot.js';
import { Collector } from '../../src/collection/collector.js';
import { ProcessResolver } from '../../src/host/processes.js';
import type { Family } from '../../src/semconv.js';
import type { Collection, ProbeResult, SocketRecord, Source } from '../../src/sources/types.js';
import { FakeHost } from '../helpers/fake-host.js';

class ScriptedSource implements Source {
  failing = false;
  calls = 0;
  probes = 0;
  sockets: SocketRecord[] = [];
  constructor(
    readonly name: string,
    readonly families: readonly Family[],
    public usable = true,
  ) {}
  async probe(): Promise<ProbeResult> {
    this.probes++;
    return { usable: this.usable, problems: this.usable ? [] : [{ what: 'absent', fix: 'install' }], warnings: [], details: [] };
  }
  async collect(): Promise<Collection> {
    this.calls++;
    if (this.failing) throw new Error(`${this.name} broke\nsecond line`);
    return { sockets: this.sockets.map((s) => ({ ...s })), errors: { parse: 1 } };
  }
}

const socket = (rx: number): SocketRecord => ({
  id: 'ino:1',
  transport: 'tcp',
  state: 'established',
  pids: [10],
  rxBytes: rx,
  txBytes: 0,
  rxPackets: 0,
  txPackets: 0,
});
const rxOf = (s: Snapshot): number | undefined =>
  s.processes.find((p) => p.process.pid === 10)?.traffic.find((t) => t.transport === 'tcp')?.bytes?.rx;

describe('Collector', () => {
  let host: FakeHost;
  let primary: ScriptedSource;
  let backup: ScriptedSource;
  let collector: Collector;
  const logged: string[] = [];

  beforeEach(async () => {
    host = new FakeHost();
    host.startProcess(10, 'app');
    primary = new ScriptedSource('primary', ['bytes', 'packets', 'connections']);
    backup = new ScriptedSource('backup', ['bytes', 'connections']);
    const resolver = await ProcessResolver.create(host, '/proc');
    const aggregator = new Aggregator(resolver, { retainCycles: 2, maxProcesses: 0, startTimeMs: 0, now: host.now });
    logged.length = 0;
    const logger = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line).msg as string) });
    collector = new Collector([primary, backup], aggregator, { intervalMs: 1000, reprobeMs: 60_000, logger, now: host.now });
    await collector.init();
  });

  it('selects, per family, the first usable source in the configured order', () => {
    expect(Object.fromEntries(collector.assignment)).toEqual({ bytes: 'primary', packets: 'primary', connections: 'primary' });
    expect(collector.servableFamilies()).toEqual(['bytes', 'packets', 'connections']);
  });

  it('falls back within the same cycle, retries with backoff, and never double counts on return', async () => {
    primary.sockets = [socket(1000)];
    backup.sockets = [socket(1000)];
    expect(rxOf(await collector.collectOnce())).toBe(1000);
    expect(backup.calls).toBe(0);

    primary.failing = true;
    primary.sockets = backup.sockets = [socket(1500)];
    const during = await collector.collectOnce();
    // The backup takes bytes and connections over in the same cycle; its first snapshot is a baseline,
    // because the primary already counted this socket's past.
    expect(collector.assignment.get('bytes')).toBe('backup');
    expect(collector.assignment.has('packets')).toBe(false);
    expect(collector.health.get('primary').up).toBe(false);
    expect(collector.health.get('primary').errors.get('collect')).toBe(1);
    expect(rxOf(during)).toBe(1000);
    // Only the primary measures packets: while it is down the agent is not ready.
    expect(collector.notReadyReason()).toBe('no source is serving packets');

    // Before the backoff expires the primary is not retried.
    backup.sockets = [socket(1800)];
    host.clock += 500;
    const calls = primary.calls;
    expect(rxOf(await collector.collectOnce())).toBe(1300);
    expect(primary.calls).toBe(calls);

    // After it, the primary is retried; it still fails, and the backoff doubles (logged once).
    host.clock += 600;
    await collector.collectOnce();
    expect(primary.calls).toBe(calls + 1);
    host.clock += 1500;
    await collector.collectOnce();
    expect(primary.calls).toBe(calls + 1);
    expect(logged.filter((m) => m.startsWith('source failed: primary broke'))).toHaveLength(1);

    // Recovery: the primary takes its families back from a baseline; nothing is counted twice.
    primary.failing = false;
    primary.sockets = backup.sockets = [socket(2000)];
    host.clock += 1000;
    const back = await collector.collectOnce();
    expect(collector.assignment.get('bytes')).toBe('primary');
    expect(collector.health.get('primary').up).toBe(true);
    expect(rxOf(back)).toBe(1300);
    primary.sockets = [socket(2600)];
    expect(rxOf(await collector.collectOnce())).toBe(1900);
  });

  it('counts partial errors by kind and reports an unusable source as down', async () => {
    await collector.collectOnce();
    expect(collector.health.get('primary').errors.get('parse')).toBe(1);
    const lonely = new ScriptedSource('absent', ['bytes'], false);
    const resolver = await ProcessResolver.create(host, '/proc');
    const aggregator = new Aggregator(resolver, { retainCycles: 2, maxProcesses: 0, startTimeMs: 0, now: host.now });
    const c = new Collector([lonely], aggregator, { intervalMs: 1000, reprobeMs: 60_000, logger: pino({ level: 'silent' }) });
    await c.init();
    expect(c.assignment.size).toBe(0);
    expect(c.health.get('absent').up).toBe(false);
    expect(c.servableFamilies()).toEqual([]);
  });

  it('probes again a source unusable at start, with backoff, and hands it its families once usable, counting nothing twice', async () => {
    // The preferred source's tool is missing at start: the backup serves bytes.
    const preferred = new ScriptedSource('preferred', ['bytes', 'packets', 'connections'], false);
    const resolver = await ProcessResolver.create(host, '/proc');
    const aggregator = new Aggregator(resolver, { retainCycles: 2, maxProcesses: 0, startTimeMs: 0, now: host.now });
    const logger = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line).msg as string) });
    const c = new Collector([preferred, backup], aggregator, { intervalMs: 1000, reprobeMs: 10_000, logger, now: host.now });
    await c.init();
    expect(preferred.probes).toBe(1);
    backup.sockets = [socket(1000)];
    expect(rxOf(await c.collectOnce())).toBe(1000);
    expect(c.assignment.get('bytes')).toBe('backup');

    // Not probed again before reprobeMs; then probed, still unusable: the next wait doubles.
    host.clock += 9_000;
    await c.collectOnce();
    expect(preferred.probes).toBe(1);
    host.clock += 1_000;
    await c.collectOnce();
    expect(preferred.probes).toBe(2);
    host.clock += 10_000;
    await c.collectOnce();
    expect(preferred.probes).toBe(2);
    host.clock += 10_000;
    backup.sockets = [socket(1400)];
    expect(rxOf(await c.collectOnce())).toBe(1400);
    expect(preferred.probes).toBe(3);

    // The tool is installed: within the (doubled) interval the source is usable and takes its
    // families over from a baseline. Its own count of the socket (5000) is not added.
    preferred.usable = true;
    preferred.sockets = [socket(5000)];
    backup.sockets = [socket(1500)];
    host.clock += 40_000;
    const handover = await c.collectOnce();
    expect(preferred.probes).toBe(4);
    expect(Object.fromEntries(c.assignment)).toEqual({ bytes: 'preferred', packets: 'preferred', connections: 'preferred' });
    expect(c.health.get('preferred').up).toBe(true);
    expect(rxOf(handover)).toBe(1400);
    expect(logged).toContain('source became usable');
    preferred.sockets = [socket(5600)];
    expect(rxOf(await c.collectOnce())).toBe(2000);
    host.clock += 600_000;
    await c.collectOnce();
    expect(preferred.probes).toBe(4); // usable: no more probes
  });

  it('starts a streaming source found usable again while the others serve, and drops what it counted before it joins', async () => {
    let started!: () => void;
    let pendingRx = 0;
    const stream: Source & { usable: boolean } = {
      name: 'stream',
      families: ['bytes'],
      usable: false,
      probe: async () => ({ usable: stream.usable, problems: [], warnings: [], details: [] }),
      start: () => new Promise<void>((resolve) => (started = resolve)),
      collect: async () => {
        const rxBytes = pendingRx;
        pendingRx = 0;
        return { increments: [{ pid: 10, transport: 'tcp', rxBytes, txBytes: 0, rxPackets: 0, txPackets: 0 }], errors: {} };
      },
    };
    const resolver = await ProcessResolver.create(host, '/proc');
    const aggregator = new Aggregator(resolver, { retainCycles: 2, maxProcesses: 0, startTimeMs: 0, now: host.now });
    const c = new Collector([stream, backup], aggregator, { intervalMs: 1000, reprobeMs: 1000, logger: pino({ level: 'silent' }), now: host.now });
    await c.init();
    backup.sockets = [socket(1000)];
    expect(rxOf(await c.collectOnce())).toBe(1000);

    // Usable now: started in the background; the backup goes on serving while it attaches.
    stream.usable = true;
    host.clock += 1000;
    backup.sockets = [socket(1200)];
    expect(rxOf(await c.collectOnce())).toBe(1200);
    expect(c.assignment.get('bytes')).toBe('backup');
    started();
    await Promise.resolve();
    // Running: it counts traffic the backup counts too (200); this cycle the backup collects one
    // last time and the stream's count so far is dropped.
    pendingRx = 200;
    backup.sockets = [socket(1400)];
    expect(rxOf(await c.collectOnce())).toBe(1400);
    // From the next cycle on, only the stream counts.
    pendingRx = 50;
    backup.sockets = [socket(1450)];
    expect(rxOf(await c.collectOnce())).toBe(1450);
    expect(c.assignment.get('bytes')).toBe('stream');
    expect(c.health.get('stream').up).toBe(true);
  });
});
