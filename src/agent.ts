// Wires the data flow: sources -> aggregation -> collector snapshot -> instruments -> exporters.
import type { Logger } from 'pino';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { Aggregator } from './aggregation/aggregator.js';
import { Collector } from './collection/collector.js';
import { ConfigError } from './config/load.js';
import type { AgentConfig } from './config/schema.js';
import { readPrivileges } from './host/capabilities.js';
import { hostIO, killRunningChildren } from './host/io.js';
import { PodIndex } from './host/kubernetes.js';
import { ProcessResolver } from './host/processes.js';
import { SnapshotProducer } from './instruments/producer.js';
import { registerSelfMetrics } from './instruments/self-metrics.js';
import { resolveOtlp } from './exporters/otlp.js';
import { ExportHealth } from './instruments/export-health.js';
import { createPrometheusReader, resolveEndpoint, startMetricsServer, type MetricsServer } from './exporters/prometheus.js';
import { agentResource } from './exporters/resource.js';
import type { HostIO } from './host/types.js';
import { createSources } from './sources/definition.js';
import { SOURCES } from './sources/registry.js';
import type { Source } from './sources/types.js';
import { VERSION } from './version.js';
import { INSTRUMENTATION_SCOPE } from './semconv.js';

/** Exited processes stay in the process table this many cycles, so their last increments are credited. */
const RETAIN_CYCLES = 2;

export interface Core {
  sources: Source[];
  collector: Collector;
}

/** Sources, aggregation and the collector, probed and ready for cycles. */
export async function buildCore(config: AgentConfig, logger: Logger, io: HostIO = hostIO): Promise<Core> {
  const privileges = await readPrivileges(io, config.procRoot);
  const sources = await createSources(config.sources, SOURCES, config, { io, privileges, logger });
  const resolver = await ProcessResolver.create(io, config.procRoot);
  const aggregator = new Aggregator(resolver, {
    retainCycles: RETAIN_CYCLES,
    aggregateBy: config.aggregateBy,
    exitRetentionMs: config.exitRetention,
    maxProcesses: config.maxProcesses,
    startTimeMs: io.now(),
    now: io.now,
    pods: new PodIndex(io, config.kubernetes.containerLogs),
  });
  const collector = new Collector(sources, aggregator, { intervalMs: config.interval, reprobeMs: config.reprobeInterval, logger, now: io.now });
  await collector.init();
  return { sources, collector };
}

export interface RunningAgent {
  core: Core;
  metrics?: MetricsServer;
  stop(): Promise<void>;
}

/** Bounds the final export on shutdown when the Collector does not answer. */
const SHUTDOWN_TIMEOUT_MS = 5000;

export async function startAgent(config: AgentConfig, logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<RunningAgent> {
  // Both may throw ConfigError: before anything starts.
  const otlp = resolveOtlp(config, env);
  const endpoint = config.prometheus.enabled ? resolveEndpoint(config) : undefined;
  const core = await buildCore(config, logger);
  const { collector, sources } = core;
  const producer = new SnapshotProducer(() => collector.snapshot, VERSION);
  const exportHealth = new ExportHealth();
  const readers = [];
  const prometheus = config.prometheus.enabled ? createPrometheusReader(producer) : undefined;
  if (prometheus) readers.push(prometheus);
  if (otlp) {
    const { createOtlpReader } = await import('./exporters/otlp-exporter.js');
    readers.push(createOtlpReader(otlp, producer, exportHealth, logger));
    logger.info({ endpoint: otlp.url, intervalMs: otlp.intervalMs }, 'OTLP export enabled');
  }
  const meterProvider = new MeterProvider({ resource: agentResource(config), readers });
  registerSelfMetrics(meterProvider.getMeter(INSTRUMENTATION_SCOPE, VERSION), collector, sources, otlp ? exportHealth : undefined);

  let metrics: MetricsServer | undefined;
  if (prometheus && endpoint) {
    const { host, port } = endpoint;
    try {
      metrics = await startMetricsServer(prometheus, { notReadyReason: () => collector.notReadyReason() }, endpoint, logger);
    } catch (err) {
      await collector.stop();
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new ConfigError(`prometheus.port: cannot listen on ${host}:${port} (${code})`);
    }
    logger.info({ url: `${metrics.scheme}://${host}:${metrics.port}/metrics` }, 'prometheus endpoint listening');
  }
  collector.start();

  const running: RunningAgent = {
    core,
    async stop() {
      await collector.stop();
      killRunningChildren();
      await metrics?.close();
      // Flushes a final OTLP export with the last snapshot. The SDK's own timeout does not cut an
      // export already in flight to a hung Collector (it waits for the export's timeout), so bound it here.
      let bounded: NodeJS.Timeout | undefined;
      await Promise.race([
        meterProvider.shutdown({ timeoutMillis: SHUTDOWN_TIMEOUT_MS }).catch(() => undefined),
        new Promise<void>((resolve) => (bounded = setTimeout(resolve, SHUTDOWN_TIMEOUT_MS))),
      ]);
      clearTimeout(bounded);
    },
  };
  if (metrics) running.metrics = metrics;
  return running;
}
