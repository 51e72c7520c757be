import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadInvocation } from '../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'netproc-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('configuration precedence: defaults < file < NETPROC_* env < flags', () => {
  it('uses the defaults with nothing given', () => {
    const { command, config } = loadInvocation([], {});
    expect(command).toBe('run');
    expect(config.sources).toEqual(['ebpf', 'procfs', 'ss']);
    expect(config.interval).toBe(5000); // durations load as milliseconds
    expect(config.prometheus).toEqual({
      enabled: true,
      host: '0.0.0.0',
      port: 9464,
      maxConnections: 64,
      maxConnectionsPerAddress: 8,
      headerTimeout: 5000,
      tls: { certFile: '', keyFile: '', clientCaFile: '' },
    });
  });

  it('reads YAML, then env overrides it, then flags override env', () => {
    const yaml = file('a.yaml', 'interval: 2s\nmaxProcesses: 10\nprometheus:\n  port: 9000\n');
    const fromFile = loadInvocation(['--config', yaml], {}).config;
    expect([fromFile.interval, fromFile.maxProcesses, fromFile.prometheus.port]).toEqual([2000, 10, 9000]);
    const fromEnv = loadInvocation(['--config', yaml], { NETPROC_INTERVAL: '3s', NETPROC_PROMETHEUS_PORT: '9100' }).config;
    expect([fromEnv.interval, fromEnv.prometheus.port]).toEqual([3000, 9100]);
    const fromFlags = loadInvocation(['once', '--config', yaml, '--interval', '750ms', '--max-processes', '3'], {
      NETPROC_INTERVAL: '3s',
    });
    expect(fromFlags.command).toBe('once');
    expect([fromFlags.config.interval, fromFlags.config.maxProcesses]).toEqual([750, 3]);
  });

  it('reads JSON config files and NETPROC_CONFIG', () => {
    const json = file('b.json', JSON.stringify({ sources: ['procfs'], prometheus: { host: '127.0.0.1' } }));
    const { config } = loadInvocation([], { NETPROC_CONFIG: json });
    expect(config.sources).toEqual(['procfs']);
    expect(config.prometheus.host).toBe('127.0.0.1');
  });

  it('lets the last of a repeated flag win, --no-X after --X included', () => {
    const { config } = loadInvocation(['--interval', '1s', '--interval', '5000ms', '--prometheus', '--no-prometheus'], {});
    expect(config.interval).toBe(5000);
    expect(config.prometheus.enabled).toBe(false);
    expect(loadInvocation(['--no-prometheus', '--prometheus'], {}).config.prometheus.enabled).toBe(true);
  });

  it('takes comma lists for sources and --no-prometheus', () => {
    const { config } = loadInvocation(['--sources', 'procfs, ss', '--no-prometheus'], {});
    expect(config.sources).toEqual(['procfs', 'ss']);
    expect(config.prometheus.enabled).toBe(false);
  });

  it.each([
    [['--sources', 'ss,bogus'], {}, /^sources \(--sources, NETPROC_SOURCES\): unknown source "bogus"; accepted: ebpf, procfs, ss/],
    [['--interval', 'soon'], {}, /^interval \(--interval, NETPROC_INTERVAL\): .*duration/],
    [['--interval', '5'], {}, /^interval \(--interval, NETPROC_INTERVAL\): .*duration/],
    [[], { NETPROC_INTERVAL: '-1s' }, /^interval \(--interval, NETPROC_INTERVAL\): /],
    [['--prometheus-port', 'http'], {}, /^prometheus\.port \(--prometheus-port, NETPROC_PROMETHEUS_PORT\): .*0 to 65535/],
    [['--prometheus-port', '70000'], {}, /^prometheus\.port \(--prometheus-port, NETPROC_PROMETHEUS_PORT\): /],
    [['--max-processes', 'many'], {}, /^maxProcesses \(--max-processes, NETPROC_MAX_PROCESSES\): /],
    [['--log-level', 'loud'], {}, /^logLevel \(--log-level, NETPROC_LOG_LEVEL\): .*fatal/],
    [['--bogus-flag'], {}, /^flags: Unknown option '--bogus-flag'/],
    [['fly'], {}, /^command: unknown command "fly"; accepted: run, once, doctor, top/],
  ])('rejects %j %j naming the key', (argv, env, message) => {
    expect(() => loadInvocation(argv, env)).toThrowError(ConfigError);
    expect(() => loadInvocation(argv, env)).toThrowError(message);
  });

  it('rejects missing, malformed and mistyped config files, naming the key', () => {
    expect(() => loadInvocation(['--config', join(dir, 'absent.yaml')], {})).toThrowError(/^config: cannot read .*absent\.yaml.*ENOENT/);
    expect(() => loadInvocation(['--config', file('bad.yaml', 'interval: [1,\n')], {})).toThrowError(/^config: .*not valid YAML or JSON/);
    expect(() => loadInvocation(['--config', file('scalar.yaml', '42\n')], {})).toThrowError(/^config: .*mapping/);
    expect(() => loadInvocation(['--config', file('unknown.yaml', 'intervall: 5s\n')], {})).toThrowError(/^intervall: unknown configuration key/);
    expect(() => loadInvocation(['--config', file('type.yaml', 'interval: 5\n')], {})).toThrowError(/^interval \(--interval, NETPROC_INTERVAL\): /);
  });

  it('takes ebpf.maxSockets only within the loader\'s range, so a size the engine would refuse stops the agent at load', () => {
    expect(loadInvocation(['--ebpf-max-sockets', '1024'], {}).config.ebpf.maxSockets).toBe(1024);
    expect(loadInvocation([], { NETPROC_EBPF_MAX_SOCKETS: '16777216' }).config.ebpf.maxSockets).toBe(16_777_216);
    for (const given of ['1023', '0', '16777217', '2.5', 'lots']) {
      expect(() => loadInvocation(['--ebpf-max-sockets', given], {})).toThrowError(/^ebpf\.maxSockets \(--ebpf-max-sockets, NETPROC_EBPF_MAX_SOCKETS\): must be a whole number from 1024 to 16777216/);
    }
  });
});
