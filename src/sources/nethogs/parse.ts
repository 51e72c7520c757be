// Pure parser for `nethogs -t -v 2` (trace mode, cumulative bytes): one line at a time, refresh
// blocks assembled from them, and the per-process cumulative counters turned into increments.
//
// What nethogs 0.8.7 prints (src/cui.cpp, show_trace and Line::log), on stdout:
//   Adding local address: 10.213.41.1        once per address of each device, at start
//   Ethernet link detected                   once per device, at start
//
//   Refreshing:                              "\nRefreshing:\n" every -d seconds: the blank line
//   node/4242/0<TAB>6.01649e+06<TAB>15068    ends the previous block. PROGRAM/PID/UID, SENT, RECEIVED
//   unknown TCP/0/0<TAB>0<TAB>0              traffic no socket could be found for (pid 0)
//   Unknown connection: 10.0.0.1:22-10.0.0.2:5555   connections of "unknown TCP", for debugging
// and on stderr: "Error opening handler for device X", "No devices to monitor ...", etc.
//
// With -v 2 SENT and RECEIVED are each process's total since nethogs started, in bytes: a float
// (exact up to 2^24) printed with C++'s default 6 significant digits, so "6.01649e+06" is
// 6,016,490 and a total is known to within 5 parts in a million. Totals only grow, and the
// rounding is monotonic, so differences of successive totals never go negative and add up to
// the last total: the rounding error never accumulates.
import { boundMessage, sanitizeName } from '../../host/names.js';
import type { Increment } from '../types.js';
import type { Transport } from '../../semconv.js';

/** The -v view mode whose trace output is cumulative bytes (0 is KB/s, 1 total KB, 3 total MB). */
export const VIEW_MODE_TOTAL_BYTES = 2;
/** PID_MAX_LIMIT (include/linux/threads.h): no pid is larger. */
const PID_MAX = 4_194_304;
const UID_MAX = 0xffff_ffff;
/** nethogs's pseudo-process for UDP it cannot attribute (with -C). */
const UNKNOWN_UDP = 'unknown UDP';
/** Longest error message kept from nethogs's stderr. */
const MAX_MESSAGE_LENGTH = 300;
/** A decimal, possibly in exponent notation, as `std::cout << float` prints it. */
const NUMBER = /^\d+(?:\.\d+)?(?:e[+-]?\d+)?$/;

/** One process line of a refresh block. */
export interface ProcessLine {
  /** 0 for traffic nethogs could not attribute: "unknown TCP", "unknown UDP", and connections whose socket has no visible owner (named by their addresses). */
  pid: number;
  uid: number;
  /** What nethogs printed before /PID/UID: argv[0] (with -l, the whole command line), bounded. */
  program: string;
  /** The executable's base name guessed from `program`, a fallback when /proc cannot tell; bounded. */
  name: string | undefined;
  /** Cumulative bytes since nethogs started, as whole bytes. */
  sent: number;
  received: number;
}

/** Kinds of nethogs messages, counted as the source's errors. */
export type MessageKind =
  /** nethogs could not open a device (missing capability, no such device, device down). */
  | 'device'
  /** nethogs says it lacks privileges. */
  | 'permission'
  /** pcap failed while reading packets. */
  | 'capture'
  /** Any other line on stderr. */
  | 'other';

/** What one line of nethogs output means. */
export type NethogsLine =
  | { kind: 'refresh' }
  | { kind: 'blank' }
  | ({ kind: 'process' } & ProcessLine)
  /** A connection of "unknown TCP", listed for debugging; its bytes are already in that line. */
  | { kind: 'unknown-connection'; connection: string }
  /** Start-up chatter: local addresses, link types. */
  | { kind: 'info' }
  | { kind: 'message'; messageKind: MessageKind; message: string }
  /** Nothing nethogs prints on stdout: a process line damaged or cut off (or, on stderr, a message not known here). */
  | { kind: 'garbled'; text: string };

const INFO = [/^Adding local address: /, /^\S+ link detected$/, /^Waiting for first packet/];
const MESSAGES: ReadonlyArray<[RegExp, MessageKind]> = [
  [/^Error opening handler for device /, 'device'],
  [/^Error opening pcap handlers for all devices/, 'device'],
  [/^No devices to monitor/, 'device'],
  [/^To run nethogs without being root/, 'permission'],
  [/^You need to be root/, 'permission'],
  [/^Error dispatching for device /, 'capture'],
  [/^Error putting libpcap in nonblocking mode/, 'capture'],
  [/^failed to get selectable_fd/, 'capture'],
];

