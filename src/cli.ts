#!/usr/bin/env node
// netproc-agent: per-process network traffic as OpenTelemetry metrics.
// First, before any dependency is evaluated: refuse an older Node.js with one line.
import './node-version.js';
// Then, before node:http is linked anywhere: keep Node's bundled undici unloaded. So the commands
// are imported when they run, not statically.
import './runtime-memory.js';
import { ConfigError, loadInvocation, schemaLeaves } from './config/load.js';
import { createLogger } from './log.js';
import { VERSION } from './version.js';

async function main(argv: readonly string[]): Promise<number> {
  const { command, config } = loadInvocation(argv, process.env);
  if (command === 'help') return printHelp();
  if (command === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (command === 'doctor') return (await import('./commands/doctor.js')).doctorCommand(config);
  // top owns the terminal: log lines would tear the screen, so it shows state in its header instead.
  const logger = createLogger(command === 'top' ? 'silent' : config.logLevel);
  if (command === 'top') return (await import('./commands/top/command.js')).topCommand(config, logger);
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
  if (command === 'once') return (await import('./commands/once.js')).onceCommand(config, logger);
  // Shutdown is complete when runCommand returns (bounded): exit, rather than wait for a hung
  // Collector's call or a killed child's pipes to let go of the event loop.
  const { runCommand } = await import('./commands/run.js');
  process.exit(await runCommand(config, logger));
}

function printHelp(): number {
  const flags = schemaLeaves()
    .filter(([, leaf]) => leaf.arg)
    .map(([key, leaf]) => `  --${leaf.arg!.padEnd(18)} ${leaf.doc} [${key}]`);
  process.stdout.write(
    [
      'usage: netproc-agent [run|once|doctor|top] [flags]',
      '',
      '  run      collect every interval and export (default)',
      '  once     collect over --duration and print a table or --format json',
      '  doctor   what each source needs, what is missing here, and the fix',
      '  top      a live per-process view (keys: r t p c sort, q quits)',
      '',
      '  --config FILE          YAML or JSON config file (keys as in config/agent.example.yaml)',
      '  --no-prometheus        do not serve /metrics',
      ...flags,
      '',
    ].join('\n'),
  );
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`netproc-agent: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`netproc-agent: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
