// The Grafana dashboard "Network Traffic Analysis". Grafana cannot run here, so every panel's PromQL is
// evaluated against a real Prometheus scraping a real agent while known traffic flows:
//   - a sender (peer churn) pushes CHUNK bytes per connection, one connection every HOLD_MS, into
//     a sink, about 20 MB/s for the whole test: it must rank first in "Top Network Consumers
//     (Transmitted)", and the sink first in "(Received)";
//   - a holder keeps HELD connections open to the same sink: it must show up in "Processes with
//     Most Connections" with exactly HELD.
// Two agents watch the same traffic, one per --aggregate-by mode (pid, the default, and executable);
// every panel is evaluated for each, by its instance. The peers run from hard links of Node named
// netproc-sender, netproc-sink and netproc-holder, so that in the executable mode each is its own
// series (and none is summed with the agents, which are node too).
// Timing: Prometheus scrapes every 1 s and the agent collects every 500 ms; Grafana's $__rate_interval
// is substituted by 10s, so every rate() window holds about 10 samples (4 are the minimum Grafana
// assumes), and the panels are evaluated only once Prometheus has scraped at least 9 times in 10 s.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KERNEL_PROCESS, METRICS, OTHER_PROCESS, SELF_METRICS } from '../../src/semconv.js';
import { eventually, startAgent, type AgentUnderTest } from '../helpers/agent.js';
import { EBPF_NEEDS } from '../helpers/ebpf.js';
import { loadDashboard, queryPanels, substitute, type DashboardPanel } from '../helpers/dashboard.js';
import { killAll, namedNode, peerAs, type Child } from '../helpers/processes.js';
import { freePort, startPrometheus, type PrometheusServer } from '../helpers/prometheus-server.js';
import { missing } from '../helpers/requirements.js';

const dashboard = loadDashboard();
const panels = queryPanels(dashboard);
const panel = (title: string): DashboardPanel & { targets: Array<{ expr: string }> } => {
  const found = panels.find((p) => p.title === title);
  if (!found) throw new Error(`no panel "${title}"`);
  return found;
};

/** How the test evaluates Grafana's variables: every node, every process, a 10 s rate window. */
const ALL = { __rate_interval: '10s', __interval: '1s', __range: '1m', instance: '.*', process: '.*' } as const;

const PROCESS_PANELS = [
  'Top Network Consumers (Received)',
  'Top Network Consumers (Transmitted)',
  'Network Traffic by Process',
  'TCP Retransmissions by Process',
  'Network Connections by State',
  'Processes with Most Connections',
  'Active Connections',
];

/** Series names the dashboard may use: the contract names and the self-metrics, as exported. */
const KNOWN_SERIES = new Set([
  ...Object.values(METRICS).map((m) => m.prometheusName),
  SELF_METRICS.up,
  SELF_METRICS.duration,
  `${SELF_METRICS.errors}_total`,
  SELF_METRICS.selected,
  SELF_METRICS.processes,
  SELF_METRICS.series,
  `${SELF_METRICS.exports}_total`,
]);
const PSEUDO_PIDS = `process_pid!~"${KERNEL_PROCESS.pid}|${OTHER_PROCESS.pid}"`;
/**
 * Every label that identifies a series in some --aggregate-by mode. Panels group by all of them:
 * a label a mode drops is empty in every series, so the same query works in every mode.
 */
const SERIES_LABELS = 'instance, process_executable_name, process_pid, container_id, k8s_namespace_name, k8s_pod_name, k8s_container_name';

