// `netproc-agent top`: a live per-process view, like nethogs, from the same sources and selection as `run`.
import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { buildCore } from '../../agent.js';
import type { Snapshot } from '../../aggregation/snapshot.js';
import type { AgentConfig } from '../../config/schema.js';
import { ConfigError } from '../../config/load.js';
import type { Feed } from './view.js';

const QUIT_GRACE_MS = 1000;

export async function topCommand(config: AgentConfig, logger: Logger): Promise<number> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new ConfigError('top: needs a terminal (stdin and stdout must be a TTY); use `once` for scripts');
  }
  // Ink renders only the final frame when it thinks it runs in CI; top is interactive by nature.
  process.env.CI = 'false';
  const [{ render }, { createElement }, { TopView }] = await Promise.all([import('ink'), import('react'), import('./view.js')]);

  const { collector } = await buildCore(config, logger);
  const snapshots = new EventEmitter();
  let latest: Snapshot | undefined;
  collector.start((snapshot) => {
    latest = snapshot;
    snapshots.emit('snapshot', snapshot);
  });
  const feed: Feed = {
    subscribe(listener) {
      if (latest) listener(latest);
      snapshots.on('snapshot', listener);
      return () => snapshots.off('snapshot', listener);
    },
    sources: () =>
      [...collector.assignment].map(([family, source]) => `${family}=${source}`).join(' ') || 'no usable source',
  };
  const app = render(createElement(TopView, { feed, initialSort: 'transmitted' }), { exitOnCtrlC: true });
  await app.waitUntilExit();
  // q quits at once. A collection in flight (ss on a large host, a /proc read stuck behind a process
  // in uninterruptible sleep) gets QUIT_GRACE_MS to end; after that top exits without waiting for it.
  const stopped = await Promise.race([collector.stop().then(() => true), delay(QUIT_GRACE_MS, false, { ref: false })]);
  if (!stopped) process.exit(0);
  return 0;
}
