// Pure parser for `ss -tuanpieHO`: one socket per line, owners, inode and tcp_info on that line.
import { SS_STATES, type ConnectionState } from '../../semconv.js';
import type { SocketRecord } from '../types.js';

/** Sockets found in the text, and the number of lines that could not be read. */
export function parseSs(text: string): { sockets: SocketRecord[]; skipped: number } {
  const sockets: SocketRecord[] = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (isBlank(line)) continue;
    const socket = parseLine(line);
    if (socket) sockets.push(socket);
    else skipped++;
  }
  return { sockets, skipped };
}

/** Counters a TCP line carries; each absent unless printed (ss omits zero counters). */
interface TcpInfo {
  bytesAcked?: number;
  bytesSent?: number;
  bytesRetrans?: number;
  bytesReceived?: number;
  segsIn?: number;
  segsOut?: number;
  dataSegsOut?: number;
}

interface Tail {
  ino?: number;
  hasSk: boolean;
  /** Whether any tcp_info field was printed; TIME-WAIT and SYN-RECV sockets have none. */
  hasInfo: boolean;
  info: TcpInfo;
}

interface Owners {
  pids: number[];
  comm: string;
  end: number;
}

const SPACE = 32;
const TAB = 9;
const CR = 13;
const COLON = 58;
const USERS = 'users:(';

/**
 * First letters of the keys read below; most of the ~50 fields of a TCP line are skipped
 * without being sliced. `cwnd` is printed for every socket that has tcp_info (never 0).
 */
const KEY_INITIALS = new Set([...'ibscd'].map((c) => c.charCodeAt(0)));

const COUNTER_KEYS: Readonly<Record<string, keyof TcpInfo>> = {
  bytes_acked: 'bytesAcked',
  bytes_sent: 'bytesSent',
  bytes_retrans: 'bytesRetrans',
  bytes_received: 'bytesReceived',
  segs_in: 'segsIn',
  segs_out: 'segsOut',
  data_segs_out: 'dataSegsOut',
};

/**
 * States in which the peer's FIN has been received, and counted in bytes_received (see
 * tcpCounters). CLOSE is left out: a RST leads there too, so it may be one byte high.
 */
const FIN_RECEIVED: ReadonlySet<ConnectionState> = new Set(['close_wait', 'last_ack', 'closing']);

function parseLine(line: string): SocketRecord | undefined {
  const cols: string[] = [];
  let pos = 0;
  while (cols.length < 6) {
    const start = skipSpaces(line, pos);
    pos = nextSpace(line, start);
    if (start === pos) return undefined;
    cols.push(line.slice(start, pos));
  }
  const [netid, stateName, recvQ, sendQ, local, peer] = cols as [string, string, string, string, string, string];
  if (netid !== 'tcp' && netid !== 'udp') return undefined;
  if (!Object.hasOwn(SS_STATES, stateName)) return undefined;
  if (!isDigits(recvQ) || !isDigits(sendQ) || !isEndpoint(local) || !isEndpoint(peer)) return undefined;

  pos = skipSpaces(line, pos);
  let owners: Owners | undefined;
  if (line.startsWith(USERS, pos)) {
    owners = parseOwners(line, pos + USERS.length);
    if (!owners) return undefined;
    pos = owners.end;
  }
  const tail = parseTail(line, pos);
  // -e always prints ino and sk; a line without them was cut short.
  if (!tail || tail.ino === undefined || !tail.hasSk) return undefined;

  const state = SS_STATES[stateName]!;
  const socket: SocketRecord = {
    id: tail.ino !== 0 ? `ino:${tail.ino}` : `tuple:${netid}:${local}->${peer}`,
    transport: netid,
    state,
    pids: owners ? uniqueSorted(owners.pids) : [],
  };
  if (owners && owners.comm !== '') socket.comm = owners.comm;
  if (netid === 'tcp' && tail.hasInfo) Object.assign(socket, tcpCounters(tail.info, state));
  return socket;
}

/**
 * Parses `("name",pid=N,fd=N),("name",pid=N,fd=N))` starting at `pos`.
 * The name is printed raw and may hold spaces, quotes, commas and even `",pid=` (a comm of
 * `x",pid=1,fd=2` fits in 15 bytes), so each entry ends at the first `",pid=N,fd=N)` that is
 * followed by `,(` or `)`. ss 6.1 reads the name with "%[^)]" from /proc/PID/stat, so it never
 * holds `)` (`a (b) c` prints as `a (b`) and the first complete match is the real one.
 */
function parseOwners(line: string, pos: number): Owners | undefined {
  const pids: number[] = [];
  let comm: string | undefined;
  for (;;) {
    if (!line.startsWith('("', pos)) return undefined;
    const entry = parseOwnerEnd(line, pos + 2);
    if (!entry) return undefined;
    comm ??= line.slice(pos + 2, entry.nameEnd);
    pids.push(entry.pid);
    pos = entry.end;
    const next = line.charAt(pos);
    if (next === ')') return { pids, comm, end: pos + 1 };
    if (next !== ',') return undefined;
    pos++;
  }
}

