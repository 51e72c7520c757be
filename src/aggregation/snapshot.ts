// The prepared, immutable result of one collection cycle; exporters only ever read this.
import type { ConnectionState, Transport } from '../semconv.js';

/** The attributes a process has only in a container (and on Kubernetes, in a pod). */
export const OPTIONAL_PROCESS_ATTRIBUTES = ['containerId', 'podName', 'namespaceName', 'containerName'] as const;

/**
 * The attributes of one exported series. Which of them a series has depends on --aggregate-by
 * (see grouping.ts): `pid` and `name` are absent where the mode sums processes together.
 */
export type ProcessAttributes = { pid?: number; name?: string } & {
  [K in (typeof OPTIONAL_PROCESS_ATTRIBUTES)[number]]?: string;
};

export interface TransportTraffic {
  transport: Transport;
  /** Present when a source measured this transport's bytes for the process. */
  bytes?: { rx: number; tx: number };
  packets?: { rx: number; tx: number };
  /** TCP segments retransmitted; present when a source measured them (ebpf). */
  retransmittedSegments?: number;
}

export interface ConnectionCount {
  transport: Transport;
  state: ConnectionState;
  count: number;
}

export interface ProcessSeries {
  /** Names the series across snapshots (a process, or a group of processes). */
  key: string;
  process: ProcessAttributes;
  /** Start of the cumulative series: the process start (the agent start for pseudo-processes). */
  startTimeMs: number;
  traffic: TransportTraffic[];
  connections: ConnectionCount[];
}

export interface Snapshot {
  timeMs: number;
  processes: ProcessSeries[];
  /** Processes the agent tracks, before the --max-processes cap. */
  trackedProcesses: number;
  /** Exited processes dropped from the process table so far; their totals live on in a series. */
  foldedProcesses: number;
  /** Series whose processes had all exited, folded into [other] so far. */
  foldedSeries: number;
}

export const emptySnapshot = (timeMs: number): Snapshot => ({ timeMs, processes: [], trackedProcesses: 0, foldedProcesses: 0, foldedSeries: 0 });

/** Names one series across snapshots: its key and start, so a reused pid or a re-created group is another. */
export function seriesKey(series: ProcessSeries): string {
  return `${series.key}/${series.startTimeMs}`;
}

/** The data points the six contract metrics hold for this snapshot (what Prometheus counts as series). */
export function countDataPoints(snapshot: Snapshot): number {
  let points = 0;
  for (const series of snapshot.processes) {
    for (const t of series.traffic) points += (t.bytes ? 2 : 0) + (t.packets ? 2 : 0) + (t.retransmittedSegments !== undefined ? 1 : 0);
    points += series.connections.length;
  }
  return points;
}
