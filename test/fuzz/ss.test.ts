// parseSs under random text and mutated real `ss -tuanieHO` captures: it never throws, takes
// bounded time, yields at most one socket per line and counts every other non-blank line as
// skipped, and every socket it yields keeps the invariants the aggregator relies on.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SS_STATES } from '../../src/semconv.js';
import { parseSs } from '../../src/sources/ss/parse.js';
import type { SocketRecord } from '../../src/sources/types.js';
import { check, countLines, fixtures, inputs, params, timed, timeoutFor } from './fuzz.js';

const captures = fixtures('ss', (name) => name.endsWith('.txt'));
const TOKENS = [
  'tcp', 'udp', 'raw', ...Object.keys(SS_STATES), 'ESTAB ', 'tcp ESTAB 0 0 127.0.0.1:80 127.0.0.1:5555 ', 'udp UNCONN 0 0 *:* [::1]:53 ',
  '0', '1', '127.0.0.1:80', '[::1]:443', '*:*', '%lo',
  'ino:', 'sk:', 'sk:1a', 'cgroup:/', '<->', 'cwnd:', 'bytes_sent:', 'bytes_acked:', 'bytes_received:', 'bytes_retrans:',
  'segs_in:', 'segs_out:', 'data_segs_out:', 'ino:123 sk:1', ' ino:0 sk:0 ', 'rtt:0.1/0.05', 'mss:65483',
];
const STATES = new Set(Object.values(SS_STATES));
/** ss prints a line per socket; a line of only spaces, tabs and CRs is blank. */
const isBlank = (line: string): boolean => /^[ \t\r]*$/.test(line);

// ss separates columns by spaces, tabs and CRs only: other characters (a BOM, U+2028) may be in an address.
const ID = /^(?:ino:[1-9][0-9]*|tuple:(?:tcp|udp):[^ \t\r]+->[^ \t\r]+)$/;
const isCount = (n: number | undefined): boolean => Number.isInteger(n) && n! >= 0;

function checkSocket(socket: SocketRecord, inode: number | undefined): void {
  const what = (): string => `${JSON.stringify(socket)}, inode ${inode}`;
  check(socket.transport === 'tcp' || socket.transport === 'udp', what);
  check(STATES.has(socket.state), what);
  check(ID.test(socket.id), what);
  // The inode the source looks owners up by: the one in the id, or 0 for a tuple id; no owners yet.
  check(inode === 0 ? socket.id.startsWith('tuple:') : socket.id === `ino:${inode}`, what);
  check(socket.pids.length === 0, what);
  // Counters: all four (tcp with tcp_info) or none, each a whole non-negative number.
  const counters = [socket.rxBytes, socket.txBytes, socket.rxPackets, socket.txPackets];
  if (counters.some((c) => c !== undefined)) {
    check(socket.transport === 'tcp' && counters.every(isCount), what);
  }
}

describe('parseSs, fuzzed', () => {
  it(
    'never throws, stays within its time bound, reads or counts every non-blank line, and keeps its invariants',
    () => {
      fc.assert(
        fc.property(inputs(captures, TOKENS), (text) => {
          const result = timed(text, () => parseSs(text));
          check(result.sockets.length + result.skipped === countLines(text, isBlank), 'a line neither read nor counted');
          check(result.inodes.length === result.sockets.length, 'an inode for each socket');
          result.sockets.forEach((socket, i) => checkSocket(socket, result.inodes[i]));
        }),
        params(0.8),
      );
    },
    timeoutFor(0.8),
  );

  it(
    'reads each line on its own: the whole text gives what its lines give one by one (no state kept between lines)',
    () => {
      fc.assert(
        fc.property(inputs(captures, TOKENS), (text) => {
          const whole = parseSs(text);
          const byLine = text.split('\n').map((line) => parseSs(line));
          expect(whole.sockets).toEqual(byLine.flatMap((r) => r.sockets));
          expect(whole.inodes).toEqual(byLine.flatMap((r) => r.inodes));
          expect(whole.skipped).toBe(byLine.reduce((sum, r) => sum + r.skipped, 0));
        }),
        params(0.1),
      );
    },
    timeoutFor(0.1),
  );

  it(
    'a garbage line inserted anywhere into a capture adds one skipped line and changes no socket',
    () => {
      // A line whose first column is not `tcp` or `udp` is never a socket, whatever follows.
      const garbage = fc.tuple(fc.constantFrom('#', 'x', 'tcpx', 'UDP', '\u00a0', '\0'), fc.string({ maxLength: 200, unit: 'binary' })).map(([head, rest]) => head + rest.replace(/\n/g, ''));
      fc.assert(
        fc.property(fc.constantFrom(...captures), garbage, fc.nat(), (capture, line, at) => {
          const before = parseSs(capture);
          const lines = capture.split('\n');
          lines.splice(at % (lines.length + 1), 0, line);
          const after = parseSs(lines.join('\n'));
          expect(after.sockets).toEqual(before.sockets);
          expect(after.inodes).toEqual(before.inodes);
          expect(after.skipped).toBe(before.skipped + 1);
        }),
        params(0.1),
      );
    },
    timeoutFor(0.1),
  );
});
