// Pure parsers of /proc files (net tables, stat, status, cgroup, link targets), shared by the procfs
// source, process identity and capabilities. Text in, values out; an odd line is
// skipped and counted, never thrown.
import { KERNEL_TCP_STATES } from '../../semconv.js';
import type { ConnectionState, Transport } from '../../semconv.js';

/** One row of /proc/net/{tcp,tcp6,udp,udp6}. */
export interface NetEntry {
  /** 0 for sockets no process holds (TIME_WAIT, request sockets). */
  inode: number;
  state: ConnectionState;
  /** `127.0.0.1:8080` or `[::1]:8080`; '' when only sockets without an inode were asked for. */
  local: string;
  remote: string;
  uid: number;
}

/**
 * Which rows get their endpoints decoded: all of them, or only those with inode 0, which have no
 * other identity (the procfs source names every other socket by its inode). Either way, a row
 * with a malformed endpoint is skipped.
 */
export type Endpoints = 'all' | 'without-inode';

// Columns, separated by whitespace: sl, local, remote, st, tx:rx, tr:when, retrnsmt, uid,
// timeout, inode, refcount, pointer, ... The shortest rows the kernel prints (TIME_WAIT and
// request sockets) end at the pointer, so a row with fewer columns was cut short, possibly in the
// middle of the inode.
const MIN_COLUMNS = 12;
const LOCAL = 1;
const REMOTE = 2;
const STATE = 3;
const UID = 7;
const INODE = 9;

/** Where each of the first MIN_COLUMNS columns of the row being parsed starts and ends. */
const columnStart = new Int32Array(MIN_COLUMNS);
const columnEnd = new Int32Array(MIN_COLUMNS);

// UDP rows use the same columns and state numbers as TCP; `transport` only keeps call sites explicit.
/** Parses /proc/net/{tcp,tcp6,udp,udp6}; the header is skipped silently, garbled rows are counted. */
export function parseNetTable(
  text: string,
  _transport: Transport,
  endpoints: Endpoints = 'all',
): { entries: NetEntry[]; skipped: number } {
  const entries: NetEntry[] = [];
  // Many rows share an address (the host's own, a busy peer); decode each one once per call.
  const addresses = new Map<string, string>();
  let skipped = 0;
  for (let start = 0; start <= text.length; ) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const columns = findColumns(text, start, end);
    start = end + 1;
    if (columns === 0 || isHeader(text)) continue;
    const entry = columns < MIN_COLUMNS ? undefined : parseNetRow(text, addresses, endpoints);
    if (entry) entries.push(entry);
    else skipped++;
  }
  return { entries, skipped };
}

/**
 * Finds the first MIN_COLUMNS columns of text[start, end) and returns how many there are. Only
 * the columns a row needs are sliced later; with 10,000 sockets, splitting every row whole (17
 * columns) took twice as long.
 */
function findColumns(text: string, start: number, end: number): number {
  let pos = start;
  let count = 0;
  while (count < MIN_COLUMNS) {
    while (pos < end && isWhitespace(text.charCodeAt(pos))) pos++;
    if (pos === end) break;
    columnStart[count] = pos;
    while (pos < end && !isWhitespace(text.charCodeAt(pos))) pos++;
    columnEnd[count++] = pos;
  }
  return count;
}

/** The header row starts with the column name `sl`. */
function isHeader(text: string): boolean {
  return columnEnd[0]! - columnStart[0]! === 2 && text.startsWith('sl', columnStart[0]);
}

function parseNetRow(text: string, addresses: Map<string, string>, endpoints: Endpoints): NetEntry | undefined {
  const stateNumber = hexValue(text, columnStart[STATE]!, columnEnd[STATE]!);
  const state = columnEnd[STATE]! - columnStart[STATE]! === 2 && stateNumber !== undefined ? KERNEL_TCP_STATES[stateNumber] : undefined;
  const uid = parseDecimal(text, columnStart[UID]!, columnEnd[UID]!);
  const inode = parseDecimal(text, columnStart[INODE]!, columnEnd[INODE]!);
  const decode = endpoints === 'all' || inode === 0;
  const local = decode ? decodeEndpoint(text, LOCAL, addresses) : checkEndpoint(text, LOCAL);
  const remote = decode ? decodeEndpoint(text, REMOTE, addresses) : checkEndpoint(text, REMOTE);
  if (local === undefined || remote === undefined || state === undefined) return undefined;
  if (uid === undefined || inode === undefined) return undefined;
  return { inode, state, local, remote, uid };
}

