// The ebpf source's parts that need no child process: the pure parser of netproc-loader's output
// (one JSON object per line on stdout, `error: `/`warning: ` lines on stderr, see loader.c), the
// reading of its `--probe` line, and the choice of the program variant from those kernel facts.
import type { CapName } from '../../host/capabilities.js';
import { boundMessage, sanitizeName } from '../../host/names.js';
import type { Transport } from '../../semconv.js';
import type { Increment, Problem } from '../types.js';

export const VARIANTS = ['counters', 'counters-udp-tp', 'percall-kprobe'] as const;
export type Variant = (typeof VARIANTS)[number];

/** What one line of the loader's stdout means. */
export type LoaderLine =
  /** Printed once everything is attached and the baselines are taken; traffic before is not counted. */
  | { kind: 'ready'; variant: string; attachMs: number }
  /** One process's traffic on one transport in one interval. */
  | { kind: 'proc'; increment: Increment }
  /** End of an interval. `overflow`: increments lost because a BPF map was full. */
  | { kind: 'interval'; seq: number; sockets: number; closed: number; overflow: number; iterNs: number }
  /** Nothing to act on. `garbled`: a line that could not be read (truncated, damaged). */
  | { kind: 'skip'; garbled: boolean };

/** What one line of the loader's stderr means. */
export type LoaderMessage = { severity: 'error' | 'warning'; message: string };

/**
 * A longer line is not loader output (a proc line is < 300 bytes); the child's line reader drops
 * it whole and counts it, so reading the loader holds at most this much.
 */
export const MAX_LINE_BYTES = 4096;
/** Longest stderr message kept. */
const MAX_MESSAGE_LENGTH = 500;
/** TASK_COMM_LEN - 1: the kernel's comm is at most 15 bytes. */
const MAX_COMM_BYTES = 15;
/** PID_MAX_LIMIT (include/linux/threads.h): no pid is larger. */
const PID_MAX = 4_194_304;

const SKIP: LoaderLine = { kind: 'skip', garbled: false };
const GARBLED: LoaderLine = { kind: 'skip', garbled: true };
const TRANSPORTS: ReadonlySet<string> = new Set<Transport>(['tcp', 'udp']);
const COUNTS = ['rxBytes', 'txBytes', 'rxPackets', 'txPackets', 'retransSegs'] as const;

/** Reads one line of the loader's stdout (without its newline); never throws. */
export function parseLoaderLine(line: string): LoaderLine {
  const text = line.trim();
  if (text === '') return SKIP;
  const value = parseJson(text);
  if (!isObject(value) || typeof value.type !== 'string') return GARBLED;
  switch (value.type) {
    case 'proc':
      return parseProc(value);
    case 'interval':
      return parseInterval(value);
    case 'ready':
      return typeof value.variant === 'string' && isCount(value.attachMs)
        ? { kind: 'ready', variant: value.variant, attachMs: value.attachMs }
        : GARBLED;
    default:
      // A newer loader's message type: nothing to act on.
      return SKIP;
  }
}

function parseProc(value: Record<string, unknown>): LoaderLine {
  const { pid, transport } = value;
  if (!isCount(pid) || pid > PID_MAX || typeof transport !== 'string' || !TRANSPORTS.has(transport)) return GARBLED;
  const increment: Increment = { pid, transport: transport as Transport, rxBytes: 0, txBytes: 0 };
  for (const key of COUNTS) {
    const n = value[key];
    // percall-kprobe sees no retransmissions and no TCP segments, and prints none: not measured, not 0.
    if (key !== 'rxBytes' && key !== 'txBytes' && n === undefined) continue;
    if (!isCount(n)) return GARBLED;
    if (key === 'retransSegs') {
      if (transport === 'tcp') increment.retransSegs = n;
    } else increment[key] = n;
  }
  if (typeof value.comm === 'string') {
    const comm = decodeComm(value.comm);
    if (comm !== undefined) increment.comm = comm;
  }
  return { kind: 'proc', increment };
}

function parseInterval(value: Record<string, unknown>): LoaderLine {
  const { seq, sockets, closed, overflow, iterNs } = value;
  if (!isCount(seq) || !isCount(sockets) || !isCount(closed) || !isCount(overflow) || !isCount(iterNs)) return GARBLED;
  return { kind: 'interval', seq, sockets, closed, overflow, iterNs };
}

/**
 * The loader escapes every comm byte outside 0x20-0x7e as `\u00XX`, so JSON.parse gives one
 * char per byte; those bytes are decoded as UTF-8 (U+FFFD where invalid), at most 15 of them,
 * then made safe for a label.
 */
