// The nethogs trace parser (src/sources/nethogs/parse.ts) under random lines and mutated real
// `nethogs -t -v 2` output (test/fixtures/nethogs): parseNethogsLine never throws, takes bounded
// time and yields bounded, clean values; the block assembler puts every process line in a block
// or counts it, counts every garbled line, and the totals it hands on are whole bytes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_COMM_LENGTH } from '../../src/host/names.js';
import { CumulativeTracker, RefreshAssembler, parseNethogsLine, type NethogsLine, type ProcessLine } from '../../src/sources/nethogs/parse.js';
import { LINE_MS, check, fixtures, inputs, params, timed, timeoutFor, within } from './fuzz.js';

const captures = fixtures('nethogs', (name) => name.endsWith('.txt'));
const TOKENS = [
  'Refreshing:', 'Adding local address: ', 'Ethernet link detected', 'Unknown connection: ', '10.0.0.1:22-10.0.0.2:5555',
  'unknown TCP', 'unknown UDP', '/0/0', '/4242/1000', '/4194305/0', '/1/4294967296', '\t', '\t0\t0', '6.01649e+06', '1e+400', '1.5',
  '/usr/bin/python3', 'np paced sender', 'Error opening handler for device ', 'You need to be root', 'No devices to monitor',
  'Error dispatching for device ', 'failed to get selectable_fd', '\r', '/', ' ',
];
const PID_MAX = 4_194_304;
const KINDS = new Set(['refresh', 'blank', 'process', 'unknown-connection', 'info', 'message', 'garbled']);
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** The most a message or garbled line keeps: 300 characters and an ellipsis. */
const MAX_TEXT = 301;

/** A whole number of bytes. Past 2^53 it is rounded (two lines of one process are summed), never Infinity or NaN. */
const isWhole = (n: number): boolean => Number.isInteger(n) && n >= 0;
const isName = (name: string): boolean => !CONTROL.test(name) && Array.from(name).length <= MAX_COMM_LENGTH;

function checkLine(parsed: NethogsLine): void {
  const what = (): string => JSON.stringify(parsed);
  check(KINDS.has(parsed.kind), what);
  switch (parsed.kind) {
    case 'process':
      check(Number.isInteger(parsed.pid) && parsed.pid >= 0 && parsed.pid <= PID_MAX, what);
      check(Number.isInteger(parsed.uid) && parsed.uid >= 0 && parsed.uid <= 0xffff_ffff, what);
      check(Number.isSafeInteger(parsed.sent) && Number.isSafeInteger(parsed.received) && parsed.sent >= 0 && parsed.received >= 0, what);
      check(isName(parsed.program), what);
      check(parsed.name === undefined ? true : parsed.pid > 0 && parsed.name !== '' && isName(parsed.name), what);
      break;
    case 'garbled':
      check(parsed.text.length <= MAX_TEXT && !CONTROL.test(parsed.text), what);
      break;
    case 'message':
      check(parsed.message.length <= MAX_TEXT && !CONTROL.test(parsed.message), what);
      break;
    case 'unknown-connection':
      check(parsed.connection.length <= 201 && !CONTROL.test(parsed.connection), what);
      break;
  }
}

/** Lines as the source's line reader hands them on: split at newlines, the empty rest after the last one dropped. */
function linesOf(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

describe('parseNethogsLine, fuzzed', () => {
  it(
    'never throws, stays within its time bound per line, and yields bounded, clean values',
    () => {
      fc.assert(
        fc.property(inputs(captures, TOKENS), (text) => {
          for (const line of linesOf(text)) checkLine(within(LINE_MS + line.length / 1024, () => parseNethogsLine(line), `${line.length} characters`));
        }),
        params(0.6),
      );
    },
    timeoutFor(0.6),
  );

  it(
    'reads back any process line nethogs can print: argv[0] with slashes, spaces and tabs, pids, uids and totals',
    () => {
      const program = fc.string({ maxLength: 60 }).map((s) => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, ''));
      fc.assert(
        fc.property(program, fc.integer({ min: 0, max: PID_MAX }), fc.integer({ min: 0, max: 0xffff_ffff }), fc.nat({ max: 2 ** 24 }), fc.nat({ max: 2 ** 24 }), (argv0, pid, uid, sent, received) => {
          const parsed = parseNethogsLine(`${argv0}/${pid}/${uid}\t${sent}\t${received}`);
          expect(parsed).toMatchObject({ kind: 'process', pid, uid, sent, received, program: Array.from(argv0).slice(0, MAX_COMM_LENGTH).join('') });
        }),
        params(0.1),
      );
    },
    timeoutFor(0.1),
  );
});

