// The contract's Prometheus names must come out the same on both paths: the agent's own /metrics (the JS
// Prometheus exporter) and OTLP -> Collector -> Prometheus. The Collector cannot run here, so its translation
// is implemented below, rule for rule, for the strategy the shipped Collector config uses: otelcol-contrib's
// `prometheus` exporter with its defaults (add_metric_suffixes: true, i.e. translation_strategy
// UnderscoreEscapingWithSuffixes), checked against the upstream test table, then applied to what a real
// agent pushes over OTLP.
//
// Sources (read for this test; the Collector's own code is Go):
// - open-telemetry/opentelemetry-collector-contrib exporter/prometheusexporter/README.md (add_metric_suffixes
//   defaults to true; translation_strategy UnderscoreEscapingWithSuffixes "fully escapes metric names ...
//   and includes appending type and unit suffixes") and collector.go: the name is
//   otlptranslator.MetricNamer{WithMetricSuffixes: true, UTF8Allowed: false}.Build(
//   prometheusremotewrite.TranslatorMetricFromOtelMetric(metric)); a monotonic sum is a Prometheus counter,
//   a non-monotonic sum a gauge; labels are otlptranslator.LabelNamer.Build(key) plus otel_scope_name,
//   otel_scope_version, otel_scope_schema_url, and job/instance from service.name/service.instance.id.
// - prometheus/otlptranslator metric_namer.go (normalizeName, addUnitTokens, unitMap, perUnitMap),
//   unit_namer.go (buildUnitSuffixes, cleanUpUnit), label_namer.go and strconv.go (sanitizeLabelName).
//   These descend from opentelemetry-collector-contrib pkg/translator/prometheus normalize_name.go, whose
//   rules they keep: split the name on anything outside [a-zA-Z0-9:], append the mapped unit (By -> bytes)
//   unless the name already has that token, drop units with {braces}, `_total` for monotonic counters only,
//   `_ratio` for gauges of unit "1".
// - The JS side: @opentelemetry/exporter-prometheus 0.223.0 build/src/PrometheusSerializer.js
//   (sanitizePrometheusMetricName, enforcePrometheusNamingConvention): no unit suffix, `_total` for
//   monotonic sums, otel_scope_name/otel_scope_version labels.
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, startAgent, type AgentUnderTest } from '../helpers/agent.js';
import { startOtlpReceiver, type Metric as OtlpMetric, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { killAll, peer } from '../helpers/processes.js';
import { parsePrometheusText } from '../helpers/prometheus-text.js';
import { missing } from '../helpers/requirements.js';
import { ATTR, METRICS } from '../../src/semconv.js';

/** otlptranslator.MetricType, as TranslatorMetricFromOtelMetric assigns it. */
type TranslatorType = 'gauge' | 'monotonic_counter' | 'non_monotonic_counter' | 'histogram' | 'summary' | 'unknown';

interface NamedMetric {
  name: string;
  unit: string;
  type: TranslatorType;
}

// metric_namer.go unitMap and perUnitMap.
const UNIT_MAP: Record<string, string> = {
  d: 'days', h: 'hours', min: 'minutes', s: 'seconds', ms: 'milliseconds', us: 'microseconds', ns: 'nanoseconds',
  By: 'bytes', KiBy: 'kibibytes', MiBy: 'mebibytes', GiBy: 'gibibytes', TiBy: 'tibibytes',
  KBy: 'kilobytes', MBy: 'megabytes', GBy: 'gigabytes', TBy: 'terabytes',
  m: 'meters', V: 'volts', A: 'amperes', J: 'joules', W: 'watts', g: 'grams',
  Cel: 'celsius', Hz: 'hertz', '1': '', '%': 'percent',
};
const PER_UNIT_MAP: Record<string, string> = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week', mo: 'month', y: 'year' };

/** unit_namer.go buildUnitSuffixes: main and "per_" units, before cleanup; units with braces are dropped. */
function buildUnitSuffixes(unit: string): [string, string] {
  const slash = unit.indexOf('/');
  const parts = slash < 0 ? [unit] : [unit.slice(0, slash), unit.slice(slash + 1)];
  let main = '';
  let per = '';
  const mainOtel = parts[0]!.trim();
  if (mainOtel !== '' && !/[{}]/.test(mainOtel)) main = UNIT_MAP[mainOtel] ?? mainOtel;
  if (parts.length > 1 && parts[1] !== '') {
    const perOtel = parts[1]!.trim();
    if (perOtel !== '' && !/[{}]/.test(perOtel)) per = PER_UNIT_MAP[perOtel] ?? perOtel;
    if (per !== '') per = `per_${per}`;
  }
  return [main, per];
}

/** unit_namer.go cleanUpUnit: invalid characters to "_", runs of "_" to one, no leading "_". */
function cleanUpUnit(unit: string): string {
  return unit.replace(/[^a-zA-Z0-9:]/g, '_').replace(/__+/g, '_').replace(/^_/, '');
}

/** The Collector's metric name (otlptranslator MetricNamer, WithMetricSuffixes, not UTF-8). */
function collectorMetricName({ name, unit, type }: NamedMetric, namespace = ''): string {
  let tokens = name.split(/[^a-zA-Z0-9:]/).filter((t) => t !== '');
  const [mainRaw, perRaw] = buildUnitSuffixes(unit);
  let main = cleanUpUnit(mainRaw);
  let per = cleanUpUnit(perRaw);
  // addUnitTokens: no unit the name already has as a token.
  if (tokens.includes(main)) main = '';
  if (per === 'per_') per = '';
  else {
    per = per.replace(/_$/, '');
    if (tokens.includes(per)) per = '';
  }
  if (per !== '') main = main.replace(/_$/, '');
  if (main !== '') tokens.push(main);
  if (per !== '') tokens.push(per);
  if (type === 'monotonic_counter') tokens = [...tokens.filter((t) => t !== 'total'), 'total'];
  if (unit === '1' && type === 'gauge') tokens = [...tokens.filter((t) => t !== 'ratio'), 'ratio'];
  if (namespace !== '') tokens.unshift(namespace);
  let normalized = tokens.join('_');
  if (/^[0-9]/.test(normalized)) normalized = `_${normalized}`;
  return normalized;
}

/** The Collector's label name (otlptranslator LabelNamer, not UTF-8). */
function collectorLabelName(key: string): string {
  if (key === '') return key;
  const label = key.replace(/[^a-zA-Z0-9_]/g, '_');
  if (/^[0-9]/.test(label)) return `key_${label}`;
  if (label.startsWith('_') && !label.startsWith('__')) return `key${label}`;
  return label;
}

/** The JS exporter's metric name (exporter-prometheus 0.223.0). */
function jsExporterMetricName({ name, type }: NamedMetric): string {
  let sanitized = name.replace(/[^a-z0-9_]/gi, '_').replace(/_{2,}/g, '_');
  if (/^[0-9]/.test(sanitized)) sanitized = `_${sanitized}`;
  return type === 'monotonic_counter' && !sanitized.endsWith('_total') ? `${sanitized}_total` : sanitized;
}

function jsExporterLabelName(key: string): string {
  return key.replace(/[^a-z0-9_]/gi, '_').replace(/_{2,}/g, '_');
}

/** prometheusremotewrite.TranslatorMetricFromOtelMetric, on a metric as the receiver decoded it. */
function translatorType(metric: OtlpMetric): TranslatorType {
  if (metric.kind === 'gauge') return 'gauge';
  if (metric.kind === 'sum') return metric.isMonotonic ? 'monotonic_counter' : 'non_monotonic_counter';
  return 'unknown';
}

/** The Prometheus type the Collector exposes (collector.go convertSum / convertGauge). */
function collectorPromType(metric: OtlpMetric): string {
  return translatorType(metric) === 'monotonic_counter' ? 'counter' : 'gauge';
}

// From prometheus/otlptranslator metric_namer_test.go (UTF8Allowed false, WithMetricSuffixes true), and
// label_namer.go's documented examples: the implementation above must reproduce them before it is trusted.
const UPSTREAM_NAME_CASES: Array<[NamedMetric, string, string?]> = [
  [{ name: 'requests', unit: '', type: 'monotonic_counter' }, 'requests_total'],
  [{ name: 'cpu_usage', unit: '1', type: 'gauge' }, 'cpu_usage_ratio'],
  [{ name: 'items', unit: '1', type: 'monotonic_counter' }, 'items_total'],
  [{ name: 'response_time', unit: 'ms', type: 'gauge' }, 'response_time_milliseconds'],
  [{ name: 'memory_usage', unit: 'By', type: 'gauge' }, 'memory_usage_bytes'],
  [{ name: 'requests', unit: '1/s', type: 'gauge' }, 'requests_per_second'],
  [{ name: 'throughput', unit: 'By/s', type: 'gauge' }, 'throughput_bytes_per_second'],
  [{ name: 'custom_metric', unit: 'custom_unit', type: 'gauge' }, 'custom_metric_custom_unit'],
  [{ name: 'custom_metric', unit: '{custom}', type: 'gauge' }, 'custom_metric'],
  [{ name: 'custom_metric', unit: 'By/{custom}', type: 'gauge' }, 'custom_metric_bytes'],
  [{ name: 'requests_total', unit: '', type: 'monotonic_counter' }, 'requests_total'],
  [{ name: 'cpu_usage_ratio', unit: '1', type: 'gauge' }, 'cpu_usage_ratio'],
  [{ name: 'response_time_seconds', unit: 's', type: 'gauge' }, 'response_time_seconds'],
  [{ name: 'requests', unit: '1/s', type: 'monotonic_counter' }, 'app_requests_per_second_total', 'app'],
  [{ name: '123_requests', unit: '', type: 'monotonic_counter' }, 'app_123_requests_total', 'app'],
  [{ name: 'metric__with__multiple__underscores', unit: 'unit__multiple__underscores', type: 'gauge' }, 'metric_with_multiple_underscores_unit_multiple_underscores'],
  [{ name: 'custom_metric', unit: 'unit@with#special/chars', type: 'gauge' }, 'custom_metric_unit_with_special_per_chars'],
  [{ name: 'request_duration', unit: 's', type: 'histogram' }, 'request_duration_seconds'],
  [{ name: 'active_connections', unit: '', type: 'non_monotonic_counter' }, 'active_connections'],
  [{ name: 'metric@with#special$chars', unit: '', type: 'gauge' }, 'metric_with_special_chars'],
];
const UPSTREAM_LABEL_CASES: Array<[string, string]> = [
  ['http.method', 'http_method'],
  ['123invalid', 'key_123invalid'],
  ['__reserved__', '__reserved__'],
  ['_private', 'key_private'],
];

describe('the Collector\'s name translation, as implemented in this test', () => {
  it.each(UPSTREAM_NAME_CASES)('%o -> %s (upstream test table)', (metric, expected, namespace) => {
    expect(collectorMetricName(metric, namespace)).toBe(expected);
  });

  it.each(UPSTREAM_LABEL_CASES)('label %s -> %s', (key, expected) => {
    expect(collectorLabelName(key)).toBe(expected);
  });
});

describe('the contract names, on paper', () => {
  const typeOf = (kind: string): TranslatorType =>
    kind === 'counter' ? 'monotonic_counter' : kind === 'updowncounter' ? 'non_monotonic_counter' : 'gauge';

  it.each(Object.values(METRICS))('$name ($unit, $kind) is $prometheusName on both paths', (spec) => {
    const metric = { name: spec.name, unit: spec.unit, type: typeOf(spec.kind) };
    expect(collectorMetricName(metric)).toBe(spec.prometheusName);
    expect(jsExporterMetricName(metric)).toBe(spec.prometheusName);
  });

  it('every attribute key becomes the same label on both paths (dots to underscores)', () => {
    for (const key of Object.values(ATTR)) {
      expect(collectorLabelName(key)).toBe(key.replaceAll('.', '_'));
      expect(jsExporterLabelName(key)).toBe(collectorLabelName(key));
    }
  });
});

describe.skipIf(missing('name-translation', 'root', 'ss'))('the names of a real agent run', () => {
  let receiver: OtlpReceiver;
  let agent: AgentUnderTest;

  afterAll(async () => {
    await agent?.stop();
    await receiver?.stop();
    await killAll();
  });

  it('translate every pushed metric and attribute to the names, types and labels on the local /metrics', async () => {
    receiver = await startOtlpReceiver();
    agent = await startAgent(['--sources', 'ss', '--interval', '500ms', '--otlp-endpoint', receiver.endpoint, '--otlp-interval', '500ms']);
    const sink = peer('sink', '127.0.0.1', 64 * 1024);
    const { port } = await sink.next('port');
    const sender = peer('send', '127.0.0.1', port, 1024 * 1024);
    await sender.next('sent');
    const senderMatch = { [ATTR.pid]: sender.pid };
    // Every contract metric but retransmissions, which only the ebpf source measures (its names are
    // checked on paper above, and exported in test/integration/ebpf-tcp.test.ts).
    const measured = Object.values(METRICS).filter((spec) => spec !== METRICS.retransmittedSegments);
    await eventually(
      async () => (measured.every((spec) => receiver.points(spec.name, senderMatch).length > 0) ? true : undefined),
      20_000,
      'all five contract metrics for the sender',
    );

    // A pushed request and a scrape taken together; the metric sets can differ for one cycle (a self-metric
    // with no point yet), so take the first pair that agrees, and compare that pair in full.
    let pushed: OtlpMetric[] = [];
    let text = '';
    await eventually(async () => {
      const seen = receiver.requests.length;
      await eventually(async () => (receiver.requests.length > seen ? true : undefined), 5000, 'a fresh export');
      pushed = receiver.latestMetrics();
      text = await agent.metricsText();
      const local = localTypes(text);
      local.delete('target_info');
      const translated = new Set(pushed.map((m) => collectorMetricName({ name: m.name, unit: m.unit, type: translatorType(m) })));
      return [...translated].sort().join() === [...local.keys()].sort().join() ? true : undefined;
    }, 20_000, 'a pushed request and a scrape with the same metric set');

    const localTypeOf = localTypes(text);
    for (const metric of pushed) {
      const named = { name: metric.name, unit: metric.unit, type: translatorType(metric) };
      const viaCollector = collectorMetricName(named);
      // Both paths agree on the name and on the Prometheus type (non-monotonic sums become gauges).
      expect(jsExporterMetricName(named), metric.name).toBe(viaCollector);
      expect(localTypeOf.get(viaCollector), viaCollector).toBe(collectorPromType(metric));
      const spec = Object.values(METRICS).find((s) => s.name === metric.name);
      if (spec) expect(viaCollector).toBe(spec.prometheusName);
    }
    expect(pushed.filter((m) => Object.values(METRICS).some((s) => s.name === m.name))).toHaveLength(5);

    // Labels: for the sender's series, the Collector's labels are the JS exporter's labels. Besides these,
    // the Collector adds job and instance (from service.name and service.instance.id) where Prometheus adds
    // its own at scrape time, and otel_scope_schema_url, empty here, which Prometheus treats as absent.
    const samples = parsePrometheusText(text);
    const scope = pushedScope(receiver);
    for (const metric of pushed) {
      const spec = Object.values(METRICS).find((s) => s.name === metric.name);
      if (!spec) continue;
      for (const point of metric.points.filter((p) => p.attributes[ATTR.pid] === sender.pid)) {
        const labels: Record<string, string> = { otel_scope_name: scope.name, otel_scope_version: scope.version };
        for (const [key, value] of Object.entries(point.attributes)) labels[collectorLabelName(key)] = String(value);
        const local = samples.find(
          (s) => s.name === spec.prometheusName && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
        );
        expect(local, `${spec.prometheusName} ${JSON.stringify(labels)} on /metrics`).toBeDefined();
        expect(Object.keys(local!.labels).sort()).toEqual(Object.keys(labels).sort());
      }
    }
    const resource = receiver.resource()!.values;
    expect(resource['service.name']).toBe('netproc-agent'); // job="netproc-agent" behind the Collector
    expect(resource['service.instance.id']).toBeTruthy(); // instance="<service.instance.id>"
  });
});

/** Metric family name -> type, from the `# TYPE` lines of an exposition. */
function localTypes(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
  return types;
}

function pushedScope(receiver: OtlpReceiver): { name: string; version: string } {
  const rm = receiver.requests.at(-1)!.resourceMetrics[0]!;
  const withContract = rm.scopeMetrics.find((sm) => sm.metrics.some((m) => m.name === METRICS.transmitBytes.name));
  return withContract!.scope;
}
