// The ebpf source on TCP, through the agent's /metrics: what each process wrote and read must be
// exactly what it reports, and its segments and retransmissions exactly the kernel's own counters
// of its socket. The engine's TCP semantics (docs/metrics.md): tx is payload transmitted without
// retransmissions, rx is payload received in order; both equal what the process wrote and read.
// The kernel's counters come from tcp-roles.py: `ss -tin` before the shutdown (a lower bound: the
// reply and the FIN exchange follow), and TCP_INFO (the struct ss reads) once the socket is in TCP_CLOSE with
// its descriptor still held, when they are final; ss lists no socket in CLOSE.
import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentUnderTest } from '../helpers/agent.js';
import { EBPF_NEEDS, reportsOf, settled, startEbpfAgent, tcpRole, type RoleResult } from '../helpers/ebpf.js';
import { createNamespace, type TestNamespace } from '../helpers/netns.js';
import { killAll, type Child } from '../helpers/processes.js';
import { missing } from '../helpers/requirements.js';
import { METRICS } from '../../src/semconv.js';

const UP = 20_000_000;
const DOWN = 5_000_000;

/** What the agent must report for a role: exactly its payload, and the kernel's final counters. */
const expected = (r: RoleResult) => ({
  rxBytes: r.rxBytes,
  txBytes: r.txBytes,
  rxPackets: r.kernel!.segsIn,
  txPackets: r.kernel!.segsOut,
  retrans: r.kernel!.retrans,
});

/** Waits until the agent reports exactly `results` (or until its values stop moving), and compares. */
async function expectExact(agent: AgentUnderTest, results: readonly RoleResult[]): Promise<void> {
  const pids = results.map((r) => r.pid);
  const want = results.map(expected);
  const samples = await settled(agent, (s) => reportsOf(s, pids), (s) => JSON.stringify(reportsOf(s, pids)) === JSON.stringify(want), 20_000).catch(
    async () => agent.scrape(),
  );
  const got = reportsOf(samples, pids);
  results.forEach((r, i) => {
    expect(got[i], `pid ${r.pid}`).toEqual(want[i]);
    // `ss -tin` before the shutdown is a lower bound only: the reply, its ACKs and the FIN
    // exchange follow it.
    expect(got[i]!.rxPackets).toBeGreaterThanOrEqual(r.ss!.segsIn);
    expect(got[i]!.txPackets).toBeGreaterThanOrEqual(r.ss!.segsOut);
    expect(got[i]!.retrans).toBeGreaterThanOrEqual(r.ss!.retrans);
  });
}

/** One connection: a server in `serverNs` (or here) answering DOWN bytes to a client sending UP. */
async function pair(family: '4' | '6', host: string, serverNs?: string, clientNs?: string): Promise<[RoleResult, RoleResult]> {
  const server = tcpRole(serverNs, 'server', family, host, 0, DOWN);
  const { port } = await server.next('port');
  const client = tcpRole(clientNs, 'client', family, host, port, UP);
  const c = (await client.next<{ result: RoleResult }>('result', 60_000)).result;
  const s = (await server.next<{ result: RoleResult }>('result', 60_000)).result;
  return [c, s];
}

const nft = (ns: string, ...args: string[]): void => void execFileSync('ip', ['netns', 'exec', ns, 'nft', ...args], { stdio: 'pipe' });

