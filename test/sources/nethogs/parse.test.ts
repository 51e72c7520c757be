// The nethogs parser against real `nethogs -t -v 2 -d 1 -C DEV` output (nethogs 0.8.7, Linux
// 6.18), captured by test/fixtures/nethogs/capture.sh on the host end of a veth pair while
// processes with known argv[0] and payloads sent TCP and UDP across it. manifest.json holds what
// the script knew without nethogs: pids, argv[0], payloads, and the device's own counters.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CumulativeTracker,
  RefreshAssembler,
  parseNethogsLine,
  type ProcessLine,
  type RefreshEvent,
} from '../../../src/sources/nethogs/parse.js';
import { chooseDevices, nethogsArgs, refreshSeconds } from '../../../src/sources/nethogs/source.js';
import { mergeIncrements } from '../../../src/sources/increments.js';
import { MAX_COMM_LENGTH } from '../../../src/host/names.js';
import type { Increment } from '../../../src/sources/types.js';

interface Manifest {
  device: { txBytes: number; rxBytes: number; txPackets: number; rxPackets: number };
  processes: Record<'pacedSender' | 'sink' | 'shortLived' | 'ephemeral' | 'udpConnected' | 'udpUnconnected', { pid: number; argv0?: string; txPayload?: number; rxPayload?: number }>;
}

function fixture(name: string): string {
  return fs.readFileSync(new URL(`../../fixtures/nethogs/${name}`, import.meta.url), 'utf8');
}

const manifest = JSON.parse(fixture('manifest.json')) as Manifest;
const { pacedSender, sink, shortLived, ephemeral, udpConnected } = manifest.processes;

