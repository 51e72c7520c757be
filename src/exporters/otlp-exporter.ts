// The OTLP/gRPC exporter itself (see otlp.ts for the settings). Its own module, imported only when
// OTLP is on: @grpc/grpc-js and the protobuf encoders it brings cost about 8 MB of the agent's RSS.
import { Metadata, credentials } from '@grpc/grpc-js';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import {
  AggregationTemporality,
  PeriodicExportingMetricReader,
  type MetricProducer,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import type { Logger } from 'pino';
import type { ExportHealth } from '../instruments/export-health.js';
import type { OtlpSettings } from './otlp.js';

export function createOtlpReader(
  settings: OtlpSettings,
  producer: MetricProducer,
  health: ExportHealth,
  logger: Logger,
): PeriodicExportingMetricReader {
  const options: ConstructorParameters<typeof OTLPMetricExporter>[0] = {
    url: settings.url,
    timeoutMillis: settings.timeoutMs,
    temporalityPreference: AggregationTemporality.CUMULATIVE,
  };
  if (settings.headers) {
    const metadata = new Metadata();
    for (const [k, v] of Object.entries(settings.headers)) metadata.set(k, v);
    options.metadata = metadata;
  }
  if (settings.compression) {
    options.compression = settings.compression === 'gzip' ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE;
  }
  // A scheme always decides (http:// plaintext, https:// TLS); without one, TLS unless insecure.
  if (settings.insecure && !/^https?:\/\//.test(settings.url)) options.credentials = credentials.createInsecure();
  const exporter = new ObservedExporter(new OTLPMetricExporter(options), health, logger, settings.url);
  return new PeriodicExportingMetricReader({
    exporter,
    exportIntervalMillis: settings.intervalMs,
    exportTimeoutMillis: Math.min(settings.timeoutMs, settings.intervalMs),
    metricProducers: [producer],
  });
}

/** Counts export outcomes and logs an outage once, and its end once. */
class ObservedExporter implements PushMetricExporter {
  constructor(
    private readonly inner: OTLPMetricExporter,
    private readonly health: ExportHealth,
    private readonly logger: Logger,
    private readonly url: string,
  ) {}

  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    this.inner.export(metrics, (result) => {
      if (result.code === ExportResultCode.SUCCESS) {
        this.health.successes++;
        if (this.health.failing) this.logger.info({ endpoint: this.url }, 'OTLP export recovered');
        this.health.failing = false;
      } else {
        this.health.failures++;
        if (!this.health.failing) {
          this.logger.warn(
            { endpoint: this.url, err: result.error?.message },
            'OTLP export failing; collection and /metrics go on, and totals catch up when the Collector is back',
          );
        }
        this.health.failing = true;
      }
      done(result);
    });
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  selectAggregationTemporality(): AggregationTemporality {
    return AggregationTemporality.CUMULATIVE;
  }
}
