// The eBPF parser against real `bpftrace -f json netproc.bt 500` output (bpftrace 0.17,
// Linux 6.18), captured by test/fixtures/ebpf/capture.sh while python3 and node processes in a
// private network namespace exchanged known traffic on 127.0.0.1 and ::1. manifest.json holds
// what those processes knew without bpftrace: their pids, names, and what they sent and read.
import fs from 'node:fs';
import { UNSERVED } from '../../helpers/host-stubs.js';
import { describe, expect, it, vi } from 'vitest';
import {
  bpftraceCommand,
  chooseProgram,
  IntervalAssembler,
  KPROBE_FUNCTIONS,
  parseBpftraceLine,
  programPath,
  readKernelFacts,
  type IntervalEvent,
  type KernelFacts,
} from '../../../src/sources/ebpf/parse.js';
import { MAX_COMM_LENGTH, sanitizeName } from '../../../src/host/names.js';
import type { HostIO } from '../../../src/host/types.js';
import type { Increment } from '../../../src/sources/types.js';

interface Ends {
  pid: number;
  comm: string;
  txBytes: number;
  rxBytes: number;
}
interface TcpRole {
  name: string;
  transport: 'tcp';
  connections?: number;
  client: Ends;
  server: Ends;
  ss?: Record<'client' | 'server', { segsIn: number; segsOut: number; mss: number }>;
}
interface UdpRole {
  name: string;
  transport: 'udp';
  sender?: { pid: number; comm: string; txBytes: number; txDatagrams: number };
  receiver?: { pid: number; comm: string; rxBytes: number; rxDatagrams: number };
  process?: {
    pid: number;
    commBytes: number[];
    txBytes: number;
    rxBytes: number;
    txDatagrams: number;
    rxDatagrams: number;
  };
}
interface Manifest {
  intervalMs: number;
  roles: Array<TcpRole | UdpRole>;
}

function fixture(name: string): string {
  return fs.readFileSync(new URL(`../../fixtures/ebpf/${name}`, import.meta.url), 'utf8');
}

const manifest = JSON.parse(fixture('manifest.json')) as Manifest;
const tcpRoles = manifest.roles.filter((r): r is TcpRole => r.transport === 'tcp');
const udpRoles = manifest.roles.filter((r): r is UdpRole => r.transport === 'udp');
const role = <T extends TcpRole | UdpRole>(roles: T[], name: string): T => roles.find((r) => r.name === name)!;
const byName = <T extends { name: string }>(roles: T[]) => roles.map((r) => [r.name, r] as const);
/** Every pid a role of the manifest names. */
const pidsOf = (r: TcpRole | UdpRole): number[] =>
  Object.values(r).flatMap((v: unknown) =>
    typeof v === 'object' && v !== null && 'pid' in v ? [(v as { pid: number }).pid] : [],
  );

interface Totals {
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
  comm?: string;
}

/** Sums every interval's increments per "pid/transport". */
function totals(increments: Iterable<Increment>): Map<string, Totals> {
  const sums = new Map<string, Totals>();
  for (const inc of increments) {
    const key = `${inc.pid}/${inc.transport}`;
    const t = sums.get(key) ?? { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 };
    t.rxBytes += inc.rxBytes;
    t.txBytes += inc.txBytes;
    t.rxPackets += inc.rxPackets;
    t.txPackets += inc.txPackets;
    if (inc.comm !== undefined) t.comm = inc.comm;
    sums.set(key, t);
  }
  return sums;
}

function assemble(text: string): { events: IntervalEvent[]; assembler: IntervalAssembler } {
  const assembler = new IntervalAssembler();
  return { events: [...assembler.push(text), ...assembler.end()], assembler };
}

function intervalIncrements(events: IntervalEvent[]): Increment[] {
  return events.flatMap((e) => (e.kind === 'interval' ? e.increments : []));
}

const ZERO: Totals = { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 };

/** Loopback MTU 65536 minus IP and TCP headers: no segment carries more payload than this. */
const LOOPBACK_MAX_MSS = 65_483;