export function decodeComm(escaped: string): string | undefined {
  const chars = Array.from(escaped);
  if (chars.some((c) => c.codePointAt(0)! > 0xff)) return sanitizeName(escaped.slice(0, MAX_COMM_BYTES));
  const bytes = Buffer.from(chars.slice(0, MAX_COMM_BYTES).map((c) => c.codePointAt(0)!));
  return sanitizeName(bytes.toString('utf8'));
}

/** Reads one line of the loader's stderr; undefined when it is neither an error nor a warning. */
export function parseLoaderMessage(line: string): LoaderMessage | undefined {
  const match = /^(error|warning): (.*)$/s.exec(line.trim());
  if (!match) return undefined;
  return { severity: match[1] as 'error' | 'warning', message: boundMessage(match[2]!, MAX_MESSAGE_LENGTH) };
}

// ---------------------------------------------------------------------------------------------
// Which variant, from `netproc-loader --probe`.

/** The kernel facts `netproc-loader --probe` prints, each found by loading a tiny program. */
export interface KernelFacts {
  kernel: string;
  btf: boolean;
  tpBtfInetSockSetState: boolean;
  tpBtfSockSendLength: boolean;
  iterTaskFile: boolean;
  sockFromFile: boolean;
  /** Where cgroup v2 is mounted, null when it is not. */
  cgroupV2: string | null;
  cgroupSkb: boolean;
  /** A kprobe program loads AND attaches (to tcp_sendmsg): what percall-kprobe needs. */
  kprobe: boolean;
  fentry: boolean;
}

const FACT_FLAGS = ['btf', 'tpBtfInetSockSetState', 'tpBtfSockSendLength', 'iterTaskFile', 'sockFromFile', 'cgroupSkb', 'kprobe', 'fentry'] as const;

/** Reads the `--probe` line; undefined when it is not one. */
export function parseProbe(text: string): KernelFacts | undefined {
  const line = text.split('\n').find((l) => l.includes('"type":"probe"'));
  const value = line === undefined ? undefined : parseJson(line.trim());
  if (!isObject(value) || value.type !== 'probe' || typeof value.kernel !== 'string') return undefined;
  const facts: Partial<KernelFacts> = { kernel: value.kernel };
  for (const flag of FACT_FLAGS) {
    if (typeof value[flag] !== 'boolean') return undefined;
    facts[flag] = value[flag];
  }
  const cgroup = value.cgroupV2;
  if (cgroup !== null && (typeof cgroup !== 'string' || cgroup === '')) return undefined;
  facts.cgroupV2 = cgroup;
  return facts as KernelFacts;
}

export type VariantChoice = { variant: Variant; reason: string } | { variant: undefined; problem: Problem };

/** The capabilities the choice depends on, besides CAP_BPF and CAP_PERFMON that every variant needs. */
export type HeldCaps = ReadonlySet<CapName>;

/**
 * Picks the variant for this kernel and these capabilities. `counters` runs no program per send
 * or receive: TCP from the kernel's own tcp_sock counters read by the task_file iterator and at
 * the last state change, UDP per datagram by cgroup_skb on the root cgroup v2 (CAP_NET_ADMIN).
 * `counters-udp-tp` counts TCP the same way, UDP per call at the sock_send_length tracepoints,
 * for hosts without cgroup v2 or CAP_NET_ADMIN. `percall-kprobe` is the fallback for kernels
 * where neither can run (no BTF, older than the iterators, no sock_send_length for UDP): bytes
 * per send/receive call by kprobes, no CO-RE, no TCP segments or retransmissions; it needs
 * kprobes that attach. `wanted` is ebpf.variant.
 */
