// A server inside a network namespace the test creates (like a pod) and a client in the root
// namespace talking to it over a veth pair: procfs reads the namespace's sockets through the server's
// /proc/PID/net and attributes them to its PID; ss, which sees only the agent's namespace, cannot.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, type TestNamespace } from '../helpers/netns.js';
import { connectionsOf, once } from '../helpers/once.js';
import { killAll, peer, type Child } from '../helpers/processes.js';
import { missing } from '../helpers/requirements.js';

const CONNECTIONS = 7;

describe.skipIf(missing('netns', 'root', 'ip', 'ss'))('sockets in another network namespace', () => {
  let ns: TestNamespace;
  let server: Child;
  let client: Child;

  beforeAll(async () => {
    ns = createNamespace(21);
    server = ns.peer('sink', ns.nsAddress);
    const { port } = await server.next('port');
    client = peer('hold', ns.nsAddress, port, CONNECTIONS);
    await client.next('open');
  });
  afterAll(async () => {
    await killAll();
    ns?.remove();
  });

  it('procfs attributes the namespaced server\'s sockets to its PID', async () => {
    const { processes } = await once(['--sources', 'procfs', '--duration', '200ms']);
    expect(connectionsOf(processes, server.pid, 'tcp')).toEqual({ established: CONNECTIONS, listen: 1 });
    expect(connectionsOf(processes, client.pid, 'tcp')).toEqual({ established: CONNECTIONS });
  });

  it('ss sees only the root namespace: the client, not the server', async () => {
    const { processes } = await once(['--sources', 'ss', '--duration', '200ms']);
    expect(connectionsOf(processes, client.pid, 'tcp')).toEqual({ established: CONNECTIONS });
    expect(connectionsOf(processes, server.pid, 'tcp')).toEqual({});
  });
});
