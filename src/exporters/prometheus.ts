// The local Prometheus endpoint: /metrics from the OTel Prometheus exporter, plus /healthz and /readyz.
// A scrape reads the prepared snapshot only; it never triggers a collection.
//
// It is reachable by anything that can reach the node, so it is locked down like Prometheus' own
// exporter-toolkit: GET and HEAD only, three paths, bounded request headers, a bounded number of
// connections (and of connections from one address, so one client cannot take every slot), slow
// clients cut off (a slowloris client that trickles its headers is closed after headerTimeout), and
// optional TLS, with client certificates required when a client CA is configured (mTLS).
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import type { MetricProducer } from '@opentelemetry/sdk-metrics';
import type { Logger } from 'pino';
import { ConfigError } from '../config/load.js';
import type { AgentConfig } from '../config/schema.js';

/** Request line and headers together; a scrape sends a few hundred bytes. Larger: 431. */
export const MAX_HEADER_BYTES = 8192;
/** How often Node checks headerTimeout on open connections (its default, 30 s, would let a slow client stay 30 s longer). */
const TIMEOUT_CHECK_MS = 1000;
/** Prometheus keeps one connection per target open between scrapes (intervals up to a minute). */
const KEEP_ALIVE_MS = 65_000;
/** How often a changed certificate or key is picked up (Prometheus' toolkit reads them per handshake). */
const TLS_RELOAD_CHECK_MS = 5000;

export interface Readiness {
  /** Undefined when ready; otherwise why not. */
  notReadyReason(): string | undefined;
}

/** The endpoint's limits and TLS, read and checked before anything starts. */
export interface EndpointSettings {
  host: string;
  port: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  headerTimeoutMs: number;
  tls?: TlsFiles;
}

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** Set: clients must present a certificate signed by this CA. */
  clientCaFile?: string;
}

export function createPrometheusReader(producer: MetricProducer): PrometheusExporter {
  return new PrometheusExporter({ preventServerStart: true, metricProducers: [producer] });
}

/** The endpoint settings from the config; throws ConfigError (naming the key) for TLS files that cannot be used. */
export function resolveEndpoint(config: AgentConfig): EndpointSettings {
  const { host, port, maxConnections, maxConnectionsPerAddress, headerTimeout, tls } = config.prometheus;
  const settings: EndpointSettings = {
    host,
    port,
    // 0 in the config: no limit.
    maxConnections: maxConnections || Number.POSITIVE_INFINITY,
    maxConnectionsPerAddress: maxConnectionsPerAddress || Number.POSITIVE_INFINITY,
    headerTimeoutMs: headerTimeout,
  };
  if (tls.certFile === '' && tls.keyFile === '' && tls.clientCaFile === '') return settings;
  if (tls.certFile === '' || tls.keyFile === '') {
    const missing = tls.certFile === '' ? 'prometheus.tls.certFile' : 'prometheus.tls.keyFile';
    throw new ConfigError(`${missing}: TLS needs both a certificate and a key file (prometheus.tls.certFile and prometheus.tls.keyFile)`);
  }
  const files: TlsFiles = { certFile: tls.certFile, keyFile: tls.keyFile };
  if (tls.clientCaFile !== '') files.clientCaFile = tls.clientCaFile;
  secureContextOptions(files); // reads and checks them now, so a bad file stops the agent with exit 2
  return { ...settings, tls: files };
}

// node:tls and node:https are loaded only where TLS is configured: an agent serving plain HTTP
// would spend about 4 MB of RSS on them for nothing.
const tlsModule = () => process.getBuiltinModule('node:tls');
const httpsModule = () => process.getBuiltinModule('node:https');

