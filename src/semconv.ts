// Every metric name, unit, attribute key and state value the agent exports, defined once.
// The docs, the dashboard and the tests import these; nothing else spells them out.

/** The metric families a source can measure; selection happens per family. */
export const FAMILIES = ['bytes', 'packets', 'connections'] as const;
export type Family = (typeof FAMILIES)[number];

export type Transport = 'tcp' | 'udp';
export const TRANSPORTS: readonly Transport[] = ['tcp', 'udp'];

/** OTel semconv values of `network.connection.state`. */
export const CONNECTION_STATES = [
  'established',
  'listen',
  'time_wait',
  'close_wait',
  'syn_sent',
  'syn_received',
  'fin_wait_1',
  'fin_wait_2',
  'last_ack',
  'closing',
  'close',
] as const;
export type ConnectionState = (typeof CONNECTION_STATES)[number];

/**
 * Kernel TCP state numbers (include/net/tcp_states.h), as found in the `st` column of
 * /proc/net/tcp. UDP uses the same numbers: 07 (TCP_CLOSE) is an unconnected socket,
 * 01 a connected one. TCP_NEW_SYN_RECV (12) is a request socket, shown as syn_received.
 */
export const KERNEL_TCP_STATES: Readonly<Record<number, ConnectionState>> = {
  1: 'established',
  2: 'syn_sent',
  3: 'syn_received',
  4: 'fin_wait_1',
  5: 'fin_wait_2',
  6: 'time_wait',
  7: 'close',
  8: 'close_wait',
  9: 'last_ack',
  10: 'listen',
  11: 'closing',
  12: 'syn_received',
};

/** State names as `ss` prints them. UNCONN is TCP_CLOSE, used by unconnected UDP sockets. */
export const SS_STATES: Readonly<Record<string, ConnectionState>> = {
  ESTAB: 'established',
  LISTEN: 'listen',
  UNCONN: 'close',
  'TIME-WAIT': 'time_wait',
  'CLOSE-WAIT': 'close_wait',
  'SYN-SENT': 'syn_sent',
  'SYN-RECV': 'syn_received',
  'FIN-WAIT-1': 'fin_wait_1',
  'FIN-WAIT-2': 'fin_wait_2',
  'LAST-ACK': 'last_ack',
  CLOSING: 'closing',
  CLOSE: 'close',
};

export const ATTR = {
  pid: 'process.pid',
  executableName: 'process.executable.name',
  transport: 'network.transport',
  state: 'network.connection.state',
  containerId: 'container.id',
  podName: 'k8s.pod.name',
  namespaceName: 'k8s.namespace.name',
  containerName: 'k8s.container.name',
} as const;

/** Attribute values of the pseudo-processes. */
export const KERNEL_PROCESS = { pid: 0, name: '[kernel]' } as const;
export const OTHER_PROCESS = { pid: -1, name: '[other]' } as const;

export interface MetricSpec {
  /** OTel instrument name. */
  name: string;
  /** Series name in Prometheus after translation. */
  prometheusName: string;
  family: Family;
  unit: string;
  description: string;
  kind: 'counter' | 'updowncounter' | 'gauge';
}

export const METRICS = {
  receiveBytes: {
    name: 'process_network_receive_bytes',
    prometheusName: 'process_network_receive_bytes_total',
    family: 'bytes',
    unit: 'By',
    description: 'Bytes received by the process, payload as seen by the source, since the process started',
    kind: 'counter',
  },
  transmitBytes: {
    name: 'process_network_transmit_bytes',
    prometheusName: 'process_network_transmit_bytes_total',
    family: 'bytes',
    unit: 'By',
    description: 'Bytes transmitted by the process, payload as seen by the source, since the process started',
    kind: 'counter',
  },
  // Exported as non-monotonic cumulative sums so that neither exporter appends `_total`;
  // the values still only grow. See docs/metrics.md.
  rxPackets: {
    name: 'process_network_rx_packets',
    prometheusName: 'process_network_rx_packets',
    family: 'packets',
    unit: '{packet}',
    description: 'Packets (TCP segments, UDP datagrams) received by the process; only grows',
    kind: 'updowncounter',
  },
  txPackets: {
    name: 'process_network_tx_packets',
    prometheusName: 'process_network_tx_packets',
    family: 'packets',
    unit: '{packet}',
    description: 'Packets (TCP segments, UDP datagrams) transmitted by the process; only grows',
    kind: 'updowncounter',
  },
  // Monotonic like the byte counters (so `_total` in Prometheus); only TCP has retransmissions.
  retransmittedSegments: {
    name: 'process_network_retransmitted_segments',
    prometheusName: 'process_network_retransmitted_segments_total',
    family: 'packets',
    unit: '{segment}',
    description: 'TCP segments the process retransmitted (the kernel total_retrans of its sockets), since the process started',
    kind: 'counter',
  },
  connections: {
    name: 'process_network_connections',
    prometheusName: 'process_network_connections',
    family: 'connections',
    unit: '{connection}',
    description: 'Sockets owned by the process, by transport and state',
    kind: 'gauge',
  },
} as const satisfies Record<string, MetricSpec>;

export const SELF_METRICS = {
  up: 'netproc_source_up',
  duration: 'netproc_source_collection_duration_seconds',
  errors: 'netproc_source_errors',
  selected: 'netproc_source_selected',
  processes: 'netproc_tracked_processes',
  series: 'netproc_exported_processes',
  /** Data points of the contract metrics in the last snapshot: the series a scrape holds. */
  exportedSeries: 'netproc_exported_series',
  foldedProcesses: 'netproc_folded_processes',
  foldedSeries: 'netproc_folded_series',
  exports: 'netproc_exports',
  heap: 'netproc_heap_used_bytes',
} as const;

export const SELF_ATTR = { source: 'source', family: 'family', kind: 'kind', exporter: 'exporter', result: 'result' } as const;

export const INSTRUMENTATION_SCOPE = 'netproc-agent';
