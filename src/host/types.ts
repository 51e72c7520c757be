// What the agent may touch on the host, as one injectable interface: the real one is io.ts, tests
// hand in their own (test/helpers/fake-host.ts).

/** What HostIO.readLinks read: names[i] links to targets[i]. */
export interface LinkTable {
  names: string[];
  /** undefined: skipped; '': vanished before it could be read. */
  targets: Array<string | undefined>;
}

/** A long-running child whose output is read line by line (the ebpf loader, nethogs). */
export interface SpawnSpec {
  file: string;
  args: readonly string[];
  /** Added to the agent's environment (LC_ALL=C is always set). */
  env?: Record<string, string>;
  /**
   * The longest line handed on, in bytes. A longer one is dropped whole (never held beyond this
   * many bytes plus one read chunk) and reported once to onLongLine.
   */
  maxLineBytes: number;
  onStdout(line: string): void;
  onStderr(line: string): void;
  onLongLine(stream: 'stdout' | 'stderr'): void;
  /** Give the child a stdin pipe that stays open while the agent lives (default: /dev/null). */
  stdinPipe?: boolean;
}

/** How a spawned child ended; `error` when it could not start at all (ENOENT, EACCES). */
export interface ChildExit {
  code: number | null;
  signal: string | null;
  error?: string;
}

export interface ChildHandle {
  /** Settles once the child is gone and its output read; never rejects. */
  readonly exited: Promise<ChildExit>;
  kill(signal: 'SIGTERM' | 'SIGKILL'): void;
}

/** Everything a source or a /proc reader may touch on the host, injectable for tests. */
export interface HostIO {
  readFile(path: string): Promise<string>;
  readdir(path: string): Promise<string[]>;
  readlink(path: string): Promise<string>;
  /**
   * The symlinks of a directory (a /proc/PID/fd table) and their targets, read in one go. Links
   * for which `skip` returns true are listed but not read (their target is undefined); a link
   * that vanishes between listing and reading has target ''. Rejects like readdir when the
   * directory cannot be read.
   */
  readLinks(dir: string, skip?: (name: string) => boolean): Promise<LinkTable>;
  /** stat() of a path: its inode number and size (for /proc/PID/fd, the number of open fds since Linux 6.2; 0 before). */
  stat(path: string): Promise<{ ino: number; size: number }>;
  /**
   * Reads a file and hands it to `onLines` in blocks of whole lines (only the last block may lack
   * its final newline), so a large file is never held whole.
   */
  readLines(path: string, onLines: (text: string) => void): Promise<void>;
  /** Runs a program with an argument array, never a shell; resolves with stdout. */
  run(file: string, args: readonly string[], options?: { timeoutMs?: number }): Promise<string>;
  /**
   * Like run, but hands stdout to `onLines` in blocks of whole lines, like readLines, so a large
   * output is never held whole in memory. Blocks may come only once the program has ended.
   * Resolves once it exited with 0; rejects when it failed or onLines threw.
   */
  runLines(
    file: string,
    args: readonly string[],
    onLines: (text: string) => void,
    options?: { timeoutMs?: number },
  ): Promise<void>;
  /** Starts a long-running child (argument array, no shell, stdin /dev/null unless stdinPipe) and streams its lines. */
  spawn(spec: SpawnSpec): ChildHandle;
  now(): number;
}
