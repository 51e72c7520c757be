// The procfs source over a fake /proc: sockets from the net tables of each network namespace,
// owners from the socket links in each process's fd table.
import { describe, expect, it } from 'vitest';
import { ctxOf } from '../../helpers/source-context.js';
import { loadInvocation } from '../../../src/config/load.js';
import { createProcfsSource } from '../../../src/sources/procfs/source.js';
import { FakeHost } from '../../helpers/fake-host.js';

const { config } = loadInvocation(['run', '--sources', 'procfs', '--no-prometheus', '--log-level', 'silent'], {});
const privileges = { uid: 0, effective: 0n };
const HOST_NS = 4026531840;
const OTHER_NS = 4026532000;

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
/** A /proc/net/tcp row as the kernel prints it; state 01 is ESTABLISHED, 0A LISTEN, 06 TIME_WAIT. */
function row(sl: number, localPort: number, remotePort: number, state: string, inode: number): string {
  const port = (p: number) => p.toString(16).toUpperCase().padStart(4, '0');
  return `${String(sl).padStart(4)}: 0100007F:${port(localPort)} 0100007F:${port(remotePort)} ${state} 00000000:00000000 00:00000000 00000000  1000        0 ${inode} 1 0000000000000000 20 4 30 10 -1`;
}

/**
 * Host netns: pid 100 holds sockets 111 and 222, pid 200 (forked from it) holds 111 too and
 * 333; socket 555 has no holder left; one TIME_WAIT socket (inode 0). Pid 300 lives in another
 * netns and holds 444 there. Pid 400 exited before its fd table was read.
 */
function fakeProc(): FakeHost {
  const host = new FakeHost();
  host.links.set('/proc/self/ns/net', `net:[${HOST_NS}]`);
  const fds: Record<number, Record<number, string>> = {
    100: { 0: '/dev/null', 3: 'socket:[111]', 4: 'socket:[222]', 5: 'pipe:[9]' },
    200: { 0: '/dev/null', 3: 'socket:[111]', 7: 'socket:[333]' },
    300: { 3: 'socket:[444]', 4: 'anon_inode:[eventpoll]' },
  };
  for (const [pid, table] of Object.entries(fds)) {
    host.startProcess(Number(pid), `p${pid}`);
    host.links.set(`/proc/${pid}/ns/net`, `net:[${pid === '300' ? OTHER_NS : HOST_NS}]`);
    for (const [fd, target] of Object.entries(table)) host.links.set(`/proc/${pid}/fd/${fd}`, target);
  }
  host.startProcess(400, 'gone');
  host.files.set(
    '/proc/self/net/tcp',
    [HEADER, row(0, 8080, 0, '0A', 111), row(1, 8080, 40000, '01', 222), row(2, 40000, 8080, '01', 333), row(3, 40001, 8080, '06', 0), row(4, 9000, 0, '0A', 555), ''].join('\n'),
  );
  host.files.set('/proc/300/net/tcp', [HEADER, row(0, 5432, 0, '0A', 444), ''].join('\n'));
  return host;
}

const EXPECTED = [
  { id: 'ino:111', transport: 'tcp', state: 'listen', pids: [100, 200] },
  { id: 'ino:222', transport: 'tcp', state: 'established', pids: [100] },
  { id: 'ino:333', transport: 'tcp', state: 'established', pids: [200] },
  { id: `tuple:${HOST_NS}:tcp:127.0.0.1:40001->127.0.0.1:8080`, transport: 'tcp', state: 'time_wait', pids: [] },
  { id: 'ino:555', transport: 'tcp', state: 'listen', pids: [] },
  { id: 'ino:444', transport: 'tcp', state: 'listen', pids: [300] },
];