/** The lines readline hands the source: the text after the last newline only if there is any. */
function linesOf(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** Feeds a whole capture line by line, as the source does, and applies every complete block. */
function run(text: string): { events: RefreshEvent[]; assembler: RefreshAssembler; increments: Increment[]; blocks: ProcessLine[][] } {
  const assembler = new RefreshAssembler();
  const tracker = new CumulativeTracker();
  const events = linesOf(text).flatMap((line) => assembler.line(line));
  let increments: Increment[] = [];
  const blocks: ProcessLine[][] = [];
  for (const event of events) {
    if (event.kind !== 'block') continue;
    blocks.push(event.lines);
    increments = mergeIncrements(increments, tracker.apply(event.lines, event.clean));
  }
  return { events, assembler, increments, blocks };
}

const find = (increments: readonly Increment[], pid: number, transport = 'tcp'): Increment | undefined =>
  increments.find((i) => i.pid === pid && i.transport === transport);

describe('capture.txt: real output while known traffic ran', () => {
  const { events, assembler, increments, blocks } = run(fixture('capture.txt'));
  const lastBlock = blocks.at(-1)!;
  const lineOf = (pid: number): ProcessLine | undefined => lastBlock.find((l) => l.pid === pid);

  it('reads every line: ready at the first refresh, then only complete blocks; the killed last block is not one', () => {
    expect(assembler.skipped.garbled).toBe(0);
    expect(assembler.skipped.stray).toBe(0);
    expect(events[0]).toEqual({ kind: 'ready' });
    expect(events.slice(1).every((e) => e.kind === 'block' && e.clean)).toBe(true);
    // nethogs prints "\nRefreshing:\n" at the start of a refresh: the last block has no end.
    const refreshes = fixture('capture.txt').split('\n').filter((l) => l === 'Refreshing:').length;
    expect(blocks).toHaveLength(refreshes - 1);
  });

  it('"Unknown connection:" lines are skipped and counted; their bytes are in "unknown TCP" (pid 0)', () => {
    expect(assembler.skipped.unknownConnections).toBeGreaterThan(0);
    expect(lastBlock.find((l) => l.program === 'unknown TCP')).toMatchObject({ pid: 0, uid: 0, name: undefined });
  });

  it('reads PROGRAM/PID/UID from the right: spaces, slashes and a tab in argv[0]', () => {
    expect(lineOf(pacedSender.pid)).toMatchObject({ program: 'np paced sender', name: 'np paced sender', uid: 0 });
    // The tab nethogs printed inside the name is a control character: replaced, not a separator.
    expect(lineOf(sink.pid)).toMatchObject({ program: '/opt/np tools/np?sink', name: 'np?sink', uid: 0 });
  });

  it(`bounds a long argv[0] to ${MAX_COMM_LENGTH} characters`, () => {
    expect(shortLived.argv0!.length).toBeGreaterThan(MAX_COMM_LENGTH);
    const line = lineOf(shortLived.pid)!;
    expect(line.program).toBe(shortLived.argv0!.slice(0, MAX_COMM_LENGTH));
    expect(find(increments, shortLived.pid)!.comm).toBe(shortLived.argv0!.slice(0, MAX_COMM_LENGTH));
  });

  it('the increments of all blocks add up to the totals of the last complete block, per process', () => {
    for (const line of lastBlock) {
      const transport = line.program === 'unknown UDP' ? 'udp' : 'tcp';
      const inc = find(increments, line.pid, transport);
      if (line.pid === 0) continue; // several pid-0 lines share one increment
      expect(inc, `pid ${line.pid}`).toMatchObject({ txBytes: line.sent, rxBytes: line.received, rxPackets: 0, txPackets: 0 });
    }
    const unknown = lastBlock.filter((l) => l.pid === 0 && l.program !== 'unknown UDP');
    expect(find(increments, 0, 'tcp')).toMatchObject({
      txBytes: unknown.reduce((s, l) => s + l.sent, 0),
      rxBytes: unknown.reduce((s, l) => s + l.received, 0),
    });
  });

  // nethogs counts what pcap sees on the device, link-layer header included, so all its lines
  // together can come to less than the device's own counters (it drops packets when it falls
  // behind), never more: its 6 significant digits round a total by at most 5 parts in a million.
  // This capture was taken on a quiet machine and lost nothing: within 0.1% (ARP and IPv6
  // neighbour discovery are not TCP or UDP, and so not nethogs's).
  it('all lines together come to the device\'s own byte counters, within 0.1% and never above', () => {
    const { device } = manifest;
    const sent = lastBlock.reduce((s, l) => s + l.sent, 0);
    const received = lastBlock.reduce((s, l) => s + l.received, 0);
    expect(sent).toBeLessThanOrEqual(device.txBytes * (1 + 5e-6));
    expect(received).toBeLessThanOrEqual(device.rxBytes * (1 + 5e-6));
    expect(sent).toBeGreaterThanOrEqual(device.txBytes * 0.999);
    expect(received).toBeGreaterThanOrEqual(device.rxBytes * 0.999);
  });

  // Headers: 66 bytes (Ethernet 14, IPv4 20, TCP 32) per packet pcap sees, and a veth hands it
  // GSO packets of tens of KB: a fraction of a percent.
  it('credits the paced sender and the sink with their payload plus headers, under 1% more', () => {
    for (const [bytes, payload] of [
      [lineOf(pacedSender.pid)!.sent, pacedSender.txPayload!],
      [lineOf(sink.pid)!.received, sink.rxPayload!],
    ] as const) {
      expect(bytes).toBeGreaterThan(payload);
      expect(bytes).toBeLessThan(payload * 1.01);
    }
  });

  it('a connection that closed before nethogs read its first packet is not attributed to its process', () => {
    expect(lineOf(ephemeral.pid)).toBeUndefined();
  });

  it('UDP: unconnected sockets go to "unknown UDP", reported as udp of pid 0; a connected socket is its process\'s', () => {
    // 300 datagrams of 500 bytes from an unconnected socket, 42 bytes of headers each.
    expect(find(increments, 0, 'udp')!.txBytes).toBe(300 * (500 + 42));
    const connected = lineOf(udpConnected.pid)!;
    expect(connected).toMatchObject({ program: 'np-udp-connected', name: 'np-udp-connected' });
    // 500 datagrams of 1000 bytes, each with 42 bytes of headers (Ethernet 14, IPv4 20, UDP 8).
    expect(connected.sent).toBe(500 * (1000 + 42));
    expect(find(increments, udpConnected.pid, 'tcp')!.txBytes).toBe(connected.sent);
  });
});

describe('unprivileged.txt: nethogs as uid 65534 with only CAP_NET_RAW and CAP_NET_ADMIN', () => {
  const { increments, blocks, assembler } = run(fixture('unprivileged.txt'));

  it('cannot read root\'s /proc/PID/fd: every connection is named by its addresses, under pid 0', () => {
    expect(assembler.skipped.garbled).toBe(0);
    const lines = blocks.flat();
    expect(lines.some((l) => /^10\.213\.249\.1:\d+-10\.213\.249\.2:\d+$/.test(l.program))).toBe(true);
    expect(lines.every((l) => l.pid === 0)).toBe(true);
    expect(increments.every((i) => i.pid === 0 && i.comm === undefined)).toBe(true);
    expect(find(increments, 0)!.txBytes).toBeGreaterThan(0);
  });
});

describe('broken output', () => {
  it('truncated.txt: killed in the middle of a line of the last block; the unfinished block is never applied', () => {
    const whole = run(fixture('capture.txt'));
    const cut = run(fixture('truncated.txt'));
    expect(cut.blocks).toEqual(whole.blocks);
    expect(cut.increments).toEqual(whole.increments);
  });

  // If the block whose sender line is damaged were taken as clean, the sender would be forgotten
  // there and counted again from zero in the next block: its total would come out doubled.
  it('garbled.txt: damaged lines are skipped and counted, and their block keeps the baselines of processes it lacks', () => {
    const whole = run(fixture('capture.txt'));
    const { assembler, events, increments } = run(fixture('garbled.txt'));
    expect(assembler.skipped.garbled).toBe(8);
    expect(events.filter((e) => e.kind === 'skipped')).toHaveLength(8);
    const blocks = events.filter((e): e is Extract<RefreshEvent, { kind: 'block' }> => e.kind === 'block');
    const unclean = blocks.flatMap((b, i) => (b.clean ? [] : [i]));
    expect(unclean).toHaveLength(2);
    expect(unclean[0]).toBe(1);
    expect(blocks[unclean[1]!]!.lines.some((l) => l.pid === pacedSender.pid)).toBe(false);
    expect(increments).toEqual(whole.increments);
  });

  it('a block cut short and followed by a new refresh is applied only as far as it is complete', () => {
    const assembler = new RefreshAssembler();
    const lines = ['Refreshing:', 'a/1/0\t100\t10', 'b/2/0\t200\t20', '', 'Refreshing:', 'a/1/0\t150\t15', 'b/2/0\t2'];
    const events = lines.flatMap((l) => assembler.line(l));
    expect(events.filter((e) => e.kind === 'block')).toHaveLength(1);
    expect(assembler.skipped.garbled).toBe(1);
  });

  it('process lines outside any block (before the first refresh) are skipped and counted', () => {
    const assembler = new RefreshAssembler();
    expect(assembler.line('a/1/0\t1\t1')).toEqual([{ kind: 'skipped', reason: 'stray' }]);
    expect(assembler.skipped.stray).toBe(1);
  });
});

describe('parseNethogsLine', () => {
  it.each([
    ['Adding local address: 10.213.249.1', { kind: 'info' }],
    ['Adding local address: fe80::9cbe:daff:fe9c:57e6', { kind: 'info' }],
    ['Ethernet link detected', { kind: 'info' }],
    ['Waiting for first packet to arrive (see sourceforge.net bug 1019381)', { kind: 'info' }],
    ['Refreshing:', { kind: 'refresh' }],
    ['', { kind: 'blank' }],
    ['Unknown connection: 10.213.249.1:9-10.213.249.2:58092', { kind: 'unknown-connection', connection: '10.213.249.1:9-10.213.249.2:58092' }],
  ])('%j', (line, expected) => {
    expect(parseNethogsLine(line)).toEqual(expected);
  });

  it('reads exponent notation to whole bytes: "2.01558e+06" is 2,015,580', () => {
    expect(parseNethogsLine('x/7/1000\t2.01558e+06\t15452')).toMatchObject({ pid: 7, uid: 1000, sent: 2_015_580, received: 15_452 });
  });

  it('names a process by the base name of a path, and keeps any other argv[0] whole', () => {
    expect(parseNethogsLine('/root/.pyenv/versions/3.11.7/bin/python3/42/0\t1\t2')).toMatchObject({ pid: 42, name: 'python3' });
    expect(parseNethogsLine('node (vitest 1)/43/0\t1\t2')).toMatchObject({ pid: 43, name: 'node (vitest 1)' });
    expect(parseNethogsLine('unknown TCP/0/0\t1\t2')).toMatchObject({ pid: 0, name: undefined });
  });

  it('classifies stderr messages by kind (errors.stderr.txt: a device that is down, then no capabilities)', () => {
    const kinds = fixture('errors.stderr.txt')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => parseNethogsLine(l))
      .map((p) => (p.kind === 'message' ? p.messageKind : p.kind));
    expect(kinds).toEqual(['device', 'device', 'permission', 'device']);
  });
});

