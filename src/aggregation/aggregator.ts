// Folds what the sources collected into per-process monotonic totals and current connections,
// and prepares the snapshot the exporters read.
import { KERNEL_PROCESS, type ConnectionState, type Family } from '../semconv.js';
import type { PodIndex } from '../host/kubernetes.js';
import type { ProcessIdentity, ProcessResolver } from '../host/processes.js';
import type { Collection, Increment, SocketRecord } from '../sources/types.js';
import { groupOf, type AggregationMode } from './grouping.js';
import { ProcessEntry } from './process-entry.js';
import { SeriesGroup } from './series-group.js';
import { SocketLedger } from './socket-ledger.js';
import type { Snapshot } from './snapshot.js';
import { TopN } from './top.js';

export interface AggregatorOptions {
  /** Cycles an exited process stays in the process table, so that its last increments are credited. */
  retainCycles: number;
  /** --aggregate-by: which processes share a series; pid if not given. */
  aggregateBy?: AggregationMode;
  /**
   * --exit-retention: how long a series whose processes have all gone stays exported, unchanged,
   * before its totals fold into [other]; at least a scrape interval, so its last value is scraped.
   * 0 if not given: folded as soon as its last process is dropped.
   */
  exitRetentionMs?: number;
  /** --max-processes; 0 means no cap. */
  maxProcesses: number;
  /** Start of the pseudo-processes' series. */
  startTimeMs: number;
  now: () => number;
  /** Pod names of containers, on Kubernetes nodes. */
  pods?: PodIndex;
}

const KERNEL_KEY = `${KERNEL_PROCESS.pid}/0`;
/** States in which a socket normally has a process holding it (not TIME_WAIT, not orphaned closes). */
const OWNED_STATES: ReadonlySet<ConnectionState> = new Set(['established', 'syn_sent', 'syn_received', 'listen', 'close_wait']);

export class Aggregator {
  private readonly entries = new Map<string, ProcessEntry>();
  private readonly groups = new Map<string, SeriesGroup>();
  private foldedProcesses = 0;
  private foldedSeries = 0;
  /** snapshot() calls so far. */
  private rounds = 0;
  private readonly ledgers = new Map<string, SocketLedger>();
  private readonly kernel: ProcessEntry;
  private readonly top: TopN;
  private cycle = 0;
  /**
   * The last process tracked under each PID, kept until the exit retention has passed since it was
   * dropped. An event source reports the packets of a process's last moments (the FIN and RST of a
   * killed client) after the process is gone; those bytes go to its series, not to a second series
   * with the same labels, which /metrics would show as a duplicate whose value looks like a reset.
   */
  private readonly lastByPid = new Map<number, { identity: ProcessIdentity; droppedMs?: number }>();

  constructor(
    private readonly resolver: ProcessResolver,
    private readonly options: AggregatorOptions,
  ) {
    this.kernel = new ProcessEntry({
      key: KERNEL_KEY,
      pid: KERNEL_PROCESS.pid,
      startTicks: 0,
      startTimeMs: options.startTimeMs,
      name: KERNEL_PROCESS.name,
    });
    this.entries.set(KERNEL_KEY, this.kernel);
    this.top = new TopN(options.startTimeMs);
  }

  /** Starts a cycle: connections are counted afresh from this cycle's snapshots. */
  beginCycle(): void {
    this.cycle++;
    this.resolver.beginCycle();
    for (const entry of this.entries.values()) entry.connections = new Map();
  }

  /**
   * Credits one source's collection for the families it serves.
   * `baseline`: the source has just taken these families over at runtime; see SocketLedger.
   */
  async ingest(source: string, collection: Collection, families: ReadonlySet<Family>, baseline = false): Promise<void> {
    const bytes = families.has('bytes');
    const packets = families.has('packets');
    if (collection.processDirs) this.resolver.learnDirs(collection.processDirs);
    if (collection.sockets) {
      const owners = await this.owners(collection.sockets);
      if (bytes || packets) this.creditSockets(source, collection.sockets, owners, bytes, packets, baseline);
      if (families.has('connections')) this.countConnections(collection.sockets, owners);
    }
    if (collection.increments && (bytes || packets)) await this.creditIncrements(collection.increments, bytes, packets);
  }

