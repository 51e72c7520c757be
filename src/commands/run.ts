// `netproc-agent run`: collect every interval and serve the exporters until SIGTERM/SIGINT.
import type { Logger } from 'pino';
import { startAgent } from '../agent.js';
import type { AgentConfig } from '../config/schema.js';
import { VERSION } from '../version.js';

export async function runCommand(config: AgentConfig, logger: Logger): Promise<number> {
  const agent = await startAgent(config, logger);
  logger.info({ version: VERSION, node: process.version }, 'netproc-agent running');
  return new Promise((resolve) => {
    let stopping = false;
    const shutdown = (signal: NodeJS.Signals): void => {
      if (stopping) process.exit(130); // a second signal: stop waiting
      stopping = true;
      logger.info({ signal }, 'shutting down');
      agent.stop().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error({ err }, 'error during shutdown');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', shutdown);
    process.on('SIGINT', shutdown);
  });
}