export function chooseVariant(facts: KernelFacts, caps: HeldCaps, wanted: 'auto' | Variant = 'auto'): VariantChoice {
  // CAP_SYS_ADMIN covers both, and is the only way on kernels before 5.8 (which have neither):
  // the kernels percall-kprobe is for.
  const missingCaps = caps.has('CAP_SYS_ADMIN') ? [] : (['CAP_BPF', 'CAP_PERFMON'] as const).filter((c) => !caps.has(c));
  if (missingCaps.length > 0) {
    return unusable(
      `missing ${missingCaps.join(' and ')}: the engine cannot load BPF programs or attach tracepoints`,
      `grant ${missingCaps.join(', ')} (systemd: AmbientCapabilities=; Kubernetes: capabilities.add [${missingCaps.map((c) => c.replace(/^CAP_/, '')).join(', ')}]; kernels before 5.8 know neither: CAP_SYS_ADMIN)`,
    );
  }
  const percall = {
    variant: 'percall-kprobe' as const,
    reason: 'TCP and UDP payload bytes per send/receive call by kprobes (no TCP segments or retransmissions; a program run on every call)',
  };
  const noKprobes = 'kprobes cannot be attached (a kernel without CONFIG_KPROBES/CONFIG_KPROBE_EVENTS)';
  if (wanted === 'percall-kprobe') {
    if (facts.kprobe) return { ...percall, reason: `ebpf.variant is percall-kprobe: ${percall.reason}` };
    return unusable(`ebpf.variant is percall-kprobe, but ${noKprobes}`, 'set ebpf.variant to auto');
  }
  // What the counters variants need for TCP, whichever does UDP.
  const coreMissing = [
    facts.iterTaskFile ? '' : 'the task_file iterator (Linux 5.8+)',
    facts.sockFromFile ? '' : 'bpf_sock_from_file (Linux 5.11+)',
    facts.tpBtfInetSockSetState ? '' : 'the BTF tracepoint inet_sock_set_state',
  ].filter(Boolean);
  if (!facts.btf || coreMissing.length > 0) {
    const what = facts.btf
      ? `this kernel lacks ${coreMissing.join(', ')}, which the counters variants need to read TCP counters`
      : 'the kernel has no BTF (/sys/kernel/btf/vmlinux), against which the CO-RE programs of the counters variants are relocated';
    const coreFix = facts.btf ? 'run Linux 5.11 or later with CONFIG_DEBUG_INFO_BTF=y' : 'run a kernel built with CONFIG_DEBUG_INFO_BTF=y (the default of current Debian, Ubuntu, RHEL and Fedora kernels)';
    if (wanted !== 'auto') return unusable(`ebpf.variant is ${wanted}, but ${what}`, `${coreFix}, or set ebpf.variant to auto`);
    if (facts.kprobe) return { ...percall, reason: `${percall.reason}: ${what}` };
    return unusable(`${what}, and ${noKprobes} for the percall-kprobe fallback`, `${coreFix}, or a kernel with CONFIG_KPROBE_EVENTS=y; meanwhile the procfs and ss sources serve bytes and connections`);
  }
  const cgroupMissing = [
    facts.cgroupV2 ? '' : 'no cgroup v2 mount',
    facts.cgroupSkb ? '' : 'cgroup_skb programs do not attach',
    caps.has('CAP_NET_ADMIN') ? '' : 'CAP_NET_ADMIN is missing',
  ].filter(Boolean);
  const countersOk = cgroupMissing.length === 0;
  const udpTpOk = facts.tpBtfSockSendLength;
  const counters = { variant: 'counters' as const, reason: `TCP from the kernel's socket counters, UDP by cgroup_skb on ${facts.cgroupV2}; no program per send or receive` };
  const udpTp = {
    variant: 'counters-udp-tp' as const,
    reason: `TCP from the kernel's socket counters, UDP per call at the sock_send_length/sock_recv_length tracepoints${countersOk ? '' : ` (counters is out: ${cgroupMissing.join(', ')})`}`,
  };
  const cgroupFix = `${facts.cgroupV2 ? '' : 'mount cgroup v2 (mount -t cgroup2 none /sys/fs/cgroup/unified) and '}${caps.has('CAP_NET_ADMIN') ? '' : 'grant CAP_NET_ADMIN'}`.replace(/ and $/, '');
  if (wanted === 'counters') {
    if (countersOk) return { ...counters, reason: `ebpf.variant is counters: ${counters.reason}` };
    return unusable(`ebpf.variant is counters, but ${cgroupMissing.join(', ')}`, `${cgroupFix || 'use a kernel with cgroup_skb'}, or set ebpf.variant to auto`);
  }
  if (wanted === 'counters-udp-tp') {
    if (udpTpOk) return { ...udpTp, reason: `ebpf.variant is counters-udp-tp: ${udpTp.reason}` };
    return unusable('ebpf.variant is counters-udp-tp, but the BTF tracepoint sock_send_length is missing (Linux 6.3+)', 'set ebpf.variant to auto');
  }
  if (countersOk) return counters;
  if (udpTpOk) return udpTp;
  const udpMissing = `${cgroupMissing.join(', ')}, and the BTF tracepoint sock_send_length (Linux 6.3+) is missing`;
  if (facts.kprobe) return { ...percall, reason: `${percall.reason}: the counters variants cannot count UDP (${udpMissing})` };
  return unusable(`UDP cannot be counted: ${udpMissing}; and ${noKprobes} for the percall-kprobe fallback`, `${cgroupFix || 'use a kernel with cgroup_skb'}, or run Linux 6.3 or later`);
}

function unusable(what: string, fix: string): VariantChoice {
  return { variant: undefined, problem: { what, fix } };
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
