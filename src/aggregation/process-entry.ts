// What the agent knows about one live process: monotonic totals and the current connections.
import type { ConnectionState, Transport } from '../semconv.js';
import type { ProcessIdentity } from '../host/processes.js';
import { addTraffic, zeroTraffic, type Traffic } from './counters.js';
import type { PodIndex } from '../host/kubernetes.js';
import type { ConnectionCount, ProcessAttributes, ProcessSeries, TransportTraffic } from './snapshot.js';

export class ProcessEntry {
  readonly traffic = new Map<Transport, Traffic>();
  readonly bytesMeasured = new Set<Transport>();
  readonly packetsMeasured = new Set<Transport>();
  /** Retransmitted segments per transport, for the transports a source measured them on. */
  readonly retransmitted = new Map<Transport, number>();
  connections = new Map<string, ConnectionCount>();
  /** The cycle in which the process was first found gone. */
  exitedCycle: number | undefined;

  constructor(readonly identity: ProcessIdentity) {}

  credit(transport: Transport, delta: Traffic, bytes: boolean, packets: boolean): void {
    let total = this.traffic.get(transport);
    if (!total) {
      total = zeroTraffic();
      this.traffic.set(transport, total);
    }
    addTraffic(total, {
      rxBytes: bytes ? delta.rxBytes : 0,
      txBytes: bytes ? delta.txBytes : 0,
      rxPackets: packets ? delta.rxPackets : 0,
      txPackets: packets ? delta.txPackets : 0,
    });
    if (bytes) this.bytesMeasured.add(transport);
    if (packets) this.packetsMeasured.add(transport);
  }

  /** Adds retransmitted segments; negative or non-finite counts are ignored, so the total never falls. */
  creditRetransmits(transport: Transport, segments: number): void {
    const add = Number.isFinite(segments) && segments > 0 ? segments : 0;
    this.retransmitted.set(transport, (this.retransmitted.get(transport) ?? 0) + add);
  }

  countConnection(transport: Transport, state: ConnectionState): void {
    const key = `${transport}|${state}`;
    const entry = this.connections.get(key);
    if (entry) entry.count++;
    else this.connections.set(key, { transport, state, count: 1 });
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

  series(pods?: PodIndex): ProcessSeries {
    const { pid, name, containerId, startTimeMs } = this.identity;
    const traffic: TransportTraffic[] = [];
    for (const [transport, total] of this.traffic) {
      const item: TransportTraffic = { transport };
      if (this.bytesMeasured.has(transport)) item.bytes = { rx: total.rxBytes, tx: total.txBytes };
      if (this.packetsMeasured.has(transport)) item.packets = { rx: total.rxPackets, tx: total.txPackets };
      const retransmitted = this.retransmitted.get(transport);
      if (retransmitted !== undefined) item.retransmittedSegments = retransmitted;
      traffic.push(item);
    }
    const process: ProcessAttributes = { pid, name };
    if (containerId !== undefined) {
      process.containerId = containerId;
      const pod = pods?.lookup(containerId);
      if (pod) Object.assign(process, pod);
    }
    return { process, startTimeMs, traffic, connections: [...this.connections.values()].map((c) => ({ ...c })) };
  }
}
