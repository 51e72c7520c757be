// The prepared, immutable result of one collection cycle; exporters only ever read this.
import type { ConnectionState, Transport } from '../semconv.js';

/** The attributes a process has only in a container (and on Kubernetes, in a pod). */
export const OPTIONAL_PROCESS_ATTRIBUTES = ['containerId', 'podName', 'namespaceName', 'containerName'] as const;

export type ProcessAttributes = { pid: number; name: string } & {
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
}

export const emptySnapshot = (timeMs: number): Snapshot => ({ timeMs, processes: [], trackedProcesses: 0 });

/** Names one process's series across snapshots: its pid and start, so a reused pid is another. */
export function seriesKey(series: ProcessSeries): string {
  return `${series.process.pid}/${series.startTimeMs}`;
}
