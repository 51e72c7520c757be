// deploy/kubernetes: every object of every build is valid Kubernetes, and the agent runs with exactly
// the privileges its configured sources need, no more. Builds come from test/deploy/kustomize.ts,
// checked against `kubectl kustomize` where kubectl exists.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { missing } from '../helpers/requirements.js';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { loadInvocation } from '../../src/config/load.js';
import type { AgentConfig } from '../../src/config/schema.js';
import { resolveOtlp } from '../../src/exporters/otlp.js';
import { capabilitiesFor } from '../../src/sources/registry.js';
import { REPO } from '../helpers/processes.js';
import { schemaErrors, unknownFieldErrors } from './k8s-schema.js';
import { kustomizeBuild, type KObject } from './kustomize.js';

// Loose views of the objects, for reading fields in assertions.
type Any = any;

const BUILDS = {
  base: 'deploy/kubernetes/base',
  'base/agent': 'deploy/kubernetes/base/agent',
  'base/collector': 'deploy/kubernetes/base/collector',
  'local-prometheus': 'deploy/kubernetes/overlays/local-prometheus',
  'host-network': 'deploy/kubernetes/overlays/host-network',
} as const;
type BuildName = keyof typeof BUILDS;

const built = Object.fromEntries(
  Object.entries(BUILDS).map(([name, dir]) => [name, kustomizeBuild(join(REPO, dir))]),
) as Record<BuildName, KObject[]>;

const STANDALONE_DIR = join(REPO, 'deploy/kubernetes/prometheus-operator');
const standalone: KObject[] = readdirSync(STANDALONE_DIR)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) => parseAllDocuments(readFileSync(join(STANDALONE_DIR, f), 'utf8')).map((d) => d.toJS() as KObject));

function find(objects: readonly KObject[], kind: string, name: string): Any {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`${kind}/${name} not in the build`);
  return found;
}

/** The DaemonSet, its container, and the agent config its ConfigMap volume carries. */
function agentOf(objects: readonly KObject[]): { ds: Any; container: Any; configText: string; mountPath: string } {
  const ds = find(objects, 'DaemonSet', 'netproc-agent');
  const pod = ds.spec.template.spec;
  expect(pod.containers).toHaveLength(1);
  const container = pod.containers[0];
  const volume = pod.volumes.find((v: Any) => v.configMap);
  const cm = find(objects, 'ConfigMap', volume.configMap.name);
  const mountPath = container.volumeMounts.find((m: Any) => m.name === volume.name).mountPath;
  return { ds, container, configText: cm.data['agent.yaml'], mountPath };
}

/** The container's literal env, with downward-API values replaced by a stand-in node name. */
function envOf(container: Any): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const e of container.env ?? []) env[e.name] = e.value ?? 'node-a';
  return env;
}

