// Pods, for real: two network namespaces and two cgroup v1 leaves shaped like the kubelet's
// (cgroupfs driver: .../kubepods/besteffort/pod<uid>/<64-hex container id>, under a root this test
// owns, as with the kubelet's --cgroup-root), and the kubelet's /var/log/containers names faked in a
// directory the test owns (passed as kubernetes.containerLogs). The cgroup v2 and systemd path
// shapes are covered by the parser fixtures (test/host/proc/parse.test.ts).
//
// Traffic:
//   - pod web-a (container "server"): a sink in its namespace; a host process holds A_CONNS
//     connections to it over the veth pair;
//   - pod web-b (container "client"): holds B_CONNS connections to a sink on the host;
//   - in each pod, a "twin" process listens on 127.0.0.1:P and connects to it from 127.0.0.1:Q with
//     the same P and Q in both namespaces: the same two 4-tuples are live in both at once.
// What the agent (procfs: the only source here that reads every namespace's sockets and is not
// being replaced) must report: each process's connections exactly, with container.id and the pod,
// namespace and container names; each twin its own listen=1 established=2 (sockets are keyed by
// socket inode, or by netns + 4-tuple when they have none, so the same 4-tuple in two namespaces is
// two sockets, counted once per owner); in the pod mode, one series per pod summing its processes.
//
// Bytes, with the ebpf source: on the same connections, once the agent runs, each host and pod
// client sends UP bytes on each of its connections and its sink answers DOWN bytes on each, and
// each twin sends TWIN bytes from its connecting end to its accepted end, both twins at once while
// their 4-tuples are live in both namespaces. The agent must report each process's TCP transmit
// and receive bytes exactly (the engine reads the kernel's own per-socket counters, payload handed
// to IP and payload received in order: no tolerance), on one series per process carrying the pod's
// container.id and names (none on the host's processes); each twin its own TWIN bytes both ways,
// not doubled and not merged with the other's (the twins' sizes differ, so either would show); and
// an agent in the pod mode, run beside it, one series per pod whose bytes are its processes' sum.
// And UDP, which the engine counts per datagram at the root cgroup v2 (the pods' processes are in
// its subtree whatever their v1 cgroups): DATAGRAMS from the host to a reader in web-a and from a
// writer in web-b to the host, every one read (so exact is the right expectation), payload bytes
// and datagrams exactly under the pod that wrote or read them.
import { mkdirSync, mkdtempSync, rmSync, rmdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, type AgentUnderTest } from '../helpers/agent.js';
import { EBPF_NEEDS, settled, startEbpfAgent, trafficOf } from '../helpers/ebpf.js';
import { createNamespace, type TestNamespace } from '../helpers/netns.js';
import { once } from '../helpers/once.js';
import { killAll, peer, PEER, start, type Child } from '../helpers/processes.js';
import { select, type Sample } from '../helpers/prometheus-text.js';
import { missing } from '../helpers/requirements.js';

const A_CONNS = 3;
const B_CONNS = 4;
/** Bytes per connection (odd sizes, no multiple of a segment): host -> web-a and its answer. */
const A_UP = 400_003;
const A_DOWN = 50_021;
/** web-b -> host and its answer. */
const B_UP = 300_007;
const B_DOWN = 70_001;
/** Each twin's bytes over its own connection; different, so a merged or swapped count shows. */
const TWIN = { a: 1_000_003, b: 3_000_017 } as const;
/** UDP each way; 400 x 1000 B fit a receive buffer several times over, so none is dropped. */
const DATAGRAMS = 400;
const DATAGRAM_SIZE = 1000;
const CGROUP_ROOT = `/sys/fs/cgroup/pids/netproc-test-${process.pid}`;
const NAMESPACE = 'shop';

interface Pod {
  name: string;
  container: string;
  id: string;
  uid: string;
  ns: TestNamespace;
  cgroup: string;
}

