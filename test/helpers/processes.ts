// Child processes started by tests, each tracked so that afterAll can kill every one of them.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, linkSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';

export const REPO = join(import.meta.dirname, '../..');
export const PEER = join(import.meta.dirname, 'peer.mjs');
export const CLI = join(import.meta.dirname, '../../dist/cli.js');
/**
 * The Node flags the agent ships with (npm start, the Docker image's CMD, the systemd unit; the
 * deploy tests check they agree), so tests measure the agent as it runs in production.
 */
export const AGENT_NODE_FLAGS = ['--max-semi-space-size=8'] as const;

/** Every number a peer reports (see peer.mjs). */
export type PeerEvent = Record<'port' | 'sent' | 'open' | 'done' | 'received' | 'closed' | 'datagrams' | 'bytes' | 'exchanged', number>;

export interface Child {
  proc: ChildProcess;
  pid: number;
  /** Waits for the next JSON line with `key` on stdout. */
  next<T = PeerEvent>(key: string, timeoutMs?: number): Promise<T>;
  stderr(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const live = new Set<Child>();

export function start(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}): Child {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  let err = '';
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      return;
    }
    waiters.splice(0).forEach((w) => w());
  });
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const child: Child = {
    proc,
    pid: proc.pid!,
    next<T>(key: string, timeoutMs = 30_000): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${key}" from ${command} ${args.join(' ')}; stderr: ${err}`)), timeoutMs);
        const check = (): void => {
          const i = lines.findIndex((l) => key in l);
          if (i >= 0) {
            clearTimeout(timer);
            resolve(lines.splice(i, 1)[0] as T);
          } else waiters.push(check);
        };
        check();
      });
    },
    stderr: () => err,
    async kill(signal = 'SIGKILL') {
      live.delete(child);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
  live.add(child);
  return child;
}

export function peer(...args: Array<string | number>): Child {
  return start(process.execPath, [PEER, ...args.map(String)]);
}

/**
 * This Node under another name, in `dir`: a hard link (a copy across file systems), so that a
 * process started from it has that name as process.executable.name (the base name of /proc/PID/exe).
 */
export function namedNode(dir: string, name: string): string {
  const path = join(dir, name);
  try {
    linkSync(process.execPath, path);
  } catch {
    copyFileSync(process.execPath, path);
  }
  return path;
}

/** A peer run by `node` (e.g. from namedNode) instead of this Node. */
export function peerAs(node: string, ...args: Array<string | number>): Child {
  return start(node, [PEER, ...args.map(String)]);
}

export async function killAll(): Promise<void> {
  await Promise.all([...live].map((c) => c.kill()));
}
