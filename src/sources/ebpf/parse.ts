// The eBPF source's parts that need no child process: the pure parser of netproc.bt and
// netproc-kprobe.bt output (`bpftrace -f json`), the choice between the two programs, the kernel
// facts that choice rests on (read through HostIO only), and the bpftrace command line.
import { fileURLToPath } from 'node:url';
import { LineSplitter } from '../../host/lines.js';
import type { HostIO } from '../../host/types.js';
import type { Transport } from '../../semconv.js';
import { mergeIncrements } from '../increments.js';
import { boundMessage, sanitizeName } from '../../host/names.js';
import type { Increment, Problem } from '../types.js';
import { DEFAULT_MAP_KEYS } from './config.js';

export type ProgramVariant = 'tracepoint' | 'kprobe';

/** What one line of bpftrace's stdout or stderr means. */
export type BpftraceLine =
  /** Printed once every probe is attached; traffic before it is not counted. */
  | { kind: 'ready'; variant?: ProgramVariant }
  /** One interval's traffic per (pid, transport); `badEntries` map entries could not be read. */
  | { kind: 'increments'; increments: Increment[]; badEntries: number }
  /** End of an interval. `untracked`: TCP calls whose segments went uncounted (socket map full). */
  | { kind: 'interval'; untracked: number; final: boolean }
  /** bpftrace lost this many output events: an interval may be missing or counted twice. */
  | { kind: 'lost'; count: number }
  | { kind: 'error'; severity: 'error' | 'warning'; message: string }
  /** Nothing to act on. `garbled`: a JSON line that could not be read (truncated, damaged). */
  | { kind: 'skip'; garbled: boolean };

/** Longest error message kept from bpftrace's stderr. */
const MAX_MESSAGE_LENGTH = 500;

const TRANSPORTS: Readonly<Record<string, Transport>> = { '6': 'tcp', '17': 'udp' };
/** The METRIC part of an @acc key, in the order netproc.bt numbers them. */
const METRICS = ['rxBytes', 'txBytes', 'rxPackets', 'txPackets'] as const;
const ACC_MAPS = new Set(['@acc0', '@acc1']);
/** PID_MAX_LIMIT (include/linux/threads.h): no pid is larger. */
const PID_MAX = 4_194_304;

const SKIP: BpftraceLine = { kind: 'skip', garbled: false };
const GARBLED: BpftraceLine = { kind: 'skip', garbled: true };

/** Reads one line of bpftrace output (stdout or stderr, without its newline); never throws. */
export function parseBpftraceLine(line: string): BpftraceLine {
  const text = line.trim();
  if (text === '') return SKIP;
  if (!text.startsWith('{')) return parseText(text);
  const value = parseJson(repairJsonEscapes(text));
  if (!isObject(value) || typeof value.type !== 'string') return GARBLED;
  switch (value.type) {
    case 'map':
      return parseMap(value.data);
    case 'printf':
      return typeof value.data === 'string' ? parseMarker(value.data) : GARBLED;
    case 'lost_events':
      return parseLost(value.data);
    case 'helper_error':
      return parseHelperError(value);
    default:
      // attached_probes, and any other message type: nothing to act on.
      return SKIP;
  }
}

/** `{"@acc0": {"PID,PROTO,METRIC,COMM": N, ...}}`, merged per (pid, transport). */
function parseMap(data: unknown): BpftraceLine {
  if (!isObject(data)) return GARBLED;
  const names = Object.keys(data);
  if (names.length !== 1) return GARBLED;
  const name = names[0]!;
  // bpftrace dumps every non-empty map at exit; netproc.bt empties all but its accumulators.
  if (!ACC_MAPS.has(name)) return SKIP;
  const entries = data[name];
  if (!isObject(entries)) return GARBLED;
  const merger = new IncrementMerger();
  let badEntries = 0;
  for (const [key, value] of Object.entries(entries)) {
    if (!merger.addEntry(key, value)) badEntries++;
  }
  return { kind: 'increments', increments: merger.result(), badEntries };
}

