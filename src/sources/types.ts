// The contract between a source and the rest of the agent.
import type { ConnectionState, Family, Transport } from '../semconv.js';

/** One socket seen by a snapshot source; the counters are cumulative for the socket's life. */
export interface SocketRecord {
  /** Unique among live sockets: the socket inode, or the 4-tuple when the kernel gives no inode. */
  id: string;
  transport: Transport;
  state: ConnectionState;
  /** PIDs holding a descriptor to the socket; empty when no process owns it (TIME_WAIT, orphans). */
  pids: number[];
  rxBytes?: number;
  txBytes?: number;
  rxPackets?: number;
  txPackets?: number;
}

/** Traffic of one process since the previous collection, from an event source. */
export interface Increment {
  pid: number;
  transport: Transport;
  rxBytes: number;
  txBytes: number;
  /** Packets (datagrams, TCP segments); absent where the source does not see them on this transport. */
  rxPackets?: number;
  txPackets?: number;
  /** TCP segments retransmitted, from sources that see them (the ebpf source). */
  retransSegs?: number;
  comm?: string;
}

/** What one collection returns. A partial failure still returns what worked. */
export interface Collection {
  sockets?: SocketRecord[];
  increments?: Increment[];
  /**
   * pid -> the inode number of /proc/PID/fd as the source stat()ed it this cycle: the process
   * instances its fd scan saw, so that process identities need no stat() of their own (see
   * ProcessResolver).
   */
  processDirs?: Map<number, number>;
  /** Problems that did not stop the collection, counted by kind (e.g. `parse`, `permission`). */
  errors: Record<string, number>;
}

export interface Problem {
  /** What is wrong, in one sentence. */
  what: string;
  /** The exact fix. */
  fix: string;
}

export interface ProbeResult {
  /** False when the source cannot run here at all. */
  usable: boolean;
  /** Why it cannot run. */
  problems: Problem[];
  /** It runs, but sees less than it could (e.g. no PIDs of other users' processes). */
  warnings: Problem[];
  /** Facts worth showing in `doctor`, e.g. the tool's version. */
  details: string[];
}

export interface Source {
  readonly name: string;
  /** The families this source measures. */
  readonly families: readonly Family[];
  /** Whether it can run here, and exactly why not; never throws. */
  probe(): Promise<ProbeResult>;
  /** Streaming sources start their child here. */
  start?(): Promise<void>;
  stop?(): Promise<void>;
  /** A snapshot (polled) or the increments since the last call (streaming). Throws when the source failed as a whole. */
  collect(): Promise<Collection>;
}

/** What a source's factory makes; createSources adds the name and families of its definition. */
export type SourceBehaviour = Omit<Source, 'name' | 'families'>;
