// ProcessResolver: a PID's identity is read from /proc/PID/stat when its directory is new to it,
// and kept, without a read, while /proc/PID is the same instance of the directory.
import { describe, expect, it } from 'vitest';
import { ProcessResolver } from '../../src/host/processes.js';
import { FakeHost } from '../helpers/fake-host.js';

/** A FakeHost that counts the reads of each /proc/PID/stat. */
function countingHost(): { host: FakeHost; statReads: () => number } {
  const host = new FakeHost();
  let reads = 0;
  const readFile = host.readFile.bind(host);
  host.readFile = (path) => {
    if (/^\/proc\/\d+\/stat$/.test(path)) reads++;
    return readFile(path);
  };
  return { host, statReads: () => reads };
}

describe('ProcessResolver', () => {
  it('reads a process’s stat once, then keeps its identity while /proc/PID is the same directory', async () => {
    const { host, statReads } = countingHost();
    host.startProcess(42, 'web', 4_200);
    const resolver = await ProcessResolver.create(host, '/proc');
    const first = await resolver.resolve(42);
    expect(first).toMatchObject({ key: '42/4200', name: 'web' });
    expect(statReads()).toBe(1);
    for (let cycle = 0; cycle < 3; cycle++) {
      resolver.beginCycle();
      expect(await resolver.resolve(42)).toBe(first);
    }
    expect(statReads()).toBe(1);
  });

  it('reads stat again for another process under the same PID, and gives it a new identity', async () => {
    const { host, statReads } = countingHost();
    host.startProcess(42, 'web', 4_200);
    const resolver = await ProcessResolver.create(host, '/proc');
    await resolver.resolve(42);
    host.exit(42);
    host.startProcess(42, 'cron', 9_900);
    resolver.beginCycle();
    expect(await resolver.resolve(42)).toMatchObject({ key: '42/9900', name: 'cron' });
    expect(statReads()).toBe(2);
  });

  it('says a process that exited is gone', async () => {
    const { host } = countingHost();
    host.startProcess(42, 'web', 4_200);
    const resolver = await ProcessResolver.create(host, '/proc');
    const identity = (await resolver.resolve(42))!;
    host.exit(42);
    resolver.beginCycle();
    expect(await resolver.resolve(42)).toBeUndefined();
    expect(await resolver.isAlive(identity)).toBe(false);
  });

  it('reads stat every cycle where stat() of /proc/PID fails', async () => {
    const { host, statReads } = countingHost();
    host.startProcess(42, 'web', 4_200);
    host.stat = () => Promise.reject(Object.assign(new Error('no stat'), { code: 'EACCES' }));
    const resolver = await ProcessResolver.create(host, '/proc');
    for (let cycle = 0; cycle < 3; cycle++) {
      resolver.beginCycle();
      expect(await resolver.resolve(42)).toMatchObject({ key: '42/4200' });
    }
    expect(statReads()).toBe(3);
  });
});

describe('ProcessResolver with what a source’s fd scan saw', () => {
  it('takes the /proc/PID/fd instance a source stat()ed this cycle instead of its own stat()', async () => {
    const { host, statReads } = countingHost();
    host.startProcess(42, 'web', 4_200);
    let stats = 0;
    const stat = host.stat.bind(host);
    host.stat = (path) => (stats++, stat(path));
    const resolver = await ProcessResolver.create(host, '/proc');
    const first = await resolver.resolve(42);
    const { ino } = await stat('/proc/42/fd');
    stats = 0;
    for (let cycle = 0; cycle < 3; cycle++) {
      resolver.beginCycle();
      resolver.learnDirs(new Map([[42, ino]]));
      expect(await resolver.resolve(42)).toBe(first);
    }
    expect({ stats, statReads: statReads() }).toEqual({ stats: 0, statReads: 1 });
    // A source that saw another instance: another process under the PID, whose stat is read.
    host.exit(42);
    host.startProcess(42, 'cron', 9_900);
    resolver.beginCycle();
    resolver.learnDirs(new Map([[42, (await stat('/proc/42/fd')).ino]]));
    expect(await resolver.resolve(42)).toMatchObject({ key: '42/9900', name: 'cron' });
  });
});
