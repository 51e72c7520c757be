// ss (iproute2): TCP bytes and segments from tcp_info, and TCP/UDP sockets by state, with owners.
// Sees the network namespace the agent runs in (the host's, with hostNetwork); see docs/sources.md.
import type { ConfigOf } from '../../config/keys.js';
import type { SourceContext } from '../definition.js';
import { pidMappingWarnings } from '../privileges.js';
import type { Collection, ProbeResult, SocketRecord, SourceBehaviour } from '../types.js';
import type { config } from './config.js';
import { parseSs } from './parse.js';

/** tcp + udp, all states, numeric, owners (-p), tcp_info (-i), inode (-e), no header, one line per socket. */
export const SS_ARGS = ['-t', '-u', '-a', '-n', '-p', '-i', '-e', '-H', '-O'] as const;

export function createSsSource(ctx: SourceContext<ConfigOf<typeof config>>): SourceBehaviour {
  const { io, settings } = ctx;
  const timeoutMs = settings.timeout;
  return {
    async probe(): Promise<ProbeResult> {
      const result: ProbeResult = { usable: true, problems: [], warnings: [], details: [] };
      try {
        result.details.push((await io.run(settings.path, ['--version'], { timeoutMs })).trim());
        await io.run(settings.path, ['-t', '-a', '-n', '-H'], { timeoutMs });
      } catch (err) {
        result.usable = false;
        result.problems.push({
          what: `cannot run ${JSON.stringify(settings.path)}: ${shortError(err)}`,
          fix: 'install iproute2 (Debian/Ubuntu: apt-get install iproute2) or set ss.path',
        });
        return result;
      }
      result.warnings.push(...pidMappingWarnings(ctx.privileges, 'ss'));
      return result;
    },

    async collect(): Promise<Collection> {
      // parseSs reads each line alone, so parsing the output block by block gives what parsing it
      // whole would, without a string of the whole output (~630 bytes a socket).
      const sockets: SocketRecord[] = [];
      let skipped = 0;
      await io.runLines(
        settings.path,
        SS_ARGS,
        (text) => {
          const block = parseSs(text);
          for (const socket of block.sockets) sockets.push(socket);
          skipped += block.skipped;
        },
        { timeoutMs },
      );
      // ss always lists the agent's own sockets (its metrics endpoint, its OTLP connection). An
      // answer without a single socket is a broken ss, not an empty host: applied, it would make
      // every socket look closed, and each would be counted again, from zero, when seen next.
      if (sockets.length === 0) {
        throw new Error(skipped > 0 ? `ss printed ${skipped} lines and not one socket could be read` : 'ss printed no socket at all');
      }
      return { sockets, errors: { parse: skipped } };
    },
  };
}

export function shortError(err: unknown): string {
  const e = err as { shortMessage?: string; message?: string; code?: string };
  return (e.code ?? e.shortMessage ?? e.message ?? String(err)).split('\n', 1)[0]!;
}
