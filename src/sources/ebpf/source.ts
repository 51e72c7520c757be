// eBPF through bpftrace: exact payload bytes and packets per process, for TCP and UDP, in every
// network namespace, including connections that open and close between two collections.
// bpftrace runs as a supervised child streaming one JSON map per interval; see netproc.bt.
import type { ConfigOf } from '../../config/keys.js';
import { BPF_LOAD, hasCap, missingCaps, PID_MAPPING, shortCapName } from '../../host/capabilities.js';
import type { SourceContext } from '../definition.js';
import { hasSetpriv, looksLikeError, setprivWarning, StreamingChild, type Generation } from '../streaming.js';
import type { Collection, Problem, ProbeResult, SourceBehaviour } from '../types.js';
import type { config } from './config.js';
import {
  IntervalAssembler,
  MAX_LINE_BYTES,
  bpftraceCommand,
  chooseProgram,
  programPath,
  readKernelFacts,
  type KernelFacts,
  type ProgramChoice,
} from './parse.js';

/** bpftrace releases this program is written for: -f json map output, `-B line`, `interval:ms:$1`. */
const MIN_BPFTRACE = [0, 17] as const;
/** The program's own print interval; short, so a collection never waits long for its data. */
const MAX_PROGRAM_INTERVAL_MS = 1000;
const TRACEFS_MOUNT_POINT = '/sys/kernel/tracing';
const VMLINUX_BTF = '/sys/kernel/btf/vmlinux';

