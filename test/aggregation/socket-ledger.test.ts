import { describe, expect, it } from 'vitest';
import { SocketLedger } from '../../src/aggregation/socket-ledger.js';
import type { SocketRecord } from '../../src/sources/types.js';

const tcp = (id: string, rx: number, tx: number, pids = [10]): SocketRecord => ({
  id,
  transport: 'tcp',
  state: 'established',
  pids,
  rxBytes: rx,
  txBytes: tx,
  rxPackets: 0,
  txPackets: 0,
});
const ownerOf = (s: SocketRecord): string | undefined => (s.pids[0] === undefined ? undefined : `p${s.pids[0]}`);

describe('SocketLedger', () => {
  it('credits a new socket with everything it carried, then only what it added', () => {
    const ledger = new SocketLedger();
    expect(ledger.apply([tcp('a', 100, 50)], ownerOf, 'kernel', false).map((c) => c.delta.rxBytes)).toEqual([100]);
    const second = ledger.apply([tcp('a', 130, 50)], ownerOf, 'kernel', false);
    expect(second).toHaveLength(1);
    expect(second[0]!.delta).toMatchObject({ rxBytes: 30, txBytes: 0 });
  });

  it('forgets a closed socket without taking back what it contributed', () => {
    const ledger = new SocketLedger();
    ledger.apply([tcp('a', 100, 0)], ownerOf, 'kernel', false);
    expect(ledger.apply([], ownerOf, 'kernel', false)).toEqual([]);
    expect(ledger.size).toBe(0);
  });

  it('treats shrinking counters under a known id as a new socket that reused the id', () => {
    const ledger = new SocketLedger();
    ledger.apply([tcp('a', 1000, 0)], ownerOf, 'kernel', false);
    const credits = ledger.apply([tcp('a', 40, 0)], ownerOf, 'kernel', false);
    expect(credits[0]!.delta.rxBytes).toBe(40);
  });

  it('with baseline, only sets the starting point for sockets seen the first time', () => {
    const ledger = new SocketLedger();
    expect(ledger.apply([tcp('a', 1000, 0)], ownerOf, 'kernel', true)).toEqual([]);
    expect(ledger.apply([tcp('a', 1500, 0)], ownerOf, 'kernel', false)[0]!.delta.rxBytes).toBe(500);
  });

  it('keeps crediting the previous owner when the socket loses its owner (closed, still draining)', () => {
    const ledger = new SocketLedger();
    ledger.apply([tcp('a', 0, 100, [7])], ownerOf, 'kernel', false);
    const credits = ledger.apply([tcp('a', 0, 160, [])], ownerOf, 'kernel', false);
    expect(credits[0]).toMatchObject({ owner: 'p7', delta: { txBytes: 60 } });
    expect(ledger.apply([tcp('b', 5, 0, [])], ownerOf, 'kernel', false)[0]!.owner).toBe('kernel');
  });

  it('ignores sockets without counters (TIME_WAIT, UDP from ss)', () => {
    const ledger = new SocketLedger();
    const tw: SocketRecord = { id: 'tuple:x', transport: 'tcp', state: 'time_wait', pids: [] };
    expect(ledger.apply([tw], ownerOf, 'kernel', false)).toEqual([]);
    expect(ledger.size).toBe(0);
  });
});

describe('SocketLedger, compared with the straightforward model it replaced', () => {
  // The ledger updates its entries in place instead of building a new map of new entries every
  // snapshot (10,000 of them a cycle). `model` is the plain version: same inputs, same credits.
  interface Counted {
    owner: string;
    rxBytes: number;
    txBytes: number;
    rxPackets: number;
    txPackets: number;
  }
  function model(): (sockets: SocketRecord[], owners: (string | undefined)[], baseline: boolean) => unknown[] {
    let seen = new Map<string, Counted>();
    return (sockets, owners, baseline) => {
      const next = new Map<string, Counted>();
      const credits: unknown[] = [];
      sockets.forEach((socket, i) => {
        if ([socket.rxBytes, socket.txBytes, socket.rxPackets, socket.txPackets].every((v) => v === undefined)) return;
        const before = seen.get(socket.id);
        const owner = owners[i] ?? before?.owner ?? 'kernel';
        const now = {
          owner,
          rxBytes: socket.rxBytes ?? 0,
          txBytes: socket.txBytes ?? 0,
          rxPackets: socket.rxPackets ?? 0,
          txPackets: socket.txPackets ?? 0,
        };
        next.set(socket.id, now);
        if (!before && baseline) return;
        const shrank = before && (['rxBytes', 'txBytes', 'rxPackets', 'txPackets'] as const).some((k) => now[k] < before[k]);
        const base = before && !shrank ? before : { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 };
        const delta = {
          rxBytes: now.rxBytes - base.rxBytes,
          txBytes: now.txBytes - base.txBytes,
          rxPackets: now.rxPackets - base.rxPackets,
          txPackets: now.txPackets - base.txPackets,
        };
        if (delta.rxBytes || delta.txBytes || delta.rxPackets || delta.txPackets) credits.push({ owner, id: socket.id, delta });
      });
      seen = next;
      return credits;
    };
  }

  it('gives the same credits over 2,000 random snapshots: reused ids, lists twice, lost owners, shrinking and missing counters', () => {
    let seed = 42;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const counters = new Map<string, number>();
    const ledger = new SocketLedger();
    const reference = model();
    for (let round = 0; round < 2000; round++) {
      const sockets: SocketRecord[] = [];
      const owners: (string | undefined)[] = [];
      for (let n = random(8); n > 0; n--) {
        const id = `s${random(10)}`;
        const grow = random(5) === 0 ? -random(50) : random(3) * 10; // now and then a reused id
        const value = Math.max(0, (counters.get(id) ?? 0) + grow);
        counters.set(id, value);
        const withCounters = random(6) !== 0; // TIME_WAIT, UDP: no counters
        sockets.push({
          id,
          transport: 'tcp',
          state: 'established',
          pids: [],
          ...(withCounters ? { rxBytes: value, txBytes: value >> 1, rxPackets: random(3), txPackets: undefined } : {}),
        });
        owners.push(random(3) === 0 ? undefined : `p${random(3)}`);
      }
      if (random(10) === 0 && sockets.length > 0) {
        sockets.push({ ...sockets[0]!, rxBytes: (sockets[0]!.rxBytes ?? 0) + 5 }); // one socket listed twice
        owners.push(owners[0]);
      }
      const baseline = round % 500 === 0;
      const credits = ledger.apply(sockets, (_, i) => owners[i], 'kernel', baseline);
      const simple = credits.map((c) => ({ owner: c.owner, id: c.socket.id, delta: { ...c.delta } }));
      expect(simple, `round ${round}`).toEqual(reference(sockets, owners, baseline));
    }
  });

  it('compares a socket listed twice in one snapshot with the snapshot before, both times', () => {
    const ledger = new SocketLedger();
    ledger.apply([tcp('a', 100, 0)], ownerOf, 'kernel', false);
    const credits = ledger.apply([tcp('a', 130, 0), tcp('a', 150, 0)], ownerOf, 'kernel', false);
    expect(credits.map((c) => c.delta.rxBytes)).toEqual([30, 50]);
    expect(ledger.apply([tcp('a', 160, 0)], ownerOf, 'kernel', false)[0]!.delta.rxBytes).toBe(10);
  });
});
