// Why the agent exports through its own MetricProducer (src/instruments/producer.ts): in the
// sdk-metrics line it runs on, an observable instrument with cumulative temporality keeps every
// attribute set it has ever seen (opentelemetry-js #4096). If this test starts failing after an SDK
// upgrade, the SDK drops stale series itself and the producer could go back to instruments.
import { describe, expect, it } from 'vitest';
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';

class ManualReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

describe('@opentelemetry/sdk-metrics observable instruments (cumulative)', () => {
  it('still export a PID that the callback stopped observing, frozen at its last value', async () => {
    const reader = new ManualReader({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
    const provider = new MeterProvider({ readers: [reader] });
    const counter = provider.getMeter('t').createObservableCounter('bytes');
    let live = [1, 2];
    counter.addCallback((result) => {
      for (const pid of live) result.observe(pid * 100, { 'process.pid': pid });
    });
    const pids = async (): Promise<number[]> => {
      const { resourceMetrics } = await reader.collect();
      const points = resourceMetrics.scopeMetrics[0]?.metrics[0]?.dataPoints ?? [];
      return points.map((p) => Number(p.attributes['process.pid'])).sort();
    };
    expect(await pids()).toEqual([1, 2]);
    live = [2]; // PID 1 exited
    expect(await pids()).toEqual([1, 2]);
    await provider.shutdown();
  });
});

