// Turns a snapshot source's per-socket cumulative counters into per-socket deltas.
// A socket that closes keeps what it contributed (its owner's total is not reduced);
// a socket seen again after its counters shrank is a new socket reusing the id.
import type { SocketRecord } from '../sources/types.js';
import type { SocketCounters } from './counters.js';

interface Counted extends SocketCounters {
  owner: string;
}

// Entries are updated in place and kept from one snapshot to the next, so a snapshot of sockets
// already known allocates nothing here: a new map and a new entry per socket, 10,000 a cycle, all
// outlived a garbage collection or two and were copied each time.
interface Seen extends Counted {
  /** The apply() call that last listed the socket. */
  round: number;
  /** Owner and counters before that call, if the socket was known then. Only read when one
   *  snapshot lists a socket twice: each listing is compared with the snapshot before. */
  previous: Counted | undefined;
}

export interface Credit {
  owner: string;
  socket: SocketRecord;
  delta: SocketCounters;
}

export class SocketLedger {
  private readonly seen = new Map<string, Seen>();
  private round = 0;
  /** New sockets held back by the last apply(); see `waitsForOwner`. */
  private held = new Set<string>();

  /**
   * `waitsForOwner`: a new socket listed without an owner, for which this says true, is left out
   * of one snapshot before it is credited to the fallback owner. The sources map sockets to PIDs
   * by scanning /proc/PID/fd apart from listing the sockets (procfs before, ss while `ss` runs),
   * so a socket opened in between is listed without an owner; crediting it to the fallback at
   * once would move its baseline and lose its bytes to the real owner for good.
   */
  constructor(private readonly waitsForOwner?: (socket: SocketRecord) => boolean) {}

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
    ownerOf: (socket: SocketRecord, index: number) => string | undefined,
    fallbackOwner: string,
    baseline: boolean,
  ): Credit[] {
    const round = ++this.round;
    const credits: Credit[] = [];
    const held = new Set<string>();
    for (let i = 0; i < sockets.length; i++) {
      const socket = sockets[i]!;
      if (!hasCounters(socket)) continue;
      let seen = this.seen.get(socket.id);
      const current = ownerOf(socket, i);
      if (!seen && current === undefined && this.waitsForOwner?.(socket) && !this.held.has(socket.id)) {
        held.add(socket.id);
        continue;
      }
      const before = seen ? beforeThisRound(seen, round) : undefined;
      const owner = current ?? before?.owner ?? fallbackOwner;
      if (seen) {
        seen.owner = owner;
        setCounters(seen, socket);
      } else {
        seen = { owner, rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0, round, previous: undefined };
        setCounters(seen, socket);
        this.seen.set(socket.id, seen);
      }
      seen.round = round;
      if (!before && baseline) continue;
      const base = before && !shrank(before, seen) ? before : NOTHING;
      if (differs(seen, base)) credits.push({ owner, socket, delta: difference(seen, base) });
    }
    // Sockets this snapshot did not list (closed), or listed without counters, are forgotten.
    for (const [id, seen] of this.seen) if (seen.round !== round) this.seen.delete(id);
    this.held = held;
    return credits;
  }

  clear(): void {
    this.seen.clear();
  }
}

/**
 * What a known socket had before this snapshot. Its first listing in the snapshot copies that
 * into `previous` (an object kept for the socket's life) before the entry is overwritten.
 */
function beforeThisRound(seen: Seen, round: number): Counted | undefined {
  if (seen.round === round) return seen.previous;
  seen.previous ??= { owner: seen.owner, rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 };
  seen.previous.owner = seen.owner;
  seen.previous.rxBytes = seen.rxBytes;
  seen.previous.txBytes = seen.txBytes;
  seen.previous.rxPackets = seen.rxPackets;
  seen.previous.txPackets = seen.txPackets;
  return seen.previous;
}

function setCounters(seen: Seen, socket: SocketRecord): void {
  seen.rxBytes = socket.rxBytes ?? 0;
  seen.txBytes = socket.txBytes ?? 0;
  seen.rxPackets = socket.rxPackets ?? 0;
  seen.txPackets = socket.txPackets ?? 0;
}

function hasCounters(s: SocketRecord): boolean {
  return s.rxBytes !== undefined || s.txBytes !== undefined || s.rxPackets !== undefined || s.txPackets !== undefined;
}

function shrank(before: SocketCounters, now: SocketCounters): boolean {
  return (
    now.rxBytes < before.rxBytes ||
    now.txBytes < before.txBytes ||
    now.rxPackets < before.rxPackets ||
    now.txPackets < before.txPackets
  );
}

const NOTHING: SocketCounters = { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 };

/** Whether difference(now, base) has a part that is neither 0 nor NaN, without building it. */
function differs(now: SocketCounters, base: SocketCounters): boolean {
  return Boolean(
    now.rxBytes - base.rxBytes ||
      now.txBytes - base.txBytes ||
      now.rxPackets - base.rxPackets ||
      now.txPackets - base.txPackets,
  );
}

function difference(now: SocketCounters, before: SocketCounters): SocketCounters {
  return {
    rxBytes: now.rxBytes - before.rxBytes,
    txBytes: now.txBytes - before.txBytes,
    rxPackets: now.rxPackets - before.rxPackets,
    txPackets: now.txPackets - before.txPackets,
  };
}
