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
  /** Name the tool printed for the first owner; a fallback when /proc cannot tell. */
  comm?: string;
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
  rxPackets: number;
  txPackets: number;
  comm?: string;
}

/** What one collection returns. A partial failure still returns what worked. */
export interface Collection {
  sockets?: SocketRecord[];
  increments?: Increment[];
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
  /** Polled sources are asked for a snapshot; streaming ones run continuously and are drained. */
  readonly mode: 'polled' | 'streaming';
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

/** What HostIO.readLinks read: names[i] links to targets[i]. */
export interface LinkTable {
  names: string[];
  /** undefined: skipped; '': vanished before it could be read. */
  targets: Array<string | undefined>;
}

/** Everything a source may touch on the host, injectable for tests. */
export interface HostIO {
  readFile(path: string): Promise<string>;
  readdir(path: string): Promise<string[]>;
  readlink(path: string): Promise<string>;
  /**
   * The symlinks of a directory (a /proc/PID/fd table) and their targets, read in one go. Links
   * for which `skip` returns true are listed but not read (their target is undefined); a link
   * that vanishes between listing and reading has target ''. Rejects like readdir when the
   * directory cannot be read. Optional, so hand-made hosts in tests need not have it: callers
   * fall back to readdir + readlink.
   */
  readLinks?(dir: string, skip?: (name: string) => boolean): Promise<LinkTable>;
  /**
   * Reads a file and hands it to `onLines` in blocks of whole lines (only the last block may lack
   * its final newline), so a large file is never held whole. Optional, like readLinks: callers
   * fall back to readFile.
   */
  readLines?(path: string, onLines: (text: string) => void): Promise<void>;
  /** Runs a program with an argument array, never a shell; resolves with stdout. */
  run(file: string, args: readonly string[], options?: { timeoutMs?: number }): Promise<string>;
  /**
   * Like run, but hands stdout to `onLines` in blocks of whole lines, like readLines, so a large
   * output is never held whole in memory. Blocks may come only once the program has ended.
   * Resolves once it exited with 0; rejects when it failed or onLines threw.
   * Optional, like readLinks: callers fall back to run.
   */
  runLines?(
    file: string,
    args: readonly string[],
    onLines: (text: string) => void,
    options?: { timeoutMs?: number },
  ): Promise<void>;
  now(): number;
}
