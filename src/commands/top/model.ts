// What `top` shows: per process, rates between the last two snapshots and totals, sorted.
import { seriesKey, type ProcessSeries, type Snapshot } from '../../aggregation/snapshot.js';

export const SORT_KEYS = { r: 'received', t: 'transmitted', p: 'packets', c: 'connections' } as const;
export type SortKey = (typeof SORT_KEYS)[keyof typeof SORT_KEYS];

export interface TopRow {
  /** Absent where --aggregate-by sums processes together. */
  pid: number | undefined;
  name: string;
  /** Pod or container where known. */
  where: string;
  rxRate: number;
  txRate: number;
  packetRate: number;
  rxTotal: number;
  txTotal: number;
  connections: number;
}

interface Totals {
  rx: number;
  tx: number;
  packets: number;
  connections: number;
}

function totals(series: ProcessSeries): Totals {
  const t: Totals = { rx: 0, tx: 0, packets: 0, connections: 0 };
  for (const traffic of series.traffic) {
    t.rx += traffic.bytes?.rx ?? 0;
    t.tx += traffic.bytes?.tx ?? 0;
    t.packets += (traffic.packets?.rx ?? 0) + (traffic.packets?.tx ?? 0);
  }
  for (const c of series.connections) t.connections += c.count;
  return t;
}

/** Rows from two consecutive snapshots `seconds` apart; a process new in `current` has rates from zero. */
export function topRows(previous: Snapshot | undefined, current: Snapshot, sort: SortKey): TopRow[] {
  const seconds = previous ? Math.max((current.timeMs - previous.timeMs) / 1000, 0.001) : 1;
  const before = new Map(previous?.processes.map((p) => [seriesKey(p), totals(p)]));
  const rows = current.processes.map((series): TopRow => {
    const now = totals(series);
    const then = before.get(seriesKey(series));
    const rate = (a: number, b: number | undefined): number => (then === undefined ? 0 : Math.max(0, a - (b ?? 0)) / seconds);
    return {
      pid: series.process.pid,
      name: series.process.name ?? series.process.podName ?? series.process.containerName ?? '',
      where: series.process.podName ?? series.process.containerId?.slice(0, 12) ?? '',
      rxRate: rate(now.rx, then?.rx),
      txRate: rate(now.tx, then?.tx),
      packetRate: rate(now.packets, then?.packets),
      rxTotal: now.rx,
      txTotal: now.tx,
      connections: now.connections,
    };
  });
  return rows.sort((a, b) => compare(a, b, sort) || (a.pid ?? 0) - (b.pid ?? 0));
}

function compare(a: TopRow, b: TopRow, sort: SortKey): number {
  switch (sort) {
    case 'received':
      return b.rxRate - a.rxRate || b.rxTotal - a.rxTotal;
    case 'transmitted':
      return b.txRate - a.txRate || b.txTotal - a.txTotal;
    case 'packets':
      return b.packetRate - a.packetRate;
    case 'connections':
      return b.connections - a.connections;
  }
}

/** 1536 -> "1.5K", in powers of 1024, at most 5 characters wide. */
export function humanBytes(n: number): string {
  const units = ['B', 'K', 'M', 'G', 'T', 'P'];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)}${units[unit]}`;
}
