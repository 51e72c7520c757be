// Bad input stops the agent before anything starts: exit code 2, one line on stderr naming the key,
// no stack trace, nothing on stdout, and the metrics port never opened.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectConfigError } from '../helpers/config-error.js';
import { CLI } from '../helpers/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'netproc-bad-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, text: string): string => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

const CASES: Array<[string, string[], NodeJS.ProcessEnv, RegExp]> = [
  ['unknown source', ['--sources', 'ss,pcap'], {}, /^netproc-agent: sources \(--sources, NETPROC_SOURCES\): unknown source "pcap"; accepted: ebpf, procfs, ss/],
  ['unknown source from env', [], { NETPROC_SOURCES: 'ebpff' }, /^netproc-agent: sources .*unknown source "ebpff"; accepted: /],
  ['unparsable duration', ['--interval', 'fast'], {}, /^netproc-agent: interval \(--interval, NETPROC_INTERVAL\): must be a positive duration/],
  ['unparsable port', ['--prometheus-port', '94x64'], {}, /^netproc-agent: prometheus\.port .*0 to 65535/],
  ['port out of range', ['--prometheus-port', '65536'], {}, /^netproc-agent: prometheus\.port .*0 to 65535/],
  ['missing config file', ['--config', join(dir, 'nope.yaml')], {}, /^netproc-agent: config: cannot read ".*nope\.yaml" \(ENOENT\)/],
  ['malformed config file', ['--config', write('broken.yaml', 'sources: [ss,\n  interval: {\n')], {}, /^netproc-agent: config: .*broken\.yaml" is not valid YAML or JSON/],
  ['malformed JSON config', ['--config', write('broken.json', '{"interval": "5s",')], {}, /^netproc-agent: config: .*broken\.json" is not valid YAML or JSON/],
  ['malformed config file, where', ['--config', write('where.yaml', 'interval: 5s\nsources: [ss\n')], {}, /^netproc-agent: config: .*where\.yaml" is not valid YAML or JSON: .* at line 3, column 1$/m],
  ['config file over 1 MiB', ['--config', write('huge.yaml', `# ${'x'.repeat(1024 * 1024)}\n`)], {}, /^netproc-agent: config: .*huge\.yaml" is larger than 1024 KiB: not a configuration file$/m],
  ['config file that never ends', ['--config', '/dev/zero'], {}, /^netproc-agent: config: "\/dev\/zero" is larger than 1024 KiB: not a configuration file$/m],
  ['unknown key in config file', ['--config', write('typo.yaml', 'prometheus:\n  prot: 1\n')], {}, /^netproc-agent: prometheus\.prot: unknown configuration key/],
  ['bad value in config file', ['--config', write('value.yaml', 'interval: forever\n')], {}, /^netproc-agent: interval .*duration/],
  ['unknown flag', ['--sourcez', 'ss'], {}, /^netproc-agent: flags: Unknown option '--sourcez'/],
  ['eBPF map size the loader would refuse', ['--ebpf-max-sockets', '100'], {}, /^netproc-agent: ebpf\.maxSockets \(--ebpf-max-sockets, NETPROC_EBPF_MAX_SOCKETS\): must be a whole number from 1024 to 16777216/],
];

describe('bad input', () => {
  it.each(CASES)('%s: exit 2, one line naming the key, no stack trace', (_name, argv, env, expected) => {
    expectConfigError(argv, env, expected);
  });

  it('a port already in use is reported on one line naming prometheus.port, exit 2', async () => {
    const { createServer } = await import('node:net');
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    const result = spawnSync(process.execPath, [CLI, 'run', '--sources', 'procfs', '--prometheus-host', '127.0.0.1', '--prometheus-port', String(port)], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    server.close();
    expect(result.status).toBe(2);
    const last = result.stderr.trimEnd().split('\n').at(-1);
    expect(last).toMatch(new RegExp(`^netproc-agent: prometheus\\.port: cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)$`));
  });
});