export function createEbpfSource(ctx: SourceContext<ConfigOf<typeof config>>): SourceBehaviour {
  const { io, settings, privileges, agent } = ctx;
  const child = new StreamingChild(io, ctx.logger, 'ebpf');
  let assembler = new IntervalAssembler();
  /**
   * Read once (it may read all of /proc/kallsyms) for the probe and every restart; read again
   * while tracefs is not mounted, which someone may fix meanwhile.
   */
  let facts: KernelFacts | undefined;
  const kernelFacts = async (): Promise<KernelFacts> => {
    if (facts) return facts;
    const read = await readKernelFacts(io);
    if (read.tracefs !== null) facts = read;
    return read;
  };

  const feed = (line: string, generation: Generation): void => {
    for (const event of assembler.line(line)) {
      if (event.kind === 'ready') generation.ready();
      else if (event.kind === 'interval') {
        generation.add(event.increments);
        if (event.untracked > 0) generation.count('untracked_sockets', event.untracked);
      } else if (event.kind === 'lost') generation.count('lost_events', event.count);
      // Errors are logged (once per outage); warnings only counted: bpftrace prints a harmless
      // RLIMIT_MEMLOCK one on every start (see parse.ts).
      else if (event.kind === 'error' && event.severity === 'error') child.said(generation, 'bpftrace_error', event.message);
      else if (event.kind === 'error') generation.count('bpftrace_warning');
    }
  };

  const choose = async (facts: KernelFacts): Promise<ProgramChoice> => {
    const auto = chooseProgram(facts);
    if (settings.program === 'auto') return auto;
    return { variant: settings.program, reason: `ebpf.program is set to ${settings.program}` };
  };

  return {
    async probe(): Promise<ProbeResult> {
      const result: ProbeResult = { usable: true, problems: [], warnings: [], details: [] };
      const problem = (p: Problem): void => {
        result.usable = false;
        result.problems.push(p);
      };
      try {
        const version = (await io.run(settings.bpftrace, ['--version'], { timeoutMs: 10_000 })).trim();
        result.details.push(version);
        if (!atLeast(version, MIN_BPFTRACE)) {
          problem({ what: `${version} is older than bpftrace ${MIN_BPFTRACE.join('.')}`, fix: 'install bpftrace 0.17 or later (Debian 12: apt-get install bpftrace)' });
        }
      } catch {
        problem({ what: `cannot run ${JSON.stringify(settings.bpftrace)}`, fix: 'install bpftrace (Debian/Ubuntu: apt-get install bpftrace) or set ebpf.bpftrace' });
      }
      if (privileges.uid !== 0) {
        problem({
          what: `bpftrace refuses to run as uid ${privileges.uid}; it needs uid 0 (with capabilities, not privileged)`,
          fix: 'run as uid 0 holding only CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE (Kubernetes: runAsUser: 0, capabilities.drop [ALL], add [BPF, PERFMON, DAC_READ_SEARCH, SYS_PTRACE])',
        });
      }
      const bpfCaps = missingCaps(privileges, BPF_LOAD);
      if (bpfCaps.length > 0 && !hasCap(privileges, 'CAP_SYS_ADMIN')) {
        problem({
          what: `missing ${bpfCaps.join(' and ')}: bpftrace cannot load programs or open tracepoints`,
          fix: `grant ${bpfCaps.join(', ')} (Kubernetes: capabilities.add [${bpfCaps.map(shortCapName).join(', ')}]; systemd: AmbientCapabilities=${bpfCaps.join(' ')}); kernels before 5.8 need CAP_SYS_ADMIN instead`,
        });
      }
      const facts = await kernelFacts();
      if (facts.tracefs === null) {
        if (settings.mountTracefs && hasCap(privileges, 'CAP_SYS_ADMIN')) {
          result.details.push(`tracefs is not mounted; the agent will mount it at ${TRACEFS_MOUNT_POINT} when it starts`);
        } else {
          problem({
            what: 'tracefs is not mounted at /sys/kernel/tracing or /sys/kernel/debug/tracing',
            fix: `mount -t tracefs nodev ${TRACEFS_MOUNT_POINT} on the host (Kubernetes: a read-only hostPath volume of /sys/kernel/tracing)`,
          });
        }
      }
      const choice = await choose({ ...facts, tracefs: facts.tracefs ?? TRACEFS_MOUNT_POINT });
      if (choice.variant) result.details.push(`program: ${choice.variant} (${choice.reason})`);
      else problem(choice.problem);
      if (!(await hasSetpriv(io))) result.warnings.push(setprivWarning('bpftrace'));
      for (const w of missingCaps(privileges, PID_MAPPING)) {
        result.warnings.push({ what: `missing ${w}: other users' processes are named by comm, not by their executable`, fix: `grant ${w}` });
      }
      return result;
    },

    async start(): Promise<void> {
      await child.stop();
      let known = await kernelFacts();
      if (known.tracefs === null && settings.mountTracefs && hasCap(privileges, 'CAP_SYS_ADMIN')) {
        await io.run('mount', ['-t', 'tracefs', 'nodev', TRACEFS_MOUNT_POINT], { timeoutMs: 10_000 });
        known = await kernelFacts();
      }
      const choice = await choose(known);
      if (!choice.variant) throw new Error(choice.problem.what);
      const intervalMs = Math.min(agent.intervalMs, MAX_PROGRAM_INTERVAL_MS);
      const command = bpftraceCommand(programPath(choice.variant), Math.round(intervalMs), settings.mapKeys);
      assembler = new IntervalAssembler();
      await child.launch({
        file: settings.bpftrace,
        args: command.args,
        // bpftrace 0.17 also walks the kernel modules' BTF, which takes CAP_SYS_ADMIN; without it
        // it loses BTF altogether ("Unknown struct/union"). Pointing it at vmlinux's BTF, which
        // holds every type the programs read, keeps it working with CAP_BPF + CAP_PERFMON only.
        env: { ...command.env, BPFTRACE_BTF: VMLINUX_BTF },
        pdeathsig: await hasSetpriv(io),
        maxLineBytes: MAX_LINE_BYTES,
        onStdout: feed,
        onStderr: feed,
        // bpftrace prints a harmless RLIMIT_MEMLOCK "ERROR" first on every start (see parse.ts).
        isErrorLine: (line) => looksLikeError(line) && !line.includes('RLIMIT_MEMLOCK'),
        readyTimeoutMs: settings.startTimeout,
        messages: {
          exited: 'bpftrace exited before its probes attached',
          timedOut: `bpftrace did not attach its probes within ${settings.startTimeout / 1000}s`,
        },
      });
    },

    async collect(): Promise<Collection> {
      const failure = child.failure;
      if (failure !== undefined) throw new Error(failure === 'not started' ? 'bpftrace is not running' : failure);
      const collection = child.drain();
      collection.errors.parse = (collection.errors.parse ?? 0) + assembler.skipped.lines + assembler.skipped.entries;
      assembler.skipped.lines = 0;
      assembler.skipped.entries = 0;
      return collection;
    },

    stop: () => child.stop(),
  };
}

function atLeast(version: string, minimum: readonly [number, number]): boolean {
  const match = /v?(\d+)\.(\d+)/.exec(version);
  if (!match) return false;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return major > minimum[0] || (major === minimum[0] && minor >= minimum[1]);
}

