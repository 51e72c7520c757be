// The config file loader (src/config/load.ts) under random and mutated YAML and JSON files: every
// file gives a loaded configuration or a ConfigError (the CLI prints it and exits 2), never
// another exception and never a hang.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { ConfigError, loadInvocation, schemaLeaves } from '../../src/config/load.js';
import { CONFIG_RUNS, LINE_MS, RUNS, check, fixture, hugeNumber, inputs, params, timeoutFor, utf8Garbage, within } from './fuzz.js';

/**
 * The file is rewritten for every input, on tmpfs where there is one: on ext4 a rewrite of a file
 * that has data is flushed at close (auto_da_alloc), 2 ms a write here against 0.02 ms on tmpfs,
 * which was half the time of this file. The loader reads a real file either way.
 */
const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'netproc-fuzz-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
// yaml reports an unknown tag or an odd alias with process.emitWarning, which would print
// thousands of warnings here; the agent prints its one. Kept quiet for this file only.
const emitWarning = process.emitWarning;
beforeAll(() => {
  process.emitWarning = () => undefined;
});
afterAll(() => {
  process.emitWarning = emitWarning;
});
const path = join(dir, 'agent.yaml');

const example = fixture('../../config/agent.example.yaml');
/**
 * The example without its comment lines: 0.8 of its 6 KB. Comments are 87% of the example, so a
 * mutation of it lands in a comment 87% of the time, where it changes nothing past yaml's lexer;
 * mutations of this one reach the keys and values. Both are mutated.
 */
const exampleBare = example.split('\n').filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#')).join('\n');
const exampleJson = JSON.stringify(parseYaml(example), null, 2);
const KEYS = schemaLeaves().map(([key]) => key);
const TOKENS = [
  ...KEYS.map((key) => `${key.split('.').at(-1)}: `), ...KEYS.map((key) => `${key}: `), '\n', '  ', '- ', '[', ']', '{', '}', ',', ': ', '"', "'",
  '#', '&a ', '*a', '!!binary ', '!!js/function ', '<<: ', '---\n', '...\n', '%YAML 1.2\n', '? ', '|', '>', 'null', '~', 'true', 'no', '5s', '0s',
  '-1ms', '1e400s', 'procfs', 'ebpf', 'nethogs', '__proto__: ', 'constructor: ', 'prototype: ', '{"sources": ["ss"]}', '[[[[[[[[', '\t',
];

/** A YAML or JSON file built from the schema's own keys, with values of any type. */
const structured = fc
  .tuple(
    fc.dictionary(fc.oneof(fc.constantFrom(...KEYS, '__proto__', 'constructor', 'prometheus', 'otlp', 'kubernetes'), fc.string({ maxLength: 10 })), fc.oneof(fc.jsonValue({ maxDepth: 3 }), hugeNumber, fc.constantFrom('5s', '1h', '0ms', '', '65536', 'x'))),
    fc.boolean(),
  )
  .map(([values, json]) => {
    // Dotted keys become nested mappings, as an operator would write them.
    const nested: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(values)) {
      const parts = key.split('.');
      let node = nested;
      for (const part of parts.slice(0, -1)) {
        const next = Object.hasOwn(node, part) ? node[part] : undefined;
        node = (node[part] = typeof next === 'object' && next !== null ? next : {}) as Record<string, unknown>;
      }
      Object.defineProperty(node, parts.at(-1)!, { value, enumerable: true, configurable: true, writable: true });
    }
    return json ? JSON.stringify(nested) : stringifyYaml(nested);
  });

/**
 * Nested 2,000 deep, aliases that expand a billion times if nothing stops them, tags that would
 * run code, keys that would reach Object.prototype. Replayed one by one: the random files reach
 * such nesting only now and then (a long line of `{`), and each takes up to seconds (DEEP_MS).
 */
