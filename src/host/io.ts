// The real HostIO: files under /proc, and child processes run with an argument array (never parsed
// by a shell; ss runs under the launcher, launcher.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, fstatSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, statfsSync, statSync, unlinkSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { execa } from 'execa';
import { Launcher, type LaunchError } from './launcher.js';
import { LineSplitter } from './lines.js';
import type { ChildExit, ChildHandle, HostIO, SpawnSpec } from './types.js';

/** Cap on a child's output; ss with 100k sockets prints well under this. */
const MAX_CHILD_OUTPUT = 256 * 1024 * 1024;
/** Enough of a failing child's stderr to say why it failed. */
const MAX_CHILD_STDERR = 16 * 1024;
const DEFAULT_TIMEOUT_MS = 30_000;
/** Size of the blocks readLines and runLines hand over: small enough for V8's young generation. */
const BLOCK_BYTES = 64 * 1024;
const NEWLINE = 0x0a;

type OnLines = (text: string) => void;
interface RunOptions {
  timeoutMs?: number;
}

// Every caller reads files and links the kernel generates in memory (/proc, /sys). For those,
// fs/promises costs more CPU than the system call itself: a thread-pool round trip per call, per
// 64 KiB. So readFile, readlink, readLinks and readLines are synchronous underneath their
// promises, and the event loop waits for one file, one link or one block at a time. The longest
// wait is /proc/kallsyms (5 MB, read once when probing eBPF): about 100 ms.
export const hostIO: HostIO = {
  readFile: async (path) => readFileSync(path, 'utf8'),
  readdir: (path) => readdir(path),
  readlink: async (path) => readlinkSync(path),
  // About 6 µs of CPU per /proc/PID/fd/N, against ~30 µs through fs/promises. Yielding first lets
  // other work (a /metrics scrape) run between two directories: the loop waits for one fd table.
  async readLinks(dir, skip) {
    await nextTurn();
    const prefix = `${dir}/`;
    const names = readdirSync(dir);
    const targets: Array<string | undefined> = [];
    for (const name of names) {
      if (skip?.(name)) {
        targets.push(undefined);
        continue;
      }
      try {
        targets.push(readlinkSync(prefix + name));
      } catch {
        targets.push(''); // closed between readdir and readlink
      }
    }
    return { names, targets };
  },
  async stat(path) {
    const { ino, size } = statSync(path);
    return { ino, size };
  },
  async readLines(path, onLines) {
    const fd = openSync(path, 'r');
    try {
      // Sequential reads: a seq_file (/proc/net/tcp) read at an offset starts its walk over.
      await readBlocks(fd, null, onLines);
    } finally {
      closeSync(fd);
    }
  },
  async run(file, args, options) {
    const result = await execa(file, args, {
      timeout: options?.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      maxBuffer: MAX_CHILD_OUTPUT,
      stripFinalNewline: false,
      env: { LC_ALL: 'C' },
      extendEnv: true,
    });
    return result.stdout;
  },
  runLines,
  spawn: spawnStreaming,
  now: () => Date.now(),
};

/**
 * A long-running child: stdout and stderr split into lines by a LineSplitter, so a line without
 * end is dropped at spec.maxLineBytes instead of growing without bound (readline has no limit).
 * execa's cleanup kills it when the agent exits; SIGKILL of the agent needs setpriv --pdeathsig.
 */
