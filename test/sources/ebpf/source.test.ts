// The ebpf source around a child it spawns through the host: no loader and no real process, the
// test prints the child's lines (in the loader's protocol, as test/fixtures/ebpf/capture.txt
// shows). The variant from the probe line, start until ready, increments as they come, the
// child's error lines counted and logged once per kind per outage, a dropped over-long line
// counted, an exit reported with its reason, and a stop.
import fs from 'node:fs';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loadInvocation } from '../../../src/config/load.js';
import { BUILT_LOADER, createEbpfSource } from '../../../src/sources/ebpf/source.js';
import { FakeHost, type FakeChild } from '../../helpers/fake-host.js';
import { ctxOf } from '../../helpers/source-context.js';

const PROBE = fs.readFileSync(new URL('../../fixtures/ebpf/probe.txt', import.meta.url), 'utf8');
const READY = '{"type":"ready","variant":"counters","attachMs":162}';
const proc = (pid: number, txBytes: number, retransSegs = 0): string =>
  JSON.stringify({ type: 'proc', pid, transport: 'tcp', rxBytes: 0, txBytes, rxPackets: 0, txPackets: 1, retransSegs, comm: 'curl' });
const END = '{"type":"interval","seq":1,"sockets":3,"closed":0,"overflow":0,"iterNs":1000}';
const ALL = (1n << 41n) - 1n;
/** CAP_BPF, CAP_PERFMON, no CAP_NET_ADMIN. */
const NO_NET_ADMIN = ALL & ~(1n << 12n);

function setUp(onSpawn: (child: FakeChild) => void = (child) => child.print(READY), effective = ALL, extra: string[] = []) {
  const host = new FakeHost();
  host.commands.set(`${BUILT_LOADER} --probe`, PROBE);
  host.onSpawn = onSpawn;
  const logged: Array<{ msg: string; kind?: string }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
  const { config } = loadInvocation(['--sources', 'ebpf', '--interval', '500ms', '--ebpf-start-timeout', '2s', ...extra], {});
  const source = createEbpfSource(ctxOf('ebpf', { config, io: host, privileges: { uid: 0, effective }, logger }));
  return { host, source, logged, child: () => host.children.at(-1)! };
}

describe('ebpf source around a child printed by the test', () => {
  it('probes the variant, starts the loader once it says ready, with the loaded interval, and hands on its records', async () => {
    const { source, child } = setUp();
    expect((await source.probe()).details).toContain(
      "variant: counters (TCP from the kernel's socket counters, UDP by cgroup_skb on /sys/fs/cgroup/unified; no program per send or receive)",
    );
    await source.start!();
    expect(child().spec.file).toBe(BUILT_LOADER);
    expect(child().spec.args).toEqual(['--interval-ms', '500', '--variant', 'counters', '--max-sockets', '262144']);
    child().print(proc(42, 100, 2), END, proc(42, 50, 1), END);
    expect(await source.collect()).toEqual({
      increments: [{ pid: 42, transport: 'tcp', rxBytes: 0, txBytes: 150, rxPackets: 0, txPackets: 2, retransSegs: 3, comm: 'curl' }],
      errors: {},
    });
    expect(await source.collect()).toEqual({ increments: [], errors: {} });
    await source.stop!();
    expect(child().signals).toEqual(['SIGTERM']);
  });

  it('runs counters-udp-tp without CAP_NET_ADMIN, and a forced counters is refused with the fix', async () => {
    const { source, child } = setUp(undefined, NO_NET_ADMIN);
    await source.start!();
    expect(child().spec.args).toContain('counters-udp-tp');
    await source.stop!();
    const forced = setUp(undefined, NO_NET_ADMIN, ['--ebpf-variant', 'counters']);
    const probe = await forced.source.probe();
    expect(probe.usable).toBe(false);
    expect(probe.problems[0]!.fix).toBe('grant CAP_NET_ADMIN, or set ebpf.variant to auto');
  });

  it('counts every error line of the child, logs each kind once per outage, and only counts warnings', async () => {
    const { source, child, logged } = setUp();
    await source.start!();
    const said = () => logged.filter((l) => l.kind === 'engine_error').map((l) => l.msg);
    child().printErr('error: iterator read failed', 'error: iterator read failed', 'warning: libbpf: note');
    expect((await source.collect()).errors).toEqual({ engine_error: 2, engine_warning: 1 });
    child().printErr('error: iterator read failed');
    await source.collect();
    expect(said()).toEqual(['ebpf child said: iterator read failed']);
    await source.collect();
    child().printErr('error: again');
    await source.collect();
    expect(said()).toEqual(['ebpf child said: iterator read failed', 'ebpf child said: again']);
    await source.stop!();
  });

  it('counts overflow, a garbled line and a line the host dropped for its length, and goes on', async () => {
    const { source, child } = setUp();
    await source.start!();
    child().spec.onLongLine('stdout');
    child().print('{"type":"proc","pid":', proc(7, 10), END.replace('"overflow":0', '"overflow":4'));
    const collection = await source.collect();
    expect(collection.errors).toEqual({ parse: 2, map_overflow: 4 });
    expect(collection.increments).toHaveLength(1);
    await source.stop!();
  });

  it('fails the collection with the reason once the child exits, and fails a start that never gets ready', async () => {
    const { source, child } = setUp();
    await source.start!();
    child().printErr('warning: libbpf: x', 'error: load BPF programs: Operation not permitted');
    child().exit({ code: 1, signal: null });
    await Promise.resolve();
    await expect(source.collect()).rejects.toThrow(`${BUILT_LOADER} exited with code 1: error: load BPF programs: Operation not permitted`);

    const silent = setUp((c) => c.exit({ code: null, signal: null, error: 'spawn ENOENT' }));
    await expect(silent.source.start!()).rejects.toThrow(`${BUILT_LOADER} could not start: spawn ENOENT`);
  });

  it('names the missing Debian packages and the build command when the loader was not built', async () => {
    const host = new FakeHost();
    host.run = async () => {
      throw Object.assign(new Error('spawn ENOENT'), { code: 'ENOENT' });
    };
    const { config } = loadInvocation(['--sources', 'ebpf'], {});
    const source = createEbpfSource(ctxOf('ebpf', { config, io: host, privileges: { uid: 0, effective: ALL }, logger: pino({ level: 'silent' }) }));
    const probe = await source.probe();
    expect(probe.usable).toBe(false);
    expect(probe.problems[0]).toEqual({
      what: `the eBPF engine ${BUILT_LOADER} is not there: it was not built (missing Debian packages: clang, llvm, libbpf-dev, libelf-dev, zlib1g-dev, gcc)`,
      fix: 'apt-get install clang llvm libbpf-dev libelf-dev zlib1g-dev gcc, then npm run build (or: sh src/sources/ebpf/build.sh dist/sources/ebpf)',
    });
  });
});
