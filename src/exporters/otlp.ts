// OTLP/gRPC push to an OpenTelemetry Collector, with cumulative temporality: an export that fails
// loses nothing, because the next one carries the totals. The gRPC exporter neither retries nor
// buffers, so memory stays flat through a Collector outage; the outage is logged once and counted.
// Here: the settings; the exporter is otlp-exporter.ts, imported only when OTLP is on.
import { ConfigError } from '../config/load.js';
import type { AgentConfig } from '../config/schema.js';

const DEFAULT_INTERVAL_MS = 60_000;
const DEFAULT_TIMEOUT_MS = 10_000;

export interface OtlpSettings {
  url: string;
  intervalMs: number;
  timeoutMs: number;
  headers?: Record<string, string>;
  compression?: 'none' | 'gzip';
  insecure: boolean;
}

/** The OTLP settings from config and the standard OTEL_* variables; undefined when OTLP is off. */
export function resolveOtlp(config: AgentConfig, env: NodeJS.ProcessEnv): OtlpSettings | undefined {
  const { otlp } = config;
  const url = otlp.endpoint || env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || '';
  if (!otlp.enabled || url === '') return undefined;
  const settings: OtlpSettings = {
    url,
    intervalMs: otlp.interval ?? envMillis(env, 'OTEL_METRIC_EXPORT_INTERVAL') ?? DEFAULT_INTERVAL_MS,
    timeoutMs:
      otlp.timeout ??
      envMillis(env, 'OTEL_EXPORTER_OTLP_METRICS_TIMEOUT') ??
      envMillis(env, 'OTEL_EXPORTER_OTLP_TIMEOUT') ??
      DEFAULT_TIMEOUT_MS,
    insecure: otlp.insecure,
  };
  if (otlp.headers !== '') settings.headers = parseHeaders(otlp.headers);
  if (otlp.compression !== '') settings.compression = otlp.compression;
  return settings;
}

function envMillis(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) <= 0) throw new ConfigError(`${name}: must be a positive number of milliseconds: value was ${JSON.stringify(raw)}`);
  return Number(raw);
}

function parseHeaders(text: string): Record<string, string> {
  const key = 'otlp.headers (--otlp-headers, NETPROC_OTLP_HEADERS)';
  const headers: Record<string, string> = {};
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ConfigError(`${key}: must be key=value pairs separated by commas`);
    // decodeURIComponent throws a bare URIError on a stray '%', which would exit 1 without naming the key.
    // The message names the header, never its value: that is often a token.
    const name = pair.slice(0, eq).trim();
    try {
      headers[decodeURIComponent(name)] = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      throw new ConfigError(`${key}: header ${JSON.stringify(name)} is not valid percent-encoding (write % as %25)`);
    }
  }
  return headers;
}
