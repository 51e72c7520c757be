// The line reader of streaming children: whole lines out, a line longer than the limit dropped
// once and reported, never more than the limit (plus the chunk being read) held.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../src/host/lines.js';

function split(max: number, chunks: string[]): { lines: string[]; long: number; splitter: LineSplitter } {
  const lines: string[] = [];
  let long = 0;
  const splitter = new LineSplitter(max, (l) => lines.push(l), () => long++);
  for (const chunk of chunks) splitter.push(Buffer.from(chunk));
  splitter.end();
  return { lines, long, splitter };
}

describe('LineSplitter', () => {
  it('hands on whole lines however the chunks fall, the last one without its newline too', () => {
    expect(split(100, ['a\nb', 'c\n\nd', 'ef']).lines).toEqual(['a', 'bc', '', 'def']);
    // A UTF-8 sequence split between two chunks is decoded whole.
    const bytes = Buffer.from('wörld\n');
    const lines: string[] = [];
    const s = new LineSplitter(100, (l) => lines.push(l), () => undefined);
    s.push(bytes.subarray(0, 2));
    s.push(bytes.subarray(2));
    expect(lines).toEqual(['wörld']);
  });

  it('drops a line longer than the limit once, whether it ends in one chunk or many, and reads on', () => {
    expect(split(4, ['12345\nok\n'])).toMatchObject({ lines: ['ok'], long: 1 });
    expect(split(4, ['123', '45', '678', '9\nok\n'])).toMatchObject({ lines: ['ok'], long: 1 });
    expect(split(4, ['1234\n'])).toMatchObject({ lines: ['1234'], long: 0 });
  });

  it('holds at most the limit of a 100 MiB line printed by a real child, and reads the line after it', async () => {
    const limit = 64 * 1024;
    const lines: string[] = [];
    let long = 0;
    const splitter = new LineSplitter(limit, (l) => lines.push(l), () => long++);
    const program = "const m='x'.repeat(1<<20);for(let i=0;i<100;i++)process.stdout.write(m);process.stdout.write('\\nafter\\n')";
    const child = spawn(process.execPath, ['-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.on('data', (chunk: Buffer) => splitter.push(chunk));
    await new Promise((resolve) => child.on('close', resolve));
    splitter.end();
    expect(long).toBe(1);
    expect(lines).toEqual(['after']);
    expect(splitter.peakHeldBytes).toBeLessThanOrEqual(limit);
  });
});
