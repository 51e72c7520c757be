// The six contract metrics, built at read time from the latest prepared snapshot.
// A MetricProducer rather than observable instruments: with cumulative temporality the SDK keeps
// every attribute set an observable instrument has ever reported, so exited PIDs would stay
// frozen forever (opentelemetry-js #4096). Here a series exists exactly while its process does.
import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type DataPoint,
  type MetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import { emptyResource } from '@opentelemetry/resources';
import { ATTR, INSTRUMENTATION_SCOPE, METRICS, type MetricSpec } from '../semconv.js';
import { OPTIONAL_PROCESS_ATTRIBUTES, type ProcessAttributes, type Snapshot } from '../aggregation/snapshot.js';

export class SnapshotProducer implements MetricProducer {
  constructor(
    private readonly latest: () => Snapshot,
    private readonly version: string,
  ) {}

  // Never throws and does no I/O: it only reshapes the snapshot the collector prepared.
  async collect(): Promise<CollectionResult> {
    return {
      resourceMetrics: {
        resource: emptyResource(),
        scopeMetrics: [{ scope: { name: INSTRUMENTATION_SCOPE, version: this.version }, metrics: toMetrics(this.latest()) }],
      },
      errors: [],
    };
  }
}

export function toMetrics(snapshot: Snapshot): MetricData[] {
  const endTime = millisToHrTime(snapshot.timeMs);
  const points = {
    receiveBytes: [] as DataPoint<number>[],
    transmitBytes: [] as DataPoint<number>[],
    rxPackets: [] as DataPoint<number>[],
    txPackets: [] as DataPoint<number>[],
    retransmittedSegments: [] as DataPoint<number>[],
    connections: [] as DataPoint<number>[],
  };
  for (const series of snapshot.processes) {
    // A start time after the snapshot would be rejected downstream; clamp (clock skew, fresh PID).
    const startTime = millisToHrTime(Math.min(series.startTimeMs, snapshot.timeMs));
    const base = processAttributes(series.process);
    for (const t of series.traffic) {
      const attributes = { ...base, [ATTR.transport]: t.transport };
      if (t.bytes) {
        points.receiveBytes.push(point(attributes, t.bytes.rx, startTime, endTime));
        points.transmitBytes.push(point(attributes, t.bytes.tx, startTime, endTime));
      }
      if (t.packets) {
        points.rxPackets.push(point(attributes, t.packets.rx, startTime, endTime));
        points.txPackets.push(point(attributes, t.packets.tx, startTime, endTime));
      }
      if (t.retransmittedSegments !== undefined) {
        points.retransmittedSegments.push(point(attributes, t.retransmittedSegments, startTime, endTime));
      }
    }
    for (const c of series.connections) {
      const attributes = { ...base, [ATTR.transport]: c.transport, [ATTR.state]: c.state };
      points.connections.push(point(attributes, c.count, endTime, endTime));
    }
  }
  return [
    sum(METRICS.receiveBytes, points.receiveBytes, true),
    sum(METRICS.transmitBytes, points.transmitBytes, true),
    sum(METRICS.rxPackets, points.rxPackets, false),
    sum(METRICS.txPackets, points.txPackets, false),
    sum(METRICS.retransmittedSegments, points.retransmittedSegments, true),
    gauge(METRICS.connections, points.connections),
  ].filter((m) => m.dataPoints.length > 0);
}

function processAttributes(p: ProcessAttributes): Attributes {
  const attributes: Attributes = {};
  if (p.pid !== undefined) attributes[ATTR.pid] = p.pid;
  if (p.name !== undefined) attributes[ATTR.executableName] = p.name;
  for (const key of OPTIONAL_PROCESS_ATTRIBUTES) {
    const value = p[key];
    if (value) attributes[ATTR[key]] = value;
  }
  return attributes;
}

function point(attributes: Attributes, value: number, startTime: HrTime, endTime: HrTime): DataPoint<number> {
  return { attributes, value, startTime, endTime };
}

function descriptor(spec: MetricSpec) {
  return { name: spec.name, description: spec.description, unit: spec.unit, valueType: ValueType.INT };
}

function sum(spec: MetricSpec, dataPoints: DataPoint<number>[], isMonotonic: boolean): MetricData {
  return {
    descriptor: descriptor(spec),
    aggregationTemporality: AggregationTemporality.CUMULATIVE,
    dataPointType: DataPointType.SUM,
    dataPoints,
    isMonotonic,
  };
}

function gauge(spec: MetricSpec, dataPoints: DataPoint<number>[]): MetricData {
  return {
    descriptor: descriptor(spec),
    aggregationTemporality: AggregationTemporality.CUMULATIVE,
    dataPointType: DataPointType.GAUGE,
    dataPoints,
  };
}
