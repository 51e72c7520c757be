// The metrics endpoint, locked down, checked with real clients: curl (Debian's) for methods, paths,
// header size and TLS, and raw sockets for slow and greedy clients.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, eventually, type AgentUnderTest } from '../helpers/agent.js';
import { loadInvocation } from '../../src/config/load.js';
import { expectConfigError } from '../helpers/config-error.js';
import { REPO } from '../helpers/processes.js';
import { missing } from '../helpers/requirements.js';

const run = promisify(execFile);
/** The agent's --prometheus-header-timeout in these tests. */
const HEADER_TIMEOUT_MS = 1000;
/** Node checks the timeout every second (TIMEOUT_CHECK_MS), so a slow client is gone within this. */
const CUT_OFF_MS = HEADER_TIMEOUT_MS + 1000 + 1000;

/** curl's status code and headers for one request; `args` go before the URL. */
async function curl(url: string, ...args: string[]): Promise<{ code: number; headers: string; exit: number }> {
  try {
    const { stdout } = await run('curl', ['-sS', '--path-as-is', '-o', '/dev/null', '-D', '-', '-w', '\n%{http_code}', ...args, url], { timeout: 15_000 });
    const lines = stdout.trimEnd().split('\n');
    return { code: Number(lines.at(-1)), headers: lines.slice(0, -1).join('\n'), exit: 0 };
  } catch (err) {
    return { code: 0, headers: '', exit: (err as { code?: number }).code ?? -1 };
  }
}

