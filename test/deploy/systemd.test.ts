// deploy/systemd/netproc-agent.service: the same capability set as the DaemonSet, uid 0 only when a
// source needs it, the README's start command, and the hardening options. The capability set is
// proven sufficient by running `doctor` under exactly the unit's user and capabilities (setpriv):
// no source may report a missing privilege.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { capabilitiesFor } from '../../src/sources/registry.js';
import { AGENT_NODE_FLAGS, CLI, REPO } from '../helpers/processes.js';
import { missing } from '../helpers/requirements.js';
import { kustomizeBuild } from './kustomize.js';

const UNIT = join(REPO, 'deploy/systemd/netproc-agent.service');

/** [section] -> key -> every value it is given, in order. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      sections.set(section[1]!, (current = new Map()));
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq <= 0) throw new Error(`unit line outside a section or without '=': ${line}`);
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

const service = parseUnit(readFileSync(UNIT, 'utf8')).get('Service')!;
const one = (key: string): string => {
  const values = service.get(key);
  if (values?.length !== 1) throw new Error(`${key}= is set ${values?.length ?? 0} times`);
  return values[0]!;
};
const capSet = (key: string): string[] => one(key).split(/\s+/).sort();

/** The sources the bare-metal install runs with: the example config copied to /etc/netproc-agent. */
const exampleSources = (parseYaml(readFileSync(join(REPO, 'config/agent.example.yaml'), 'utf8')) as { sources: string[] }).sources;

function daemonSetCapabilities(): string[] {
  const ds = kustomizeBuild(join(REPO, 'deploy/kubernetes/base')).find((o) => o.kind === 'DaemonSet') as unknown as {
    spec: { template: { spec: { containers: Array<{ securityContext: { capabilities: { add: string[] } } }> } } };
  };
  return ds.spec.template.spec.containers[0]!.securityContext.capabilities.add.map((c) => `CAP_${c}`).sort();
}

describe('systemd unit', () => {
  it('bounds and grants (ambient) exactly the capabilities of the sources it runs, the DaemonSet\'s set', () => {
    const needed = capabilitiesFor(exampleSources);
    expect(capSet('CapabilityBoundingSet')).toEqual(needed);
    expect(capSet('AmbientCapabilities')).toEqual(needed);
    expect(daemonSetCapabilities()).toEqual(needed);
  });

  it('runs as a dynamic user, never root, holding its capabilities as ambient ones, and can never gain more', () => {
    expect(one('DynamicUser')).toBe('yes');
    expect(service.has('User')).toBe(false);
    expect(one('NoNewPrivileges')).toBe('yes');
  });

  it('starts the README\'s start command from the install directory, with the config file', () => {
    const { scripts } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: { start: string } };
    // With the Node flags the tests run the agent with (helpers/processes.ts).
    expect(scripts.start).toBe(['node', ...AGENT_NODE_FLAGS, 'dist/cli.js', 'run'].join(' '));
    expect(readFileSync(join(REPO, 'README.md'), 'utf8')).toContain(scripts.start);
    expect(one('WorkingDirectory')).toBe('/opt/netproc-agent');
    const [node, ...args] = one('ExecStart').split(/\s+/);
    expect(node).toBe('/usr/bin/node');
    expect(['node', ...args].join(' ')).toBe(`${scripts.start} --config /etc/netproc-agent/agent.yaml`);
  });

  it('restarts on failure, but not on a configuration error (exit 2)', () => {
    expect(one('Restart')).toBe('on-failure');
    expect(one('RestartPreventExitStatus')).toBe('2');
  });

  it('is sandboxed: read-only system, no home, private /tmp, kernel and cgroups protected, netlink allowed for ss', () => {
    for (const [key, value] of Object.entries({
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      ProtectKernelModules: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectControlGroups: 'yes',
      ReadOnlyPaths: '/opt/netproc-agent /etc/netproc-agent',
    })) {
      expect(one(key), key).toBe(value);
    }
    expect(capSet('RestrictAddressFamilies')).toEqual(['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_UNIX']);
    // Each of these would blind the agent or break node; the unit explains why they are absent.
    for (const key of ['ProtectProc', 'ProcSubset', 'MemoryDenyWriteExecute', 'PrivateNetwork', 'PrivateUsers']) {
      expect(service.has(key), key).toBe(false);
    }
  });

  // 2.6 today (OK); the rest of the exposure is what the agent is for: CAP_SYS_PTRACE, CAP_BPF,
  // CAP_NET_ADMIN, the host network and the process tree. Reported, and held from growing.
  it.skipIf(missing('systemd-analyze security', 'systemd-analyze'))('scores at most 3.0 ("OK") in systemd-analyze security', () => {
    const result = spawnSync('systemd-analyze', ['security', '--offline=yes', UNIT], { encoding: 'utf8' });
    const score = Number(/Overall exposure level for netproc-agent\.service: ([\d.]+)/.exec(result.stdout)?.[1]);
    process.stdout.write(`systemd-analyze security: ${score}\n`);
    expect(score).toBeLessThanOrEqual(3.0);
  });

  it.skipIf(missing('systemd-analyze verify', 'systemd-analyze'))('passes systemd-analyze verify', () => {
    const result = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});

describe.skipIf(missing('systemd', 'root', 'setpriv', 'ss'))('the unit\'s user and capability set', () => {
  it('is all that doctor asks for: no source reports a missing capability or the wrong uid', () => {
    const caps = capSet('AmbientCapabilities').map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`).join(',');
    // As the unit runs it: root limited by the bounding set, or nobody holding ambient capabilities.
    const identity =
      service.has('User') && one('User') === 'root'
        ? [`--bounding-set=-all,${caps}`, '--inh-caps=-all']
        : ['--reuid=65534', '--regid=65534', '--clear-groups', `--inh-caps=${caps}`, `--ambient-caps=${caps}`];
    const result = spawnSync(
      'setpriv',
      [...identity, '--', process.execPath, CLI, 'doctor', '--config', join(REPO, 'config/agent.example.yaml')],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(service.has('User') && one('User') === 'root' ? /^uid 0,/ : /^uid 65534,/);
    // A source may still be unusable for another reason (the engine not built, no BTF): that is
    // the host, not the unit. Privileges are the unit's business.
    const findings = result.stdout.split('\n').filter((l) => /^\s+(problem|warning):/.test(l));
    expect(findings.filter((l) => /CAP_|uid/.test(l))).toEqual([]);
    expect(result.stdout).toMatch(/^procfs: usable/m);
  });
});
