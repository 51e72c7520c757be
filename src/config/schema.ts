// Every configuration key: default, documentation, environment variable and flag. The agent's own
// keys are here; each source's keys come from its definition (src/sources/<name>/config.ts).
// docs/configuration.md is generated from this (npm run docs:config) and a test keeps them in sync.
import convict from 'convict';
import { parseDuration } from './duration.js';
import { AGGREGATION_MODES } from '../aggregation/grouping.js';
import { key, type ConfigOf, type Fragment } from './keys.js';
import type { SourceDefinition } from '../sources/definition.js';
import { SOURCES, type SourceFragments } from '../sources/registry.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const OUTPUT_FORMATS = ['table', 'json'] as const;

/** `a, b,,c` from an env var or flag -> ['a', 'b', 'c']. */
function commaList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Source names a `source-list` key accepts, by the name of its convict format. */
const sourceListFormats = new Set<string>();

/**
 * The convict format of a list of the given sources. convict's formats are global, so each set
 * of definitions gets its own, named after them.
 */
function sourceListFormat(names: readonly string[]): string {
  const name = `source-list(${names.join(',')})`;
  if (sourceListFormats.has(name)) return name;
  convict.addFormat({
    name,
    coerce: commaList,
    validate(value: unknown) {
      if (!Array.isArray(value) || value.length === 0) {
        throw new Error(`must be a non-empty list of sources from: ${names.join(', ')}`);
      }
      for (const source of value) {
        if (!names.includes(source)) {
          throw new Error(`unknown source ${JSON.stringify(source)}; accepted: ${names.join(', ')}`);
        }
      }
      if (new Set(value).size !== value.length) throw new Error('lists a source twice');
    },
  });
  sourceListFormats.add(name);
  return name;
}

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

/** Entries of a BPF map the eBPF engine allocates; its loader refuses sizes outside this range. */
export const MAP_SIZE_RANGE = [1024, 16_777_216] as const;