describe('capture.txt: real output while known traffic ran', () => {
  const { events, assembler } = assemble(fixture('capture.txt'));
  const byProcess = totals(intervalIncrements(events));
  const of = (pid: number, transport: 'tcp' | 'udp'): Totals => byProcess.get(`${pid}/${transport}`) ?? ZERO;

  it('reads every line: a warning, ready, then one event per interval, the last one final', () => {
    expect(assembler.skipped).toEqual({ lines: 0, entries: 0 });
    // bpftrace 0.17 cannot raise RLIMIT_MEMLOCK in this VM and says ERROR; it is harmless.
    expect(events[0]).toMatchObject({ kind: 'error', severity: 'warning' });
    expect((events[0] as { message: string }).message).toContain('RLIMIT_MEMLOCK');
    expect(events[1]).toEqual({ kind: 'ready', variant: 'tracepoint' });
    const intervals = events.slice(2);
    expect(intervals.every((e) => e.kind === 'interval')).toBe(true);
    expect(intervals.at(-1)).toMatchObject({ kind: 'interval', final: true, untracked: 0 });
    expect(intervals.filter((e) => e.kind === 'interval' && e.final)).toHaveLength(1);
  });

  // Exact, no tolerance: sock_sendmsg/sock_recvmsg return exactly what the process handed over.
  it.each(byName(tcpRoles))('TCP %s: exact payload bytes per process, both ways', (_, r) => {
    for (const end of [r.client, r.server]) {
      expect(of(end.pid, 'tcp'), `${r.name} pid ${end.pid}`).toMatchObject({
        txBytes: end.txBytes,
        rxBytes: end.rxBytes,
        comm: end.comm,
      });
      expect(of(end.pid, 'udp')).toEqual(ZERO);
    }
  });

  it('MSG_PEEK reads are not counted: the tcp4 server peeked before every read', () => {
    const r = role(tcpRoles, 'tcp4');
    expect(of(r.server.pid, 'tcp').rxBytes).toBe(r.client.txBytes);
  });

  // Loopback loses nothing, and a retransmitted segment is counted on both ends, so what one
  // end sent the other received, but for two kinds of segment no tcp_sock counts:
  // - the SYN-ACK, sent by the listener's request socket: the client receives one per
  //   connection that the accepted socket never sent (the kernel starts an accepted socket's
  //   segs_in at 1, for the SYN, so the other direction has no such gap);
  // - the last ACK of the side that closed first, when the kernel has already handed the
  //   connection to a TIME-WAIT socket: at most one per connection, received by the other side.
  // ss shows the same counters, so this is what the kernel itself counts.
  it.each(byName(tcpRoles))('TCP %s: segments sent by one end = received by the other', (_, r) => {
    const client = of(r.client.pid, 'tcp');
    const server = of(r.server.pid, 'tcp');
    const connections = r.connections ?? 1;
    expect(server.rxPackets - client.txPackets).toBeGreaterThanOrEqual(0);
    expect(server.rxPackets - client.txPackets).toBeLessThanOrEqual(connections);
    expect(client.rxPackets - server.txPackets - connections).toBeGreaterThanOrEqual(0);
    expect(client.rxPackets - server.txPackets - connections).toBeLessThanOrEqual(connections);
  });

  it('TCP segments are plausible for the payload: at least one per loopback MSS', () => {
    for (const r of tcpRoles) {
      for (const end of [r.client, r.server]) {
        const t = of(end.pid, 'tcp');
        expect(t.txPackets, r.name).toBeGreaterThanOrEqual(Math.ceil(end.txBytes / LOOPBACK_MAX_MSS));
        expect(t.rxPackets, r.name).toBeGreaterThanOrEqual(Math.ceil(end.rxBytes / LOOPBACK_MAX_MSS));
      }
    }
    // 40 connections of 1000 bytes up, 10 down: handshake, data, ACK, FIN exchange each.
    const short = role(tcpRoles, 'short');
    expect(of(short.client.pid, 'tcp').txPackets / 40).toBeGreaterThanOrEqual(4);
  });

  // ss read both ends of the 24 MiB connection just before close. After that the FIN exchange
  // adds at most a FIN and an ACK in each direction: 0 to 3 more. On the data direction
  // (hundreds of segments) that is also within the 2% target; the ACK direction has ~80
  // segments, where the same 2 or 3 close segments are ~3%, and the absolute bound is the one
  // that holds.
  it('TCP bulk (24 MiB): segments match ss -ti segs_in/segs_out read before close', () => {
    const bulk = role(tcpRoles, 'bulk');
    const client = of(bulk.client.pid, 'tcp');
    const server = of(bulk.server.pid, 'tcp');
    const pairs = [
      ['client tx', client.txPackets, bulk.ss!.client.segsOut],
      ['client rx', client.rxPackets, bulk.ss!.client.segsIn],
      ['server tx', server.txPackets, bulk.ss!.server.segsOut],
      ['server rx', server.rxPackets, bulk.ss!.server.segsIn],
    ] as const;
    for (const [what, counted, seen] of pairs) {
      expect(counted - seen, what).toBeGreaterThanOrEqual(0);
      expect(counted - seen, what).toBeLessThanOrEqual(3);
    }
    const relative = (counted: number, seen: number) => Math.abs(counted - seen) / seen;
    expect(relative(client.txPackets, bulk.ss!.client.segsOut)).toBeLessThan(0.02);
    expect(relative(server.rxPackets, bulk.ss!.server.segsIn)).toBeLessThan(0.02);
  });

  it.each(byName(udpRoles.filter((r) => r.sender)))(
    'UDP %s: exact bytes and datagrams (the receiver peeked at each one first)',
    (_, r) => {
      const { sender, receiver } = r as Required<Pick<UdpRole, 'sender' | 'receiver'>>;
      expect(receiver.rxDatagrams).toBe(sender.txDatagrams); // no loss, or the sums would differ
      expect(of(sender.pid, 'udp')).toEqual({
        rxBytes: 0,
        txBytes: sender.txBytes,
        rxPackets: 0,
        txPackets: sender.txDatagrams,
        comm: sender.comm,
      });
      expect(of(receiver.pid, 'udp')).toEqual({
        rxBytes: receiver.rxBytes,
        txBytes: 0,
        rxPackets: receiver.rxDatagrams,
        txPackets: 0,
        comm: receiver.comm,
      });
    },
  );

  it('a name with a quote, backslash, newline, control bytes and UTF-8 arrives readable and bounded', () => {
    const weird = role(udpRoles, 'weird').process!;
    // we"ird\ + newline + SOH + DEL + é + ✓: 15 bytes, the kernel maximum.
    expect(Buffer.from(weird.commBytes).toString('utf8')).toBe('we"ird\\\n\u0001\u007fé✓');
    expect(of(weird.pid, 'udp')).toEqual({
      rxBytes: 77,
      txBytes: 77,
      rxPackets: 1,
      txPackets: 1,
      comm: 'we"ird\\???é✓',
    });
  });

  it('gives the same events however the stream is cut into chunks', () => {
    const text = fixture('capture.txt');
    for (const size of [1, 7, 100, 4096]) {
      const assembler = new IntervalAssembler();
      const chunked: IntervalEvent[] = [];
      for (let i = 0; i < text.length; i += size) chunked.push(...assembler.push(text.slice(i, i + size)));
      chunked.push(...assembler.end());
      expect(chunked, `chunks of ${size}`).toEqual(events);
    }
  });
});

