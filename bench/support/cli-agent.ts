// The built agent (dist/cli.js) run with one source, as the benches start it: ready, with the PID
// of the tool it runs (netproc-loader, nethogs) known, and stopped with a deadline.
import { execFileSync } from 'node:child_process';
import { eventually, startAgent, type AgentUnderTest } from '../../test/helpers/agent.js';

/** Past this, a stop that SIGTERM did not finish ends with SIGKILL. */
const STOP_TIMEOUT_MS = 10_000;

export interface SourceAgent {
  agent: AgentUnderTest;
  /** The source's tool, a direct child of the agent. */
  toolPid: number;
  stop(): Promise<void>;
}

export async function startSourceAgent(source: string, tool: string, env: NodeJS.ProcessEnv = {}): Promise<SourceAgent> {
  const agent = await startAgent(['--sources', source, '--interval', '1s', '--no-otlp'], env);
  const stop = async (): Promise<void> => {
    const timer = setTimeout(() => agent.child.proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await agent.stop();
    clearTimeout(timer);
  };
  try {
    const ready = async (): Promise<true | undefined> => ((await fetch(`http://127.0.0.1:${agent.port}/readyz`)).status === 200 ? true : undefined);
    await eventually(ready, 60_000, `the ${source} agent to be ready`);
    const toolPid = await eventually(async () => childPid(agent.child.pid, tool), 10_000, `${tool} under the agent`);
    return { agent, toolPid, stop };
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}; agent stderr: ${agent.child.stderr().slice(-1000)}`);
  }
}

function childPid(parent: number, name: string): number | undefined {
  try {
    const out = execFileSync('pgrep', ['-P', String(parent), '-x', name], { encoding: 'utf8' }).trim();
    return out === '' ? undefined : Number(out.split('\n')[0]);
  } catch {
    return undefined;
  }
}
