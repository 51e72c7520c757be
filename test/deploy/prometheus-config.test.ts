// deploy/prometheus/prometheus.yml: promtool accepts it, it scrapes the Collector Service the base
// deploys, keeping the agents' job and instance, and its commented direct-scrape alternative is valid.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { REPO } from '../helpers/processes.js';
import { missing } from '../helpers/requirements.js';
import { kustomizeBuild } from './kustomize.js';

const FILE = join(REPO, 'deploy/prometheus/prometheus.yml');
const text = readFileSync(FILE, 'utf8');

interface ScrapeConfig {
  job_name: string;
  honor_labels?: boolean;
  static_configs?: Array<{ targets: string[] }>;
  kubernetes_sd_configs?: Array<{ role: string; namespaces?: { names: string[] } }>;
  relabel_configs?: Array<{ source_labels?: string[]; regex?: string; action?: string; target_label?: string }>;
}
type PromConfig = { scrape_configs: ScrapeConfig[] } & Record<string, unknown>;

/** The config with the commented block between the BEGIN/END markers uncommented. */
function withAlternative(): PromConfig {
  const lines = text.split('\n');
  const begin = lines.findIndex((l) => /BEGIN direct-scrape alternative/.test(l));
  const end = lines.findIndex((l) => /END direct-scrape alternative/.test(l));
  expect(begin).toBeGreaterThan(0);
  expect(end).toBeGreaterThan(begin);
  const block = lines.slice(begin + 1, end).map((l) => l.replace(/^(\s*)# ?/, '$1'));
  return parseYaml([...lines.slice(0, begin), ...block, ...lines.slice(end + 1)].join('\n')) as PromConfig;
}

const tmp = mkdtempSync(join(tmpdir(), 'netproc-promcfg-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function promtoolCheck(path: string): { status: number | null; output: string } {
  const result = spawnSync('promtool', ['check', 'config', path], { encoding: 'utf8' });
  return { status: result.status, output: result.stdout + result.stderr };
}

describe('Prometheus scrape config', () => {
  const config = parseYaml(text) as PromConfig;
  const base = kustomizeBuild(join(REPO, 'deploy/kubernetes/base'));

  it('scrapes the Collector Service on its Prometheus port, keeping the job and instance the Collector set', () => {
    const job = config.scrape_configs.find((j) => j.job_name === 'otel-collector')!;
    expect(job.honor_labels).toBe(true);
    const service = base.find((o) => o.kind === 'Service' && o.metadata.name === 'otel-collector') as unknown as {
      metadata: { name: string; namespace: string };
      spec: { ports: Array<{ name: string; port: number }> };
    };
    const port = service.spec.ports.find((p) => p.name === 'prom-metrics')!.port;
    expect(job.static_configs).toEqual([{ targets: [`${service.metadata.name}.${service.metadata.namespace}.svc:${port}`] }]);
  });

  it('offers, commented, a direct scrape of the agents with the same job and instance labels', () => {
    const job = withAlternative().scrape_configs.find((j) => j.job_name === 'netproc-agent')!;
    const ds = base.find((o) => o.kind === 'DaemonSet') as unknown as {
      metadata: { namespace: string };
      spec: { template: { metadata: { labels: Record<string, string> }; spec: { containers: Array<{ ports: Array<{ name: string }> }> } } };
    };
    expect(job.kubernetes_sd_configs).toEqual([{ role: 'pod', namespaces: { names: [ds.metadata.namespace] } }]);
    expect(job.relabel_configs).toEqual([
      {
        source_labels: ['__meta_kubernetes_pod_label_app_kubernetes_io_name'],
        regex: ds.spec.template.metadata.labels['app.kubernetes.io/name'],
        action: 'keep',
      },
      { source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: ds.spec.template.spec.containers[0]!.ports[0]!.name, action: 'keep' },
      { source_labels: ['__meta_kubernetes_pod_node_name'], target_label: 'instance' },
    ]);
  });
});

describe.skipIf(missing('prometheus-config', 'promtool'))('promtool check config', () => {
  it('accepts deploy/prometheus/prometheus.yml', () => {
    const { status, output } = promtoolCheck(FILE);
    expect(output).toMatch(/SUCCESS/);
    expect(status).toBe(0);
  });

  it('accepts the direct-scrape alternative (its discovery block aside: Debian builds Prometheus without kubernetes_sd)', () => {
    // Debian's prometheus/promtool are compiled without Kubernetes service discovery, so they reject
    // the kubernetes_sd_configs key itself. Everything else of the job (relabel rules, regexes) is
    // checked by promtool with a static target in its place; the discovery block is checked above.
    const config = withAlternative();
    for (const job of config.scrape_configs) {
      if (job.kubernetes_sd_configs) {
        delete job.kubernetes_sd_configs;
        job.static_configs = [{ targets: ['agent.invalid:9464'] }];
      }
    }
    const path = join(tmp, 'alternative.yml');
    writeFileSync(path, stringify(config));
    const { status, output } = promtoolCheck(path);
    expect(output).toMatch(/SUCCESS/);
    expect(status).toBe(0);
  });
});