describe('dashboard: what it shows', () => {
  it('is "Network Traffic Analysis", with the seven process panels', () => {
    expect(dashboard.title).toBe('Network Traffic Analysis');
    for (const title of PROCESS_PANELS) expect(panels.map((p) => p.title)).toContain(title);
  });

  it('has a row of agent health panels: source up, selection, errors, collection duration, OTLP exports', () => {
    const exprs = panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    for (const series of ['netproc_source_up', 'netproc_source_selected', 'netproc_source_errors_total', 'netproc_source_collection_duration_seconds', 'netproc_exports_total']) {
      expect(exprs).toContain(series);
    }
    expect(dashboard.panels.filter((p) => p.type === 'row').map((p) => p.title)).toEqual(['Processes', 'Agent health']);
  });

  it('queries only series the agent exports, under their exported names', () => {
    for (const p of panels) {
      for (const t of p.targets) {
        for (const [name] of t.expr.matchAll(/\b(?:process_network|netproc)_\w+/g)) expect(KNOWN_SERIES, `${p.title}: ${name}`).toContain(name);
      }
    }
  });

  it('takes rate() of the byte counters and of the packet series (which have no _total), in Bps and pps', () => {
    for (const p of panels) {
      for (const t of p.targets) {
        const bytes = /process_network_(receive|transmit)_bytes_total/.test(t.expr);
        const packets = /process_network_(rx|tx)_packets/.test(t.expr);
        if (bytes || packets) expect(t.expr, p.title).toMatch(/\brate\(process_network_\w+\{[^}]*\}\[\$__rate_interval\]\)/);
        if (bytes) expect(p.fieldConfig?.defaults?.unit, p.title).toBe('Bps');
        if (packets) expect(p.fieldConfig?.defaults?.unit, p.title).toBe('pps');
        expect(t.expr).not.toMatch(/_packets_total/);
      }
    }
    expect(panels.some((p) => p.fieldConfig?.defaults?.unit === 'pps')).toBe(true);
  });

  it('ranks with topk by every identity label (so in every aggregation mode), leaving the pseudo-processes [kernel] and [other] out', () => {
    for (const title of ['Top Network Consumers (Received)', 'Top Network Consumers (Transmitted)', 'Processes with Most Connections']) {
      const [target] = panel(title).targets;
      expect(target!.expr.startsWith(`topk(10, sum by (${SERIES_LABELS})`), title).toBe(true);
      expect(target!.expr, title).toContain(PSEUDO_PIDS);
    }
    expect(panel('Network Connections by State').targets[0]!.expr).toMatch(/^sum by \(network_connection_state\)/);
    // Deliberately kept where totals must add up: [kernel] holds TIME_WAIT and orphaned sockets.
    expect(panel('Network Connections by State').targets[0]!.expr).not.toContain('process_pid');
    // Per program: every identity label but the pid.
    const perProgram = SERIES_LABELS.replace(', process_pid', '');
    for (const title of ['Network Traffic by Process', 'Packet Rate by Process', 'TCP Retransmissions by Process']) {
      for (const t of panel(title).targets) expect(t.expr.startsWith(`sum by (${perProgram})`), title).toBe(true);
    }
  });

  it('filters by node (instance) and process (process_executable_name) through template variables', () => {
    const vars = Object.fromEntries(dashboard.templating.list.map((v) => [v.name, v]));
    expect(vars.instance!.definition).toBe('label_values(process_network_connections, instance)');
    expect(vars.process!.definition).toMatch(/^label_values\(process_network_connections\{instance=~"\$instance"\}, process_executable_name\)$/);
    for (const v of [vars.instance!, vars.process!]) expect(v).toMatchObject({ multi: true, includeAll: true, allValue: '.*' });
    for (const title of PROCESS_PANELS) {
      for (const t of panel(title).targets) expect(t.expr, title).toMatch(/instance=~"\$instance", process_executable_name=~"\$process"/);
    }
  });
});