const OWNER_FIELDS = /(\d+),fd=\d+\)/y;

/** Finds the end of one owner's name and reads its pid; `end` is just past the closing `)`. */
function parseOwnerEnd(line: string, from: number): { nameEnd: number; pid: number; end: number } | undefined {
  for (let at = line.indexOf('",pid=', from); at !== -1; at = line.indexOf('",pid=', at + 1)) {
    OWNER_FIELDS.lastIndex = at + 6;
    const m = OWNER_FIELDS.exec(line);
    if (!m) continue;
    const next = line.charAt(OWNER_FIELDS.lastIndex);
    if (next === ',' || next === ')') return { nameEnd: at, pid: Number(m[1]), end: OWNER_FIELDS.lastIndex };
  }
  return undefined;
}

/** Reads the `key:value` fields after the owners; undefined when a known number is not one. */
function parseTail(line: string, pos: number): Tail | undefined {
  const tail: Tail = { hasSk: false, hasInfo: false, info: {} };
  while (pos < line.length) {
    const start = skipSpaces(line, pos);
    let colon = -1;
    for (pos = start; pos < line.length; pos++) {
      const c = line.charCodeAt(pos);
      if (isSpace(c)) break;
      if (c === COLON && colon === -1) colon = pos;
    }
    if (colon <= start || !KEY_INITIALS.has(line.charCodeAt(start))) continue;
    if (!readField(tail, line.slice(start, colon), line.slice(colon + 1, pos))) return undefined;
  }
  return tail;
}

function readField(tail: Tail, key: string, value: string): boolean {
  if (key === 'ino') {
    if (!isDigits(value)) return false;
    tail.ino = Number(value);
  } else if (key === 'sk') {
    tail.hasSk = true;
  } else if (key === 'cwnd') {
    tail.hasInfo = true;
  } else if (Object.hasOwn(COUNTER_KEYS, key)) {
    if (!isDigits(value)) return false;
    tail.info[COUNTER_KEYS[key]!] = Number(value);
    tail.hasInfo = true;
  }
  return true;
}

/**
 * Payload counters from tcp_info. The kernel counts sequence numbers, not payload: the SYN and
 * the FIN each take one. Measured on Linux 6.18 (loopback, 1000 bytes up, 2500 down):
 *   client (active open): bytes_sent:1000 bytes_acked:1001 bytes_received:2500
 *   server (accepted):    bytes_sent:2500 bytes_acked:2500 bytes_received:1000
 * The SYN is in the client's bytes_acked only, because an accepted socket is created with
 * snd_una already past its SYN-ACK (tcp_create_openreq_child). After a shutdown(SHUT_WR) whose FIN
 * is acked, the client's bytes_acked is 302 for 300 sent, and the peer's bytes_received 301 for
 * 300 received: the FIN goes through tcp_rcv_nxt_update() like data.
 */
function tcpCounters(info: TcpInfo, state: ConnectionState): Partial<SocketRecord> {
  const received = info.bytesReceived ?? 0;
  return {
    rxBytes: FIN_RECEIVED.has(state) ? Math.max(received - 1, 0) : received,
    txBytes: ackedPayload(info),
    rxPackets: info.segsIn ?? 0,
    txPackets: info.segsOut ?? 0,
  };
}

/**
 * bytes_acked minus the SYN and FIN it may hold. The side of the connection is not on the line,
 * so cap it by the payload handed to the network once: bytes_sent counts retransmissions again
 * (bytes_retrans), e.g. 3095232 sent with 95232 retransmitted for 3000000 acked. Both terms only
 * grow, so the result only grows; while data is in flight it may include the client's SYN.
 * Without bytes_sent (kernel < 4.19 or an older ss) while data was sent, bytes_acked - 1 is
 * the best left: exact for clients, one byte low for accepted sockets.
 */
function ackedPayload(info: TcpInfo): number {
  const acked = info.bytesAcked ?? 0;
  if (info.bytesSent === undefined && (info.dataSegsOut ?? 0) > 0) return Math.max(acked - 1, 0);
  const sentOnce = (info.bytesSent ?? 0) - (info.bytesRetrans ?? 0);
  return Math.max(Math.min(acked, sentOnce), 0);
}

/** `addr:port` as ss prints it: `127.0.0.1:80`, `[::1]:80`, `127.0.0.53%lo:53`, `*:*`. */
function isEndpoint(text: string): boolean {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) return false;
  const port = text.slice(colon + 1);
  return port === '*' || isDigits(port);
}

function isDigits(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function uniqueSorted(pids: number[]): number[] {
  return [...new Set(pids)].sort((a, b) => a - b);
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
