// Holds PAIRS established loopback TCP connections, both ends of each in one process, so the host
// has 2 x PAIRS established sockets. Each client sends 64 bytes and gets them echoed back, so ss
// prints the byte counters a live connection has. Prints
// {"ready":true,"port":N,"ports":[N...],"pid":N,"pids":[N...],"established":N} on stdout, then
// holds until SIGTERM/SIGINT or until stdin closes (the bench that started it has gone).
//
// Usage: node hold-sockets.mjs PAIRS [HOLDERS]
// - Without HOLDERS (or 0) this process holds every socket itself: a listener on 127.0.0.1:0 and
//   PAIRS clients connected to it from ephemeral ports. Needs 2 x PAIRS + ~20 descriptors: start it
//   under `prlimit --nofile=...` for large counts.
// - With HOLDERS, the 2 x PAIRS sockets are spread evenly over HOLDERS small processes (`cat`, a
//   few hundred KiB each; a Node process each would not fit 1,000 of them in memory): this process
//   connects enough for one holder's share, hands them to a `cat` child as its descriptors 3 and
//   up, and closes its own copies, so each socket has exactly one owner (the two ends of a
//   connection may have different ones) and this process needs about one share's descriptors at
//   a time. The child's stdin is a pipe from here: if this process dies, cat reads
//   EOF and exits, so no holder outlives it. Clients bind explicit source addresses and ports,
//   127.213.X.Y:P with P one of PORTS_PER_ADDRESS ports above the ephemeral range
//   (net.ipv4.ip_local_port_range), so 25,000 connections take 100 port numbers instead of
//   exhausting the ephemeral ports everyone else on the host binds and connects from. Listeners
//   sit on 127.0.0.1, one per LISTENER_PAIRS pairs. On exit the connections are aborted with
//   `ss -K` (SOCK_DESTROY: each end sends a reset, so no TIME-WAIT socket is left; needs
//   CONFIG_INET_DIAG_DESTROY and CAP_NET_ADMIN), then the holders are killed.
import { execFileSync, spawn } from 'node:child_process';
import net from 'node:net';

const pairs = Number(process.argv[2] ?? 5000);
const holders = Number(process.argv[3] ?? 0);
/** Connects in batches, so the listen queue never overflows into SYN retries (1 s each). */
const BATCH = 250;
const HELLO = Buffer.alloc(64, 0x61);
const PORTS_PER_ADDRESS = 100;
const ADDRESSES_PER_OCTET = 250;
const LISTENER_PAIRS = 5000;
/** Above the default ephemeral range (32768-60999), below 65536 with room for PORTS_PER_ADDRESS. */
const PORT_BASE_MIN = 61000;
const PORT_BASE_SPAN = 65536 - PORT_BASE_MIN - PORTS_PER_ADDRESS;

const clients = [];
/** Every listener's port: its accepted sockets keep it, so it names them all for `ss -K`. */
const heldPorts = [];
const accepted = [];
const servers = [];
const children = [];

function listen(host) {
  const server = net.createServer((socket) => {
    accepted.push(socket);
    socket.on('data', (d) => socket.write(d));
    socket.on('error', () => {});
  });
  servers.push(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host, backlog: BATCH * 2 }, () => {
      const { port } = server.address();
      heldPorts.push(port);
      resolve(port);
    });
  });
}

function connectOne(options) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(options);
    socket.once('error', reject);
    socket.once('data', () => resolve(socket)); // the echo: both ends are established and counted
    socket.once('connect', () => socket.write(HELLO));
  });
}

/** Connects `count` clients, in batches; `options(i)` gives the i-th one's net.connect options. */
async function connectMany(count, options) {
  const made = [];
  for (let done = 0; done < count; ) {
    const n = Math.min(BATCH, count - done);
    const batch = await Promise.all(Array.from({ length: n }, (_, i) => connectOne(options(done + i))));
    for (const socket of batch) socket.on('error', () => {});
    made.push(...batch);
    done += n;
  }
  return made;
}

async function holdHere() {
  const port = await listen('127.0.0.1');
  clients.push(...(await connectMany(pairs, () => ({ port, host: '127.0.0.1' }))));
  return { port, ports: [port], pids: [process.pid], established: clients.length + accepted.length };
}

async function holdInChildren() {
  const ports = [];
  for (let i = 0; i < Math.ceil(pairs / LISTENER_PAIRS); i++) ports.push(await listen('127.0.0.1'));
  // A fresh block of source ports each run, so a previous run's leftovers cannot collide.
  const portBase = PORT_BASE_MIN + Math.floor(Math.random() * PORT_BASE_SPAN);
  const options = (n) => {
    const address = Math.floor(n / PORTS_PER_ADDRESS);
    return {
      host: '127.0.0.1',
      port: ports[Math.floor(n / LISTENER_PAIRS)],
      localAddress: `127.213.${1 + Math.floor(address / ADDRESSES_PER_OCTET)}.${1 + (address % ADDRESSES_PER_OCTET)}`,
      localPort: portBase + (n % PORTS_PER_ADDRESS),
    };
  };
  // Established ends not handed over yet; both ends of a connection may go to different holders.
  const pool = [];
  let connected = 0;
  let established = 0;
  const sockets = 2 * pairs;
  for (let h = 0; h < holders; h++) {
    const share = Math.floor(sockets / holders) + (h < sockets % holders ? 1 : 0);
    while (pool.length < share) {
      const n = Math.min(BATCH, pairs - connected);
      const first = connected;
      accepted.length = 0;
      pool.push(...(await connectMany(n, (i) => options(first + i))), ...accepted);
      accepted.length = 0;
      connected += n;
    }
    const mine = pool.splice(0, share);
    const child = spawn('cat', [], { stdio: ['pipe', 'ignore', 'ignore', ...mine] });
    await new Promise((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    child.stdin.on('error', () => {});
    children.push(child);
    // Closing our copy only drops a reference: the socket lives on in the child, no FIN is sent.
    for (const socket of mine) socket.destroy();
    established += mine.length;
  }
  // Accepted sockets keep their listener's port, so it stays ours after the listeners close.
  for (const server of servers) server.close();
  return { port: ports[0], ports, pids: children.map((c) => c.pid), established };
}

async function main() {
  const held = holders > 0 ? await holdInChildren() : await holdHere();
  process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid, ...held })}\n`);
}

function quit(code = 0) {
  // A reset leaves no TIME-WAIT socket behind (a close would leave one per connection for 60 s,
  // which the next run's ss and procfs would have to read too).
  for (const socket of [...clients, ...accepted]) socket.resetAndDestroy();
  for (const server of servers) server.close();
  if (children.length > 0 && heldPorts.length > 0) {
    const filter = heldPorts.map((p) => `sport = :${p} or dport = :${p}`).join(' or ');
    try {
      execFileSync('ss', ['-K', '-tnH', 'state', 'established', `( ${filter} )`], { stdio: 'ignore', maxBuffer: 64 * 2 ** 20 });
    } catch (err) {
      process.stderr.write(`hold-sockets: ss -K failed (${err.message}); the holders' sockets close normally and leave TIME-WAIT\n`);
    }
    for (const child of children) child.kill('SIGKILL');
  }
  process.exit(code);
}

process.on('SIGTERM', () => quit());
process.on('SIGINT', () => quit());
process.stdin.on('end', () => quit());
process.stdin.resume();

main().catch((err) => {
  process.stderr.write(`hold-sockets: ${err?.code ?? err?.message ?? err}\n`);
  quit(1);
});
