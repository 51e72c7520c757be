// Faults of the ebpf source's child beyond a kill (test/integration/ebpf-faults.test.ts): the loader
// stopped (SIGSTOP, so it prints nothing though it lives), its output turned to garbage, and its
// output swallowed. A stand-in runs the real loader and passes its lines through, or not, as the test
// says. In each case /metrics answers throughout and a known sender's total never decreases.
// - stopped or silent: after the silent limit (10 s) the source is failed (netproc_source_up 0,
//   logged once), ss serves the byte family meanwhile, and the loader is restarted with no agent
//   restart; a transfer after the recovery is counted exactly. "Not lost": what the loader counted
//   before the fault stays counted; traffic while nobody reports it is lost only for the handover
//   moments (ss baselines when it takes over, as docs/sources.md says).
// - garbage: every bad line is counted as a parse error and the source stays up, since the child is
//   alive and its stream resumes; only the lines destroyed in transit are lost.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, type AgentUnderTest } from '../helpers/agent.js';
import { EBPF_NEEDS, startEbpfAgent, trafficOf } from '../helpers/ebpf.js';
import { killAll, peer } from '../helpers/processes.js';
import { valueOf, type Sample } from '../helpers/prometheus-text.js';
import { LOADER, missing } from '../helpers/requirements.js';

const PAYLOAD = 4 * 1024 * 1024;

// Test-only stand-in: the probe goes to the real loader; a run passes the real loader's lines
// through, drops them (silent) or replaces them with garbage, as $NETPROC_TEST_FAULT_FILE says.
const STAND_IN = (real: string): string => `#!/bin/bash
if [[ "$1" == "--probe" ]]; then exec "${real}" "$@"; fi
"${real}" "$@" | while IFS= read -r line; do
  case "$(cat "$NETPROC_TEST_FAULT_FILE" 2>/dev/null)" in
    garbage) echo '{"type":"proc","pid":12,"transport":"tcp","rxBytes":' ; echo 'not json at all' ;;
    silent) ;;
    *) printf '%s\\n' "$line" ;;
  esac
done
`;

/** The pids of processes running `pattern` whose parent is `parent`. */
function childrenRunning(parent: number, pattern: string): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(parent), '-f', pattern], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe.skipIf(missing('faults-ebpf', ...EBPF_NEEDS))('ebpf loader faults', () => {
  let dir: string;
  let faultFile: string;
  let agent: AgentUnderTest;
  const setFault = (mode: string): void => writeFileSync(faultFile, `${mode}\n`);
  const up = (s: Sample[]): number | undefined => valueOf(s, 'netproc_source_up', { source: 'ebpf' });
  const failuresLogged = (): number => agent.child.stderr().split('\n').filter((l) => l.includes('"source":"ebpf"') && l.includes('source failed')).length;

  async function transfer(): Promise<number> {
    const sink = peer('sink', '127.0.0.1');
    const { port } = await sink.next('port');
    const sender = peer('send', '127.0.0.1', port, PAYLOAD);
    await sender.next('sent');
    return sender.pid;
  }

  /** Scrapes until `done`, checking every scrape that `pid`'s total never decreased. */
  async function watch(pid: number, done: (s: Sample[]) => boolean, what: string, timeoutMs = 60_000): Promise<Sample[]> {
    let last = 0;
    return eventually(async () => {
      const s = await agent.scrape();
      const tx = trafficOf(s, pid, 'tcp').txBytes;
      expect(tx).toBeGreaterThanOrEqual(last);
      last = tx;
      return done(s) ? s : undefined;
    }, timeoutMs, what);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'netproc-faults-ebpf-'));
    faultFile = join(dir, 'fault');
    setFault('ok');
    const standIn = join(dir, 'netproc-loader');
    writeFileSync(standIn, STAND_IN(LOADER));
    chmodSync(standIn, 0o755);
    agent = await startEbpfAgent(['--ebpf-loader', standIn], { NETPROC_TEST_FAULT_FILE: faultFile });
  });
  afterAll(async () => {
    await agent?.stop();
    await killAll();
    // A stopped stand-in's pipeline subshell outlives its killed parent, still stopped.
    try {
      execFileSync('pkill', ['-KILL', '-f', dir]);
    } catch {
      // nothing left
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(['stopped', 'silent'])('%s: failed after the silent limit, logged once, ss serves, restarted, then exact', async (fault) => {
    setFault('ok');
    await watch(0, (s) => up(s) === 1 && valueOf(s, 'netproc_source_selected', { source: 'ebpf', family: 'bytes' }) === 1, 'ebpf serving');
    const before = await transfer();
    await watch(before, (s) => trafficOf(s, before, 'tcp').txBytes === PAYLOAD, 'the first transfer, exact');
    const logged = failuresLogged();

    if (fault === 'stopped') {
      // The real loader under the stand-in: alive, stopped, printing nothing.
      const loaders = childrenRunning(agent.child.pid, 'netproc-loader').flatMap((p) => childrenRunning(p, LOADER));
      expect(loaders).toHaveLength(1);
      process.kill(loaders[0]!, 'SIGSTOP');
    } else {
      setFault('silent');
    }
    await watch(before, (s) => up(s) === 0 && valueOf(s, 'netproc_source_selected', { source: 'ss', family: 'bytes' }) === 1, 'ebpf failed, ss serving', 30_000);
    expect(agent.child.stderr()).toMatch(/printed nothing for \d+ s: it is stopped or hung/);
    setFault('ok');
    await watch(before, (s) => up(s) === 1 && valueOf(s, 'netproc_source_selected', { source: 'ebpf', family: 'bytes' }) === 1, 'ebpf restarted and serving', 90_000);
    expect(failuresLogged() - logged, 'logged once').toBe(1);
    // What was counted before stays counted, and a transfer after the recovery is exact.
    expect(trafficOf(await agent.scrape(), before, 'tcp').txBytes).toBe(PAYLOAD);
    const after = await transfer();
    await watch(after, (s) => trafficOf(s, after, 'tcp').txBytes === PAYLOAD, 'the transfer after recovery, exact');
  }, 180_000);

  it('garbage: bad lines counted as parse errors, the source stays up, and the stream resumes', async () => {
    setFault('ok');
    await watch(0, (s) => up(s) === 1, 'ebpf up');
    const parseBefore = valueOf(await agent.scrape(), 'netproc_source_errors_total', { source: 'ebpf', kind: 'parse' }) ?? 0;
    setFault('garbage');
    await watch(0, (s) => (valueOf(s, 'netproc_source_errors_total', { source: 'ebpf', kind: 'parse' }) ?? 0) >= parseBefore + 4, 'parse errors counted', 20_000);
    expect(up(await agent.scrape())).toBe(1);
    setFault('ok');
    const after = await transfer();
    await watch(after, (s) => trafficOf(s, after, 'tcp').txBytes === PAYLOAD, 'a transfer after the garbage, exact');
  }, 120_000);
});