/** Reads one line of nethogs output (stdout or stderr, without its newline); never throws. */
export function parseNethogsLine(line: string): NethogsLine {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (text.trim() === '') return { kind: 'blank' };
  if (text === 'Refreshing:') return { kind: 'refresh' };
  if (text.startsWith('Unknown connection: ')) return { kind: 'unknown-connection', connection: boundMessage(text.slice(20), 200) };
  if (text.includes('\t')) return parseProcessLine(text);
  if (INFO.some((re) => re.test(text))) return { kind: 'info' };
  for (const [re, messageKind] of MESSAGES) if (re.test(text)) return { kind: 'message', messageKind, message: boundMessage(text, MAX_MESSAGE_LENGTH) };
  // On stdout, a process line cut short (no tab left) or damaged; on stderr, some other message.
  return { kind: 'garbled', text: boundMessage(text, MAX_MESSAGE_LENGTH) };
}

/** `PROGRAM/PID/UID<TAB>SENT<TAB>RECEIVED`, read from the right: PROGRAM may hold '/', ' ' and tabs. */
function parseProcessLine(text: string): NethogsLine {
  const fields = text.split('\t');
  const garbled = (): NethogsLine => ({ kind: 'garbled', text: boundMessage(text, MAX_MESSAGE_LENGTH) });
  if (fields.length < 3) return garbled();
  const received = readBytes(fields.pop()!);
  const sent = readBytes(fields.pop()!);
  const head = /^([\s\S]*)\/(\d{1,10})\/(\d{1,10})$/.exec(fields.join('\t'));
  if (sent === undefined || received === undefined || !head) return garbled();
  const pid = Number(head[2]);
  const uid = Number(head[3]);
  if (pid > PID_MAX || uid > UID_MAX) return garbled();
  const raw = head[1]!;
  return { kind: 'process', pid, uid, program: sanitizeName(raw) ?? '', name: pid > 0 ? sanitizeName(baseName(raw)) : undefined, sent, received };
}

function readBytes(field: string): number | undefined {
  if (!NUMBER.test(field)) return undefined;
  const value = Math.round(Number(field));
  return Number.isSafeInteger(value) ? value : undefined;
}

/**
 * "/usr/bin/python3" -> "python3". The source does not pass -l, so PROGRAM is argv[0] alone,
 * which may hold spaces ("/opt/my tools/agent"); a name that is not a path is kept whole.
 */
function baseName(program: string): string {
  return program.startsWith('/') ? program.slice(program.lastIndexOf('/') + 1) : program;
}


// ---------------------------------------------------------------------------------------------
// Refresh blocks.

/** What the assembler hands on. */
export type RefreshEvent =
  /** The first "Refreshing:": nethogs has opened its devices and reports. */
  | { kind: 'ready' }
  /**
   * One complete refresh block: every process line between "Refreshing:" and the blank line that
   * ends it. `clean`: no line of it was garbled, so a process missing from it is really gone.
   */
  | { kind: 'block'; lines: ProcessLine[]; clean: boolean }
  | { kind: 'message'; messageKind: MessageKind; message: string }
  /** A line that could not be used: garbled, or a process line outside any block. */
  | { kind: 'skipped'; reason: 'stray' }
  /** A line that could not be read, bounded and with control characters replaced. */
  | { kind: 'skipped'; reason: 'garbled'; text: string };

/** Counts of what was skipped, since construction. */
export interface SkipCounts {
  /** Lines that could not be read; the block they were in is not clean. */
  garbled: number;
  /** Process lines outside a block. */
  stray: number;
  /** "Unknown connection:" lines; their bytes are already in "unknown TCP". */
  unknownConnections: number;
}

/**
 * Turns nethogs's stdout, line by line, into complete refresh blocks. A block counts only once
 * the blank line (or the next "Refreshing:") after it has arrived: a child killed mid-block
 * leaves a block that may lack processes, and is never applied.
 */
export class RefreshAssembler {
  readonly skipped: SkipCounts = { garbled: 0, stray: 0, unknownConnections: 0 };
  private block: ProcessLine[] | undefined;
  private clean = true;
  private seenRefresh = false;

