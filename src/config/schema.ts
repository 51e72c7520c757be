// Every configuration key: default, documentation, environment variable and flag.
// docs/configuration.md is generated from this (npm run docs:config) and a test keeps them in sync.
import convict from 'convict';
import { parseDuration } from './duration.js';
import { DEFAULT_MAP_KEYS } from '../sources/ebpf/parse.js';
import { DEFAULT_SOURCES, SOURCE_NAMES } from '../sources/registry.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const OUTPUT_FORMATS = ['table', 'json'] as const;

/** `a, b,,c` from an env var or flag -> ['a', 'b', 'c']. */
function commaList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

convict.addFormat({
  name: 'source-list',
  coerce: commaList,
  validate(value: unknown) {
    if (!Array.isArray(value) || value.length === 0) {
      throw new Error(`must be a non-empty list of sources from: ${SOURCE_NAMES.join(', ')}`);
    }
    for (const name of value) {
      if (!SOURCE_NAMES.includes(name)) {
        throw new Error(`unknown source ${JSON.stringify(name)}; accepted: ${SOURCE_NAMES.join(', ')}`);
      }
    }
    if (new Set(value).size !== value.length) throw new Error('lists a source twice');
  },
});

convict.addFormat({
  name: 'duration',
  validate(value: unknown) {
    if (parseDuration(value) === undefined) {
      throw new Error(`must be a positive duration with a unit (ms, s, m, h), such as 500ms, 5s or 1m`);
    }
  },
});

convict.addFormat({
  name: 'optional-duration',
  validate(value: unknown) {
    if (value !== '' && parseDuration(value) === undefined) {
      throw new Error('must be empty or a positive duration with a unit (ms, s, m, h), such as 500ms, 5s or 1m');
    }
  },
});

convict.addFormat({
  name: 'otlp-endpoint',
  validate(value: unknown) {
    if (value === '') return;
    const text = String(value);
    const url = /^[a-z]+:\/\//i.test(text) ? text : `https://${text}`;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error('must be a URL such as http://otel-collector:4317 (plain) or otel-collector:4317 / https://… (TLS)');
    }
    if (!['http:', 'https:'].includes(parsed.protocol) || parsed.hostname === '') {
      throw new Error('must be a URL such as http://otel-collector:4317 (plain) or otel-collector:4317 / https://… (TLS)');
    }
  },
});

convict.addFormat({
  name: 'tcp-port',
  coerce: (value: string) => (/^\d+$/.test(value.trim()) ? Number(value) : value),
  validate(value: unknown) {
    if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 65535) {
      throw new Error(`must be a port number from 0 to 65535`);
    }
  },
});

convict.addFormat({
  name: 'count',
  coerce: (value: string) => (/^\d+$/.test(value.trim()) ? Number(value) : value),
  validate(value: unknown) {
    if (!Number.isInteger(value) || (value as number) < 0) {
      throw new Error(`must be a whole number, 0 or more`);
    }
  },
});

convict.addFormat({
  name: 'device-list',
  coerce: commaList,
  validate(value: unknown) {
    // Linux device names (dev_valid_name): 1 to 15 characters, no '/', ':' or white space; a
    // leading '-' is refused too, so that no name can pass for an option of the tool.
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && /^(?!\.\.?$)(?!-)[^/:\s]{1,15}$/.test(v))) {
      throw new Error('must be a list of network device names such as eth0,ens5 (empty: every device that is up)');
    }
  },
});

