// /proc entries vanishing mid-scan: processes holding sockets start and exit all the time (five a
// second, each living a few milliseconds, plus 20 connections replaced every 50 ms) while procfs
// scans every 200 ms. A process that is gone between readdir and readlink is normal: it is skipped
// silently, never counted as an error, never fails the collection, and a steady process beside the
// churn is counted exactly at every scrape.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, startAgent, type AgentUnderTest } from '../helpers/agent.js';
import { killAll, peer, start } from '../helpers/processes.js';
import { valueOf } from '../helpers/prometheus-text.js';
import { missing } from '../helpers/requirements.js';

const HELD = 10;
const SCRAPES = 40;

describe.skipIf(missing('faults-proc', 'root'))('/proc entries vanishing mid-scan', () => {
  let agent: AgentUnderTest | undefined;
  afterAll(async () => {
    await agent?.stop();
    await killAll();
  });

  it('skips vanished processes silently while counting a steady one exactly, every scrape', async () => {
    const sink = peer('sink', '127.0.0.1');
    const { port } = await sink.next('port');
    const steady = peer('hold', '127.0.0.1', port, HELD);
    await steady.next('open');
    start(process.execPath, [join(import.meta.dirname, '../soak/churn.mjs'), String(port), '5', '1000']);
    agent = await startAgent(['--sources', 'procfs', '--interval', '200ms']);
    const established = { process_pid: steady.pid, network_transport: 'tcp', network_connection_state: 'established' };
    const running = agent;
    await eventually(async () => (valueOf(await running.scrape(), 'process_network_connections', established) === HELD ? true : undefined), 20_000, 'the steady holder');
    for (let i = 0; i < SCRAPES; i++) {
      const s = await agent.scrape();
      expect(valueOf(s, 'process_network_connections', established), `scrape ${i}`).toBe(HELD);
      expect(valueOf(s, 'netproc_source_up', { source: 'procfs' })).toBe(1);
      await new Promise((r) => setTimeout(r, 250));
    }
    const s = await agent.scrape();
    // Vanishing is not an error: neither a failed collection nor a process that failed. (Permission
    // errors are left out: on these VMs the init agent's fd table is closed even to root, and is
    // counted every cycle, churn or not.)
    for (const kind of ['collect', 'process']) {
      expect(valueOf(s, 'netproc_source_errors_total', { source: 'procfs', kind }) ?? 0, kind).toBe(0);
    }
  });
});
