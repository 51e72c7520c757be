// The ebpf source around a child it spawns through the host: no bpftrace and no real process, the
// test prints the child's lines. Start until ready, increments per interval, the child's error
// lines counted and logged once per kind per outage, a dropped over-long line counted, an exit
// reported with its reason, and a stop.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loadInvocation } from '../../../src/config/load.js';
import { createEbpfSource } from '../../../src/sources/ebpf/source.js';
import { FakeHost, type FakeChild } from '../../helpers/fake-host.js';
import { ctxOf } from '../../helpers/source-context.js';

const printf = (data: object): string => JSON.stringify({ type: 'printf', data: `${JSON.stringify(data)}\n` });
const READY = printf({ type: 'netproc_ready', variant: 'tracepoint' });
const END = printf({ type: 'netproc_interval', untracked: 0 });
const acc = (pid: number, bytes: number): string => JSON.stringify({ type: 'map', data: { '@acc0': { [`${pid},6,1,curl`]: bytes } } });

/** A kernel with tracefs, the sock length tracepoints and BTF, as readKernelFacts lists them. */
function kernel(): FakeHost {
  const host = new FakeHost();
  // FakeHost.readdir lists the entries directly below a path.
  for (const entry of ['tracing/events', 'tracing/events/sock/sock_send_length', 'tracing/events/sock/sock_recv_length', 'btf/vmlinux']) {
    host.files.set(`/sys/kernel/${entry}`, '');
  }
  host.commands.set('bpftrace --version', 'bpftrace v0.17.0\n');
  return host;
}

function setUp(onSpawn: (child: FakeChild) => void = (child) => child.print(READY)) {
  const host = kernel();
  host.onSpawn = onSpawn;
  const logged: Array<{ msg: string; kind?: string }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
  const { config } = loadInvocation(['--sources', 'ebpf', '--interval', '500ms', '--ebpf-start-timeout', '2s'], {});
  const source = createEbpfSource(ctxOf('ebpf', { config, io: host, privileges: { uid: 0, effective: (1n << 41n) - 1n }, logger }));
  return { host, source, logged, child: () => host.children.at(-1)! };
}

describe('ebpf source around a child printed by the test', () => {
  it('starts once the program says it is ready, with the loaded interval, and hands on each interval', async () => {
    const { source, child } = setUp();
    await source.start!();
    expect(child().spec.file).toBe('bpftrace');
    expect(child().spec.args.at(-1)).toBe('500'); // interval in ms, loaded once by the config
    expect(child().spec.env).toMatchObject({ BPFTRACE_MAP_KEYS_MAX: '16384' });
    child().print(acc(42, 100), END, acc(42, 50), END);
    expect(await source.collect()).toEqual({
      increments: [{ pid: 42, transport: 'tcp', rxBytes: 0, txBytes: 150, rxPackets: 0, txPackets: 0, comm: 'curl' }],
      errors: { parse: 0 },
    });
    expect(await source.collect()).toEqual({ increments: [], errors: { parse: 0 } });
    await source.stop!();
    expect(child().signals).toEqual(['SIGTERM']);
  });

  it('counts every error line of the child, and logs each kind once per outage', async () => {
    const { source, child, logged } = setUp();
    await source.start!();
    const said = () => logged.filter((l) => l.kind === 'bpftrace_error').map((l) => l.msg);
    child().printErr('ERROR: map full', 'ERROR: map full');
    expect((await source.collect()).errors).toEqual({ bpftrace_error: 2, parse: 0 });
    child().printErr('ERROR: map full');
    expect((await source.collect()).errors).toEqual({ bpftrace_error: 1, parse: 0 });
    expect(said()).toEqual(['ebpf child said: ERROR: map full']);
    // A collection without it ends the outage: the next one is logged again.
    await source.collect();
    child().printErr('ERROR: map full again');
    await source.collect();
    expect(said()).toEqual(['ebpf child said: ERROR: map full', 'ebpf child said: ERROR: map full again']);
    await source.stop!();
  });

  it('counts a line the host dropped for its length as a parse error, and goes on', async () => {
    const { source, child } = setUp();
    await source.start!();
    child().spec.onLongLine('stdout');
    child().print(acc(7, 10), END);
    const collection = await source.collect();
    expect(collection.errors).toEqual({ parse: 1 });
    expect(collection.increments).toHaveLength(1);
    await source.stop!();
  });

  it('fails the collection with the reason once the child exits, and fails a start that never gets ready', async () => {
    const { source, child } = setUp();
    await source.start!();
    child().printErr('ERROR: Could not attach probe');
    child().exit({ code: 1, signal: null });
    await Promise.resolve();
    await expect(source.collect()).rejects.toThrow('bpftrace exited with code 1: ERROR: Could not attach probe');

    const silent = setUp((c) => c.exit({ code: null, signal: null, error: 'spawn bpftrace ENOENT' }));
    await expect(silent.source.start!()).rejects.toThrow('bpftrace could not start: spawn bpftrace ENOENT');
  });
});
