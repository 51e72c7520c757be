// otel-collector/config.yaml: OTLP/gRPC in on 4317, memory_limiter first, Prometheus out on 8889 with
// names that are exactly the contract. No Collector binary exists here, so the config is checked as
// data. The names the configured translation strategy yields for what the agent pushes are tested in
// test/exporters/name-translation.test.ts (a port of the Collector's translator, fed by a real agent).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseDuration } from '../../src/config/duration.js';
import { REPO } from '../helpers/processes.js';
import { kustomizeBuild } from './kustomize.js';

interface CollectorConfig {
  extensions: Record<string, { endpoint?: string } | null>;
  receivers: Record<string, { protocols: { grpc?: { endpoint: string }; http?: unknown } }>;
  processors: Record<string, Record<string, unknown> | null>;
  exporters: Record<string, Record<string, unknown>>;
  service: { extensions: string[]; pipelines: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }> };
}

const config = parseYaml(readFileSync(join(REPO, 'otel-collector/config.yaml'), 'utf8')) as CollectorConfig;
const prometheus = config.exporters.prometheus!;

/** The agent config the DaemonSet ships, from the built base. */
function daemonSetAgentConfig(): { otlp: { interval: string } } {
  const objects = kustomizeBuild(join(REPO, 'deploy/kubernetes/base'));
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('netproc-agent-config-'))!;
  return parseYaml((cm.data as Record<string, string>)['agent.yaml']!) as { otlp: { interval: string } };
}

describe('Collector config: the pipeline', () => {
  it('receives OTLP over gRPC on 0.0.0.0:4317', () => {
    expect(config.receivers.otlp!.protocols.grpc!.endpoint).toBe('0.0.0.0:4317');
  });

  it('runs memory_limiter first, then batch, into the prometheus exporter', () => {
    const metrics = config.service.pipelines.metrics!;
    expect(metrics.receivers).toEqual(['otlp']);
    expect(metrics.processors[0]).toBe('memory_limiter');
    expect(metrics.processors).toContain('batch');
    expect(metrics.exporters).toEqual(['prometheus']);
    expect(config.processors.memory_limiter).toMatchObject({ check_interval: '1s' });
  });

  it('defines every component the service uses, and uses every component it defines', () => {
    const used = new Set(Object.values(config.service.pipelines).flatMap((p) => [...p.receivers, ...p.processors, ...p.exporters]));
    for (const e of config.service.extensions) used.add(e);
    const defined = [config.receivers, config.processors, config.exporters, config.extensions].flatMap((section) => Object.keys(section));
    expect([...used].sort()).toEqual([...defined].sort());
  });

  it('serves health_check on 13133', () => {
    expect(config.extensions.health_check!.endpoint).toBe('0.0.0.0:13133');
    expect(config.service.extensions).toContain('health_check');
  });
});

describe('Collector config: the prometheus exporter', () => {
  it('listens on 0.0.0.0:8889 without a namespace prefix, in the classic text format', () => {
    expect(prometheus.endpoint).toBe('0.0.0.0:8889');
    expect(prometheus.namespace).toBeUndefined();
    expect(prometheus.enable_open_metrics).toBe(false);
  });

  it('escapes to underscores and adds type and unit suffixes, and keeps resource attributes off the data points', () => {
    expect(prometheus.translation_strategy).toBe('UnderscoreEscapingWithSuffixes');
    expect(prometheus.add_metric_suffixes).toBeUndefined(); // deprecated, and ignored next to translation_strategy
    expect(prometheus.resource_to_telemetry_conversion).toBeUndefined(); // default: off
    expect(prometheus.const_labels).toBeUndefined();
  });

  it('expires the series of an exited process within a few minutes, but never a live one between two pushes', () => {
    const expiration = parseDuration(prometheus.metric_expiration as string)!;
    const push = parseDuration(daemonSetAgentConfig().otlp.interval)!;
    // Three missed pushes in a row still keep a live series; an exited PID is gone within 5 minutes.
    expect(expiration).toBeGreaterThanOrEqual(3 * push);
    expect(expiration).toBeLessThanOrEqual(5 * 60_000);
  });
});
