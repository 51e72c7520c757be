// hostIO.readLinks, hostIO.stat and hostIO.readLines, which the procfs source reads fd tables and
// net tables with, on the real /proc. (They belong with src/host/io.ts; they are here beside their caller.)
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostIO } from '../../../src/host/io.js';
import { readlinkOrEmpty } from '../../helpers/links.js';

describe('hostIO.readLinks', () => {
  let server: net.Server;
  beforeAll(async () => {
    server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('reads the socket links of an fd table as readdir and readlink one by one do', async () => {
    const dir = '/proc/self/fd';
    const sockets = (links: string[]) => links.filter((l) => l.startsWith('socket:[')).sort();
    const oneByOne = sockets(readdirSync(dir).map((fd) => readlinkOrEmpty(`${dir}/${fd}`)));
    const { names, targets } = await hostIO.readLinks!(dir);
    expect(oneByOne.length).toBeGreaterThan(0); // the listener at least
    expect(sockets(targets as string[])).toEqual(oneByOne);
    expect(names.length).toBe(targets.length);
  });

  it('lists but does not read the links it is told to skip', async () => {
    const dir = '/proc/self/fd';
    const socketFd = readdirSync(dir).find((fd) => readlinkOrEmpty(`${dir}/${fd}`).startsWith('socket:['))!;
    const { names, targets } = await hostIO.readLinks!(dir, (name) => name === socketFd);
    expect(names).toContain(socketFd);
    expect(targets[names.indexOf(socketFd)]).toBeUndefined();
    expect(targets.filter((t) => t === undefined)).toHaveLength(1);
    // Every other link is read, to its target: on a directory whose links cannot change meanwhile.
    const links = mkdtempSync(join(tmpdir(), 'read-links-'));
    try {
      for (const name of ['3', '4', '5']) symlinkSync(`target-${name}`, join(links, name));
      const table = await hostIO.readLinks!(links, (name) => name === '4');
      const byName = Object.fromEntries(table.names.map((name, i) => [name, table.targets[i]]));
      expect(byName).toStrictEqual({ 3: 'target-3', 4: undefined, 5: 'target-5' });
    } finally {
      rmSync(links, { recursive: true, force: true });
    }
  });

  it('rejects with ENOENT for a process that is gone', async () => {
    await expect(hostIO.readLinks!('/proc/999999999/fd')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('hostIO.stat on /proc, what the caches of fd tables and of identities rely on', () => {
  const [major = 0, minor = 0] = release().split('.').map(Number);
  const countsFds = major > 6 || (major === 6 && minor >= 2);

  it(`gives /proc/PID/fd's number of open fds as its size (${countsFds ? 'Linux 6.2 and later' : '0 before Linux 6.2'})`, async () => {
    const child = spawn('sleep', ['30'], { stdio: ['ignore', 'ignore', 'ignore'] });
    try {
      // Until it has exec'd sleep, the child is a copy of this process, with its fds.
      while (!readlinkOrEmpty(`/proc/${child.pid}/exe`).endsWith('/sleep')) await new Promise((r) => setTimeout(r, 10));
      // Just after exec, sleep's loader and locale still open and close files (a file being
      // opened counts before it is listed): let it settle into its sleep, then compare with
      // listings taken on both sides of the stat() that agree.
      await new Promise((r) => setTimeout(r, 300));
      const count = (): number => readdirSync(`/proc/${child.pid}/fd`).length;
      let before = await hostIO.stat(`/proc/${child.pid}/fd`);
      for (let tries = 0; ; tries++) {
        const listed = count();
        before = await hostIO.stat(`/proc/${child.pid}/fd`);
        if (count() === listed || tries === 50) {
          expect(before.size).toBe(countsFds ? listed : 0);
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      // The same process: the same directory, seconds apart.
      await new Promise((r) => setTimeout(r, 1100));
      expect((await hostIO.stat(`/proc/${child.pid}/fd`)).ino).toBe(before.ino);
      expect((await hostIO.stat(`/proc/${child.pid}`)).ino).toBe((await hostIO.stat(`/proc/${child.pid}`)).ino);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('gives every process directory its own inode number', async () => {
    const pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
    const inodes = await Promise.all(pids.map((pid) => hostIO.stat(`/proc/${pid}`).then(({ ino }) => ino, () => undefined)));
    const seen = inodes.filter((ino) => ino !== undefined);
    expect(seen.length).toBeGreaterThan(1);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('rejects with ENOENT for a process that is gone', async () => {
    await expect(hostIO.stat('/proc/999999999/fd')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('hostIO.readLines', () => {
  const dir = mkdtempSync(join(tmpdir(), 'read-lines-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('hands over a file byte for byte, in blocks that end at a newline', async () => {
    // Multi-byte characters around every 64 KiB block boundary, and no newline at the end.
    const text = Array.from({ length: 5000 }, (_, i) => `${i} ${'ü€😀'.repeat(i % 31)}`).join('\n');
    const path = join(dir, 'lines.txt');
    writeFileSync(path, text);
    const blocks: string[] = [];
    await hostIO.readLines!(path, (block) => blocks.push(block));
    expect(blocks.join('')).toBe(text);
    expect(blocks.length).toBeGreaterThan(1);
    for (const block of blocks.slice(0, -1)) expect(block.endsWith('\n')).toBe(true);
  });

  it('reads a /proc table, which has no size, to its end', async () => {
    const blocks: string[] = [];
    await hostIO.readLines!('/proc/self/net/tcp', (block) => blocks.push(block));
    expect(blocks[0]).toMatch(/^\s*sl\s+local_address/);
    expect(blocks.join('').endsWith('\n')).toBe(true);
    expect(readFileSync('/proc/self/net/tcp', 'utf8').split('\n', 1)[0]).toBe(blocks[0]!.split('\n', 1)[0]);
  });
});
