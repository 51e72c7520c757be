// `netproc-agent top`: a live per-process view, like nethogs, from the same sources and selection as `run`.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { buildCore } from '../../agent.js';
import type { Snapshot } from '../../aggregation/snapshot.js';
import type { AgentConfig } from '../../config/schema.js';
import { ConfigError } from '../../config/load.js';
import type { Feed } from './view.js';

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
  await collector.stop();
  return 0;
}