convict.addFormat({
  name: 'map-size',
  coerce: (value: string) => (/^\d+$/.test(value.trim()) ? Number(value) : value),
  validate(value: unknown) {
    const [min, max] = MAP_SIZE_RANGE;
    if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
      throw new Error(`must be a whole number from ${min} to ${max}`);
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

/** The agent's own keys; `sources` is completed by buildSchema. */
const agentKeys = {
  sources: key({
    doc: 'Sources in order of preference. For each metric family (bytes, packets, connections) the first usable source that measures it serves it.',
    format: 'source-list',
    default: [] as string[],
    env: 'NETPROC_SOURCES',
    arg: 'sources',
  }),
  interval: key({
    doc: 'Collection interval. Exporters read the snapshot prepared by the last collection.',
    format: 'duration',
    default: '5s',
    env: 'NETPROC_INTERVAL',
    arg: 'interval',
  }),
  reprobeInterval: key({
    doc: 'A source that cannot run at start (a tool missing, the eBPF engine not built) is probed again after this long, then at doubling intervals up to 8 times as long; once it can run, it serves the families it is preferred for.',
    format: 'duration',
    default: '1m',
    env: 'NETPROC_REPROBE_INTERVAL',
    arg: 'reprobe-interval',
  }),
  maxProcesses: key({
    doc: 'Processes exported individually, the busiest first; the rest are summed into one "[other]" series. 0 means no cap.',
    format: 'count',
    default: 500,
    env: 'NETPROC_MAX_PROCESSES',
    arg: 'max-processes',
  }),
  aggregateBy: key({
    doc: 'What one series counts: pid (each process), executable (processes of one executable name in one container), container, or pod. Modes other than pid drop process.pid; see docs/metrics.md for label sets and cardinality.',
    format: [...AGGREGATION_MODES],
    default: 'pid',
    env: 'NETPROC_AGGREGATE_BY',
    arg: 'aggregate-by',
  }),
  exitRetention: key({
    doc: 'How long a series whose processes have all exited stays exported, unchanged, before its totals fold into the "[other]" series (so sums over all series never fall). Keep it above the scrape interval; the default covers a 60s scrape with one scrape missed.',
    format: 'duration',
    default: '2m',
    env: 'NETPROC_EXIT_RETENTION',
    arg: 'exit-retention',
  }),
  procRoot: key({
    doc: 'Where the host\'s procfs is mounted; /host/proc in a container that mounts it there.',
    format: String,
    default: '/proc',
    env: 'NETPROC_PROC_ROOT',
    arg: 'proc-root',
  }),
  logLevel: key({
    doc: 'Log level (logs are JSON lines on stderr).',
    format: [...LOG_LEVELS],
    default: 'info',
    env: 'NETPROC_LOG_LEVEL',
    arg: 'log-level',
  }),
  nodeName: key({
    doc: 'host.name on the resource; defaults to the hostname. Set it from the downward API (spec.nodeName) on Kubernetes.',
    format: String,
    default: '',
    env: 'NETPROC_NODE_NAME',
    arg: 'node-name',
  }),
  instanceId: key({
    doc: 'service.instance.id on the resource; defaults to host.name, which is unique per node.',
    format: String,
    default: '',
    env: 'NETPROC_INSTANCE_ID',
    arg: 'instance-id',
  }),
  kubernetes: {
    containerLogs: key({
      doc: 'The kubelet\'s /var/log/containers (read-only hostPath): its file names give k8s.pod.name, k8s.namespace.name and k8s.container.name for a container.id. Only names are read. Empty turns it off.',
      format: String,
      default: '/var/log/containers',
      env: 'NETPROC_KUBERNETES_CONTAINER_LOGS',
      arg: 'kubernetes-container-logs',
    }),
  },
  prometheus: {
    enabled: key({
      doc: 'Serve Prometheus metrics on /metrics (--no-prometheus turns it off).',
      format: Boolean,
      default: true,
      env: 'NETPROC_PROMETHEUS',
      arg: 'prometheus',
    }),
    host: key({
      doc: 'Address the metrics endpoint listens on.',
      format: String,
      default: '0.0.0.0',
      env: 'NETPROC_PROMETHEUS_HOST',
      arg: 'prometheus-host',
    }),
    port: key({
      doc: 'Port of the metrics endpoint (0 picks a free one and logs it).',
      format: 'tcp-port',
      default: 9464,
      env: 'NETPROC_PROMETHEUS_PORT',
      arg: 'prometheus-port',
    }),
    maxConnections: key({
      doc: 'Most connections the metrics endpoint holds open at once; more are closed on arrival (0: no limit).',
      format: 'count',
      default: 64,
      env: 'NETPROC_PROMETHEUS_MAX_CONNECTIONS',
      arg: 'prometheus-max-connections',
    }),
    maxConnectionsPerAddress: key({
      doc: 'Most connections one client address holds open at once, so one client cannot take every slot (0: no limit).',
      format: 'count',
      default: 8,
      env: 'NETPROC_PROMETHEUS_MAX_CONNECTIONS_PER_ADDRESS',
      arg: 'prometheus-max-connections-per-address',
    }),
    headerTimeout: key({
      doc: 'Time a client has to send its request headers (and a TLS client to finish its handshake); a slower client is disconnected.',
      format: 'duration',
      default: '5s',
      env: 'NETPROC_PROMETHEUS_HEADER_TIMEOUT',
      arg: 'prometheus-header-timeout',
    }),
    tls: {
      certFile: key({
        doc: 'PEM certificate (chain) for serving the endpoint over HTTPS; with tls.keyFile. Reloaded when the file changes. Empty: plain HTTP.',
        format: String,
        default: '',
        env: 'NETPROC_PROMETHEUS_TLS_CERT_FILE',
        arg: 'prometheus-tls-cert-file',
      }),
      keyFile: key({
        doc: 'PEM private key of tls.certFile.',
        format: String,
        default: '',
        env: 'NETPROC_PROMETHEUS_TLS_KEY_FILE',
        arg: 'prometheus-tls-key-file',
      }),
      clientCaFile: key({
        doc: 'PEM CA bundle: when set, clients must present a certificate it signed (mutual TLS). Empty: no client certificate asked.',
        format: String,
        default: '',
        env: 'NETPROC_PROMETHEUS_TLS_CLIENT_CA_FILE',
        arg: 'prometheus-tls-client-ca-file',
      }),
    },
  },
  otlp: {
    enabled: key({
      doc: 'Push metrics over OTLP/gRPC when an endpoint is set here or in OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT (--no-otlp turns it off).',
      format: Boolean,
      default: true,
      env: 'NETPROC_OTLP',
      arg: 'otlp',
    }),
    endpoint: key({
      doc: 'Collector endpoint. http://host:4317 is plaintext; host:4317 or https://host:4317 is TLS. Empty: OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, then OTEL_EXPORTER_OTLP_ENDPOINT.',
      format: 'otlp-endpoint',
      default: '',
      env: 'NETPROC_OTLP_ENDPOINT',
      arg: 'otlp-endpoint',
    }),
    headers: key({
      doc: 'gRPC metadata as key=value,key=value (e.g. an auth token). Empty: OTEL_EXPORTER_OTLP_(METRICS_)HEADERS.',
      format: String,
      default: '',
      env: 'NETPROC_OTLP_HEADERS',
      arg: 'otlp-headers',
    }),
    compression: key({
      doc: 'gzip or none. Empty: OTEL_EXPORTER_OTLP_(METRICS_)COMPRESSION, else none.',
      format: ['', 'none', 'gzip'],
      default: '',
      env: 'NETPROC_OTLP_COMPRESSION',
      arg: 'otlp-compression',
    }),
    timeout: key({
      doc: 'Deadline of one export. Empty: OTEL_EXPORTER_OTLP_(METRICS_)TIMEOUT (ms), else 10s.',
      format: 'optional-duration',
      default: '',
      env: 'NETPROC_OTLP_TIMEOUT',
      arg: 'otlp-timeout',
    }),
    insecure: key({
      doc: 'Plaintext to an endpoint given without a scheme. Also OTEL_EXPORTER_OTLP_INSECURE=true. TLS certificates: OTEL_EXPORTER_OTLP_CERTIFICATE, _CLIENT_KEY, _CLIENT_CERTIFICATE.',
      format: Boolean,
      default: false,
      env: 'NETPROC_OTLP_INSECURE',
      arg: 'otlp-insecure',
    }),
    interval: key({
      doc: 'Export interval. Empty: OTEL_METRIC_EXPORT_INTERVAL (ms), else 60s. Cumulative temporality: a missed export loses no counts.',
      format: 'optional-duration',
      default: '',
      env: 'NETPROC_OTLP_INTERVAL',
      arg: 'otlp-interval',
    }),
  },
  once: {
    duration: key({
      doc: '`once`: how long to watch before printing.',
      format: 'duration',
      default: '5s',
      env: 'NETPROC_ONCE_DURATION',
      arg: 'duration',
    }),
    format: key({
      doc: '`once`: output format.',
      format: [...OUTPUT_FORMATS],
      default: 'table',
      env: 'NETPROC_ONCE_FORMAT',
      arg: 'format',
    }),
  },
};

/** The whole schema for a set of source definitions: the agent's keys, then each source's under its name. */
export function buildSchema(definitions: readonly SourceDefinition[]): Fragment {
  const names = definitions.map((d) => d.name);
  const sources = key({
    ...agentKeys.sources,
    default: definitions.filter((d) => d.defaultOn).map((d) => d.name),
  });
  const schema: Fragment = { ...agentKeys, sources };
  for (const definition of definitions) {
    if (definition.name in agentKeys) throw new Error(`source ${definition.name} would hide the key of the same name`);
    schema[definition.name] = definition.config;
  }
  // Validated by a format that knows these names; the key's own format stays 'source-list'.
  sourceListFormat(names);
  return schema;
}

/** The schema of the registered sources. */
export const schema = buildSchema(SOURCES) as typeof agentKeys & SourceFragments;

/** The loaded configuration: durations in milliseconds, lists as arrays. */
export type AgentConfig = ConfigOf<typeof agentKeys> & ConfigOf<SourceFragments>;

/** The convict format that checks `sources` against these definitions. */
export function sourcesFormat(definitions: readonly SourceDefinition[]): string {
  return sourceListFormat(definitions.map((d) => d.name));
}
