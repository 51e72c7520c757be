// eBPF through bpftrace: exact payload bytes and packets per process, for TCP and UDP, in every
// network namespace, including connections that open and close between two collections.
// bpftrace runs as a supervised child streaming one JSON map per interval; see netproc.bt.
import { parseDuration } from '../../config/duration.js';
import { hasCap, missingCaps, shortCapName } from '../../host/capabilities.js';
import { BPF_LOAD, PID_MAPPING } from '../capabilities.js';
import { hasSetpriv, looksLikeError, setprivWarning, SupervisedChild } from '../child.js';
import type { SourceContext } from '../context.js';
import { mergeIncrements } from '../increments.js';
import type { Collection, Increment, Problem, ProbeResult, Source } from '../types.js';
import {
  IntervalAssembler,
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

export function createEbpfSource(ctx: SourceContext): Source {
  const { io, config, privileges } = ctx;
  const settings = config.ebpf;
  let child: SupervisedChild | undefined;
  let assembler = new IntervalAssembler();
  let pending: Increment[] = [];
  let errors: Record<string, number> = {};
  let onReady: (() => void) | undefined;
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

  const count = (kind: string, n = 1): void => {
    errors[kind] = (errors[kind] ?? 0) + n;
  };

  const feed = (line: string): void => {
    for (const event of assembler.line(line)) {
      if (event.kind === 'ready') onReady?.();
      else if (event.kind === 'interval') {
        pending = pending.length === 0 ? event.increments : mergeIncrements(pending, event.increments);
        if (event.untracked > 0) count('untracked_sockets', event.untracked);
      } else if (event.kind === 'lost') count('lost_events', event.count);
      else if (event.kind === 'error') count(event.severity === 'error' ? 'bpftrace_error' : 'bpftrace_warning');
    }
  };

  const choose = async (facts: KernelFacts): Promise<ProgramChoice> => {
    const auto = chooseProgram(facts);
    if (settings.program === 'auto') return auto;
    return { variant: settings.program, reason: `ebpf.program is set to ${settings.program}` };
  };

  return {
    name: 'ebpf',
    mode: 'streaming',
    families: ['bytes', 'packets'],

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
      await child?.stop();
      let known = await kernelFacts();
      if (known.tracefs === null && settings.mountTracefs && hasCap(privileges, 'CAP_SYS_ADMIN')) {
        await io.run('mount', ['-t', 'tracefs', 'nodev', TRACEFS_MOUNT_POINT], { timeoutMs: 10_000 });
        known = await kernelFacts();
      }
      const choice = await choose(known);
      if (!choice.variant) throw new Error(choice.problem.what);
      const intervalMs = Math.min(parseDuration(config.interval) ?? MAX_PROGRAM_INTERVAL_MS, MAX_PROGRAM_INTERVAL_MS);
      const command = bpftraceCommand(programPath(choice.variant), Math.round(intervalMs), settings.mapKeys);
      assembler = new IntervalAssembler();
      pending = [];
      const ready = new Promise<void>((resolve) => (onReady = resolve));
      child = new SupervisedChild({
        file: settings.bpftrace,
        args: command.args,
        // bpftrace 0.17 also walks the kernel modules' BTF, which takes CAP_SYS_ADMIN; without it
        // it loses BTF altogether ("Unknown struct/union"). Pointing it at vmlinux's BTF, which
        // holds every type the programs read, keeps it working with CAP_BPF + CAP_PERFMON only.
        env: { ...command.env, BPFTRACE_BTF: VMLINUX_BTF },
        pdeathsig: await hasSetpriv(io),
        onLine: feed,
        onStderr: feed,
        // bpftrace prints a harmless RLIMIT_MEMLOCK "ERROR" first on every start (see parse.ts).
        isErrorLine: (line) => looksLikeError(line) && !line.includes('RLIMIT_MEMLOCK'),
      });
      await child.startUntil(ready, parseDuration(settings.startTimeout) ?? 60_000, {
        exited: 'bpftrace exited before its probes attached',
        timedOut: `bpftrace did not attach its probes within ${settings.startTimeout}`,
      });
    },

    async collect(): Promise<Collection> {
      const failure = child?.failure;
      if (!child || failure !== undefined) throw new Error(failure ?? 'bpftrace is not running');
      const collection: Collection = { increments: pending, errors };
      pending = [];
      errors = {};
      collection.errors.parse = assembler.skipped.lines + assembler.skipped.entries;
      assembler.skipped.lines = 0;
      assembler.skipped.entries = 0;
      return collection;
    },

    async stop(): Promise<void> {
      const stopping = child;
      child = undefined;
      await stopping?.stop();
    },
  };
}

function atLeast(version: string, minimum: readonly [number, number]): boolean {
  const match = /v?(\d+)\.(\d+)/.exec(version);
  if (!match) return false;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return major > minimum[0] || (major === minimum[0] && minor >= minimum[1]);
}