describe('CumulativeTracker: nethogs totals to increments', () => {
  const line = (pid: number, sent: number, received: number, program = `p${pid}`): ProcessLine => ({ pid, uid: 0, program, name: program, sent, received });
  const bytes = (incs: Increment[]) => incs.map((i) => [i.pid, i.txBytes, i.rxBytes]);

  it('a process seen for the first time counts from zero: everything nethogs counted happened while it ran', () => {
    const t = new CumulativeTracker();
    expect(bytes(t.apply([line(1, 100, 10)], true))).toEqual([[1, 100, 10]]);
    expect(bytes(t.apply([line(1, 250, 10)], true))).toEqual([[1, 150, 0]]);
    expect(t.apply([line(1, 250, 10)], true)).toEqual([]);
  });

  it('a total that shrinks started again from zero: the new total is the increment', () => {
    const t = new CumulativeTracker();
    t.apply([line(1, 1000, 500)], true);
    expect(bytes(t.apply([line(1, 300, 600)], true))).toEqual([[1, 300, 100]]);
  });

  it('a process missing from a clean block is forgotten; from a garbled block, it is kept', () => {
    const t = new CumulativeTracker();
    t.apply([line(1, 100, 0), line(2, 100, 0)], true);
    t.apply([line(2, 100, 0)], false); // pid 1's line may have been the damaged one
    expect(bytes(t.apply([line(1, 120, 0), line(2, 100, 0)], true))).toEqual([[1, 20, 0]]);
    t.apply([line(2, 100, 0)], true); // gone for good
    expect(t.size).toBe(1);
    expect(bytes(t.apply([line(1, 30, 0), line(2, 100, 0)], true))).toEqual([[1, 30, 0]]);
  });

  it('lines with the same pid and program are summed before the difference', () => {
    const t = new CumulativeTracker();
    t.apply([line(0, 10, 0, 'unknown TCP'), line(0, 5, 0, 'unknown TCP')], true);
    expect(bytes(t.apply([line(0, 12, 0, 'unknown TCP'), line(0, 5, 0, 'unknown TCP')], true))).toEqual([[0, 2, 0]]);
  });

  it('names processes by pid and comm; pid 0 has no comm, "unknown UDP" is udp', () => {
    const t = new CumulativeTracker();
    const incs = t.apply([line(5, 1, 1, 'np'), line(0, 1, 1, 'unknown TCP'), line(0, 2, 2, 'unknown UDP')], true);
    expect(incs).toEqual([
      { pid: 5, transport: 'tcp', txBytes: 1, rxBytes: 1, txPackets: 0, rxPackets: 0, comm: 'np' },
      { pid: 0, transport: 'tcp', txBytes: 1, rxBytes: 1, txPackets: 0, rxPackets: 0 },
      { pid: 0, transport: 'udp', txBytes: 2, rxBytes: 2, txPackets: 0, rxPackets: 0 },
    ]);
  });
});

