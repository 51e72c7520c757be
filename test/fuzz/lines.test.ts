// The line reader of streaming children (src/host/lines.ts) under random bytes cut into random
// chunks: it hands on exactly the lines a reference split gives (invalid UTF-8 decoded as
// Node decodes it), drops and reports each line longer than its limit once, never holds more
// than the limit, and takes time in proportion to the bytes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../src/host/lines.js';
import { LINE_MS, PER_KIB_MS, check, params, timeoutFor, within } from './fuzz.js';

/** Bytes with newlines in them often, and now and then a run longer than any limit below. */
const bytes = fc.oneof(
  { weight: 5, arbitrary: fc.uint8Array({ maxLength: 400 }) },
  { weight: 4, arbitrary: fc.array(fc.oneof(fc.constant(0x0a), fc.constant(0x0d), fc.constant(0xff), fc.constant(0xe2), fc.nat({ max: 0x7f })), { maxLength: 400 }).map((a) => Uint8Array.from(a)) },
  { weight: 1, arbitrary: fc.tuple(fc.nat({ max: 255 }), fc.integer({ min: 300, max: 20_000 })).map(([b, n]) => new Uint8Array(n).fill(b === 0x0a ? 0x61 : b)) },
);
/** Where the stream is cut into chunks (positions, sorted and bounded by the length when used). */
const cuts = fc.array(fc.nat(), { maxLength: 12 });
const limit = fc.oneof(fc.integer({ min: 0, max: 16 }), fc.integer({ min: 17, max: 512 }), fc.constant(64 * 1024));

/** What the reader must hand on: every newline-ended line, and the rest at the end if any; too long ones reported instead. */
function reference(data: Buffer, max: number): { lines: string[]; long: number } {
  const lines: string[] = [];
  let long = 0;
  let start = 0;
  for (;;) {
    const newline = data.indexOf(0x0a, start);
    const end = newline < 0 ? data.length : newline;
    const line = data.subarray(start, end);
    if (newline >= 0 || line.length > 0) {
      if (line.length > max) long++;
      else lines.push(line.toString('utf8'));
    }
    if (newline < 0) return { lines, long };
    start = newline + 1;
  }
}

function chunksOf(data: Buffer, at: number[]): Buffer[] {
  const positions = [...new Set(at.map((p) => p % (data.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of [...positions, data.length]) {
    chunks.push(data.subarray(from, p));
    from = p;
  }
  return chunks;
}

describe('LineSplitter, fuzzed', () => {
  it(
    'hands on the lines of any byte stream however it is chunked, drops each too long line once, holds at most its limit',
    () => {
      fc.assert(
        fc.property(bytes, cuts, limit, (raw, at, max) => {
          const data = Buffer.from(raw);
          // within() may run it again (when a pause made it slow): a new reader each time.
          const { lines, long, splitter } = within(LINE_MS + PER_KIB_MS * (data.length / 1024), () => {
            const read = { lines: [] as string[], long: 0 };
            const reader = new LineSplitter(max, (line) => read.lines.push(line), () => read.long++);
            for (const chunk of chunksOf(data, at)) reader.push(chunk);
            reader.end();
            return { ...read, splitter: reader };
          }, `${data.length} bytes`);
          const expected = reference(data, max);
          check(splitter.peakHeldBytes <= max, () => `held ${splitter.peakHeldBytes} bytes, limit ${max}`);
          check(long === expected.long, () => `${long} long lines reported, ${expected.long} expected`);
          expect(lines).toEqual(expected.lines);
        }),
        params(),
      );
    },
    timeoutFor(),
  );
});