describe('procfs source', () => {
  it('names every socket of every netns by its inode and gives it the pids holding it, ascending', async () => {
    const collection = await createProcfsSource(ctxOf('procfs', { config, io: fakeProc(), privileges })).collect();
    expect(collection).toEqual({ sockets: EXPECTED, processDirs: expect.any(Map), errors: { parse: 0, permission: 0, process: 0, net_table: 0 } });
  });

  it('hands over the /proc/PID/fd instance of each process its scan stat()ed, for the process identities', async () => {
    const host = fakeProc();
    const { processDirs } = await createProcfsSource(ctxOf('procfs', { config, io: host, privileges })).collect();
    // 400 is gone: its fd directory is not there to stat().
    expect([...processDirs!.keys()].sort()).toEqual([100, 200, 300]);
    for (const [pid, ino] of processDirs!) expect(ino).toBe((await host.stat(`/proc/${pid}/fd`)).ino);
  });

  it('lists a socket two tables list (a netns read twice, its reader having moved meanwhile) once, as the first table has it', async () => {
    const host = fakeProc();
    host.files.set('/proc/300/net/tcp', [HEADER, row(0, 5432, 0, '0A', 444), row(1, 8080, 40000, '08', 222), row(2, 40000, 8080, '01', 333), ''].join('\n'));
    const { sockets } = await createProcfsSource(ctxOf('procfs', { config, io: host, privileges })).collect();
    expect(sockets).toEqual(EXPECTED);
  });

  it('reads the same however many lines of a net table the host hands over at once', async () => {
    for (const blockLines of [1, 2, 1000]) {
      const host = fakeProc();
      host.blockLines = blockLines;
      const collection = await createProcfsSource(ctxOf('procfs', { config, io: host, privileges })).collect();
      expect(collection, `${blockLines} lines a block`).toEqual({ sockets: EXPECTED, processDirs: expect.any(Map), errors: { parse: 0, permission: 0, process: 0, net_table: 0 } });
    }
  });

  it('reads one fd table at a time, so the event loop waits for one table at most', async () => {
    const host = fakeProc();
    let reading = 0;
    let most = 0;
    const readLinks = host.readLinks.bind(host);
    host.readLinks = async (dir) => {
      most = Math.max(most, ++reading);
      await new Promise((resolve) => setTimeout(resolve, 1));
      reading--;
      return readLinks(dir);
    };
    await createProcfsSource(ctxOf('procfs', { config, io: host, privileges })).collect();
    expect(most).toBe(1);
  });

  it('counts a process whose fd table it may not read, and keeps the rest', async () => {
    const host = fakeProc();
    const readLinks = host.readLinks.bind(host);
    host.readLinks = async (dir) => {
      if (dir === '/proc/200/fd') throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
      return readLinks(dir);
    };
    const { sockets, errors } = await createProcfsSource(ctxOf('procfs', { config, io: host, privileges })).collect();
    expect(errors).toEqual({ parse: 0, permission: 1, process: 0, net_table: 0 });
    expect(sockets!.find((s) => s.id === 'ino:111')?.pids).toEqual([100]);
    expect(sockets!.find((s) => s.id === 'ino:333')?.pids).toEqual([]);
  });

  it('counts a process whose fd table fails with an unexpected errno, skips it, and returns every other process', async () => {
    const host = fakeProc();
    const readLinks = host.readLinks.bind(host);
    host.readLinks = async (dir) => {
      if (dir === '/proc/200/fd') throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
      return readLinks(dir);
    };
    const { sockets, errors } = await createProcfsSource(ctxOf('procfs', { config, io: host, privileges })).collect();
    expect(errors).toEqual({ parse: 0, permission: 0, process: 1, net_table: 0 });
    // Pid 200's sockets lose their owner; everything else is as without the fault.
    const without200 = EXPECTED.map((s) => ({ ...s, pids: s.pids.filter((pid) => pid !== 200) }));
    expect(sockets).toEqual(without200);
  });

  it('counts a net table it may not read as permission, and one that fails otherwise as net_table', async () => {
    const host = fakeProc();
    const readLines = host.readLines.bind(host);
    host.readLines = async (path, onLines) => {
      if (path === '/proc/300/net/tcp') throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
      if (path === '/proc/self/net/tcp') throw Object.assign(new Error('EIO'), { code: 'EIO' });
      return readLines(path, onLines);
    };
    const { sockets, errors } = await createProcfsSource(ctxOf('procfs', { config, io: host, privileges })).collect();
    expect(errors).toEqual({ parse: 0, permission: 1, process: 0, net_table: 1 });
    expect(sockets).toEqual([]);
  });

  it('counts a garbled row of a table and reads the others', async () => {
    const host = fakeProc();
    host.files.set('/proc/300/net/tcp', [HEADER, row(0, 5432, 0, '0A', 444), '   1: 0100007F:1538 0100007F', ''].join('\n'));
    const { sockets, errors } = await createProcfsSource(ctxOf('procfs', { config, io: host, privileges })).collect();
    expect(errors.parse).toBe(1);
    expect(sockets).toEqual(EXPECTED);
  });
});

