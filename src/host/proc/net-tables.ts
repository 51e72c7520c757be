// /proc/PID/net/{tcp,tcp6,udp,udp6}: the sockets of the network namespace PID lives in.
import type { Transport } from '../../semconv.js';
import { isDenied, isGone } from '../io.js';
import type { HostIO } from '../types.js';
import { parseNetTable, type NetEntry } from './parse.js';

export const NET_TABLES: ReadonlyArray<[file: string, transport: Transport]> = [
  ['tcp', 'tcp'],
  ['tcp6', 'tcp'],
  ['udp', 'udp'],
  ['udp6', 'udp'],
];

/**
 * A table read: its rows and the rows skipped as garbled; or why it could not be read: `gone`
 * (the PID left, or the protocol, e.g. IPv6, is disabled: normal and silent), `permission`, or
 * `net_table` for anything else.
 */
export type NetTableRead = { entries: NetEntry[]; skipped: number } | { failed: 'gone' | 'permission' | 'net_table' };

/**
 * One table, parsed block by block (parseNetTable reads each row alone, so the result is the
 * same as parsing it whole). Sockets with an inode are named by it: their endpoints are not decoded.
 */
export async function readNetTable(io: HostIO, path: string, transport: Transport): Promise<NetTableRead> {
  const table = { entries: [] as NetEntry[], skipped: 0 };
  try {
    await io.readLines(path, (text) => {
      const block = parseNetTable(text, transport, 'without-inode');
      for (const entry of block.entries) table.entries.push(entry);
      table.skipped += block.skipped;
    });
    return table;
  } catch (err) {
    return { failed: isGone(err) ? 'gone' : isDenied(err) ? 'permission' : 'net_table' };
  }
}
