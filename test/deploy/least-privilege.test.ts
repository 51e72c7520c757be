// Least privilege, checked both ways, as the shipped DaemonSet runs the agent: uid 0 holding exactly
// the capabilities it adds (setpriv bounds root to them), with the DaemonSet's own config.
// 1. With that set, every configured source is usable and up.
// 2. With each capability removed in turn, `doctor` names the missing one, and the agent still starts
//    and serves, with the sources that remain usable.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { readFileSync } from 'node:fs';
import { eventually, startAgent, type AgentUnderTest } from '../helpers/agent.js';
import { CLI, REPO } from '../helpers/processes.js';
import { valueOf } from '../helpers/prometheus-text.js';
import { missing } from '../helpers/requirements.js';
import { kustomizeBuild } from './kustomize.js';

const CONFIG = join(REPO, 'deploy/kubernetes/base/agent/agent.yaml');
const SOURCES = (parseYaml(readFileSync(CONFIG, 'utf8')) as { sources: string[] }).sources;

/** The DaemonSet's added capabilities, as CAP_* names. */
function daemonSetCapabilities(): string[] {
  const ds = kustomizeBuild(join(REPO, 'deploy/kubernetes/base')).find((o) => o.kind === 'DaemonSet') as unknown as {
    spec: { template: { spec: { containers: Array<{ securityContext: { capabilities: { add: string[] } } }> } } };
  };
  return ds.spec.template.spec.containers[0]!.securityContext.capabilities.add.map((c) => `CAP_${c}`).sort();
}

/** setpriv arguments for root bounded to `caps` (what a container with drop ALL + add gets). */
function asRootWith(caps: readonly string[]): string[] {
  const list = caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`).join(',');
  return ['setpriv', `--bounding-set=-all${list ? `,${list}` : ''}`, '--inh-caps=-all', '--'];
}

function doctor(caps: readonly string[]): { stdout: string; status: number | null } {
  const [file, ...args] = asRootWith(caps);
  const result = spawnSync(file!, [...args, process.execPath, CLI, 'doctor', '--config', CONFIG], { encoding: 'utf8', timeout: 60_000 });
  return { stdout: result.stdout, status: result.status };
}

const FLAGS = ['--prometheus-host', '127.0.0.1', '--prometheus-port', '0', '--interval', '1s', '--no-otlp'];

describe.skipIf(missing('least-privilege', 'root', 'setpriv', 'ss', 'netproc-loader', 'cgroup2'))('least privilege, as the DaemonSet grants it', () => {
  const granted = daemonSetCapabilities();
  let agent: AgentUnderTest | undefined;
  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
  });

  it('with exactly the DaemonSet\'s capabilities, every configured source is usable and up', async () => {
    const { stdout } = doctor(granted);
    for (const source of SOURCES) expect(stdout, stdout).toMatch(new RegExp(`^${source}: usable`, 'm'));
    expect(stdout).not.toMatch(/CAP_/);
    agent = await startAgent(['--config', CONFIG, ...FLAGS], {}, asRootWith(granted));
    const running = agent;
    await eventually(async () => {
      const s = await running.scrape();
      return SOURCES.every((source) => valueOf(s, 'netproc_source_up', { source }) === 1) ? true : undefined;
    }, 30_000, 'every source up');
  });

  it.each(daemonSetCapabilities())('without %s: doctor names it, and the agent serves with what remains', async (removed) => {
    const caps = granted.filter((c) => c !== removed);
    const { stdout } = doctor(caps);
    expect(stdout, stdout).toContain(removed);
    agent = await startAgent(['--config', CONFIG, ...FLAGS], {}, asRootWith(caps));
    const running = agent;
    const up = await eventually(async () => {
      if ((await fetch(`http://127.0.0.1:${running.port}/readyz`)).status !== 200) return undefined;
      const s = await running.scrape();
      const serving = SOURCES.filter((source) => valueOf(s, 'netproc_source_up', { source }) === 1);
      return serving.length > 0 ? serving : undefined;
    }, 30_000, 'the agent ready with some source up');
    expect(up.length).toBeGreaterThan(0);
    expect((await running.metricsText()).includes('process_network_connections')).toBe(true);
  });
});
