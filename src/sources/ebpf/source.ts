// eBPF through netproc-loader: exact payload bytes, packets and TCP retransmissions per process,
// for TCP and UDP, in every network namespace, including connections that open and close between
// two collections. The loader (loader.c, netproc.bpf.c) runs as a supervised child streaming one
// JSON line per process and interval; it exits on EOF of stdin and by PR_SET_PDEATHSIG.
import { fileURLToPath } from 'node:url';
import type { ConfigOf } from '../../config/keys.js';
import { inheritedCaps, PID_MAPPING, missingCaps } from '../../host/capabilities.js';
import type { HostIO } from '../../host/types.js';
import type { SourceContext } from '../definition.js';
import { SILENT_LIMIT_MIN_MS, StreamingChild, type Generation } from '../streaming.js';
import type { Collection, Problem, ProbeResult, SourceBehaviour } from '../types.js';
import type { config } from './config.js';
import { chooseVariant, MAX_LINE_BYTES, parseLoaderLine, parseLoaderMessage, parseProbe, type VariantChoice } from './parse.js';

const PROBE_TIMEOUT_MS = 15_000;
/** The loader's own interval bounds (loader.c). */
const MIN_INTERVAL_MS = 10;
/** The loader's print interval; short, so a collection never waits long for its data. */
const MAX_LOADER_INTERVAL_MS = 1000;
const BUILD_COMMAND = 'npm run build (or: sh src/sources/ebpf/build.sh dist/sources/ebpf)';

/** The loader npm run build makes, next to this module. */
export const BUILT_LOADER = fileURLToPath(new URL('netproc-loader', import.meta.url));

export function createEbpfSource(ctx: SourceContext<ConfigOf<typeof config>>): SourceBehaviour {
  const { io, settings, privileges, agent } = ctx;
  const loader = settings.loader || BUILT_LOADER;
  const child = new StreamingChild(io, ctx.logger, 'ebpf');
  const parseErrors = { lines: 0 };

  const feed = (line: string, generation: Generation): void => {
    const parsed = parseLoaderLine(line);
    switch (parsed.kind) {
      case 'ready':
        generation.ready();
        return;
      case 'proc':
        generation.add([parsed.increment]);
        return;
      case 'interval':
        if (parsed.overflow > 0) generation.count('map_overflow', parsed.overflow);
        return;
      case 'skip':
        if (parsed.garbled) parseErrors.lines++;
    }
  };
  // Errors are logged (once per outage); warnings (libbpf's notes) only counted.
  const hear = (line: string, generation: Generation): void => {
    const message = parseLoaderMessage(line);
    if (message?.severity === 'error') child.said(generation, 'engine_error', message.message);
    else if (message) generation.count('engine_warning');
  };

  /** The variant for this host, from the loader's own probe; undefined choice when it cannot run. */
  const choose = async (): Promise<{ choice: VariantChoice; kernel?: string }> => {
    let output: string;
    try {
      output = await io.run(loader, ['--probe'], { timeoutMs: PROBE_TIMEOUT_MS });
    } catch (err) {
      return { choice: { variant: undefined, problem: await notRunnable(io, loader, err) } };
    }
    const facts = parseProbe(output);
    if (!facts) return { choice: { variant: undefined, problem: { what: `${loader} --probe printed no probe line`, fix: `rebuild the engine: ${BUILD_COMMAND}` } } };
    return { choice: chooseVariant(facts, inheritedCaps(privileges).caps, settings.variant), kernel: facts.kernel };
  };

  return {
    async probe(): Promise<ProbeResult> {
      const result: ProbeResult = { usable: true, problems: [], warnings: [], details: [] };
      const { choice, kernel } = await choose();
      if (kernel) result.details.push(`engine: ${loader} (kernel ${kernel})`);
      if (choice.variant) result.details.push(`variant: ${choice.variant} (${choice.reason})`);
      else {
        result.usable = false;
        result.problems.push(choice.problem);
      }
      for (const w of missingCaps(privileges, PID_MAPPING)) {
        result.warnings.push({ what: `missing ${w}: other users' processes are named by comm, not by their executable`, fix: `grant ${w}` });
      }
      return result;
    },

    async start(): Promise<void> {
      await child.stop();
      const { choice } = await choose();
      if (!choice.variant) throw new Error(choice.problem.what);
      const intervalMs = Math.max(MIN_INTERVAL_MS, Math.min(Math.round(agent.intervalMs), MAX_LOADER_INTERVAL_MS));
      const args = ['--interval-ms', String(intervalMs), '--variant', choice.variant, '--max-sockets', String(settings.maxSockets)];
      if (settings.cgroup) args.push('--cgroup', settings.cgroup);
      await child.launch({
        file: loader,
        args,
        // The loader sets PR_SET_PDEATHSIG itself and exits on EOF of its stdin pipe: no setpriv wrapper.
        pdeathsig: false,
        stdinPipe: true,
        maxLineBytes: MAX_LINE_BYTES,
        onStdout: feed,
        onStderr: hear,
        isErrorLine: (line) => line.startsWith('error: '),
        readyTimeoutMs: settings.startTimeout,
        // The loader prints an interval line every interval, traffic or not.
        silentLimitMs: Math.max(SILENT_LIMIT_MIN_MS, 5 * intervalMs),
        messages: {
          exited: 'netproc-loader exited before its programs attached',
          timedOut: `netproc-loader did not attach its programs within ${settings.startTimeout / 1000}s`,
        },
      });
    },

    async collect(): Promise<Collection> {
      const failure = child.failure;
      if (failure !== undefined) throw new Error(failure === 'not started' ? 'netproc-loader is not running' : failure);
      const collection = child.drain();
      if (parseErrors.lines > 0) collection.errors.parse = (collection.errors.parse ?? 0) + parseErrors.lines;
      parseErrors.lines = 0;
      return collection;
    },

    stop: () => child.stop(),
  };
}

