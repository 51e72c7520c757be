// Inputs the fuzz suite found a parser failing on, kept under test/fixtures/fuzz/<parser>/ and
// replayed here with what the fixed parser must make of them. Each file name holds the
// fast-check seed that found it; `path` below is the run and shrink path fast-check printed.
// (A seed and path replay the same input only with the generators of the commit that found it:
// FUZZ_SEED=<seed> with the fuzz test named; the fixture is what stays replayable.)
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadInvocation } from '../../src/config/load.js';
import { parseSs } from '../../src/sources/ss/parse.js';
import { fixture, within } from './fuzz.js';

describe('ss: inputs found by fuzzing', () => {
  // Found in `ss -tuanpieHO` output, when the source still ran ss with -p: the users:((...)) field
  // in them is now one the parser does not know, and passes over.
  it('ino-past-2e53 (seed 298184583, path 498:6:26:4:5:4:…:6:5): a 25-digit inode is a damaged line, skipped', () => {
    // Before the fix: id "ino:1.8446744073709552e+24", shared with every inode that rounds to it.
    expect(parseSs(fixture('fuzz/ss/ino-past-2e53.seed_298184583.txt'))).toEqual({ sockets: [], inodes: [], skipped: 1 });
  });

  it('counter-400-digits (seed 1948289622, path 30037:8:12:16:…:20:20): a counter past u64 is a damaged line, skipped', () => {
    // Before the fix: rxBytes Infinity (and with bytes_sent and bytes_retrans both that long, txBytes NaN).
    expect(parseSs(fixture('fuzz/ss/counter-400-digits.seed_1948289622.txt'))).toEqual({ sockets: [], inodes: [], skipped: 1 });
    const nan = fixture('fuzz/ss/counter-400-digits.seed_1948289622.txt').replace(/bytes_sent:\d+/, `bytes_sent:${'9'.repeat(400)} bytes_retrans:${'9'.repeat(400)}`);
    expect(parseSs(nan)).toEqual({ sockets: [], inodes: [], skipped: 1 });
    // 20 digits, a u64 as ss prints it, is still read (rounded past 2^53).
    const u64 = fixture('fuzz/ss/counter-400-digits.seed_1948289622.txt').replace(/bytes_received:\d+/, 'bytes_received:18446744073709551615');
    expect(parseSs(u64).sockets[0]).toMatchObject({ rxBytes: 2 ** 64 });
  });
});

describe('config: inputs found by fuzzing', () => {
  it('deep-flow (seed 1218934601, path 8564:0:5:5:4:4:8:4:3:3): 22,097 `{` end in a ConfigError within 5 s, not in a hang', () => {
    // Not a loader bug: yaml recurses until the stack overflows (266 ms here, over the 208 ms the
    // fuzz allowed any 22 KB file then), and the loader reports it. The fuzz bound now allows such
    // nesting 5 s (test/fuzz/config.test.ts DEEP_MS); this keeps the input that showed it.
    const path = fileURLToPath(new URL('../fixtures/fuzz/config/deep-flow.seed_1218934601.yaml', import.meta.url));
    const outcome = within(5000, () => {
      try {
        return loadInvocation(['--config', path], {});
      } catch (err) {
        return err;
      }
    });
    expect(outcome).toBeInstanceOf(ConfigError);
    expect((outcome as Error).message).toMatch(/is not valid YAML or JSON: Maximum call stack size exceeded$/);
  });
});
