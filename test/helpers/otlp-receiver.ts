// An in-process OTLP/gRPC metrics receiver, standing in for the OpenTelemetry Collector (which cannot be
// installed here, see DESIGN.md "Known limits"). A real @grpc/grpc-js server on loopback, plaintext, serving
// opentelemetry.proto.collector.metrics.v1.MetricsService/Export, decoded with protobufjs from the official
// field numbers kept in test/fixtures/otlp/*.proto. 64-bit fields are decoded exactly: timestamps and
// int values as bigint, with `value` a number (exact below 2^53, which byte counters stay under).
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { basename, join } from 'node:path';
import {
  Server,
  ServerCredentials,
  status,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import protobuf from 'protobufjs';

const PROTO_DIR = join(import.meta.dirname, '../fixtures/otlp');
const EXPORT_PATH = '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export';

export type AnyValueKind = 'string' | 'bool' | 'int' | 'double' | 'array' | 'kvlist' | 'bytes' | 'empty';
export type AttributeValue = string | boolean | number | bigint | Uint8Array | AttributeValue[] | { [key: string]: AttributeValue } | undefined;

export interface Attributes {
  values: Record<string, AttributeValue>;
  /** Which AnyValue member carried each key, e.g. 'int' for process.pid. */
  kinds: Record<string, AnyValueKind>;
}

export interface NumberPoint {
  attributes: Record<string, AttributeValue>;
  kinds: Record<string, AnyValueKind>;
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  /** as_int (sfixed64) exactly, when the point is an int. */
  asInt?: bigint;
  asDouble?: number;
  /** as_int or as_double as a number. */
  value: number;
  flags: number;
}

export type MetricKind = 'gauge' | 'sum' | 'unknown';

export interface Metric {
  name: string;
  description: string;
  unit: string;
  kind: MetricKind;
  /** Present for sums: AggregationTemporality (2 = CUMULATIVE) and monotonicity. */
  aggregationTemporality?: number;
  isMonotonic?: boolean;
  points: NumberPoint[];
}

export interface ScopeMetrics {
  scope: { name: string; version: string };
  metrics: Metric[];
}

export interface ResourceMetrics {
  resource: Attributes;
  scopeMetrics: ScopeMetrics[];
}

export interface ReceivedRequest {
  /** Arrival time (ms since epoch). */
  at: number;
  /** gRPC metadata as received, lower-cased keys, first value of each. */
  metadata: Record<string, string>;
  /** Size of the ExportMetricsServiceRequest message as received (protobuf, after any gRPC decompression). */
  bytes: number;
  resourceMetrics: ResourceMetrics[];
}

/** A data point with the metric and request it came in. */
export interface FoundPoint {
  metric: Metric;
  point: NumberPoint;
  request: ReceivedRequest;
}

/** How the receiver answers: normally, with an error status, or never (a hung Collector). */
type Mode = { answer: 'ok' } | { answer: 'error'; code: status; details: string } | { answer: 'never' };

let cachedRoot: protobuf.Root | undefined;

function protoRoot(): protobuf.Root {
  if (cachedRoot) return cachedRoot;
  const root = new protobuf.Root();
  // The fixtures are kept flat; the official import paths (opentelemetry/proto/…/x.proto) map to them by base name.
  root.resolvePath = (_origin, target) => join(PROTO_DIR, basename(target));
  root.loadSync(['metrics_service.proto'], { keepCase: true });
  cachedRoot = root;
  return root;
}

export class OtlpReceiver {
  readonly requests: ReceivedRequest[] = [];
  /** Calls answered with an error status (see refuse), not decoded into `requests`. */
  refused = 0;
  /** Calls left unanswered (see stall). */
  stalled = 0;
  private server: Server | undefined;
  private mode: Mode = { answer: 'ok' };
  private boundPort = 0;

  /** Starts listening on 127.0.0.1:`port` (0: a free port picked by the kernel). */
  async start(port = 0): Promise<this> {
    const root = protoRoot();
    const Request = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest');
    const Response = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse');
    const definition: ServiceDefinition = {
      Export: {
        path: EXPORT_PATH,
        requestStream: false,
        responseStream: false,
        requestSerialize: (value: unknown) => Buffer.from(Request.encode(Request.fromObject(value as object)).finish()),
        requestDeserialize: (bytes: Buffer): RawRequest => ({
          ...(Request.toObject(Request.decode(bytes), { longs: String, defaults: true, oneofs: true }) as RawRequest),
          wireBytes: bytes.length,
        }),
        responseSerialize: (value: unknown) => Buffer.from(Response.encode(Response.fromObject(value as object)).finish()),
        responseDeserialize: (bytes: Buffer) => Response.toObject(Response.decode(bytes)),
      },
    };
    const server = new Server();
    server.addService(definition, {
      Export: (call: ServerUnaryCall<RawRequest, object>, callback: sendUnaryData<object>) => {
        if (this.mode.answer === 'error') {
          this.refused++;
          callback({ code: this.mode.code, details: this.mode.details });
          return;
        }
        if (this.mode.answer === 'never') {
          this.stalled++;
          return; // the caller's deadline ends it; stop() cancels it
        }
        const metadata: Record<string, string> = {};
        for (const [key, value] of Object.entries(call.metadata.getMap())) metadata[key] = String(value);
        this.requests.push({ at: Date.now(), metadata, bytes: call.request.wireBytes, resourceMetrics: (call.request.resource_metrics ?? []).map(toResourceMetrics) });
        callback(null, {});
      },
    });
    this.boundPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    this.server = server;
    return this;
  }

  get port(): number {
    return this.boundPort;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.boundPort}`;
  }

  /** Closes the listener and every connection at once, as a crashed Collector would: the agent sees UNAVAILABLE. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.forceShutdown();
  }

  /** From now on, answer every export with this gRPC status (e.g. UNAVAILABLE, PERMISSION_DENIED). */
  refuse(code: status = status.UNAVAILABLE, details = 'refused by the test receiver'): void {
    this.mode = { answer: 'error', code, details };
  }

  /** From now on, never answer: a Collector that accepts connections but hangs. */
  stall(): void {
    this.mode = { answer: 'never' };
  }

  accept(): void {
    this.mode = { answer: 'ok' };
  }

  /** Every data point of `name` whose attributes include each pair in `match` (values compared as strings). */
  points(name: string, match: Record<string, string | number> = {}): FoundPoint[] {
    const found: FoundPoint[] = [];
    for (const request of this.requests) {
      for (const rm of request.resourceMetrics) {
        for (const sm of rm.scopeMetrics) {
          for (const metric of sm.metrics) {
            if (metric.name !== name) continue;
            for (const point of metric.points) if (matches(point, match)) found.push({ metric, point, request });
          }
        }
      }
    }
    return found;
  }

  /**
   * The value of `name` for `match` as of the newest snapshot: the points with the latest time_unix_nano,
   * summed (several points can match a partial attribute set). Arrival order is not used: exports can
   * overlap when one is slow (the reader starts the next at its interval), so an older snapshot can land last.
   */
  latestValue(name: string, match: Record<string, string | number> = {}): number | undefined {
    const found = this.points(name, match);
    if (found.length === 0) return undefined;
    const newest = found.reduce((t, f) => (f.point.timeUnixNano > t ? f.point.timeUnixNano : t), 0n);
    // One snapshot yields one point per attribute set; two exports of the same snapshot repeat it.
    const seen = new Map<string, number>();
    for (const f of found) if (f.point.timeUnixNano === newest) seen.set(attributeKey(f.point.attributes), f.point.value);
    return [...seen.values()].reduce((a, b) => a + b, 0);
  }

  /** The metrics of the newest request (by arrival), flattened over resources and scopes. */
  latestMetrics(): Metric[] {
    const last = this.requests.at(-1);
    return last ? last.resourceMetrics.flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics)) : [];
  }

  /** The resource attributes of the newest request. */
  resource(): Attributes | undefined {
    return this.requests.at(-1)?.resourceMetrics[0]?.resource;
  }

  /** Metric names seen in any request. */
  metricNames(): Set<string> {
    const names = new Set<string>();
    for (const r of this.requests) for (const rm of r.resourceMetrics) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) names.add(m.name);
    return names;
  }
}

/**
 * When the agent collected what a request carries: its newest time_unix_nano, in ms (the reader's collect
 * time for the self-metrics). Arrival time is not it: a call made while the channel was reconnecting waits
 * in grpc-js and arrives, with its old snapshot, once the Collector is back.
 */
export function collectedAtMs(request: ReceivedRequest): number {
  let newest = 0n;
  for (const rm of request.resourceMetrics) {
    for (const sm of rm.scopeMetrics) for (const m of sm.metrics) for (const p of m.points) if (p.timeUnixNano > newest) newest = p.timeUnixNano;
  }
  return Number(newest / 1_000_000n);
}

/** Starts a receiver; `port` 0 picks a free one. */
export async function startOtlpReceiver(port = 0): Promise<OtlpReceiver> {
  return new OtlpReceiver().start(port);
}

/** A stable key for an attribute set. */
function attributeKey(attributes: Record<string, AttributeValue>): string {
  return JSON.stringify(
    Object.keys(attributes)
      .sort()
      .map((k) => [k, String(attributes[k])]),
  );
}

function matches(point: NumberPoint, match: Record<string, string | number>): boolean {
  return Object.entries(match).every(([k, v]) => k in point.attributes && String(point.attributes[k]) === String(v));
}

// --- decoding the protobufjs plain objects (snake_case, longs as decimal strings) ---

interface RawAnyValue {
  value?: string;
  string_value?: string;
  bool_value?: boolean;
  int_value?: string;
  double_value?: number;
  array_value?: { values?: RawAnyValue[] };
  kvlist_value?: { values?: RawKeyValue[] };
  bytes_value?: Uint8Array;
}
interface RawKeyValue {
  key: string;
  value?: RawAnyValue;
}
interface RawPoint {
  attributes?: RawKeyValue[];
  start_time_unix_nano: string;
  time_unix_nano: string;
  value?: 'as_double' | 'as_int';
  as_double?: number;
  as_int?: string;
  flags: number;
}
interface RawMetric {
  name: string;
  description: string;
  unit: string;
  data?: 'gauge' | 'sum';
  gauge?: { data_points?: RawPoint[] };
  sum?: { data_points?: RawPoint[]; aggregation_temporality: number; is_monotonic: boolean };
}
interface RawResourceMetrics {
  resource?: { attributes?: RawKeyValue[] };
  scope_metrics?: Array<{ scope?: { name: string; version: string }; metrics?: RawMetric[] }>;
}
interface RawRequest {
  resource_metrics?: RawResourceMetrics[];
  /** Added by requestDeserialize: the message's size. */
  wireBytes: number;
}

function toResourceMetrics(raw: RawResourceMetrics): ResourceMetrics {
  return {
    resource: toAttributes(raw.resource?.attributes),
    scopeMetrics: (raw.scope_metrics ?? []).map((sm) => ({
      scope: { name: sm.scope?.name ?? '', version: sm.scope?.version ?? '' },
      metrics: (sm.metrics ?? []).map(toMetric),
    })),
  };
}

function toMetric(raw: RawMetric): Metric {
  const base = { name: raw.name, description: raw.description, unit: raw.unit };
  if (raw.data === 'sum' && raw.sum) {
    return {
      ...base,
      kind: 'sum',
      aggregationTemporality: raw.sum.aggregation_temporality,
      isMonotonic: raw.sum.is_monotonic,
      points: (raw.sum.data_points ?? []).map(toPoint),
    };
  }
  if (raw.data === 'gauge' && raw.gauge) return { ...base, kind: 'gauge', points: (raw.gauge.data_points ?? []).map(toPoint) };
  return { ...base, kind: 'unknown', points: [] };
}

function toPoint(raw: RawPoint): NumberPoint {
  const { values, kinds } = toAttributes(raw.attributes);
  const point: NumberPoint = {
    attributes: values,
    kinds,
    startTimeUnixNano: BigInt(raw.start_time_unix_nano),
    timeUnixNano: BigInt(raw.time_unix_nano),
    value: Number.NaN,
    flags: raw.flags,
  };
  if (raw.value === 'as_int' && raw.as_int !== undefined) {
    point.asInt = BigInt(raw.as_int);
    point.value = Number(point.asInt);
  } else if (raw.value === 'as_double' && raw.as_double !== undefined) {
    point.asDouble = raw.as_double;
    point.value = raw.as_double;
  }
  return point;
}

function toAttributes(list: RawKeyValue[] | undefined): Attributes {
  const values: Record<string, AttributeValue> = {};
  const kinds: Record<string, AnyValueKind> = {};
  for (const kv of list ?? []) {
    const [kind, value] = toAnyValue(kv.value);
    values[kv.key] = value;
    kinds[kv.key] = kind;
  }
  return { values, kinds };
}

function toAnyValue(raw: RawAnyValue | undefined): [AnyValueKind, AttributeValue] {
  switch (raw?.value) {
    case 'string_value':
      return ['string', raw.string_value];
    case 'bool_value':
      return ['bool', raw.bool_value];
    case 'int_value': {
      const big = BigInt(raw.int_value ?? '0');
      return ['int', big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big];
    }
    case 'double_value':
      return ['double', raw.double_value];
    case 'array_value':
      return ['array', (raw.array_value?.values ?? []).map((v) => toAnyValue(v)[1])];
    case 'kvlist_value':
      return ['kvlist', toAttributes(raw.kvlist_value?.values).values];
    case 'bytes_value':
      return ['bytes', raw.bytes_value];
    default:
      return ['empty', undefined];
  }
}


/**
 * A TCP pass-through in front of a receiver that reads the client's HTTP/2 frames, to see what grpc-js
 * hides from the server handler: whether each gRPC message was sent compressed (the first byte of a
 * message is its Compressed-Flag; grpc-js strips the grpc-encoding header from the metadata it hands over).
 * See https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md ("Length-Prefixed-Message") and
 * RFC 9113 section 4.1 (frame layout) and 6.1 (DATA frames, PADDED flag).
 */
export interface WireTap {
  port: number;
  endpoint: string;
  /** gRPC messages seen with Compressed-Flag 1, and with 0. */
  compressedMessages: number;
  plainMessages: number;
  stop(): Promise<void>;
}

const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const FRAME_DATA = 0x0;
const FLAG_PADDED = 0x8;

export async function startWireTap(targetPort: number): Promise<WireTap> {
  const sockets = new Set<Socket>();
  const tap: WireTap = {
    port: 0,
    endpoint: '',
    compressedMessages: 0,
    plainMessages: 0,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    upstream.pipe(client);
    // Client-to-server bytes: the preface, then frames. A stream's first DATA byte starts its one message
    // (unary calls carry exactly one), so its value is the Compressed-Flag.
    let pending = Buffer.alloc(0);
    let prefaceLeft = HTTP2_PREFACE.length;
    const started = new Set<number>();
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      pending = Buffer.concat([pending, chunk]);
      if (prefaceLeft > 0) {
        const skip = Math.min(prefaceLeft, pending.length);
        pending = pending.subarray(skip);
        prefaceLeft -= skip;
      }
      while (prefaceLeft === 0 && pending.length >= 9) {
        const length = pending.readUIntBE(0, 3);
        if (pending.length < 9 + length) break;
        const type = pending[3]!;
        const flags = pending[4]!;
        const stream = pending.readUInt32BE(5) & 0x7fffffff;
        const payload = pending.subarray(9, 9 + length);
        pending = pending.subarray(9 + length);
        if (type !== FRAME_DATA || started.has(stream)) continue;
        const data = flags & FLAG_PADDED ? payload.subarray(1, payload.length - payload[0]!) : payload;
        if (data.length === 0) continue;
        started.add(stream);
        if (data[0] === 1) tap.compressedMessages++;
        else tap.plainMessages++;
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  tap.port = (server.address() as AddressInfo).port;
  tap.endpoint = `http://127.0.0.1:${tap.port}`;
  return tap;
}
