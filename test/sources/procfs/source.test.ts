// The procfs source over a fake /proc: sockets from the net tables of each network namespace,
// owners from the socket links in each process's fd table.
import { describe, expect, it } from 'vitest';
import { loadInvocation } from '../../../src/config/load.js';
import { createProcfsSource } from '../../../src/sources/procfs/source.js';
import type { HostIO } from '../../../src/sources/types.js';
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
    host.spawn(Number(pid), `p${pid}`);
    host.links.set(`/proc/${pid}/ns/net`, `net:[${pid === '300' ? OTHER_NS : HOST_NS}]`);
    for (const [fd, target] of Object.entries(table)) host.links.set(`/proc/${pid}/fd/${fd}`, target);
  }
  host.spawn(400, 'gone');
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
    const collection = await createProcfsSource({ config, io: fakeProc(), privileges }).collect();
    expect(collection).toEqual({ sockets: EXPECTED, errors: { parse: 0, permission: 0 } });
  });

  it('reads the same through readdir and readlink on a host without readLinks and readLines', async () => {
    const host = fakeProc();
    const io: HostIO = {
      readFile: (path) => host.readFile(path),
      readdir: (path) => host.readdir(path),
      readlink: (path) => host.readlink(path),
      run: (file, args) => host.run(file, args),
      now: host.now,
    };
    const collection = await createProcfsSource({ config, io, privileges }).collect();
    expect(collection).toEqual({ sockets: EXPECTED, errors: { parse: 0, permission: 0 } });
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
    await createProcfsSource({ config, io: host, privileges }).collect();
    expect(most).toBe(1);
  });

  it('counts a process whose fd table it may not read, and keeps the rest', async () => {
    const host = fakeProc();
    const readLinks = host.readLinks.bind(host);
    host.readLinks = async (dir) => {
      if (dir === '/proc/200/fd') throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
      return readLinks(dir);
    };
    const { sockets, errors } = await createProcfsSource({ config, io: host, privileges }).collect();
    expect(errors).toEqual({ parse: 0, permission: 1 });
    expect(sockets!.find((s) => s.id === 'ino:111')?.pids).toEqual([100]);
    expect(sockets!.find((s) => s.id === 'ino:333')?.pids).toEqual([]);
  });

  it('counts a garbled row of a table and reads the others', async () => {
    const host = fakeProc();
    host.files.set('/proc/300/net/tcp', [HEADER, row(0, 5432, 0, '0A', 444), '   1: 0100007F:1538 0100007F', ''].join('\n'));
    const { sockets, errors } = await createProcfsSource({ config, io: host, privileges }).collect();
    expect(errors.parse).toBe(1);
    expect(sockets).toEqual(EXPECTED);
  });
});