describe('command line and devices', () => {
  it('runs trace mode with cumulative bytes, -a for loopback, -C for UDP, devices after --', () => {
    expect(nethogsArgs({ devices: [], loopback: false, udp: false }, 1)).toEqual(['-t', '-v', '2', '-d', '1']);
    expect(nethogsArgs({ devices: ['eth0', 'lo'], loopback: true, udp: true }, 2)).toEqual(['-t', '-v', '2', '-d', '2', '-a', '-C', '--', 'eth0', 'lo']);
    expect(nethogsArgs({ devices: ['eth0'], loopback: false, udp: false }, 0, 1)).toEqual(['-t', '-v', '2', '-d', '0', '-c', '1', '--', 'eth0']);
  });

  it('refreshes every whole second, at least one', () => {
    expect([refreshSeconds(500), refreshSeconds(1000), refreshSeconds(1500), refreshSeconds(60_000)]).toEqual([1, 1, 2, 60]);
  });

  const devices = [
    { name: 'eth0', flags: 0x1003, operstate: 'up' },
    { name: 'lo', flags: 0x9, operstate: 'unknown' },
    { name: 'ifb0', flags: 0x82, operstate: 'down' },
  ];

  it('takes what nethogs takes: devices up and running, not loopback, unless -a', () => {
    expect(chooseDevices(devices, { devices: [], loopback: false }).usable).toEqual(['eth0']);
    expect(chooseDevices(devices, { devices: [], loopback: true }).usable).toEqual(['eth0', 'lo', 'ifb0']);
  });

  it('says why a named device will not be captured, with the fix', () => {
    const chosen = chooseDevices(devices, { devices: ['lo', 'nope'], loopback: false });
    expect(chosen.usable).toEqual([]);
    expect(chosen.warnings.map((w) => w.what)).toEqual([
      'nethogs.devices names lo, which is the loopback device; nethogs skips it',
      'nethogs.devices names nope, which does not exist in this network namespace',
    ]);
    expect(chosen.problem.what).toBe('none of nethogs.devices (lo, nope) can be captured on');
  });
});
