// The loader's output parser against real `netproc-loader --interval-ms 500` output (Linux 6.18,
// libbpf 1.1.2), captured by test/fixtures/ebpf/capture.sh while python3 and node processes in a
// private network namespace exchanged known traffic on 127.0.0.1 and ::1. manifest.json holds
// what those processes knew without the loader: their pids, names, and what they sent and read.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeComm, MAX_LINE_BYTES, parseLoaderLine, parseLoaderMessage, parseProbe, type LoaderLine } from '../../../src/sources/ebpf/parse.js';
import { mergeIncrements } from '../../../src/sources/increments.js';
import type { Increment } from '../../../src/sources/types.js';

interface Ends {
  pid: number;
  comm: string;
  txBytes: number;
  rxBytes: number;
}
interface Role {
  name: string;
  transport: 'tcp' | 'udp';
  client?: Ends;
  server?: Ends;
  ss?: Record<'client' | 'server', { segsIn: number; segsOut: number }>;
  sender?: { pid: number; comm: string; txBytes: number; txDatagrams: number };
  receiver?: { pid: number; comm: string; rxBytes: number; rxDatagrams: number };
  process?: { pid: number; commBytes: number[]; txBytes: number; rxBytes: number; txDatagrams: number; rxDatagrams: number };
}

const fixture = (name: string): string => fs.readFileSync(new URL(`../../fixtures/ebpf/${name}`, import.meta.url), 'utf8');
const manifest = JSON.parse(fixture('manifest.json')) as { roles: Role[] };
const role = (name: string): Role => manifest.roles.find((r) => r.name === name)!;

function parseAll(text: string): LoaderLine[] {
  return text.split('\n').map(parseLoaderLine);
}

/** Every proc line's increment summed per (pid, transport). */
function totals(lines: LoaderLine[]): Map<string, Increment> {
  const increments = mergeIncrements([], lines.flatMap((l) => (l.kind === 'proc' ? [l.increment] : [])));
  return new Map(increments.map((i) => [`${i.pid}/${i.transport}`, i]));
}

describe('parseLoaderLine on the captured output', () => {
  const lines = parseAll(fixture('capture.txt'));
  const sums = totals(lines);

  it('reads every line: one ready, proc lines, interval lines, nothing garbled', () => {
    expect(lines[0]).toMatchObject({ kind: 'ready', variant: 'counters' });
    expect(lines.filter((l) => l.kind === 'skip' && l.garbled)).toEqual([]);
    const seqs = lines.flatMap((l) => (l.kind === 'interval' ? [l.seq] : []));
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  });

  it.each(['tcp4', 'bulk', 'tcp6', 'short', 'node-tcp6'])('%s: both ends exactly the bytes they wrote and read', (name) => {
    const r = role(name);
    for (const end of [r.client!, r.server!]) {
      expect(sums.get(`${end.pid}/tcp`)).toMatchObject({ rxBytes: end.rxBytes, txBytes: end.txBytes, comm: end.comm });
    }
  });

  it("bulk: segments per end equal the kernel's segs_in/segs_out read with ss -ti before close", () => {
    // ss was read before the close: then the server sends its FIN, the client answers with its
    // FIN (carrying the ACK), the server ACKs it. So the client receives 2 more segments and sends
    // 1, the server receives 1 and sends 2.
    const r = role('bulk');
    const after = { client: { rx: 2, tx: 1 }, server: { rx: 1, tx: 2 } };
    for (const side of ['client', 'server'] as const) {
      const got = sums.get(`${r[side]!.pid}/tcp`)!;
      expect(got.rxPackets).toBe(r.ss![side].segsIn + after[side].rx);
      expect(got.txPackets).toBe(r.ss![side].segsOut + after[side].tx);
      expect(got.retransSegs).toBe(0);
    }
  });

  it.each(['udp4', 'node-udp6'])('%s: exactly the bytes and datagrams sent and read, no retransmissions field', (name) => {
    const { sender, receiver } = role(name);
    expect(sums.get(`${sender!.pid}/udp`)).toMatchObject({ txBytes: sender!.txBytes, txPackets: sender!.txDatagrams, rxBytes: 0 });
    expect(sums.get(`${receiver!.pid}/udp`)).toMatchObject({ rxBytes: receiver!.rxBytes, rxPackets: receiver!.rxDatagrams, txBytes: 0 });
    expect(sums.get(`${receiver!.pid}/udp`)!.retransSegs).toBeUndefined();
  });

  it('decodes a name with a quote, a backslash, control characters and UTF-8 to its bytes, made label-safe', () => {
    const p = role('weird').process!;
    const expected = Buffer.from(p.commBytes).toString('utf8').replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
    expect(sums.get(`${p.pid}/udp`)).toMatchObject({ comm: expected, rxBytes: 77, txBytes: 77, rxPackets: 1, txPackets: 1 });
  });
});