// garbled.txt is capture.txt with: the first map line cut in half, then a map line whose
// entries are all bad but one, a cut interval marker, a map whose data is an array, a line of
// prose, a lone "{", and the file ending in the middle of the last map line.
describe('garbled.txt: damaged lines are skipped and counted, the rest still adds up', () => {
  const captured = fixture('capture.txt').split('\n');
  const mapLines = captured.filter((l) => l.startsWith('{"type": "map"'));
  const { events, assembler } = assemble(fixture('garbled.txt'));

  it('counts 5 damaged lines and 9 bad map entries; prose is not counted', () => {
    expect(assembler.skipped).toEqual({ lines: 5, entries: 9 });
  });

  it('keeps the one good entry of the damaged map: its name holds a comma', () => {
    expect(intervalIncrements(events)).toContainEqual({
      pid: 9,
      transport: 'tcp',
      rxBytes: 0,
      txBytes: 10,
      rxPackets: 0,
      txPackets: 0,
      comm: 'a,b',
    });
  });

  it('loses exactly the two cut map lines, nothing else', () => {
    const lost = [mapLines[0]!, mapLines.at(-1)!].flatMap((l) => {
      const parsed = parseBpftraceLine(l);
      return parsed.kind === 'increments' ? parsed.increments : [];
    });
    const all = totals(intervalIncrements(assemble(fixture('capture.txt')).events));
    const left = totals(intervalIncrements(events));
    const gone = totals(lost);
    for (const r of manifest.roles) {
      for (const pid of pidsOf(r)) {
        const key = `${pid}/${r.transport}`;
        const expected = all.get(key)!;
        const minus = gone.get(key) ?? ZERO;
        expect(left.get(key) ?? ZERO, key).toMatchObject({
          rxBytes: expected.rxBytes - minus.rxBytes,
          txBytes: expected.txBytes - minus.txBytes,
          rxPackets: expected.rxPackets - minus.rxPackets,
          txPackets: expected.txPackets - minus.txPackets,
        });
      }
    }
  });
});

