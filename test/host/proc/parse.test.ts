// The fixtures come from test/fixtures/procfs/capture.sh: one process (comm `w) eird (ü) 1`) held
// TCP and UDP sockets on 127.0.0.1 and ::1, and capture.json records what the socket API itself
// said about them (ports from getsockname, inodes from fstat). The parser must find the same.
import fs from 'node:fs';
import { describe, it, expect } from 'vitest';
import {
  parseCapEff,
  parseCapSet,
  parseContainerId,
  parseNetTable,
  parseNsInode,
  parseStat,
  socketInode,
  type NetEntry,
} from '../../../src/host/proc/parse.js';

function fixture(name: string): string {
  return fs.readFileSync(new URL(`../../fixtures/procfs/${name}`, import.meta.url), 'utf8');
}

interface CapturedSocket {
  fd: number;
  inode: number;
  local: [string, number];
  peer: [string, number] | null;
}
interface Capture {
  pid: number;
  comm: string;
  approxStartTicks: number;
  clockTicksPerSecond: number;
  netnsInode: number;
  timeWaitClientPort: number;
  sockets: Record<string, CapturedSocket>;
}
const capture = JSON.parse(fixture('capture.json')) as Capture;

function socket(name: string): CapturedSocket {
  const s = capture.sockets[name];
  if (!s) throw new Error(`capture.json has no socket ${name}`);
  return s;
}
const v4 = (port: number) => `127.0.0.1:${port}`;
const v6 = (port: number) => `[::1]:${port}`;
const portOf = (name: string) => socket(name).local[1];

function entryOf(entries: NetEntry[], local: string, remote: string): NetEntry | undefined {
  return entries.find((e) => e.local === local && e.remote === remote);
}

describe('parseNetTable on /proc/net/tcp', () => {
  const { entries, skipped } = parseNetTable(fixture('tcp'), 'tcp');
  const listen = portOf('tcp4_listen');
  const client = portOf('tcp4_client');

  it('reads every row of the capture and skips only the header', () => {
    expect(skipped).toBe(0);
    expect(entries).toHaveLength(5);
  });

  it('reports the listener on its port, with no peer', () => {
    expect(entryOf(entries, v4(listen), '0.0.0.0:0')).toEqual({
      inode: socket('tcp4_listen').inode,
      state: 'listen',
      local: v4(listen),
      remote: '0.0.0.0:0',
      uid: 0,
    });
  });

  it('reports both ends of the connection as established, each with its own inode', () => {
    expect(entryOf(entries, v4(client), v4(listen))).toMatchObject({
      state: 'established',
      inode: socket('tcp4_client').inode,
    });
    expect(entryOf(entries, v4(listen), v4(client))).toMatchObject({
      state: 'established',
      inode: socket('tcp4_accepted').inode,
    });
  });

  it('reports the side that closed first as time_wait, with inode 0 since no process holds it', () => {
    const local = v4(capture.timeWaitClientPort);
    expect(entryOf(entries, local, v4(portOf('tcp4_tw_listen')))).toEqual({
      inode: 0,
      state: 'time_wait',
      local,
      remote: v4(portOf('tcp4_tw_listen')),
      uid: 0,
    });
  });
});

describe('parseNetTable on /proc/net/tcp6', () => {
  const { entries, skipped } = parseNetTable(fixture('tcp6'), 'tcp');
  const listen = portOf('tcp6_listen');
  const client = portOf('tcp6_client');

  it('decodes ::1 and the unspecified address ::', () => {
    expect(skipped).toBe(0);
    expect(entries).toHaveLength(3);
    expect(entryOf(entries, v6(listen), '[::]:0')).toMatchObject({
      state: 'listen',
      inode: socket('tcp6_listen').inode,
    });
  });

  it('reports the connected pair as established', () => {
    expect(entryOf(entries, v6(client), v6(listen))?.inode).toBe(socket('tcp6_client').inode);
    expect(entryOf(entries, v6(listen), v6(client))?.inode).toBe(socket('tcp6_accepted').inode);
  });
});

