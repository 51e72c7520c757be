// --aggregate-by: for each mode, the label set of every series, and that a series' totals (bytes,
// packets, connections) are the sum of the processes in it. Exact: the fake host's sockets carry
// known counters, so there is no tolerance.
import { beforeEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregation/aggregator.js';
import type { AggregationMode } from '../../src/aggregation/grouping.js';
import type { ProcessAttributes, ProcessSeries, Snapshot } from '../../src/aggregation/snapshot.js';
import { PodIndex } from '../../src/host/kubernetes.js';
import { ProcessResolver } from '../../src/host/processes.js';
import type { Increment, SocketRecord } from '../../src/sources/types.js';
import { FakeHost } from '../helpers/fake-host.js';

const ALL = new Set(['bytes', 'packets', 'connections'] as const);
const LOGS = '/var/log/containers';
const hex = (c: string): string => c.repeat(64);
const APP = hex('a'); // pod shop/web-1, container app
const ENVOY = hex('b'); // pod shop/web-1, container envoy
const REDIS = hex('c'); // a container the kubelet did not start: no pod

/** pid -> [executable, container]; each process holds one socket carrying 1000 x pid bytes in. */
const PROCESSES: Record<number, [string, string | undefined]> = {
  10: ['curl', undefined],
  11: ['curl', undefined],
  12: ['nginx', undefined],
  20: ['nginx', APP],
  21: ['nginx', APP],
  22: ['sidecar', APP],
  30: ['envoy', ENVOY],
  40: ['redis', REDIS],
};

function socketOf(pid: number): SocketRecord {
  return { id: `s${pid}`, transport: 'tcp', state: 'established', pids: [pid], rxBytes: 1000 * pid, txBytes: pid, rxPackets: pid, txPackets: 2 * pid };
}

/** What the members of a group add up to. */
function expected(pids: number[]): { rx: number; tx: number; rxPackets: number; txPackets: number; connections: number } {
  const sockets = pids.map(socketOf);
  return {
    rx: sockets.reduce((n, s) => n + s.rxBytes!, 0),
    tx: sockets.reduce((n, s) => n + s.txBytes!, 0),
    rxPackets: sockets.reduce((n, s) => n + s.rxPackets!, 0),
    txPackets: sockets.reduce((n, s) => n + s.txPackets!, 0),
    connections: pids.length,
  };
}

function totals(series: ProcessSeries): ReturnType<typeof expected> {
  const tcp = series.traffic.find((t) => t.transport === 'tcp')!;
  return {
    rx: tcp.bytes!.rx,
    tx: tcp.bytes!.tx,
    rxPackets: tcp.packets!.rx,
    txPackets: tcp.packets!.tx,
    connections: series.connections.reduce((n, c) => n + c.count, 0),
  };
}

const POD = { podName: 'web-1', namespaceName: 'shop' };

/** Per mode: each expected series' attributes and its member PIDs. */
const GROUPS: Record<AggregationMode, Array<[ProcessAttributes, number[]]>> = {
  pid: Object.entries(PROCESSES).map(([pid, [name, container]]) => {
    const attributes: ProcessAttributes = { pid: Number(pid), name };
    if (container === APP) Object.assign(attributes, { containerId: APP, ...POD, containerName: 'app' });
    if (container === ENVOY) Object.assign(attributes, { containerId: ENVOY, ...POD, containerName: 'envoy' });
    if (container === REDIS) attributes.containerId = REDIS;
    return [attributes, [Number(pid)]];
  }),
  executable: [
    [{ name: 'curl' }, [10, 11]],
    [{ name: 'nginx' }, [12]],
    [{ name: 'nginx', containerId: APP, ...POD, containerName: 'app' }, [20, 21]],
    [{ name: 'sidecar', containerId: APP, ...POD, containerName: 'app' }, [22]],
    [{ name: 'envoy', containerId: ENVOY, ...POD, containerName: 'envoy' }, [30]],
    [{ name: 'redis', containerId: REDIS }, [40]],
  ],
  container: [
    // Host processes: by executable, without container labels.
    [{ name: 'curl' }, [10, 11]],
    [{ name: 'nginx' }, [12]],
    [{ containerId: APP, ...POD, containerName: 'app' }, [20, 21, 22]],
    [{ containerId: ENVOY, ...POD, containerName: 'envoy' }, [30]],
    [{ containerId: REDIS }, [40]],
  ],
  pod: [
    [{ name: 'curl' }, [10, 11]],
    [{ name: 'nginx' }, [12]],
    [POD, [20, 21, 22, 30]],
    // A container without a pod: by container.
    [{ containerId: REDIS }, [40]],
  ],
};

describe('--aggregate-by', () => {
  let host: FakeHost;

  beforeEach(() => {
    host = new FakeHost();
    for (const [pid, [name, container]] of Object.entries(PROCESSES)) {
      host.startProcess(Number(pid), name);
      const path = container ? `/kubepods/burstable/pod6b0d7e61-2c4a-4f1e-9b8e-0c1d2e3f4a5b/${container}` : '/user.slice/session-1.scope';
      host.files.set(`/proc/${pid}/cgroup`, `4:memory:${path}\n0::/\n`);
    }
    host.files.set(`${LOGS}/web-1_shop_app-${APP}.log`, '');
    host.files.set(`${LOGS}/web-1_shop_envoy-${ENVOY}.log`, '');
  });

  async function run(mode: AggregationMode): Promise<Snapshot> {
    const pods = new PodIndex(host, LOGS);
    await pods.refresh();
    const agg = new Aggregator(await ProcessResolver.create(host, '/proc'), { retainCycles: 2, maxProcesses: 0, startTimeMs: 5, now: host.now, pods, aggregateBy: mode });
    agg.beginCycle();
    await agg.ingest('ss', { sockets: Object.keys(PROCESSES).map((pid) => socketOf(Number(pid))), errors: {} }, ALL);
    await agg.endCycle();
    return agg.snapshot();
  }

  /** Two cycles of ebpf increments: each process's traffic and retransmissions are pid-based, then twice that. */
  async function runIncrements(mode: AggregationMode): Promise<[Snapshot, Snapshot]> {
    const pods = new PodIndex(host, LOGS);
    await pods.refresh();
    const agg = new Aggregator(await ProcessResolver.create(host, '/proc'), { retainCycles: 2, maxProcesses: 0, startTimeMs: 5, now: host.now, pods, aggregateBy: mode });
    const snapshots: Snapshot[] = [];
    for (const factor of [1, 2]) {
      const increments: Increment[] = Object.keys(PROCESSES).map((pid) => ({
        pid: Number(pid), transport: 'tcp', rxBytes: factor * 1000 * Number(pid), txBytes: factor * Number(pid), rxPackets: factor * Number(pid), txPackets: factor * 2 * Number(pid), retransSegs: factor * Number(pid),
      }));
      agg.beginCycle();
      await agg.ingest('ebpf', { increments, errors: {} }, ALL);
      await agg.endCycle();
      snapshots.push(agg.snapshot());
    }
    return snapshots as [Snapshot, Snapshot];
  }

  for (const mode of Object.keys(GROUPS) as AggregationMode[]) {
    it(`${mode}: retransmitted segments are summed per group like bytes and packets, and never fall`, async () => {
      const [first, second] = await runIncrements(mode);
      for (const [snapshot, factor] of [[first, 1], [second, 3]] as const) {
        const series = snapshot.processes.filter((p) => p.process.name !== '[kernel]');
        expect(series).toHaveLength(GROUPS[mode].length);
        for (const [attributes, pids] of GROUPS[mode]) {
          const found = series.find((s) => JSON.stringify(s.process) === JSON.stringify(attributes));
          expect(found, JSON.stringify(attributes)).toBeDefined();
          const tcp = found!.traffic.find((t) => t.transport === 'tcp')!;
          const sum = pids.reduce((n, pid) => n + pid, 0);
          expect(tcp.retransmittedSegments, JSON.stringify(attributes)).toBe(factor * sum);
          expect(tcp.bytes, JSON.stringify(attributes)).toEqual({ rx: factor * 1000 * sum, tx: factor * sum });
          expect(tcp.packets, JSON.stringify(attributes)).toEqual({ rx: factor * sum, tx: factor * 2 * sum });
        }
      }
    });

    it(`${mode}: one series per group, with its label set, totalling its processes' bytes, packets and connections`, async () => {
      const snapshot = await run(mode);
      const series = snapshot.processes.filter((p) => p.process.name !== '[kernel]');
      expect(series.map((s) => s.process)).toEqual(expect.arrayContaining(GROUPS[mode].map(([attributes]) => attributes)));
      expect(series).toHaveLength(GROUPS[mode].length);
      for (const [attributes, pids] of GROUPS[mode]) {
        const found = series.find((s) => JSON.stringify(s.process) === JSON.stringify(attributes));
        expect(found, JSON.stringify(attributes)).toBeDefined();
        expect(totals(found!), JSON.stringify(attributes)).toEqual(expected(pids));
      }
      // Modes other than pid never carry process.pid (the pseudo-processes keep their sentinel).
      if (mode !== 'pid') expect(series.every((s) => s.process.pid === undefined)).toBe(true);
      expect(snapshot.processes.find((p) => p.process.name === '[kernel]')!.process).toEqual({ pid: 0, name: '[kernel]' });
    });
  }
});
