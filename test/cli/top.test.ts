// `top` in a real terminal: tmux runs a shell at 80x24, the test types the command, sorts by
// transmitted bytes while a known process streams, reads the screen, quits, and checks the
// terminal is back in its normal mode.
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/agent.js';
import { CLI, killAll, peer, start } from '../helpers/processes.js';
import { missing } from '../helpers/requirements.js';

const SESSION = `netproc-top-${process.pid}`;
const tmux = (...args: string[]): string => execFileSync('tmux', args, { encoding: 'utf8' });
const screen = (): string => tmux('capture-pane', '-p', '-t', SESSION);

/** Streams 10 MB/s to `port` for as long as it lives. */
const STREAM = `
const s = require('node:net').connect(Number(process.argv[1]), '127.0.0.1');
const chunk = Buffer.alloc(1 << 20, 0x61);
setInterval(() => s.write(chunk), 100);
s.on('error', () => {});`;

describe.skipIf(missing('top', 'root', 'tmux', 'ss'))('top', () => {
  afterAll(async () => {
    try {
      tmux('kill-session', '-t', SESSION);
    } catch {
      // already gone
    }
    await killAll();
  });

  it('shows the streaming process first when sorted by transmitted, fits 80x24, and restores the terminal on q', async () => {
    const sink = peer('sink', '127.0.0.1');
    const { port } = await sink.next('port');
    const streamer = start(process.execPath, ['-e', STREAM, String(port)]);

    tmux('new-session', '-d', '-s', SESSION, '-x', '80', '-y', '24', 'bash --norc --noprofile');
    tmux('send-keys', '-t', SESSION, `PS1='$ '; ${process.execPath} ${CLI} top --sources procfs,ss --interval 1s; echo "top exited $?"`, 'Enter');
    await eventually(async () => (screen().includes('netproc-agent top') ? true : undefined), 30_000, 'top to draw');
    tmux('send-keys', '-t', SESSION, 'r');
    tmux('send-keys', '-t', SESSION, 't');

    const first = await eventually(async () => {
      const lines = screen().split('\n');
      const header = lines.findIndex((l) => l.startsWith('PID'));
      if (!lines.some((l) => l.includes('netproc-agent top') && l.includes('sort: transmitted')) || header < 0) return undefined;
      const row = lines[header + 1]?.trim().split(/\s+/);
      return row && Number(row[0]) === streamer.pid ? lines : undefined;
    }, 20_000, `the streamer (PID ${streamer.pid}) at the top`).catch((err: Error) => {
      throw new Error(`${err.message}; screen:\n${screen()}`);
    });
    // Every line fits the 80-column terminal without wrapping: each data row starts with a PID.
    const rows = first.slice(first.findIndex((l) => l.startsWith('PID')) + 1).filter((l) => l.trim() !== '');
    expect(rows.length).toBeLessThanOrEqual(22);
    expect(rows.at(-1)).toMatch(/^sort: r received/);
    for (const row of rows.slice(0, -1)) expect(row).toMatch(/^\d+\s/);
    expect(first.every((l) => l.length <= 80)).toBe(true);

    tmux('send-keys', '-t', SESSION, 'q');
    await eventually(async () => (screen().includes('top exited 0') ? true : undefined), 10_000, 'top to exit 0 on q');
    // The terminal is back in canonical mode with echo.
    tmux('send-keys', '-t', SESSION, "stty -a | tr ' ' '\\n' | grep -x -e '-\\?icanon' -e '-\\?echo'", 'Enter');
    const modes = await eventually(async () => {
      const text = screen();
      return /^icanon$/m.test(text) && /^echo$/m.test(text) ? text : undefined;
    }, 10_000, 'stty output');
    expect(modes).not.toMatch(/^-icanon$/m);
  });
});