describe('parseNetTable on /proc/net/udp and udp6', () => {
  it('reports an unconnected UDP socket as close and a connected one as established', () => {
    const { entries, skipped } = parseNetTable(fixture('udp'), 'udp');
    const server = portOf('udp4_unconnected');
    const client = portOf('udp4_connected');
    expect(skipped).toBe(0);
    expect(entries).toEqual([
      // Created while euid was 65534: the uid column is the creator's, not the current one's.
      { inode: socket('udp4_unconnected').inode, state: 'close', local: v4(server), remote: '0.0.0.0:0', uid: 65534 },
      { inode: socket('udp4_connected').inode, state: 'established', local: v4(client), remote: v4(server), uid: 0 },
    ]);
  });

  it('decodes ::1 and prints an IPv4-mapped address with its IPv4 tail', () => {
    const { entries, skipped } = parseNetTable(fixture('udp6'), 'udp');
    const server = portOf('udp6_unconnected');
    expect(skipped).toBe(0);
    expect(entries).toHaveLength(3);
    expect(entryOf(entries, v6(server), '[::]:0')).toMatchObject({
      state: 'close',
      inode: socket('udp6_unconnected').inode,
    });
    expect(entryOf(entries, v6(portOf('udp6_connected')), v6(server))).toMatchObject({
      state: 'established',
      inode: socket('udp6_connected').inode,
    });
    expect(entryOf(entries, `[::ffff:127.0.0.1]:${portOf('udp6_mapped')}`, '[::]:0')).toMatchObject({
      state: 'close',
      inode: socket('udp6_mapped').inode,
    });
  });

  it('compresses the longest run of zero groups in other IPv6 addresses (hand-made row)', () => {
    // 2001:db8::1 and fe80::1:0:0:2, each 32-bit word byte-swapped as a little-endian kernel prints it.
    const row =
      '   0: B80D0120000000000000000001000000:0050 000080FE000000000000010002000000:1F90 01 ' +
      '00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 20 0 0 10 -1';
    expect(parseNetTable(row, 'tcp').entries[0]).toMatchObject({
      local: '[2001:db8::1]:80',
      remote: '[fe80::1:0:0:2]:8080',
      uid: 1000,
      inode: 4242,
    });
  });
});

describe('parseNetTable on broken input', () => {
  it('skips and counts garbled and cut-off rows while the good rows still parse', () => {
    // tcp.truncated: the real tcp capture with rows missing columns, a non-hex state, a non-hex
    // address, and a last row cut off mid-line; see capture.sh.
    const { entries, skipped } = parseNetTable(fixture('tcp.truncated'), 'tcp');
    expect(skipped).toBe(4);
    expect(entries.map((e) => e.inode)).toEqual([
      socket('tcp4_listen').inode,
      socket('tcp4_tw_listen').inode,
      socket('tcp4_client').inode,
    ]);
  });

  it('skips an unknown state number, a short address and an empty text without throwing', () => {
    const good = fixture('tcp').split('\n')[1]!;
    const unknownState = good.replace(' 0A ', ' 2A ');
    const shortAddress = good.replace('0100007F:', '0100007:');
    expect(parseNetTable([unknownState, shortAddress].join('\n'), 'tcp')).toEqual({ entries: [], skipped: 2 });
    expect(parseNetTable('', 'tcp')).toEqual({ entries: [], skipped: 0 });
  });

  it('decodes only the endpoints of sockets without an inode when asked to, and skips the same rows', () => {
    // The procfs source names other sockets by their inode, so it asks for 'without-inode'.
    const text = [fixture('tcp'), fixture('tcp.truncated')].join('\n');
    const all = parseNetTable(text, 'tcp');
    const lean = parseNetTable(text, 'tcp', 'without-inode');
    expect(lean.skipped).toBe(all.skipped);
    expect(lean.entries).toEqual(all.entries.map((e) => (e.inode === 0 ? e : { ...e, local: '', remote: '' })));
    expect(lean.entries.some((e) => e.inode === 0 && e.local !== '')).toBe(true);
  });

  it('reads rows whose columns are separated by tabs or end in CRLF, as splitting on \\s did', () => {
    const text = fixture('tcp');
    const expected = parseNetTable(text, 'tcp');
    expect(parseNetTable(text.replaceAll(' ', '\t'), 'tcp')).toEqual(expected);
    expect(parseNetTable(text.replaceAll('\n', '\r\n'), 'tcp')).toEqual(expected);
  });

  it('parses a table cut into blocks of whole rows as it parses it whole', () => {
    const text = fixture('tcp');
    const rows = text.split(/(?<=\n)/);
    const blocks = rows.map((r) => parseNetTable(r, 'tcp'));
    const whole = parseNetTable(text, 'tcp');
    expect(blocks.flatMap((b) => b.entries)).toEqual(whole.entries);
    expect(blocks.reduce((n, b) => n + b.skipped, 0)).toBe(whole.skipped);
  });

  it('parses every row of a large table in one call', () => {
    const [header, ...rows] = fixture('tcp').trimEnd().split('\n');
    const big = [header, ...Array.from({ length: 3000 }, () => rows).flat()].join('\n');
    const { entries, skipped } = parseNetTable(big, 'tcp');
    expect(skipped).toBe(0);
    expect(entries).toHaveLength(15_000);
  });
});

describe('parseStat', () => {
  it('reads a comm holding spaces, parentheses and a two-byte character, and the start time', () => {
    const stat = parseStat(fixture('stat.weird-comm'));
    expect(stat?.pid).toBe(capture.pid);
    expect(stat?.comm).toBe('w) eird (ü) 1');
    // capture.json estimated the start from /proc/uptime once python was running; python's
    // start-up before that read takes well under a second, i.e. under clockTicksPerSecond ticks.
    const startTicks = stat?.startTicks ?? Number.NaN;
    expect(startTicks).toBeLessThanOrEqual(capture.approxStartTicks);
    expect(capture.approxStartTicks - startTicks).toBeLessThan(capture.clockTicksPerSecond);
  });

  it('returns undefined for garbled or short text', () => {
    const real = fixture('stat.weird-comm');
    expect(parseStat('')).toBeUndefined();
    expect(parseStat('garbage')).toBeUndefined();
    expect(parseStat(real.slice(0, 60))).toBeUndefined(); // cut before field 22
    expect(parseStat(real.replace(/^\d+/, 'x'))).toBeUndefined();
    expect(parseStat('12 (no closing paren S 1 2 3')).toBeUndefined();
  });
});

