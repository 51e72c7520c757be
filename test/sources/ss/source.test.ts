// The ss source over a fake host: it runs `ss` with SS_ARGS and parses what it printed, the same
// however many lines the host hands over in one block.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ctxOf } from '../../helpers/source-context.js';
import { loadInvocation } from '../../../src/config/load.js';
import { parseSs } from '../../../src/sources/ss/parse.js';
import { createSsSource, SS_ARGS } from '../../../src/sources/ss/source.js';
import { FakeHost } from '../../helpers/fake-host.js';

const { config } = loadInvocation(['run', '--sources', 'ss', '--no-prometheus', '--log-level', 'silent'], {});
const privileges = { uid: 0, effective: 0n };
const command = [config.ss.path, ...SS_ARGS].join(' ');

function fixture(name: string): string {
  return fs.readFileSync(new URL(`../../fixtures/ss/${name}`, import.meta.url), 'utf8');
}

/** Every capture, the broken ones included, one after the other. */
const output = ['basic.txt', 'names.txt', 'shared.txt', 'newline.txt', 'truncated.txt'].map(fixture).join('');

function hostPrinting(text: string): FakeHost {
  const host = new FakeHost();
  host.commands.set(command, text);
  return host;
}

describe('ss source', () => {
  it('reports from output handed over in blocks exactly what parseSs reads from it whole', async () => {
    const whole = parseSs(output);
    expect(whole.sockets.length).toBeGreaterThan(30);
    for (const blockLines of [1, 2, 7, 1000]) {
      const host = hostPrinting(output);
      host.blockLines = blockLines;
      const collection = await createSsSource(ctxOf('ss', { config, io: host, privileges })).collect();
      expect(collection, `${blockLines} lines a block`).toEqual({ sockets: whole.sockets, errors: { parse: whole.skipped } });
    }
  });

  it('fails the collection when ss fails', async () => {
    const host = new FakeHost();
    await expect(createSsSource(ctxOf('ss', { config, io: host, privileges })).collect()).rejects.toThrow();
  });
});