interface Row {
  pid?: number;
  name: string;
  transport: string;
  containerId?: string;
  podName?: string;
  namespaceName?: string;
  containerName?: string;
  connections: Record<string, number>;
}

/** A 64-hex id that names this test run and pod. */
const containerId = (pod: string): string => `${pod === 'web-a' ? 'a' : 'b'}${process.pid.toString(16).padStart(8, '0')}`.padEnd(64, 'c');

describe.skipIf(missing('pods', 'root', 'ip', 'cgroup-v1-pids'))('pods: network namespaces and kubelet-shaped cgroups', () => {
  const pods: Record<'a' | 'b', Pod> = {} as never;
  let logs: string;
  const procs: Record<string, Child> = {};

  /**
   * Starts a peer inside the pod: its own cgroup (joined first: `ip netns exec` mounts a sysfs of
   * the namespace, without the cgroup hierarchies), then its own network namespace. Each step
   * execs, so the child's PID is the peer's.
   */
  function inPod(pod: Pod, ...args: Array<string | number>): Child {
    const command = ['ip', 'netns', 'exec', pod.ns.name, process.execPath, PEER, ...args.map(String)];
    return start('sh', ['-c', `echo $$ > ${pod.cgroup}/cgroup.procs && exec "$@"`, 'sh', ...command]);
  }

  beforeAll(async () => {
    logs = mkdtempSync(join(tmpdir(), 'netproc-pods-logs-'));
    for (const [key, name, container, slot] of [['a', 'web-a', 'server', 51], ['b', 'web-b', 'client', 52]] as const) {
      const id = containerId(name);
      const uid = `6b0d7e61-2c4a-4f1e-9b8e-${`${process.pid.toString(16)}${slot}`.padStart(12, '0')}`;
      const cgroup = join(CGROUP_ROOT, 'kubepods', 'besteffort', `pod${uid}`, id);
      mkdirSync(cgroup, { recursive: true });
      // The kubelet's symlink name; its target (the log file) is never read.
      writeFileSync(join(logs, `${name}_${NAMESPACE}_${container}-${id}.log`), '');
      pods[key] = { name, container, id, uid, ns: createNamespace(slot), cgroup };
    }
    const { a, b } = pods;

    // Connections only; the bytes flow later, on a signal (see the ebpf tests).
    procs.podSink = inPod(a, 'sink', a.ns.nsAddress, A_DOWN, A_UP);
    const { port: podPort } = await procs.podSink.next('port');
    procs.hostClient = peer('hold', a.ns.nsAddress, podPort, A_CONNS, A_UP, A_DOWN);
    await procs.hostClient.next('open');

    procs.hostSink = peer('sink', b.ns.hostAddress, B_DOWN, B_UP);
    const { port: hostPort } = await procs.hostSink.next('port');
    procs.podClient = inPod(b, 'hold', b.ns.hostAddress, hostPort, B_CONNS, B_UP, B_DOWN);
    await procs.podClient.next('open');

    // The same 4-tuples in both namespaces: ports the kernel picked in web-a, reused in web-b.
    procs.twinA = inPod(a, 'twin', '127.0.0.1', 0, 0, TWIN.a);
    const twin = await procs.twinA.next<{ port: number; localPort: number }>('port');
    procs.twinB = inPod(b, 'twin', '127.0.0.1', twin.port, twin.localPort, TWIN.b);
    const twinB = await procs.twinB.next<{ port: number; localPort: number }>('port');
    expect(twinB).toEqual(twin);
    // Each process is where it should be.
    for (const [key, child] of [['a', procs.podSink], ['b', procs.podClient], ['a', procs.twinA], ['b', procs.twinB]] as const) {
      expect(readFileSync(`/proc/${child!.pid}/cgroup`, 'utf8')).toContain(pods[key].id);
    }
  }, 60_000);

  afterAll(async () => {
    await killAll();
    for (const pod of Object.values(pods)) pod.ns.remove();
    // Leaves first; a cgroup can go once its processes have.
    for (const pod of Object.values(pods)) {
      for (const dir of [pod.cgroup, join(pod.cgroup, '..')]) {
        try {
          rmdirSync(dir);
        } catch {
          // not made, or still busy for a moment
        }
      }
    }
    for (const dir of ['kubepods/besteffort', 'kubepods', '.']) {
      try {
        rmdirSync(join(CGROUP_ROOT, dir));
      } catch {
        // not made
      }
    }
    if (logs) rmSync(logs, { recursive: true, force: true });
  });

  const run = async (mode: string): Promise<Row[]> =>
    (await once(['--sources', 'procfs', '--duration', '300ms', '--aggregate-by', mode, '--kubernetes-container-logs', logs])).processes as Row[];
  const tcpOf = (rows: Row[], pid: number): Row | undefined => rows.find((r) => r.pid === pid && r.transport === 'tcp');

  it('pid mode: each process\'s connections exactly, with its container and pod', async () => {
    const rows = await run('pid');
    const { a, b } = pods;
    const podA = { containerId: a.id, podName: a.name, namespaceName: NAMESPACE, containerName: a.container };
    const podB = { containerId: b.id, podName: b.name, namespaceName: NAMESPACE, containerName: b.container };
    expect(tcpOf(rows, procs.podSink!.pid)).toMatchObject({ ...podA, connections: { listen: 1, established: A_CONNS } });
    expect(tcpOf(rows, procs.podClient!.pid)).toMatchObject({ ...podB, connections: { established: B_CONNS } });
    // The same 4-tuples live in both pods: two sockets each, one listener each, once per owner.
    expect(tcpOf(rows, procs.twinA!.pid)).toMatchObject({ ...podA, connections: { listen: 1, established: 2 } });
    expect(tcpOf(rows, procs.twinB!.pid)).toMatchObject({ ...podB, connections: { listen: 1, established: 2 } });
    // Host processes: no container labels.
    const hostClient = tcpOf(rows, procs.hostClient!.pid)!;
    expect(hostClient.connections).toEqual({ established: A_CONNS });
    expect(hostClient.containerId).toBeUndefined();
    expect(tcpOf(rows, procs.hostSink!.pid)!.connections).toEqual({ listen: 1, established: B_CONNS });
  });

  it('pod mode: one series per pod, the sum of its processes, without process.pid', async () => {
    const rows = await run('pod');
    const byPod = (name: string): Row | undefined => rows.find((r) => r.podName === name && r.transport === 'tcp');
    expect(byPod('web-a')).toEqual({ name: '', transport: 'tcp', podName: 'web-a', namespaceName: NAMESPACE, connections: { listen: 2, established: A_CONNS + 2 } });
    expect(byPod('web-b')).toEqual({ name: '', transport: 'tcp', podName: 'web-b', namespaceName: NAMESPACE, connections: { listen: 1, established: B_CONNS + 2 } });
  });

  it('container mode: one series per container, with its names', async () => {
    const rows = await run('container');
    const { a, b } = pods;
    expect(rows.find((r) => r.containerId === a.id && r.transport === 'tcp')).toMatchObject({
      podName: a.name, namespaceName: NAMESPACE, containerName: a.container, connections: { listen: 2, established: A_CONNS + 2 },
    });
    expect(rows.find((r) => r.containerId === b.id && r.transport === 'tcp')).toMatchObject({
      podName: b.name, namespaceName: NAMESPACE, containerName: b.container, connections: { listen: 1, established: B_CONNS + 2 },
    });
    expect(rows.every((r) => r.pid === undefined || r.pid <= 0)).toBe(true);
  });

  describe.skipIf(missing('pods (ebpf)', ...EBPF_NEEDS))('with the ebpf source: bytes', () => {
    let agent: AgentUnderTest;
    let podAgent: AgentUnderTest;

    beforeAll(async () => {
      // The engine takes sockets older than itself as a baseline and counts from there, so the
      // traffic starts once both agents are ready: all of it at once, both twins' 4-tuples live
      // throughout.
      [agent, podAgent] = await Promise.all([
        startEbpfAgent(['--kubernetes-container-logs', logs]),
        startEbpfAgent(['--kubernetes-container-logs', logs, '--aggregate-by', 'pod']),
      ]);
      for (const child of [procs.hostClient, procs.podClient, procs.twinA, procs.twinB]) child!.proc.kill('SIGUSR1');
      const [host, pod] = await Promise.all([procs.hostClient!.next('received'), procs.podClient!.next('received')]);
      await Promise.all([procs.twinA!.next('exchanged'), procs.twinB!.next('exchanged')]);
      // The peers did what was planned (else the agent is measured against the wrong figures).
      expect(host).toEqual({ sent: A_CONNS * A_UP, received: A_CONNS * A_DOWN });
      expect(pod).toEqual({ sent: B_CONNS * B_UP, received: B_CONNS * B_DOWN });
      for (const [sink, bytes] of [[procs.podSink!, A_CONNS * A_UP], [procs.hostSink!, B_CONNS * B_UP]] as const) {
        sink.proc.kill('SIGUSR2');
        expect(await sink.next('received')).toEqual({ received: bytes });
      }
    }, 90_000);

    afterAll(async () => {
      await Promise.all([agent?.stop(), podAgent?.stop()]);
    });

    /** A process's bytes (and UDP datagrams), the container labels of its series, and how many series it has. */
    const reportOf = (samples: readonly Sample[], pid: number, transport: 'tcp' | 'udp' = 'tcp') => {
      const series = select(samples, 'process_network_transmit_bytes_total', { process_pid: pid, network_transport: transport });
      const pick = ['container_id', 'k8s_pod_name', 'k8s_namespace_name', 'k8s_container_name'];
      const { rxBytes, txBytes, rxPackets, txPackets } = trafficOf(samples, pid, transport);
      return {
        series: series.length,
        labels: Object.fromEntries(pick.filter((k) => series[0]?.labels[k] !== undefined).map((k) => [k, series[0]!.labels[k]])),
        txBytes,
        rxBytes,
        // TCP segments include ACKs and are the kernel's to count (ebpf-tcp.test.ts); datagrams are known here.
        ...(transport === 'udp' ? { txPackets, rxPackets } : {}),
      };
    };
    const labelsOf = (pod: Pod) => ({ container_id: pod.id, k8s_pod_name: pod.name, k8s_namespace_name: NAMESPACE, k8s_container_name: pod.container });

    /** Waits until the agent reports `want` for `children` (or until its values stop moving), and compares. */
    async function expectReports(
      children: readonly Child[],
      want: ReadonlyArray<ReturnType<typeof reportOf>>,
      transport: 'tcp' | 'udp' = 'tcp',
    ): Promise<void> {
      const read = (s: Sample[]) => children.map((c) => reportOf(s, c.pid, transport));
      const samples = await settled(agent, read, (s) => JSON.stringify(read(s)) === JSON.stringify(want), 20_000).catch(async () => agent.scrape());
      const got = read(samples);
      children.forEach((c, i) => expect(got[i], `pid ${c.pid} ${transport}`).toEqual(want[i]));
    }

    it("pid mode: each process's TCP bytes exactly, a pod's with its container.id and pod, namespace and container names", async () => {
      const { a, b } = pods;
      await expectReports(
        [procs.podSink!, procs.hostClient!, procs.podClient!, procs.hostSink!],
        [
          { series: 1, labels: labelsOf(a), txBytes: A_CONNS * A_DOWN, rxBytes: A_CONNS * A_UP },
          { series: 1, labels: {}, txBytes: A_CONNS * A_UP, rxBytes: A_CONNS * A_DOWN },
          { series: 1, labels: labelsOf(b), txBytes: B_CONNS * B_UP, rxBytes: B_CONNS * B_DOWN },
          { series: 1, labels: {}, txBytes: B_CONNS * B_DOWN, rxBytes: B_CONNS * B_UP },
        ],
      );
    });

    it('the same 4-tuples live in both pods: each twin its own bytes, once, under its own pod', async () => {
      await expectReports(
        [procs.twinA!, procs.twinB!],
        [
          { series: 1, labels: labelsOf(pods.a), txBytes: TWIN.a, rxBytes: TWIN.a },
          { series: 1, labels: labelsOf(pods.b), txBytes: TWIN.b, rxBytes: TWIN.b },
        ],
      );
    });

    it('pod mode: one TCP series per pod, its bytes the sum of its processes\', without process.pid', async () => {
      const byPod = (s: readonly Sample[]) =>
        ['web-a', 'web-b'].map((pod) => {
          const match = { k8s_pod_name: pod, network_transport: 'tcp' };
          const series = select(s, 'process_network_transmit_bytes_total', match);
          return {
            series: series.length,
            // Dropped in this mode: the pid, and the container (a pod may have several).
            pids: series.filter((x) => x.labels.process_pid !== undefined).length,
            containers: series.filter((x) => x.labels.container_id !== undefined).length,
            namespace: series[0]?.labels.k8s_namespace_name,
            txBytes: series[0]?.value ?? 0,
            rxBytes: select(s, 'process_network_receive_bytes_total', match)[0]?.value ?? 0,
          };
        });
      const want = [
        { series: 1, pids: 0, containers: 0, namespace: NAMESPACE, txBytes: A_CONNS * A_DOWN + TWIN.a, rxBytes: A_CONNS * A_UP + TWIN.a },
        { series: 1, pids: 0, containers: 0, namespace: NAMESPACE, txBytes: B_CONNS * B_UP + TWIN.b, rxBytes: B_CONNS * B_DOWN + TWIN.b },
      ];
      const samples = await settled(podAgent, byPod, (s) => JSON.stringify(byPod(s)) === JSON.stringify(want), 20_000).catch(async () => podAgent.scrape());
      expect(byPod(samples)).toEqual(want);
    });

    it('UDP between the pods and the host: every datagram exactly, under the pod that wrote or read it', async () => {
      const { a, b } = pods;
      const podReader = inPod(a, 'udp-sink', a.ns.nsAddress);
      const hostWriter = peer('udp-send', a.ns.nsAddress, (await podReader.next('port')).port, DATAGRAMS, DATAGRAM_SIZE);
      const hostReader = peer('udp-sink', b.ns.hostAddress);
      const podWriter = inPod(b, 'udp-send', b.ns.hostAddress, (await hostReader.next('port')).port, DATAGRAMS, DATAGRAM_SIZE);
      await Promise.all([hostWriter.next('sent'), podWriter.next('sent')]);
      for (const reader of [podReader, hostReader]) {
        const read = await eventually(async () => {
          reader.proc.kill('SIGUSR2');
          const counts = await reader.next('datagrams');
          return counts.datagrams === DATAGRAMS ? counts : undefined;
        }, 10_000, `pid ${reader.pid} to read all ${DATAGRAMS} datagrams`);
        expect(read).toEqual({ datagrams: DATAGRAMS, bytes: DATAGRAMS * DATAGRAM_SIZE });
      }
      const bytes = DATAGRAMS * DATAGRAM_SIZE;
      const wrote = { txBytes: bytes, rxBytes: 0, txPackets: DATAGRAMS, rxPackets: 0 };
      const readAll = { txBytes: 0, rxBytes: bytes, txPackets: 0, rxPackets: DATAGRAMS };
      await expectReports(
        [podReader, hostWriter, podWriter, hostReader],
        [
          { series: 1, labels: labelsOf(a), ...readAll },
          { series: 1, labels: {}, ...wrote },
          { series: 1, labels: labelsOf(b), ...wrote },
          { series: 1, labels: {}, ...readAll },
        ],
        'udp',
      );
      await Promise.all([podReader, hostWriter, podWriter, hostReader].map((c) => c.kill()));
    });
  });
});
