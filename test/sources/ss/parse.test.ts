// parseSs against real `ss -tuanieHO` output (iproute2 6.1, Linux 6.18), captured by
// test/fixtures/ss/capture.sh. The script also wrote manifest.json: what it knew without asking
// ss (its pids, the ports and inodes of its sockets, the bytes it sent). Identities come from the
// manifest so a new capture needs no edit here; byte counts are the script's constants. ss prints
// no owners without -p: every record comes with pids [] and its inode, and the source finds the
// owners (test/sources/ss/source.test.ts).
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSs } from '../../../src/sources/ss/parse.js';
import type { SocketRecord } from '../../../src/sources/types.js';

interface Pair {
  up: number;
  down: number;
  clientIno: number;
  serverIno: number;
}
interface Bound {
  port: number;
  ino: number;
}
interface Manifest {
  capturePid: number;
  basic: {
    listen4: Bound;
    estab4: Pair & { clientPort: number };
    finwait: Pair;
    timewait: { clientPort: number };
    estab6: Pair & { port: number; listenIno: number };
    mapped: Pair & { port: number };
    udp4: Bound & { connectedIno: number };
    udp6: Bound;
    udpAny: Bound;
    udpLo: Bound;
    udpNobody: Bound & { pid: number };
    bulk: Pair;
  };
  shared: { tcpIno: number; udpIno: number };
}

function fixture(name: string): string {
  return fs.readFileSync(new URL(`../../fixtures/ss/${name}`, import.meta.url), 'utf8');
}

const m = JSON.parse(fixture('manifest.json')) as Manifest;

function byId(sockets: SocketRecord[], id: string): SocketRecord {
  const found = sockets.filter((s) => s.id === id);
  expect(found, id).toHaveLength(1);
  return found[0]!;
}

const byIno = (sockets: SocketRecord[], ino: number) => byId(sockets, `ino:${ino}`);