function spawnStreaming(spec: SpawnSpec): ChildHandle {
  const child = execa(spec.file, [...spec.args], {
    buffer: false,
    // A pipe the agent never writes to: the child sees EOF when the agent is gone (the ebpf loader exits on it).
    stdin: spec.stdinPipe ? 'pipe' : 'ignore',
    reject: false,
    env: { LC_ALL: 'C', ...spec.env },
    extendEnv: true,
    cleanup: true,
  });
  const out = new LineSplitter(spec.maxLineBytes, spec.onStdout, () => spec.onLongLine('stdout'));
  const err = new LineSplitter(spec.maxLineBytes, spec.onStderr, () => spec.onLongLine('stderr'));
  child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => err.push(chunk));
  const exited = child.then((result): ChildExit => {
    out.end();
    err.end();
    const exit: ChildExit = { code: result.exitCode ?? null, signal: result.signal ?? null };
    // execa reports a child that could not start (ENOENT, EACCES) as failed with no exit code.
    if (result.failed && result.exitCode === undefined && result.signal === undefined) exit.error = result.shortMessage;
    return exit;
  });
  return { exited, kill: (signal) => void child.kill(signal) };
}

/**
 * Reads fd to its end into one reused buffer, from `position` on (null: the file offset), and
 * hands each block of whole lines to onLines, yielding to the event loop between blocks. Splitting
 * after a newline byte never splits a UTF-8 sequence: the blocks decode to the same text as the
 * whole file. A whole file would take a string and buffers as large as the file: reading and
 * parsing /proc/net/tcp with 10,000 sockets (1.5 MB) took 38 ms so, 25 ms in blocks.
 */
async function readBlocks(fd: number, position: number | null, onLines: OnLines): Promise<void> {
  let block = Buffer.allocUnsafe(BLOCK_BYTES);
  /** Bytes at the start of `block` carried over from the previous read: a line not yet complete. */
  let carried = 0;
  for (;;) {
    const read = readSync(fd, block, carried, block.length - carried, position);
    if (read === 0) break;
    if (position !== null) position += read;
    const filled = carried + read;
    const end = block.lastIndexOf(NEWLINE, filled - 1) + 1;
    if (end === 0 && filled === block.length) {
      // A line longer than the block: read on into a larger one.
      block = Buffer.concat([block, Buffer.allocUnsafe(block.length)]);
      carried = filled;
      continue;
    }
    if (end > 0) onLines(block.toString('utf8', 0, end));
    carried = filled - end;
    block.copy(block, 0, end, filled);
    await nextTurn();
  }
  if (carried > 0) onLines(block.toString('utf8', 0, carried));
}

// Node forks the agent to start a child (libuv uses fork(), not vfork()), so after a spawn every
// page the agent writes takes a copy-on-write fault first: about 20 µs each on the development VM.
// Read through a pipe, 6 MB of output arrive in ~150 freshly allocated, zero-filled buffers of up
// to 64 KiB; spooled to a file and read back into one 64 KiB buffer, they touch 16 pages. With
// 10,000 sockets that saves 30 to 45 ms of the agent's CPU per `ss` run. The pipe remains the
// fallback.
/** Free space the temp directory must have, beyond twice the last output, to spool a child's output. */
const SPOOL_MIN_FREE_BYTES = 64 * 1024 * 1024;
/** Size of the last spooled output, to check before the next run that there is room for it. */
let lastSpooledBytes = 0;

/** One launcher per program and arguments (the ss source's one command), made on first use. */
const launchers = new Map<string, Launcher>();

/**
 * Runs a program to its end, handing stdout to onLines in blocks of whole lines: through a
 * launcher (launcher.ts) where /bin/sh is there and the temp directory has room, else spawned by
 * the agent itself, spooled, or piped when there is no room.
 */
async function runLines(file: string, args: readonly string[], onLines: OnLines, options?: RunOptions): Promise<void> {
  if (!hasSpoolRoom()) return runLinesPiped(file, args, onLines, options);
  const launcher = launcherFor(file, args);
  if (launcher) {
    try {
      await launcher.use(options?.timeoutMs ?? DEFAULT_TIMEOUT_MS, (spool, size) => readSpool(file, spool, size, onLines));
      return;
    } catch (err) {
      // No file for the output (the temp directory went read-only, say): spawned as below.
      if ((err as LaunchError).code !== 'ENOSPOOL') throw err;
    }
  }
  const spool = openSpool();
  if (spool === undefined) return runLinesPiped(file, args, onLines, options);
  try {
    await runChild(file, args, spool, options);
    await readSpool(file, spool, fstatSync(spool).size, onLines);
  } finally {
    closeSync(spool);
  }
}