describe('procfs source: the cache of large fd tables', () => {
  const cached = (maxAge = '60s') =>
    loadInvocation(['run', '--sources', 'procfs', '--no-prometheus', '--procfs-fd-cache-max-age', maxAge], {}).config;
  const BIG = 500; // pid with a large table
  const PEER = 600; // a small process
  const FIRST_INODE = 10_000;
  const COUNT = 200; // >= MIN_CACHED_FDS

  /** pid 500 holds sockets 10000..10199 on fds 10..209 and a log file on fd 3; all listed ESTABLISHED. */
  function bigHost(): FakeHost {
    const host = new FakeHost();
    host.links.set('/proc/self/ns/net', `net:[${HOST_NS}]`);
    for (const pid of [BIG, PEER]) {
      host.startProcess(pid, `p${pid}`);
      host.links.set(`/proc/${pid}/ns/net`, `net:[${HOST_NS}]`);
    }
    host.links.set(`/proc/${BIG}/fd/3`, '/var/log/app.log');
    for (let i = 0; i < COUNT; i++) host.links.set(`/proc/${BIG}/fd/${10 + i}`, `socket:[${FIRST_INODE + i}]`);
    host.links.set(`/proc/${PEER}/fd/0`, '/dev/null');
    setTable(host, range(FIRST_INODE, COUNT));
    return host;
  }
  function range(from: number, count: number): number[] {
    return Array.from({ length: count }, (_, i) => from + i);
  }
  function setTable(host: FakeHost, inodes: number[]): void {
    host.files.set('/proc/self/net/tcp', [HEADER, ...inodes.map((inode, i) => row(i, 20000 + (i % 40000), 8080, '01', inode)), ''].join('\n'));
  }
  /** inode -> pids, for the sockets with an inode. */
  async function owners(source: ReturnType<typeof createProcfsSource>): Promise<Map<number, number[]>> {
    const { sockets } = await source.collect();
    return new Map(sockets!.filter((s) => s.id.startsWith('ino:')).map((s) => [Number(s.id.slice(4)), s.pids]));
  }
  /** Links of pid 500 read by the last cycle. */
  function readBig(host: FakeHost): string[] {
    const read = host.linksRead.filter((path) => path.startsWith(`/proc/${BIG}/fd/`));
    host.linksRead = [];
    return read;
  }

  it('reads a large table whole once, then nothing while its fd count holds, then only new fd numbers', async () => {
    const host = bigHost();
    const source = createProcfsSource(ctxOf('procfs', { config: cached(), io: host, privileges }));
    const expected = new Map(range(FIRST_INODE, COUNT).map((inode) => [inode, [BIG]]));
    expect(await owners(source)).toEqual(expected);
    expect(readBig(host)).toHaveLength(COUNT + 1);
    for (let i = 0; i < 2; i++) {
      expect(await owners(source)).toEqual(expected);
      expect(readBig(host)).toEqual([]);
    }

    // A new connection on a new fd number: only that link is read.
    host.links.set(`/proc/${BIG}/fd/900`, 'socket:[20000]');
    setTable(host, [...range(FIRST_INODE, COUNT), 20000]);
    expect((await owners(source)).get(20000)).toEqual([BIG]);
    expect(readBig(host)).toEqual([`/proc/${BIG}/fd/900`]);
  });

  it('drops a closed fd at once, and reads the table whole when a reused fd number holds a new socket, a cycle later', async () => {
    const host = bigHost();
    const source = createProcfsSource(ctxOf('procfs', { config: cached(), io: host, privileges }));
    for (let i = 0; i < 3; i++) await owners(source);
    readBig(host);

    // fd 10 closed; its socket lives on in the small process (handed over before the close).
    host.links.delete(`/proc/${BIG}/fd/10`);
    host.links.set(`/proc/${PEER}/fd/5`, `socket:[${FIRST_INODE}]`);
    expect((await owners(source)).get(FIRST_INODE)).toEqual([PEER]);
    expect(readBig(host)).toEqual([]);

    // fd 11 closed and its number reused at once for a new socket: no fd read holds it. Given a
    // cycle (it could be a socket opened during the scan), then searched for in the whole table.
    host.links.set(`/proc/${BIG}/fd/11`, 'socket:[30000]');
    setTable(host, [...range(FIRST_INODE, COUNT).filter((inode) => inode !== FIRST_INODE + 1), 30000]);
    expect((await owners(source)).get(30000)).toEqual([]);
    expect(readBig(host)).toEqual([]);
    const now = await owners(source);
    expect(now.get(30000)).toEqual([BIG]);
    expect(now.has(FIRST_INODE + 1)).toBe(false);
    expect(readBig(host)).toHaveLength(COUNT); // whole: 199 sockets and the log file
    // Read whole, the table is cached afresh.
    await owners(source);
    expect(readBig(host)).toEqual([]);
  });

  it('searches for an unowned socket once, then remembers it', async () => {
    const host = bigHost();
    const source = createProcfsSource(ctxOf('procfs', { config: cached(), io: host, privileges }));
    for (let i = 0; i < 3; i++) await owners(source);
    readBig(host);
    // A socket held by no process (a kernel socket, or one held by a process it may not read).
    setTable(host, [...range(FIRST_INODE, COUNT), 40000]);
    for (const wholeReads of [0, COUNT + 1, 0, 0]) {
      expect((await owners(source)).get(40000)).toEqual([]);
      expect(readBig(host)).toHaveLength(wholeReads);
    }
  });

  it('finds a socket opened during the scan by a process read before it, without reading large tables', async () => {
    const host = bigHost();
    const source = createProcfsSource(ctxOf('procfs', { config: cached(), io: host, privileges }));
    for (let i = 0; i < 3; i++) await owners(source);
    readBig(host);
    // Listed in the net table, but the small process's fd was not there yet when it was read.
    setTable(host, [...range(FIRST_INODE, COUNT), 50000]);
    expect((await owners(source)).get(50000)).toEqual([]);
    host.links.set(`/proc/${PEER}/fd/7`, 'socket:[50000]');
    expect((await owners(source)).get(50000)).toEqual([PEER]);
    expect(readBig(host)).toEqual([]);
  });

  it('keeps crediting a socket whose fd number was reused for a file until the table is fdCacheMaxAge old', async () => {
    const host = bigHost();
    const source = createProcfsSource(ctxOf('procfs', { config: cached('30s'), io: host, privileges }));
    for (let i = 0; i < 3; i++) await owners(source);
    readBig(host);
    // fd 12's socket is handed to the small process, and fd 12 reused for a file: nothing shows it.
    host.links.set(`/proc/${BIG}/fd/12`, '/var/log/other.log');
    host.links.set(`/proc/${PEER}/fd/5`, `socket:[${FIRST_INODE + 2}]`);
    host.clock += 29_000;
    expect((await owners(source)).get(FIRST_INODE + 2)).toEqual([BIG, PEER]);
    expect(readBig(host)).toEqual([]);
    host.clock += 1_000;
    expect((await owners(source)).get(FIRST_INODE + 2)).toEqual([PEER]);
    expect(readBig(host)).toHaveLength(COUNT + 1);
  });

  it('reads the table whole when another process took the PID', async () => {
    const host = bigHost();
    const source = createProcfsSource(ctxOf('procfs', { config: cached(), io: host, privileges }));
    for (let i = 0; i < 3; i++) await owners(source);
    readBig(host);
    // Another process under the same PID, with the same fd numbers: its fd 13 holds a file, and
    // the socket that fd 13 held lives on in the small process.
    host.exit(BIG);
    host.startProcess(BIG, 'reborn', 123_456);
    host.links.set(`/proc/${BIG}/fd/13`, '/etc/hosts');
    host.links.set(`/proc/${PEER}/fd/5`, `socket:[${FIRST_INODE + 3}]`);
    expect((await owners(source)).get(FIRST_INODE + 3)).toEqual([PEER]);
    expect(readBig(host)).toHaveLength(COUNT + 1);
  });

  it('reads every link every cycle when fdCacheMaxAge is empty', async () => {
    const host = bigHost();
    const source = createProcfsSource(ctxOf('procfs', { config: cached(''), io: host, privileges }));
    for (let i = 0; i < 3; i++) {
      await owners(source);
      expect(readBig(host)).toHaveLength(COUNT + 1);
    }
  });

  it('serves small tables as kept while their fd count holds, and reads one whole when its count changed', async () => {
    const small = fakeProc();
    const source = createProcfsSource(ctxOf('procfs', { config: cached(), io: small, privileges }));
    for (const reads of [9, 0, 0]) {
      small.linksRead = [];
      expect((await source.collect()).sockets).toEqual(EXPECTED);
      expect(small.linksRead).toHaveLength(reads);
    }
    // pid 100 opens a file: its table is read whole, the others not at all.
    small.links.set('/proc/100/fd/9', '/etc/hosts');
    small.linksRead = [];
    expect((await source.collect()).sockets).toEqual(EXPECTED);
    expect(small.linksRead.sort()).toEqual([0, 3, 4, 5, 9].map((fd) => `/proc/100/fd/${fd}`));
  });

  it('finds a socket that took the place of another in a small table (same fd count) a cycle later', async () => {
    const host = bigHost();
    const source = createProcfsSource(ctxOf('procfs', { config: cached(), io: host, privileges }));
    host.links.set(`/proc/${PEER}/fd/4`, 'socket:[60000]');
    setTable(host, [...range(FIRST_INODE, COUNT), 60000]);
    for (let i = 0; i < 2; i++) expect((await owners(source)).get(60000)).toEqual([PEER]);
    readBig(host);
    // The small process closes its socket and opens another: fd 4 again, same count.
    host.links.set(`/proc/${PEER}/fd/4`, 'socket:[60001]');
    setTable(host, [...range(FIRST_INODE, COUNT), 60001]);
    expect((await owners(source)).get(60001)).toEqual([]);
    expect((await owners(source)).get(60001)).toEqual([PEER]);
    // Found by reading every table served from the cache whole, the large one too.
    expect(readBig(host)).toHaveLength(COUNT + 1);
  });

  it('serves a table without fds (a kernel thread\'s) as kept once some fd directory showed that the kernel counts fds', async () => {
    for (const counts of [true, false]) {
      const host = bigHost();
      host.reportsFdCount = counts;
      host.startProcess(2, 'kthreadd');
      host.emptyFdDirs.add(2);
      host.links.set('/proc/2/ns/net', `net:[${HOST_NS}]`);
      const source = createProcfsSource(ctxOf('procfs', { config: cached(), io: host, privileges }));
      for (const listed of [1, counts ? 0 : 1, counts ? 0 : 1]) {
        host.tablesListed = [];
        host.readlinks = [];
        expect((await owners(source)).get(FIRST_INODE)).toEqual([BIG]);
        expect(host.tablesListed.filter((dir) => dir === '/proc/2/fd'), `counts ${counts}`).toHaveLength(listed);
        expect(host.readlinks.includes('/proc/2/ns/net'), `counts ${counts}`).toBe(listed === 1);
      }
    }
  });

  describe('the netns of each process', () => {
    const THIRD_NS = 4026532100;
    const nsLinks = (host: FakeHost): string[] => {
      const read = host.readlinks.filter((path) => path.endsWith('/ns/net'));
      host.readlinks = [];
      return read;
    };
    /** bigHost, and pids 700 and 800 in OTHER_NS, holding sockets 70 and 80 there. */
    function twoNetns(): FakeHost {
      const host = bigHost();
      for (const pid of [700, 800]) {
        host.startProcess(pid, `p${pid}`);
        host.links.set(`/proc/${pid}/ns/net`, `net:[${OTHER_NS}]`);
        host.links.set(`/proc/${pid}/fd/3`, `socket:[${pid / 10}]`);
      }
      const other = [HEADER, row(0, 7000, 0, '0A', 70), row(1, 8000, 0, '0A', 80), ''].join('\n');
      host.files.set('/proc/700/net/tcp', other);
      host.files.set('/proc/800/net/tcp', other);
      return host;
    }
    const listed = async (source: ReturnType<typeof createProcfsSource>) =>
      new Map((await source.collect()).sockets!.map((s) => [s.id, s.pids]));

    it('serves it with a table served as kept, and reads only the link of the PID each netns is read through', async () => {
      const host = twoNetns();
      const source = createProcfsSource(ctxOf('procfs', { config: cached(), io: host, privileges }));
      expect((await listed(source)).get('ino:70')).toEqual([700]);
      expect(nsLinks(host).sort()).toEqual(['/proc/500/ns/net', '/proc/600/ns/net', '/proc/700/ns/net', '/proc/800/ns/net', '/proc/self/ns/net']);
      for (let i = 0; i < 2; i++) {
        const now = await listed(source);
        expect(now.get('ino:70')).toEqual([700]);
        expect(now.get('ino:80')).toEqual([800]);
        expect(nsLinks(host)).toEqual(['/proc/self/ns/net', '/proc/700/ns/net']);
      }
      // Off, every link every cycle.
      const uncached = createProcfsSource(ctxOf('procfs', { config: cached(''), io: host, privileges }));
      for (let i = 0; i < 2; i++) {
        await uncached.collect();
        expect(nsLinks(host)).toHaveLength(5);
      }
    });

    it('reads every netns again when the PID a netns was read through has moved, in that cycle', async () => {
      const host = twoNetns();
      const source = createProcfsSource(ctxOf('procfs', { config: cached(), io: host, privileges }));
      for (let i = 0; i < 2; i++) await listed(source);
      // 700 enters a third netns (setns) with its fd table as it was; its /proc/700/net now shows
      // that netns, where one TIME_WAIT socket is left.
      host.links.set('/proc/700/ns/net', `net:[${THIRD_NS}]`);
      host.files.set('/proc/700/net/tcp', [HEADER, row(0, 41000, 9000, '06', 0), ''].join('\n'));
      nsLinks(host);
      const now = await listed(source);
      // OTHER_NS read through 800, the third netns through 700, each socket under its own netns.
      expect(now.get('ino:70')).toEqual([700]);
      expect(now.get('ino:80')).toEqual([800]);
      expect(now.get(`tuple:${THIRD_NS}:tcp:127.0.0.1:41000->127.0.0.1:9000`)).toEqual([]);
      expect([...now.keys()].some((id) => id.startsWith(`tuple:${OTHER_NS}:`))).toBe(false);
      expect(nsLinks(host)).toContain('/proc/800/ns/net');
      // Then served from the cache again: only 700 and 800 are checked, each the reader of a netns.
      await listed(source);
      expect(nsLinks(host).sort()).toEqual(['/proc/700/ns/net', '/proc/800/ns/net', '/proc/self/ns/net']);
    });

    it('reads it again with a table whose fd count changed, and so finds a netns no other process is in', async () => {
      const host = twoNetns();
      const source = createProcfsSource(ctxOf('procfs', { config: cached(), io: host, privileges }));
      for (let i = 0; i < 2; i++) await listed(source);
      // 800 (not the PID OTHER_NS is read through) enters a third netns and opens a socket there.
      host.links.set('/proc/800/ns/net', `net:[${THIRD_NS}]`);
      host.links.set('/proc/800/fd/4', 'socket:[90]');
      host.files.set('/proc/800/net/tcp', [HEADER, row(0, 9000, 0, '0A', 90), ''].join('\n'));
      const now = await listed(source);
      expect(now.get('ino:90')).toEqual([800]);
      expect(now.get('ino:70')).toEqual([700]);
    });
  });

  it('lists a large table every cycle where the kernel gives no fd count (before Linux 6.2), reading only new fd numbers', async () => {
    const host = bigHost();
    host.reportsFdCount = false;
    const source = createProcfsSource(ctxOf('procfs', { config: cached(), io: host, privileges }));
    for (const reads of [COUNT + 1, 0, 0]) {
      await owners(source);
      expect(readBig(host)).toHaveLength(reads);
    }
    host.links.set(`/proc/${BIG}/fd/900`, 'socket:[20000]');
    setTable(host, [...range(FIRST_INODE, COUNT), 20000]);
    expect((await owners(source)).get(20000)).toEqual([BIG]);
    expect(readBig(host)).toEqual([`/proc/${BIG}/fd/900`]);
    // A small table is read whole every cycle there.
    const peerReads = (): number => host.linksRead.filter((path) => path.startsWith(`/proc/${PEER}/fd/`)).length;
    host.linksRead = [];
    await owners(source);
    expect(peerReads()).toBe(1);
  });
});