const tmp = mkdtempSync(join(tmpdir(), 'netproc-deploy-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Loads the DaemonSet's agent config through the real loader, with the DaemonSet's environment. */
function loadAgentConfig(objects: readonly KObject[]): { config: AgentConfig; env: NodeJS.ProcessEnv } {
  const { container, configText, mountPath } = agentOf(objects);
  const env = envOf(container);
  expect(dirname(env.NETPROC_CONFIG!)).toBe(mountPath);
  const file = join(tmp, 'agent.yaml');
  writeFileSync(file, configText);
  const invocation = loadInvocation([], { ...env, NETPROC_CONFIG: file });
  expect(invocation.command).toBe('run');
  return { config: invocation.config, env };
}

describe('Kubernetes manifests: validity', () => {
  const everything = [...Object.values(built).flat(), ...standalone];

  it('every object of every build, and every standalone manifest, validates against the Kubernetes schemas', () => {
    expect(everything.length).toBeGreaterThan(20);
    expect(schemaErrors(everything)).toEqual([]);
  });

  it('no object has a field its kind does not define (the schemas alone would let a misspelt field through)', () => {
    expect(unknownFieldErrors(everything)).toEqual([]);
  });

  it('the strict check does catch a misspelt field', () => {
    const ds = structuredClone(find(built.base, 'DaemonSet', 'netproc-agent'));
    ds.spec.template.spec.containers[0].securityContext.readOnlyRootFilesytem = true;
    expect(unknownFieldErrors([ds]).join('\n')).toMatch(/readOnlyRootFilesytem/);
  });

  it('puts every namespaced object in monitoring, and creates that namespace once', () => {
    for (const [name, objects] of Object.entries(built)) {
      for (const o of objects.filter((x) => x.kind !== 'Namespace')) expect(o.metadata.namespace, `${name} ${o.kind}/${o.metadata.name}`).toBe('monitoring');
    }
    expect(built.base.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name)).toEqual(['monitoring']);
    for (const o of standalone) expect(o.metadata.namespace).toBe('monitoring');
  });

  it.skipIf(missing('kubectl kustomize', 'kubectl', 'kustomize-v5'))('expands exactly as kubectl kustomize (v5) does', () => {
    const key = (o: KObject): string => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    const sorted = (objects: KObject[]): KObject[] => [...objects].sort((a, b) => key(a).localeCompare(key(b)));
    for (const [name, dir] of Object.entries(BUILDS)) {
      const out = execFileSync('kubectl', ['kustomize', join(REPO, dir)], { encoding: 'utf8', timeout: 60_000 });
      const theirs = parseAllDocuments(out).map((d) => d.toJS() as KObject);
      expect(sorted(built[name as BuildName]), name).toEqual(sorted(theirs));
    }
  });
});

describe('agent DaemonSet: least privilege', () => {
  const { ds, container, configText } = agentOf(built.base);
  const pod = ds.spec.template.spec;
  const sources = (parseYaml(configText) as { sources: string[] }).sources;

  it('adds exactly the capabilities its configured sources need, after dropping ALL', () => {
    const needed = capabilitiesFor(sources).map((c) => c.replace(/^CAP_/, ''));
    expect(needed.length).toBeGreaterThan(0);
    expect(container.securityContext.capabilities.drop).toEqual(['ALL']);
    expect([...container.securityContext.capabilities.add].sort()).toEqual(needed);
  });

  it('is not privileged and never asks for SYS_ADMIN, in any build', () => {
    for (const [name, objects] of Object.entries(built)) {
      const agent = objects.find((o) => o.kind === 'DaemonSet');
      if (!agent) continue;
      const text = JSON.stringify(agent);
      expect(text, name).not.toMatch(/SYS_ADMIN/);
      expect(text, name).not.toMatch(/"privileged":true/);
    }
    expect(container.securityContext.privileged).toBe(false);
    expect(pod.initContainers).toBeUndefined();
  });

  it('runs as uid 0 only to hold the capabilities (Kubernetes gives a non-root user none), without escalation, on a read-only root', () => {
    expect(container.securityContext).toMatchObject({
      runAsUser: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      seccompProfile: { type: 'RuntimeDefault' },
      // The runtime's default AppArmor profile denies ptrace-read of processes outside it.
      appArmorProfile: { type: 'Unconfined' },
    });
    expect(pod.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
  });

  it('shares the host PID namespace but not, in the base, the host network', () => {
    expect(pod.hostPID).toBe(true);
    expect(pod.hostNetwork).toBeUndefined();
    expect(pod.hostIPC).toBeUndefined();
  });

  it('holds no Kubernetes API credential: no token, no role', () => {
    const sa = find(built.base, 'ServiceAccount', pod.serviceAccountName);
    expect(sa.automountServiceAccountToken).toBe(false);
    expect(pod.automountServiceAccountToken).toBe(false);
    const rbac = Object.values(built).flat().filter((o) => /Role/.test(o.kind));
    expect(rbac).toEqual([]);
  });

  it('mounts only its config, an in-memory /tmp, the host cgroup v2 root for the eBPF engine and the container log names, the last two read-only', () => {
    const mounts = Object.fromEntries(container.volumeMounts.map((m: Any) => [m.mountPath, m.readOnly ?? false]));
    expect(mounts).toEqual({ '/etc/netproc-agent': true, '/host/sys/fs/cgroup': true, '/tmp': false, '/var/log/containers': true });
    const hostPaths = pod.volumes.filter((v: Any) => v.hostPath).map((v: Any) => v.hostPath.path);
    expect(hostPaths).toEqual(['/sys/fs/cgroup', '/var/log/containers']);
    // The engine is pointed at that mount, not at the container's own cgroup namespace.
    expect(container.env).toContainEqual({ name: 'NETPROC_EBPF_CGROUP', value: '/host/sys/fs/cgroup' });
  });

  it('runs on every node, control-plane included', () => {
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
  });

  it('has resource requests and limits', () => {
    expect(container.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.resources.limits).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
  });

  it('runs the image as built: no command or args, the image tag is the package version', () => {
    const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    expect(container.command).toBeUndefined();
    expect(container.args).toBeUndefined();
    expect(container.image).toMatch(new RegExp(`/netproc-agent:${version.replaceAll('.', '\\.')}$`));
  });
});

describe('agent DaemonSet: configuration', () => {
  const { container } = agentOf(built.base);
  const { config, env } = loadAgentConfig(built.base);

  it('loads with the real config loader: eBPF for bytes and packets, procfs for connections, ss on standby', () => {
    expect(config.sources).toEqual(['ebpf', 'procfs', 'ss']);
    expect(config.procRoot).toBe('/proc');
    expect(config.nodeName).toBe('node-a'); // NETPROC_NODE_NAME, from spec.nodeName
    const nodeName = container.env.find((e: Any) => e.name === 'NETPROC_NODE_NAME');
    expect(nodeName.valueFrom).toEqual({ fieldRef: { fieldPath: 'spec.nodeName' } });
  });

  it('pushes OTLP in plaintext to the Collector Service, every 15 s', () => {
    const otlp = resolveOtlp(config, env);
    expect(otlp?.url).toBe('http://otel-collector.monitoring.svc:4317');
    expect(otlp?.intervalMs).toBe(15_000);
    const service = find(built.base, 'Service', 'otel-collector');
    expect(service.metadata.namespace).toBe('monitoring');
    expect(service.spec.ports.map((p: Any) => p.port)).toContain(4317);
  });

  it('probes /healthz (liveness) and /readyz (readiness) on the metrics port, which is prometheus.port', () => {
    const port = container.ports.find((p: Any) => p.name === 'metrics');
    expect(port.containerPort).toBe(9464);
    expect(config.prometheus.port).toBe(9464);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
  });
});

describe('Collector Deployment', () => {
  const deployment = find(built.base, 'Deployment', 'otel-collector');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  const collectorConfig = parseYaml(readFileSync(join(REPO, 'otel-collector/config.yaml'), 'utf8')) as Any;

  it('deploys otel-collector/config.yaml unchanged, mounted where its --config points', () => {
    const volume = pod.volumes.find((v: Any) => v.configMap);
    const cm = find(built.base, 'ConfigMap', volume.configMap.name);
    expect(cm.data['config.yaml']).toBe(readFileSync(join(REPO, 'otel-collector/config.yaml'), 'utf8'));
    const mount = container.volumeMounts.find((m: Any) => m.name === volume.name);
    expect(container.args).toEqual([`--config=${mount.mountPath}/config.yaml`]);
  });

  it('exposes the ports the config listens on, and probes the health_check extension', () => {
    const ports = Object.fromEntries(container.ports.map((p: Any) => [p.name, p.containerPort]));
    expect(ports).toEqual({ 'otlp-grpc': 4317, 'prom-metrics': 8889, health: 13133 });
    expect(collectorConfig.extensions.health_check.endpoint).toBe('0.0.0.0:13133');
    expect(container.livenessProbe.httpGet.port).toBe('health');
    expect(container.readinessProbe.httpGet.port).toBe('health');
  });

  it('runs one replica, non-root, without escalation, capabilities or a writable root', () => {
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.securityContext.capabilities.add).toBeUndefined();
    expect(container.resources.limits.memory).toBeDefined();
  });

  it('is reached through a Service that selects its pods on both ports', () => {
    const service = find(built.base, 'Service', 'otel-collector');
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(service.spec.ports.map((p: Any) => [p.port, p.targetPort])).toEqual([
      [4317, 'otlp-grpc'],
      [8889, 'prom-metrics'],
    ]);
  });
});

describe('NetworkPolicies', () => {
  const agentLabels = find(built.base, 'DaemonSet', 'netproc-agent').spec.template.metadata.labels;
  const prometheusPods = { namespaceSelector: {}, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } };

  it('let only Prometheus reach the agent, on 9464', () => {
    const policy = find(built.base, 'NetworkPolicy', 'netproc-agent');
    expect(policy.spec.podSelector.matchLabels['app.kubernetes.io/name']).toBe(agentLabels['app.kubernetes.io/name']);
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    expect(policy.spec.ingress).toEqual([{ from: [prometheusPods], ports: [{ protocol: 'TCP', port: 9464 }] }]);
  });

  it('let only the agents reach the Collector on 4317, and only Prometheus on 8889', () => {
    const policy = find(built.base, 'NetworkPolicy', 'otel-collector');
    expect(policy.spec.ingress).toEqual([
      { from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': agentLabels['app.kubernetes.io/name'] } } }], ports: [{ protocol: 'TCP', port: 4317 }] },
      { from: [prometheusPods], ports: [{ protocol: 'TCP', port: 8889 }] },
    ]);
  });
});

describe('overlay local-prometheus', () => {
  const objects = built['local-prometheus'];
  const { ds } = agentOf(objects);

  it('has no Collector', () => {
    expect(objects.filter((o) => /otel-collector/.test(o.metadata.name))).toEqual([]);
  });

  it('turns OTLP off: no endpoint in the environment, so the agent only serves /metrics', () => {
    const { config, env } = loadAgentConfig(objects);
    expect(env.OTEL_EXPORTER_OTLP_ENDPOINT).toBeUndefined();
    expect(resolveOtlp(config, env)).toBeUndefined();
    expect(config.prometheus.enabled).toBe(true);
  });

  it('makes every agent scrapeable: annotations, and a headless Service on the metrics port', () => {
    expect(ds.spec.template.metadata.annotations).toEqual({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '9464',
      'prometheus.io/path': '/metrics',
    });
    const service = find(objects, 'Service', 'netproc-agent-metrics');
    expect(service.spec.clusterIP).toBe('None');
    expect(service.spec.selector).toEqual(ds.spec.selector.matchLabels);
    expect(service.spec.ports).toEqual([{ name: 'metrics', port: 9464, targetPort: 'metrics', protocol: 'TCP' }]);
  });

  it('keeps the agent exactly as privileged as in the base', () => {
    expect(agentOf(objects).container.securityContext).toEqual(agentOf(built.base).container.securityContext);
  });
});

describe('overlay host-network', () => {
  const objects = built['host-network'];
  const { ds, container } = agentOf(objects);

  it('puts the agent on the host network, keeping cluster DNS, with the metrics endpoint on the node IP only', () => {
    expect(ds.spec.template.spec.hostNetwork).toBe(true);
    expect(ds.spec.template.spec.dnsPolicy).toBe('ClusterFirstWithHostNet');
    const host = container.env.find((e: Any) => e.name === 'NETPROC_PROMETHEUS_HOST');
    expect(host.valueFrom).toEqual({ fieldRef: { fieldPath: 'status.hostIP' } });
    const { config } = loadAgentConfig(objects);
    expect(config.prometheus.host).toBe('node-a'); // the stand-in for the downward-API value
  });

  it('opens the Collector OTLP port to node addresses, and nothing else changes in its policy', () => {
    const policy = find(objects, 'NetworkPolicy', 'otel-collector');
    expect(policy.spec.ingress[0]).toEqual({ ports: [{ protocol: 'TCP', port: 4317 }] });
    expect(policy.spec.ingress[1]).toEqual(find(built.base, 'NetworkPolicy', 'otel-collector').spec.ingress[1]);
  });

  it('keeps the agent exactly as privileged as in the base', () => {
    expect(container.securityContext).toEqual(agentOf(built.base).container.securityContext);
  });
});

describe('ServiceMonitors for prometheus-operator', () => {
  it('scrape the Collector Service by its port name, honouring the job and instance from the agents', () => {
    const sm = find(standalone, 'ServiceMonitor', 'otel-collector');
    const service = find(built.base, 'Service', 'otel-collector');
    expect(sm.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': service.metadata.labels['app.kubernetes.io/name'] });
    expect(service.spec.ports.map((p: Any) => p.name)).toContain(sm.spec.endpoints[0].port);
    expect(sm.spec.endpoints[0].honorLabels).toBe(true);
  });

  it('scrape the agents through the local-prometheus headless Service, with instance = node name', () => {
    const sm = find(standalone, 'ServiceMonitor', 'netproc-agent');
    const service = find(built['local-prometheus'], 'Service', 'netproc-agent-metrics');
    expect(sm.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': service.metadata.labels['app.kubernetes.io/name'] });
    expect(sm.spec.endpoints[0].port).toBe(service.spec.ports[0].name);
    expect(sm.spec.endpoints[0].relabelings).toEqual([{ sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'instance' }]);
  });
});
