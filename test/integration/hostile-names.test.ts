// Process names are data from other users: an executable may be named anything a file can be. Each
// process here runs the real node binary under a hostile file name (a hard link; /proc/PID/exe names
// the link it was started through) and holds one TCP connection. The Prometheus exposition must pass
// `promtool check metrics`, the OTLP payload must decode, and each name must arrive bounded, with
// control characters as '?' and invalid UTF-8 as U+FFFD (src/host/names.ts).
import { spawnSync } from 'node:child_process';
import { linkSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sanitizeName } from '../../src/host/names.js';
import { METRICS } from '../../src/semconv.js';
import { eventually, startAgent, type AgentUnderTest } from '../helpers/agent.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { killAll, PEER, peer, start, type Child } from '../helpers/processes.js';
import { parsePrometheusText, select } from '../helpers/prometheus-text.js';
import { missing } from '../helpers/requirements.js';

/** src/host/processes.ts MAX_NAME_LENGTH: the bound on process.executable.name, documented in docs/metrics.md. */
const MAX_NAME = 128;

/** File names as bytes: what a hostile user can name an executable. */
const HOSTILE: ReadonlyArray<[what: string, name: Buffer]> = [
  ['exposition syntax', Buffer.from('evil"\n} 1\nfake_metric{x="y')],
  ['label syntax', Buffer.from('x",process_pid="1')],
  ['backslashes', Buffer.from('back\\slash\\n\\')],
  ['control characters', Buffer.from('\x01\x1b[31mred\x7f\x9b')],
  ['invalid UTF-8', Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe, 0x2d, 0xc3, 0x28, 0xed, 0xa0, 0x80])],
  ['250 bytes', Buffer.from('L'.repeat(250))],
  ['4-byte UTF-8 across the bound', Buffer.from(`${'e'.repeat(127)}😀😀`)],
];

describe.skipIf(missing('hostile-names', 'root', 'promtool'))('hostile process names', () => {
  let dir: string;
  let agent: AgentUnderTest;
  let receiver: OtlpReceiver;
  const holders: Array<{ what: string; child: Child; expected: string }> = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'netproc-names-'));
    const node = realpathSync(process.execPath);
    const sink = peer('sink', '127.0.0.1');
    const { port } = await sink.next('port');
    for (const [i, [what, name]] of HOSTILE.entries()) {
      const hostile = Buffer.concat([Buffer.from(`${dir}/`), name]);
      linkSync(node, hostile);
      // spawn() takes a string: start it through a plain-named symlink; /proc/PID/exe resolves to the hostile link.
      const plain = join(dir, `start-${i}`);
      symlinkSync(hostile, plain);
      // A 4 KiB command line full of newlines and quotes too; the agent never reads command lines.
      const child = start(plain, [PEER, 'hold', '127.0.0.1', String(port), '1', `--junk=${'"\n\\'.repeat(1365)}`]);
      await child.next('open');
      // What readlink gives Node (invalid UTF-8 decoded as U+FFFD), through the agent's one sanitizer.
      const expected = sanitizeName(name.toString('utf8'), MAX_NAME)!;
      holders.push({ what, child, expected });
    }
    receiver = await startOtlpReceiver();
    agent = await startAgent(['--sources', 'procfs', '--interval', '500ms', '--otlp-endpoint', `http://127.0.0.1:${receiver.port}`, '--otlp-interval', '1s']);
  });
  afterAll(async () => {
    await agent?.stop();
    await receiver?.stop();
    await killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the Prometheus exposition valid: promtool check metrics passes', async () => {
    const text = await eventually(async () => {
      const t = await agent.metricsText();
      return holders.every((h) => t.includes(`process_pid="${h.child.pid}"`)) ? t : undefined;
    }, 20_000, 'every hostile process on /metrics');
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(lint.stdout + lint.stderr).toBe('');
    expect(lint.status).toBe(0);
    // No line was injected: every sample line names a metric the agent exports, or target_info.
    const names = new Set(parsePrometheusText(text).map((s) => s.name));
    expect([...names].filter((n) => !n.startsWith('process_network_') && !n.startsWith('netproc_') && n !== 'target_info')).toEqual([]);
  });

  it.each(HOSTILE.map(([what]) => what))('%s: the label is the bounded, cleaned name', async (what) => {
    const holder = holders.find((h) => h.what === what)!;
    const samples = parsePrometheusText(await agent.metricsText());
    const series = select(samples, METRICS.connections.prometheusName, { process_pid: holder.child.pid, network_connection_state: 'established' });
    expect(series).toHaveLength(1);
    const label = series[0]!.labels.process_executable_name!;
    expect(label).toBe(holder.expected);
    expect(Array.from(label).length).toBeLessThanOrEqual(MAX_NAME);
    expect(label).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect(series[0]!.value).toBe(1);
  });

  it('sends every name in an OTLP payload the receiver decodes', async () => {
    const found = await eventually(async () => {
      const names = holders.map((h) => receiver.points(METRICS.connections.name, { 'process.pid': h.child.pid }).at(-1));
      return names.every((p) => p !== undefined) ? names : undefined;
    }, 20_000, 'every hostile process in an OTLP export');
    for (const [i, point] of found.entries()) {
      expect(point!.point.attributes['process.executable.name'], holders[i]!.what).toBe(holders[i]!.expected);
    }
  });
});