/** Our own printf lines: the ready marker and the end of each interval. Other printf: skip. */
function parseMarker(data: string): BpftraceLine {
  const text = data.trim();
  if (!text.startsWith('{')) return SKIP;
  const value = parseJson(text);
  if (!isObject(value)) return GARBLED;
  if (value.type === 'netproc_ready') {
    const variant = value.variant === 'tracepoint' || value.variant === 'kprobe' ? value.variant : undefined;
    return variant ? { kind: 'ready', variant } : { kind: 'ready' };
  }
  if (value.type === 'netproc_interval') {
    if (!isCount(value.untracked)) return GARBLED;
    return { kind: 'interval', untracked: value.untracked, final: value.final === true };
  }
  return SKIP;
}

/** `{"type": "lost_events", "data": {"events": N}}` */
function parseLost(data: unknown): BpftraceLine {
  if (!isObject(data) || !isCount(data.events)) return GARBLED;
  return { kind: 'lost', count: data.events };
}

/** `{"type": "helper_error", "helper": "map_update_elem", "retcode": -7, "line": 12, "col": 3}` (-k). */
function parseHelperError(value: Record<string, unknown>): BpftraceLine {
  const helper = typeof value.helper === 'string' ? value.helper : 'helper';
  const where = typeof value.line === 'number' ? ` at line ${value.line}` : '';
  const code = typeof value.retcode === 'number' ? ` (${value.retcode})` : '';
  return { kind: 'error', severity: 'warning', message: boundMessage(`bpftrace: ${helper} failed${code}${where}`, MAX_MESSAGE_LENGTH) };
}

/** Text lines come from stderr (and text mode): ERROR:/WARNING: messages, "Lost N events". */
function parseText(text: string): BpftraceLine {
  const lost = /^Lost (\d+) events$/.exec(text);
  if (lost) return { kind: 'lost', count: Number(lost[1]) };
  // "ERROR: msg", or with a location: "netproc.bt:12:3-14: WARNING: msg".
  const tagged = /^(?:\S+:\d+:\d+(?:-\d+)?: )?(ERROR|WARNING): /.exec(text);
  if (!tagged) return SKIP; // the source excerpt and ~~~ underline after a message, banners
  const message = boundMessage(text, MAX_MESSAGE_LENGTH);
  // bpftrace tries to raise RLIMIT_MEMLOCK and says ERROR when it may not; since Linux 5.11 BPF
  // memory is charged to the cgroup instead and the limit no longer matters.
  const warning = tagged[1] === 'WARNING' || text.includes('RLIMIT_MEMLOCK');
  return { kind: 'error', severity: warning ? 'warning' : 'error', message };
}

/** Sums map entries per (pid, transport), and picks one name per process. */
class IncrementMerger {
  private readonly byProcess = new Map<string, { increment: Increment; comms: Map<string, number> }>();

  /** False when the entry cannot be read; it is then left out. */
  addEntry(key: string, value: unknown): boolean {
    if (!isCount(value)) return false;
    const parts = splitKey(key);
    if (!parts) return false;
    const [pidText, protoText, metricText, rawComm] = parts;
    const pid = Number(pidText);
    const transport = TRANSPORTS[protoText];
    const metric = METRICS[Number(metricText)];
    if (!/^\d{1,7}$/.test(pidText) || pid > PID_MAX || !transport || !/^\d$/.test(metricText) || !metric) {
      return false;
    }
    const id = `${pid}/${transport}`;
    let entry = this.byProcess.get(id);
    if (!entry) {
      entry = {
        increment: { pid, transport, rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 },
        comms: new Map(),
      };
      this.byProcess.set(id, entry);
    }
    entry.increment[metric] += value;
    const comm = sanitizeName(decodeBpftraceString(rawComm));
    if (comm !== undefined) entry.comms.set(comm, (entry.comms.get(comm) ?? 0) + value);
    return true;
  }

  result(): Increment[] {
    return [...this.byProcess.values()].map(({ increment, comms }) => {
      const comm = mostUsed(comms);
      return comm === undefined ? increment : { ...increment, comm };
    });
  }
}

/** "PID,PROTO,METRIC,COMM": the name comes last and may itself hold commas. */
function splitKey(key: string): [string, string, string, string] | undefined {
  const a = key.indexOf(',');
  const b = key.indexOf(',', a + 1);
  const c = key.indexOf(',', b + 1);
  if (a < 0 || b < 0 || c < 0) return undefined;
  return [key.slice(0, a), key.slice(a + 1, b), key.slice(b + 1, c), key.slice(c + 1)];
}

