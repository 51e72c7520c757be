// Pure parser for `ss -tuanieHO`: one socket per line, its inode and tcp_info on that line. ss
// prints no owners without -p; the ss source finds them by inode in /proc/PID/fd (source.ts).
// A cycle parses one line per socket (10,000 and more), so the parser works on positions in the
// line and leaves no garbage behind but the records it returns: the scratch objects below are
// reused for every line. Allocation is what costs most here, in garbage collection.
import { SS_STATES, type ConnectionState } from '../../semconv.js';
import { ackedPayload, receivedPayload, type TcpInfo } from '../tcp-info.js';
import type { SocketRecord } from '../types.js';

/** What parseSs read: sockets[i] has inode inodes[i] (0: none, a TIME-WAIT socket) and no pids yet. */
export interface SsListing {
  sockets: SocketRecord[];
  inodes: number[];
  /** Lines that could not be read. */
  skipped: number;
}

/** Sockets found in the text, each with its inode, and the number of lines that could not be read. */
export function parseSs(text: string): SsListing {
  const sockets: SocketRecord[] = [];
  const inodes: number[] = [];
  let skipped = 0;
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (isBlank(line)) continue;
    const socket = parseLine(line);
    if (socket) {
      sockets.push(socket);
      // A number, not read back from the id: the source looks its owners up by it.
      inodes.push(tail.ino!);
    } else {
      skipped++;
    }
  }
  return { sockets, inodes, skipped };
}

interface Tail {
  ino?: number;
  hasSk: boolean;
  /** Whether any tcp_info field was printed; TIME-WAIT and SYN-RECV sockets have none. */
  hasInfo: boolean;
  info: TcpInfo;
}

const SPACE = 32;
const TAB = 9;
const CR = 13;
const STAR = 42;
/** Up to this many digits a number is read exactly; longer runs go through Number(), which rounds them. */
const MAX_EXACT_DIGITS = 15;
/** 18446744073709551615, the largest u64. */
const MAX_U64_DIGITS = 20;

/** The six leading columns of the line being parsed: where each starts and ends. */
const NETID = 0;
const STATE = 1;
const RECV_Q = 2;
const SEND_Q = 3;
const LOCAL = 4;
const PEER = 5;
const columnStart = new Int32Array(6);
const columnEnd = new Int32Array(6);

/** What parseTail read from the line being parsed. */
const tail: Tail = { hasSk: false, hasInfo: false, info: {} };

const COUNTER_KEYS: Readonly<Record<string, keyof TcpInfo>> = {
  bytes_acked: 'bytesAcked',
  bytes_sent: 'bytesSent',
  bytes_retrans: 'bytesRetrans',
  bytes_received: 'bytesReceived',
  segs_in: 'segsIn',
  segs_out: 'segsOut',
  data_segs_out: 'dataSegsOut',
};

function parseLine(line: string): SocketRecord | undefined {
  let pos = 0;
  for (let column = NETID; column <= PEER; column++) {
    const start = skipSpaces(line, pos);
    pos = nextSpace(line, start);
    if (start === pos) return undefined;
    columnStart[column] = start;
    columnEnd[column] = pos;
  }
  const transport = columnIs(line, NETID, 'tcp') ? 'tcp' : columnIs(line, NETID, 'udp') ? 'udp' : undefined;
  if (!transport) return undefined;
  const stateName = column(line, STATE);
  if (!Object.hasOwn(SS_STATES, stateName)) return undefined;
  if (!isDigits(line, columnStart[RECV_Q]!, columnEnd[RECV_Q]!) || !isDigits(line, columnStart[SEND_Q]!, columnEnd[SEND_Q]!)) {
    return undefined;
  }
  if (!isEndpoint(line, columnStart[LOCAL]!, columnEnd[LOCAL]!) || !isEndpoint(line, columnStart[PEER]!, columnEnd[PEER]!)) {
    return undefined;
  }

  // -e always prints ino and sk; a line without them was cut short.
  if (!parseTail(line, pos) || tail.ino === undefined || !tail.hasSk) return undefined;

  const id = tail.ino !== 0 ? `ino:${tail.ino}` : `tuple:${transport}:${column(line, LOCAL)}->${column(line, PEER)}`;
  const state = SS_STATES[stateName]!;
  const info = transport === 'tcp' && tail.hasInfo ? tail.info : undefined;
  return socketRecord(id, transport, state, info);
}

/**
 * One object literal per shape, so that every property lives inside the record: properties added
 * afterwards would take a second allocation per record. pids starts empty: the source finds the
 * owners, and pushes the usual single one into this array.
 */
function socketRecord(id: string, transport: 'tcp' | 'udp', state: ConnectionState, info: TcpInfo | undefined): SocketRecord {
  const pids: number[] = [];
  if (!info) return { id, transport, state, pids };
  const rxBytes = receivedPayload(info, state);
  const txBytes = ackedPayload(info);
  const rxPackets = info.segsIn ?? 0;
  const txPackets = info.segsOut ?? 0;
  return { id, transport, state, pids, rxBytes, txBytes, rxPackets, txPackets };
}