/** A raw TCP connection from `localAddress`, resolving once connected. */
function open(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Milliseconds until the server closes `socket` (it must, within `limitMs`). */
function closedWithin(socket: Socket, limitMs: number): Promise<number> {
  const began = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open after ${limitMs} ms`)), limitMs);
    socket.on('data', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - began);
    });
  });
}

describe.skipIf(missing('endpoint', 'curl'))('metrics endpoint over HTTP', () => {
  let agent: AgentUnderTest;
  const base = (): string => `http://127.0.0.1:${agent.port}`;

  beforeAll(async () => {
    agent = await startAgent([
      '--sources', 'procfs',
      '--interval', '1s',
      '--prometheus-header-timeout', `${HEADER_TIMEOUT_MS}ms`,
      '--prometheus-max-connections', '12',
      '--prometheus-max-connections-per-address', '4',
    ]);
    await eventually(async () => ((await curl(`${base()}/readyz`)).code === 200 ? true : undefined), 20_000, 'ready');
  });
  afterAll(async () => agent?.stop());

  it('answers GET and HEAD on /metrics, /healthz and /readyz', async () => {
    for (const path of ['/metrics', '/healthz', '/readyz']) {
      expect((await curl(`${base()}${path}`)).code, `GET ${path}`).toBe(200);
      expect((await curl(`${base()}${path}`, '-I')).code, `HEAD ${path}`).toBe(200);
    }
  });

  it('refuses every other method with 405 and an Allow header, and every other path with 404', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE']) {
      const reply = await curl(`${base()}/metrics`, '-X', method);
      expect(reply.code, method).toBe(405);
      expect(reply.headers.toLowerCase()).toContain('allow: get, head');
    }
    for (const path of ['/', '/metricsx', '/metrics/', '/../etc/passwd', '/debug/pprof']) {
      expect((await curl(`${base()}${path}`)).code, path).toBe(404);
    }
  });

  it('refuses request headers over 8 KiB with 431, and still serves the next scrape', async () => {
    expect((await curl(`${base()}/metrics`, '-H', `X-Padding: ${'a'.repeat(9000)}`)).code).toBe(431);
    expect((await curl(`${base()}/metrics`, '-H', `X-Padding: ${'a'.repeat(4000)}`)).code).toBe(200);
  });

  it('disconnects a client that trickles its headers (slowloris) after the header timeout, serving others meanwhile', async () => {
    const slow = await open(agent.port);
    slow.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => slow.writable && slow.write('X'), 100);
    try {
      const scrape = Date.now();
      expect((await curl(`${base()}/metrics`)).code).toBe(200);
      expect(Date.now() - scrape).toBeLessThan(HEADER_TIMEOUT_MS);
      const after = await closedWithin(slow, CUT_OFF_MS);
      expect(after).toBeGreaterThanOrEqual(HEADER_TIMEOUT_MS - 200);
    } finally {
      clearInterval(trickle);
      slow.destroy();
    }
  });

  it('gives one address at most 4 connections, so a greedy client cannot starve another', async () => {
    const held = await Promise.all([1, 2, 3, 4].map(() => open(agent.port)));
    try {
      // The fifth from the same address is closed on arrival, before any byte is read.
      const fifth = await open(agent.port);
      expect(await closedWithin(fifth, 1000)).toBeLessThan(1000);
      // Another address still gets its scrape.
      expect((await curl(`${base()}/metrics`, '--interface', '127.0.0.2')).code).toBe(200);
    } finally {
      for (const s of held) s.destroy();
    }
  });

  it('holds at most 12 connections in all; more are dropped, and it serves again once they close', async () => {
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 12; i++) held.push(await open(agent.port, `127.0.0.${10 + (i % 3)}`));
      const thirteenth = await open(agent.port, '127.0.0.20');
      expect(await closedWithin(thirteenth, 1000)).toBeLessThan(1000);
    } finally {
      for (const s of held) s.destroy();
    }
    await eventually(async () => ((await curl(`${base()}/metrics`)).code === 200 ? true : undefined), 5000, 'a scrape after the connections closed');
  });

  it('keeps the documented default bind address and port, 0.0.0.0:9464', () => {
    const { config } = loadInvocation(['run'], {});
    expect([config.prometheus.host, config.prometheus.port]).toEqual(['0.0.0.0', 9464]);
    expect(readFileSync(join(REPO, 'README.md'), 'utf8')).toContain('`0.0.0.0:9464/metrics`');
  });
});

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl in `dir`. */
function makeCertificates(dir: string): void {
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=netproc test CA');
  for (const [name, cn, ext] of [
    ['server', 'netproc-agent', 'subjectAltName=IP:127.0.0.1'],
    ['server2', 'netproc-agent renewed', 'subjectAltName=IP:127.0.0.1'],
    ['client', 'prometheus', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    ssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
  }
  // A CA the server does not trust, for a client certificate it must refuse.
  ssl('req', '-x509', ...ec, '-keyout', 'other-ca.key', '-out', 'other-ca.pem', '-days', '2', '-subj', '/CN=other CA');
  ssl('req', ...ec, '-keyout', 'stranger.key', '-out', 'stranger.csr', '-subj', '/CN=stranger');
  ssl('x509', '-req', '-in', 'stranger.csr', '-CA', 'other-ca.pem', '-CAkey', 'other-ca.key', '-CAcreateserial', '-out', 'stranger.pem', '-days', '2');
}

describe.skipIf(missing('endpoint', 'curl', 'openssl'))('metrics endpoint over TLS', () => {
  let dir: string;
  const agents: AgentUnderTest[] = [];
  const file = (name: string): string => join(dir, name);
  const serving = async (args: string[]): Promise<AgentUnderTest> => {
    const agent = await startAgent(['--sources', 'procfs', '--interval', '1s', '--prometheus-tls-cert-file', file('server.pem'), '--prometheus-tls-key-file', file('server.key'), ...args]);
    agents.push(agent);
    return agent;
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'netproc-tls-'));
    makeCertificates(dir);
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves HTTPS with the configured certificate, and no plain HTTP', async () => {
    const agent = await serving([]);
    expect(agent.child.stderr()).toContain(`"url":"https://127.0.0.1:${agent.port}/metrics"`);
    const url = `https://127.0.0.1:${agent.port}/metrics`;
    const reply = await curl(url, '--cacert', file('ca.pem'));
    expect(reply.code).toBe(200);
    expect(reply.headers.toLowerCase()).toContain('content-type: text/plain');
    // Not trusted without the CA: curl refuses the certificate (exit 60).
    expect((await curl(url)).exit).toBe(60);
    expect((await curl(`http://127.0.0.1:${agent.port}/metrics`)).code).not.toBe(200);
  });

  it('with a client CA, requires a client certificate that CA signed (mTLS)', async () => {
    const agent = await serving(['--prometheus-tls-client-ca-file', file('ca.pem')]);
    const url = `https://127.0.0.1:${agent.port}/metrics`;
    const trusted = ['--cacert', file('ca.pem')];
    expect((await curl(url, ...trusted, '--cert', file('client.pem'), '--key', file('client.key'))).code).toBe(200);
    expect((await curl(url, ...trusted)).code).toBe(0); // no client certificate: handshake refused
    expect((await curl(url, ...trusted, '--cert', file('stranger.pem'), '--key', file('stranger.key'))).code).toBe(0);
  });

  it('serves a renewed certificate without a restart', async () => {
    const agent = await serving([]);
    const url = `https://127.0.0.1:${agent.port}/metrics`;
    const subject = async (): Promise<string> => {
      const { stderr } = await run('curl', ['-sS', '-v', '-o', '/dev/null', '--cacert', file('ca.pem'), url], { timeout: 15_000 });
      return /subject: (.*)/.exec(stderr)?.[1] ?? '';
    };
    expect(await subject()).toContain('CN=netproc-agent');
    // Renewal as cert-manager does it: new files moved into place.
    writeFileSync(file('next.pem'), execFileSync('cat', [file('server2.pem')]));
    writeFileSync(file('next.key'), execFileSync('cat', [file('server2.key')]));
    renameSync(file('next.key'), file('server.key'));
    renameSync(file('next.pem'), file('server.pem'));
    await eventually(async () => ((await subject()).includes('CN=netproc-agent renewed') ? true : undefined), 15_000, 'the renewed certificate');
    expect((await curl(url, '--cacert', file('ca.pem'))).code).toBe(200);
  });

  it.each([
    ['a key file without a certificate', ['--prometheus-tls-key-file', 'KEY'], /^netproc-agent: prometheus\.tls\.certFile: TLS needs both a certificate and a key file/],
    ['a certificate file that does not exist', ['--prometheus-tls-cert-file', '/nonexistent/cert.pem', '--prometheus-tls-key-file', 'KEY'], /^netproc-agent: prometheus\.tls\.certFile: cannot read "\/nonexistent\/cert\.pem" \(ENOENT\)$/],
    ['a key that does not match the certificate', ['--prometheus-tls-cert-file', 'CERT', '--prometheus-tls-key-file', 'CAKEY'], /^netproc-agent: prometheus\.tls: the certificate, key or client CA cannot be used/],
  ])('%s: exit 2, one line naming the key, nothing started', (_name, args, expected) => {
    const argv = args.map((a) => (a === 'KEY' ? file('server.key') : a === 'CERT' ? file('server.pem') : a === 'CAKEY' ? file('ca.key') : a));
    expectConfigError(['--sources', 'procfs', '--prometheus-port', '0', ...argv], {}, expected);
  });
});