/**
 * A process renamed within an interval (exec, prctl) shows up under two names; keep the one
 * with the most traffic, ties broken by name so the result does not depend on map order.
 * Entries from the close probe carry no name ("") and never win over a real one.
 */
function mostUsed(comms: Map<string, number>): string | undefined {
  let best: string | undefined;
  let bestCount = -1;
  for (const [comm, count] of comms) {
    if (count > bestCount || (count === bestCount && best !== undefined && comm < best)) {
      best = comm;
      bestCount = count;
    }
  }
  return best;
}

/** First code point of the range that stands for raw bytes 0x80-0xff (private use area). */
const RAW_BYTE_BASE = 0xf700;

/**
 * bpftrace 0.17 escapes a byte >= 0x80 of a string as `\uffffffXX` (a sign-extended char
 * printed with %04x), which JSON.parse reads as U+FFFF followed by "ffXX". Rewrite each one to
 * U+F7XX so that decodeBpftraceString can turn them back into bytes. `\\` pairs are matched
 * first, so an escaped backslash followed by the text "uffffff.." is left alone.
 */
export function repairJsonEscapes(text: string): string {
  if (!text.includes('\\uffffff')) return text;
  return text.replace(/\\\\|\\uffffff([89a-fA-F][0-9a-fA-F])/g, (match, hex: string | undefined) =>
    hex === undefined ? match : `\\uf7${hex.toLowerCase()}`,
  );
}

