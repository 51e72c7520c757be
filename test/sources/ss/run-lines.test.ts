// hostIO.runLines, which the ss source runs `ss` with: a real child's stdout, handed over in
// blocks of whole lines, spooled through an unlinked temp file or, without room for one, a pipe.
// (It belongs with src/host/io.ts; it is here beside its one caller.)
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hostIO } from '../../../src/host/io.js';
import { readlinkOrEmpty } from '../../helpers/links.js';

/** A child printing `text` to stdout (kept in a file: an argument holds at most 128 KiB). */
function printing(text: string): [string, string[]] {
  const file = join(sourceDir, `${texts.length}.txt`);
  writeFileSync(file, text);
  texts.push(file);
  return [process.execPath, ['-e', `process.stdout.write(require('fs').readFileSync(${JSON.stringify(file)}))`]];
}
const sourceDir = mkdtempSync(join(tmpdir(), 'run-lines-source-'));
const texts: string[] = [];
afterAll(() => rmSync(sourceDir, { recursive: true, force: true }));

async function blocksOf(file: string, args: string[]): Promise<string[]> {
  const blocks: string[] = [];
  await hostIO.runLines!(file, args, (text) => blocks.push(text));
  return blocks;
}

// Three-byte and four-byte characters around every 64 KiB block boundary, a line longer than a
// block, and a last line without its newline.
const lines = Array.from({ length: 3000 }, (_, i) => `${i} ${'é€😀'.repeat(i % 23)} ${'x'.repeat(i % 97)}`);
lines.splice(1500, 0, 'long '.repeat(30_000));
const OUTPUT = `${lines.join('\n')}\nno newline at the end`;

let spoolDir: string;
const savedTmpdir = process.env.TMPDIR;
beforeEach(() => {
  spoolDir = mkdtempSync(join(tmpdir(), 'run-lines-'));
  process.env.TMPDIR = spoolDir;
});
afterEach(() => {
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
  rmSync(spoolDir, { recursive: true, force: true });
});

/** Files this process has open in the spool directory: unlinked ones read `… (deleted)`. */
function openSpools(): string[] {
  const fds = readdirSync('/proc/self/fd');
  return fds.map((fd) => readlinkOrEmpty(`/proc/self/fd/${fd}`)).filter((target) => target.startsWith(`${spoolDir}/`));
}

describe.each([
  ['spooled through a temp file', () => undefined, 1],
  ['through a pipe, when the temp directory is unusable', () => void (process.env.TMPDIR = join(spoolDir, 'missing')), 0],
])('hostIO.runLines, %s', (_, setUp, spools) => {
  beforeEach(setUp);

  it(`reads the output ${spools ? 'back from an unlinked file' : 'from the pipe'}`, async () => {
    const seen: string[][] = [];
    await hostIO.runLines!(...printing('a\nb\n'), () => seen.push(openSpools()));
    expect(seen).toEqual([spools ? [expect.stringMatching(/\/netproc-agent-[-0-9a-f]+ \(deleted\)$/)] : []]);
  });

  it('hands over the whole output, byte for byte, in blocks that end at a newline', async () => {
    const blocks = await blocksOf(...printing(OUTPUT));
    expect(blocks.join('')).toBe(OUTPUT);
    expect(blocks.length).toBeGreaterThan(3);
    for (const block of blocks.slice(0, -1)) expect(block.endsWith('\n')).toBe(true);
  });

  it('leaves no file behind', async () => {
    await blocksOf(...printing(OUTPUT));
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it('rejects with the first line of stderr when the program exits with an error', async () => {
    const script = 'process.stderr.write("ss: bad things\\nmore\\n"); process.exit(3)';
    await expect(blocksOf(process.execPath, ['-e', script])).rejects.toThrow(/failed with 3: ss: bad things$/);
  });

  it('rejects with ENOENT when the program does not exist', async () => {
    await expect(blocksOf('/nonexistent/ss', [])).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('stops the program and rejects when it runs past the timeout', async () => {
    const started = Date.now();
    const slow = hostIO.runLines!(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], () => {}, { timeoutMs: 300 });
    await expect(slow).rejects.toThrow(/timed out after 300 ms/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('rejects when onLines throws', async () => {
    const failing = hostIO.runLines!(...printing(OUTPUT), () => {
      throw new Error('parser bug');
    });
    await expect(failing).rejects.toThrow('parser bug');
  });
});
