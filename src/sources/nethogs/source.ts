// nethogs: wire bytes per process (IP packets with their link-layer header), from a packet
// capture on the host's devices, for when eBPF is not available. nethogs runs as a supervised
// child in trace mode printing every process's cumulative totals; see parse.ts and
// docs/sources.md for what it counts and what it misses.
import type { ConfigOf } from '../../config/keys.js';
import { inheritedCaps, PACKET_CAPTURE, PID_MAPPING, shortCapName, type CapName } from '../../host/capabilities.js';
import type { HostIO } from '../../host/types.js';
import type { SourceContext } from '../definition.js';
import { hasSetpriv, setprivWarning, SILENT_LIMIT_MIN_MS, StreamingChild, type Generation } from '../streaming.js';
import type { Collection, Problem, ProbeResult, SourceBehaviour } from '../types.js';
import type { config } from './config.js';
import {
  CumulativeTracker,
  RefreshAssembler,
  VIEW_MODE_TOTAL_BYTES,
  parseNethogsLine,
  type RefreshEvent,
} from './parse.js';

type Settings = ConfigOf<typeof config>;

const SYS_CLASS_NET = '/sys/class/net';
/** include/uapi/linux/if.h */
const IFF_UP = 0x1;
const IFF_LOOPBACK = 0x8;
/** nethogs reads its first refresh after opening every device and scanning /proc. */
const START_GRACE_MS = 10_000;
const PROBE_TIMEOUT_MS = 10_000;
/** nethogs prints a refresh block in one burst; this long after its first line, it is whole. */
const SEAL_AFTER_MS = 50;
/** nethogs prints one short line per process (its path is at most PATH_MAX, 4 KiB): ample. */
const MAX_LINE_BYTES = 64 * 1024;

/** The nethogs command line for these settings (argument array, no shell); `refreshes`: exit after that many. */
export function nethogsArgs(
  settings: { devices: readonly string[]; loopback: boolean; udp: boolean },
  refreshSeconds: number,
  refreshes?: number,
): string[] {
  const args = ['-t', '-v', String(VIEW_MODE_TOTAL_BYTES), '-d', String(refreshSeconds)];
  if (refreshes !== undefined) args.push('-c', String(refreshes));
  // -a: also loopback and devices that are down; nethogs skips both otherwise, even when named.
  if (settings.loopback) args.push('-a');
  if (settings.udp) args.push('-C');
  // `--`: a device name can never be read as an option.
  if (settings.devices.length > 0) args.push('--', ...settings.devices);
  return args;
}

/** nethogs refreshes every whole number of seconds (-d takes an integer); at least 1. */
export function refreshSeconds(refreshMs: number): number {
  return Math.max(1, Math.ceil(refreshMs / 1000));
}

/** The state of one nethogs child's output: a new child counts from zero. */
interface Reader {
  assembler: RefreshAssembler;
  tracker: CumulativeTracker;
}