/** Turns the raw bytes marked by repairJsonEscapes back into UTF-8 text (U+FFFD where invalid). */
export function decodeBpftraceString(text: string): string {
  if (!/[\uf780-\uf7ff]/.test(text)) return text;
  const bytes: number[] = [];
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp >= RAW_BYTE_BASE + 0x80 && cp <= RAW_BYTE_BASE + 0xff) bytes.push(cp - RAW_BYTE_BASE);
    else bytes.push(...Buffer.from(ch, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** What the assembler hands on: one event per interval, plus the rare out-of-band messages. */
export type IntervalEvent =
  | { kind: 'ready'; variant?: ProgramVariant }
  /** Everything counted in one interval; `final` for the partial one flushed at exit. */
  | { kind: 'interval'; increments: Increment[]; untracked: number; final: boolean }
  | { kind: 'lost'; count: number }
  | { kind: 'error'; severity: 'error' | 'warning'; message: string };

/**
 * A line longer than this is not bpftrace output we could use (65,536 keys print ~3 MB); the
 * child's line reader drops it (see LineSplitter), so reading bpftrace holds at most this much.
 */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

/**
 * Turns a stream of bpftrace output into one event per interval: the increments of the map
 * line(s) since the previous interval marker, released at the marker. Use one per child process.
 * A child's lines come through line(); push() takes raw chunks through the same bounded line
 * reader the host uses for a child.
 */
export class IntervalAssembler {
  /** Lines and map entries that could not be read, since construction. */
  readonly skipped = { lines: 0, entries: 0 };
  private pending: Increment[] | undefined;
  private splitter: LineSplitter | undefined;
  private out: IntervalEvent[] = [];

  /** Feeds one whole line (without its newline), as a line reader hands it over. */
  line(line: string): IntervalEvent[] {
    const events: IntervalEvent[] = [];
    this.read(line, events);
    return events;
  }

  /** A line the line reader dropped for its length. */
  longLine(): void {
    this.skipped.lines++;
  }

  /** Feeds a chunk of raw output (a chunk may end mid-line); returns the events its complete lines finish. */
  push(chunk: string): IntervalEvent[] {
    this.splitter ??= new LineSplitter(MAX_LINE_BYTES, (line) => this.read(line, this.out), () => this.longLine());
    this.splitter.push(Buffer.from(chunk, 'utf8'));
    return this.take();
  }

  /** At end of stream: reads a last unterminated line, and releases increments not yet marked. */
  end(): IntervalEvent[] {
    this.splitter?.end();
    const events = this.take();
    if (this.pending) events.push({ kind: 'interval', increments: this.pending, untracked: 0, final: true });
    this.pending = undefined;
    return events;
  }

  private take(): IntervalEvent[] {
    const events = this.out;
    this.out = [];
    return events;
  }

  private read(line: string, events: IntervalEvent[]): void {
    const parsed = parseBpftraceLine(line);
    switch (parsed.kind) {
      case 'skip':
        if (parsed.garbled) this.skipped.lines++;
        return;
      case 'increments':
        this.skipped.entries += parsed.badEntries;
        this.pending = this.pending ? mergeIncrements(this.pending, parsed.increments) : parsed.increments;
        return;
      case 'interval':
        events.push({
          kind: 'interval',
          increments: this.pending ?? [],
          untracked: parsed.untracked,
          final: parsed.final,
        });
        this.pending = undefined;
        return;
      default:
        events.push(parsed);
    }
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}


// ---------------------------------------------------------------------------------------------
// Which program, and how to run it.

/** What decides between the two programs, read by readKernelFacts. */
export interface KernelFacts {
  /** Where tracefs is mounted, null when it is not (bpftrace then attaches no tracepoint). */
  tracefs: string | null;
  /** sock:sock_send_length and sock:sock_recv_length exist (Linux 6.3+). */
  hasSockLengthTracepoints: boolean;
  /** The kernel can create kprobes and lists every function netproc-kprobe.bt attaches to. */
  hasKprobes: boolean;
  /** /sys/kernel/btf/vmlinux exists; both programs read struct sock and tcp_sock through it. */
  btf: boolean;
  /** Functions of KPROBE_FUNCTIONS that /proc/kallsyms does not list (when it was read). */
  missingKprobeFunctions: string[];
}

export type ProgramChoice =
  | { variant: ProgramVariant; reason: string }
  | { variant: undefined; problem: Problem };

/** The kernel functions netproc-kprobe.bt attaches to; a missing one makes bpftrace fail. */
export const KPROBE_FUNCTIONS = [
  'tcp_sendmsg',
  'tcp_sendpage',
  'tcp_recvmsg',
  'tcp_cleanup_rbuf',
  'udp_sendmsg',
  'udp_recvmsg',
  'udpv6_sendmsg',
  'udpv6_recvmsg',
] as const;

/**
 * Picks the program for this kernel. The tracepoint one is preferred: tracepoints are a stable
 * interface, count sock_sendmsg/sock_recvmsg exactly as the process sees them (splice writes,
 * io_uring and kTLS included), and need no kretprobes, whose instance limit loses calls that
 * block. The kprobe one is the fallback for kernels before 6.3. Both need tracefs and BTF.
 * `tracefs` and `missingKprobeFunctions` are optional: absent means not known, not missing.
 */
export function chooseProgram(
  facts: Pick<KernelFacts, 'hasSockLengthTracepoints' | 'hasKprobes' | 'btf'> & Partial<KernelFacts>,
): ProgramChoice {
  if (facts.tracefs === null) {
    return {
      variant: undefined,
      problem: {
        what: 'tracefs is not mounted, so bpftrace cannot attach tracepoints',
        fix: 'mount -t tracefs nodev /sys/kernel/tracing (in a container, mount the host /sys/kernel/tracing)',
      },
    };
  }
  if (!facts.btf) {
    return {
      variant: undefined,
      problem: {
        what:
          'the kernel has no BTF (/sys/kernel/btf/vmlinux); the eBPF programs read struct sock and tcp_sock through it',
        fix:
          'run a kernel built with CONFIG_DEBUG_INFO_BTF=y (the default of current Debian, Ubuntu, RHEL and Fedora ' +
          'kernels), or use the ss source',
      },
    };
  }
  if (facts.hasSockLengthTracepoints) {
    return {
      variant: 'tracepoint',
      reason: 'the sock:sock_send_length and sock:sock_recv_length tracepoints exist (Linux 6.3+)',
    };
  }
  if (facts.hasKprobes) {
    return {
      variant: 'kprobe',
      reason: 'no sock length tracepoints (kernel before 6.3), but kprobes are available',
    };
  }
  const missing = facts.missingKprobeFunctions ?? [];
  if (missing.length > 0) {
    return {
      variant: undefined,
      problem: {
        what:
          'this kernel has no sock length tracepoints, and lacks kernel functions the kprobe program needs: ' +
          missing.join(', '),
        fix: missing.some((f) => f.startsWith('udpv6'))
          ? 'load IPv6 (modprobe ipv6), or use the ss source'
          : 'use the ss source on this kernel',
      },
    };
  }
  return {
    variant: undefined,
    problem: {
      what:
        'this kernel has neither the sock:sock_send_length tracepoint (Linux 6.3+) nor kprobes ' +
        '(CONFIG_KPROBES, CONFIG_KPROBE_EVENTS)',
      fix:
        'run Linux 6.3 or later, or a kernel with CONFIG_KPROBES=y and CONFIG_KPROBE_EVENTS=y; meanwhile the ss ' +
        'and procfs sources serve bytes and connections',
    },
  };
}

/** Where bpftrace looks for tracefs, in its order. */
export const TRACEFS_PATHS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'] as const;

/**
 * Reads what chooseProgram needs, through HostIO only (readdir lists what exists even where
 * reading is refused). kprobes can be created through tracefs `kprobe_events` or the perf
 * `kprobe` PMU; bcc, under bpftrace, tries the PMU first. A kernel listing tcp_sendmsg in
 * /proc/kallsyms may still lack kprobes (CONFIG_KPROBES=n, as on the 6.18 development machine),
 * so kallsyms only adds the check that every function exists, read only when it matters.
 */
export async function readKernelFacts(io: HostIO): Promise<KernelFacts> {
  let tracefs: string | null = null;
  let tracefsEntries: string[] = [];
  for (const path of TRACEFS_PATHS) {
    const entries = await list(io, path);
    // An unmounted mount point is an empty directory.
    if (entries.includes('events')) {
      tracefs = path;
      tracefsEntries = entries;
      break;
    }
  }
  const sock = tracefs ? await list(io, `${tracefs}/events/sock`) : [];
  const hasSockLengthTracepoints = sock.includes('sock_send_length') && sock.includes('sock_recv_length');
  const btf = (await list(io, '/sys/kernel/btf')).includes('vmlinux');
  const kprobeInterface =
    tracefsEntries.includes('kprobe_events') || (await list(io, '/sys/bus/event_source/devices')).includes('kprobe');

  let missingKprobeFunctions: string[] = [];
  if (kprobeInterface && !hasSockLengthTracepoints) {
    const kallsyms = await io.readFile('/proc/kallsyms').catch(() => undefined);
    if (kallsyms !== undefined) missingKprobeFunctions = missingFunctions(kallsyms, KPROBE_FUNCTIONS);
  }
  return {
    tracefs,
    hasSockLengthTracepoints,
    hasKprobes: kprobeInterface && missingKprobeFunctions.length === 0,
    btf,
    missingKprobeFunctions,
  };
}

async function list(io: HostIO, path: string): Promise<string[]> {
  try {
    return await io.readdir(path);
  } catch {
    return [];
  }
}

/** Names of `wanted` that no text symbol of /proc/kallsyms ("ADDR t NAME [module]") matches. */
function missingFunctions(kallsyms: string, wanted: readonly string[]): string[] {
  const left = new Set(wanted);
  for (const line of kallsyms.split('\n')) {
    const [, type, name] = line.split(/\s+/, 3);
    if ((type === 't' || type === 'T') && name !== undefined) left.delete(name);
    if (left.size === 0) break;
  }
  return wanted.filter((f) => left.has(f));
}

/** The program file of a variant, next to this module (the build must copy the .bt files). */
export function programPath(variant: ProgramVariant): string {
  const file = variant === 'tracepoint' ? 'netproc.bt' : 'netproc-kprobe.bt';
  return fileURLToPath(new URL(file, import.meta.url));
}

/** How to run a program: `bpftrace ...args` with `env` added to the environment. */
export function bpftraceCommand(
  path: string,
  intervalMs: number,
  mapKeys: number = DEFAULT_MAP_KEYS,
): { file: string; args: string[]; env: Record<string, string> } {
  if (!Number.isSafeInteger(intervalMs) || intervalMs < 1) {
    throw new RangeError(`interval must be a whole number of ms, got ${intervalMs}`);
  }
  if (!Number.isSafeInteger(mapKeys) || mapKeys < 1) {
    throw new RangeError(`map keys must be a positive integer, got ${mapKeys}`);
  }
  return {
    file: 'bpftrace',
    // -B line: one flush per line, so an interval is never held back in a buffer.
    args: ['-B', 'line', '-f', 'json', path, String(intervalMs)],
    env: { BPFTRACE_MAP_KEYS_MAX: String(mapKeys) },
  };
}
