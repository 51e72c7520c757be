// The local Prometheus endpoint: /metrics from the OTel Prometheus exporter, plus /healthz and /readyz.
// A scrape reads the prepared snapshot only; it never triggers a collection.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import type { MetricProducer } from '@opentelemetry/sdk-metrics';

export interface Readiness {
  /** Undefined when ready; otherwise why not. */
  notReadyReason(): string | undefined;
}

export function createPrometheusReader(producer: MetricProducer): PrometheusExporter {
  return new PrometheusExporter({ preventServerStart: true, metricProducers: [producer] });
}

export interface MetricsServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(
  exporter: PrometheusExporter,
  readiness: Readiness,
  host: string,
  port: number,
): Promise<MetricsServer> {
  const server = createServer((request, response) => {
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
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
