// `run` serves /healthz and /readyz beside /metrics, and shuts down cleanly on SIGTERM and SIGINT.
import { describe, expect, it } from 'vitest';
import { eventually, startAgent } from '../helpers/agent.js';
import { missing } from '../helpers/requirements.js';

describe.skipIf(missing('lifecycle', 'root', 'ss'))('agent lifecycle', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`is live, becomes ready after the first collection, and exits 0 on ${signal}`, async () => {
      const agent = await startAgent(['--sources', 'ss,procfs', '--interval', '500ms']);
      const base = `http://127.0.0.1:${agent.port}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      await eventually(async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined), 10_000, 'ready');
      expect((await fetch(`${base}/nope`)).status).toBe(404);
      expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);

      const exited = new Promise<number | null>((resolve) => agent.child.proc.once('exit', (code) => resolve(code)));
      agent.child.proc.kill(signal);
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 10_000))]);
      expect(code).toBe(0);
      expect(agent.child.stderr()).toContain('"msg":"shutting down"');
      await agent.stop();
    });
  }

  it('a scrape reads the prepared snapshot and never triggers a collection', async () => {
    // One collection at start, the next an hour away: scrapes must all show the same snapshot.
    const agent = await startAgent(['--sources', 'ss', '--interval', '1h']);
    const durations = async (): Promise<string> =>
      (await agent.metricsText()).split('\n').filter((l) => l.startsWith('netproc_source_collection_duration_seconds')).join('\n');
    const first = await eventually(async () => {
      const text = await durations();
      return / [0-9.e-]+$/.test(text) && !/ 0$/.test(text) ? text : undefined;
    }, 10_000, 'the first collection');
    for (let i = 0; i < 5; i++) expect(await durations()).toBe(first);
    await agent.stop();
  });
});
