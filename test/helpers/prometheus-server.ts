// A real Prometheus server (Debian's package) on a loopback port, scraping given targets every second
// (or as told: another interval, another listen address, run through a wrapper such as `ip netns exec`).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { start, type Child } from './processes.js';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface PrometheusServer {
  child: Child;
  /** An instant query, now or at `time` (Unix seconds). */
  query(expr: string, time?: number): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** A range query from `start` to `end` (Unix seconds) every `step` seconds. */
  queryRange(expr: string, start: number, end: number, step: number): Promise<Array<{ metric: Record<string, string>; values: Array<[number, string]> }>>;
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  scrapeInterval?: string;
  /** Address it listens on; 127.0.0.1 if not given. */
  host?: string;
  /** Runs prometheus through this program, e.g. ['ip', 'netns', 'exec', name]. */
  wrapper?: readonly string[];
}

export async function startPrometheus(targets: readonly string[], options: PrometheusOptions = {}): Promise<PrometheusServer> {
  const interval = options.scrapeInterval ?? '1s';
  const host = options.host ?? '127.0.0.1';
  const dir = mkdtempSync(join(tmpdir(), 'netproc-prom-'));
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      `  scrape_interval: ${interval}`,
      `  evaluation_interval: ${interval}`,
      'scrape_configs:',
      '  - job_name: netproc-agent',
      '    static_configs:',
      `      - targets: [${targets.map((t) => `"${t}"`).join(', ')}]`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const command = [
    ...(options.wrapper ?? []),
    'prometheus',
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=${host}:${port}`,
    '--log.level=warn',
  ];
  const child = start(command[0]!, command.slice(1));
  const base = `http://${host}:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/-/ready`)).ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`prometheus did not start: ${child.stderr()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    child,
    async query(expr, time) {
      const at = time === undefined ? '' : `&time=${time}`;
      const response = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(expr)}${at}`);
      const body = (await response.json()) as { status: string; error?: string; data: { result: [] } };
      if (body.status !== 'success') throw new Error(`query ${expr} failed: ${body.error}`);
      return body.data.result;
    },
    async queryRange(expr, startAt, end, step) {
      const response = await fetch(`${base}/api/v1/query_range?query=${encodeURIComponent(expr)}&start=${startAt}&end=${end}&step=${step}`);
      const body = (await response.json()) as { status: string; error?: string; data: { result: [] } };
      if (body.status !== 'success') throw new Error(`query_range ${expr} failed: ${body.error}`);
      return body.data.result;
    },
    async stop() {
      await child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