// The keys readField acts on. A key counts only at the start of a field, that is after a space,
// tab or CR, and only before a colon. The regex engine skips the ~40 other fields of a TCP line
// much faster than a loop over their characters, and test() allocates nothing. `cwnd` is
// printed for every socket that has tcp_info (it is never 0).
const TAIL_KEYS = ['ino', 'sk', 'cwnd', 'bytes_sent', 'bytes_acked', 'bytes_received', 'segs_out', 'segs_in', 'data_segs_out', 'bytes_retrans'];
const TAIL_FIELD = new RegExp(String.raw`[ \t\r](?:${TAIL_KEYS.join('|')}):`, 'g');

/**
 * Reads the `key:value` fields after the peer column, which ends at `pos`, into `tail`; false
 * when a known number is not one.
 */
function parseTail(line: string, pos: number): boolean {
  tail.ino = undefined;
  tail.hasSk = false;
  tail.hasInfo = false;
  const { info } = tail;
  info.bytesAcked = info.bytesSent = info.bytesRetrans = info.bytesReceived = undefined;
  info.segsIn = info.segsOut = info.dataSegsOut = undefined;

  // From the blank that ends the peer column, so that the first field is preceded by one too.
  TAIL_FIELD.lastIndex = pos;
  while (TAIL_FIELD.test(line)) {
    if (!readField(line, TAIL_FIELD.lastIndex)) return false;
  }
  return true;
}

/** Reads the field whose value starts at `valueStart`, just past the colon after a TAIL_KEYS key. */
function readField(line: string, valueStart: number): boolean {
  const key = keyBefore(line, valueStart - 1);
  if (key === undefined) return true;
  if (key === 'sk') {
    tail.hasSk = true;
    return true;
  }
  if (key === 'cwnd') {
    tail.hasInfo = true;
    return true;
  }
  const valueEnd = nextSpace(line, valueStart);
  // ss prints these as u64, at most 20 digits; a longer run is a damaged line (found by fuzzing:
  // 400 digits read as Infinity, and Infinity - Infinity made a socket's txBytes NaN).
  if (!isDigits(line, valueStart, valueEnd) || valueEnd - valueStart > MAX_U64_DIGITS) return false;
  const value = digitsValue(line, valueStart, valueEnd);
  if (key === 'ino') {
    // Socket inodes are 32-bit (get_next_ino); one past 2^53 is damaged, and would be rounded
    // into the id of another socket (found by fuzzing).
    if (!Number.isSafeInteger(value)) return false;
    tail.ino = value;
  } else {
    tail.info[COUNTER_KEYS[key]!] = value;
    tail.hasInfo = true;
  }
  return true;
}

/** The one key of TAIL_KEYS that ends at `colon` and starts a field (the one the regex matched). */
function keyBefore(line: string, colon: number): string | undefined {
  for (const key of TAIL_KEYS) {
    const at = colon - key.length;
    if (line.startsWith(key, at) && isSpace(line.charCodeAt(at - 1))) return key;
  }
  return undefined;
}

/** `addr:port` as ss prints it: `127.0.0.1:80`, `[::1]:80`, `127.0.0.53%lo:53`, `*:*`. */
function isEndpoint(line: string, start: number, end: number): boolean {
  const colon = line.lastIndexOf(':', end - 1);
  if (colon <= start) return false;
  return (end - colon === 2 && line.charCodeAt(colon + 1) === STAR) || isDigits(line, colon + 1, end);
}

/** Whether line[start, end) is one or more decimal digits. */
function isDigits(line: string, start: number, end: number): boolean {
  return end > start && skipDigits(line, start) >= end;
}

/** The value of the digits line[start, end), as Number() would read them. */
function digitsValue(line: string, start: number, end: number): number {
  if (end - start > MAX_EXACT_DIGITS) return Number(line.slice(start, end));
  let value = 0;
  for (let i = start; i < end; i++) value = value * 10 + line.charCodeAt(i) - 48;
  return value;
}

function skipDigits(line: string, pos: number): number {
  while (pos < line.length) {
    const c = line.charCodeAt(pos);
    if (c < 48 || c > 57) break;
    pos++;
  }
  return pos;
}

function column(line: string, index: number): string {
  return line.slice(columnStart[index], columnEnd[index]);
}

function columnIs(line: string, index: number, text: string): boolean {
  return columnEnd[index]! - columnStart[index]! === text.length && line.startsWith(text, columnStart[index]);
}

function isBlank(line: string): boolean {
  return skipSpaces(line, 0) === line.length;
}

function skipSpaces(line: string, pos: number): number {
  while (pos < line.length && isSpace(line.charCodeAt(pos))) pos++;
  return pos;
}

function nextSpace(line: string, pos: number): number {
  while (pos < line.length && !isSpace(line.charCodeAt(pos))) pos++;
  return pos;
}

function isSpace(c: number): boolean {
  return c === SPACE || c === TAB || c === CR;
}
