// One exported series: the monotonic totals of the processes that share it (one process in the
// pid mode), accumulated from what each member counted since it last handed its traffic over.
import type { Transport } from '../semconv.js';
import { addTraffic, Measured, zeroTraffic, type Traffic } from './counters.js';
import type { ConnectionCount, ProcessAttributes, ProcessSeries, TransportTraffic } from './snapshot.js';

export class SeriesGroup {
  readonly traffic = new Map<Transport, Traffic>();
  readonly measured = new Measured();
  /** Connections of the members in the last snapshot. */
  connections = new Map<string, ConnectionCount>();
  /** Agent time of the last snapshot in which a tracked process belonged to the group. */
  lastMemberMs: number;
  /** The snapshot round of lastMemberMs. */
  lastMemberRound = 0;

  constructor(
    readonly key: string,
    public attributes: ProcessAttributes,
    readonly startTimeMs: number,
    nowMs: number,
  ) {
    this.lastMemberMs = nowMs;
  }

  /** Adds a member's new traffic; negative or non-finite parts are ignored, so the totals never fall. */
  add(transport: Transport, delta: Traffic): void {
    let total = this.traffic.get(transport);
    if (!total) this.traffic.set(transport, (total = zeroTraffic()));
    addTraffic(total, delta);
  }

  addConnections(counts: Iterable<ConnectionCount>): void {
    for (const c of counts) {
      const key = `${c.transport}|${c.state}`;
      const sum = this.connections.get(key);
      if (sum) sum.count += c.count;
      else this.connections.set(key, { ...c });
    }
  }

  /** Bytes moved in both directions on every transport; the first ranking key for --max-processes. */
  totalBytes(): number {
    let bytes = 0;
    for (const t of this.traffic.values()) bytes += t.rxBytes + t.txBytes;
    return bytes;
  }

  /** Connections held now; the second ranking key. */
  totalConnections(): number {
    let conns = 0;
    for (const c of this.connections.values()) conns += c.count;
    return conns;
  }

  series(): ProcessSeries {
    return {
      key: this.key,
      process: { ...this.attributes },
      startTimeMs: this.startTimeMs,
      traffic: measuredTraffic(this.traffic, this.measured),
      connections: [...this.connections.values()].map((c) => ({ ...c })),
    };
  }
}

/** The totals of the transports a source measured, as the snapshot carries them. */
export function measuredTraffic(totals: ReadonlyMap<Transport, Traffic>, measured: Measured): TransportTraffic[] {
  const traffic: TransportTraffic[] = [];
  for (const [transport, total] of totals) {
    const item: TransportTraffic = { transport };
    if (measured.bytes.has(transport)) item.bytes = { rx: total.rxBytes, tx: total.txBytes };
    if (measured.packets.has(transport)) item.packets = { rx: total.rxPackets, tx: total.txPackets };
    if (measured.retransmits.has(transport)) item.retransmittedSegments = total.retransSegs;
    traffic.push(item);
  }
  return traffic;
}
