// Turns a snapshot source's per-socket cumulative counters into per-socket deltas.
// A socket that closes keeps what it contributed (its owner's total is not reduced);
// a socket seen again after its counters shrank is a new socket reusing the id.
import type { SocketRecord } from '../sources/types.js';
import type { Traffic } from './counters.js';

interface Seen {
  owner: string;
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
}

export interface Credit {
  owner: string;
  socket: SocketRecord;
  delta: Traffic;
}

export class SocketLedger {
  private seen = new Map<string, Seen>();

  get size(): number {
    return this.seen.size;
  }

  /**
   * Returns the traffic each socket added since the previous snapshot.
   * `ownerOf` names the process the socket belongs to now (undefined: no owner; the previous
   * owner, if any, keeps being credited, since an orphaned socket still finishes its sends).
   * With `baseline`, sockets seen for the first time only set the starting point: used when the
   * source takes a family over from another source at runtime, which already counted the past.
   */
  apply(
    sockets: readonly SocketRecord[],
    ownerOf: (socket: SocketRecord) => string | undefined,
    fallbackOwner: string,
    baseline: boolean,
  ): Credit[] {
    const next = new Map<string, Seen>();
    const credits: Credit[] = [];
    for (const socket of sockets) {
      if (!hasCounters(socket)) continue;
      const before = this.seen.get(socket.id);
      const owner = ownerOf(socket) ?? before?.owner ?? fallbackOwner;
      const now: Seen = {
        owner,
        rxBytes: socket.rxBytes ?? 0,
        txBytes: socket.txBytes ?? 0,
        rxPackets: socket.rxPackets ?? 0,
        txPackets: socket.txPackets ?? 0,
      };
      next.set(socket.id, now);
      if (!before && baseline) continue;
      const delta = before && !shrank(before, now) ? difference(now, before) : now;
      if (delta.rxBytes || delta.txBytes || delta.rxPackets || delta.txPackets) {
        credits.push({ owner, socket, delta });
      }
    }
    this.seen = next;
    return credits;
  }

  clear(): void {
    this.seen.clear();
  }
}

function hasCounters(s: SocketRecord): boolean {
  return s.rxBytes !== undefined || s.txBytes !== undefined || s.rxPackets !== undefined || s.txPackets !== undefined;
}

function shrank(before: Seen, now: Seen): boolean {
  return (
    now.rxBytes < before.rxBytes ||
    now.txBytes < before.txBytes ||
    now.rxPackets < before.rxPackets ||
    now.txPackets < before.txPackets
  );
}

function difference(now: Seen, before: Seen): Traffic {
  return {
    rxBytes: now.rxBytes - before.rxBytes,
    txBytes: now.txBytes - before.txBytes,
    rxPackets: now.rxPackets - before.rxPackets,
    txPackets: now.txPackets - before.txPackets,
  };
}