describe('socketInode', () => {
  it('reads the inode of every socket fd the process held, and nothing from its other fds', () => {
    const links = fixture('fd.links').trimEnd().split('\n');
    const found = links.map(socketInode).filter((inode) => inode !== undefined);
    const held = Object.values(capture.sockets).map((s) => s.inode);
    expect(found.sort((a, b) => a - b)).toEqual(held.sort((a, b) => a - b));
    for (const other of links.filter((l) => !l.startsWith('socket:'))) {
      expect(socketInode(other)).toBeUndefined();
    }
  });

  it('rejects look-alikes', () => {
    expect(socketInode('socket:[12345]')).toBe(12345);
    for (const link of ['socket:[]', 'socket:[12a]', 'socket:12345', 'socket:[12345', 'pipe:[10844]', 'anon_inode:[eventpoll]', '']) {
      expect(socketInode(link)).toBeUndefined();
    }
  });
});

describe('parseNsInode', () => {
  it('reads the network namespace inode, the same number stat() gives', () => {
    expect(parseNsInode(fixture('ns-net.link').trimEnd())).toBe(capture.netnsInode);
  });

  it('rejects other namespaces and garbled targets', () => {
    for (const link of ['mnt:[4026531841]', 'net:[]', 'net:4026531840', 'net:[40265x]', '']) {
      expect(parseNsInode(link)).toBeUndefined();
    }
  });
});

describe('parseCapEff', () => {
  const CAP_NET_ADMIN = 1n << 12n;
  const CAP_SYS_PTRACE = 1n << 19n;

  it('reads exactly the capabilities setpriv granted', () => {
    expect(parseCapEff(fixture('status.unprivileged'))).toBe(0n);
    expect(parseCapEff(fixture('status.net-admin-ptrace'))).toBe(CAP_NET_ADMIN | CAP_SYS_PTRACE);
  });

  it('reads root as it ran in the capture sandbox: everything but CAP_SYS_RESOURCE (bit 24)', () => {
    expect(parseCapEff(fixture('status.root'))).toBe(0x000001fffeffffffn);
  });

  it('returns undefined without a readable CapEff line', () => {
    expect(parseCapEff('Name:\tx\nCapPrm:\t0000000000000000\n')).toBeUndefined();
    expect(parseCapEff('CapEff:\tzz\n')).toBeUndefined();
    expect(parseCapEff('CapEff:\t\n')).toBeUndefined();
    expect(parseCapEff('CapEff:\t10000000000000000\n')).toBeUndefined();
  });
});

describe('parseCapSet', () => {
  it('reads the ambient set setpriv granted, and the other sets by name', () => {
    expect(parseCapSet(fixture('status.net-admin-ptrace'), 'CapAmb')).toBe((1n << 12n) | (1n << 19n));
    expect(parseCapSet(fixture('status.unprivileged'), 'CapAmb')).toBe(0n);
    expect(parseCapSet('Name:\tx\n', 'CapAmb')).toBeUndefined();
  });
});

describe('parseContainerId', () => {
  const id = '3f1e5c8b9a2d4e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7';

  it('finds no container for host processes of this machine (real cgroup v1 + v2 hybrid)', () => {
    // Their memory cgroup is named with 32 hex characters; a container id has 64.
    expect(parseContainerId(fixture('cgroup.host'))).toBeUndefined();
    expect(parseContainerId(fixture('cgroup.init'))).toBeUndefined();
  });

  it('finds no container for init.scope or the root cgroup', () => {
    expect(parseContainerId(fixture('cgroup.init-scope'))).toBeUndefined();
    expect(parseContainerId(fixture('cgroup.root'))).toBeUndefined();
    expect(parseContainerId('')).toBeUndefined();
  });

  it.each([
    'cgroup.k8s-containerd-v2',
    'cgroup.crio-v2',
    'cgroup.docker-v1',
    'cgroup.k8s-cgroupfs-v1',
    'cgroup.containerd-systemd-v1',
  ])('finds the container id in %s (hand-written)', (name) => {
    expect(parseContainerId(fixture(name))).toBe(id);
  });

  it("does not put CRI-O's conmon, which runs beside the container, into it", () => {
    expect(parseContainerId(fixture('cgroup.crio-conmon-v2'))).toBeUndefined();
  });

  it('names the innermost container when containers nest', () => {
    const outer = 'a'.repeat(64);
    expect(parseContainerId(`0::/docker/${outer}/docker/${id}\n`)).toBe(id);
  });
});
