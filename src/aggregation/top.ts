// --max-processes: the N busiest series keep their own; the rest fold into one "[other]" series
// whose counters stay monotonic while series move in and out of it. Series whose processes have
// all exited fold into it for good (see Aggregator.snapshot), with or without a cap.
import { OTHER_PROCESS, type Transport } from '../semconv.js';
import { addTraffic, Measured, zeroTraffic, type Traffic } from './counters.js';
import { measuredTraffic, type SeriesGroup } from './series-group.js';
import type { ConnectionCount, ProcessSeries } from './snapshot.js';

export const OTHER_KEY = 'other';

export class TopN {
  /** Totals of series that have left the "other" bucket (promoted or exited), or were folded into it. */
  private readonly retired = new Map<Transport, Traffic>();
  private readonly measured = new Measured();
  private members = new Set<SeriesGroup>();

  constructor(private readonly startTimeMs: number) {}

  /** Splits groups into the top `max` (0: no cap) and the "other" series. */
  select(groups: readonly SeriesGroup[], max: number): { top: SeriesGroup[]; other?: ProcessSeries } {
    const everFolded = this.members.size > 0 || this.retired.size > 0;
    if (!everFolded && (max <= 0 || groups.length <= max)) return { top: [...groups] };
    const ranked = max <= 0 ? [...groups] : [...groups].sort(byRank);
    const top = max <= 0 ? ranked : ranked.slice(0, max);
    const rest = new Set(max <= 0 ? [] : ranked.slice(max));
    for (const member of this.members) if (!rest.has(member)) this.retire(member);
    this.members = rest;
    return { top, other: this.otherSeries(rest) };
  }

  /**
   * Keeps the totals of a series that stops being exported (all its processes gone). A member of
   * "other" needs nothing: the next select() retires it, as it is no longer among the groups.
   */
  fold(group: SeriesGroup): void {
    if (!this.members.has(group)) this.retire(group);
  }

  private retire(group: SeriesGroup): void {
    for (const [transport, total] of group.traffic) {
      let sum = this.retired.get(transport);
      if (!sum) this.retired.set(transport, (sum = zeroTraffic()));
      addTraffic(sum, total);
    }
    this.measured.addAll(group.measured);
  }

  private otherSeries(members: ReadonlySet<SeriesGroup>): ProcessSeries {
    const sums = new Map<Transport, Traffic>();
    for (const [transport, total] of this.retired) sums.set(transport, { ...total });
    const connections = new Map<string, ConnectionCount>();
    for (const member of members) {
      for (const [transport, total] of member.traffic) {
        let sum = sums.get(transport);
        if (!sum) sums.set(transport, (sum = zeroTraffic()));
        addTraffic(sum, total);
      }
      this.measured.addAll(member.measured);
      for (const [key, c] of member.connections) {
        const sum = connections.get(key);
        if (sum) sum.count += c.count;
        else connections.set(key, { ...c });
      }
    }
    return {
      key: OTHER_KEY,
      process: { pid: OTHER_PROCESS.pid, name: OTHER_PROCESS.name },
      startTimeMs: this.startTimeMs,
      traffic: measuredTraffic(sums, this.measured),
      connections: [...connections.values()],
    };
  }
}

function byRank(a: SeriesGroup, b: SeriesGroup): number {
  return b.totalBytes() - a.totalBytes() || b.totalConnections() - a.totalConnections() || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}