describe('parseSs', () => {
  it('returns nothing for empty output', () => {
    expect(parseSs('')).toEqual({ sockets: [], inodes: [], skipped: 0 });
    expect(parseSs('\n  \n')).toEqual({ sockets: [], inodes: [], skipped: 0 });
  });

  // basic.txt, all sockets of the capture process unless noted:
  //   listen4  TCP listener on 127.0.0.1
  //   estab4   client sent 1000 bytes, server answered 2500; both ends open
  //   finwait  client sent 300, server 400, then client shutdown(SHUT_WR): FIN-WAIT-2 / CLOSE-WAIT
  //   timewait client sent 10, server 20, client closed first: TIME-WAIT, no inode, no owner
  //   estab6   [::1] listener, client sent 111, server 222
  //   mapped   listener on [::ffff:127.0.0.1], IPv4 client sent 33, server 44
  //   bulk     client sent 3,000,000 and server 3,000,007 at once; one side retransmitted
  //   udp4 + a UDP socket connected to it (3 datagrams of 100 bytes), udp6 on [::1],
  //   udpAny on [::] dual-stack (*:P *:*), udpLo bound to lo (127.0.0.1%lo:P),
  //   udpNobody held by a process running as uid 65534 (uid:65534 on the line)
  describe('basic capture', () => {
    const text = fixture('basic.txt');
    const { sockets, inodes, skipped } = parseSs(text);

    it('reads every line, each socket once', () => {
      expect(skipped).toBe(0);
      expect(sockets).toHaveLength(text.trimEnd().split('\n').length);
      expect(new Set(sockets.map((s) => s.id)).size).toBe(sockets.length);
    });

    it('gives each socket its inode, as a number beside the record, and no owner', () => {
      expect(inodes).toHaveLength(sockets.length);
      sockets.forEach((s, i) => expect(s.id, `socket ${i}`).toBe(inodes[i] === 0 ? s.id : `ino:${inodes[i]}`));
      // Every socket but the TIME-WAIT one has an inode; the capture knew each from fstat().
      expect(inodes.filter((i) => i === 0)).toHaveLength(1);
      expect(inodes).toContain(m.basic.udpNobody.ino);
      for (const s of sockets) expect(s.pids, s.id).toEqual([]);
    });

    it('maps netid and state', () => {
      const b = m.basic;
      const expected: Array<[number, string, string]> = [
        [b.listen4.ino, 'tcp', 'listen'],
        [b.estab4.clientIno, 'tcp', 'established'],
        [b.estab4.serverIno, 'tcp', 'established'],
        [b.finwait.clientIno, 'tcp', 'fin_wait_2'],
        [b.finwait.serverIno, 'tcp', 'close_wait'],
        [b.estab6.listenIno, 'tcp', 'listen'],
        [b.udp4.ino, 'udp', 'close'],
        [b.udp4.connectedIno, 'udp', 'established'],
      ];
      for (const [ino, transport, state] of expected) {
        expect(byIno(sockets, ino), `ino ${ino}`).toMatchObject({ transport, state });
      }
    });

    it('gives each side of a TCP connection exactly the payload it moved', () => {
      // Raw client line: bytes_sent:1000 bytes_acked:1001 bytes_received:2500 (the SYN is acked).
      // Raw server line: bytes_sent:2500 bytes_acked:2500 bytes_received:1000 (no SYN counted).
      const { up, down, clientIno, serverIno } = m.basic.estab4;
      expect(byIno(sockets, clientIno)).toEqual({
        id: `ino:${clientIno}`,
        transport: 'tcp',
        state: 'established',
        pids: [],
        rxBytes: down,
        txBytes: up,
        rxPackets: 3, // segs_in:3 as printed
        txPackets: 4, // segs_out:4 as printed
      });
      expect(byIno(sockets, serverIno)).toMatchObject({ rxBytes: up, txBytes: down, rxPackets: 4, txPackets: 2 });
    });

    it('does not count the FIN as payload on either side', () => {
      // Raw: client bytes_acked:302 (SYN + 300 + FIN); server bytes_received:301 (300 + FIN).
      const { up, down, clientIno, serverIno } = m.basic.finwait;
      expect(byIno(sockets, clientIno)).toMatchObject({ state: 'fin_wait_2', rxBytes: down, txBytes: up });
      expect(byIno(sockets, serverIno)).toMatchObject({ state: 'close_wait', rxBytes: up, txBytes: down });
    });

    it('does not count retransmitted bytes twice', () => {
      // The capture retried until one side showed bytes_retrans (bytes_sent = payload + retrans).
      const { up, down, clientIno, serverIno } = m.basic.bulk;
      const lines = text.split('\n').filter((l) => [clientIno, serverIno].some((i) => l.includes(` ino:${i} `)));
      expect(lines.some((l) => / bytes_retrans:[1-9]/.test(l))).toBe(true);
      expect(byIno(sockets, clientIno)).toMatchObject({ rxBytes: down, txBytes: up });
      expect(byIno(sockets, serverIno)).toMatchObject({ rxBytes: up, txBytes: down });
    });

    it('reads IPv6 and v4-mapped connections', () => {
      const six = m.basic.estab6;
      expect(byIno(sockets, six.clientIno)).toMatchObject({ state: 'established', rxBytes: six.down, txBytes: six.up });
      expect(byIno(sockets, six.serverIno)).toMatchObject({ state: 'established', rxBytes: six.up, txBytes: six.down });
      const mapped = m.basic.mapped;
      expect(byIno(sockets, mapped.clientIno)).toMatchObject({ rxBytes: mapped.down, txBytes: mapped.up });
      expect(byIno(sockets, mapped.serverIno)).toMatchObject({ rxBytes: mapped.up, txBytes: mapped.down });
    });

    it('reports a listener with tcp_info as zero traffic, not unknown', () => {
      expect(byIno(sockets, m.basic.listen4.ino)).toMatchObject({ rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 });
    });

    it('gives UDP sockets no counters', () => {
      const b = m.basic;
      const udp = sockets.filter((s) => s.transport === 'udp');
      expect(udp.map((s) => s.id).sort()).toEqual(
        [b.udp4.ino, b.udp4.connectedIno, b.udp6.ino, b.udpAny.ino, b.udpLo.ino, b.udpNobody.ino].map((i) => `ino:${i}`).sort(),
      );
      for (const s of udp) {
        expect(s, s.id).not.toHaveProperty('rxBytes');
        expect(s, s.id).not.toHaveProperty('txBytes');
        expect(s, s.id).not.toHaveProperty('rxPackets');
        expect(s, s.id).not.toHaveProperty('txPackets');
      }
      expect(byIno(sockets, b.udpAny.ino)).toMatchObject({ state: 'close' }); // *:P *:*
      expect(byIno(sockets, b.udpLo.ino)).toMatchObject({ state: 'close' }); // 127.0.0.1%lo:P
    });

    it('identifies a TIME-WAIT socket by its tuple, with inode 0 and no counters', () => {
      const id = `tuple:tcp:127.0.0.1:${m.basic.timewait.clientPort}->127.0.0.1:${m.basic.listen4.port}`;
      const tw = byId(sockets, id);
      expect(inodes[sockets.indexOf(tw)]).toBe(0);
      expect(tw).toEqual({
        id: `tuple:tcp:127.0.0.1:${m.basic.timewait.clientPort}->127.0.0.1:${m.basic.listen4.port}`,
        transport: 'tcp',
        state: 'time_wait',
        pids: [],
      });
    });
  });

  it('reads sockets held by two processes like any other (shared.txt)', () => {
    // ss without -p prints the same line however many processes hold the socket.
    const { sockets, inodes, skipped } = parseSs(fixture('shared.txt'));
    expect(skipped).toBe(0);
    expect([...inodes].sort((a, b) => a - b)).toEqual([m.shared.tcpIno, m.shared.udpIno].sort((a, b) => a - b));
    expect(byIno(sockets, m.shared.tcpIno)).toMatchObject({ transport: 'tcp', state: 'listen', pids: [] });
    expect(byIno(sockets, m.shared.udpIno)).toMatchObject({ transport: 'udp', state: 'close', pids: [] });
  });

  describe('the key:value fields after the address columns', () => {
    // The estab4 server side from basic.txt, changed by hand the ways ss could print it.
    const line = fixture('basic.txt').split('\n').find((l) => l.includes(` ino:${m.basic.estab4.serverIno} `))!;
    const expected = parseSs(line).sockets[0]!;

    it('reads the same socket whether fields are separated by spaces, tabs or carriage returns', () => {
      expect(parseSs(line.replaceAll(' ', '\t')).sockets).toEqual([expected]);
      expect(parseSs(line.replaceAll(' ino:', '\rino:').replaceAll(' bytes_acked:', '\r\tbytes_acked:')).sockets).toEqual([expected]);
    });

    it('reads a key only where a field starts: glued to the peer column, ino is part of that column', () => {
      // The line then has no ino field, which -e always prints: it was damaged, and is skipped.
      expect(parseSs(line.replace(/ +ino:/, 'ino:'))).toEqual({ sockets: [], inodes: [], skipped: 1 });
    });

    it('reads a key only at the start of a field, never inside another field', () => {
      const lookalikes = line.replace(' cgroup:', ' xbytes_acked:1 bbr:(ino:7,bytes_received:9) cgroup:');
      expect(parseSs(lookalikes).sockets).toEqual([expected]);
    });

    it('takes the last of a repeated field, and rejects the line if any copy is not a number', () => {
      const repeated = `${line.trimEnd()} bytes_received:${m.basic.estab4.up + 5}`;
      expect(parseSs(repeated).sockets[0]).toMatchObject({ rxBytes: m.basic.estab4.up + 5 });
      expect(parseSs(`${line.trimEnd()} ino:x`)).toEqual({ sockets: [], inodes: [], skipped: 1 });
    });

    it('reads numbers past 2^53 the way Number() does, up to the 20 digits of a u64', () => {
      const huge = line.replace(/ bytes_received:\d+/, ' bytes_received:12345678901234567890');
      expect(parseSs(huge).sockets[0]!.rxBytes).toBe(Number('12345678901234567890'));
      // 21 digits is more than ss prints for a u64: a damaged line (test/fuzz found 400 digits read as Infinity).
      expect(parseSs(line.replace(/ bytes_received:\d+/, ' bytes_received:123456789012345678901'))).toEqual({ sockets: [], inodes: [], skipped: 1 });
    });
  });

  describe('truncated and garbled output', () => {
    // truncated.txt: 3 intact lines from basic.txt (listen4, udp4, estab4 server side), 8 lines
    // damaged from them (missing peer column, bytes_received:1x…, segs_in:-…, state ESTABLISHED,
    // netid sctp, local address without port, ino:abc…, "garbage"), then listen4 cut inside its
    // inode, before the sk field that -e always prints.
    const { sockets, skipped } = parseSs(fixture('truncated.txt'));

    it('skips and counts every damaged line', () => {
      expect(skipped).toBe(9);
    });

    it('still reads the intact lines in full', () => {
      const b = m.basic;
      expect(sockets.map((s) => s.id)).toEqual([b.listen4.ino, b.udp4.ino, b.estab4.serverIno].map((i) => `ino:${i}`));
      expect(byIno(sockets, b.estab4.serverIno)).toMatchObject({ rxBytes: b.estab4.up, txBytes: b.estab4.down });
    });

    it('never throws, whatever prefix of a line it gets', () => {
      const line = fixture('basic.txt').split('\n').find((l) => l.includes(` ino:${m.basic.bulk.clientIno} `))!;
      for (let end = 0; end <= line.length; end++) {
        const prefix = line.slice(0, end);
        const { sockets: got, skipped: bad } = parseSs(prefix);
        expect(got.length + bad, prefix).toBe(prefix.trim() === '' ? 0 : 1);
      }
    });
  });
});
