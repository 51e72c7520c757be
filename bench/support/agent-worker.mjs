// One agent core (dist/, as built) with one source, in a process of its own, so the CPU, garbage
// collection and memory measured for a source are that source's alone. Plain JavaScript run by
// plain node, like the agent: no TypeScript loader in the measured process.
// Usage (through agent-process.ts, which forks it with an IPC channel):
//   node agent-worker.mjs SOURCE HELPER_PIDS [AGENT FLAGS...]   (HELPER_PIDS: one pid, or several comma-separated)
// Requests: {kind:'cycle'} | {kind:'parse-timing', reps}; replies: {ok, reply} | {ok:false, error}.
import { pino } from 'pino';
import { childCpuMs, liveChildrenCpuMs, selfCpuMs } from './cpu.mjs';

const DIST = new URL('../../dist/', import.meta.url);
const { buildCore } = await import(new URL('agent.js', DIST).href);
const { loadInvocation } = await import(new URL('config/load.js', DIST).href);
const { hostIO } = await import(new URL('host/io.js', DIST).href);
const { parseSs } = await import(new URL('sources/ss/parse.js', DIST).href);
const { SS_ARGS } = await import(new URL('sources/ss/source.js', DIST).href);

const [source, helperPid, ...flags] = process.argv.slice(2);
if (source === undefined || helperPid === undefined || !process.send) {
  throw new Error('agent-worker: fork it with an IPC channel and SOURCE HELPER_PIDS');
}
const helperPids = new Set(helperPid.split(',').map(Number));

/** What the cycle that ran last asked of the host. */
let meter = newMeter();
const io = meteredIO(hostIO);
const { config } = loadInvocation(['run', '--sources', source, '--no-prometheus', '--log-level', 'silent', ...flags], {});
const { collector } = await buildCore(config, pino({ level: 'silent' }), io);

process.on('message', (request) => {
  answer(request).then(
    (reply) => process.send({ ok: true, reply }),
    (err) => process.send({ ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});
// The bench went away: nothing left to measure for.
process.on('disconnect', () => void collector.stop().finally(() => process.exit(0)));
process.send({ ok: true, reply: 'ready' });

function answer(request) {
  if (request.kind === 'cycle') return cycle();
  if (request.kind === 'parse-timing') return parseTiming(request.reps);
  return Promise.reject(new Error(`unknown request ${JSON.stringify(request)}`));
}

async function cycle() {
  meter = newMeter();
  const self = selfCpuMs();
  // Reaped children (ss spawned by the agent), and the launcher shell with the ss runs it reaped.
  const child = childCpuMs() + liveChildrenCpuMs(process.pid);
  const began = process.hrtime.bigint();
  const snapshot = await collector.collectOnce();
  const wallMs = Number(process.hrtime.bigint() - began) / 1e6;
  const selfMs = selfCpuMs() - self;
  const childMs = childCpuMs() + liveChildrenCpuMs(process.pid) - child;
  const health = collector.health.get(source);
  const { runSelfMs, ...calls } = meter;
  return {
    selfMs,
    childMs,
    wallMs,
    runSelfMs,
    calls,
    helperEstablished: establishedOf(snapshot, (pid) => helperPids.has(pid)),
    allEstablished: establishedOf(snapshot, () => true),
    series: snapshot.processes.length,
    trackedProcesses: snapshot.trackedProcesses,
    up: health.up,
    errors: Object.fromEntries(health.errors),
    rssBytes: process.memoryUsage().rss,
  };
}

/**
 * parseSs timed apart, on output of the ss source's own command taken now, after the measured
 * cycles: keeping a cycle's output for it would change what the garbage collector does in them.
 */
async function parseTiming(reps) {
  const text = await hostIO.run(config.ss.path, SS_ARGS);
  const parseMs = [];
  for (let i = 0; i < reps; i++) {
    const before = selfCpuMs();
    parseSs(text);
    parseMs.push(selfCpuMs() - before);
  }
  return { parseMs, outputBytes: Buffer.byteLength(text), outputSockets: parseSs(text).sockets.length };
}

function newMeter() {
  return { readFile: 0, readLines: 0, readdir: 0, readlink: 0, stat: 0, readLinks: 0, fds: 0, links: 0, run: 0, runLines: 0, runSelfMs: 0 };
}

/** The real HostIO, counting calls; counting adds no promise where the real call has none to spare. */
function meteredIO(real) {
  return {
    readFile: (path) => (meter.readFile++, real.readFile(path)),
    readLines: (path, onLines) => (meter.readLines++, real.readLines(path, onLines)),
    readdir: (path) => (meter.readdir++, real.readdir(path)),
    readlink: (path) => (meter.readlink++, real.readlink(path)),
    stat: (path) => (meter.stat++, real.stat(path)),
    async readLinks(dir, skip) {
      const m = meter;
      m.readLinks++;
      const table = await real.readLinks(dir, skip);
      m.fds += table.names.length;
      for (const target of table.targets) if (target !== undefined) m.links++;
      return table;
    },
    // The ss source awaits run() alone, so this process's CPU meanwhile is run()'s: spawning ss,
    // reading its output through the pipe, decoding it.
    async run(file, args, options) {
      const m = meter;
      m.run++;
      const before = selfCpuMs();
      const output = await real.run(file, args, options);
      m.runSelfMs += selfCpuMs() - before;
      return output;
    },
    // Likewise for runLines, less the CPU spent in onLines (parsing, counted apart). The ss source
    // scans the fd tables while ss runs: what of the scan runs meanwhile is counted here too.
    async runLines(file, args, onLines, options) {
      const m = meter;
      m.runLines++;
      let inside = 0;
      const consume = (text) => {
        const before = selfCpuMs();
        try {
          onLines(text);
        } finally {
          inside += selfCpuMs() - before;
        }
      };
      const before = selfCpuMs();
      await real.runLines(file, args, consume, options);
      m.runSelfMs += selfCpuMs() - before - inside;
    },
    now: real.now,
  };
}

/** Established TCP connections of the series whose pid passes `wanted`, summed. */
function establishedOf(snapshot, wanted) {
  let count = 0;
  for (const series of snapshot.processes) {
    if (!wanted(series.process.pid)) continue;
    count += series.connections.find((c) => c.transport === 'tcp' && c.state === 'established')?.count ?? 0;
  }
  return count;
}
