// Faults of the ss source's child, one outage at a time, while a sender moves a known number of
// bytes over one TCP connection that stays open throughout. ss is a stand-in that runs the real ss
// until the test says otherwise: then it is killed (SIGKILL), hangs (SIGSTOP, past --ss-timeout),
// prints garbage, or prints nothing (a broken ss: it always lists at least the agent's own sockets).
// For each outage: the agent keeps serving /metrics; the sender's counter never decreases; the
// outage shows in the self-metrics and is logged once; and once ss answers again, with no restart,
// the sender's total is exactly what it sent. "Not lost" here: ss reads the kernel's cumulative
// per-socket counters, so the bytes sent during the outage are counted when it answers again, and
// none of the bytes counted before are counted twice.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startAgent, type AgentUnderTest } from '../helpers/agent.js';
import { trafficOf } from '../helpers/ebpf.js';
import { killAll, peer, type Child } from '../helpers/processes.js';
import { valueOf, type Sample } from '../helpers/prometheus-text.js';
import { missing } from '../helpers/requirements.js';

const INTERVAL_MS = 500;
const SS_TIMEOUT_MS = 1500;
/** Sent per phase: at 400 KB/s, each phase sends for 2.5 s, through several collection cycles. */
const PHASE_BYTES = 1_000_000;
const RATE = 400_000;

// $FAULT_FILE says how to behave; the real ss otherwise. Test-only: fixed script, no input used in it.
const STAND_IN = `#!/bin/bash
mode=$(cat "$NETPROC_TEST_FAULT_FILE" 2>/dev/null || echo ok)
case "$mode" in
  killed) kill -KILL $$ ;;
  hang) kill -STOP $$ ;;
  garbage) head -c 30000 /dev/urandom | base64 -w 97; exit 0 ;;
  nothing) exit 0 ;;
  *) exec ss "$@" ;;
esac
`;

describe.skipIf(missing('faults-ss', 'root', 'ss'))('ss child faults', () => {
  let dir: string;
  let agent: AgentUnderTest;
  let faultFile: string;
  let sinkPort = 0;
  /** Every scrape of the sender's tx during the test: must never decrease. */
  const seen: number[] = [];

  const setFault = (mode: string): void => writeFileSync(faultFile, `${mode}\n`);
  const scrape = async (): Promise<Sample[]> => agent.scrape();
  const up = (s: Sample[]): number | undefined => valueOf(s, 'netproc_source_up', { source: 'ss' });
  const failuresLogged = (): number => agent.child.stderr().split('\n').filter((l) => l.includes('"source":"ss"') && l.includes('source failed')).length;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'netproc-faults-ss-'));
    faultFile = join(dir, 'fault');
    setFault('ok');
    const standIn = join(dir, 'ss');
    writeFileSync(standIn, STAND_IN);
    chmodSync(standIn, 0o755);
    agent = await startAgent(['--sources', 'ss', '--interval', `${INTERVAL_MS}ms`, '--ss-path', standIn, '--ss-timeout', `${SS_TIMEOUT_MS}ms`], {
      NETPROC_TEST_FAULT_FILE: faultFile,
    });
    const sink = peer('sink', '127.0.0.1');
    sinkPort = (await sink.next('port')).port;
  });
  afterAll(async () => {
    await agent?.stop();
    await killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(['killed', 'hang', 'garbage', 'nothing'])('%s: keeps serving, never decreases, logs once, recovers, loses nothing', async (fault) => {
    setFault('ok'); // whatever an earlier case left behind
    await eventually(async () => (up(await scrape()) === 1 ? true : undefined), 30_000, 'ss up before the outage');
    // A sender whose connection stays open across the outage; it sends PHASE_BYTES before, during and after.
    const sender: Child = peer('send-paced', '127.0.0.1', sinkPort, 3 * PHASE_BYTES, RATE);
    const tx = (s: Sample[]): number => trafficOf(s, sender.pid, 'tcp').txBytes;
    const watch = async (): Promise<Sample[]> => {
      const s = await scrape(); // throws if the endpoint stops answering
      seen.push(tx(s));
      return s;
    };
    await eventually(async () => (tx(await watch()) > 0 ? true : undefined), 10_000, 'the sender on /metrics');
    const loggedBefore = failuresLogged();

    setFault(fault);
    const outageEnds = Date.now() + PHASE_BYTES / (RATE / 1000);
    let sawDown = false;
    while (Date.now() < outageEnds) {
      const s = await watch();
      if (up(s) === 0) sawDown = true;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(sawDown, `netproc_source_up{source="ss"} fell to 0 during "${fault}"`).toBe(true);
    expect(failuresLogged() - loggedBefore, 'logged once per outage').toBe(1);
    expect(valueOf(await scrape(), 'netproc_source_errors_total', { source: 'ss', kind: 'collect' }) ?? 0).toBeGreaterThan(0);

    setFault('ok');
    await sender.next('sent', 30_000);
    const final = await eventually(async () => {
      const s = await watch();
      return up(s) === 1 && tx(s) >= 3 * PHASE_BYTES ? s : undefined;
    }, 30_000, 'recovery and the whole transfer on /metrics');
    // ss's counters are exact payload (tcp_info less the SYN and FIN): exactly what was sent, never twice.
    expect(tx(final)).toBe(3 * PHASE_BYTES);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!, `scrape ${i} of ${seen.length}`).toBeGreaterThanOrEqual(seen[i - 1]!);
    seen.length = 0;
    await sender.kill();
  });
});
