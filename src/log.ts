// JSON logs on stderr, so stdout stays free for `once` and `doctor` output.
import { destination, pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({ level, base: { name: 'netproc-agent' } }, destination({ fd: 2, sync: true }));
}