  /** Forgets a source's per-socket state once it stops serving, so a later takeover starts from a baseline. */
  release(source: string): void {
    this.ledgers.delete(source);
  }

  /** Ends a cycle: processes found gone are kept `retainCycles` more cycles, then dropped. */
  async endCycle(): Promise<void> {
    const checks = [...this.entries.values()]
      .filter((entry) => entry !== this.kernel)
      .map(async (entry) => {
        if (await this.resolver.isAlive(entry.identity)) {
          entry.exitedCycle = undefined;
          return;
        }
        entry.exitedCycle ??= this.cycle;
        if (this.cycle - entry.exitedCycle >= this.options.retainCycles) this.drop(entry);
      });
    await Promise.all(checks);
    await this.options.pods?.refresh();
  }

  /**
   * Hands every process's new traffic to its series, folds the series whose processes have all
   * been gone for the exit retention into [other] (in the same snapshot, so the sum over all
   * series never falls), and applies the --max-processes cap.
   */
  snapshot(): Snapshot {
    const now = this.options.now();
    this.rounds++;
    for (const group of this.groups.values()) group.connections = new Map();
    const kernel = this.groupFor(this.kernel, now);
    for (const entry of this.entries.values()) if (entry !== this.kernel) this.groupFor(entry, now);
    for (const group of this.groups.values()) {
      if (group.lastMemberRound === this.rounds || now - group.lastMemberMs < (this.options.exitRetentionMs ?? 0)) continue;
      this.groups.delete(group.key);
      this.top.fold(group);
      this.foldedSeries++;
    }
    for (const [pid, last] of this.lastByPid) {
      if (last.droppedMs !== undefined && now - last.droppedMs > (this.options.exitRetentionMs ?? 0)) this.lastByPid.delete(pid);
    }
    const others = [...this.groups.values()].filter((group) => group !== kernel);
    const { top, other } = this.top.select(others, this.options.maxProcesses);
    const processes = [kernel, ...top].map((group) => group.series());
    if (other) processes.push(other);
    return {
      timeMs: now,
      processes,
      trackedProcesses: this.entries.size - 1,
      foldedProcesses: this.foldedProcesses,
      foldedSeries: this.foldedSeries,
    };
  }

  /** The series of the entry now (created if new), with the entry's new traffic handed to it. */
  private groupFor(entry: ProcessEntry, now: number): SeriesGroup {
    const { key, attributes } =
      entry === this.kernel
        ? { key: KERNEL_KEY, attributes: { pid: KERNEL_PROCESS.pid, name: KERNEL_PROCESS.name } }
        : groupOf(this.options.aggregateBy ?? 'pid', entry.identity, this.options.pods);
    let group = this.groups.get(key);
    if (!group) {
      // A process's series starts with the process; a shared one when the agent first saw a member.
      const start = (this.options.aggregateBy ?? 'pid') === 'pid' || entry === this.kernel ? entry.identity.startTimeMs : now;
      this.groups.set(key, (group = new SeriesGroup(key, attributes, start, now)));
    }
    group.attributes = attributes; // pid mode: pod names may become known after the process started
    group.lastMemberMs = now;
    group.lastMemberRound = this.rounds;
    entry.passOn(group);
    return group;
  }

  /** Forgets an exited process, once it has handed its series all it counted. */
  private drop(entry: ProcessEntry): void {
    this.groupFor(entry, this.options.now()); // what was credited since the last snapshot
    this.entries.delete(entry.identity.key);
    const last = this.lastByPid.get(entry.identity.pid);
    if (last?.identity.key === entry.identity.key) last.droppedMs = this.options.now();
    this.foldedProcesses++;
  }