describe('parseBpftraceLine', () => {
  const map = (entries: string): string => `{"type": "map", "data": {"@acc1": {${entries}}}}`;

  it('merges the entries of one (pid, transport); the most active name wins over "" and rarer ones', () => {
    const line = map('"7,6,0,": 1, "7,6,2,old": 5, "7,6,1,new": 100, "7,6,3,new": 2, "7,17,1,new": 3');
    expect(parseBpftraceLine(line)).toEqual({
      kind: 'increments',
      badEntries: 0,
      increments: [
        { pid: 7, transport: 'tcp', rxBytes: 1, txBytes: 100, rxPackets: 5, txPackets: 2, comm: 'new' },
        { pid: 7, transport: 'udp', rxBytes: 0, txBytes: 3, rxPackets: 0, txPackets: 0, comm: 'new' },
      ],
    });
  });

  it('leaves out the name when only the close probe saw the process', () => {
    expect(parseBpftraceLine(map('"7,6,2,": 2'))).toMatchObject({ increments: [{ pid: 7, rxPackets: 2 }] });
    expect(parseBpftraceLine(map('"7,6,2,": 2'))).not.toHaveProperty('increments.0.comm');
  });

  it('decodes the \\uffffffXX escapes of bytes >= 0x80, but not an escaped backslash before "uffffff"', () => {
    // héllo wörld✓ is 16 bytes: the kernel keeps 15 and cuts the ✓ in the middle.
    const bytes = 'h\\uffffffc3\\uffffffa9llo w\\uffffffc3\\uffffffb6rld\\uffffffe2\\uffffff9c';
    const cut = parseBpftraceLine(map(`"1,6,0,${bytes}": 1`));
    expect(cut).toMatchObject({ increments: [{ comm: 'héllo wörld\ufffd' }] });
    const literal = parseBpftraceLine(map('"1,6,0,a\\\\uffffffc3": 1'));
    expect(literal).toMatchObject({ increments: [{ comm: 'a\\uffffffc3' }] });
  });

  it('ignores other maps: bpftrace dumps non-empty maps at exit', () => {
    const line = '{"type": "map", "data": {"@sk_owner": {"0xffff8881518ca500": 4294985298}}}';
    expect(parseBpftraceLine(line)).toEqual({ kind: 'skip', garbled: false });
  });

  it('reads the markers, lost events and helper errors', () => {
    const parse = parseBpftraceLine;
    const printf = (data: string) => parse(JSON.stringify({ type: 'printf', data: `${data}\n` }));
    expect(printf('{"type":"netproc_ready","variant":"kprobe","intervalMs":500}')).toEqual({
      kind: 'ready',
      variant: 'kprobe',
    });
    expect(printf('{"type":"netproc_interval","untracked":3,"final":true}')).toEqual({
      kind: 'interval',
      untracked: 3,
      final: true,
    });
    expect(printf('{"type":"netproc_interval","untracked":-1}')).toEqual({ kind: 'skip', garbled: true });
    expect(printf('hello')).toEqual({ kind: 'skip', garbled: false });
    expect(parse('{"type": "lost_events", "data": {"events": 12}}')).toEqual({ kind: 'lost', count: 12 });
    expect(parse('Lost 4 events')).toEqual({ kind: 'lost', count: 4 });
    const helperError = '{"type": "helper_error", "helper": "map_update_elem", "retcode": -7, "line": 12, "col": 3}';
    expect(parse(helperError)).toEqual({
      kind: 'error',
      severity: 'warning',
      message: 'bpftrace: map_update_elem failed (-7) at line 12',
    });
    expect(parse('{"type": "attached_probes", "data": {"probes": 7}}')).toEqual({ kind: 'skip', garbled: false });
  });

  // Lines bpftrace 0.17 printed on this machine (the first one when trying netproc-kprobe.bt).
  it('tells errors from warnings on stderr', () => {
    const parse = parseBpftraceLine;
    expect(parse("ERROR: Error attaching probe: 'kprobe:tcp_cleanup_rbuf'")).toEqual({
      kind: 'error',
      severity: 'error',
      message: "ERROR: Error attaching probe: 'kprobe:tcp_cleanup_rbuf'",
    });
    expect(parse('netproc.bt:91:33-34: WARNING: arithmetic on integers of different signs')).toMatchObject({
      severity: 'warning',
    });
    expect(parse('netproc.bt:3:6-13: ERROR: Undefined map: @epoch')).toMatchObject({ severity: 'error' });
    // The source excerpt and underline bpftrace prints after a message.
    const excerpt = '    $in = ((uint64)$tp->segs_in - ($last >> 32)) & LOW32;';
    expect(parse(excerpt)).toEqual({ kind: 'skip', garbled: false });
    expect(parse('                                ~')).toEqual({ kind: 'skip', garbled: false });
    const long = parse(`ERROR: ${'x'.repeat(2000)}`) as { message: string };
    expect(long.message.length).toBeLessThanOrEqual(501);
  });
});

