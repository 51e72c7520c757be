// What the agent knows about one live process: monotonic totals and the current connections.
// Its traffic reaches the snapshot through the series it belongs to (see series-group.ts).
import type { ConnectionState, Transport } from '../semconv.js';
import type { ProcessIdentity } from '../host/processes.js';
import { addTraffic, copyTraffic, subtractTraffic, zeroTraffic, type Traffic } from './counters.js';
import type { SeriesGroup } from './series-group.js';
import type { ConnectionCount } from './snapshot.js';

export class ProcessEntry {
  readonly traffic = new Map<Transport, Traffic>();
  readonly bytesMeasured = new Set<Transport>();
  readonly packetsMeasured = new Set<Transport>();
  /** Retransmitted segments per transport, for the transports a source measured them on. */
  readonly retransmitted = new Map<Transport, number>();
  connections = new Map<string, ConnectionCount>();
  /** The cycle in which the process was first found gone. */
  exitedCycle: number | undefined;
  /** The part of `traffic` already handed to a series. */
  private readonly passed = new Map<Transport, Traffic>();
  /** The part of `retransmitted` already handed to a series. */
  private readonly passedRetransmits = new Map<Transport, number>();

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

  /**
   * Hands `group` what the process counted since the last hand-over, and its connections now.
   * By deltas, so a process that moves to another series (its pod became known) leaves its past
   * in the old one: neither series goes backwards and nothing is counted twice.
   */
  passOn(group: SeriesGroup): void {
    for (const [transport, total] of this.traffic) {
      let passed = this.passed.get(transport);
      if (!passed) this.passed.set(transport, (passed = zeroTraffic()));
      group.add(transport, subtractTraffic(total, passed), this.bytesMeasured.has(transport), this.packetsMeasured.has(transport));
      copyTraffic(passed, total);
    }
    for (const [transport, total] of this.retransmitted) {
      group.addRetransmits(transport, total - (this.passedRetransmits.get(transport) ?? 0));
      this.passedRetransmits.set(transport, total);
    }
    group.addConnections(this.connections.values());
  }
}
