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