describe('sanitizeName', () => {
  it('replaces control characters, bounds the length, and drops empty names', () => {
    expect(sanitizeName('a\tb\u0000c\u009bd\u007f')).toBe('a?b?c?d?');
    expect(sanitizeName('x'.repeat(100))).toBe('x'.repeat(MAX_COMM_LENGTH));
    expect(sanitizeName('✓'.repeat(100))).toBe('✓'.repeat(MAX_COMM_LENGTH)); // characters, not UTF-16 units
    expect(sanitizeName('a\ud800b')).toBe('a\ufffdb');
    expect(sanitizeName('')).toBeUndefined();
  });
});

describe('IntervalAssembler', () => {
  const acc = (pid: number, bytes: number) => `{"type": "map", "data": {"@acc0": {"${pid},17,1,x": ${bytes}}}}\n`;
  const end = '{"type": "printf", "data": "{\\"type\\":\\"netproc_interval\\",\\"untracked\\":0}\\n"}\n';
  const udpTx = (pid: number, txBytes: number): Increment => ({
    pid,
    transport: 'udp',
    rxBytes: 0,
    txBytes,
    rxPackets: 0,
    txPackets: 0,
    comm: 'x',
  });

  it('merges map lines that reach it before one marker (a lost marker), and flushes at end', () => {
    const a = new IntervalAssembler();
    expect(a.push(acc(1, 10) + acc(1, 5))).toEqual([]);
    expect(a.push(end)).toEqual([{ kind: 'interval', untracked: 0, final: false, increments: [udpTx(1, 15)] }]);
    a.push(acc(2, 7));
    expect(a.end()).toEqual([{ kind: 'interval', untracked: 0, final: true, increments: [udpTx(2, 7)] }]);
  });

  it('drops a line longer than 64 MiB once, then goes on', () => {
    const a = new IntervalAssembler();
    a.push(`{"type": "map", "data": {"@acc0": {${'"1,6,0,a": 1, '.repeat(5_000_000)}`);
    const events = a.push('"9,6,0,a": 1}}}\n' + end);
    expect(events).toEqual([{ kind: 'interval', untracked: 0, final: false, increments: [] }]);
    expect(a.skipped.lines).toBe(1);
  });
});

/** Facts of a kernel with BTF and tracefs at the usual place, and nothing else unless given. */
const facts = (f: Partial<KernelFacts>): KernelFacts => ({
  tracefs: '/sys/kernel/tracing',
  hasSockLengthTracepoints: false,
  hasKprobes: false,
  btf: true,
  missingKprobeFunctions: [],
  ...f,
});

