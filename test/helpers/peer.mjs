// A traffic peer with a known PID, driven by argv; prints one JSON line per event on stdout.
// Modes (host is always loopback or a test namespace address):
//   sink HOST [REPLY [AFTER]]    listen on HOST:0, read everything, reply REPLY bytes per connection once
//                                AFTER bytes have arrived on it (default 0: at once); print {port};
//                                on SIGUSR2 print {received}
//   send HOST PORT BYTES         connect, send BYTES, print {sent} when flushed, hold the connection open;
//                                on SIGUSR1 close it gracefully and print {closed}; on SIGUSR2 print {received}
//   hold HOST PORT COUNT [BYTES [REPLY]]  open COUNT connections and hold them; print {open}; on SIGUSR1
//                                send BYTES on each, and print {sent,received} (totals) once every byte is
//                                written and REPLY bytes have come back on each
//   hold-swap HOST PORT COUNT SWAP  like hold, printing {open,fds}; on SIGUSR1 close the first SWAP
//                                connections, then open SWAP new ones (the kernel hands out the
//                                lowest free fd numbers: the closed ones); print {swapped,closedFds,newFds}
//   churn HOST PORT COUNT BYTES [HOLD_MS]  COUNT times: connect, send BYTES, hold HOLD_MS, close; print {done}; stay alive
//   twin HOST PORT LOCAL_PORT    listen on HOST:PORT and connect to it from HOST:LOCAL_PORT (0: the kernel
//                                picks); print {port,localPort} once accepted; hold both ends. Run with the
//                                same ports in two namespaces, it makes the same 4-tuple live in both.
//                                With BYTES: on SIGUSR1 the connecting end sends BYTES to the accepted end;
//                                print {exchanged} once the accepted end has read them all
//   udp-sink HOST                bind a UDP socket on HOST:0, count datagrams; print {port}; on SIGUSR2 print {datagrams,bytes}
//   udp-send HOST PORT COUNT SIZE  send COUNT datagrams of SIZE bytes, paced; print {sent}; stay alive
//   send-paced HOST PORT BYTES BYTES_PER_SEC [DELAY_MS]  like send, but never ahead of BYTES_PER_SEC
//                                (for capture tools that drop packets at full rate), and only DELAY_MS
//                                after connecting; SIGUSR1 and SIGUSR2 as in send
import net from 'node:net';
import dgram from 'node:dgram';

const [mode, ...args] = process.argv.slice(2);
const say = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const family = (host) => (host.includes(':') ? 'udp6' : 'udp4');
const keepAlive = () => setInterval(() => {}, 1 << 30);

/** SIGUSR2: print {received} so far; SIGUSR1: close `s` gracefully, then print {closed}. Keeps the process alive. */
function answerSignals(s) {
  let received = 0;
  s.on('data', (d) => (received += d.length));
  process.on('SIGUSR2', () => say({ received }));
  process.on('SIGUSR1', () => {
    s.once('close', () => say({ closed: received }));
    s.end();
  });
  keepAlive();
}

function chunked(socket, total, done) {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let left = total;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      const more = socket.write(n === chunk.length ? chunk : chunk.subarray(0, n), left === 0 ? done : undefined);
      if (!more && left > 0) return void socket.once('drain', pump);
    }
  };
  if (total === 0) done();
  else pump();
}

