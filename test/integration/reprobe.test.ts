// A source unusable at start becomes usable while the agent runs: the engine is missing where
// ebpf.loader points when the agent starts (ss serves bytes), then appears there (a symlink to
// the built one, as an install would). Within the re-probe interval the ebpf source takes bytes
// over; the sender's total never falls across the handover, and nothing is counted twice: a
// transfer before the handover and one after are each counted exactly once.
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, startAgentServing, type AgentUnderTest } from '../helpers/agent.js';
import { EBPF_NEEDS, settled, trafficOf } from '../helpers/ebpf.js';
import { killAll, peer, type Child } from '../helpers/processes.js';
import { valueOf } from '../helpers/prometheus-text.js';
import { LOADER, missing } from '../helpers/requirements.js';

const FIRST = 4 * 1024 * 1024;
const SECOND = 6 * 1024 * 1024;

describe.skipIf(missing('reprobe', ...EBPF_NEEDS))('a source unusable at start, usable later', () => {
  let agent: AgentUnderTest | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'netproc-reprobe-'));
  afterAll(async () => {
    await agent?.stop();
    await killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes the families over within the re-probe interval, totals never falling, nothing counted twice', async () => {
    const loader = join(dir, 'netproc-loader');
    agent = await startAgentServing('ss', 'bytes', [
      '--sources', 'ebpf,ss,procfs', '--interval', '1s', '--reprobe-interval', '2s', '--ebpf-loader', loader,
    ]);
    const a = agent;
    const sink = peer('sink', '127.0.0.1');
    const { port } = await sink.next('port');
    // Two senders: ss counts the first (its connection kept open across the handover), ebpf the second.
    const sender: Child = peer('send', '127.0.0.1', port, FIRST);
    await sender.next('sent');
    const tx = (s: Awaited<ReturnType<AgentUnderTest['scrape']>>) => trafficOf(s, sender.pid, 'tcp').txBytes;
    const before = await settled(a, tx, (s) => tx(s) >= FIRST);
    expect(tx(before)).toBe(FIRST);
    expect(valueOf(before, 'netproc_source_up', { source: 'ebpf' })).toBe(0);

    symlinkSync(LOADER, loader);
    let last = tx(before);
    await eventually(
      async () => {
        const s = await a.scrape();
        expect(tx(s)).toBeGreaterThanOrEqual(last);
        last = tx(s);
        return valueOf(s, 'netproc_source_selected', { source: 'ebpf', family: 'bytes' }) === 1 ? true : undefined;
      },
      // The re-probe comes within 16 s of the symlink (2 s, doubling up to 8 x 2 s while the loader
      // was missing), then the loader attaches (under a second) while ss goes on serving.
      60_000,
      'ebpf to serve bytes',
    );
    expect(a.child.stderr()).toContain('source became usable');

    const second = peer('send', '127.0.0.1', port, SECOND);
    await second.next('sent');
    const after = await settled(a, (s) => [tx(s), trafficOf(s, second.pid, 'tcp').txBytes], (s) => trafficOf(s, second.pid, 'tcp').txBytes >= SECOND).catch(async (err) => {
      const s = await a.scrape();
      throw new Error(`${err.message}: first ${tx(s)}, second ${JSON.stringify(trafficOf(s, second.pid, 'tcp'))}; ${a.child.stderr().slice(-3000)}`);
    });
    // The first sender's total is what ss counted, not raised by ebpf; the second is exact.
    expect(tx(after)).toBe(FIRST);
    expect(trafficOf(after, second.pid, 'tcp').txBytes).toBe(SECOND);
  });
});
