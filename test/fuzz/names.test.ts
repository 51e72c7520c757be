// sanitizeName and boundMessage (src/host/names.ts), the one sanitizer of process names and of
// tools' messages, under random text: no control character and no lone surrogate gets through,
// names stay within their documented bound (MAX_COMM_LENGTH characters unless told), messages
// within theirs, and a name that was already clean and short enough is kept as it was.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_COMM_LENGTH, boundMessage, sanitizeName } from '../../src/host/names.js';
import { check, codeUnitGarbage, longLine, params, timed, timeoutFor, utf8Garbage } from './fuzz.js';

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const raw = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 3, arbitrary: codeUnitGarbage },
  { weight: 2, arbitrary: utf8Garbage },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 100 }) },
  { weight: 1, arbitrary: longLine(16 * 1024) },
);
const max = fc.oneof(fc.constant(MAX_COMM_LENGTH), fc.integer({ min: 0, max: 300 }));

describe('sanitizeName, fuzzed', () => {
  it(
    'never throws, stays within its time bound, and yields a name without control characters or lone surrogates, at most `max` characters long',
    () => {
      fc.assert(
        fc.property(raw, max, (text, limit) => {
          const result = timed(text, () => sanitizeName(text, limit));
          if (result === undefined) {
            check(text === '' || limit === 0, 'a name dropped whole');
            return;
          }
          check(!CONTROL.test(result) && !LONE_SURROGATE.test(result), () => JSON.stringify(result));
          check(Array.from(result).length <= limit, () => `${Array.from(result).length} > ${limit}`);
          // Sanitizing is done once: a sanitized name is kept as it is.
          check(sanitizeName(result, limit) === result, 'not idempotent');
        }),
        params(0.7),
      );
    },
    timeoutFor(0.7),
  );

  it(
    'keeps a clean name of at most `max` characters as it is, and cuts a longer one to its first `max` characters',
    () => {
      const clean = fc.string({ unit: 'grapheme', maxLength: 120 }).map((s) => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, ''));
      fc.assert(
        fc.property(clean, max, (name, limit) => {
          const chars = Array.from(name);
          const expected = chars.slice(0, limit).join('');
          expect(sanitizeName(name, limit)).toBe(expected === '' ? undefined : expected);
        }),
        params(0.15),
      );
    },
    timeoutFor(0.15),
  );
});

describe('boundMessage, fuzzed', () => {
  it(
    'never throws, and yields at most `max` characters and an ellipsis, without control characters',
    () => {
      fc.assert(
        fc.property(raw, fc.integer({ min: 0, max: 400 }), (text, limit) => {
          const result = timed(text, () => boundMessage(text, limit));
          check(!CONTROL.test(result), () => JSON.stringify(result));
          check(result.length <= limit + 1, () => `${result.length} > ${limit} + 1`);
          check(result.length === text.length || result.endsWith('…'), 'cut without saying so');
        }),
        params(0.15),
      );
    },
    timeoutFor(0.15),
  );
});
