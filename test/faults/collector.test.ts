// Faults of the Collector, each an outage between two healthy spells, while a sender moves a known
// number of bytes: a Collector that answers after the export timeout (slow), one that refuses with
// UNAVAILABLE and one with RESOURCE_EXHAUSTED, and a link that drops every connection in the middle of
// an export. (A Collector that is down altogether: test/integration/otlp-e2e.test.ts.)
// For each: the agent keeps collecting and serving /metrics, which never decreases; the failures are
// counted in netproc_exports_total and the outage is logged once; with no restart, exports succeed
// again, and the first export collected after the outage carries the sender's whole transfer: "not
// lost" means the bytes sent during the outage arrive with the next successful export (cumulative
// temporality), exactly as the local endpoint counts them.
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS } from '../../src/semconv.js';
import { eventually, startAgent, type AgentUnderTest } from '../helpers/agent.js';
import { trafficOf } from '../helpers/ebpf.js';
import { collectedAtMs, startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';
import { killAll, peer } from '../helpers/processes.js';
import { valueOf } from '../helpers/prometheus-text.js';
import { missing } from '../helpers/requirements.js';

const EXPORT_MS = 500;
const EXPORT_TIMEOUT_MS = 1000;
const OUTAGE_MS = 4000;
const PAYLOAD = 3_000_000;

/**
 * A TCP pass-through to the receiver that, while `cutting`, destroys each connection once the client
 * has sent its first kilobyte: the export's request is on the wire, its answer never comes back.
 */
async function startCutter(targetPort: number): Promise<{ port: number; cutting: boolean; cuts: number; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const state = { port: 0, cutting: false, cuts: 0, stop: async () => undefined as void };
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    let sent = 0;
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    upstream.pipe(client);
    client.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      if (state.cutting && sent > 1024) {
        state.cuts++;
        upstream.write(chunk.subarray(0, Math.max(0, 1024 - (sent - chunk.length))));
        drop();
        return;
      }
      upstream.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  state.stop = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}

describe.skipIf(missing('faults-collector', 'root', 'ss'))('Collector faults', () => {
  let receiver: OtlpReceiver;
  let cutter: Awaited<ReturnType<typeof startCutter>>;
  let agent: AgentUnderTest;
  let sinkPort = 0;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    cutter = await startCutter(receiver.port);
    agent = await startAgent(['--sources', 'ss', '--interval', '500ms', '--otlp-endpoint', `http://127.0.0.1:${cutter.port}`, '--otlp-interval', `${EXPORT_MS}ms`], {
      OTEL_EXPORTER_OTLP_TIMEOUT: String(EXPORT_TIMEOUT_MS),
    });
    const sink = peer('sink', '127.0.0.1');
    sinkPort = (await sink.next('port')).port;
  });
  afterAll(async () => {
    await agent?.stop();
    await cutter?.stop();
    await receiver?.stop();
    await killAll();
  });

  const faults: Array<[string, () => void]> = [
    ['slow (answers after the export timeout)', () => receiver.stall()],
    ['refusing with UNAVAILABLE', () => receiver.refuse(status.UNAVAILABLE, 'collector restarting')],
    ['refusing with RESOURCE_EXHAUSTED', () => receiver.refuse(status.RESOURCE_EXHAUSTED, 'memory limit reached')],
    ['closing the connection mid-export', () => (cutter.cutting = true)],
  ];

  it.each(faults)('%s: collection and /metrics go on, counted, logged once, and the outage\'s bytes arrive after it', async (name, fault) => {
    const failures = async (): Promise<number> => valueOf(await agent.scrape(), 'netproc_exports_total', { result: 'failure' }) ?? 0;
    const failingLogged = (): number => agent.child.stderr().match(/OTLP export failing/g)?.length ?? 0;
    await eventually(async () => ((valueOf(await agent.scrape(), 'netproc_exports_total', { result: 'success' }) ?? 0) > 0 ? true : undefined), 20_000, 'a first export');
    const failuresBefore = await failures();
    const loggedBefore = failingLogged();

    fault();
    // The transfer happens entirely during the outage.
    const sender = peer('send', '127.0.0.1', sinkPort, PAYLOAD);
    await sender.next('sent');
    // The outage lasts at least OUTAGE_MS (several export intervals), and until the transfer is on
    // /metrics and the failure is counted and logged: a loaded host may take longer for each.
    const local: number[] = [];
    const began = Date.now();
    for (;;) {
      local.push(trafficOf(await agent.scrape(), sender.pid, 'tcp').txBytes);
      const seen = local.at(-1) === PAYLOAD && (await failures()) > failuresBefore && failingLogged() > loggedBefore;
      if ((seen && Date.now() - began >= OUTAGE_MS) || Date.now() - began > 30_000) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    for (let i = 1; i < local.length; i++) expect(local[i]!).toBeGreaterThanOrEqual(local[i - 1]!);
    expect(local.at(-1), 'collection went on during the outage').toBe(PAYLOAD);
    expect(await failures()).toBeGreaterThan(failuresBefore);
    expect(failingLogged() - loggedBefore, 'the outage is logged once, not once per export').toBe(1);
    if (name.startsWith('closing')) expect(cutter.cuts, 'connections cut mid-export').toBeGreaterThan(0);
    if (name.startsWith('slow')) expect(receiver.stalled).toBeGreaterThan(0);

    const backAt = Date.now();
    receiver.accept();
    cutter.cutting = false;
    await eventually(
      async () => (receiver.requests.some((q) => collectedAtMs(q) >= backAt) ? true : undefined),
      30_000,
      'an export collected after the outage',
    );
    const pushed = receiver.latestValue(METRICS.transmitBytes.name, { 'process.pid': sender.pid, 'network.transport': 'tcp' });
    expect(pushed).toBe(PAYLOAD);
    await sender.kill();
  });
});