export const schema = {
  sources: {
    doc: 'Sources in order of preference. For each metric family (bytes, packets, connections) the first usable source that measures it serves it.',
    format: 'source-list',
    default: [...DEFAULT_SOURCES],
    env: 'NETPROC_SOURCES',
    arg: 'sources',
  },
  interval: {
    doc: 'Collection interval. Exporters read the snapshot prepared by the last collection.',
    format: 'duration',
    default: '5s',
    env: 'NETPROC_INTERVAL',
    arg: 'interval',
  },
  maxProcesses: {
    doc: 'Processes exported individually, the busiest first; the rest are summed into one "[other]" series. 0 means no cap.',
    format: 'count',
    default: 500,
    env: 'NETPROC_MAX_PROCESSES',
    arg: 'max-processes',
  },
  procRoot: {
    doc: 'Where the host\'s procfs is mounted; /host/proc in a container that mounts it there.',
    format: String,
    default: '/proc',
    env: 'NETPROC_PROC_ROOT',
    arg: 'proc-root',
  },
  logLevel: {
    doc: 'Log level (logs are JSON lines on stderr).',
    format: [...LOG_LEVELS],
    default: 'info',
    env: 'NETPROC_LOG_LEVEL',
    arg: 'log-level',
  },
  nodeName: {
    doc: 'host.name on the resource; defaults to the hostname. Set it from the downward API (spec.nodeName) on Kubernetes.',
    format: String,
    default: '',
    env: 'NETPROC_NODE_NAME',
    arg: 'node-name',
  },
  instanceId: {
    doc: 'service.instance.id on the resource; defaults to host.name, which is unique per node.',
    format: String,
    default: '',
    env: 'NETPROC_INSTANCE_ID',
    arg: 'instance-id',
  },
  kubernetes: {
    containerLogs: {
      doc: 'The kubelet\'s /var/log/containers (read-only hostPath): its file names give k8s.pod.name, k8s.namespace.name and k8s.container.name for a container.id. Only names are read. Empty turns it off.',
      format: String,
      default: '/var/log/containers',
      env: 'NETPROC_KUBERNETES_CONTAINER_LOGS',
      arg: 'kubernetes-container-logs',
    },
  },
  prometheus: {
    enabled: {
      doc: 'Serve Prometheus metrics on /metrics (--no-prometheus turns it off).',
      format: Boolean,
      default: true,
      env: 'NETPROC_PROMETHEUS',
      arg: 'prometheus',
    },
    host: {
      doc: 'Address the metrics endpoint listens on.',
      format: String,
      default: '0.0.0.0',
      env: 'NETPROC_PROMETHEUS_HOST',
      arg: 'prometheus-host',
    },
    port: {
      doc: 'Port of the metrics endpoint (0 picks a free one and logs it).',
      format: 'tcp-port',
      default: 9464,
      env: 'NETPROC_PROMETHEUS_PORT',
      arg: 'prometheus-port',
    },
  },
  otlp: {
    enabled: {
      doc: 'Push metrics over OTLP/gRPC when an endpoint is set here or in OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT (--no-otlp turns it off).',
      format: Boolean,
      default: true,
      env: 'NETPROC_OTLP',
      arg: 'otlp',
    },
    endpoint: {
      doc: 'Collector endpoint. http://host:4317 is plaintext; host:4317 or https://host:4317 is TLS. Empty: OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, then OTEL_EXPORTER_OTLP_ENDPOINT.',
      format: 'otlp-endpoint',
      default: '',
      env: 'NETPROC_OTLP_ENDPOINT',
      arg: 'otlp-endpoint',
    },
    headers: {
      doc: 'gRPC metadata as key=value,key=value (e.g. an auth token). Empty: OTEL_EXPORTER_OTLP_(METRICS_)HEADERS.',
      format: String,
      default: '',
      env: 'NETPROC_OTLP_HEADERS',
      arg: 'otlp-headers',
    },
    compression: {
      doc: 'gzip or none. Empty: OTEL_EXPORTER_OTLP_(METRICS_)COMPRESSION, else none.',
      format: ['', 'none', 'gzip'],
      default: '',
      env: 'NETPROC_OTLP_COMPRESSION',
      arg: 'otlp-compression',
    },
    timeout: {
      doc: 'Deadline of one export. Empty: OTEL_EXPORTER_OTLP_(METRICS_)TIMEOUT (ms), else 10s.',
      format: 'optional-duration',
      default: '',
      env: 'NETPROC_OTLP_TIMEOUT',
      arg: 'otlp-timeout',
    },
    insecure: {
      doc: 'Plaintext to an endpoint given without a scheme. Also OTEL_EXPORTER_OTLP_INSECURE=true. TLS certificates: OTEL_EXPORTER_OTLP_CERTIFICATE, _CLIENT_KEY, _CLIENT_CERTIFICATE.',
      format: Boolean,
      default: false,
      env: 'NETPROC_OTLP_INSECURE',
      arg: 'otlp-insecure',
    },
    interval: {
      doc: 'Export interval. Empty: OTEL_METRIC_EXPORT_INTERVAL (ms), else 60s. Cumulative temporality: a missed export loses no counts.',
      format: 'optional-duration',
      default: '',
      env: 'NETPROC_OTLP_INTERVAL',
      arg: 'otlp-interval',
    },
  },
  ebpf: {
    bpftrace: {
      doc: 'The bpftrace program (Debian package bpftrace, 0.17 or later).',
      format: String,
      default: 'bpftrace',
      env: 'NETPROC_EBPF_BPFTRACE',
      arg: 'ebpf-bpftrace',
    },
    program: {
      doc: 'auto picks the sock tracepoints (Linux 6.3+) or else the kprobe program; tracepoint or kprobe forces one.',
      format: ['auto', 'tracepoint', 'kprobe'],
      default: 'auto',
      env: 'NETPROC_EBPF_PROGRAM',
      arg: 'ebpf-program',
    },
    mapKeys: {
      doc: 'Entries per BPF map, preallocated: must exceed the live TCP sockets doing I/O and 4x the processes active in one interval. Kernel memory grows with it (about 9 MB at 16384, 38 MB at 65536 on 2 CPUs). Overflow is counted as untracked_sockets errors.',
      format: 'count',
      default: DEFAULT_MAP_KEYS,
      env: 'NETPROC_EBPF_MAP_KEYS',
      arg: 'ebpf-map-keys',
    },
    mountTracefs: {
      doc: 'Mount tracefs at /sys/kernel/tracing when it is not mounted and the agent may (CAP_SYS_ADMIN).',
      format: Boolean,
      default: true,
      env: 'NETPROC_EBPF_MOUNT_TRACEFS',
      arg: 'ebpf-mount-tracefs',
    },
    startTimeout: {
      doc: 'How long bpftrace may take to compile and attach its probes before the start counts as failed.',
      format: 'duration',
      default: '60s',
      env: 'NETPROC_EBPF_START_TIMEOUT',
      arg: 'ebpf-start-timeout',
    },
  },
  procfs: {
    fdCacheMaxAge: {
      doc: 'The procfs source reads the links of a large fd table (128 fds or more) once, then each cycle only the links of fd numbers that are new; a table is read whole again when it is this old, when a socket turns up that no fd read so far holds, or when the process is a new one under the same PID. Bounds how long a closed fd number reused for a non-socket may leave the socket it held credited to the process (see docs/sources.md). Empty: read every link every cycle.',
      format: 'optional-duration',
      default: '60s',
      env: 'NETPROC_PROCFS_FD_CACHE_MAX_AGE',
      arg: 'procfs-fd-cache-max-age',
    },
  },
  ss: {
    path: {
      doc: 'The ss program (iproute2).',
      format: String,
      default: 'ss',
      env: 'NETPROC_SS_PATH',
      arg: 'ss-path',
    },
    timeout: {
      doc: 'How long one ss run may take before it counts as failed.',
      format: 'duration',
      default: '10s',
      env: 'NETPROC_SS_TIMEOUT',
      arg: 'ss-timeout',
    },
  },
  nethogs: {
    path: {
      doc: 'The nethogs program (Debian package nethogs; written for 0.8.7).',
      format: String,
      default: 'nethogs',
      env: 'NETPROC_NETHOGS_PATH',
      arg: 'nethogs-path',
    },
    devices: {
      doc: 'Network devices nethogs captures on, such as eth0,ens5. Empty: every device that is up and running, loopback excepted.',
      format: 'device-list',
      default: [] as string[],
      env: 'NETPROC_NETHOGS_DEVICES',
      arg: 'nethogs-devices',
    },
    loopback: {
      doc: 'Also capture on loopback and on devices that are down (nethogs -a). On loopback nethogs counts every packet as sent by the process that sent it, and nothing as received.',
      format: Boolean,
      default: false,
      env: 'NETPROC_NETHOGS_LOOPBACK',
      arg: 'nethogs-loopback',
    },
    udp: {
      doc: 'Also capture UDP (nethogs -C). UDP of connected sockets is added to the owning process under tcp; UDP of unconnected sockets goes to [kernel] under udp.',
      format: Boolean,
      default: false,
      env: 'NETPROC_NETHOGS_UDP',
      arg: 'nethogs-udp',
    },
    refresh: {
      doc: 'How often nethogs prints its totals (nethogs -d), rounded up to whole seconds; keep it at or below the collection interval.',
      format: 'duration',
      default: '1s',
      env: 'NETPROC_NETHOGS_REFRESH',
      arg: 'nethogs-refresh',
    },
    restartEvery: {
      doc: 'Restart nethogs this often: its memory grows with every connection-second it has seen. A restart loses the traffic of its start-up, well under a second.',
      format: 'duration',
      default: '10m',
      env: 'NETPROC_NETHOGS_RESTART_EVERY',
      arg: 'nethogs-restart-every',
    },
  },
  once: {
    duration: {
      doc: '`once`: how long to watch before printing.',
      format: 'duration',
      default: '5s',
      env: 'NETPROC_ONCE_DURATION',
      arg: 'duration',
    },
    format: {
      doc: '`once`: output format.',
      format: [...OUTPUT_FORMATS],
      default: 'table',
      env: 'NETPROC_ONCE_FORMAT',
      arg: 'format',
    },
  },
};

export type AgentConfig = {
  sources: string[];
  interval: string;
  maxProcesses: number;
  procRoot: string;
  logLevel: (typeof LOG_LEVELS)[number];
  nodeName: string;
  instanceId: string;
  kubernetes: { containerLogs: string };
  prometheus: { enabled: boolean; host: string; port: number };
  otlp: {
    enabled: boolean;
    endpoint: string;
    headers: string;
    compression: '' | 'none' | 'gzip';
    timeout: string;
    insecure: boolean;
    interval: string;
  };
  ebpf: { bpftrace: string; program: 'auto' | 'tracepoint' | 'kprobe'; mapKeys: number; mountTracefs: boolean; startTimeout: string };
  procfs: { fdCacheMaxAge: string };
  ss: { path: string; timeout: string };
  nethogs: { path: string; devices: string[]; loopback: boolean; udp: boolean; refresh: string; restartEvery: string };
  once: { duration: string; format: (typeof OUTPUT_FORMATS)[number] };
};
