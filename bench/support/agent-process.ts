// The bench's handle on an agent-worker.mjs process: one collection cycle per request.
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { stopChild } from './stop.js';

const WORKER = join(import.meta.dirname, 'agent-worker.mjs');
const STOP_TIMEOUT_MS = 5_000;

/** One cycle, as the agent's process measured it. */
export interface CycleReply {
  /** The agent process's CPU during the cycle, every thread included. */
  selfMs: number;
  /** CPU of the children it reaped during the cycle (ss). */
  childMs: number;
  wallMs: number;
  /**
   * Share of selfMs spent from starting ss to having its whole output, less handing it to the
   * parser; with the ss source's fd scan, which runs meanwhile.
   */
  runSelfMs: number;
  /** HostIO calls the cycle made; fds readLinks listed, and links it read. */
  calls: {
    readFile: number;
    readLines: number;
    readdir: number;
    readlink: number;
    readLinks: number;
    fds: number;
    links: number;
    run: number;
    runLines: number;
  };
  /** Established TCP connections the snapshot credits to the helper's processes. */
  helperEstablished: number;
  /** Established TCP connections in the whole snapshot ([other] and the host's own included). */
  allEstablished: number;
  /** Series in the snapshot, after the --max-processes cap, and processes tracked before it. */
  series: number;
  trackedProcesses: number;
  up: boolean;
  errors: Record<string, number>;
  rssBytes: number;
}

export interface ParseTiming {
  /** CPU of parseSs on one output, once per repetition. */
  parseMs: number[];
  outputBytes: number;
  outputSockets: number;
}

type Request = { kind: 'cycle' } | { kind: 'parse-timing'; reps: number };
type Reply = { ok: true; reply: unknown } | { ok: false; error: string };

export interface AgentProcess {
  source: string;
  cycle(): Promise<CycleReply>;
  /** parseSs timed on output of the ss source's command, taken after the cycles (ss source only). */
  parseTiming(reps: number): Promise<ParseTiming>;
  stop(): Promise<void>;
}

/**
 * `helperPids`: the processes holding the bench's sockets; `flags` are agent flags on top of the
 * defaults, e.g. ['--procfs-fd-cache-max-age', ''].
 */
export async function startAgentProcess(source: string, helperPids: number | readonly number[], flags: readonly string[] = []): Promise<AgentProcess> {
  const pids = typeof helperPids === 'number' ? [helperPids] : helperPids;
  // execArgv: [] keeps the bench's TypeScript loader out of the measured process.
  const proc = fork(WORKER, [source, pids.join(','), ...flags], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const agent: AgentProcess = {
    source,
    cycle: () => ask(proc, { kind: 'cycle' }) as Promise<CycleReply>,
    parseTiming: (reps) => ask(proc, { kind: 'parse-timing', reps }) as Promise<ParseTiming>,
    stop: () => stopChild(proc, exited, STOP_TIMEOUT_MS),
  };
  try {
    await nextReply(proc);
  } catch (err) {
    await agent.stop();
    throw new Error(`agent process for ${source} did not start: ${(err as Error).message}`);
  }
  return agent;
}

function ask(proc: ChildProcess, request: Request): Promise<unknown> {
  return new Promise((resolve, reject) => {
    nextReply(proc).then(resolve, reject);
    // With a callback, a closed channel (the process was stopped) is an error here, not an event.
    proc.send(request, (err) => err && reject(err));
  });
}

function nextReply(proc: ChildProcess): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: Reply): void => {
      proc.off('exit', onExit);
      if (message.ok) resolve(message.reply);
      else reject(new Error(message.error));
    };
    const onExit = (code: number | null, signal: string | null): void => {
      proc.off('message', onMessage);
      reject(new Error(`agent process exited (${signal ?? code})`));
    };
    proc.once('message', onMessage);
    proc.once('exit', onExit);
  });
}
