// hostIO.runLines, which the ss source runs `ss` with: a real child's stdout, handed over in
// blocks of whole lines, spooled through an unlinked temp file (run by a long-lived shell, the
// launcher) or, without room for one, a pipe.
// (It belongs with src/host/io.ts; it is here beside its one caller.)
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hostIO, killRunningChildren, launcherUse } from '../../../src/host/io.js';
import { eventually } from '../../helpers/agent.js';
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

afterAll(() => killRunningChildren()); // the launchers the tests started

describe.each([
  ['spooled through a temp file, run by a launcher', () => undefined, 1],
  ['spooled through a temp file, spawned by the agent itself (no launcher)', () => void (launcherUse.enabled = false), 1],
  ['through a pipe, when the temp directory is unusable', () => void (process.env.TMPDIR = join(spoolDir, 'missing')), 0],
])('hostIO.runLines, %s', (_, setUp, spools) => {
  beforeEach(setUp);
  afterEach(() => void (launcherUse.enabled = true));

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

describe('hostIO.runLines through the launcher (a long-lived /bin/sh, so the agent forks nothing per run)', () => {
  /** A program printing its parent's pid and its arguments as JSON; `marker` makes a launcher of its own. */
  const REPORT = 'process.stdout.write(JSON.stringify({ ppid: process.ppid, argv: process.argv.slice(1) }) + "\\n")';
  async function report(marker: string, ...args: string[]): Promise<{ ppid: number; argv: string[] }> {
    const blocks = await blocksOf(process.execPath, ['-e', REPORT, marker, ...args]);
    return JSON.parse(blocks.join('')) as { ppid: number; argv: string[] };
  }
  const cmdline = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');

  it('runs every run of one program under one shell, not as a child of the agent', async () => {
    const marker = `one-shell-${process.hrtime.bigint()}`;
    const runs = [await report(marker), await report(marker), await report(marker)];
    const shell = runs[0]!.ppid;
    expect(runs.map((r) => r.ppid)).toEqual([shell, shell, shell]);
    expect(shell).not.toBe(process.pid);
    expect(cmdline(shell).slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(cmdline(shell)).toContain('netproc-launcher');
    // The shell is the agent's child, in a process group of its own.
    const stat = readFileSync(`/proc/${shell}/stat`, 'utf8');
    const [ppid, pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ').slice(1, 3).map(Number);
    expect(ppid).toBe(process.pid);
    expect(pgrp).toBe(shell);
  });

  it('hands the arguments over as they are: the shell never parses them', async () => {
    const canary = join(spoolDir, 'canary');
    const odd = [`$(touch ${canary})`, `\`touch ${canary}\``, 'two words', '"quoted"', "'single'", '; touch x', '*', '$HOME', 'a\\b', ''];
    const { argv } = await report(`verbatim-${process.hrtime.bigint()}`, ...odd);
    expect(argv.slice(1)).toEqual(odd);
    expect(existsSync(canary)).toBe(false);
  });

  it('keeps no output on disk between runs', async () => {
    const marker = `released-${process.hrtime.bigint()}`;
    const { ppid } = await report(marker);
    const spool = readdirSync(`/proc/${ppid}/fd`).includes('3') ? statSync(`/proc/${ppid}/fd/3`) : undefined;
    expect(spool?.size).toBe(0);
  });

  it('after a run past its timeout, kills the shell and the program, and runs the next under a new shell', async () => {
    const flag = join(spoolDir, 'slow');
    writeFileSync(flag, '');
    // Slow while the flag exists (writing its pid there); then a quick report of its parent.
    const script = `const fs = require('fs'); if (fs.existsSync(${JSON.stringify(flag)})) { fs.writeFileSync(${JSON.stringify(flag)}, String(process.pid)); setTimeout(() => {}, 60_000); } else ${REPORT}`;
    const slow = hostIO.runLines!(process.execPath, ['-e', script], () => {}, { timeoutMs: 3000 });
    const program = await eventually(async () => Number(readFileSync(flag, 'utf8')) || undefined, 3000, 'the slow program to start');
    const stat = readFileSync(`/proc/${program}/stat`, 'utf8');
    const shell = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    expect(cmdline(shell)).toContain('netproc-launcher');
    await expect(slow).rejects.toThrow(/timed out after 3000 ms/);
    const gone = (pid: number): boolean => !existsSync(`/proc/${pid}`) || /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
    await eventually(async () => (gone(program) && gone(shell) ? true : undefined), 5000, 'the slow program and its shell to be killed');
    rmSync(flag);
    const blocks: string[] = [];
    await hostIO.runLines!(process.execPath, ['-e', script], (text) => blocks.push(text));
    const { ppid } = JSON.parse(blocks.join('')) as { ppid: number };
    expect(ppid).not.toBe(shell);
    expect(cmdline(ppid)).toContain('netproc-launcher');
  });

  it('gives the program /dev/null as stdin, and not the shell\'s fd 3', async () => {
    const script = 'const fs = require("fs"); process.stdout.write(JSON.stringify([fs.readlinkSync("/proc/self/fd/0"), fs.existsSync("/proc/self/fd/3") ? fs.readlinkSync("/proc/self/fd/3") : null]))';
    const [stdin, fd3] = JSON.parse((await blocksOf(process.execPath, ['-e', script])).join('')) as [string, string | null];
    expect(stdin).toBe('/dev/null');
    // Node opens fds of its own from 3 on (epoll, eventfd); none is the spool.
    expect(fd3 ?? '').not.toMatch(/netproc-agent-/);
  });

  it('runs a program named without a slash from PATH, as a file: never a shell builtin', async () => {
    // `eval` is a builtin; with no file of that name on PATH there is nothing to run.
    await expect(blocksOf('eval', ['touch', join(spoolDir, 'evaluated')])).rejects.toMatchObject({ code: 'ENOENT' });
    expect(existsSync(join(spoolDir, 'evaluated'))).toBe(false);
    const { ppid } = JSON.parse((await blocksOf('node', ['-e', REPORT, `path-${process.hrtime.bigint()}`])).join('')) as { ppid: number };
    expect(cmdline(ppid)).toContain('netproc-launcher');
  });

  it('reports a program killed by a signal as the shell sees it (128 + the signal)', async () => {
    await expect(blocksOf(process.execPath, ['-e', 'process.kill(process.pid, "SIGKILL")'])).rejects.toThrow(/failed with 137/);
  });
});
