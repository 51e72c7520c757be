// Starts bench/hold-sockets.mjs and stops it again. It holds 2 x pairs established loopback sockets,
// itself or spread over `holders` processes of their own.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { stopChild } from './stop.js';

const SCRIPT = join(import.meta.dirname, '../hold-sockets.mjs');
/** Descriptors the helper needs besides its sockets: stdio, libuv, V8. */
const SPARE_FDS = 64;
/** With holders: the ends of one batch of connections (hold-sockets.mjs BATCH) not handed over yet. */
const CONNECT_BATCH_FDS = 2 * 250;
const READY_TIMEOUT_MS = 120_000;
/** Resetting 10,000 sockets takes the helper a few seconds; aborting 50,000 with ss -K about 5. */
const STOP_TIMEOUT_MS = 30_000;

export interface Holder {
  /** The helper itself. */
  pid: number;
  /** Its first listener's port. */
  port: number;
  /** Every listener's port: each established socket has one of them at one end. */
  ports: number[];
  /** The processes that hold the sockets: the helper alone, or its `holders` children. */
  pids: number[];
  stop(): Promise<void>;
}

/** `holders` 0: the helper holds every socket itself; else they are spread over that many processes. */
export async function startHolder(pairs: number, holders = 0): Promise<Holder> {
  // With holders, the helper holds one holder's share at a time, and a pipe to each holder.
  const fds = holders > 0 ? Math.ceil((2 * pairs) / holders) + CONNECT_BATCH_FDS + holders + SPARE_FDS : 2 * pairs + SPARE_FDS;
  const [command, args] = holderCommand(fds, [String(pairs), ...(holders > 0 ? [String(holders)] : [])]);
  const proc = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('close', () => resolve()));
  const stop = (): Promise<void> => stopChild(proc, exited, STOP_TIMEOUT_MS);
  try {
    const ready = await readyLine(proc, () => stderr);
    return { pid: ready.pid, port: ready.port, ports: ready.ports, pids: ready.pids, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Node raises its own soft RLIMIT_NOFILE to the hard limit at startup, so up to the hard limit
 * nothing is needed. Past it, prlimit (util-linux) raises both, which takes CAP_SYS_RESOURCE.
 */
function holderCommand(fds: number, scriptArgs: string[]): [string, string[]] {
  const node: [string, string[]] = [process.execPath, [SCRIPT, ...scriptArgs]];
  if (fds <= hardFdLimit()) return node;
  return ['prlimit', [`--nofile=${fds}:${fds}`, node[0], ...node[1]]];
}

function hardFdLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const hard = line?.split(/\s+/)[4];
  return hard === undefined || hard === 'unlimited' ? Infinity : Number(hard);
}

interface Ready {
  pid: number;
  port: number;
  ports: number[];
  pids: number[];
}

function readyLine(proc: ChildProcess, stderr: () => string): Promise<Ready> {
  return new Promise((resolve, reject) => {
    const fail = (why: string): void => {
      clearTimeout(timer);
      reject(new Error(`socket holder ${why}; stderr: ${stderr().trim() || '(empty)'}`));
    };
    const timer = setTimeout(() => fail(`not ready after ${READY_TIMEOUT_MS / 1000} s`), READY_TIMEOUT_MS);
    proc.once('error', (err) => fail(`did not start: ${err.message}`));
    proc.once('exit', (code, signal) => fail(`exited (${signal ?? code}) before it was ready`));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      try {
        const ready = JSON.parse(line) as Ready & { ready?: boolean };
        if (!ready.ready) return;
        clearTimeout(timer);
        resolve(ready);
      } catch {
        // not the ready line
      }
    });
  });
}