const hostile = [
  `${'['.repeat(2000)}${']'.repeat(2000)}`,
  '- '.repeat(5000),
  `a: ${'{b: '.repeat(2000)}1${'}'.repeat(2000)}`,
  ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 9 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`)].join('\n'),
  'sources: !!js/function "function () { throw new Error(1) }"',
  '__proto__: {interval: 1ms}\n',
  'constructor: {prototype: {interval: 1ms}}\n',
];
/**
 * What a file nested thousands deep may take: yaml's parser recurses until the stack overflows,
 * which takes from 0.2 to 3 s (measured here: 5,000 `- ` took 2.7 s, 400,000 `[` 4.3 s), and
 * the loader turns the RangeError into a ConfigError. Bounded by the stack, so not a hang;
 * loading is once, at start. Every other file gets the usual bound.
 */
const DEEP_MS = 5000;
const isStackOverflow = (outcome: unknown): boolean => outcome instanceof ConfigError && outcome.message.includes('Maximum call stack size exceeded');
/**
 * yaml makes an error for every bad token; the loader has it work out a position for the first
 * only, with no stack traces (src/config/load.ts parseYamlQuickly): linear, about 1.3 ms per KiB
 * of `} ` on a quiet machine (13 ms for 10 KB; before, with yaml's pretty errors, 75 ms, and 431 ms
 * for 5.5 KB at load 16 to 36, seed 1092322654). The bound allows 50, for a loaded host.
 */
const CONFIG_PER_KIB_MS = 50;
/** Any file loads within this, or is nested too deep (DEEP_MS). */
const boundFor = (bytes: Buffer) => (outcome: unknown): number => (isStackOverflow(outcome) ? DEEP_MS : 2 * LINE_MS + CONFIG_PER_KIB_MS * (bytes.length / 1024));

const file = fc.oneof(
  { weight: 6, arbitrary: inputs([example, exampleBare, exampleJson], TOKENS).map((text) => Buffer.from(text)) },
  { weight: 3, arbitrary: structured.map((text) => Buffer.from(text)) },
  { weight: 1, arbitrary: utf8Garbage.map((text) => Buffer.from(text, 'latin1')) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)) },
);

/** Loads the file at `path`: the invocation, or what it threw. */
function load(): ReturnType<typeof loadInvocation> | unknown {
  try {
    return loadInvocation(['--config', path], {});
  } catch (err) {
    return err;
  }
}

/** A ConfigError of one line, or a configuration whose values are usable. */
function checkOutcome(outcome: unknown): void {
  if (outcome instanceof Error) {
    check(outcome instanceof ConfigError, () => `not a ConfigError: ${outcome.stack}`);
    check(!outcome.message.includes('\n'), 'a ConfigError of more than one line');
    return;
  }
  const { config } = outcome as ReturnType<typeof loadInvocation>;
  check(Number.isFinite(config.interval) && config.interval > 0, () => `interval ${config.interval}`);
  check(Array.isArray(config.sources) && config.sources.every((s) => typeof s === 'string'), 'sources');
  // Nothing from the file reaches Object.prototype.
  check(!Object.hasOwn(Object.prototype, 'interval') && !Object.hasOwn(Object.prototype, 'sources'), 'Object.prototype polluted');
}

describe('config file loader, fuzzed', () => {
  it.each(hostile.map((text) => [text.slice(0, 40), text]))('hostile file %j: a ConfigError or a configuration, within its bound', (_, text) => {
    writeFileSync(path, text);
    checkOutcome(within(boundFor(Buffer.from(text)), load));
  });

  it(
    'loads a configuration or throws a ConfigError, for any file, within its time bound',
    () => {
      fc.assert(
        fc.property(file, (bytes) => {
          writeFileSync(path, bytes);
          // Loading takes about 1 ms (yaml, convict); the bound is 100 ms, plus CONFIG_PER_KIB_MS.
          checkOutcome(within(boundFor(bytes), load, `${bytes.length} bytes`));
        }),
        params(CONFIG_RUNS / RUNS),
      );
    },
    timeoutFor(CONFIG_RUNS / RUNS, 20),
  );
});
