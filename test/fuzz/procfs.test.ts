// The /proc parsers (src/host/proc/parse.ts) under random text and mutated real /proc files
// (test/fixtures/procfs, captured by its capture.sh): they never throw, take bounded time, yield
// at most one entry per line and count every other row, and what they yield is well-formed.
import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KERNEL_TCP_STATES } from '../../src/semconv.js';
import { parseCapEff, parseCapSet, parseContainerId, parseNetTable, parseNsInode, parseStat, socketInode, type NetEntry } from '../../src/host/proc/parse.js';
import { check, fixture, fixtures, inputs, params, timed, timeoutFor } from './fuzz.js';

const STATES = new Set(Object.values(KERNEL_TCP_STATES));
const netTables = ['tcp', 'tcp6', 'udp', 'udp6', 'tcp.truncated'].map((name) => fixture(`procfs/${name}`));
const NET_TOKENS = [
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode', '   0: ', '  12: ',
  '0100007F:1F90', '00000000:0000', '0000000000000000FFFF00000100007F:B0F3', '00000000000000000000000001000000:9E65',
  ' 0A ', ' 01 ', ' 06 ', ' 0C ', ' 00 ', ' FF ', '00000000:00000000', '00:00000000', '03:00001737', '00000000', '0', '65534',
  '11711', '1', '00000000db947c67', '100', '-1', ':', 'sl', ' ', '\t',
];

/** Columns as /proc/net/* separates them: by whatever `\s` matches. */
const columnsOf = (line: string): string[] => line.split(/\s+/).filter((c) => c !== '');
/** Rows a net table parser must read or count: every line with a column, but the header (first column `sl`). */
const rowsOf = (text: string): number => text.split('\n').filter((line) => columnsOf(line).length > 0 && columnsOf(line)[0] !== 'sl').length;

function checkEndpoint(endpoint: string): boolean {
  const match = /^(?:(\d{1,3}(?:\.\d{1,3}){3})|\[([0-9a-f:.]+)\]):(\d{1,5})$/.exec(endpoint);
  if (!match) return false;
  const address = match[1] ?? match[2]!;
  return isIP(address) === (match[1] ? 4 : 6) && Number(match[3]) <= 0xffff;
}

function checkEntry(entry: NetEntry, endpoints: 'all' | 'without-inode'): void {
  const what = (): string => JSON.stringify(entry);
  check(Number.isSafeInteger(entry.inode) && entry.inode >= 0, what);
  check(Number.isSafeInteger(entry.uid) && entry.uid >= 0, what);
  check(STATES.has(entry.state), what);
  if (endpoints === 'without-inode' && entry.inode !== 0) check(entry.local === '' && entry.remote === '', what);
  else check(checkEndpoint(entry.local) && checkEndpoint(entry.remote), what);
}

const endpointsArb = fc.constantFrom('all' as const, 'without-inode' as const);
const transportArb = fc.constantFrom('tcp' as const, 'udp' as const);

describe('parseNetTable (/proc/net/{tcp,tcp6,udp,udp6}), fuzzed', () => {
  it(
    'never throws, stays within its time bound, reads or counts every row, and yields well-formed entries',
    () => {
      fc.assert(
        fc.property(inputs(netTables, NET_TOKENS), transportArb, endpointsArb, (text, transport, endpoints) => {
          const result = timed(text, () => parseNetTable(text, transport, endpoints));
          check(result.entries.length + result.skipped === rowsOf(text), 'a row neither read nor counted');
          for (const entry of result.entries) checkEntry(entry, endpoints);
        }),
        params(0.8),
      );
    },
    timeoutFor(0.8),
  );

  it(
    'reads each row on its own: the whole table gives what its rows give one by one',
    () => {
      fc.assert(
        fc.property(inputs(netTables, NET_TOKENS), endpointsArb, (text, endpoints) => {
          const whole = parseNetTable(text, 'tcp', endpoints);
          const byRow = text.split('\n').map((row) => parseNetTable(row, 'tcp', endpoints));
          expect(whole.entries).toEqual(byRow.flatMap((r) => r.entries));
          expect(whole.skipped).toBe(byRow.reduce((sum, r) => sum + r.skipped, 0));
        }),
        params(0.1),
      );
    },
    timeoutFor(0.1),
  );

  it(
    'a garbage row inserted anywhere into a real table adds one skipped row and changes no entry',
    () => {
      // One column that is not `sl`: never an entry, never the header.
      const garbage = fc.string({ maxLength: 200, unit: 'binary' }).map((s) => `#${s.replace(/\s/g, '')}`);
      fc.assert(
        fc.property(fc.constantFrom(...netTables), garbage, fc.nat(), endpointsArb, (table, row, at, endpoints) => {
          const before = parseNetTable(table, 'tcp', endpoints);
          const rows = table.split('\n');
          rows.splice(at % (rows.length + 1), 0, row);
          const after = parseNetTable(rows.join('\n'), 'tcp', endpoints);
          expect(after.entries).toEqual(before.entries);
          expect(after.skipped).toBe(before.skipped + 1);
        }),
        params(0.1),
      );
    },
    timeoutFor(0.1),
  );
});

