// Adding a source is one folder and one line in the registry: everything else is derived from its
// definition. Shown with a minimal extra source: its keys are in the schema (flags, env, docs),
// its capabilities in capabilitiesFor, its families in selection.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { selectSources } from '../../src/collection/selection.js';
import { key } from '../../src/config/keys.js';
import { loadInvocation, schemaLeaves } from '../../src/config/load.js';
import { buildSchema } from '../../src/config/schema.js';
import { capabilitiesFor, createSources, defineSource } from '../../src/sources/definition.js';
import { SOURCES } from '../../src/sources/registry.js';
import { FakeHost } from '../helpers/fake-host.js';

const seen: Array<{ path: string; timeoutMs: number }> = [];

const pcap = defineSource({
  name: 'pcap',
  families: ['packets'],
  capabilities: ['CAP_NET_RAW'],
  defaultOn: false,
  config: {
    path: key({ doc: 'The pcap tool.', format: String, default: 'pcap', env: 'NETPROC_PCAP_PATH', arg: 'pcap-path' }),
    timeout: key({ doc: 'How long one run may take.', format: 'duration', default: '2s', env: 'NETPROC_PCAP_TIMEOUT', arg: 'pcap-timeout' }),
  },
  async create(ctx) {
    // Its settings arrive loaded and typed: a duration in milliseconds.
    seen.push({ path: ctx.settings.path, timeoutMs: ctx.settings.timeout });
    return {
      probe: async () => ({ usable: true, problems: [], warnings: [], details: [] }),
      collect: async () => ({ increments: [], errors: {} }),
    };
  },
});
const withPcap = [...SOURCES, pcap];

describe('a source added by its definition alone', () => {
  it('has its keys in the schema, with their flags, environment variables and docs', () => {
    const keys = Object.fromEntries(schemaLeaves(buildSchema(withPcap)));
    expect(keys['pcap.path']).toMatchObject({ env: 'NETPROC_PCAP_PATH', arg: 'pcap-path', doc: 'The pcap tool.' });
    expect(keys['pcap.timeout']).toMatchObject({ env: 'NETPROC_PCAP_TIMEOUT', arg: 'pcap-timeout' });
    // Not in the agent's own schema, which knows only the registry.
    expect(schemaLeaves().map(([k]) => k)).not.toContain('pcap.path');
  });

  it('is accepted in `sources` and configured by flag and environment, as any source', () => {
    const { config } = loadInvocation(['--sources', 'ss,pcap', '--pcap-timeout', '750ms'], { NETPROC_PCAP_PATH: '/opt/pcap' }, withPcap);
    expect(config.sources).toEqual(['ss', 'pcap']);
    expect((config as unknown as Record<string, unknown>).pcap).toEqual({ path: '/opt/pcap', timeout: 750 });
    // Off by default, as its definition says; the registry's sources are unchanged.
    expect(loadInvocation([], {}, withPcap).config.sources).toEqual(['ebpf', 'procfs', 'ss']);
    expect(() => loadInvocation(['--sources', 'pcap'], {})).toThrow(/unknown source "pcap"; accepted: ebpf, procfs, ss, nethogs/);
  });

  it('brings its capabilities to capabilitiesFor (the deploy files are checked against it)', () => {
    expect(capabilitiesFor(['pcap'], withPcap)).toEqual(['CAP_NET_RAW']);
    expect(capabilitiesFor(['procfs', 'pcap'], withPcap)).toEqual(['CAP_DAC_READ_SEARCH', 'CAP_NET_RAW', 'CAP_SYS_PTRACE']);
  });

  it('is made from its settings and selected for its families', async () => {
    const { config } = loadInvocation(['--sources', 'procfs,pcap', '--pcap-path', '/usr/sbin/pcap'], {}, withPcap);
    const host = { io: new FakeHost(), privileges: { uid: 0, effective: 0n }, logger: pino({ level: 'silent' }) };
    const sources = await createSources(config.sources, withPcap, config, host);
    expect(sources.map((s) => [s.name, s.families])).toEqual([
      ['procfs', ['connections']],
      ['pcap', ['packets']],
    ]);
    expect(seen.at(-1)).toEqual({ path: '/usr/sbin/pcap', timeoutMs: 2000 });
    const assignment = selectSources(sources, new Set(['procfs', 'pcap']));
    expect(Object.fromEntries(assignment)).toEqual({ packets: 'pcap', connections: 'procfs' });
  });
});
