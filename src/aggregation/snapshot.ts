// The prepared, immutable result of one collection cycle; exporters only ever read this.
import type { ConnectionState, Transport } from '../semconv.js';

export interface ProcessAttributes {
  pid: number;
  name: string;
  containerId?: string;
  podName?: string;
  namespaceName?: string;
  containerName?: string;
}

export interface TransportTraffic {
  transport: Transport;
  /** Present when a source measured this transport's bytes for the process. */
  bytes?: { rx: number; tx: number };
  packets?: { rx: number; tx: number };
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