/** Reads the TLS files and checks that they form a usable context; ConfigError names the key at fault. */
function secureContextOptions(files: TlsFiles): SecureContextOptions {
  const read = (key: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(`${key}: cannot read ${JSON.stringify(path)} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  };
  const options: SecureContextOptions = {
    cert: read('prometheus.tls.certFile', files.certFile),
    key: read('prometheus.tls.keyFile', files.keyFile),
    minVersion: 'TLSv1.2',
  };
  if (files.clientCaFile) options.ca = read('prometheus.tls.clientCaFile', files.clientCaFile);
  try {
    tlsModule().createSecureContext(options);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError(`prometheus.tls: the certificate, key or client CA cannot be used (${reason})`);
  }
  return options;
}

export interface MetricsServer {
  server: Server;
  port: number;
  /** http or https. */
  scheme: string;
  close(): Promise<void>;
}

export async function startMetricsServer(
  exporter: PrometheusExporter,
  readiness: Readiness,
  settings: EndpointSettings,
  logger?: Logger,
): Promise<MetricsServer> {
  const handler = (request: IncomingMessage, response: ServerResponse): void => {
    const path = (request.url ?? '/').split('?', 1)[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      exporter.getMetricsRequestHandler(request, response);
    } else if (path === '/healthz') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const reason = readiness.notReadyReason();
      response.writeHead(reason ? 503 : 200, { 'content-type': 'text/plain' }).end(reason ? `${reason}\n` : 'ready\n');
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('see /metrics\n');
    }
  };
  const limits = {
    maxHeaderSize: MAX_HEADER_BYTES,
    headersTimeout: settings.headerTimeoutMs,
    // No request has a body; the whole request gets as long as its headers plus a margin.
    requestTimeout: settings.headerTimeoutMs + 1000,
    connectionsCheckingInterval: TIMEOUT_CHECK_MS,
    keepAliveTimeout: KEEP_ALIVE_MS,
  };
  const { tls } = settings;
  const server: Server = tls
    ? httpsModule().createServer(
        {
          ...limits,
          ...secureContextOptions(tls),
          requestCert: tls.clientCaFile !== undefined,
          rejectUnauthorized: tls.clientCaFile !== undefined,
          // A client that opens a connection and never completes the handshake.
          handshakeTimeout: settings.headerTimeoutMs,
        },
        handler,
      )
    : createHttpServer(limits, handler);
  server.maxConnections = settings.maxConnections;
  limitPerAddress(server, settings.maxConnectionsPerAddress);
  const stopReload = tls ? reloadOnChange(server, tls, logger) : () => undefined;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    scheme: tls ? 'https' : 'http',
    close: () =>
      new Promise((resolve) => {
        stopReload();
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

/**
 * Closes a new connection at once when its address already holds `max`: a client that opens
 * slow connections in bulk fills only its own share of maxConnections.
 */
function limitPerAddress(server: Server, max: number): void {
  const open = new Map<string, number>();
  // TLS servers report the raw TCP connection here too, before the handshake.
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const count = open.get(address) ?? 0;
    if (count >= max) {
      socket.destroy();
      return;
    }
    open.set(address, count + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
  });
}

/** Serves a renewed certificate or key without a restart; a broken renewal keeps the old one and is logged. */
function reloadOnChange(server: Server, files: TlsFiles, logger: Logger | undefined): () => void {
  const paths = [files.certFile, files.keyFile, files.clientCaFile].filter((p): p is string => p !== undefined);
  const reload = (): void => {
    try {
      (server as unknown as { setSecureContext(options: SecureContextOptions): void }).setSecureContext(secureContextOptions(files));
      logger?.info({ certFile: files.certFile }, 'prometheus endpoint: TLS certificate reloaded');
    } catch (err) {
      logger?.warn({ err: err instanceof Error ? err.message : String(err) }, 'prometheus endpoint: TLS files changed but cannot be used; serving the previous ones');
    }
  };
  for (const path of paths) watchFile(path, { interval: TLS_RELOAD_CHECK_MS, persistent: false }, reload);
  return () => {
    for (const path of paths) unwatchFile(path, reload);
  };
}