/** A choice of no program, for a reason and with a fix containing these words. */
const refused = (what: string, fix = '') => ({
  variant: undefined,
  problem: { what: expect.stringContaining(what), fix: expect.stringContaining(fix) },
});

describe('chooseProgram', () => {

  it('prefers the tracepoints (Linux 6.3+), even when kprobes exist', () => {
    const both = facts({ hasSockLengthTracepoints: true, hasKprobes: true });
    expect(chooseProgram(both)).toMatchObject({ variant: 'tracepoint' });
    // The three facts alone are enough: tracefs absent means unknown, not missing.
    const three = { hasSockLengthTracepoints: true, hasKprobes: false, btf: true };
    expect(chooseProgram(three)).toMatchObject({ variant: 'tracepoint' });
  });

  it('falls back to kprobes on an older kernel', () => {
    expect(chooseProgram(facts({ hasKprobes: true }))).toMatchObject({ variant: 'kprobe' });
  });

  it('says why not, with the fix, when neither is there', () => {
    expect(chooseProgram(facts({}))).toMatchObject(refused('neither', 'CONFIG_KPROBES'));
  });

  it('needs BTF for both programs', () => {
    const noBtf = facts({ hasSockLengthTracepoints: true, btf: false });
    expect(chooseProgram(noBtf)).toMatchObject(refused('BTF', 'CONFIG_DEBUG_INFO_BTF'));
  });

  it('needs tracefs mounted', () => {
    const unmounted = facts({ tracefs: null, hasKprobes: true });
    expect(chooseProgram(unmounted)).toMatchObject(refused('tracefs', 'mount -t tracefs nodev /sys/kernel/tracing'));
  });

  it('names the kernel functions the kprobe program would miss', () => {
    const noV6 = facts({ missingKprobeFunctions: ['udpv6_sendmsg', 'udpv6_recvmsg'] });
    expect(chooseProgram(noV6)).toMatchObject(refused('udpv6_sendmsg, udpv6_recvmsg', 'modprobe ipv6'));
  });
});

type FakeHost = HostIO & { readFile: ReturnType<typeof vi.fn> };

/** A host made of directory listings and files; anything else is ENOENT. */
function fakeHost(dirs: Record<string, string[]>, files: Record<string, string> = {}): FakeHost {
  const enoent = (path: string) => Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return {
    readdir: async (path) => {
      const entries = dirs[path];
      if (!entries) throw enoent(path);
      return entries;
    },
    readFile: vi.fn(async (path: string) => {
      const file = files[path];
      if (file === undefined) throw enoent(path);
      return file;
    }),
    readlink: async (path) => {
      throw enoent(path);
    },
    run: async () => {
      throw new Error('no commands here');
    },
    now: () => 0,
    ...UNSERVED,
  };
}

/** /proc/kallsyms lines for every function the kprobe program needs, and two others. */
const KALLSYMS_ALL = [
  'ffffffff81000000 T _stext',
  ...KPROBE_FUNCTIONS.map((f) => `ffffffff8206e500 t ${f}${f.startsWith('udpv6') ? '\t[ipv6]' : ''}`),
  'ffffffff82000000 D tcp_sendmsg_data',
].join('\n');

