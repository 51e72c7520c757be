// --max-processes: the N busiest processes keep their own series; the rest fold into one
// "other" pseudo-process whose counters stay monotonic while processes move in and out of it.
import { OTHER_PROCESS, type Transport } from '../semconv.js';
import { addTraffic, zeroTraffic, type Traffic } from './counters.js';
import type { ProcessEntry } from './process-entry.js';
import type { ConnectionCount, ProcessSeries, TransportTraffic } from './snapshot.js';

export class TopN {
  /** Totals of processes that have left the "other" bucket (promoted or exited). */
  private readonly retired = new Map<Transport, Traffic>();
  private readonly bytesMeasured = new Set<Transport>();
  private readonly packetsMeasured = new Set<Transport>();
  /** Retransmitted segments of processes that have left the "other" bucket. */
  private readonly retiredRetransmits = new Map<Transport, number>();
  private members = new Set<ProcessEntry>();

  constructor(private readonly startTimeMs: number) {}

  /** Splits entries into the top `max` (0: no cap) and the "other" series. */
  select(entries: readonly ProcessEntry[], max: number): { top: ProcessEntry[]; other?: ProcessSeries } {
    const everFolded = this.members.size > 0 || this.retired.size > 0;
    if (max <= 0 || (entries.length <= max && !everFolded)) return { top: [...entries] };
    const ranked = [...entries].sort(byRank);
    const top = ranked.slice(0, max);
    const rest = new Set(ranked.slice(max));
    for (const member of this.members) if (!rest.has(member)) this.retire(member);
    this.members = rest;
    return { top, other: this.otherSeries(rest) };
  }

  private retire(entry: ProcessEntry): void {
    for (const [transport, total] of entry.traffic) {
      let sum = this.retired.get(transport);
      if (!sum) this.retired.set(transport, (sum = zeroTraffic()));
      addTraffic(sum, total);
    }
    for (const [transport, n] of entry.retransmitted) this.retiredRetransmits.set(transport, (this.retiredRetransmits.get(transport) ?? 0) + n);
  }

  private otherSeries(members: ReadonlySet<ProcessEntry>): ProcessSeries {
    const sums = new Map<Transport, Traffic>();
    for (const [transport, total] of this.retired) sums.set(transport, { ...total });
    const retransmits = new Map(this.retiredRetransmits);
    const connections = new Map<string, ConnectionCount>();
    for (const member of members) {
      for (const [transport, n] of member.retransmitted) retransmits.set(transport, (retransmits.get(transport) ?? 0) + n);
      for (const [transport, total] of member.traffic) {
        let sum = sums.get(transport);
        if (!sum) sums.set(transport, (sum = zeroTraffic()));
        addTraffic(sum, total);
      }
      for (const t of member.bytesMeasured) this.bytesMeasured.add(t);
      for (const t of member.packetsMeasured) this.packetsMeasured.add(t);
      for (const [key, c] of member.connections) {
        const sum = connections.get(key);
        if (sum) sum.count += c.count;
        else connections.set(key, { ...c });
      }
    }
    const traffic: TransportTraffic[] = [];
    for (const [transport, sum] of sums) {
      const item: TransportTraffic = { transport };
      if (this.bytesMeasured.has(transport)) item.bytes = { rx: sum.rxBytes, tx: sum.txBytes };
      if (this.packetsMeasured.has(transport)) item.packets = { rx: sum.rxPackets, tx: sum.txPackets };
      const retransmitted = retransmits.get(transport);
      if (retransmitted !== undefined) item.retransmittedSegments = retransmitted;
      traffic.push(item);
    }
    return {
      process: { pid: OTHER_PROCESS.pid, name: OTHER_PROCESS.name },
      startTimeMs: this.startTimeMs,
      traffic,
      connections: [...connections.values()],
    };
  }
}

function byRank(a: ProcessEntry, b: ProcessEntry): number {
  return (
    b.totalBytes() - a.totalBytes() ||
    b.totalConnections() - a.totalConnections() ||
    a.identity.pid - b.identity.pid
  );
}