export function createNethogsSource(ctx: SourceContext<Settings>): SourceBehaviour {
  const { io, settings } = ctx;
  const refresh = refreshSeconds(settings.refresh);
  // nethogs prints once per refresh, a drain may fall between two: a message's outage ends after
  // three refreshes without it.
  const child = new StreamingChild(io, ctx.logger, 'nethogs', 3 * refresh * 1000);
  let current: Generation | undefined;
  let startedAtMs = 0;
  /** Set while a planned restart replaces the child; collect() does not report it as a failure. */
  let restarting: Promise<void> | undefined;

  const apply = (generation: Generation, reader: Reader, events: readonly RefreshEvent[]): void => {
    for (const event of events) {
      if (event.kind === 'ready') generation.ready();
      else if (event.kind === 'block') {
        generation.add(reader.tracker.apply(event.lines, event.clean));
        restartWhenDue(generation, reader);
      } else if (event.kind === 'skipped' && event.reason === 'garbled') child.unreadable(generation, event.text);
      else if (event.kind === 'skipped') generation.count('parse');
      else child.said(generation, event.messageKind, event.message);
    }
  };

  const onStderr = (line: string, generation: Generation): void => {
    const parsed = parseNethogsLine(line);
    if (parsed.kind === 'message') child.said(generation, parsed.messageKind, parsed.message);
    else if (parsed.kind === 'garbled') child.said(generation, 'other', parsed.text);
  };

  /** Starts a child and resolves once it has printed its first refresh. */
  const launch = async (): Promise<void> => {
    const reader: Reader = { assembler: new RefreshAssembler(), tracker: new CumulativeTracker() };
    const timeoutMs = START_GRACE_MS + 2 * refresh * 1000;
    current = await child.launch({
      file: settings.path,
      args: nethogsArgs(settings, refresh),
      pdeathsig: await hasSetpriv(io),
      maxLineBytes: MAX_LINE_BYTES,
      onStdout: (line, generation) => apply(generation, reader, reader.assembler.line(line)),
      onStderr,
      readyTimeoutMs: timeoutMs,
      // nethogs -t prints a "Refreshing:" line every refresh, traffic or not: without one, it
      // reports nothing, whether it prints garbage or nothing at all.
      silentLimitMs: Math.max(SILENT_LIMIT_MIN_MS, 5 * refresh * 1000),
      isProgress: (line) => parseNethogsLine(line).kind === 'refresh',
      messages: {
        exited: 'nethogs exited before its first refresh',
        timedOut: `nethogs printed no refresh within ${timeoutMs / 1000}s`,
      },
    });
    startedAtMs = io.now();
  };

  /**
   * nethogs in a totals view never forgets a connection, and keeps one record per connection
   * per second of traffic (issue raboof/nethogs#244): its memory and output grow for as long as
   * it runs. So it is restarted every nethogs.restartEvery: right after a refresh, once the
   * block it printed has arrived whole (nethogs then idles until the next refresh), that block is
   * applied and the child replaced. What is lost is the traffic of those moments and of the new
   * child's start-up (measured: docs/sources.md).
   */
  const restartWhenDue = (generation: Generation, reader: Reader): void => {
    if (restarting || startedAtMs === 0 || generation !== current || io.now() - startedAtMs < settings.restartEvery) return;
    restarting = (async () => {
      try {
        await new Promise((r) => setTimeout(r, SEAL_AFTER_MS));
        apply(generation, reader, reader.assembler.seal());
        // The new child opens its capture while the old one exits: the gap is its start-up.
        const launching = launch();
        const stopping = child.retire(generation);
        await launching;
        await stopping;
      } catch {
        // The failed child is the current one: the next collect() reports it and the collector
        // restarts the source with backoff.
      } finally {
        restarting = undefined;
      }
    })();
  };

  return {
    probe: () => probeNethogs(ctx),

    async start(): Promise<void> {
      await restarting;
      await child.stop();
      startedAtMs = 0;
      child.drain();
      await launch();
    },

    async collect(): Promise<Collection> {
      if (!restarting) {
        const failure = child.failure;
        if (failure !== undefined) throw new Error(failure === 'not started' ? 'nethogs is not running' : failure);
      }
      return child.drain();
    },

    async stop(): Promise<void> {
      await restarting;
      await child.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// probe

async function probeNethogs(ctx: SourceContext<Settings>): Promise<ProbeResult> {
  const { io, settings, privileges } = ctx;
  const result: ProbeResult = { usable: true, problems: [], warnings: [], details: [] };
  const problem = (p: Problem): void => {
    result.usable = false;
    result.problems.push(p);
  };

  try {
    // `nethogs -V` prints " version 0.8.7-2".
    const version = (await io.run(settings.path, ['-V'], { timeoutMs: PROBE_TIMEOUT_MS })).trim();
    result.details.push(`nethogs ${version.replace(/^version\s+/, '')}`);
  } catch {
    problem({ what: `cannot run ${JSON.stringify(settings.path)}`, fix: 'install nethogs (Debian/Ubuntu: apt-get install nethogs) or set nethogs.path' });
    return result;
  }

  const devices = await readDevices(io);
  const chosen = chooseDevices(devices, settings);
  for (const p of chosen.warnings) result.warnings.push(p);
  if (chosen.usable.length === 0) problem(chosen.problem);
  else result.details.push(`devices: ${chosen.usable.join(', ')}`);

  const inherited = inheritedCaps(privileges);
  const missing = PACKET_CAPTURE.filter((cap) => !inherited.caps.has(cap));
  let fileCaps = false;
  if (missing.length > 0 && result.usable) {
    // The nethogs binary may carry the capabilities itself (setcap, as the nonroot image does):
    // only a capture that opens tells.
    const trial = await trialCapture(io, settings, chosen.usable);
    fileCaps = trial === undefined;
    if (fileCaps) {
      result.details.push(
        'nethogs opens its capture with capabilities of its own (file capabilities); it names other users\' processes only if they include cap_sys_ptrace and cap_dac_read_search',
      );
    } else problem(captureProblem(missing, inherited.why, trial));
  } else if (missing.length > 0) {
    problem(captureProblem(missing, inherited.why));
  }

  const mapping = PID_MAPPING.filter((cap) => !inherited.caps.has(cap));
  if (mapping.length > 0 && !fileCaps) {
    result.warnings.push({
      what:
        `nethogs will lack ${mapping.join(' and ')}: it finds a packet's socket in /proc/net/tcp and the socket's process by reading every /proc/PID/fd, ` +
        `which for other users' processes takes the ptrace access check (CAP_SYS_PTRACE) and searching a mode 0500 directory (CAP_DAC_READ_SEARCH); ` +
        `their traffic is counted under [kernel]`,
      fix: `grant ${mapping.join(', ')} as well (Kubernetes: securityContext.capabilities.add: [${mapping.map(shortCapName).join(', ')}] and hostPID: true; systemd: AmbientCapabilities=${mapping.join(' ')})`,
    });
  }

  if (await outsideHostNetwork(io, ctx.agent.procRoot)) {
    result.warnings.push({
      what: 'the agent is not in the host\'s network namespace: nethogs sees only this namespace\'s devices and sockets (one pod\'s traffic)',
      fix: 'run the agent with hostNetwork: true (nethogs reads the devices and /proc/net/tcp of its own network namespace)',
    });
  }
  if (!(await hasSetpriv(io))) result.warnings.push(setprivWarning('nethogs'));
  return result;
}

interface Device {
  name: string;
  flags: number;
  operstate: string;
}

async function readDevices(io: HostIO): Promise<Device[]> {
  const names = await io.readdir(SYS_CLASS_NET).catch(() => [] as string[]);
  const devices = await Promise.all(
    names.map(async (name) => {
      const flags = Number.parseInt((await io.readFile(`${SYS_CLASS_NET}/${name}/flags`).catch(() => '0')).trim(), 16);
      const operstate = (await io.readFile(`${SYS_CLASS_NET}/${name}/operstate`).catch(() => 'unknown')).trim();
      return { name, flags: Number.isNaN(flags) ? 0 : flags, operstate };
    }),
  );
  return devices.sort((a, b) => a.name.localeCompare(b.name));
}

/** nethogs's own rule (devices.cpp up_running): up, running (operstate up or unknown), not loopback. */
function upRunning(device: Device): boolean {
  return (device.flags & IFF_UP) !== 0 && (device.flags & IFF_LOOPBACK) === 0 && ['up', 'unknown'].includes(device.operstate);
}

/** The devices nethogs will capture on with these settings; -a takes every device. */
export function chooseDevices(
  devices: readonly Device[],
  settings: { devices: readonly string[]; loopback: boolean },
): { usable: string[]; warnings: Problem[]; problem: Problem } {
  const warnings: Problem[] = [];
  const byName = new Map(devices.map((d) => [d.name, d]));
  const candidates = settings.devices.length > 0 ? settings.devices : devices.map((d) => d.name);
  const usable: string[] = [];
  for (const name of candidates) {
    const device = byName.get(name);
    if (!device) {
      warnings.push({ what: `nethogs.devices names ${name}, which does not exist in this network namespace`, fix: `remove it, or run with hostNetwork: true if it is a host device; devices here: ${devices.map((d) => d.name).join(', ') || 'none'}` });
    } else if (settings.loopback || upRunning(device)) {
      usable.push(name);
    } else if (settings.devices.length > 0) {
      const why = (device.flags & IFF_LOOPBACK) !== 0 ? 'is the loopback device' : 'is not up and running';
      warnings.push({ what: `nethogs.devices names ${name}, which ${why}; nethogs skips it`, fix: 'set nethogs.loopback: true (nethogs -a), which captures on loopback and devices that are down too' });
    }
  }
  const problem: Problem =
    settings.devices.length > 0
      ? { what: `none of nethogs.devices (${settings.devices.join(', ')}) can be captured on`, fix: 'name devices that exist and are up (ip link), or leave nethogs.devices empty for every device that is up' }
      : {
          what: 'no network device other than loopback is up and running',
          fix: 'run the agent with hostNetwork: true to see the host\'s devices, or set nethogs.loopback: true to capture on loopback',
        };
  return { usable, warnings, problem };
}

function captureProblem(missing: readonly CapName[], why: string, trial?: string): Problem {
  const names = missing.join(' and ');
  return {
    what: `nethogs will lack ${names} (${why}): it cannot open a packet capture${trial ? ` (${trial})` : ''}`,
    fix:
      `grant ${missing.join(', ')}: Kubernetes: runAsUser: 0 with securityContext.capabilities.add: [${missing.map(shortCapName).join(', ')}] and hostNetwork: true; ` +
      `systemd: AmbientCapabilities=${missing.join(' ')}; a non-root process: make them ambient (setpriv --ambient-caps +${missing.map((c) => shortCapName(c).toLowerCase()).join(',+')}), ` +
      `or give the binary file capabilities (setcap cap_net_raw,cap_net_admin+ep "$(command -v nethogs)")`,
  };
}

/** Runs nethogs for one refresh; undefined when its capture opened, else what it said. */
async function trialCapture(io: HostIO, settings: Settings, devices: readonly string[]): Promise<string | undefined> {
  try {
    // Refresh at once, then exit; only whether the capture opens matters, so no UDP.
    const args = nethogsArgs({ devices, loopback: settings.loopback, udp: false }, 0, 1);
    const out = await io.run(settings.path, args, { timeoutMs: PROBE_TIMEOUT_MS });
    return out.includes('Refreshing:') ? undefined : 'nethogs printed no refresh';
  } catch (err) {
    const e = err as { stderr?: string; message?: string };
    const said = (e.stderr ?? e.message ?? String(err)).split('\n').find((l) => /error|root|capabilit/i.test(l));
    return (said ?? 'nethogs failed').trim().slice(0, 200);
  }
}

/** True when /proc/self/ns/net and /proc/1/ns/net differ (unknown: false). */
async function outsideHostNetwork(io: HostIO, procRoot: string): Promise<boolean> {
  try {
    const [self, init] = await Promise.all([io.readlink(`${procRoot}/self/ns/net`), io.readlink(`${procRoot}/1/ns/net`)]);
    return self !== init;
  } catch {
    return false;
  }
}

