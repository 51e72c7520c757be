// netproc_* self-metrics: per source up, collection duration, errors by kind, and which family it serves.
// Plain observable instruments are fine here: their attribute sets are few and bounded.
import { getHeapStatistics } from 'node:v8';
import type { Meter } from '@opentelemetry/api';
import { SELF_ATTR, SELF_METRICS } from '../semconv.js';
import type { Collector } from '../collection/collector.js';
import { countDataPoints } from '../aggregation/snapshot.js';
import type { Source } from '../sources/types.js';
import type { ExportHealth } from './export-health.js';

export function registerSelfMetrics(
  meter: Meter,
  collector: Collector,
  sources: readonly Source[],
  otlp?: ExportHealth,
): void {
  const up = meter.createObservableGauge(SELF_METRICS.up, {
    description: 'Whether the source ran its last collection successfully (1) or not (0)',
  });
  const duration = meter.createObservableGauge(SELF_METRICS.duration, {
    description: 'Wall time of the source\'s last collection',
    unit: 's',
  });
  const errors = meter.createObservableCounter(SELF_METRICS.errors, {
    description: 'Problems met by the source, by kind (collect: the whole collection failed; parse: lines skipped; permission: entries it could not read)',
  });
  const selected = meter.createObservableGauge(SELF_METRICS.selected, {
    description: 'Whether the source currently serves the metric family (1) or not (0)',
  });
  const tracked = meter.createObservableGauge(SELF_METRICS.processes, {
    description: 'Processes the agent tracks, before the --max-processes cap',
  });
  const exported = meter.createObservableGauge(SELF_METRICS.series, {
    description: 'Processes, groups of processes (--aggregate-by) and pseudo-processes exported in the last snapshot',
  });
  const exportedSeries = meter.createObservableGauge(SELF_METRICS.exportedSeries, {
    description: 'Series (data points) of the process_network_* metrics in the last snapshot',
  });
  const foldedProcesses = meter.createObservableCounter(SELF_METRICS.foldedProcesses, {
    description: 'Exited processes dropped from the process table; their totals stay in the series of their group or of [other]',
  });
  const foldedSeries = meter.createObservableCounter(SELF_METRICS.foldedSeries, {
    description: 'Series whose processes had all exited, folded into [other] after the exit retention',
  });

  const heap = meter.createObservableGauge(SELF_METRICS.heap, {
    description: 'V8 heap in use by the agent (v8 used_heap_size), for leak checks such as npm run soak',
    unit: 'By',
  });
  const exports = meter.createObservableCounter(SELF_METRICS.exports, {
    description: 'OTLP exports by result (success, failure); failures mean the Collector was down, slow or refusing',
  });

  // Reads only prepared state: no I/O, no await, never throws.
  meter.addBatchObservableCallback(
    (result) => {
      for (const source of sources) {
        const health = collector.health.get(source.name);
        const attrs = { [SELF_ATTR.source]: source.name };
        result.observe(up, health.up ? 1 : 0, attrs);
        result.observe(duration, health.lastDurationSeconds, attrs);
        for (const [kind, count] of health.errors) result.observe(errors, count, { ...attrs, [SELF_ATTR.kind]: kind });
        for (const family of source.families) {
          const serving = collector.assignment.get(family) === source.name ? 1 : 0;
          result.observe(selected, serving, { ...attrs, [SELF_ATTR.family]: family });
        }
      }
      result.observe(tracked, collector.snapshot.trackedProcesses);
      result.observe(exported, collector.snapshot.processes.length);
      result.observe(heap, getHeapStatistics().used_heap_size);
      result.observe(exportedSeries, countDataPoints(collector.snapshot));
      result.observe(foldedProcesses, collector.snapshot.foldedProcesses);
      result.observe(foldedSeries, collector.snapshot.foldedSeries);
      if (otlp) {
        result.observe(exports, otlp.successes, { [SELF_ATTR.exporter]: 'otlp', [SELF_ATTR.result]: 'success' });
        result.observe(exports, otlp.failures, { [SELF_ATTR.exporter]: 'otlp', [SELF_ATTR.result]: 'failure' });
      }
    },
    [up, duration, errors, selected, tracked, exported, exportedSeries, foldedProcesses, foldedSeries, heap, exports],
  );
}