  /** Feeds one line (without its newline); returns the events it completes. */
  line(text: string): RefreshEvent[] {
    const parsed = parseNethogsLine(text);
    switch (parsed.kind) {
      case 'refresh': {
        const events = this.finish();
        if (!this.seenRefresh) events.push({ kind: 'ready' });
        this.seenRefresh = true;
        this.block = [];
        this.clean = true;
        return events;
      }
      case 'blank':
        return this.finish();
      case 'process': {
        const { kind: _, ...line } = parsed;
        if (this.block) {
          this.block.push(line);
          return [];
        }
        this.skipped.stray++;
        return [{ kind: 'skipped', reason: 'stray' }];
      }
      case 'garbled':
        this.skipped.garbled++;
        this.clean = false;
        return [{ kind: 'skipped', reason: 'garbled', text: parsed.text }];
      case 'unknown-connection':
        this.skipped.unknownConnections++;
        return [];
      case 'message':
        return [{ kind: 'message', messageKind: parsed.messageKind, message: parsed.message }];
      default:
        return [];
    }
  }

  /**
   * The block printed last, before its end has arrived, for a child about to be stopped while it
   * idles between refreshes: every line of it arrived whole (with its newline), so each total is
   * right, and if the block lacks some processes nothing is forgotten wrongly, since no later
   * block of this child will be read. Not clean, for the same reason.
   */
  seal(): RefreshEvent[] {
    const block = this.block;
    this.block = undefined;
    return block && block.length > 0 ? [{ kind: 'block', lines: block, clean: false }] : [];
  }

  private finish(): RefreshEvent[] {
    const block = this.block;
    this.block = undefined;
    return block ? [{ kind: 'block', lines: block, clean: this.clean }] : [];
  }
}

// ---------------------------------------------------------------------------------------------
// Cumulative totals to increments.

interface Totals {
  sent: number;
  received: number;
}

/**
 * Differences of nethogs's per-process totals between complete blocks, for one nethogs child
 * (a new child counts from zero: use a new tracker). A process seen for the first time, or
 * again after a clean block without it, counts from zero: everything in its totals happened
 * while this nethogs ran. A total that shrinks started again from zero (nethogs dropped and
 * re-created the process), so the new total is the increment. Lines with the same pid and
 * program are summed first, so that two entries whose names were cut to the same length still
 * make one total that only grows.
 */
export class CumulativeTracker {
  private last = new Map<string, Totals>();

  /** Live entries (the map is as large as nethogs's own process list). */
  get size(): number {
    return this.last.size;
  }

  apply(lines: readonly ProcessLine[], clean: boolean): Increment[] {
    const current = new Map<string, Totals & { line: ProcessLine }>();
    for (const line of lines) {
      const key = `${line.pid}\t${line.program}`;
      const seen = current.get(key);
      if (seen) {
        seen.sent += line.sent;
        seen.received += line.received;
      } else current.set(key, { sent: line.sent, received: line.received, line });
    }
    const increments: Increment[] = [];
    for (const [key, now] of current) {
      const before = this.last.get(key);
      const txBytes = delta(now.sent, before?.sent);
      const rxBytes = delta(now.received, before?.received);
      if (txBytes > 0 || rxBytes > 0) increments.push(toIncrement(now.line, txBytes, rxBytes));
    }
    if (clean) this.last = new Map([...current].map(([key, { sent, received }]) => [key, { sent, received }]));
    else for (const [key, { sent, received }] of current) this.last.set(key, { sent, received });
    return increments;
  }
}

function delta(now: number, before: number | undefined): number {
  if (before === undefined || now < before) return now;
  return now - before;
}

/**
 * nethogs does not split a process's bytes by transport. Without -C it captures TCP only, so
 * everything is TCP. With -C (nethogs.udp) it adds the UDP of connected sockets to the owning
 * process's line, reported here as TCP, and the UDP of unconnected sockets (most UDP servers and
 * clients) to "unknown UDP", reported as UDP of [kernel].
 */
function toIncrement(line: ProcessLine, txBytes: number, rxBytes: number): Increment {
  const transport: Transport = line.pid === 0 && line.program === UNKNOWN_UDP ? 'udp' : 'tcp';
  const increment: Increment = { pid: line.pid, transport, rxBytes, txBytes, rxPackets: 0, txPackets: 0 };
  if (line.pid > 0 && line.name !== undefined) increment.comm = line.name;
  return increment;
}