describe('RefreshAssembler and CumulativeTracker, fuzzed', () => {
  it(
    'put every process line in a block or count it as stray, count every garbled line, and hand on whole, non-negative increments',
    () => {
      fc.assert(
        fc.property(inputs(captures, TOKENS), (text) => {
          const lines = linesOf(text);
          const tracker = new CumulativeTracker();
          const kinds = lines.map((line) => parseNethogsLine(line).kind);
          // timed() may run it again (when a pause made it slow): a new assembler each time.
          const { assembler, events } = timed(text, () => {
            const fresh = new RefreshAssembler();
            return { assembler: fresh, events: [...lines.flatMap((line) => fresh.line(line)), ...fresh.seal()] };
          });
          let inBlocks = 0;
          let processLines = 0;
          for (const event of events) {
            if (event.kind !== 'block') continue;
            inBlocks += event.lines.length;
            for (const increment of tracker.apply(event.lines, event.clean)) {
              check([increment.rxBytes, increment.txBytes, increment.rxPackets, increment.txPackets].every((n) => n === undefined || isWhole(n)), () => JSON.stringify(increment));
              check(increment.rxBytes + increment.txBytes > 0, 'an empty increment');
            }
          }
          for (const kind of kinds) if (kind === 'process') processLines++;
          check(inBlocks + assembler.skipped.stray === processLines, 'a process line neither in a block nor counted');
          check(assembler.skipped.garbled === kinds.filter((k) => k === 'garbled').length, 'a garbled line not counted');
          // At most two events per line (the block it ends and `ready`), and one for the sealed block.
          check(events.length <= 2 * lines.length + 1, 'more events than lines');
          check(tracker.size <= processLines, 'the tracker holds more processes than it was given');
        }),
        params(0.2),
      );
    },
    timeoutFor(0.2),
  );

  it(
    'a garbled line inserted into a real capture is counted, makes its block not clean, and changes no process line',
    () => {
      const capture = captures[0]!;
      // No tab and no known prefix: neither a process line nor a message.
      const garbage = fc.string({ minLength: 1, maxLength: 80 }).map((s) => `#${s.replace(/[\t\n\r]/g, '')}`);
      const blocksOf = (lines: string[]): { lines: ProcessLine[]; clean: boolean }[] => {
        const assembler = new RefreshAssembler();
        const blocks = lines.flatMap((line) => assembler.line(line)).flatMap((e) => (e.kind === 'block' ? [e] : []));
        return blocks.map(({ lines: l, clean }) => ({ lines: l, clean }));
      };
      fc.assert(
        fc.property(garbage, fc.nat(), (line, at) => {
          const lines = linesOf(capture);
          const before = blocksOf(lines);
          const index = at % (lines.length + 1);
          lines.splice(index, 0, line);
          const assembler = new RefreshAssembler();
          lines.forEach((l) => assembler.line(l));
          expect(assembler.skipped.garbled).toBe(1);
          const after = blocksOf(lines);
          expect(after.map((b) => b.lines)).toEqual(before.map((b) => b.lines));
          // Inside a block (after a "Refreshing:", before the blank line or "Refreshing:" that ends it), it
          // makes that block not clean, if the block ends; elsewhere it changes no block.
          const isMark = (l: string): boolean => l === 'Refreshing:' || l === '';
          const opened = lines.slice(0, index).findLast(isMark) === 'Refreshing:';
          const ends = lines.slice(index + 1).some(isMark);
          expect(before.every((b) => b.clean)).toBe(true);
          expect(after.filter((b) => !b.clean).length).toBe(opened && ends ? 1 : 0);
        }),
        params(0.1),
      );
    },
    timeoutFor(0.1),
  );
});