if (mode === 'sink') {
  const [host, reply = '0', after = '0'] = args;
  let received = 0;
  const server = net.createServer((s) => {
    let got = 0;
    let replied = false;
    const answer = () => {
      if (replied || got < Number(after)) return;
      replied = true;
      chunked(s, Number(reply), () => {});
    };
    s.on('data', (d) => {
      received += d.length;
      got += d.length;
      answer();
    });
    s.on('error', () => {});
    answer();
  });
  server.listen(0, host, () => say({ port: server.address().port }));
  process.on('SIGUSR2', () => say({ received }));
} else if (mode === 'send') {
  const [host, port, bytes] = args;
  const s = net.connect(Number(port), host, () => chunked(s, Number(bytes), () => say({ sent: Number(bytes) })));
  answerSignals(s);
} else if (mode === 'hold') {
  const [host, port, count, bytes = '0', reply = '0'] = args;
  const sockets = [];
  const got = new Map();
  let open = 0;
  for (let i = 0; i < Number(count); i++) {
    const s = net.connect(Number(port), host, () => {
      if (++open === Number(count)) say({ open });
    });
    got.set(s, 0);
    s.on('data', (d) => got.set(s, got.get(s) + d.length));
    sockets.push(s);
  }
  process.on('SIGUSR1', async () => {
    await Promise.all(sockets.map((s) => new Promise((resolve) => chunked(s, Number(bytes), resolve))));
    const check = () => {
      const received = [...got.values()];
      if (received.some((n) => n < Number(reply))) return void setTimeout(check, 10);
      say({ sent: Number(bytes) * sockets.length, received: received.reduce((a, b) => a + b, 0) });
    };
    check();
  });
  keepAlive();
} else if (mode === 'hold-swap') {
  const [host, port, count, swap] = args;
  const fdOf = (s) => s._handle?.fd ?? -1;
  const connect = () => new Promise((resolve) => {
    const s = net.connect(Number(port), host, () => resolve(s));
    s.on('error', () => {});
  });
  const open = async (n) => {
    const opened = [];
    for (let i = 0; i < n; i++) opened.push(await connect()); // one at a time: predictable fd numbers
    return opened;
  };
  let sockets = await open(Number(count));
  say({ open: sockets.length, fds: sockets.map(fdOf) });
  process.on('SIGUSR1', async () => {
    const closing = sockets.slice(0, Number(swap));
    const closedFds = closing.map(fdOf);
    await Promise.all(closing.map((s) => new Promise((resolve) => s.destroy().once('close', resolve))));
    const fresh = await open(Number(swap));
    sockets = [...sockets.slice(Number(swap)), ...fresh];
    say({ swapped: fresh.length, closedFds, newFds: fresh.map(fdOf) });
  });
  keepAlive();
} else if (mode === 'churn') {
  const [host, port, count, bytes, delay = '0'] = args;
  let left = Number(count);
  const next = () => {
    if (left-- === 0) return say({ done: Number(count) });
    const s = net.connect(Number(port), host, () => chunked(s, Number(bytes), () => setTimeout(() => s.end(), Number(delay))));
    s.on('close', next);
    s.on('error', () => {});
  };
  next();
  keepAlive();
} else if (mode === 'twin') {
  const [host, port = '0', localPort = '0', bytes = '0'] = args;
  const accepted = [];
  let read = 0;
  const server = net.createServer((s) => {
    accepted.push(s);
    s.on('data', (d) => {
      read += d.length;
      if (read === Number(bytes)) say({ exchanged: read });
    });
  });
  server.listen(Number(port), host, () => {
    const s = net.connect({ port: server.address().port, host, localAddress: host, localPort: Number(localPort) });
    s.on('connect', () => {
      const check = () => (accepted.length > 0 ? say({ port: server.address().port, localPort: s.localPort }) : setTimeout(check, 10));
      check();
    });
    process.on('SIGUSR1', () => chunked(s, Number(bytes), () => {}));
    keepAlive();
  });
} else if (mode === 'udp-sink') {
  const [host] = args;
  let datagrams = 0;
  let bytes = 0;
  // A deep receive buffer (the test raises net.core.rmem_max) so a busy event loop drops nothing.
  const sock = dgram.createSocket({ type: family(host), recvBufferSize: 8 * 1024 * 1024 });
  sock.on('message', (m) => {
    datagrams++;
    bytes += m.length;
  });
  sock.bind(0, host, () => say({ port: sock.address().port }));
  process.on('SIGUSR2', () => say({ datagrams, bytes }));
} else if (mode === 'udp-send') {
  const [host, port, count, size] = args;
  const sock = dgram.createSocket(family(host));
  const payload = Buffer.alloc(Number(size), 0x62);
  let left = Number(count);
  // Paced in small bursts so the receiver's buffer never overflows: no datagram is dropped.
  const burst = () => {
    for (let i = 0; i < 20 && left > 0; i++, left--) sock.send(payload, Number(port), host);
    if (left > 0) setTimeout(burst, 2);
    else setTimeout(() => say({ sent: Number(count) }), 50);
  };
  burst();
  keepAlive();
} else if (mode === 'send-paced') {
  const [host, port, bytes, rate, delay = '0'] = args;
  const total = Number(bytes);
  const perMs = Number(rate) / 1000;
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const tickMs = Math.max(4, Math.floor(chunk.length / perMs));
  let written = 0;
  const s = net.connect(Number(port), host, () => setTimeout(() => {
    const began = Date.now();
    // Write what the rate allows so far, one 64 KiB chunk per tick at most rates: few, large
    // packets (TCP's GSO), so a capture tool sees ~BYTES_PER_SEC / 64 KiB packets a second. A full
    // socket buffer waits for 'drain'.
    const tick = () => {
      const due = Math.min(total, Math.floor((Date.now() - began) * perMs));
      while (written < due) {
        const n = Math.min(due - written, chunk.length);
        written += n;
        const last = written === total;
        const more = s.write(n === chunk.length ? chunk : chunk.subarray(0, n), last ? () => say({ sent: total }) : undefined);
        if (!more && !last) return void s.once('drain', tick);
      }
      if (written < total) setTimeout(tick, tickMs);
    };
    if (total === 0) say({ sent: 0 });
    else tick();
  }, Number(delay)));
  answerSignals(s);
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
