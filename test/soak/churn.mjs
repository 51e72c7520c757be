// Churn for the soak: short-lived processes and short-lived connections, forever, until killed.
// Usage: node churn.mjs PORT PROCESSES_PER_SECOND BYTES
//   - PROCESSES_PER_SECOND times a second, a bash process connects to 127.0.0.1:PORT, sends BYTES
//     and exits (bash's /dev/tcp: a process that starts in about a millisecond);
//   - meanwhile this process keeps 20 connections open and replaces one every 50 ms.
// Prints {"spawned":N,"failed":N,"connections":N} on SIGUSR2.
import { execFile } from 'node:child_process';
import net from 'node:net';

const [port, perSecond, bytes] = process.argv.slice(2).map(Number);
// $1: port, $2: bytes. Fixed script, numbers as positional arguments: nothing is interpolated.
const SCRIPT = 'exec 3<>"/dev/tcp/127.0.0.1/$1" && head -c "$2" /dev/zero >&3';
let spawned = 0;
let failed = 0;
let connections = 0;

setInterval(() => {
  spawned++;
  execFile('bash', ['-c', SCRIPT, 'churn', String(port), String(bytes)], { timeout: 10_000 }, (err) => {
    if (err) failed++;
  });
}, 1000 / perSecond);

const pool = [];
const open = () => {
  const s = net.connect(port, '127.0.0.1', () => connections++);
  s.on('error', () => {});
  pool.push(s);
};
for (let i = 0; i < 20; i++) open();
setInterval(() => {
  pool.shift()?.destroy();
  open();
}, 50);

process.on('SIGUSR2', () => process.stdout.write(`${JSON.stringify({ spawned, failed, connections })}\n`));