describe('parseLoaderLine on damaged output', () => {
  const lines = parseAll(fixture('garbled.txt'));
  const good = totals(parseAll(fixture('capture.txt')));

  it('skips and marks every damaged line, never throws, and keeps every good one', () => {
    const garbled = lines.filter((l) => l.kind === 'skip' && l.garbled);
    // cut first proc line, 7 bad proc lines (pid string, sctp, negative, fraction, unsafe integer,
    // pid beyond PID_MAX) minus the over-long comm which is read, bad interval, array, text, '{',
    // and the cut last line.
    expect(garbled).toHaveLength(12);
    const sums = totals(lines);
    expect(sums.has('12/tcp')).toBe(true);
    for (const pid of [7, 8, 9, 10, 11, 99999999]) expect([...sums.keys()].some((k) => k.startsWith(`${pid}/`))).toBe(false);
    // The damaged copy re-adds the first proc line whole and cuts the last one: totals of the
    // other pids are as captured.
    const last = fixture('capture.txt').trim().split('\n').filter((l) => l.startsWith('{"type":"proc"')).at(-1)!;
    const lastKey = (() => {
      const l = parseLoaderLine(last);
      return l.kind === 'proc' ? `${l.increment.pid}/${l.increment.transport}` : '';
    })();
    for (const [key, value] of good) if (key !== lastKey) expect(sums.get(key)).toEqual(value);
  });

  it('bounds a name to the kernel comm length (15 bytes)', () => {
    const sums = totals(lines);
    expect(sums.get('12/tcp')).toEqual({ pid: 12, transport: 'tcp', rxBytes: 1, txBytes: 2, rxPackets: 3, txPackets: 4, retransSegs: 5, comm: 'x'.repeat(15) });
  });

  it('a proc line fits far below the line limit', () => {
    const longest = Math.max(...fixture('capture.txt').split('\n').map((l) => Buffer.byteLength(l)));
    expect(longest).toBeLessThan(MAX_LINE_BYTES / 10);
  });
});

describe('parseLoaderLine on percall-kprobe lines', () => {
  it('reads a TCP line without segments and retransSegs as those not measured, not as 0', () => {
    // What print_procs writes for percall-kprobe on TCP: it sees no segments, so no such keys.
    const line = parseLoaderLine('{"type":"proc","pid":77,"transport":"tcp","rxBytes":10,"txBytes":20,"comm":"curl"}');
    expect(line).toEqual({ kind: 'proc', increment: { pid: 77, transport: 'tcp', rxBytes: 10, txBytes: 20, comm: 'curl' } });
    // On UDP it counts datagrams, and prints them.
    const udp = parseLoaderLine('{"type":"proc","pid":77,"transport":"udp","rxBytes":10,"txBytes":20,"rxPackets":1,"txPackets":2,"comm":"curl"}');
    expect(udp).toEqual({ kind: 'proc', increment: { pid: 77, transport: 'udp', rxBytes: 10, txBytes: 20, rxPackets: 1, txPackets: 2, comm: 'curl' } });
  });

  it('refuses a line without bytes', () => {
    expect(parseLoaderLine('{"type":"proc","pid":77,"transport":"tcp","txBytes":20,"comm":"curl"}')).toEqual({ kind: 'skip', garbled: true });
  });

  it('still refuses a retransSegs that is there but not a count', () => {
    expect(parseLoaderLine('{"type":"proc","pid":77,"transport":"tcp","rxBytes":1,"txBytes":2,"rxPackets":0,"txPackets":0,"retransSegs":-1}')).toEqual({ kind: 'skip', garbled: true });
  });
});

describe('decodeComm', () => {
  it('turns escaped bytes back into UTF-8, with U+FFFD for invalid sequences', () => {
    expect(decodeComm('caf\u00c3\u00a9')).toBe('café');
    expect(decodeComm('a\u00ffb')).toBe('a\ufffdb');
    expect(decodeComm('')).toBeUndefined();
  });
});

describe('parseLoaderMessage on the captured stderr', () => {
  it('reads the error lines of a loader without capabilities, and of a bad argument', () => {
    const nocaps = fixture('stderr-nocaps.txt').trim().split('\n').map(parseLoaderMessage);
    expect(nocaps.map((m) => m?.severity)).toEqual(['warning', 'warning', 'warning', 'error']);
    expect(nocaps.at(-1)!.message).toMatch(/^load BPF programs: Operation not permitted/);
    expect(parseLoaderMessage(fixture('stderr-usage.txt'))).toEqual({ severity: 'error', message: 'unknown variant nonsense (counters, counters-udp-tp)' });
  });

  it('ignores other lines and bounds a long message', () => {
    expect(parseLoaderMessage('libbpf: something')).toBeUndefined();
    expect(parseLoaderMessage(`error: ${'x'.repeat(2000)}`)!.message.length).toBeLessThanOrEqual(501);
  });
});

describe('parseProbe', () => {
  it('reads the captured --probe line', () => {
    expect(parseProbe(fixture('probe.txt'))).toMatchObject({ btf: true, iterTaskFile: true, cgroupV2: '/sys/fs/cgroup/unified', kprobe: false });
  });

  it('refuses a truncated or incomplete probe line', () => {
    const line = fixture('probe.txt').trim();
    expect(parseProbe(line.slice(0, line.length - 10))).toBeUndefined();
    expect(parseProbe(line.replace('"btf":true,', ''))).toBeUndefined();
    expect(parseProbe('')).toBeUndefined();
    expect(parseProbe(line.replace('"/sys/fs/cgroup/unified"', 'null'))).toMatchObject({ cgroupV2: null });
  });
});
