// The ss source over a fake host: it runs `ss` with SS_ARGS (no -p) and parses what it printed,
// the same however many lines the host hands over in one block, and takes the owners of the
// sockets from the fd tables of a fake /proc. The ss output is real (test/fixtures/ss, captured
// by capture.sh), and so are the fd tables: the capture read the socket links of each process's
// /proc/PID/fd when ss ran, into manifest.json.
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ctxOf } from '../../helpers/source-context.js';
import { loadInvocation } from '../../../src/config/load.js';
import type { AgentConfig } from '../../../src/config/schema.js';
import { parseSs } from '../../../src/sources/ss/parse.js';
import { createSsSource, SS_ARGS } from '../../../src/sources/ss/source.js';
import type { SocketRecord } from '../../../src/sources/types.js';
import { FakeHost } from '../../helpers/fake-host.js';

const configWith = (...args: string[]): AgentConfig =>
  loadInvocation(['run', '--sources', 'ss', '--no-prometheus', '--log-level', 'silent', ...args], {}).config;
const config = configWith();
const privileges = { uid: 0, effective: 0n };
const command = [config.ss.path, ...SS_ARGS].join(' ');
const NS = 'net:[4026531840]';

function fixture(name: string): string {
  return fs.readFileSync(new URL(`../../fixtures/ss/${name}`, import.meta.url), 'utf8');
}

/** pid -> fd -> socket inode, as the capture read them from /proc/PID/fd. */
type FdTables = Record<string, Record<string, number>>;
interface Manifest {
  capturePid: number;
  basic: {
    estab4: { clientIno: number; serverIno: number };
    timewait: { clientPort: number };
    listen4: { port: number };
    udpNobody: { ino: number; pid: number };
    fdTables: FdTables;
  };
  shared: { tcpIno: number; udpIno: number; parentPid: number; childPid: number; fdTables: FdTables };
}
const m = JSON.parse(fixture('manifest.json')) as Manifest;

/** Every capture, the broken one included, one after the other. */
const output = ['basic.txt', 'shared.txt', 'truncated.txt'].map(fixture).join('');
/** The fd tables of every process of the captures. */
const TABLES: FdTables = { ...m.basic.fdTables, ...m.shared.fdTables };

/** A host whose ss prints `text` and whose /proc holds the processes and fd tables given. */
function hostWith(text: string, tables: FdTables = TABLES): FakeHost {
  const host = new FakeHost();
  host.commands.set(command, text);
  host.links.set('/proc/self/ns/net', NS);
  for (const [pid, fds] of Object.entries(tables)) {
    host.startProcess(Number(pid), `p${pid}`);
    host.links.set(`/proc/${pid}/ns/net`, NS);
    host.links.set(`/proc/${pid}/fd/0`, '/dev/null');
    for (const [fd, inode] of Object.entries(fds)) host.links.set(`/proc/${pid}/fd/${fd}`, `socket:[${inode}]`);
  }
  return host;
}

function collect(host: FakeHost, agentConfig = config) {
  return createSsSource(ctxOf('ss', { config: agentConfig, io: host, privileges })).collect();
}

/** The pids whose fd tables hold `inode`, ascending, each once. */
function holdersIn(tables: FdTables, inode: number): number[] {
  const pids = Object.entries(tables).filter(([, fds]) => Object.values(fds).includes(inode));
  return pids.map(([pid]) => Number(pid)).sort((a, b) => a - b);
}

/** What parseSs reads from `text`, with the owners the fd tables give by inode. */
function expectedSockets(text: string, tables: FdTables = TABLES): SocketRecord[] {
  const { sockets, inodes } = parseSs(text);
  return sockets.map((s, i) => ({ ...s, pids: inodes[i] === 0 ? [] : holdersIn(tables, inodes[i]!) }));
}

function byId(sockets: SocketRecord[] | undefined, id: string): SocketRecord {
  const found = sockets!.filter((s) => s.id === id);
  expect(found, id).toHaveLength(1);
  return found[0]!;
}

