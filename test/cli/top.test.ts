// `top` in a real terminal: tmux runs a shell at 80x24, the test types the command, sorts by
// transmitted bytes while a known process streams, reads the screen, quits, and checks the
// terminal is back in its normal mode. Then q again, while an ss run hangs: top quits without it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/agent.js';
import { CLI, killAll, peer, start } from '../helpers/processes.js';
import { missing } from '../helpers/requirements.js';

const SESSION = `netproc-top-${process.pid}`;
const tmux = (...args: string[]): string => execFileSync('tmux', args, { encoding: 'utf8' });
const screen = (): string => tmux('capture-pane', '-p', '-t', SESSION);
const withScreen = (err: Error): never => {
  throw new Error(`${err.message}; screen:\n${screen()}`);
};

/** Opens a fresh 80x24 shell in the session and types `top` with `args` into it. */
function typeTop(args: string): void {
  try {
    tmux('kill-session', '-t', SESSION);
  } catch {
    // none yet
  }
  tmux('new-session', '-d', '-s', SESSION, '-x', '80', '-y', '24', 'bash --norc --noprofile');
  tmux('send-keys', '-t', SESSION, `PS1='$ '; ${process.execPath} ${CLI} top ${args}; echo "top exited $?"`, 'Enter');
}

const exited = (): Promise<true> =>
  eventually(async () => (screen().includes('top exited 0') ? true : undefined), 10_000, 'top to exit 0 on q').catch(withScreen);

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

    typeTop('--sources procfs,ss --interval 1s');
    await eventually(async () => (screen().includes('netproc-agent top') ? true : undefined), 30_000, 'top to draw');
    // Each key is seen: the header follows r to received, then t back to transmitted.
    tmux('send-keys', '-t', SESSION, 'r');
    await eventually(async () => (screen().includes('sort: received') ? true : undefined), 10_000, 'sort: received after r');
    tmux('send-keys', '-t', SESSION, 't');

    const first = await eventually(async () => {
      const lines = screen().split('\n');
      const header = lines.findIndex((l) => l.startsWith('PID'));
      if (!lines.some((l) => l.includes('netproc-agent top') && l.includes('sort: transmitted')) || header < 0) return undefined;
      const row = lines[header + 1]?.trim().split(/\s+/);
      return row && Number(row[0]) === streamer.pid ? lines : undefined;
    }, 20_000, `the streamer (PID ${streamer.pid}) at the top`).catch(withScreen);
    // Every line fits the 80-column terminal without wrapping: each data row starts with a PID.
    const rows = first.slice(first.findIndex((l) => l.startsWith('PID')) + 1).filter((l) => l.trim() !== '');
    expect(rows.length).toBeLessThanOrEqual(22);
    expect(rows.at(-1)).toMatch(/^sort: r received/);
    for (const row of rows.slice(0, -1)) expect(row).toMatch(/^\d+\s/);
    expect(first.every((l) => l.length <= 80)).toBe(true);

    tmux('send-keys', '-t', SESSION, 'q');
    await exited();
    // The terminal is back in canonical mode with echo.
    tmux('send-keys', '-t', SESSION, "stty -a | tr ' ' '\\n' | grep -x -e '-\\?icanon' -e '-\\?echo'", 'Enter');
    const modes = await eventually(async () => {
      const text = screen();
      return /^icanon$/m.test(text) && /^echo$/m.test(text) ? text : undefined;
    }, 10_000, 'stty output');
    expect(modes).not.toMatch(/^-icanon$/m);
  });

  it('quits on q at once while an ss run hangs, instead of waiting out the ss timeout', async () => {
    // A stand-in ss: answers the probe through the real ss, and hangs on the collection's arguments
    // (-i: the probe never asks for tcp_info).
    const dir = mkdtempSync(join(tmpdir(), 'netproc-top-'));
    const hung = join(dir, 'hung.pid');
    const standIn = join(dir, 'ss');
    writeFileSync(
      standIn,
      `#!/bin/sh\ncase " $* " in *" -i "*) echo $$ > ${hung}; exec sleep 120;; esac\nexec ss "$@"\n`,
      { mode: 0o755 },
    );
    try {
      typeTop(`--sources ss --ss-path ${standIn} --ss-timeout 120s`);
      await eventually(async () => (readFileSync(hung, 'utf8').trim() ? true : undefined), 20_000, 'the collection to call ss').catch(withScreen);
      expect(screen()).toContain('collecting…');
      tmux('send-keys', '-t', SESSION, 'q');
      // Without the bound, top would wait for ss, up to the 120 s timeout.
      await exited();
    } finally {
      try {
        process.kill(Number(readFileSync(hung, 'utf8')), 'SIGKILL');
      } catch {
        // never started, or already gone
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
