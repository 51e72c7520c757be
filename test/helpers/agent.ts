// Runs the built agent (dist/cli.js) on a loopback port picked by the kernel, and scrapes it.
import { AGENT_NODE_FLAGS, CLI, start, type Child } from './processes.js';
import { parsePrometheusText, valueOf, type Sample } from './prometheus-text.js';

export interface AgentUnderTest {
  child: Child;
  port: number;
  url: string;
  metricsText(): Promise<string>;
  scrape(): Promise<Sample[]>;
  stop(): Promise<void>;
}

/** `wrapper` runs the agent through another program, e.g. setpriv, which execs into it. */
export async function startAgent(args: readonly string[], env: NodeJS.ProcessEnv = {}, wrapper: readonly string[] = []): Promise<AgentUnderTest> {
  const command = [...wrapper, process.execPath, ...AGENT_NODE_FLAGS, CLI, 'run', '--prometheus-host', '127.0.0.1', '--prometheus-port', '0', ...args];
  const child = start(command[0]!, command.slice(1), { env });
  const port = await new Promise<number>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`agent did not listen; stderr: ${child.stderr()}`)), 30_000);
    const poll = setInterval(() => {
      const match = /"url":"https?:\/\/[^"]*:(\d+)\/metrics"/.exec(child.stderr());
      if (match) {
        clearInterval(poll);
        clearTimeout(deadline);
        resolve(Number(match[1]));
      }
      if (child.proc.exitCode !== null) {
        clearInterval(poll);
        clearTimeout(deadline);
        reject(new Error(`agent exited ${child.proc.exitCode}: ${child.stderr()}`));
      }
    }, 50);
  });
  const url = `http://127.0.0.1:${port}/metrics`;
  const metricsText = async (): Promise<string> => (await fetch(url)).text();
  return {
    child,
    port,
    url,
    metricsText,
    scrape: async () => parsePrometheusText(await metricsText()),
    stop: () => child.kill('SIGTERM'),
  };
}

/**
 * The agent run with `args`, once it is ready (its first collection done) with `source` serving
 * `family`; otherwise rejects with the agent's stderr as it stands then.
 */
export async function startAgentServing(
  source: string,
  family: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; wrapper?: readonly string[]; timeoutMs?: number } = {},
): Promise<AgentUnderTest> {
  const agent = await startAgent(args, options.env, options.wrapper);
  const stderr = (): string => agent.child.stderr().slice(-2000);
  const ready = async (): Promise<true | undefined> => ((await fetch(`http://127.0.0.1:${agent.port}/readyz`)).status === 200 ? true : undefined);
  await eventually(ready, options.timeoutMs ?? 30_000, `the ${source} source to start`).catch((err: Error) => {
    throw new Error(`${err.message}; agent stderr: ${stderr()}`);
  });
  if (valueOf(await agent.scrape(), 'netproc_source_selected', { source, family }) !== 1) {
    throw new Error(`${source} does not serve ${family}; agent stderr: ${stderr()}`);
  }
  return agent;
}

/** Polls until `check` returns a value (not undefined), or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
