// netproc.bt run for real by bpftrace, with live traffic between peer processes: what the
// parser assembles must be exactly what the peers sent and read. netproc-kprobe.bt cannot run
// on a kernel without kprobes; bpftrace's dry run (-d) still parses, type-checks and lowers it.
// Needs root, bpftrace and a kernel the tracepoint program can run on; skipped otherwise
// (failed under CI=true).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostIO } from '../../../src/host/io.js';
import {
  bpftraceCommand,
  chooseProgram,
  IntervalAssembler,
  programPath,
  readKernelFacts,
  type IntervalEvent,
} from '../../../src/sources/ebpf/parse.js';
import type { Increment } from '../../../src/sources/types.js';
import { killAll, peer, type PeerEvent } from '../../helpers/processes.js';

const FILE = 'test/sources/ebpf/program.test.ts';
const INTERVAL_MS = 250;

function hasBpftrace(): boolean {
  try {
    execFileSync('bpftrace', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why this file cannot run here, or undefined. */
async function unmet(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'root';
  if (!hasBpftrace()) return 'bpftrace';
  const choice = chooseProgram(await readKernelFacts(hostIO));
  if (choice.variant !== 'tracepoint') return `a kernel for netproc.bt (${choice.variant ?? choice.problem.what})`;
  return undefined;
}

const reason = await unmet();
if (reason) {
  const message = `${FILE}: missing ${reason}`;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${message}`);
  process.stderr.write(`\n!!!!!!!! SKIPPED ${message} !!!!!!!!\n\n`);
}

/** bpftrace running netproc.bt: its stdout assembled into events, its stderr kept for errors. */
class Tracer {
  readonly events: IntervalEvent[] = [];
  private readonly proc: ChildProcess;
  private readonly exited: Promise<void>;
  private waiters: Array<() => void> = [];
  stderr = '';

  constructor() {
    const cmd = bpftraceCommand(programPath('tracepoint'), INTERVAL_MS);
    this.proc = spawn(cmd.file, cmd.args, { env: { ...process.env, ...cmd.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = new IntervalAssembler();
    this.proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => this.add(out.push(chunk)));
    this.proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.proc.once('exit', () => {
      this.add(out.end());
      resolve();
    }));
  }

  private add(events: IntervalEvent[]): void {
    this.events.push(...events);
    this.waiters.splice(0).forEach((w) => w());
  }

  /** Resolves once an event matches. */
  until(match: (e: IntervalEvent) => boolean, timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`bpftrace: timed out; stderr: ${this.stderr}`)), timeoutMs);
      const check = (): void => {
        if (this.events.some(match)) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(check);
      };
      check();
    });
  }

  /** SIGINT: bpftrace runs END, which prints the partial interval, then exits. */
  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGINT');
    await this.exited;
  }

  increments(): Increment[] {
    return this.events.flatMap((e) => (e.kind === 'interval' ? e.increments : []));
  }
}

function total(increments: Increment[], pid: number, transport: 'tcp' | 'udp') {
  const mine = increments.filter((i) => i.pid === pid && i.transport === transport);
  const sum = (k: 'rxBytes' | 'txBytes' | 'rxPackets' | 'txPackets') => mine.reduce((s, i) => s + i[k], 0);
  return { rxBytes: sum('rxBytes'), txBytes: sum('txBytes'), rxPackets: sum('rxPackets'), txPackets: sum('txPackets') };
}

type Peer = ReturnType<typeof peer>;

/** Asks a peer for its counters (SIGUSR2) until `done` says they are final. */
async function settle(p: Peer, key: keyof PeerEvent, done: (e: PeerEvent) => boolean): Promise<PeerEvent> {
  for (let i = 0; i < 100; i++) {
    p.proc.kill('SIGUSR2');
    const event = await p.next(key);
    if (done(event)) return event;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`peer ${p.pid} never settled`);
}

describe.skipIf(reason !== undefined)('netproc.bt with live traffic', () => {
  let tracer: Tracer | undefined;
  const UP = 5_000_000;
  const DOWN = 300_000;
  const DATAGRAMS = 200;
  const SIZE = 700;
  let sink: Peer, sender: Peer, udpSink: Peer, udpSender: Peer;
  /** The sender's comm as the kernel has it: Node.js 24 names its main thread "MainThread". */
  let senderComm = '';

  beforeAll(async () => {
    tracer = new Tracer();
    await tracer.until((e) => e.kind === 'ready');
    // TCP on 127.0.0.1: the sender sends UP bytes, the sink answers DOWN on the same connection.
    sink = peer('sink', '127.0.0.1', DOWN);
    const { port } = await sink.next('port');
    sender = peer('send', '127.0.0.1', port, UP);
    await sender.next('sent');
    senderComm = readFileSync(`/proc/${sender.pid}/comm`, 'utf8').trim();
    await settle(sink, 'received', (e) => e.received === UP);
    await settle(sender, 'received', (e) => e.received === DOWN);
    // UDP on ::1.
    udpSink = peer('udp-sink', '::1');
    const { port: udpPort } = await udpSink.next('port');
    udpSender = peer('udp-send', '::1', udpPort, DATAGRAMS, SIZE);
    await udpSender.next('sent');
    await settle(udpSink, 'datagrams', (e) => e.datagrams === DATAGRAMS);
    // Segments sent after a socket's last call are counted at its next call or at close:
    // close the TCP connection by ending both processes.
    await sender.kill();
    await sink.kill();
    // Two intervals for the FIN exchange and the close probe, then stop: END flushes the rest.
    await new Promise((r) => setTimeout(r, 2 * INTERVAL_MS));
    await tracer!.stop();
  });

  afterAll(async () => {
    await tracer?.stop();
    await killAll();
  });

  it('counts exactly the TCP payload each process sent and read', () => {
    const incs = tracer!.increments();
    expect(total(incs, sender.pid, 'tcp')).toMatchObject({ txBytes: UP, rxBytes: DOWN });
    expect(total(incs, sink.pid, 'tcp')).toMatchObject({ txBytes: DOWN, rxBytes: UP });
  });

  it('counts exactly the UDP bytes and datagrams', () => {
    const incs = tracer!.increments();
    const bytes = DATAGRAMS * SIZE;
    expect(total(incs, udpSender.pid, 'udp')).toEqual({
      txBytes: bytes,
      txPackets: DATAGRAMS,
      rxBytes: 0,
      rxPackets: 0,
    });
    expect(total(incs, udpSink.pid, 'udp')).toEqual({ rxBytes: bytes, rxPackets: DATAGRAMS, txBytes: 0, txPackets: 0 });
  });

  // After close every segment a tcp_sock counts is counted. Loopback loses none, so what one
  // end sent the other received, but for the SYN-ACK (sent by the listener's request socket)
  // and the sender's last ACK if a TIME-WAIT socket sent it; see parse.test.ts.
  it('counts TCP segments: one end sent what the other received, at least one per loopback MSS', () => {
    const incs = tracer!.increments();
    const up = total(incs, sender.pid, 'tcp');
    const down = total(incs, sink.pid, 'tcp');
    expect(up.txPackets).toBeGreaterThanOrEqual(Math.ceil(UP / 65_483));
    expect(down.rxPackets - up.txPackets).toBeGreaterThanOrEqual(0);
    expect(down.rxPackets - up.txPackets).toBeLessThanOrEqual(1);
    expect(up.rxPackets - down.txPackets).toBeGreaterThanOrEqual(1);
    expect(up.rxPackets - down.txPackets).toBeLessThanOrEqual(2);
  });

  it('names the processes, ends with one final interval, and read every line', () => {
    const incs = tracer!.increments();
    expect(senderComm).not.toBe('');
    expect(incs.find((i) => i.pid === sender.pid)?.comm).toBe(senderComm);
    expect(tracer!.events.filter((e) => e.kind === 'interval' && e.final)).toHaveLength(1);
    expect(tracer!.events.filter((e) => e.kind === 'lost')).toEqual([]);
    expect(tracer!.events.filter((e) => e.kind === 'error' && e.severity === 'error')).toEqual([]);
  });
});

describe.skipIf(reason !== undefined)('netproc-kprobe.bt', () => {
  it('passes bpftrace dry run: parsed, type-checked and compiled (attaching needs kprobes)', () => {
    // Throws on a non-zero exit: a syntax, type or codegen error.
    const ast = execFileSync('bpftrace', ['-d', programPath('kprobe'), '500'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(ast).toContain('kprobe:tcp_cleanup_rbuf');
  });
});
