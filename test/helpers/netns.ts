// A network namespace made by a test, joined to the root namespace by a veth pair on a /30 of its own.
// Only these two addresses are ever used; remove() deletes the namespace and the pair.
import { execFileSync } from 'node:child_process';
import { PEER, start, type Child } from './processes.js';

export interface TestNamespace {
  name: string;
  /** The root-namespace end of the veth pair. */
  hostIf: string;
  /** Address of the root-namespace end. */
  hostAddress: string;
  /** Address inside the namespace. */
  nsAddress: string;
  /** Starts a traffic peer inside the namespace. */
  peer(...args: Array<string | number>): Child;
  remove(): void;
}

const ip = (...args: string[]): void => void execFileSync('ip', args, { stdio: 'pipe' });

/**
 * `slot` (1..250) keeps the names and the 10.213.<slot>.0/30 subnet of concurrent tests apart.
 * Slots in use: 21 netns, 31 fleet-churn, 41-42 nethogs, 51-52 pods, 61-62 ebpf-tcp, 71 nethogs faults.
 * Two files that run at once with one slot would route each other's traffic, so a slot whose subnet is
 * already on a link fails here, by name, instead of as a refused connection somewhere later.
 */
export function createNamespace(slot: number): TestNamespace {
  const name = `netproc-t${slot}-${process.pid}`;
  const hostIf = `npt${slot}h${process.pid % 10000}`;
  const nsIf = `npt${slot}n${process.pid % 10000}`;
  const hostAddress = `10.213.${slot}.1`;
  const nsAddress = `10.213.${slot}.2`;
  const remove = (): void => {
    try {
      ip('link', 'del', hostIf);
    } catch {
      // already gone with the namespace
    }
    try {
      ip('netns', 'del', name);
    } catch {
      // not created
    }
  };
  remove();
  const taken = execFileSync('ip', ['-o', 'addr', 'show', 'to', `10.213.${slot}.0/30`], { encoding: 'utf8' }).trim();
  if (taken !== '') throw new Error(`namespace slot ${slot} is in use by another test, or left by a killed run: ${taken}`);
  try {
    ip('netns', 'add', name);
    ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    ip('link', 'set', nsIf, 'netns', name);
    ip('addr', 'add', `${hostAddress}/30`, 'dev', hostIf);
    ip('link', 'set', hostIf, 'up');
    ip('-n', name, 'addr', 'add', `${nsAddress}/30`, 'dev', nsIf);
    ip('-n', name, 'link', 'set', nsIf, 'up');
    ip('-n', name, 'link', 'set', 'lo', 'up');
  } catch (err) {
    remove();
    throw err;
  }
  return {
    name,
    hostIf,
    hostAddress,
    nsAddress,
    // `ip netns exec` execs the program, so the child's PID is the peer's own PID.
    peer: (...args) => start('ip', ['netns', 'exec', name, process.execPath, PEER, ...args.map(String)]),
    remove,
  };
}
