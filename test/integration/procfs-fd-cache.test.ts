// The procfs source keeps large fd tables between cycles and reads only new fd numbers (see
// CachedTable in src/sources/procfs/source.ts). Against the real kernel: two processes with 150
// connections each, cached, then 20 connections closed and reopened on the same fd numbers: the
// counts per PID stay exact, cycle after cycle, and equal what raw `ss -p` says.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startAgent, type AgentUnderTest } from '../helpers/agent.js';
import { killAll, peer, type Child } from '../helpers/processes.js';
import { valueOf } from '../helpers/prometheus-text.js';
import { missing } from '../helpers/requirements.js';

const CONNECTIONS = 150; // above MIN_CACHED_FDS (128) on both sides
const SWAP = 20;
const INTERVAL_MS = 300;

describe.skipIf(missing('procfs-fd-cache', 'root', 'ss'))('procfs: cached fd tables under fd number reuse', () => {
  let agent: AgentUnderTest;
  let server: Child;
  let client: Child;

  beforeAll(async () => {
    server = peer('sink', '127.0.0.1');
    const { port } = await server.next('port');
    client = peer('hold-swap', '127.0.0.1', port, CONNECTIONS, SWAP);
    await client.next('open');
    agent = await startAgent(['--sources', 'procfs', '--interval', `${INTERVAL_MS}ms`]);
  });
  afterAll(async () => {
    await agent?.stop();
    await killAll();
  });

  const established = async (pid: number): Promise<number | undefined> =>
    valueOf(await agent.scrape(), 'process_network_connections', {
      process_pid: pid,
      network_transport: 'tcp',
      network_connection_state: 'established',
    });
  /** Established TCP sockets raw `ss -p` gives the PID. */
  const rawEstablished = (pid: number): number =>
    execFileSync('ss', ['-tanpH', 'state', 'established'], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.includes(`pid=${pid},`)).length;

  it('counts exactly before and after connections are closed and reopened on the same fd numbers', async () => {
    await eventually(async () => ((await established(client.pid)) === CONNECTIONS ? true : undefined), 20_000, 'the first count');
    // Enough cycles for both tables to be cached: read whole twice, then from the cache.
    await new Promise((r) => setTimeout(r, 6 * INTERVAL_MS));
    expect(await established(client.pid)).toBe(CONNECTIONS);
    expect(await established(server.pid)).toBe(CONNECTIONS);

    client.proc.kill('SIGUSR1');
    const { closedFds, newFds } = await client.next<{ closedFds: number[]; newFds: number[] }>('swapped');
    // The case the cache must catch: new sockets behind fd numbers it has seen before.
    expect(newFds.filter((fd) => closedFds.includes(fd)).length).toBeGreaterThan(0);
    expect(rawEstablished(client.pid)).toBe(CONNECTIONS);

    // The aggregator holds a new ownerless socket back one cycle; then every cycle must be exact.
    await new Promise((r) => setTimeout(r, 3 * INTERVAL_MS));
    for (let i = 0; i < 5; i++) {
      expect(await established(client.pid)).toBe(CONNECTIONS);
      expect(await established(server.pid)).toBe(rawEstablished(server.pid));
      await new Promise((r) => setTimeout(r, INTERVAL_MS));
    }
    expect(rawEstablished(server.pid)).toBe(CONNECTIONS);
  });
});