describe('ss source', () => {
  it('gives a socket held by two processes both pids, ascending, once each', async () => {
    // sh-parent holds the listener on two fds (dup) and forked sh-child, which holds both sockets too.
    const { sockets } = await collect(hostWith(fixture('shared.txt')));
    const both = [m.shared.parentPid, m.shared.childPid].sort((a, b) => a - b);
    expect(byId(sockets, `ino:${m.shared.tcpIno}`).pids).toEqual(both);
    expect(byId(sockets, `ino:${m.shared.udpIno}`).pids).toEqual(both);
  });

  it('gives each socket the processes whose fd tables hold its inode', async () => {
    const { sockets } = await collect(hostWith(fixture('basic.txt')));
    expect(sockets).toEqual(expectedSockets(fixture('basic.txt')));
    expect(byId(sockets, `ino:${m.basic.estab4.clientIno}`).pids).toEqual([m.capturePid]);
    expect(byId(sockets, `ino:${m.basic.udpNobody.ino}`).pids).toEqual([m.basic.udpNobody.pid]);
  });

  it('reads the network namespace of no process: ss lists its own only', async () => {
    const host = hostWith(fixture('basic.txt'));
    const nsReads: string[] = [];
    const readlink = host.readlink.bind(host);
    host.readlink = (path) => {
      if (path.endsWith('/ns/net')) nsReads.push(path);
      return readlink(path);
    };
    const { sockets } = await collect(host);
    expect(sockets).toEqual(expectedSockets(fixture('basic.txt')));
    expect(nsReads).toEqual([]);
  });

  it('gives a TIME-WAIT socket (no inode) no owner, under its tuple', async () => {
    const { sockets } = await collect(hostWith(fixture('basic.txt')));
    const tuple = `tuple:tcp:127.0.0.1:${m.basic.timewait.clientPort}->127.0.0.1:${m.basic.listen4.port}`;
    expect(byId(sockets, tuple)).toMatchObject({ state: 'time_wait', pids: [] });
  });

  it('gives a socket that no fd table holds no owner', async () => {
    // The uid 65534 process has exited (its socket lives on in the kernel, say), so no fd holds it.
    const { [String(m.basic.udpNobody.pid)]: _gone, ...rest } = m.basic.fdTables;
    const { sockets, errors } = await collect(hostWith(fixture('basic.txt'), rest));
    expect(byId(sockets, `ino:${m.basic.udpNobody.ino}`).pids).toEqual([]);
    expect(byId(sockets, `ino:${m.basic.estab4.clientIno}`).pids).toEqual([m.capturePid]);
    expect(errors).toEqual({ parse: 0, permission: 0, process: 0 });
  });

  it('reports from output handed over in blocks exactly what it reports from it whole', async () => {
    const whole = parseSs(output);
    expect(whole.sockets.length).toBeGreaterThan(20);
    const expected = { sockets: expectedSockets(output), processDirs: expect.any(Map), errors: { parse: whole.skipped, permission: 0, process: 0 } };
    for (const blockLines of [1, 2, 7, 1000]) {
      const host = hostWith(output);
      host.blockLines = blockLines;
      expect(await collect(host), `${blockLines} lines a block`).toEqual(expected);
    }
  });

  it('counts a process whose fd table it may not read, and leaves its sockets without that owner', async () => {
    const host = hostWith(fixture('shared.txt'));
    const readLinks = host.readLinks.bind(host);
    host.readLinks = async (dir, skip) => {
      if (dir === `/proc/${m.shared.childPid}/fd`) throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
      return readLinks(dir, skip);
    };
    const { sockets, errors } = await collect(host);
    expect(errors).toEqual({ parse: 0, permission: 1, process: 0 });
    expect(byId(sockets, `ino:${m.shared.tcpIno}`).pids).toEqual([m.shared.parentPid]);
  });

  it('reads the fd tables while ss runs, not after', async () => {
    const host = hostWith(fixture('basic.txt'));
    const events: string[] = [];
    const runLines = host.runLines.bind(host);
    host.runLines = async (file, args, onLines) => {
      events.push('ss started');
      await sleep(50);
      events.push('ss ended');
      return runLines(file, args, onLines);
    };
    const readLinks = host.readLinks.bind(host);
    host.readLinks = async (dir, skip) => {
      events.push('fd table');
      return readLinks(dir, skip);
    };
    await collect(host);
    expect(events[0]).toBe('ss started');
    expect(events.indexOf('fd table')).toBeGreaterThan(0);
    expect(events.indexOf('fd table')).toBeLessThan(events.indexOf('ss ended'));
  });

  it('fails the collection when ss fails, once the scan of the fd tables is over', async () => {
    const host = hostWith(output);
    host.commands.clear();
    let reading = 0;
    let read = 0;
    const readLinks = host.readLinks.bind(host);
    host.readLinks = async (dir, skip) => {
      reading++;
      await sleep(5);
      reading--;
      read++;
      return readLinks(dir, skip);
    };
    await expect(collect(host)).rejects.toThrow();
    // A scan left running would share the fd table cache with the next cycle's.
    expect(reading).toBe(0);
    expect(read).toBe(Object.keys(TABLES).length);
  });

  it('fails the collection when ss prints no socket', async () => {
    await expect(collect(hostWith(''))).rejects.toThrow('ss printed no socket at all');
    await expect(collect(hostWith('garbage\n'))).rejects.toThrow('ss printed 1 lines and not one socket could be read');
  });

  describe('the cache of fd tables (ss.fdCacheMaxAge)', () => {
    const BIG = 500;
    const FIRST_INODE = 10_000;
    const COUNT = 200;
    const line = (inode: number, i: number): string =>
      `tcp ESTAB 0 0 127.0.0.1:${20000 + i} 127.0.0.1:8080 ino:${inode} sk:${i.toString(16)} cgroup:/ <-> cwnd:10 bytes_acked:1 segs_in:1 segs_out:1\n`;
    const inodes = Array.from({ length: COUNT }, (_, i) => FIRST_INODE + i);
    const tables: FdTables = { [BIG]: Object.fromEntries(inodes.map((inode, i) => [String(10 + i), inode])) };

    /** Links of pid BIG read in each of `cycles` cycles. */
    async function linksReadPerCycle(agentConfig: AgentConfig, cycles: number): Promise<number[]> {
      const host = hostWith(inodes.map(line).join(''), tables);
      const source = createSsSource(ctxOf('ss', { config: agentConfig, io: host, privileges }));
      const counts: number[] = [];
      for (let i = 0; i < cycles; i++) {
        host.linksRead = [];
        const { sockets } = await source.collect();
        expect(sockets!.every((s) => s.pids.length === 1 && s.pids[0] === BIG)).toBe(true);
        counts.push(host.linksRead.filter((path) => path.startsWith(`/proc/${BIG}/fd/`)).length);
      }
      return counts;
    }

    it('by default reads a table whole, then keeps it: an unchanged table costs no link by the fourth cycle', async () => {
      // How many cycles it takes to trust a table is the cache's business (src/host/proc/fd-tables.ts).
      const counts = await linksReadPerCycle(config, 4);
      expect(counts[0]).toBe(COUNT + 1);
      expect(counts[3]).toBe(0);
    });

    it('set empty, reads every link every cycle', async () => {
      expect(await linksReadPerCycle(configWith('--ss-fd-cache-max-age', ''), 4)).toEqual([COUNT + 1, COUNT + 1, COUNT + 1, COUNT + 1]);
    });
  });
});

describe('ss source probe', () => {
  function probeHost(): FakeHost {
    const host = hostWith(output);
    host.commands.set(`${config.ss.path} --version`, 'ss utility, iproute2-6.1.0\n');
    host.commands.set(`${config.ss.path} -t -a -n -H`, '');
    return host;
  }

  it('is usable when ss runs and /proc/self/fd can be read', async () => {
    const host = probeHost();
    host.links.set('/proc/self/fd/0', '/dev/null');
    const result = await createSsSource(ctxOf('ss', { config, io: host, privileges })).probe();
    expect(result).toMatchObject({ usable: true, problems: [], details: ['ss utility, iproute2-6.1.0'] });
  });

  it('is not usable when /proc/self/fd cannot be read, and says to check procRoot', async () => {
    const host = probeHost();
    const readdir = host.readdir.bind(host);
    host.readdir = async (path) => {
      if (path === '/proc/self/fd') throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
      return readdir(path);
    };
    const result = await createSsSource(ctxOf('ss', { config, io: host, privileges })).probe();
    expect(result.usable).toBe(false);
    expect(result.problems).toEqual([{ what: expect.stringContaining('cannot read /proc/self/fd'), fix: expect.stringContaining('check procRoot (now /proc)') }]);
  });
});
