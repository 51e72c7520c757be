// src/runtime-memory.ts keeps Node's bundled undici unloaded in the agent (nodejs/node#59686: an
// ES module import of node:http calls its lazy WebSocket getters). Each case runs in a fresh
// process on dist/, as the agent does: what matters is the order in which modules are linked.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const DIST = new URL('../../dist/', import.meta.url).href;

/** Runs an ES module body in a fresh Node process and returns what it printed, parsed. */
function inFreshNode(body: string): Record<string, unknown> {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', body], { encoding: 'utf8' });
  return JSON.parse(out) as Record<string, unknown>;
}

const report = `
const http = process.getBuiltinModule('node:http');
console.log(JSON.stringify({
  undici: process.moduleLoadList.some((m) => m.includes('undici')),
  webSocketIsLazy: Object.getOwnPropertyDescriptor(http, 'WebSocket')?.get !== undefined,
}));`;

describe('runtime-memory', () => {
  it('loads the run command, Prometheus exporter included, without undici', () => {
    const result = inFreshNode(`await import('${DIST}runtime-memory.js'); await import('${DIST}commands/run.js');${report}`);
    expect(result).toEqual({ undici: false, webSocketIsLazy: true });
  });

  it('is needed: without it the same import loads undici (when Node.js fixes #59686, this fails and the module can go)', () => {
    const result = inFreshNode(`await import('${DIST}commands/run.js');${report}`);
    expect(result.undici).toBe(true);
  });

  it('leaves node:http.WebSocket working for whoever asks for it', () => {
    const result = inFreshNode(
      `await import('${DIST}runtime-memory.js'); const http = process.getBuiltinModule('node:http'); console.log(JSON.stringify({ same: http.WebSocket === globalThis.WebSocket, type: typeof http.WebSocket }));`,
    );
    expect(result).toEqual({ same: true, type: 'function' });
  });
});
