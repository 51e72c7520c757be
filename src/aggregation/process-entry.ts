// What the agent knows about one live process: monotonic totals and the current connections.
// Its traffic reaches the snapshot through the series it belongs to (see series-group.ts).
import type { ConnectionState, Transport } from '../semconv.js';
import type { ProcessIdentity } from '../host/processes.js';
import { addTraffic, copyTraffic, Measured, subtractTraffic, zeroTraffic, type SocketCounters, type Traffic } from './counters.js';
import type { SeriesGroup } from './series-group.js';
import type { ConnectionCount } from './snapshot.js';

/** What a source credits: a socket's delta, or an event source's increment. */
type Counted = Pick<SocketCounters, 'rxBytes' | 'txBytes'> & Partial<Omit<Traffic, 'rxBytes' | 'txBytes'>>;

export class ProcessEntry {
  readonly traffic = new Map<Transport, Traffic>();
  readonly measured = new Measured();
  connections = new Map<string, ConnectionCount>();
  /** The cycle in which the process was first found gone. */
  exitedCycle: number | undefined;
  /** The part of `traffic` already handed to a series. */
  private readonly passed = new Map<Transport, Traffic>();

  constructor(readonly identity: ProcessIdentity) {}

  /**
   * Adds what a source counted; only the families it serves (`bytes`, `packets`) are taken, and of
   * packets and retransmitted segments only what it gives: absent means not seen on this transport
   * (the ebpf engine's per-call variant sees no TCP segments), which is not a measured 0.
   */
  credit(transport: Transport, delta: Counted, bytes: boolean, packets: boolean): void {
    let total = this.traffic.get(transport);
    if (!total) {
      total = zeroTraffic();
      this.traffic.set(transport, total);
    }
    const segments = packets && delta.rxPackets !== undefined && delta.txPackets !== undefined;
    const retransmits = packets && delta.retransSegs !== undefined;
    addTraffic(total, {
      rxBytes: bytes ? delta.rxBytes : 0,
      txBytes: bytes ? delta.txBytes : 0,
      rxPackets: segments ? delta.rxPackets! : 0,
      txPackets: segments ? delta.txPackets! : 0,
      retransSegs: retransmits ? delta.retransSegs! : 0,
    });
    if (bytes) this.measured.bytes.add(transport);
    if (segments) this.measured.packets.add(transport);
    if (retransmits) this.measured.retransmits.add(transport);
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
      group.add(transport, subtractTraffic(total, passed));
      copyTraffic(passed, total);
    }
    group.measured.addAll(this.measured);
    group.addConnections(this.connections.values());
  }
}