/** A child's output, `size` bytes spooled, to onLines; from the start, whatever the file offset. */
function readSpool(file: string, spool: number, size: number, onLines: OnLines): Promise<void> {
  if (size > MAX_CHILD_OUTPUT) throw new Error(`${file} printed more than ${MAX_CHILD_OUTPUT} bytes`);
  lastSpooledBytes = size;
  return readBlocks(spool, 0, onLines);
}

/**
 * Whether runLines starts programs through launchers (where /bin/sh is there); off, the agent
 * spawns each run itself. The tests turn it off to reach that path.
 */
export const launcherUse = { enabled: true };

/** The launcher for this command, made on first use; undefined without /bin/sh or the program. */
function launcherFor(file: string, args: readonly string[]): Launcher | undefined {
  if (!launcherUse.enabled) return undefined;
  const key = JSON.stringify([file, ...args]);
  let launcher = launchers.get(key);
  if (launcher === undefined && Launcher.available()) {
    // Not found: spawned by the agent, whose spawn reports ENOENT as before.
    const path = Launcher.resolve(file);
    if (path === undefined) return undefined;
    killChildrenOnExit();
    launchers.set(key, (launcher = new Launcher(path, args, openSpool, MAX_CHILD_STDERR)));
  }
  return launcher;
}

/**
 * An unlinked file in the temp directory (TMPDIR), so nothing is left behind; undefined when it
 * cannot be made there or the filesystem is short of room: a full disk would silently cut the
 * output short, and sockets missing from one snapshot would be counted again as new in the next.
 */
function openSpool(): number | undefined {
  const dir = tmpdir();
  // node:crypto only here, where it is used: an agent that never spools does not load it.
  const path = join(dir, `netproc-agent-${process.getBuiltinModule('node:crypto').randomUUID()}`);
  let fd: number;
  try {
    // Appending: a launcher's shell hands the same open file to each run, emptied in between.
    fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_APPEND, 0o600);
  } catch {
    return undefined;
  }
  try {
    unlinkSync(path);
    return fd;
  } catch {
    closeSync(fd);
    return undefined;
  }
}

/** Whether the temp directory has room for twice the last output and then some. */
function hasSpoolRoom(): boolean {
  try {
    const { bavail, bsize } = statfsSync(tmpdir());
    return bavail * bsize >= SPOOL_MIN_FREE_BYTES + 2 * lastSpooledBytes;
  } catch {
    return false;
  }
}

/** A running child, as runChild's stdout and close handlers see it. */
interface ChildRun {
  /** Ends the run with `err` (the first error wins) and kills the child. */
  stop(err: unknown): void;
  failed(): boolean;
}

/**
 * Runs a program to its end and resolves once it exited with 0. stdout goes to the file
 * descriptor `stdout`, or with 'pipe' to handlers.onStdout; handlers.onClose runs once the child
 * is gone, before the promise settles. Rejects when the program cannot start, exits otherwise,
 * runs past the timeout, or a handler called stop().
 */
