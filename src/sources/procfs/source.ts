// procfs: TCP/UDP sockets by state from /proc/PID/net/{tcp,tcp6,udp,udp6}, one read per network
// namespace, owners from the socket inodes behind /proc/PID/fd. Sees every netns through the PIDs
// living in it, without entering any (no CAP_SYS_ADMIN).
import type { Transport } from '../../semconv.js';
import { isDenied, isGone } from '../../host/io.js';
import type { SourceContext } from '../context.js';
import { pidMappingWarnings } from '../privileges.js';
import type { Collection, HostIO, ProbeResult, SocketRecord, Source } from '../types.js';
import { parseNetTable, parseNsInode, socketInode } from './parse.js';

const TABLES: ReadonlyArray<[file: string, transport: Transport]> = [
  ['tcp', 'tcp'],
  ['tcp6', 'tcp'],
  ['udp', 'udp'],
  ['udp6', 'udp'],
];

interface Scan {
  /** socket inode -> PIDs holding it */
  owners: Map<number, number[]>;
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

    async collect(): Promise<Collection> {
      const scan = await scanProcesses(io, root);
      const sockets: SocketRecord[] = [];
      const seen = new Set<string>();
      let skipped = 0;
      for (const [netns, pid] of scan.namespaces) {
        for (const [file, transport] of TABLES) {
          let text: string;
          try {
            text = await io.readFile(`${root}/${pid}/net/${file}`);
          } catch {
            continue; // the PID left, or the protocol (IPv6) is disabled
          }
          const table = parseNetTable(text, transport);
          skipped += table.skipped;
          for (const entry of table.entries) {
            const id = entry.inode !== 0 ? `ino:${entry.inode}` : `tuple:${netns}:${transport}:${entry.local}->${entry.remote}`;
            if (seen.has(id)) continue;
            seen.add(id);
            const pids = entry.inode !== 0 ? (scan.owners.get(entry.inode) ?? []) : [];
            sockets.push({ id, transport, state: entry.state, pids: [...pids].sort((a, b) => a - b) });
          }
        }
      }
      return { sockets, errors: { parse: skipped, permission: scan.denied } };
    },
  };
}

async function scanProcesses(io: HostIO, root: string): Promise<Scan> {
  const scan: Scan = { owners: new Map(), namespaces: new Map(), denied: 0 };
  // The agent's own netns first, so it is read even when no other PID can be inspected.
  const self = await io.readlink(`${root}/self/ns/net`).then(parseNsInode, () => undefined);
  if (self !== undefined) scan.namespaces.set(self, 'self');
  const pids = (await io.readdir(root)).filter((name) => /^\d+$/.test(name));
  await Promise.all(pids.map((pid) => scanProcess(io, root, pid, scan)));
  return scan;
}

async function scanProcess(io: HostIO, root: string, pid: string, scan: Scan): Promise<void> {
  const dir = `${root}/${pid}`;
  try {
    const netns = parseNsInode(await io.readlink(`${dir}/ns/net`));
    if (netns !== undefined && !scan.namespaces.has(netns)) scan.namespaces.set(netns, pid);
    const fds = await io.readdir(`${dir}/fd`);
    const links = await Promise.all(fds.map((fd) => io.readlink(`${dir}/fd/${fd}`).catch(() => '')));
    const owner = Number(pid);
    for (const link of links) {
      const inode = socketInode(link);
      if (inode === undefined) continue;
      const holders = scan.owners.get(inode);
      if (!holders) scan.owners.set(inode, [owner]);
      else if (!holders.includes(owner)) holders.push(owner);
    }
  } catch (err) {
    if (isDenied(err)) scan.denied++;
    else if (!isGone(err)) throw err;
  }
}