/** Why the loader could not run its probe: not built (and what the build lacks), or it failed. */
async function notRunnable(io: HostIO, loader: string, err: unknown): Promise<Problem> {
  const e = err as { code?: string; stderr?: string; message?: string };
  const text = `${e.code ?? ''} ${e.message ?? ''}`;
  if (/ENOENT|EACCES/.test(text)) {
    const packages = await missingBuildPackages(io);
    return {
      what: `the eBPF engine ${loader} is not there: it was not built${packages.length > 0 ? ` (missing Debian packages: ${packages.join(', ')})` : ''}`,
      fix: `${packages.length > 0 ? `apt-get install ${packages.join(' ')}, then ` : ''}${BUILD_COMMAND}`,
    };
  }
  const said = (e.stderr ?? '').split('\n').map(parseLoaderMessage).filter((m) => m?.severity === 'error').at(-1);
  return {
    what: `${loader} --probe failed: ${said?.message ?? e.message ?? String(err)}`,
    fix: `rebuild the engine (${BUILD_COMMAND}); the loader needs libbpf1, libelf1 and zlib1g at run time`,
  };
}

/** The Debian packages build.sh needs that this host lacks (the same checks as build.sh). */
export async function missingBuildPackages(io: HostIO): Promise<string[]> {
  const has = async (dir: string, file: string): Promise<boolean> => (await io.readdir(dir).catch(() => [] as string[])).includes(file);
  const runs = (file: string): Promise<boolean> =>
    io.run(file, ['--version'], { timeoutMs: 5000 }).then(
      () => true,
      () => false,
    );
  const checks: Array<[string, Promise<boolean>]> = [
    ['clang', runs('clang')],
    ['llvm', runs('llvm-strip')],
    ['libbpf-dev', has('/usr/include/bpf', 'libbpf.h')],
    ['libelf-dev', has('/usr/include', 'libelf.h')],
    ['zlib1g-dev', has('/usr/include', 'zlib.h')],
    ['gcc', runs('cc')],
  ];
  const missing: string[] = [];
  for (const [pkg, present] of checks) if (!(await present)) missing.push(pkg);
  return missing;
}