function runChild(
  file: string,
  args: readonly string[],
  stdout: number | 'pipe',
  options?: RunOptions,
  handlers: { onStdout?(chunk: Buffer, run: ChildRun): void; onClose?(run: ChildRun): void } = {},
): Promise<void> {
  const timeoutMs = options?.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', stdout, 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    track(child);
    let failure: unknown;
    let stderr = '';
    const run: ChildRun = {
      stop(err) {
        failure ??= err;
        child.kill('SIGKILL');
      },
      failed: () => failure !== undefined,
    };
    const timer = setTimeout(() => run.stop(new Error(`${file} timed out after ${timeoutMs} ms`)), timeoutMs);
    const { onStdout } = handlers;
    if (onStdout) child.stdout!.on('data', (chunk: Buffer) => onStdout(chunk, run));
    child.stderr!.on('data', (chunk: Buffer) => {
      if (stderr.length < MAX_CHILD_STDERR) stderr += chunk.toString('utf8');
    });
    // Failing to start (ENOENT, EACCES) emits 'error', then 'close'.
    child.once('error', (err) => {
      failure ??= err;
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      handlers.onClose?.(run);
      if (failure !== undefined) reject(failure);
      else if (code !== 0) reject(exitError(file, code, signal, stderr));
      else resolve();
    });
  });
}

/** One-shot children (ss) still running; see killRunningChildren. */
const runningChildren = new Set<ChildProcess>();

let killOnExit = false;

function killChildrenOnExit(): void {
  // One exit listener for the agent's life, not one added and removed with every ss run.
  if (!killOnExit) process.once('exit', killRunningChildren);
  killOnExit = true;
}

function track(child: ChildProcess): void {
  killChildrenOnExit();
  runningChildren.add(child);
  child.once('close', () => runningChildren.delete(child));
}

/**
 * Kills the one-shot children still running (a hung ss), so that an agent shutting down neither
 * waits for their timeout nor leaves them behind. Also runs on exit.
 */
export function killRunningChildren(): void {
  for (const child of runningChildren) child.kill('SIGKILL');
  for (const launcher of launchers.values()) launcher.close();
  launchers.clear();
}

/** The fallback: stdout through a pipe, split at the last newline of each chunk as it arrives. */
function runLinesPiped(file: string, args: readonly string[], onLines: OnLines, options?: RunOptions): Promise<void> {
  // Emptied once the child is done: the ChildProcess and its listeners may outlive this call, and
  // must not keep what onLines collected (10,000 records) reachable into the next cycle. Only
  // `sink` is captured by the handlers below, not onLines itself.
  const sink: { onLines?: OnLines } = { onLines };
  let outputBytes = 0;
  /** Bytes after the last newline so far: the start of a line still being printed. */
  let partial: Buffer | undefined;
  const deliver = (block: Buffer, run: ChildRun): void => {
    if (run.failed() || block.length === 0 || !sink.onLines) return;
    try {
      sink.onLines(block.toString('utf8'));
    } catch (err) {
      run.stop(err);
    }
  };
  return runChild(file, args, 'pipe', options, {
    onStdout(chunk, run) {
      outputBytes += chunk.length;
      if (outputBytes > MAX_CHILD_OUTPUT) return run.stop(new Error(`${file} printed more than ${MAX_CHILD_OUTPUT} bytes`));
      const end = chunk.lastIndexOf(NEWLINE) + 1;
      if (end === 0) {
        partial = partial ? Buffer.concat([partial, chunk]) : chunk;
        return;
      }
      let start = 0;
      if (partial) {
        // Only the line split between two chunks is copied, not the whole chunk.
        start = chunk.indexOf(NEWLINE) + 1;
        deliver(Buffer.concat([partial, chunk.subarray(0, start)]), run);
      }
      deliver(chunk.subarray(start, end), run);
      partial = end < chunk.length ? chunk.subarray(end) : undefined;
    },
    onClose(run) {
      if (partial) deliver(partial, run);
      sink.onLines = undefined;
      partial = undefined;
    },
  });
}

function exitError(file: string, code: number | null, signal: NodeJS.Signals | null, stderr: string): Error {
  return new Error(`${file} failed with ${code ?? signal}: ${stderr.trim().split('\n', 1)[0]}`);
}

/** True for the errors a process vanishing mid-scan produces; those are normal and silent. */
export function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ESRCH';
}

/** True when the kernel refused access (missing capability or ptrace check). */
export function isDenied(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EACCES' || code === 'EPERM';
}
