// procfs: TCP/UDP sockets by state from /proc/PID/net/{tcp,tcp6,udp,udp6}, one read per network
// namespace, owners from the socket inodes behind /proc/PID/fd. Sees every netns through the PIDs
// living in it, without entering any (no CAP_SYS_ADMIN).
import type { Transport } from '../../semconv.js';
import { isDenied, isGone } from '../../host/io.js';
import type { SourceContext } from '../context.js';
import { pidMappingWarnings } from '../privileges.js';
import type { Collection, HostIO, ProbeResult, SocketRecord, Source } from '../types.js';
import { parseNetTable, parseNsInode, socketInode, type NetEntry } from './parse.js';

const TABLES: ReadonlyArray<[file: string, transport: Transport]> = [
  ['tcp', 'tcp'],
  ['tcp6', 'tcp'],
  ['udp', 'udp'],
  ['udp6', 'udp'],
];

interface NetTable {
  entries: NetEntry[];
  skipped: number;
}

interface Scan {
  /** socket inode -> the PID holding it, or the PIDs when several do (after a fork, or passed on) */
  owners: Map<number, number | number[]>;
  /** netns inode -> a PID inside it, whose /proc/PID/net shows that netns */
  namespaces: Map<number, string>;
  denied: number;
}

export function createProcfsSource(ctx: SourceContext): Source {
  const { io } = ctx;
  const root = ctx.config.procRoot;
  return {
    name: 'procfs',
    mode: 'polled',
    families: ['connections'],

    async probe(): Promise<ProbeResult> {
      const result: ProbeResult = { usable: true, problems: [], warnings: [], details: [] };
      try {
        await io.readFile(`${root}/self/net/tcp`);
        await io.readdir(`${root}/self/fd`);
      } catch (err) {
        result.usable = false;
        result.problems.push({
          what: `cannot read ${root}/self/net/tcp or ${root}/self/fd (${(err as NodeJS.ErrnoException).code ?? err})`,
          fix: `check procRoot (now ${root}); in Kubernetes, hostPID: true makes the container's /proc the host's, or mount the host's /proc (hostPath) and set procRoot to where it is mounted`,
        });
        return result;
      }
      result.warnings.push(...pidMappingWarnings(ctx.privileges, 'procfs'));
      return result;
    },

    collect: () => collect(io, root),
  };
}

/** Sockets from the net tables of every netns, with the processes holding them. */
async function collect(io: HostIO, root: string): Promise<Collection> {
  const scan = await scanProcesses(io, root);
  const sockets: SocketRecord[] = [];
  // Should two tables list a socket (its process moved to another netns meanwhile), keep the first.
  const seenInodes = new Set<number>();
  const seenTuples = new Set<string>();
  let skipped = 0;
  for (const [netns, pid] of scan.namespaces) {
    for (const [file, transport] of TABLES) {
      const table = await readTable(io, `${root}/${pid}/net/${file}`, transport);
      if (!table) continue; // the PID left, or the protocol (IPv6) is disabled
      skipped += table.skipped;
      for (const entry of table.entries) {
        let id: string;
        let pids: number[] = [];
        if (entry.inode !== 0) {
          if (seenInodes.has(entry.inode)) continue;
          seenInodes.add(entry.inode);
          id = `ino:${entry.inode}`;
          const holders = scan.owners.get(entry.inode);
          if (typeof holders === 'number') pids = [holders];
          // Handed over as is: each inode's array goes to one record only, and scan is dropped.
          else if (holders) pids = holders.sort((a, b) => a - b);
        } else {
          id = `tuple:${netns}:${transport}:${entry.local}->${entry.remote}`;
          if (seenTuples.has(id)) continue;
          seenTuples.add(id);
        }
        sockets.push({ id, transport, state: entry.state, pids });
      }
    }
  }
  return { sockets, errors: { parse: skipped, permission: scan.denied } };
}

/**
 * One table, parsed block by block when the host can read it so (parseNetTable reads each row
 * alone, so the result is the same); undefined when it cannot be read.
 */
async function readTable(io: HostIO, path: string, transport: Transport): Promise<NetTable | undefined> {
  try {
    // Sockets with an inode are named by it: their endpoints need not be decoded.
    if (!io.readLines) return parseNetTable(await io.readFile(path), transport, 'without-inode');
    const table: NetTable = { entries: [], skipped: 0 };
    await io.readLines(path, (text) => {
      const block = parseNetTable(text, transport, 'without-inode');
      for (const entry of block.entries) table.entries.push(entry);
      table.skipped += block.skipped;
    });
    return table;
  } catch {
    return undefined;
  }
}

async function scanProcesses(io: HostIO, root: string): Promise<Scan> {
  const scan: Scan = { owners: new Map(), namespaces: new Map(), denied: 0 };
  // The agent's own netns first, so it is read even when no other PID can be inspected.
  const self = await io.readlink(`${root}/self/ns/net`).then(parseNsInode, () => undefined);
  if (self !== undefined) scan.namespaces.set(self, 'self');
  const pids = (await io.readdir(root)).filter((name) => /^\d+$/.test(name));
  if (io.readLinks) {
    // One process after the other: readLinks reads a whole fd table at once, and yields to the
    // event loop before each, so the loop waits for one table at most.
    for (const pid of pids) await scanProcess(io, root, pid, scan);
  } else {
    await Promise.all(pids.map((pid) => scanProcess(io, root, pid, scan)));
  }
  return scan;
}

async function scanProcess(io: HostIO, root: string, pid: string, scan: Scan): Promise<void> {
  const dir = `${root}/${pid}`;
  try {
    const netns = parseNsInode(await io.readlink(`${dir}/ns/net`));
    if (netns !== undefined && !scan.namespaces.has(netns)) scan.namespaces.set(netns, pid);
    const links = io.readLinks ? await io.readLinks(`${dir}/fd`) : await readLinksOneByOne(io, `${dir}/fd`);
    const owner = Number(pid);
    for (const link of links) {
      const inode = socketInode(link);
      if (inode === undefined) continue;
      const holders = scan.owners.get(inode);
      if (holders === undefined) scan.owners.set(inode, owner);
      else if (typeof holders === 'number') {
        if (holders !== owner) scan.owners.set(inode, [holders, owner]);
      } else if (!holders.includes(owner)) holders.push(owner);
    }
  } catch (err) {
    if (isDenied(err)) scan.denied++;
    else if (!isGone(err)) throw err;
  }
}

/** For a HostIO without readLinks; a link that vanishes meanwhile reads as ''. */
async function readLinksOneByOne(io: HostIO, dir: string): Promise<string[]> {
  const fds = await io.readdir(dir);
  return Promise.all(fds.map((fd) => io.readlink(`${dir}/${fd}`).catch(() => '')));
}
