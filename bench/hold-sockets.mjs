// Holds PAIRS established loopback TCP connections, both ends in this one process: a listener on
// 127.0.0.1:0 and PAIRS clients connected to it, so the host has 2 x PAIRS established sockets.
// Each client sends 64 bytes and gets them echoed back, so ss prints the byte counters a live
// connection has. Prints {"ready":true,"port":N,"pid":N,"established":N} on stdout, then holds
// until SIGTERM/SIGINT or until stdin closes (the bench that started it has gone).
// Needs 2 x PAIRS + ~20 descriptors: start it under `prlimit --nofile=...` for large counts.
// Usage: node hold-sockets.mjs PAIRS
import net from 'node:net';

const pairs = Number(process.argv[2] ?? 5000);
/** Connects in batches, so the listen queue never overflows into SYN retries (1 s each). */
const BATCH = 250;
const HELLO = Buffer.alloc(64, 0x61);

const clients = [];
const accepted = [];
const server = net.createServer((socket) => {
  accepted.push(socket);
  socket.on('data', (d) => socket.write(d));
  socket.on('error', () => {});
});

function connectOne(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('error', reject);
    socket.once('data', () => resolve(socket)); // the echo: both ends are established and counted
    socket.once('connect', () => socket.write(HELLO));
  });
}

async function main() {
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', backlog: BATCH * 2 }, resolve);
  });
  const { port } = server.address();
  for (let done = 0; done < pairs; ) {
    const n = Math.min(BATCH, pairs - done);
    const batch = await Promise.all(Array.from({ length: n }, () => connectOne(port)));
    for (const socket of batch) socket.on('error', () => {});
    clients.push(...batch);
    done += n;
  }
  process.stdout.write(`${JSON.stringify({ ready: true, port, pid: process.pid, established: clients.length + accepted.length })}\n`);
}

function quit() {
  // A reset leaves no TIME-WAIT socket behind (a close would leave 5,000 for 60 s, which the
  // next run's ss and procfs would have to read too).
  for (const socket of [...clients, ...accepted]) socket.resetAndDestroy();
  server.close();
  process.exit(0);
}

process.on('SIGTERM', quit);
process.on('SIGINT', quit);
process.stdin.on('end', quit);
process.stdin.resume();

main().catch((err) => {
  process.stderr.write(`hold-sockets: ${err?.code ?? err?.message ?? err}\n`);
  process.exit(1);
});
