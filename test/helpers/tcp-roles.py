#!/usr/bin/env python3
"""TCP traffic roles with known PIDs for the ebpf integration tests, driven by argv; each prints
JSON lines on stdout. Python because only it, of what the tests have, reads TCP_INFO.

  server FAMILY HOST PORT REPLY     listen on HOST:PORT (0: any), print {port}; accept one connection,
                                    read to EOF, send REPLY bytes, shut down, print {result}
  client FAMILY HOST PORT BYTES [SRC_PORT] [hold]
                                    connect (from SRC_PORT if not 0), send BYTES; with `hold`, print
                                    {held} and wait for SIGUSR1 first; shut down, read to EOF, print {result}
  prefork PORT WORKERS PER_WORKER   a master listens on 127.0.0.1:PORT and forks WORKERS workers that
                                    each accept PER_WORKER connections, read to EOF and answer;
                                    print {port}, then {master, workers: [{pid, rxBytes, txBytes}]}
  prefork-client PORT COUNT         COUNT connections in turn: send 5000+101*i bytes, shut down, read
                                    the answer, close; print {result}

{result} of server and client: pid, the payload bytes written and read, `ss` (segs_in, segs_out
and total retransmissions of the socket as `ss -tin` printed them before the shutdown), and
`kernel` (the same counters from TCP_INFO, the struct ss reads, once the socket reached
TCP_CLOSE with its descriptor still held: the final values; ss no longer lists a closed socket).
"""
import ctypes, json, os, re, signal, socket, struct, subprocess, sys, time

PR_SET_PDEATHSIG = 1

# struct tcp_info offsets (include/uapi/linux/tcp.h)
TCP_INFO = {'state': (0, 'B'), 'total_retrans': (100, 'I'), 'bytes_acked': (120, 'Q'), 'segs_out': (136, 'I'), 'segs_in': (140, 'I')}


def say(**kw):
    print(json.dumps(kw), flush=True)


def tcp_info(s):
    raw = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
    return {k: struct.unpack_from('<' + f, raw, o)[0] for k, (o, f) in TCP_INFO.items()}


def final_counters(s, timeout=60):
    """segs_in, segs_out, total_retrans once the socket is in TCP_CLOSE (7): both FINs exchanged."""
    end = time.time() + timeout
    while time.time() < end:
        info = tcp_info(s)
        if info['state'] == 7:
            return {'segsIn': info['segs_in'], 'segsOut': info['segs_out'], 'retrans': info['total_retrans']}
        time.sleep(0.01)
    raise SystemExit('socket did not reach TCP_CLOSE: %r' % tcp_info(s))


def ss_counters(s):
    """The socket's counters as `ss -tin` prints them (segs_in:N segs_out:N retrans:CUR/TOTAL)."""
    local, peer = s.getsockname(), s.getpeername()
    text = subprocess.run(['ss', '-tinH', 'state', 'all', '( sport = :%d and dport = :%d )' % (local[1], peer[1])],
                          check=True, capture_output=True, text=True).stdout
    fields = dict(re.findall(r'\b(segs_in|segs_out):(\d+)', text))
    retrans = re.search(r'\bretrans:\d+/(\d+)', text)
    if 'segs_in' not in fields:
        raise SystemExit('ss does not list the socket: %r' % text)
    return {'segsIn': int(fields['segs_in']), 'segsOut': int(fields['segs_out']), 'retrans': int(retrans.group(1)) if retrans else 0}


def recv_all(s):
    got = 0
    while True:
        b = s.recv(1 << 16)
        if not b:
            return got
        got += len(b)


def send_n(s, n):
    chunk = b'x' * 65536
    while n:
        n -= s.send(chunk[:min(n, len(chunk))])


def family(f):
    return socket.AF_INET6 if f == '6' else socket.AF_INET


def server(fam, host, port, reply):
    ls = socket.socket(family(fam))
    ls.bind((host, int(port)))
    ls.listen(8)
    say(port=ls.getsockname()[1])
    c, _ = ls.accept()
    ls.close()
    rx = recv_all(c)
    send_n(c, int(reply))
    ss = ss_counters(c)
    c.shutdown(socket.SHUT_WR)
    say(result={'pid': os.getpid(), 'rxBytes': rx, 'txBytes': int(reply), 'ss': ss, 'kernel': final_counters(c)})
    c.close()


def client(fam, host, port, nbytes, src_port='0', hold=''):
    s = socket.socket(family(fam))
    if src_port != '0':
        s.bind((host, int(src_port)))
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
    s.connect((host, int(port)))
    send_n(s, int(nbytes))
    while tcp_info(s)['bytes_acked'] < int(nbytes) + 1:    # every byte acknowledged (+1: the SYN)
        time.sleep(0.01)
    if hold:
        say(held=os.getpid())
        signal.sigwait([signal.SIGUSR1])
    ss = ss_counters(s)
    s.shutdown(socket.SHUT_WR)
    rx = recv_all(s)
    say(result={'pid': os.getpid(), 'rxBytes': rx, 'txBytes': int(nbytes), 'ss': ss, 'kernel': final_counters(s)})
    s.close()


def prefork(port, workers, per_worker):
    ls = socket.socket()
    ls.bind(('127.0.0.1', int(port)))
    ls.listen(512)
    r, w = os.pipe()
    kids = []
    for _ in range(int(workers)):
        pid = os.fork()
        if pid == 0:
            os.close(r)
            rx = tx = 0
            for _ in range(int(per_worker)):
                c, _ = ls.accept()
                got = recv_all(c)
                reply = 1000 + got % 997
                send_n(c, reply)
                rx, tx = rx + got, tx + reply
                c.close()
            os.write(w, (json.dumps({'pid': os.getpid(), 'rxBytes': rx, 'txBytes': tx}) + '\n').encode())
            os.close(w)
            # Stay alive (an exited worker's series is dropped after a few cycles), but die with the master.
            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            signal.pause()
            os._exit(0)
        kids.append(pid)
    os.close(w)
    say(port=ls.getsockname()[1])
    out = b''
    while out.count(b'\n') < len(kids):
        out += os.read(r, 65536)
    ls.close()
    say(master=os.getpid(), workers=[json.loads(l) for l in out.decode().splitlines()])
    signal.pause()          # stay alive, so the master is still a live process when the agent looks


def prefork_client(port, count):
    tx = rx = 0
    for i in range(int(count)):
        s = socket.create_connection(('127.0.0.1', int(port)))
        n = 5000 + 101 * i
        send_n(s, n)
        tx += n
        s.shutdown(socket.SHUT_WR)
        rx += recv_all(s)
        s.close()
    say(result={'pid': os.getpid(), 'rxBytes': rx, 'txBytes': tx})


ROLES = {'server': server, 'client': client, 'prefork': prefork, 'prefork-client': prefork_client}

if __name__ == '__main__':
    ROLES[sys.argv[1]](*sys.argv[2:])
    if sys.argv[1] != 'prefork':
        signal.pause()      # stay alive until killed: a live process keeps its series