  /**
   * The entry of the process that owns each socket, at the socket's index: the lowest live PID
   * among its holders. An array rather than a map keyed by socket: nothing to hash or grow for
   * 10,000 sockets a cycle.
   */
  private async owners(sockets: readonly SocketRecord[]): Promise<Array<ProcessEntry | undefined>> {
    const pids = new Set<number>();
    for (const socket of sockets) for (const pid of socket.pids) pids.add(pid);
    const identities = new Map<number, ProcessIdentity>();
    await Promise.all(
      [...pids].map(async (pid) => {
        const identity = await this.resolver.resolve(pid);
        if (identity) identities.set(pid, identity);
      }),
    );
    const owners = new Array<ProcessEntry | undefined>(sockets.length);
    const entries = new Map<number, ProcessEntry>();
    for (let i = 0; i < sockets.length; i++) {
      // pids are sorted ascending, so the first live one is the lowest: one owner per socket,
      // so a socket shared after fork is neither double counted in bytes nor in connections.
      for (const pid of sockets[i]!.pids) {
        let entry = entries.get(pid);
        if (!entry) {
          const identity = identities.get(pid);
          if (!identity) continue;
          entries.set(pid, (entry = this.entryFor(identity)));
        }
        owners[i] = entry;
        break;
      }
    }
    return owners;
  }

  private entryFor(identity: ProcessIdentity): ProcessEntry {
    let entry = this.entries.get(identity.key);
    if (!entry) {
      entry = new ProcessEntry(identity);
      this.entries.set(identity.key, entry);
      if (identity.pid > 0) this.lastByPid.set(identity.pid, { identity });
    }
    return entry;
  }

  private creditSockets(
    source: string,
    sockets: readonly SocketRecord[],
    owners: ReadonlyArray<ProcessEntry | undefined>,
    bytes: boolean,
    packets: boolean,
    baseline: boolean,
  ): void {
    let ledger = this.ledgers.get(source);
    const firstSight = !ledger;
    // A new ownerless socket in a state that has an owner may have been listed mid-scan: it waits a cycle.
    if (!ledger) this.ledgers.set(source, (ledger = new SocketLedger((socket) => OWNED_STATES.has(socket.state))));
    const credits = ledger.apply(sockets, (_, i) => owners[i]?.identity.key, KERNEL_KEY, baseline && firstSight);
    for (const { owner, socket, delta } of credits) {
      // The previous owner may have exited and been dropped; its socket's remainder goes to [kernel].
      const entry = this.entries.get(owner) ?? this.kernel;
      entry.credit(socket.transport, delta, bytes, packets);
    }
  }

  private countConnections(sockets: readonly SocketRecord[], owners: ReadonlyArray<ProcessEntry | undefined>): void {
    for (let i = 0; i < sockets.length; i++) {
      const socket = sockets[i]!;
      (owners[i] ?? this.kernel).countConnection(socket.transport, socket.state);
    }
  }

  private async creditIncrements(increments: readonly Increment[], bytes: boolean, packets: boolean): Promise<void> {
    const identities = await Promise.all(increments.map((inc) => (inc.pid > 0 ? this.resolver.resolve(inc.pid) : undefined)));
    increments.forEach((inc, i) => {
      const identity = identities[i] ?? (inc.pid > 0 ? this.lastByPid.get(inc.pid)?.identity : undefined) ?? this.departed(inc);
      const entry = identity ? this.entryFor(identity) : this.kernel;
      entry.credit(inc.transport, inc, bytes, packets);
    });
  }

  /**
   * A process that exited before the agent could look it up (a short-lived client), named by the
   * comm the event source saw. Its series live for the retention cycles, like any exited process.
   */
  private departed(inc: Increment): ProcessIdentity | undefined {
    if (inc.pid <= 0 || inc.comm === undefined) return undefined;
    return { key: `${inc.pid}/departed`, pid: inc.pid, startTicks: -1, startTimeMs: this.options.now(), name: inc.comm };
  }
}