describe.skipIf(missing('dashboard', 'promtool'))('dashboard: PromQL syntax', () => {
  it('every panel query is valid PromQL (promtool check rules)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'netproc-dash-'));
    try {
      const exprs = panels.flatMap((p) => p.targets.map((t) => substitute(t.expr, ALL)));
      const rules = ['groups:', '  - name: dashboard', '    rules:', ...exprs.map((e, i) => `      - record: panel_query_${i}\n        expr: ${JSON.stringify(e)}`)];
      writeFileSync(join(dir, 'rules.yml'), `${rules.join('\n')}\n`);
      const result = spawnSync('promtool', ['check', 'rules', join(dir, 'rules.yml')], { encoding: 'utf8' });
      expect(result.stdout + result.stderr).toContain(`SUCCESS: ${exprs.length} rules found`);
      expect(result.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

type Result = Array<{ metric: Record<string, string>; value: [number, string] }>;

describe.skipIf(missing('dashboard', 'ss', 'prometheus', ...EBPF_NEEDS))('dashboard: every panel against a real Prometheus and agent', () => {
  const CHUNK = 24 * 1024 * 1024;
  const HOLD_MS = 1200; // longer than two agent intervals: ss sees every connection before it closes
  const HELD = 40;
  let agent: AgentUnderTest;
  /** The same, with --aggregate-by executable. */
  let byExecutable: AgentUnderTest;
  let prometheus: PrometheusServer;
  let bin: string;
  /** The variables that select each agent's series. */
  let pidMode: Record<string, string>;
  let executableMode: Record<string, string>;
  let sink: Child;
  let sender: Child;
  let holder: Child;
  afterAll(async () => {
    await prometheus?.stop();
    await agent?.stop();
    await byExecutable?.stop();
    await killAll();
    if (bin) rmSync(bin, { recursive: true, force: true });
  });

  const evaluate = async (expr: string, values: Record<string, string> = pidMode): Promise<Result> =>
    prometheus.query(substitute(expr, values)) as Promise<Result>;
  const ranked = (result: Result): Result => [...result].sort((a, b) => Number(b.value[1]) - Number(a.value[1]));

  it('returns data for every panel query while the traffic flows', async () => {
    // OTLP to a closed port: exports fail and are counted, so the exports panel has series too.
    const closed = await freePort();
    // ebpf first: it alone measures retransmissions, for the retransmissions panel.
    const args = ['--sources', 'ebpf,ss,procfs', '--interval', '500ms', '--otlp-endpoint', `http://127.0.0.1:${closed}`, '--otlp-interval', '1s'];
    agent = await startAgent(args);
    byExecutable = await startAgent([...args, '--aggregate-by', 'executable']);
    pidMode = { ...ALL, instance: `127.0.0.1:${agent.port}` };
    executableMode = { ...ALL, instance: `127.0.0.1:${byExecutable.port}` };
    bin = mkdtempSync(join(tmpdir(), 'netproc-dash-bin-'));
    sink = peerAs(namedNode(bin, 'netproc-sink'), 'sink', '127.0.0.1');
    const { port } = await sink.next('port');
    holder = peerAs(namedNode(bin, 'netproc-holder'), 'hold', '127.0.0.1', port, HELD);
    await holder.next('open');
    sender = peerAs(namedNode(bin, 'netproc-sender'), 'churn', '127.0.0.1', port, 1000, CHUNK, HOLD_MS);
    prometheus = await startPrometheus([`127.0.0.1:${agent.port}`, `127.0.0.1:${byExecutable.port}`]);

    // Full rate windows: at least 9 scrapes in the last 10 s, of each agent.
    await eventually(async () => {
      const ups = await prometheus.query('count_over_time(up[10s])');
      return ups.length === 2 && ups.every((up) => Number(up.value[1]) >= 9) ? true : undefined;
    }, 40_000, 'ten seconds of scrapes');

    for (const [mode, values] of [['pid', pidMode], ['executable', executableMode]] as const) {
      const empty = await eventually(async () => {
        const missingData: string[] = [];
        for (const p of panels) {
          for (const t of p.targets) if ((await evaluate(t.expr, values)).length === 0) missingData.push(`${p.title} ${t.refId}`);
        }
        return missingData.length === 0 ? missingData : undefined;
      }, 30_000, `every panel query to return data (${mode})`);
      expect(empty, mode).toEqual([]);
    }
  });

  it('ranks the sender first in "Top Network Consumers (Transmitted)" and the sink first in "(Received)"', async () => {
    // Other processes on this machine may send bursts too; the sender, at ~20 MB/s, must come out
    // on top within 15 s.
    const top = async (title: string): Promise<string | undefined> =>
      ranked(await evaluate(panel(title).targets[0]!.expr))[0]?.metric.process_pid;
    await eventually(async () => ((await top('Top Network Consumers (Transmitted)')) === String(sender.pid) ? true : undefined), 15_000, 'the sender on top');
    await eventually(async () => ((await top('Top Network Consumers (Received)')) === String(sink.pid) ? true : undefined), 15_000, 'the sink on top');
    const [first] = ranked(await evaluate(panel('Top Network Consumers (Transmitted)').targets[0]!.expr));
    // 24 MiB every ~1.2 s is ~20 MB/s; more than 5 MB/s rules out a stalled sender whatever the timing.
    expect(Number(first!.value[1])).toBeGreaterThan(5e6);
    expect(first!.metric.process_executable_name).toBe('netproc-sender');
  });

  it('filters by process: with $process = netproc-sender, the sender still ranks first', async () => {
    const result = ranked(await evaluate(panel('Top Network Consumers (Transmitted)').targets[0]!.expr, { ...pidMode, process: 'netproc-sender' }));
    expect(result.every((r) => r.metric.process_executable_name === 'netproc-sender')).toBe(true);
    expect(result[0]?.metric.process_pid).toBe(String(sender.pid));
  });

  it('executable mode: the rankings name executables, without process_pid, sender and sink first', async () => {
    const top = async (title: string): Promise<Record<string, string> | undefined> =>
      ranked(await evaluate(panel(title).targets[0]!.expr, executableMode))[0]?.metric;
    const sent = await eventually(async () => {
      const first = await top('Top Network Consumers (Transmitted)');
      return first?.process_executable_name === 'netproc-sender' ? first : undefined;
    }, 15_000, 'netproc-sender on top');
    expect(sent.process_pid).toBeUndefined();
    const received = await eventually(async () => {
      const first = await top('Top Network Consumers (Received)');
      return first?.process_executable_name === 'netproc-sink' ? first : undefined;
    }, 15_000, 'netproc-sink on top');
    expect(received.process_pid).toBeUndefined();
    // The same bytes as in the pid mode: one sender process, so its executable's rate is its rate
    // (within 20%: the two agents collect at different moments within their 500 ms interval).
    const rateOf = async (values: Record<string, string>): Promise<number> =>
      Number(ranked(await evaluate(panel('Top Network Consumers (Transmitted)').targets[0]!.expr, values))[0]!.value[1]);
    const [pidRate, executableRate] = [await rateOf(pidMode), await rateOf(executableMode)];
    expect(Math.abs(executableRate - pidRate) / pidRate).toBeLessThan(0.2);
    const held = (await evaluate(panel('Processes with Most Connections').targets[0]!.expr, executableMode)).find(
      (r) => r.metric.process_executable_name === 'netproc-holder',
    );
    expect(held?.value[1]).toBe(String(HELD));
    // No series of this agent carries a pid but the pseudo-processes.
    const pids = await prometheus.query(`count by (process_pid) (process_network_transmit_bytes_total{instance="${executableMode.instance}"})`);
    expect(pids.map((r) => r.metric.process_pid ?? '').sort()).toEqual(expect.arrayContaining(['']));
    for (const r of pids) expect(['', String(KERNEL_PROCESS.pid), String(OTHER_PROCESS.pid)]).toContain(r.metric.process_pid ?? '');
  });

  it('never ranks [kernel] or [other], in either mode', async () => {
    for (const values of [pidMode, executableMode]) {
      for (const title of ['Top Network Consumers (Received)', 'Top Network Consumers (Transmitted)', 'Processes with Most Connections']) {
        const names = (await evaluate(panel(title).targets[0]!.expr, values)).map((r) => r.metric.process_executable_name);
        expect(names, title).not.toContain(KERNEL_PROCESS.name);
        expect(names, title).not.toContain(OTHER_PROCESS.name);
      }
    }
  });

  it('shows the holder\'s connections: exactly HELD in "Processes with Most Connections", all established', async () => {
    const result = await evaluate(panel('Processes with Most Connections').targets[0]!.expr);
    const held = result.find((r) => r.metric.process_pid === String(holder.pid));
    expect(held?.value[1]).toBe(String(HELD));
    // Both ends of each held connection are on this host: at least 2 x HELD established sockets.
    const [active] = await evaluate(panel('Active Connections').targets[0]!.expr);
    expect(Number(active!.value[1])).toBeGreaterThanOrEqual(2 * HELD);
    const byState = await evaluate(panel('Network Connections by State').targets[0]!.expr);
    const established = byState.find((r) => r.metric.network_connection_state === 'established');
    expect(Number(established!.value[1])).toBeGreaterThanOrEqual(2 * HELD);
    expect(byState.find((r) => r.metric.network_connection_state === 'listen')).toBeDefined();
  });

  it('shows the sender in "TCP Retransmissions by Process", at the rate the kernel retransmits on loopback (none)', async () => {
    const result = await evaluate(panel('TCP Retransmissions by Process').targets[0]!.expr, { ...ALL, process: 'node' });
    expect(result.length).toBeGreaterThan(0);
    expect(result.every((r) => r.metric.process_executable_name === 'node')).toBe(true);
  });

  it('shows the agent healthy: every source up, every family served, OTLP failures counted', async () => {
    const up = await evaluate(panel('Source Up').targets[0]!.expr);
    expect(Object.fromEntries(up.map((r) => [r.metric.source, r.value[1]]))).toEqual({ ebpf: '1', ss: '1', procfs: '1' });
    const serving = await evaluate(panel('Source Serving Each Family').targets[0]!.expr);
    expect(Object.fromEntries(serving.map((r) => [r.metric.family, r.metric.source]))).toEqual({ bytes: 'ebpf', packets: 'ebpf', connections: 'ss' });
    const exports = await evaluate(panel('OTLP Exports').targets[0]!.expr);
    const failures = exports.find((r) => r.metric.result === 'failure');
    expect(Number(failures!.value[1])).toBeGreaterThan(0);
  });
});