describe('parseStat (/proc/PID/stat), fuzzed', () => {
  const stats = [fixture('procfs/stat.weird-comm')];
  const TOKENS = ['(', ')', ') ', ' (', ') S ', 'S', 'R', 'Z', '0', '-1', '5567', '18446744073709551615', ' ', '\n', 'ü', ') ) ('];

  it(
    'never throws, stays within its time bound, and yields a pid, a start time and the comm between the first ( and the last )',
    () => {
      fc.assert(
        fc.property(inputs(stats, TOKENS), (text) => {
          const result = timed(text, () => parseStat(text));
          if (result === undefined) return;
          check(Number.isSafeInteger(result.pid) && result.pid >= 0, 'pid');
          check(Number.isSafeInteger(result.startTicks) && result.startTicks >= 0, 'startTicks');
          check(result.comm === text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')), 'comm');
        }),
        params(0.7),
      );
    },
    timeoutFor(0.7),
  );

  it(
    'reads back any comm, however odd (spaces, parentheses, newlines, invalid UTF-16), with the pid and start time the kernel printed',
    () => {
      const number = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String);
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 4_194_304 }),
          fc.string({ unit: 'binary', maxLength: 64 }),
          fc.constantFrom('R', 'S', 'D', 'Z', 'T', 'I'),
          fc.array(number, { minLength: 18, maxLength: 18 }),
          fc.nat(),
          fc.array(number, { maxLength: 40 }),
          (pid, comm, state, before, startTicks, after) => {
            const text = `${pid} (${comm}) ${state} ${[...before, startTicks, ...after].join(' ')}\n`;
            expect(parseStat(text)).toEqual({ pid, comm, startTicks });
          },
        ),
        params(0.3),
      );
    },
    timeoutFor(0.3),
  );
});

describe('parseCapEff and parseCapSet (/proc/PID/status), fuzzed', () => {
  const statuses = ['status.root', 'status.unprivileged', 'status.net-admin-ptrace'].map((name) => fixture(`procfs/${name}`));
  const TOKENS = ['CapEff:', 'CapAmb:', 'CapPrm:', '\t', '000001ffffffffff', '0000000000000000', 'ffffffffffffffffff', 'xyz', 'Name:', '\n', ' '];
  const field = fc.constantFrom('CapEff', 'CapAmb', 'CapPrm', 'CapBnd', 'CapInh', 'Cap', '', 'Name');

  it(
    'never throws, stays within its time bound, and yields a 64-bit set or nothing',
    () => {
      fc.assert(
        fc.property(inputs(statuses, TOKENS), field, (text, name) => {
          const result = timed(text, () => [parseCapEff(text), parseCapSet(text, name)]);
          for (const set of result) check(set === undefined || (set >= 0n && set < 2n ** 64n), () => `${set}`);
        }),
        params(0.8),
      );
    },
    timeoutFor(0.8),
  );

  it(
    'reads back the set the kernel printed (16 hex digits), whatever lines stand around it',
    () => {
      const hex = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((n) => n.toString(16).padStart(16, '0'));
      const otherLine = fc.string({ maxLength: 60 }).map((s) => s.replace(/\n/g, '').replace(/^Cap/, 'cap'));
      fc.assert(
        fc.property(fc.array(otherLine, { maxLength: 10 }), hex, fc.nat(), field.filter((f) => f !== ''), (lines, value, at, name) => {
          lines.splice(at % (lines.length + 1), 0, `${name}:\t${value}`);
          expect(parseCapSet(lines.join('\n'), name)).toBe(BigInt(`0x${value}`));
        }),
        params(0.2),
      );
    },
    timeoutFor(0.2),
  );
});

