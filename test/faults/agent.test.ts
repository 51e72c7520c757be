// Faults around the agent itself: 50 clients scraping at once while collections run, the config file
// deleted or changed under a running agent, SIGTERM while an export hangs and while a collection
// hangs, and a full disk where ss's output is spooled.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, startAgent, type AgentUnderTest } from '../helpers/agent.js';
import { trafficOf } from '../helpers/ebpf.js';
import { startOtlpReceiver } from '../helpers/otlp-receiver.js';
import { killAll, peer } from '../helpers/processes.js';
import { parsePrometheusText, valueOf } from '../helpers/prometheus-text.js';
import { missing } from '../helpers/requirements.js';

const PAYLOAD = 2_000_000;
const dirs: string[] = [];
const agents: AgentUnderTest[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'netproc-faults-agent-'));
  dirs.push(dir);
  return dir;
}

async function started(args: string[], env: NodeJS.ProcessEnv = {}): Promise<AgentUnderTest> {
  const agent = await startAgent(args, env);
  agents.push(agent);
  await eventually(async () => ((await fetch(`http://127.0.0.1:${agent.port}/readyz`)).status === 200 ? true : undefined), 20_000, 'ready');
  return agent;
}

/** One GET of /metrics from `localAddress` (each client its own address, as 50 Prometheus servers would be). */
function scrapeFrom(port: number, localAddress: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = get({ host: '127.0.0.1', port, path: '/metrics', localAddress, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (d: string) => (body += d));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.setTimeout(10_000, () => request.destroy(new Error('scrape timed out')));
  });
}

/** Whether `pid` has a live child whose command is `name`. */
function childNamed(pid: number, name: string): boolean {
  try {
    return execFileSync('pgrep', ['-P', String(pid), '-f', name], { encoding: 'utf8' }).trim() !== '';
  } catch {
    return false;
  }
}

async function sendKnown(): Promise<number> {
  const sink = peer('sink', '127.0.0.1');
  const { port } = await sink.next('port');
  const sender = peer('send', '127.0.0.1', port, PAYLOAD);
  await sender.next('sent');
  return sender.pid;
}

describe.skipIf(missing('faults-agent', 'root', 'ss'))('agent faults', () => {
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await killAll();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('50 clients scraping at once, ten times over, during collections every 200 ms: every scrape answered, whole and never behind', async () => {
    const agent = await started(['--sources', 'ss', '--interval', '200ms']);
    const pid = await sendKnown();
    await eventually(async () => (trafficOf(await agent.scrape(), pid, 'tcp').txBytes === PAYLOAD ? true : undefined), 20_000, 'the transfer counted');
    for (let round = 0; round < 10; round++) {
      const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => scrapeFrom(agent.port, `127.0.1.${i + 1}`)));
      for (const reply of replies) {
        expect(reply.status).toBe(200);
        expect(reply.body.endsWith('\n')).toBe(true);
        expect(trafficOf(parsePrometheusText(reply.body), pid, 'tcp').txBytes).toBe(PAYLOAD);
      }
    }
    expect(valueOf(await agent.scrape(), 'netproc_source_up', { source: 'ss' })).toBe(1);
  });

  it('goes on with the configuration it loaded when its config file is deleted, then rewritten', async () => {
    const dir = tempDir();
    const file = join(dir, 'agent.yaml');
    writeFileSync(file, 'sources: [ss]\ninterval: 300ms\n');
    const agent = await started(['--config', file]);
    unlinkSync(file);
    const pid = await sendKnown();
    await eventually(async () => (trafficOf(await agent.scrape(), pid, 'tcp').txBytes === PAYLOAD ? true : undefined), 20_000, 'counting after the file was deleted');
    writeFileSync(file, 'sources: [nope\n'); // broken, and another source: neither is read again
    const second = await sendKnown();
    await eventually(async () => (trafficOf(await agent.scrape(), second, 'tcp').txBytes === PAYLOAD ? true : undefined), 20_000, 'counting after the file was rewritten');
    expect(agent.child.proc.exitCode).toBeNull();
    expect(agent.child.stderr()).not.toMatch(/"level":50/);
  });

  it('SIGTERM while an export hangs: exits 0 within the 5 s shutdown bound', async () => {
    const receiver = await startOtlpReceiver();
    receiver.stall();
    try {
      const agent = await started(['--sources', 'ss', '--interval', '500ms', '--otlp-endpoint', receiver.endpoint, '--otlp-interval', '500ms']);
      await eventually(async () => (receiver.stalled > 0 ? true : undefined), 20_000, 'an export in flight');
      const began = Date.now();
      await agent.child.kill('SIGTERM');
      expect(agent.child.proc.exitCode).toBe(0);
      expect(Date.now() - began).toBeLessThan(8000);
    } finally {
      await receiver.stop();
    }
  });

  it('SIGTERM while a collection hangs (ss stopped): exits 0 promptly and leaves no ss behind', async () => {
    const dir = tempDir();
    const standIn = join(dir, 'ss');
    // Answers the probe through the real ss; stops itself on the collection's arguments (-i: the
    // probe never asks for tcp_info).
    writeFileSync(standIn, '#!/bin/bash\nif [[ " $* " == *" -i "* ]]; then kill -STOP $$; fi\nexec ss "$@"\n');
    chmodSync(standIn, 0o755);
    const agent = await startAgent(['--sources', 'ss', '--interval', '500ms', '--ss-path', standIn, '--ss-timeout', '60s']);
    agents.push(agent);
    await eventually(async () => (childNamed(agent.child.pid, standIn) ? true : undefined), 20_000, 'a hung ss');
    const began = Date.now();
    await agent.child.kill('SIGTERM');
    expect(agent.child.proc.exitCode).toBe(0);
    expect(Date.now() - began).toBeLessThan(5000);
    // Nothing of it is left: no process runs the stand-in any more.
    await eventually(async () => {
      try {
        execFileSync('pgrep', ['-f', standIn]);
        return undefined;
      } catch {
        return true;
      }
    }, 5000, 'the hung ss to be gone');
  });

  it('a full temp directory: ss output goes through a pipe instead of a spool file, and counts stay exact', async () => {
    const dir = tempDir();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'netproc-full', dir]);
    try {
      // Fill it: not a byte left for a spool file.
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${join(dir, 'fill')}`, 'bs=4k'], { stdio: 'ignore' });
      } catch {
        // dd stops with ENOSPC: the point
      }
      const agent = await started(['--sources', 'ss', '--interval', '300ms'], { TMPDIR: dir });
      const pid = await sendKnown();
      await eventually(async () => (trafficOf(await agent.scrape(), pid, 'tcp').txBytes === PAYLOAD ? true : undefined), 20_000, 'exact counting with a full disk');
      expect(valueOf(await agent.scrape(), 'netproc_source_up', { source: 'ss' })).toBe(1);
      await agent.stop();
    } finally {
      execFileSync('umount', ['-l', dir]);
    }
  });
});
