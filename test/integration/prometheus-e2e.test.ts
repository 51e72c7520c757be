// End to end on the local endpoint: /metrics passes `promtool check metrics`, and a real Prometheus
// scraping the agent every second returns the sender's transmitted bytes within 1% through PromQL.
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { METRICS } from '../../src/semconv.js';
import { eventually, startAgent, type AgentUnderTest } from '../helpers/agent.js';
import { killAll, peer } from '../helpers/processes.js';
import { startPrometheus, type PrometheusServer } from '../helpers/prometheus-server.js';
import { missing } from '../helpers/requirements.js';

const PAYLOAD = 20 * 1024 * 1024;

describe.skipIf(missing('prometheus-e2e', 'root', 'ss', 'promtool', 'prometheus'))('Prometheus end to end', () => {
  let agent: AgentUnderTest;
  let prometheus: PrometheusServer | undefined;
  let senderPid = 0;
  afterAll(async () => {
    await prometheus?.stop();
    await agent?.stop();
    await killAll();
  });

  it('serves /metrics that promtool accepts, with exactly the contract names and types', async () => {
    agent = await startAgent(['--sources', 'ss,procfs', '--interval', '500ms']);
    const sink = peer('sink', '127.0.0.1', 1000);
    const { port } = await sink.next('port');
    const sender = peer('send', '127.0.0.1', port, PAYLOAD);
    await sender.next('sent');
    senderPid = sender.pid;
    const text = await eventually(async () => {
      const t = await agent.metricsText();
      return t.includes(`process_pid="${sender.pid}"`) && t.includes('process_network_rx_packets') ? t : undefined;
    });
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(lint.stdout + lint.stderr).toBe('');
    expect(lint.status).toBe(0);
    // Retransmissions come from the ebpf source only (scraped by a real Prometheus in
    // test/deploy/dashboard.test.ts); this agent runs ss and procfs, which need no root.
    for (const spec of Object.values(METRICS).filter((m) => m !== METRICS.retransmittedSegments)) {
      const type = spec.kind === 'counter' ? 'counter' : 'gauge';
      expect(text).toContain(`# TYPE ${spec.prometheusName} ${type}\n`);
    }
    expect(text).not.toMatch(/process_network_(rx|tx)_packets_total/);
  });

  it('lets Prometheus query the sender\'s transmitted bytes within 1%', async () => {
    prometheus = await startPrometheus([`127.0.0.1:${agent.port}`]);
    expect(senderPid).toBeGreaterThan(0);
    const expr = `sum(process_network_transmit_bytes_total{process_pid="${senderPid}",network_transport="tcp"})`;
    const value = await eventually(async () => {
      const result = await prometheus!.query(expr);
      return result.length > 0 ? Number(result[0]!.value[1]) : undefined;
    }, 30_000, `Prometheus to return ${expr}`);
    expect(Math.abs(value - PAYLOAD) / PAYLOAD).toBeLessThanOrEqual(0.01);
    const up = await prometheus.query('up{job="netproc-agent"}');
    expect(up[0]!.value[1]).toBe('1');
  });
});
