// `netproc-agent once`: collect over --duration and print what the agent would export.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { buildCore } from '../agent.js';
import type { AgentConfig } from '../config/schema.js';
import { OPTIONAL_PROCESS_ATTRIBUTES, seriesKey, type ProcessSeries, type Snapshot } from '../aggregation/snapshot.js';

interface Row {
  /** Absent where --aggregate-by sums processes together. */
  pid?: number;
  name: string;
  containerId?: string;
  podName?: string;
  namespaceName?: string;
  containerName?: string;
  transport: string;
  rxBytes?: number;
  txBytes?: number;
  rxPackets?: number;
  txPackets?: number;
  rxBytesPerSecond?: number;
  txBytesPerSecond?: number;
  connections: Record<string, number>;
}

export async function onceCommand(config: AgentConfig, logger: Logger): Promise<number> {
  const durationMs = config.once.duration;
  const { collector } = await buildCore(config, logger);
  try {
    const first = await collector.collectOnce();
    await sleep(durationMs);
    const last = await collector.collectOnce();
    const rows = toRows(first, last, durationMs / 1000);
    const output =
      config.once.format === 'json'
        ? JSON.stringify({ durationSeconds: durationMs / 1000, sources: Object.fromEntries(collector.assignment), processes: rows }, null, 2)
        : formatTable(rows);
    process.stdout.write(`${output}\n`);
    return 0;
  } finally {
    await collector.stop();
  }
}

export function toRows(first: Snapshot, last: Snapshot, seconds: number): Row[] {
  const before = new Map<string, ProcessSeries>();
  for (const p of first.processes) before.set(seriesKey(p), p);
  const rows: Row[] = [];
  for (const p of last.processes) {
    const earlier = before.get(seriesKey(p));
    const transports = new Set([...p.traffic.map((t) => t.transport), ...p.connections.map((c) => c.transport)]);
    for (const transport of transports) {
      const t = p.traffic.find((x) => x.transport === transport);
      const e = earlier?.traffic.find((x) => x.transport === transport);
      const row: Row = { name: p.process.name ?? '', transport, connections: {} };
      if (p.process.pid !== undefined) row.pid = p.process.pid;
      for (const key of OPTIONAL_PROCESS_ATTRIBUTES) {
        const value = p.process[key];
        if (value !== undefined) row[key] = value;
      }
      if (t?.bytes) {
        row.rxBytes = t.bytes.rx;
        row.txBytes = t.bytes.tx;
        row.rxBytesPerSecond = Math.round((t.bytes.rx - (e?.bytes?.rx ?? 0)) / seconds);
        row.txBytesPerSecond = Math.round((t.bytes.tx - (e?.bytes?.tx ?? 0)) / seconds);
      }
      if (t?.packets) {
        row.rxPackets = t.packets.rx;
        row.txPackets = t.packets.tx;
      }
      for (const c of p.connections) if (c.transport === transport) row.connections[c.state] = c.count;
      rows.push(row);
    }
  }
  return rows.sort((a, b) => total(b) - total(a) || (a.pid ?? 0) - (b.pid ?? 0));
}

function total(r: Row): number {
  return (r.rxBytes ?? 0) + (r.txBytes ?? 0);
}

const COLUMNS = ['PID', 'NAME', 'PROTO', 'RX', 'TX', 'RX/s', 'TX/s', 'RX PKTS', 'TX PKTS', 'CONNECTIONS'];

export function formatTable(rows: readonly Row[]): string {
  const body = rows.map((r) => [
    r.pid === undefined ? '-' : String(r.pid),
    r.name.length > 24 ? `${r.name.slice(0, 23)}…` : r.name,
    r.transport,
    human(r.rxBytes),
    human(r.txBytes),
    human(r.rxBytesPerSecond),
    human(r.txBytesPerSecond),
    r.rxPackets === undefined ? '-' : String(r.rxPackets),
    r.txPackets === undefined ? '-' : String(r.txPackets),
    Object.entries(r.connections)
      .map(([state, n]) => `${state}=${n}`)
      .join(' ') || '-',
  ]);
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ');
  return [line(COLUMNS), ...body.map(line)].join('\n');
}

function human(n: number | undefined): string {
  if (n === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value}B` : `${value.toFixed(1)}${units[unit]}`;
}