/**
 * Where the colon of column `index` is when the column is an endpoint (8 or 32 hex digits of
 * address, ':', 4 of port), or -1.
 */
function endpointColon(text: string, index: number): number {
  const start = columnStart[index]!;
  const end = columnEnd[index]!;
  const colon = text.indexOf(':', start);
  if (colon < 0 || colon >= end || end - colon - 1 !== 4 || hexValue(text, colon + 1, end) === undefined) return -1;
  const length = colon - start;
  if (length !== 8 && length !== 32) return -1;
  for (let i = start; i < colon; i++) if (!isHexDigit(text.charCodeAt(i))) return -1;
  return colon;
}

/** '' when column `index` is an endpoint decodeEndpoint could decode, undefined when not; nothing is sliced. */
function checkEndpoint(text: string, index: number): string | undefined {
  return endpointColon(text, index) < 0 ? undefined : '';
}

/** What `\s` matches in a regular expression, which is what separated the columns before. */
function isWhitespace(c: number): boolean {
  if (c === 32 || (c >= 9 && c <= 13)) return true;
  if (c < 160) return false;
  return (
    c === 160 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 ||
    c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff
  );
}

/** Column `index`: `0100007F:1F90` -> `127.0.0.1:8080`, `<32 hex>:1F90` -> `[::1]:8080`. */
function decodeEndpoint(text: string, index: number, addresses: Map<string, string>): string | undefined {
  const colon = endpointColon(text, index);
  if (colon < 0) return undefined;
  const port = hexValue(text, colon + 1, columnEnd[index]!)!;
  const addressHex = text.slice(columnStart[index], colon);
  let address = addresses.get(addressHex);
  if (address === undefined) {
    address = addressHex.length === 8 ? decodeIpv4(addressHex) : `[${decodeIpv6(addressHex)}]`;
    addresses.set(addressHex, address);
  }
  return `${address}:${port}`;
}

// The kernel prints each 32-bit word of the network-order address with %08X as a native-endian
// integer, so on little-endian hosts (x86, arm64) each word's bytes come out reversed: 127.0.0.1
// is 0100007F. Big-endian hosts (s390x) would need no swap; they are not supported.
function decodeIpv4(hex: string): string {
  const w = parseInt(hex, 16);
  return `${w & 0xff}.${(w >>> 8) & 0xff}.${(w >>> 16) & 0xff}.${w >>> 24}`;
}

