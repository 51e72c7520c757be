// Payload bytes from the kernel's tcp_info counters, for every source that reads tcp_info (ss
// today; an eBPF loader reading tcp_sock tomorrow). The kernel counts sequence numbers, not
// payload: the SYN and the FIN each take one, and bytes_sent counts retransmissions again.
import type { ConnectionState } from '../semconv.js';

/** Counters of one socket's tcp_info; each absent unless the reader saw it (ss omits zeros). */
export interface TcpInfo {
  bytesAcked?: number;
  bytesSent?: number;
  bytesRetrans?: number;
  bytesReceived?: number;
  segsIn?: number;
  segsOut?: number;
  dataSegsOut?: number;
}

/**
 * States in which the peer's FIN has been received, and counted in bytes_received (see
 * receivedPayload). CLOSE is left out: a RST leads there too, so it may be one byte high.
 */
const FIN_RECEIVED: ReadonlySet<ConnectionState> = new Set(['close_wait', 'last_ack', 'closing']);

/**
 * Payload received. Measured on Linux 6.18 (loopback, 1000 bytes up, 2500 down):
 *   client (active open): bytes_sent:1000 bytes_acked:1001 bytes_received:2500
 *   server (accepted):    bytes_sent:2500 bytes_acked:2500 bytes_received:1000
 * The SYN is in the client's bytes_acked only, because an accepted socket is created with
 * snd_una already past its SYN-ACK (tcp_create_openreq_child). After a shutdown(SHUT_WR) whose FIN
 * is acked, the client's bytes_acked is 302 for 300 sent, and the peer's bytes_received 301 for
 * 300 received: the FIN goes through tcp_rcv_nxt_update() like data.
 */
export function receivedPayload(info: TcpInfo, state: ConnectionState): number {
  const received = info.bytesReceived ?? 0;
  return FIN_RECEIVED.has(state) ? Math.max(received - 1, 0) : received;
}

/**
 * bytes_acked minus the SYN and FIN it may hold. The side of the connection is not known, so cap
 * it by the payload handed to the network once: bytes_sent counts retransmissions again
 * (bytes_retrans), e.g. 3095232 sent with 95232 retransmitted for 3000000 acked. Both terms only
 * grow, so the result only grows; while data is in flight it may include the client's SYN.
 * Without bytes_sent (kernel < 4.19 or an older ss) while data was sent, bytes_acked - 1 is
 * the best left: exact for clients, one byte low for accepted sockets.
 */
export function ackedPayload(info: TcpInfo): number {
  const acked = info.bytesAcked ?? 0;
  if (info.bytesSent === undefined && (info.dataSegsOut ?? 0) > 0) return Math.max(acked - 1, 0);
  const sentOnce = (info.bytesSent ?? 0) - (info.bytesRetrans ?? 0);
  return Math.max(Math.min(acked, sentOnce), 0);
}
