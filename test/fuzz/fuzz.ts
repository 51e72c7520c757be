// Shared pieces of the parser fuzz suite: how many inputs, what inputs (random text and bytes,
// and mutations of the real captures under test/fixtures), and the time bound per input.
//
// FUZZ_RUNS sets the number of inputs per property; without it, 100,000 under CI (CI=true) and
// 2,000 locally. FUZZ_SEED replays a run: fast-check prints the seed and path of a failure.
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';

function runsFromEnv(name: string, fallback: number): number {
  const given = process.env[name];
  if (given === undefined || given === '') return fallback;
  const runs = Number(given);
  if (!Number.isSafeInteger(runs) || runs < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(given)}`);
  return runs;
}

/** Inputs per parser. */
export const RUNS = runsFromEnv('FUZZ_RUNS', process.env.CI === 'true' ? 100_000 : 2_000);

/**
 * Inputs for the config file loader: as many as RUNS unless FUZZ_CONFIG_RUNS says otherwise. A file
 * takes about 1 ms (yaml, then convict for those that parse) where the parsers take microseconds:
 * 100,000 took 105 s here with the 2 cores shared (load average 3 to 5; 237 s before the loader
 * refused broken files before building its schema and stopped prettifying every yaml error, and
 * before the fuzz wrote its file on tmpfs). It was capped at 10,000 until then.
 */
export const CONFIG_RUNS = runsFromEnv('FUZZ_CONFIG_RUNS', RUNS);

/** fast-check parameters for a property that gets `share` of RUNS inputs (several properties share one parser's budget). */
export function params(share = 1): fc.Parameters<unknown> {
  const seed = process.env.FUZZ_SEED;
  return {
    numRuns: Math.max(1, Math.ceil(RUNS * share)),
    ...(seed !== undefined && seed !== '' ? { seed: Number(seed) } : {}),
  };
}

/**
 * vitest timeout of one property: generous (the suite runs on 2 shared cores), but finite, and
 * proportional to the runs, so FUZZ_RUNS=1000000 does not time out.
 */
export function timeoutFor(share = 1, msPerRun = 2): number {
  return 60_000 + Math.ceil(RUNS * share * msPerRun);
}

// ------------------------------------------------------------------------------------------------
// Time.

/**
 * Bounds per input: a single line (or a small /proc file) must parse within LINE_MS; a multi-line
 * capture within LINE_MS plus PER_KIB_MS for each KiB of it. The parsers take microseconds; the
 * bounds are 1000 times that, to absorb a garbage collection or the other engineer's build on
 * the same 2 cores, and still catch a hang or a quadratic blow-up (a 64 KiB line parsed in
 * quadratic time takes seconds).
 */
export const LINE_MS = 50;
export const PER_KIB_MS = 5;

export function boundFor(text: string): number {
  return LINE_MS + PER_KIB_MS * (text.length / 1024);
}

/**
 * Runs fn and returns its result, or throws if it took `boundMs` or longer. A garbage collection
 * or the scheduler can stop any call for tens of milliseconds on a busy machine, so a call over
 * the bound is timed twice more and the fastest of the three counts: a parser that is slow on an
 * input (a hang, a quadratic loop) is slow every time. fn must give the same result when run again.
 */
export function within<T>(boundMs: number | ((result: T) => number), fn: () => T, what = ''): T {
  let fastest = Infinity;
  let bound = 0;
  for (let attempt = 0; attempt < 3; attempt++) {
    const start = performance.now();
    const result = fn();
    fastest = Math.min(fastest, performance.now() - start);
    bound = typeof boundMs === 'number' ? boundMs : boundMs(result);
    if (fastest < bound) return result;
  }
  throw new Error(`took ${fastest.toFixed(1)} ms, bound ${bound.toFixed(1)} ms${what ? ` (${what})` : ''}`);
}

/** within(), bounded by boundFor(text). */
export function timed<T>(text: string, fn: () => T): T {
  return within(boundFor(text), fn, `${text.length} characters`);
}

// ------------------------------------------------------------------------------------------------
// Random input.

/** Bytes decoded as UTF-8, invalid sequences included (they become U+FFFD, as a child's output does). */
export const utf8Garbage = fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes).toString('utf8'));

/** UTF-16 code units of any value: lone surrogates, NUL, C1 controls, BOM. */
export const codeUnitGarbage = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 200 }).map((units) => String.fromCharCode(...units));

/** Digit runs from 1 to 400 long: 2^53 and 2^64 overflow, and past Number.MAX_VALUE. */
export const hugeNumber = fc.oneof(
  fc.constantFrom('0', '9007199254740991', '9007199254740993', '18446744073709551615', '18446744073709551616', '-1', '1e400', 'NaN', 'Infinity', '9'.repeat(400), `1${'0'.repeat(308)}`),
  fc.stringMatching(/^[0-9]{1,400}$/),
);

/** Characters that separate or end things: spaces, tabs, CR, NUL, DEL, NBSP, U+2028, U+FEFF. */
const separators = fc.constantFrom(' ', '  ', '\t', '\r', '\0', '\x7f', '\u00a0', '\u2028', '\ufeff', '\n', ':', '/', '(', ')', '"', ',', '[', ']');

/**
 * Text made of `tokens` (the words of the format under test: keys, states, punctuation) and of
 * random pieces: closer to real input than uniform noise, so it reaches deeper into a parser.
 */
export function tokenText(tokens: readonly string[], maxLength = 40): fc.Arbitrary<string> {
  const piece = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...tokens) },
    { weight: 3, arbitrary: separators },
    { weight: 2, arbitrary: hugeNumber },
    { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
    { weight: 1, arbitrary: codeUnitGarbage.map((s) => s.slice(0, 4)) },
  );
  return fc.array(piece, { maxLength }).map((pieces) => pieces.join(''));
}

/** A line of up to `maxLength` characters: one piece of text repeated. Kept rare by its callers. */
export function longLine(maxLength = 64 * 1024): fc.Arbitrary<string> {
  return fc
    .tuple(fc.string({ minLength: 1, maxLength: 40 }), fc.integer({ min: 1024, max: maxLength }))
    .map(([piece, length]) => piece.repeat(Math.ceil(length / piece.length)).slice(0, length));
}

/** Random input of every kind above, long lines rarely. */
export function randomText(tokens: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: tokenText(tokens) },
    { weight: 4, arbitrary: fc.array(tokenText(tokens), { maxLength: 8 }).map((lines) => lines.join('\n')) },
    { weight: 2, arbitrary: utf8Garbage },
    { weight: 2, arbitrary: codeUnitGarbage },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
    { weight: 1, arbitrary: hugeNumber },
    { weight: 1, arbitrary: fc.tuple(tokenText(tokens, 12), longLine(), tokenText(tokens, 12)).map((parts) => parts.join('')) },
  );
}

// ------------------------------------------------------------------------------------------------
// Mutations of real captures.

type Mutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'delete-line'; line: number }
  | { kind: 'duplicate-line'; line: number }
  | { kind: 'swap-lines'; a: number; b: number }
  | { kind: 'flip'; at: number; char: string }
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'splice-field'; from: number; fromField: number; to: number; toField: number }
  | { kind: 'number'; run: number; value: string };

const position = fc.nat();
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: position }),
  fc.record({ kind: fc.constant('delete-line' as const), line: position }),
  fc.record({ kind: fc.constant('duplicate-line' as const), line: position }),
  fc.record({ kind: fc.constant('swap-lines' as const), a: position, b: position }),
  fc.record({ kind: fc.constant('flip' as const), at: position, char: fc.oneof(separators, fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }), fc.constantFrom('0', '9', 'x')) }),
  fc.record({ kind: fc.constant('insert' as const), at: position, text: fc.oneof(separators, hugeNumber, fc.string({ maxLength: 12 }), codeUnitGarbage.map((s) => s.slice(0, 6))) }),
  fc.record({ kind: fc.constant('splice-field' as const), from: position, fromField: position, to: position, toField: position }),
  fc.record({ kind: fc.constant('number' as const), run: position, value: hugeNumber }),
);

function applyMutation(text: string, m: Mutation): string {
  switch (m.kind) {
    case 'truncate':
      return text.slice(0, m.at % (text.length + 1));
    case 'flip': {
      if (text.length === 0) return m.char;
      const at = m.at % text.length;
      return text.slice(0, at) + m.char + text.slice(at + 1);
    }
    case 'insert': {
      const at = m.at % (text.length + 1);
      return text.slice(0, at) + m.text + text.slice(at);
    }
    case 'number': {
      // The n-th digit run becomes another number: counters, pids and inodes out of range.
      const runs = [...text.matchAll(/[0-9]+/g)];
      if (runs.length === 0) return text;
      const run = runs[m.run % runs.length]!;
      return text.slice(0, run.index) + m.value + text.slice(run.index + run[0].length);
    }
  }
  const lines = text.split('\n');
  switch (m.kind) {
    case 'delete-line':
      lines.splice(m.line % lines.length, 1);
      return lines.join('\n');
    case 'duplicate-line': {
      const i = m.line % lines.length;
      lines.splice(i, 0, lines[i]!);
      return lines.join('\n');
    }
    case 'swap-lines': {
      const a = m.a % lines.length;
      const b = m.b % lines.length;
      [lines[a], lines[b]] = [lines[b]!, lines[a]!];
      return lines.join('\n');
    }
    case 'splice-field': {
      // A whitespace-separated field of one line replaces a field of another (or the same) line.
      const from = lines[m.from % lines.length]!.split(/([ \t]+)/);
      const to = lines[m.to % lines.length]!.split(/([ \t]+)/);
      const field = from[(m.fromField % Math.ceil(from.length / 2)) * 2] ?? '';
      to[(m.toField % Math.ceil(to.length / 2)) * 2] = field;
      lines[m.to % lines.length] = to.join('');
      return lines.join('\n');
    }
  }
}

/** One of `captures`, with 1 to 6 mutations applied in turn. */
export function mutated(captures: readonly string[]): fc.Arbitrary<string> {
  return fc
    .tuple(fc.constantFrom(...captures), fc.array(mutation, { minLength: 1, maxLength: 6 }))
    .map(([capture, mutations]) => mutations.reduce(applyMutation, capture));
}

/** Random input and mutated captures, half and half. */
export function inputs(captures: readonly string[], tokens: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(mutated(captures), randomText(tokens));
}

// ------------------------------------------------------------------------------------------------
// Fixtures.

export function fixture(path: string): string {
  return fs.readFileSync(new URL(`../fixtures/${path}`, import.meta.url), 'utf8');
}

/** Every regular file of a fixtures folder whose name passes `keep`. */
export function fixtures(dir: string, keep: (name: string) => boolean = () => true): string[] {
  return fs
    .readdirSync(new URL(`../fixtures/${dir}/`, import.meta.url))
    .filter(keep)
    .sort()
    .map((name) => fixture(`${dir}/${name}`));
}

/** Throws `message` unless `condition`: cheaper than expect() for checks made millions of times. */
export function check(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) throw new Error(typeof message === 'string' ? message : message());
}

/** Lines of text that are not blank by `blank`: what a line parser must read or count. */
export function countLines(text: string, blank: (line: string) => boolean): number {
  return text.split('\n').filter((line) => !blank(line)).length;
}