/** RFC 5952 text: lower case, no leading zeros, the longest run of zero groups as `::`. */
function decodeIpv6(hex: string): string {
  const groups: number[] = [];
  for (let at = 0; at < 32; at += 8) {
    const w = parseInt(hex.slice(at, at + 8), 16);
    groups.push(((w & 0xff) << 8) | ((w >>> 8) & 0xff), (((w >>> 16) & 0xff) << 8) | (w >>> 24));
  }
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${decodeIpv4(hex.slice(24))}`;
  }
  return compressGroups(groups.map((g) => g.toString(16)));
}

function compressGroups(groups: string[]): string {
  let bestStart = -1;
  let bestLength = 1; // a single zero group is not compressed
  for (let start = 0; start < groups.length; start++) {
    let end = start;
    while (end < groups.length && groups[end] === '0') end++;
    if (end - start > bestLength) [bestStart, bestLength] = [start, end - start];
  }
  if (bestStart < 0) return groups.join(':');
  const head = groups.slice(0, bestStart).join(':');
  const tail = groups.slice(bestStart + bestLength).join(':');
  return `${head}::${tail}`;
}

function isHex(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) if (!isHexDigit(text.charCodeAt(i))) return false;
  return true;
}

function isHexDigit(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** The hex digits text[start, end) (1 to 8 of them) as a number; undefined for anything else. */
function hexValue(text: string, start: number, end: number): number | undefined {
  if (end <= start || end - start > 8) return undefined;
  let value = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    const digit = c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (digit < 0) return undefined;
    value = value * 16 + digit;
  }
  return value;
}

/** Longer digit runs go through Number(), which rounds past 2^53 (and isSafeInteger refuses them). */
const MAX_EXACT_DIGITS = 15;

/** The decimal digits text[start, end) as a safe integer; undefined for anything else. */
function parseDecimal(text: string, start = 0, end = text.length): number | undefined {
  if (end <= start) return undefined;
  let value = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
    value = value * 10 + (c - 48);
  }
  if (end - start <= MAX_EXACT_DIGITS) return value;
  const rounded = Number(text.slice(start, end));
  return Number.isSafeInteger(rounded) ? rounded : undefined;
}

/** The number inside `prefix:[N]`, the form of readlink targets of sockets and namespaces. */
function bracketedInode(link: string, prefix: string): number | undefined {
  if (!link.startsWith(prefix) || !link.endsWith(']')) return undefined;
  return parseDecimal(link, prefix.length, link.length - 1);
}

/** Socket inode of an fd readlink target like `socket:[12345]`; undefined for files, pipes and the rest. */
export function socketInode(link: string): number | undefined {
  return bracketedInode(link, 'socket:[');
}

/** Network namespace inode of a /proc/PID/ns/net readlink target like `net:[4026531840]`. */
export function parseNsInode(link: string): number | undefined {
  return bracketedInode(link, 'net:[');
}

// starttime is field 22 of /proc/PID/stat; the fields after comm start at field 3 (state).
const START_TIME_AFTER_COMM = 22 - 3;

/** pid, comm and start time (clock ticks since boot) from /proc/PID/stat. */
export function parseStat(text: string): { pid: number; comm: string; startTicks: number } | undefined {
  // comm is whatever the process wrote to /proc/self/comm, spaces and `)` included, so only
  // the first `(` and the last `)` delimit it.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = parseDecimal(text.slice(0, open).trim());
  const rest = text.slice(close + 1).trim().split(/\s+/);
  const startTicks = parseDecimal(rest[START_TIME_AFTER_COMM] ?? '');
  if (pid === undefined || startTicks === undefined) return undefined;
  return { pid, comm: text.slice(open + 1, close), startTicks };
}

/** The effective capability set from the `CapEff:` line of /proc/PID/status. */
export function parseCapEff(status: string): bigint | undefined {
  return parseCapSet(status, 'CapEff');
}

/** A capability set (`CapEff`, `CapAmb`, ...) from its line of /proc/PID/status. */
export function parseCapSet(status: string, field: string): bigint | undefined {
  const prefix = `${field}:`;
  for (const line of status.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const hex = line.slice(prefix.length).trim();
    return hex.length <= 16 && isHex(hex) ? BigInt(`0x${hex}`) : undefined;
  }
  return undefined;
}

// A path segment that is, or ends in, a 64-hex container id: `<id>` (docker and kubelet with the
// cgroupfs driver), `docker-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>.scope`,
// `libpod-<id>.scope` (systemd driver), `<pod slice>:cri-containerd:<id>` (containerd with the
// systemd driver on cgroup v1). Shorter hex names (e.g. 32) are not container ids.
const CONTAINER_SEGMENT = /^(?:.*[-:])?([0-9a-f]{64})(?:\.scope)?$/;

/** The container id in /proc/PID/cgroup (cgroup v1 or v2), or undefined for a host process. */
export function parseContainerId(cgroup: string): string | undefined {
  for (const line of cgroup.split('\n')) {
    const id = containerIdOfPath(line.slice(nthIndexOf(line, ':', 2) + 1));
    if (id) return id;
  }
  return undefined;
}

// The last match wins, so a container nested in another (docker in docker) is named by the
// innermost id. crio-conmon-<id> holds CRI-O's monitor, which runs outside the container.
function containerIdOfPath(path: string): string | undefined {
  let id: string | undefined;
  for (const segment of path.split('/')) {
    if (segment.startsWith('crio-conmon-')) continue;
    id = CONTAINER_SEGMENT.exec(segment)?.[1] ?? id;
  }
  return id;
}

function nthIndexOf(text: string, search: string, n: number): number {
  let at = -1;
  for (let i = 0; i < n; i++) {
    at = text.indexOf(search, at + 1);
    if (at < 0) return text.length;
  }
  return at;
}
