// The streaming child's silent limit and its once-per-outage logging, on a fake host whose clock
// the test moves: a child printing nothing, or only lines the source cannot read, past its limit is
// failed, each with its own reason; an unreadable line is logged once per outage, which ends only
// after quietMs without one.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { StreamingChild, type LaunchSpec } from '../../src/sources/streaming.js';
import { FakeHost } from '../helpers/fake-host.js';

const SILENT_LIMIT_MS = 10_000;

function setUp(quietMs = 0) {
  const host = new FakeHost();
  const logged: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logged.push((JSON.parse(line) as { msg: string }).msg) });
  const child = new StreamingChild(host, logger, 'test', quietMs);
  const spec: LaunchSpec = {
    file: 'tool',
    args: [],
    pdeathsig: false,
    maxLineBytes: 1024,
    onStdout: (line, generation) => {
      if (line === 'ready') generation.ready();
      else if (line.startsWith('junk')) child.unreadable(generation, line);
    },
    onStderr: () => undefined,
    readyTimeoutMs: 1000,
    silentLimitMs: SILENT_LIMIT_MS,
    isProgress: (line) => line === 'tick',
    messages: { exited: 'exited', timedOut: 'timed out' },
  };
  host.onSpawn = (c) => queueMicrotask(() => c.print('ready'));
  return { host, child, spec, logged, printed: () => host.children.at(-1)! };
}

describe('StreamingChild', () => {
  it('fails a child that printed nothing past its silent limit: stopped or hung', async () => {
    const { host, child, spec } = setUp();
    await child.launch(spec);
    host.clock += SILENT_LIMIT_MS - 1;
    expect(child.failure).toBeUndefined();
    host.clock += 2;
    expect(child.failure).toBe("test's child printed nothing for 10 s: it is stopped or hung");
  });

  it('fails a child that printed only lines it could not read past its silent limit, and says so', async () => {
    const { host, child, spec, printed } = setUp();
    await child.launch(spec);
    for (let i = 0; i < 11; i++) {
      host.clock += 1000;
      printed().print('junk', 'more junk');
    }
    expect(child.failure).toBe("test's child printed nothing usable for 11 s, only lines that could not be read");
  });

  it('a child at work is not failed, whatever else it prints after its sign of work', async () => {
    const { host, child, spec, printed } = setUp();
    await child.launch(spec);
    for (let i = 0; i < 30; i++) {
      host.clock += 1000;
      printed().print('tick', 'a line of data', 'junk');
    }
    expect(child.failure).toBeUndefined();
  });

  it('logs unreadable lines once per outage; an outage ends after quietMs without one', async () => {
    const { host, child, spec, logged, printed } = setUp(3000);
    const generation = await child.launch(spec);
    const said = () => logged.filter((m) => m.startsWith('test printed lines it could not read'));
    // One a second, drained every second, and one drain in two sees none: one outage.
    for (let i = 0; i < 6; i++) {
      host.clock += 1000;
      if (i % 2 === 0) printed().print(`junk ${i}`);
      child.drain();
    }
    expect(said()).toEqual(['test printed lines it could not read, such as: junk 0']);
    expect(generation.errors).toEqual({}); // drained
    host.clock += 3000;
    child.drain();
    printed().print('junk again');
    expect(said()).toHaveLength(2);
    expect(child.drain().errors).toEqual({ parse: 1 });
  });

  it('with quietMs 0 (the ebpf source), a drain that saw none ends the outage', async () => {
    const { host, child, spec, logged, printed } = setUp(0);
    await child.launch(spec);
    for (let i = 0; i < 6; i++) {
      host.clock += 1000;
      if (i % 2 === 0) printed().print(`junk ${i}`);
      child.drain();
    }
    expect(logged.filter((m) => m.startsWith('test printed lines it could not read'))).toHaveLength(3);
  });
});
