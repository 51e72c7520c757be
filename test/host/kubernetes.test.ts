// Pod names from the kubelet's /var/log/containers symlink names, and the process -> container ->
// pod chain end to end: a real process moved into a container-like cgroup gets its pod's names.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PodIndex, parseContainerLogName } from '../../src/host/kubernetes.js';
import { FakeHost } from '../helpers/fake-host.js';
import { once } from '../helpers/once.js';
import { killAll, peer } from '../helpers/processes.js';
import { missing } from '../helpers/requirements.js';

const ID = 'a'.repeat(40) + '0123456789abcdef01234567';

describe('container log names', () => {
  it('parses <pod>_<namespace>_<container>-<id>.log and rejects anything else', () => {
    expect(parseContainerLogName(`web-7d4b9c-xk2lp_shop_nginx-${ID}.log`)).toEqual({
      podName: 'web-7d4b9c-xk2lp',
      namespaceName: 'shop',
      containerName: 'nginx',
      containerId: ID,
    });
    expect(parseContainerLogName(`kube-proxy-abc_kube-system_kube-proxy-${ID}.log`)?.containerName).toBe('kube-proxy');
    for (const bad of [`web_shop_nginx-${ID.slice(1)}.log`, `web_shop-${ID}.log`, `Web_shop_nginx-${ID}.log`, 'README', `web_shop_nginx-${ID}.txt`]) {
      expect(parseContainerLogName(bad), bad).toBeUndefined();
    }
  });

  it('re-reads the directory only for an unknown container, and at most once per period', async () => {
    const host = new FakeHost();
    let reads = 0;
    host.readdir = async () => {
      reads++;
      return [`api-1_prod_app-${ID}.log`];
    };
    const index = new PodIndex(host, '/var/log/containers', 10_000);
    await index.refresh();
    expect(index.lookup(ID)?.podName).toBe('api-1');
    await index.refresh();
    expect(reads).toBe(1);
    expect(index.lookup('f'.repeat(64))).toBeUndefined();
    await index.refresh();
    expect(reads).toBe(1); // too soon
    host.clock += 10_000;
    await index.refresh();
    expect(reads).toBe(2);
  });
});

const CGROUP = `/sys/fs/cgroup/pids/netproc-test-${process.pid}/${ID}`;

describe.skipIf(missing('kubernetes', 'root', 'cgroup-v1-pids'))('pod attributes end to end', () => {
  let logs: string | undefined;
  afterAll(async () => {
    await killAll();
    for (const dir of [CGROUP, join(CGROUP, '..')]) if (existsSync(dir)) rmdirSync(dir);
    if (logs) rmSync(logs, { recursive: true, force: true });
  });

  it('labels a process in a container cgroup with its pod, namespace and container names', async () => {
    logs = mkdtempSync(join(tmpdir(), 'netproc-containers-'));
    writeFileSync(join(logs, `checkout-5f7c_payments_server-${ID}.log`), '');
    const server = peer('sink', '127.0.0.1');
    await server.next('port');
    // cgroup v1 with the cgroupfs driver puts a container at .../<container id>.
    mkdirSync(CGROUP, { recursive: true });
    writeFileSync(join(CGROUP, 'cgroup.procs'), String(server.pid));
    expect(readFileSync(`/proc/${server.pid}/cgroup`, 'utf8')).toContain(ID);

    const { processes } = await once(['--sources', 'procfs', '--duration', '200ms', '--kubernetes-container-logs', logs]);
    const row = processes.find((r) => r.pid === server.pid) as Record<string, unknown> | undefined;
    expect(row).toMatchObject({ containerId: ID, podName: 'checkout-5f7c', namespaceName: 'payments', containerName: 'server' });
    // Moved back out so the cgroup can be removed.
    writeFileSync('/sys/fs/cgroup/pids/cgroup.procs', String(server.pid));
  });
});