describe('parseContainerId (/proc/PID/cgroup), fuzzed', () => {
  const cgroups = fixtures('procfs', (name) => name.startsWith('cgroup.'));
  const id = fc.stringMatching(/^[0-9a-f]{64}$/);
  const TOKENS = ['0::/', '12:memory:/', '/', 'docker-', '.scope', 'cri-containerd-', 'crio-', 'crio-conmon-', 'libpod-', ':cri-containerd:', 'kubepods', '-', ':', 'a'.repeat(64), '0123456789abcdef'.repeat(4), 'f'.repeat(63), 'A'.repeat(64)];

  it(
    'never throws, stays within its time bound, and yields 64 lower-case hex digits found in the text, or nothing',
    () => {
      fc.assert(
        fc.property(inputs(cgroups, TOKENS), (text) => {
          const result = timed(text, () => parseContainerId(text));
          if (result !== undefined) check(/^[0-9a-f]{64}$/.test(result) && text.includes(result), result);
        }),
        params(0.8),
      );
    },
    timeoutFor(0.8),
  );

  it(
    'finds the id of every runtime naming scheme, the innermost one when nested',
    () => {
      const segment = (cid: string): fc.Arbitrary<string> =>
        fc.constantFrom(cid, `docker-${cid}.scope`, `cri-containerd-${cid}.scope`, `crio-${cid}.scope`, `libpod-${cid}.scope`, `kubepods-pod1.slice:cri-containerd:${cid}`);
      const dir = fc.stringMatching(/^[a-z0-9.-]{1,20}$/);
      fc.assert(
        fc.property(fc.array(dir, { maxLength: 4 }), id.chain(segment), fc.option(id.chain(segment)), fc.constantFrom('0::', '12:memory:', '1:name=systemd:'), (dirs, outer, inner, head) => {
          const path = ['', ...dirs, outer, ...(inner === null ? [] : [inner])].join('/');
          const expected = /([0-9a-f]{64})/.exec(inner ?? outer)![1];
          expect(parseContainerId(`${head}${path}\n`)).toBe(expected);
        }),
        params(0.2),
      );
    },
    timeoutFor(0.2),
  );
});

describe('socketInode and parseNsInode (readlink targets), fuzzed', () => {
  const links = [fixture('procfs/fd.links'), fixture('procfs/ns-net.link')].flatMap((text) => text.split('\n'));
  const TOKENS = ['socket:[', 'net:[', ']', '[', 'pipe:[', 'anon_inode:[eventfd]', '/dev/null', '0', '4026531833'];
  /** What the kernel prints: `prefix:[N]` with N a decimal number; only a safe integer is usable. */
  function expected(link: string, prefix: string): number | undefined {
    const match = new RegExp(`^${prefix}:\\[([0-9]+)\\]$`).exec(link);
    const value = match ? Number(match[1]) : undefined;
    return value !== undefined && Number.isSafeInteger(value) ? value : undefined;
  }

  it(
    'never throw, stay within their time bound, and read exactly `socket:[N]` and `net:[N]`',
    () => {
      fc.assert(
        fc.property(inputs(links, TOKENS), (link) => {
          const result = timed(link, () => [socketInode(link), parseNsInode(link)]);
          expect(result).toEqual([expected(link, 'socket'), expected(link, 'net')]);
        }),
        params(0.8),
      );
    },
    timeoutFor(0.8),
  );

  it(
    'read back any safe inode',
    () => {
      fc.assert(
        fc.property(fc.maxSafeNat(), (inode) => {
          expect([socketInode(`socket:[${inode}]`), parseNsInode(`net:[${inode}]`)]).toEqual([inode, inode]);
        }),
        params(0.2),
      );
    },
    timeoutFor(0.2),
  );
});