describe.skipIf(missing('ebpf-tcp', ...EBPF_NEEDS, 'ip', 'python3', 'nft', 'promtool'))('ebpf source, TCP', () => {
  let agent: AgentUnderTest;
  const namespaces: TestNamespace[] = [];
  const bareNamespaces: string[] = [];
  beforeAll(async () => {
    agent = await startEbpfAgent();
  }, 40_000);
  afterAll(async () => {
    await agent?.stop();
    await killAll();
    for (const ns of namespaces) ns.remove();
    for (const name of bareNamespaces) execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  });

  it('counts a loopback transfer over IPv4 exactly: bytes both ways, segments and retransmissions as the kernel', async () => {
    await expectExact(agent, await pair('4', '127.0.0.1'));
  });

  it('counts a loopback transfer over IPv6 exactly', async () => {
    await expectExact(agent, await pair('6', '::1'));
  });

  it('counts a receiver inside another network namespace (veth) exactly, under its own PID', async () => {
    const ns = createNamespace(61);
    namespaces.push(ns);
    await expectExact(agent, await pair('4', ns.nsAddress, ns.name));
  });

  it("counts retransmissions exactly as the kernel does when 5% of packets are dropped at the receiver's input", async () => {
    // An OUTPUT drop would make no retransmission at all: TCP sends locally refused data again as
    // new data. A drop at the INPUT of the receiving namespace is a real loss on the path.
    const ns = createNamespace(62);
    namespaces.push(ns);
    nft(ns.name, 'add', 'table', 'inet', 't');
    nft(ns.name, 'add', 'chain', 'inet', 't', 'c', '{ type filter hook input priority 0; }');
    nft(ns.name, 'add', 'rule', 'inet', 't', 'c', 'numgen', 'random', 'mod', '20', '==', '0', 'drop');
    const [client, server] = await pair('4', ns.nsAddress, ns.name);
    expect(client.kernel!.retrans, 'the sender retransmitted (else this test shows nothing)').toBeGreaterThan(0);
    await expectExact(agent, [client, server]);
  });

  it("gives each pre-fork worker the connections it accepted, and the listening master nothing", async () => {
    const master = tcpRole(undefined, 'prefork', 0, 3, 40);
    const { port } = await master.next('port');
    const client = tcpRole(undefined, 'prefork-client', port, 120);
    const sent = (await client.next<{ result: RoleResult }>('result', 60_000)).result;
    const { master: masterPid, workers } = await master.next<{ master: number; workers: RoleResult[] }>('workers', 60_000);
    const pids = [sent.pid, ...workers.map((w) => w.pid), masterPid];
    const want = [sent, ...workers].map((r) => [r.rxBytes, r.txBytes]).concat([[0, 0]]);
    const read = (s: Parameters<typeof reportsOf>[0]) => reportsOf(s, pids).map((r) => [r.rxBytes, r.txBytes]);
    const samples = await settled(agent, read, (s) => JSON.stringify(read(s)) === JSON.stringify(want)).catch(async () => agent.scrape());
    expect(JSON.stringify(read(samples))).toBe(JSON.stringify(want));
    expect(workers.every((w) => w.rxBytes > 0), 'every worker accepted connections').toBe(true);
  });

  it('counts the same 4-tuple, live in two network namespaces at once, per owner', async () => {
    const names = [`netproc-t43a-${process.pid}`, `netproc-t43b-${process.pid}`];
    const runs: Array<{ server: Child; client: Child }> = [];
    for (const [i, name] of names.entries()) {
      execFileSync('ip', ['netns', 'add', name]);
      bareNamespaces.push(name);
      execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
      // Fixed ports are safe: each namespace is new and has nothing else.
      const server = tcpRole(name, 'server', '4', '127.0.0.1', 7000, 100_000 * (i + 1));
      await server.next('port');
      const client = tcpRole(name, 'client', '4', '127.0.0.1', 7000, 1_000_000 * (i + 1), 7001, 'hold');
      runs.push({ server, client });
    }
    // Both connections 127.0.0.1:7001 -> 127.0.0.1:7000 established at the same time.
    for (const { client } of runs) await client.next('held');
    for (const name of names) {
      expect(execFileSync('ip', ['netns', 'exec', name, 'ss', '-tnH', 'state', 'established', 'sport = :7001'], { encoding: 'utf8' })).toContain('127.0.0.1:7001');
    }
    const results: RoleResult[] = [];
    for (const { client, server } of runs) {
      client.proc.kill('SIGUSR1');
      results.push((await client.next<{ result: RoleResult }>('result')).result, (await server.next<{ result: RoleResult }>('result')).result);
    }
    await expectExact(agent, results);
  });

  it('serves the retransmissions as a counter that promtool accepts, beside the other contract series', async () => {
    const text = await agent.metricsText();
    expect(text).toContain(`# TYPE ${METRICS.retransmittedSegments.prometheusName} counter\n`);
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(lint.stdout + lint.stderr).toBe('');
    expect(lint.status).toBe(0);
  });
});