describe('readKernelFacts', () => {
  // As on the Linux 6.18 development machine: tracefs at /sys/kernel/tracing, the sock length
  // tracepoints, no kprobes (CONFIG_KPROBES=n: no kprobe_events, no kprobe PMU), BTF.
  const newKernel = {
    '/sys/kernel/tracing': ['README', 'available_events', 'events', 'trace_pipe', 'uprobe_events'],
    '/sys/kernel/tracing/events/sock': [
      'enable',
      'filter',
      'inet_sk_error_report',
      'inet_sock_set_state',
      'sock_exceed_buf_limit',
      'sock_rcvqueue_full',
      'sock_recv_length',
      'sock_send_length',
    ],
    '/sys/kernel/btf': ['vmlinux', 'nf_tables'],
    '/sys/bus/event_source/devices': ['breakpoint', 'msr', 'software', 'tracepoint', 'uprobe'],
  };

  it('new kernel: tracepoints, no kprobes, and /proc/kallsyms is not read', async () => {
    const io = fakeHost(newKernel, { '/proc/kallsyms': KALLSYMS_ALL });
    const found = await readKernelFacts(io);
    expect(found).toEqual(facts({ hasSockLengthTracepoints: true }));
    expect(io.readFile).not.toHaveBeenCalled();
    expect(chooseProgram(found)).toMatchObject({ variant: 'tracepoint' });
  });

  // A 5.15 kernel with debugfs only: /sys/kernel/tracing is an empty mount point.
  const oldKernel = {
    '/sys/kernel/tracing': [],
    '/sys/kernel/debug/tracing': ['available_events', 'events', 'kprobe_events', 'kprobe_profile', 'trace_pipe'],
    '/sys/kernel/debug/tracing/events/sock': ['inet_sock_set_state', 'sock_exceed_buf_limit', 'sock_rcvqueue_full'],
    '/sys/kernel/btf': ['vmlinux'],
    '/sys/bus/event_source/devices': ['kprobe', 'software', 'tracepoint', 'uprobe'],
  };
  const debugfs = '/sys/kernel/debug/tracing';

  it('old kernel with kprobes: the kprobe program, once kallsyms lists its functions', async () => {
    const found = await readKernelFacts(fakeHost(oldKernel, { '/proc/kallsyms': KALLSYMS_ALL }));
    expect(found).toEqual(facts({ tracefs: debugfs, hasKprobes: true }));
    expect(chooseProgram(found)).toMatchObject({ variant: 'kprobe' });
  });

  it('old kernel with the kprobe PMU only, kallsyms unreadable: kprobes assumed usable', async () => {
    const pmuOnly = { ...oldKernel, [debugfs]: ['events', 'trace_pipe'] };
    expect(await readKernelFacts(fakeHost(pmuOnly))).toEqual(facts({ tracefs: debugfs, hasKprobes: true }));
  });

  it('old kernel without the ipv6 module loaded: udpv6_* missing, no program', async () => {
    const noV6 = KALLSYMS_ALL.split('\n').filter((l) => !l.includes('udpv6')).join('\n');
    const found = await readKernelFacts(fakeHost(oldKernel, { '/proc/kallsyms': noV6 }));
    expect(found).toEqual(facts({ tracefs: debugfs, missingKprobeFunctions: ['udpv6_sendmsg', 'udpv6_recvmsg'] }));
    expect(chooseProgram(found).variant).toBeUndefined();
  });

  it('neither tracepoints nor kprobes', async () => {
    const neither = { ...oldKernel, [debugfs]: ['events'], '/sys/bus/event_source/devices': ['software'] };
    const found = await readKernelFacts(fakeHost(neither));
    expect(found).toEqual(facts({ tracefs: debugfs }));
    expect(chooseProgram(found)).toMatchObject(refused('neither'));
  });

  it('no BTF', async () => {
    const found = await readKernelFacts(fakeHost({ ...newKernel, '/sys/kernel/btf': [] }));
    expect(found).toEqual(facts({ hasSockLengthTracepoints: true, btf: false }));
    expect(chooseProgram(found)).toMatchObject(refused('BTF'));
  });

  it('tracefs not mounted anywhere', async () => {
    const found = await readKernelFacts(fakeHost({ '/sys/kernel/tracing': [], '/sys/kernel/btf': ['vmlinux'] }));
    expect(found).toEqual(facts({ tracefs: null }));
    expect(chooseProgram(found)).toMatchObject(refused('tracefs'));
  });
});

describe('bpftraceCommand and programPath', () => {
  it('runs the program file next to the parser, JSON, line-buffered, with the interval and map size', () => {
    const path = programPath('tracepoint');
    expect(fs.existsSync(path)).toBe(true);
    expect(fs.existsSync(programPath('kprobe'))).toBe(true);
    expect(bpftraceCommand(path, 500, 16_384)).toEqual({
      file: 'bpftrace',
      args: ['-B', 'line', '-f', 'json', path, '500'],
      env: { BPFTRACE_MAP_KEYS_MAX: '16384' },
    });
    expect(() => bpftraceCommand(path, 0)).toThrow(RangeError);
    expect(() => bpftraceCommand(path, 1.5)).toThrow(RangeError);
  });
});
