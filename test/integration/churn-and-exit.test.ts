// A process that opens and closes connections repeatedly never shows a decreasing total, and once it
// exits its series leave /metrics after the exit retention (1 s here), its totals folded into [other]
// (the MetricProducer, unlike observable instruments with cumulative temporality, does not keep
// exited PIDs: opentelemetry-js #4096).
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, startAgent, type AgentUnderTest } from '../helpers/agent.js';
import { killAll, peer } from '../helpers/processes.js';
import { select, valueOf } from '../helpers/prometheus-text.js';
import { missing } from '../helpers/requirements.js';

const INTERVAL_MS = 300;

describe.skipIf(missing('churn-and-exit', 'root', 'ss'))('monotonic totals under churn, and exit', () => {
  let agent: AgentUnderTest;
  afterAll(async () => {
    await agent?.stop();
    await killAll();
  });

  it('never decreases a total across scrapes, then drops the exited process', async () => {
    agent = await startAgent(['--sources', 'ss,procfs', '--interval', `${INTERVAL_MS}ms`, '--exit-retention', '1s']);
    const sink = peer('sink', '127.0.0.1');
    const { port } = await sink.next('port');
    // 12 connections, one after another, each sending 1 MiB and then held 2.5 intervals before it
    // closes: every socket is seen by at least one snapshot with its final counters.
    const CONNS = 12;
    const BYTES = 1024 * 1024;
    const churn = peer('churn', '127.0.0.1', port, CONNS, BYTES, 2.5 * INTERVAL_MS);

    const series: Array<{ tx: number; rx: number; packets: number }> = [];
    const done = churn.next('done', 60_000);
    let finished = false;
    void done.then(() => (finished = true));
    while (!finished) {
      const s = await agent.scrape();
      series.push({
        tx: valueOf(s, 'process_network_transmit_bytes_total', { process_pid: churn.pid }) ?? 0,
        rx: valueOf(s, 'process_network_receive_bytes_total', { process_pid: sink.pid }) ?? 0,
        packets: valueOf(s, 'process_network_rx_packets', { process_pid: sink.pid }) ?? 0,
      });
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(series.length).toBeGreaterThan(10);
    for (let i = 1; i < series.length; i++) {
      expect(series[i]!.tx).toBeGreaterThanOrEqual(series[i - 1]!.tx);
      expect(series[i]!.rx).toBeGreaterThanOrEqual(series[i - 1]!.rx);
      expect(series[i]!.packets).toBeGreaterThanOrEqual(series[i - 1]!.packets);
    }
    // Closed sockets keep what they contributed: the totals cover all 12 connections (1%, as in ss-transfer).
    const final = await eventually(async () => {
      const s = await agent.scrape();
      const rx = valueOf(s, 'process_network_receive_bytes_total', { process_pid: sink.pid }) ?? 0;
      return rx >= CONNS * BYTES * 0.99 ? s : undefined;
    }, 5000, 'the last connection to be counted');
    const tx = valueOf(final, 'process_network_transmit_bytes_total', { process_pid: churn.pid }) ?? 0;
    expect(Math.abs(tx - CONNS * BYTES) / (CONNS * BYTES)).toBeLessThanOrEqual(0.01);

    await churn.kill();
    const gone = await eventually(async () => {
      const s = await agent.scrape();
      return s.some((x) => x.labels.process_pid === String(churn.pid)) ? undefined : s;
    }, 10 * INTERVAL_MS + 5000, 'the exited process to leave /metrics');
    expect(select(gone, 'process_network_connections', { process_pid: sink.pid }).length).toBeGreaterThan(0);
  });
});
