// SPDX-License-Identifier: GPL-2.0
/*
 * netproc.bpf.c: TCP and UDP payload bytes, packets and TCP retransmitted segments per process,
 * for netproc-loader (loader.c), variant "counters" (and "counters-udp-tp").
 *
 * Build:  clang -target bpf -mcpu=v3 -g -O2 -c netproc.bpf.c   (see build.sh; CO-RE, no bpftool)
 *
 * Why it is built this way:
 * - No program runs per TCP send/recv/packet. The kernel already counts, per TCP socket, what
 *   we need (tcp_sock: bytes_received, bytes_acked, snd_nxt/snd_una, segs_in, segs_out,
 *   total_retrans; the ones `ss -ti` shows). iter/task_file reads them for every socket every
 *   interval and charges the difference since the previous read to the process holding the
 *   descriptor; tp_btf/inet_sock_set_state charges the rest when a socket reaches TCP_CLOSE
 *   between two reads. Any per-call program costs ~4-5% of a small-write TCP stream.
 * - TCP rx = bytes_received, less 1 once the FIN was received: the FIN's sequence number goes
 *   through tcp_rcv_nxt_update like data. tcp_fin() sets SOCK_DONE right after, and only it
 *   does for TCP (tcp_disconnect clears it with the counters), so SOCK_DONE is the test.
 * - TCP tx = new payload handed to IP = bytes_acked + (snd_nxt - snd_una), less our SYN
 *   (bytes_acked counts it on a connect()ed socket only) and less our FIN once sent. NOT
 *   bytes_sent - bytes_retrans: bytes_sent is bumped before ip_queue_xmit, so a segment that a
 *   netfilter OUTPUT rule or a local qdisc refused is counted, then sent again as new data
 *   (measured: 5,318,720 for 5,000,000 with a 5% OUTPUT drop, bytes_retrans 0). snd_nxt only
 *   moves when a transmission succeeded.
 * - Per-socket state is a HASH keyed by the struct sock address, not SK_STORAGE: on this
 *   kernel (6.18) the socket that bpf_sock_from_file() returns is a plain BTF pointer and its
 *   ->sk is "untrusted", which bpf_sk_storage_get and every bpf_skc_to_* helper refuse
 *   ("R2 type=untrusted_ptr_ expected=ptr_, trusted_ptr_, rcu_ptr_"). Plain loads through it
 *   are fine, so the iterator reads the counters directly and finds the entry by address.
 *   Entries are created at SYN_SENT / SYN_RECV (born after load: from zero, like ss, so the
 *   handshake counts), at cgroup/sock_create for UDP, or at the first iterator visit
 *   (existed before load: current counters become the baseline, nothing charged); deleted at
 *   TCP_CLOSE (every TCP socket passes there before it is freed) and at inet_release for UDP,
 *   so an address is never reused while its entry lives. A leftover entry from a race is
 *   recognised by segs_in/segs_out going down and replaced.
 * - `last` holds what was already charged and only grows: every reader (iterator, close
 *   tracepoint, sock_release) raises it to the counters it read with cmpxchg and charges the
 *   difference, so two readers racing on one socket never count anything twice.
 * - Owner: the process that holds the descriptor (iterator), that called connect()
 *   (SYN_SENT runs in its context), or that closes it (FIN_WAIT1 / LAST_ACK are only entered
 *   by tcp_close/tcp_shutdown; cgroup/sock_release runs in inet_release). Never `current` on
 *   SYN_RECV or CLOSE: they run in softirq, in whatever task was interrupted (on loopback often
 *   the peer). An accepted child starts with owner 0 (unknown) until someone holds it.
 * - UDP has no per-socket counters in the kernel: cgroup_skb ingress/egress on the root
 *   cgroup v2 add payload bytes (skb->len minus IP and UDP headers) and datagrams (gso_segs for
 *   GSO/GRO skbs) to the socket's entry; datagrams the cgroup hook passed but the socket then
 *   dropped on a full receive buffer are taken back at tp_btf/udp_fail_queue_rcv_skb.
 *   The iterator charges them like TCP; cgroup/sock_release charges the rest to the closer.
 * - Closed-socket increments go to a hash keyed by (epoch, tgid, protocol), summed in place
 *   with atomic adds: bounded by the number of closing processes per interval, not by the
 *   number of closes (a ring buffer would need one record per close and could overflow under
 *   churn). The loader flips `epoch`, waits >= 1 ms for programs already running, then drains
 *   the old half.
 * - The iterator writes fixed 64-byte records with bpf_seq_write and only for non-zero deltas.
 *   A program run whose output overflows the seq_file buffer is re-run on the next read(),
 *   which would consume `last` twice: the loader reads with a 16 KiB buffer (< 32 KiB - 64),
 *   and bpf_seq_read stops before showing an object once it holds that much, so the 32 KiB
 *   seq buffer never overflows.
 * Not counted: MPTCP (protocol 262), SCTP, UDP-Lite, raw sockets; TCP traffic of a socket that
 *   existed before load and closed before the first iterator pass; UDP of kernel sockets.
 */
#include "vmlinux-min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "records.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define MSG_PEEK 0x2
#define MSG_ERRQUEUE 0x2000

#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7
#define TCP_LAST_ACK 9

/* Storage flags. */
#define F_BORN 1     /* created at SYN_SENT/SYN_RECV/sock_create: counted from zero */
#define F_BASELINE 2 /* first seen by the iterator: existed before load */
#define F_ACTIVE 4   /* connect()ed: bytes_acked counts our SYN */
#define F_FIN 8      /* our FIN is queued (went through FIN_WAIT1 or LAST_ACK) */

#define TCP_FIN_WAIT2 5
#define TCP_CLOSING 11

struct sk_val {
	__u32 owner; /* tgid, 0 = unknown */
	__u32 flags;
	char comm[16];
	__s64 last[NMETRICS]; /* already charged; only grows */
	__u64 udp[4];         /* UDP running counters: rx bytes, tx bytes, rx pkts, tx pkts */
};

/* Per-socket state, keyed by the struct sock address. Entries live while a TCP socket is out
 * of TCP_CLOSE, and from creation (or first iterator visit) to inet_release for UDP. */
#define SOCK_ENTRIES 262144
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SOCK_ENTRIES);
	__type(key, __u64);
	__type(value, struct sk_val);
} socks SEC(".maps");

/* Kept only for the --probe fact "SK_STORAGE usable from tracing programs". */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u32);
} sk_map SEC(".maps");

/* Closed-socket (and, in counters-udp-tp, UDP per-call) increments; two epochs. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ACC_ENTRIES);
	__type(key, struct acc_key);
	__type(value, struct acc_val);
} acc SEC(".maps");

/* Set by the loader before load: 1 = UDP counted by cgroup_skb into `socks` (variant
 * counters), 0 = UDP charged per call by the sock_*_length tracepoints (counters-udp-tp). */
const volatile __u32 udp_via_cgroup = 1;

/* Iterator output record: 64 bytes. */
struct rec {
	__u32 tgid;
	__u8 proto;
	__u8 kind;
	__u16 pad;
	__s64 d[NMETRICS];
	char comm[16];
};

static __always_inline void stat_add(__u32 idx, __u64 n)
{
	__u64 *p = bpf_map_lookup_elem(&stats, &idx);
	if (p)
		__sync_fetch_and_add(p, n);
}

static __always_inline __u64 sk_key(const void *sk)
{
	return (__u64)sk;
}

/* bpf_rdonly_cast (6.2+): turns a pointer into a read-only BTF pointer of another type whose
 * fields are then plain loads (~1 ns) instead of bpf_probe_read_kernel calls (~25 ns each):
 * the iterator reads 9 fields per socket. Weak: absent on older kernels, then probe reads. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

static __always_inline bool tcp_fin_received(const struct sock *sk)
{
	unsigned long flags;
	if (bpf_core_field_exists(sk->__sk_common.skc_flags))
		flags = sk->__sk_common.skc_flags;
	else
		flags = sk->sk_flags;
	return (flags >> bpf_core_enum_value(enum sock_flags, SOCK_DONE)) & 1;
}

/* Current cumulative TCP counters of a socket, in metric order. `flags` are the entry's.
 * tx: payload handed to IP at least once = bytes_acked + (snd_nxt - snd_una), less our SYN
 * (bytes_acked counts it on a connect()ed socket) and less our FIN once it was sent
 * (snd_nxt == write_seq with the FIN queued). snd_nxt only advances when a transmission of
 * new data succeeded; bytes_sent does not: it also counts segments a local qdisc or netfilter
 * OUTPUT rule refused, which TCP later sends again as new data (measured: +3.6% with a 5%
 * OUTPUT drop, bytes_retrans 0). */
static __always_inline void tcp_counters(const struct sock *sk, __u32 flags, __s64 cur[NMETRICS])
{
	bool fin = tcp_fin_received(sk);
	__u64 rx, acked, sent_una, sent_nxt, wseq, segs_in, segs_out, retrans;
	if (bpf_rdonly_cast) {
		const struct tcp_sock *tp = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct tcp_sock));
		rx = tp->bytes_received;
		acked = tp->bytes_acked;
		sent_una = tp->snd_una;
		sent_nxt = tp->snd_nxt;
		wseq = tp->write_seq;
		segs_in = tp->segs_in;
		segs_out = tp->segs_out;
		retrans = tp->total_retrans;
	} else {
		const struct tcp_sock *tp = (const void *)sk;
		rx = BPF_CORE_READ(tp, bytes_received);
		acked = BPF_CORE_READ(tp, bytes_acked);
		sent_una = BPF_CORE_READ(tp, snd_una);
		sent_nxt = BPF_CORE_READ(tp, snd_nxt);
		wseq = BPF_CORE_READ(tp, write_seq);
		segs_in = BPF_CORE_READ(tp, segs_in);
		segs_out = BPF_CORE_READ(tp, segs_out);
		retrans = BPF_CORE_READ(tp, total_retrans);
	}
	if (fin && rx > 0)
		rx -= 1;
	__u32 una = sent_una, nxt = sent_nxt;
	__s64 tx = acked + (__u32)(nxt - una);
	if ((flags & F_ACTIVE) && tx > 0)
		tx -= 1;
	if ((flags & F_FIN) && nxt == (__u32)wseq && tx > 0)
		tx -= 1;
	cur[M_RX_BYTES] = rx;
	cur[M_TX_BYTES] = tx;
	cur[M_RX_PKTS] = segs_in;
	cur[M_TX_PKTS] = segs_out;
	cur[M_RETRANS] = retrans;
}

static __always_inline void udp_counters(struct sk_val *v, __s64 cur[NMETRICS])
{
	cur[M_RX_BYTES] = v->udp[0];
	cur[M_TX_BYTES] = v->udp[1];
	cur[M_RX_PKTS] = v->udp[2];
	cur[M_TX_PKTS] = v->udp[3];
	cur[M_RETRANS] = 0;
}

/* Charge cur - last and raise last to cur, atomically (cmpxchg). `last` only grows: a reader
 * that read its counters before another reader charged more charges nothing, so the iterator
 * and the close tracepoint racing on one socket never count twice. On contention the rest is
 * left for the next reader. */
static __always_inline __s64 take(__s64 *last, __s64 cur)
{
#pragma unroll
	for (int i = 0; i < 3; i++) {
		__s64 old = *(volatile __s64 *)last;
		if (cur <= old)
			return 0;
		if (__sync_val_compare_and_swap(last, old, cur) == old)
			return cur - old;
	}
	return 0;
}

static __always_inline bool consume(struct sk_val *v, const __s64 cur[NMETRICS], __s64 d[NMETRICS])
{
	bool any = false;
#pragma unroll
	for (int i = 0; i < NMETRICS; i++) {
		d[i] = take(&v->last[i], cur[i]);
		if (d[i])
			any = true;
	}
	return any;
}

static __always_inline void leader_comm(struct task_struct *t, char comm[16])
{
	struct task_struct *leader = BPF_CORE_READ(t, group_leader);
	bpf_probe_read_kernel(comm, 16, &leader->comm);
}

static __always_inline void current_owner(struct sk_val *v)
{
	v->owner = bpf_get_current_pid_tgid() >> 32;
	leader_comm((struct task_struct *)bpf_get_current_task(), v->comm);
}

static __always_inline void acc_add(__u32 tgid, __u16 proto, const __s64 d[NMETRICS], const char *comm)
{
	__u32 zero = 0;
	__u32 *ep = bpf_map_lookup_elem(&ctl, &zero);
	struct acc_key k = { .tgid = tgid, .proto = proto, .epoch = ep ? (*ep & 1) : 0 };
	struct acc_val *a = bpf_map_lookup_elem(&acc, &k);
	if (!a) {
		struct acc_val init = {};
		__builtin_memcpy(init.comm, comm, 16);
		bpf_map_update_elem(&acc, &k, &init, BPF_NOEXIST);
		a = bpf_map_lookup_elem(&acc, &k);
		if (!a) {
			stat_add(S_ACC_OVERFLOW, 1);
			return;
		}
	}
#pragma unroll
	for (int i = 0; i < NMETRICS; i++)
		if (d[i])
			__sync_fetch_and_add(&a->d[i], d[i]);
}

static __always_inline bool is_inet(__u16 family)
{
	return family == AF_INET || family == AF_INET6;
}

static __always_inline struct sk_val *new_entry(__u64 key, const struct sk_val *init, __u64 flags)
{
	if (bpf_map_update_elem(&socks, &key, init, flags) && flags != BPF_NOEXIST) {
		stat_add(S_SOCK_OVERFLOW, 1);
		return NULL;
	}
	struct sk_val *v = bpf_map_lookup_elem(&socks, &key);
	if (!v)
		stat_add(S_SOCK_OVERFLOW, 1);
	return v;
}

/* ------------------------------------------------------------------ TCP state changes */

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tcp_state, const struct sock *sk, const int oldstate, const int newstate)
{
	if (sk->sk_protocol != IPPROTO_TCP || !is_inet(sk->__sk_common.skc_family))
		return 0;

	__u64 key = sk_key(sk);
	struct sk_val *v;
	if (newstate == TCP_SYN_SENT) {
		/* connect(): process context, the caller owns it. Count from zero. */
		struct sk_val init = { .flags = F_BORN | F_ACTIVE };
		v = new_entry(key, &init, BPF_ANY);
		if (v)
			current_owner(v);
		return 0;
	}
	if (newstate == TCP_SYN_RECV) {
		/* Accepted child, created in softirq: owner unknown. From SYN_SENT it is a
		 * simultaneous open of a connect()ed socket: keep its entry. */
		if (oldstate == TCP_SYN_SENT)
			return 0;
		struct sk_val init = { .flags = F_BORN };
		new_entry(key, &init, BPF_ANY);
		return 0;
	}
	if (newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK) {
		/* Only tcp_close()/tcp_shutdown() enter these: the closing process. */
		v = bpf_map_lookup_elem(&socks, &key);
		if (v) {
			__sync_fetch_and_or(&v->flags, F_FIN);
			current_owner(v);
		}
		return 0;
	}
	if (newstate == TCP_CLOSE) {
		v = bpf_map_lookup_elem(&socks, &key);
		if (!v)
			return 0; /* existed before load and never seen by the iterator */
		__s64 cur[NMETRICS], d[NMETRICS];
		tcp_counters(sk, v->flags, cur);
		stat_add(S_CLOSED, 1);
		if (consume(v, cur, d)) {
			if (!v->owner)
				stat_add(S_NOOWNER, 1);
			acc_add(v->owner, IPPROTO_TCP, d, v->comm);
		}
		bpf_map_delete_elem(&socks, &key);
	}
	return 0;
}

/* ------------------------------------------------------------------ iterator */

SEC("iter/task_file")
int dump_files(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;
	struct task_struct *task = ctx->task;
	if (!file || !task)
		return 0;
	struct socket *sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	struct sock *sk = sock->sk; /* untrusted on 6.x: plain loads only, no sk helpers */
	if (!sk)
		return 0;
	if (!is_inet(sk->__sk_common.skc_family))
		return 0;
	__u16 proto = sk->sk_protocol, type = sk->sk_type;
	bool tcp = proto == IPPROTO_TCP && type == SOCK_STREAM;
	bool udp = proto == IPPROTO_UDP && type == SOCK_DGRAM && udp_via_cgroup;
	if (!tcp && !udp)
		return 0;
	stat_add(S_SOCKETS, 1);

	__u64 key = sk_key(sk);
	__s64 cur[NMETRICS], d[NMETRICS];
	struct sk_val *v = bpf_map_lookup_elem(&socks, &key);
	if (tcp) {
		__u8 state = sk->__sk_common.skc_state;
		if (state == TCP_CLOSE)
			return 0; /* nothing more to count (until a new connect) */
		/* A socket met here first has its FIN queued if it is past ESTABLISHED on our side. */
		__u32 flags = v ? v->flags
				: F_BASELINE | ((state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2 ||
						 state == TCP_CLOSING || state == TCP_LAST_ACK) ? F_FIN : 0);
		tcp_counters(sk, flags, cur);
		if (v && (cur[M_RX_PKTS] < v->last[M_RX_PKTS] || cur[M_TX_PKTS] < v->last[M_TX_PKTS])) {
			/* segment counters never go down: a stale entry of a freed socket */
			stat_add(S_STALE, 1);
			bpf_map_delete_elem(&socks, &key);
			v = NULL;
		}
		if (!v) {
			/* Existed before load: baseline, charge nothing. */
			struct sk_val init = { .owner = task->tgid, .flags = flags };
			__builtin_memcpy(init.last, cur, sizeof(init.last));
			leader_comm(task, init.comm);
			new_entry(key, &init, BPF_NOEXIST);
			/* it may have reached TCP_CLOSE meanwhile: its tracepoint found no entry */
			if (sk->__sk_common.skc_state == TCP_CLOSE)
				bpf_map_delete_elem(&socks, &key);
			return 0;
		}
	} else {
		if (!v) {
			/* Existed before load (sock_create did not see it): start from zero. */
			struct sk_val init = { .owner = task->tgid, .flags = F_BASELINE };
			leader_comm(task, init.comm);
			new_entry(key, &init, BPF_NOEXIST);
			return 0;
		}
		udp_counters(v, cur);
	}

	if (!consume(v, cur, d)) {
		if (!v->owner) {
			v->owner = task->tgid;
			leader_comm(task, v->comm);
		}
		return 0;
	}
	struct rec r = {};
	r.tgid = task->tgid;
	r.proto = proto;
	__builtin_memcpy(r.d, d, sizeof(r.d));
	leader_comm(task, r.comm);
	v->owner = r.tgid;
	__builtin_memcpy(v->comm, r.comm, 16);
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}

/* ------------------------------------------------------------------ UDP, cgroup_skb */

/* Payload bytes of a UDP skb whose data starts at the IP header; -1 if not parseable. */
static __always_inline int udp_payload(struct __sk_buff *skb)
{
	__u8 b[2];
	if (bpf_skb_load_bytes(skb, 0, b, 1))
		return -1;
	__u32 off;
	__u8 ver = b[0] >> 4;
	if (ver == 4) {
		off = (b[0] & 0xf) * 4;
	} else if (ver == 6) {
		__u8 nh;
		if (bpf_skb_load_bytes(skb, 6, &nh, 1))
			return -1;
		off = 40;
#pragma unroll
		for (int i = 0; i < 4; i++) {
			if (nh == IPPROTO_UDP)
				break;
			if (nh == 0 || nh == 43 || nh == 60) { /* hop-by-hop, routing, dest opts */
				if (bpf_skb_load_bytes(skb, off & 0xffff, b, 2))
					return -1;
				nh = b[0];
				off += ((__u32)b[1] + 1) * 8;
			} else if (nh == 44) { /* fragment */
				if (bpf_skb_load_bytes(skb, off & 0xffff, b, 1))
					return -1;
				nh = b[0];
				off += 8;
			} else {
				return -1;
			}
		}
		if (nh != IPPROTO_UDP)
			return -1;
	} else {
		return -1;
	}
	off += 8;
	if (skb->len < off)
		return -1;
	return skb->len - off;
}

static __always_inline void udp_skb(struct __sk_buff *skb, int tx)
{
	struct bpf_sock *bsk = skb->sk;
	if (!bsk)
		return;
	bsk = bpf_sk_fullsock(bsk);
	if (!bsk)
		return;
	if (bsk->protocol != IPPROTO_UDP || bsk->type != SOCK_DGRAM)
		return;
	__u64 key = sk_key(bsk);
	struct sk_val *v = bpf_map_lookup_elem(&socks, &key);
	if (!v) {
		stat_add(S_UNTRACKED, 1); /* kernel socket, or not yet seen */
		return;
	}
	int len = udp_payload(skb);
	if (len < 0)
		return;
	__u32 segs = skb->gso_segs;
	if (!segs)
		segs = 1;
	__sync_fetch_and_add(&v->udp[tx], (__u64)len);
	__sync_fetch_and_add(&v->udp[2 + tx], (__u64)segs);
}

SEC("cgroup_skb/egress")
int udp_egress(struct __sk_buff *skb)
{
	udp_skb(skb, 1);
	return 1;
}

SEC("cgroup_skb/ingress")
int udp_ingress(struct __sk_buff *skb)
{
	udp_skb(skb, 0);
	return 1;
}

/* Datagrams the cgroup ingress hook counted but the socket dropped (receive buffer full).
 * skb->data is past the UDP header here. */
SEC("tp_btf/udp_fail_queue_rcv_skb")
int BPF_PROG(udp_drop, int rc, struct sock *sk, struct sk_buff *skb)
{
	if (!sk || !skb)
		return 0;
	__u64 key = sk_key(sk);
	struct sk_val *v = bpf_map_lookup_elem(&socks, &key);
	if (!v)
		return 0;
	__u32 len = skb->len; /* payload: udp_csum_pull_header() already pulled the UDP header */
	__u64 segs = 1;
	struct skb_shared_info *sh = (void *)(skb->head + skb->end);
	__u16 gso_size = BPF_CORE_READ(sh, gso_size);
	if (gso_size)
		segs = BPF_CORE_READ(sh, gso_segs) ?: 1;
	__sync_fetch_and_add(&v->udp[0], -(__s64)len);
	__sync_fetch_and_add(&v->udp[2], -(__s64)segs);
	stat_add(S_UDP_DROPS, segs);
	return 0;
}

SEC("cgroup/sock_create")
int udp_create(struct bpf_sock *sk)
{
	if (sk->protocol != IPPROTO_UDP || sk->type != SOCK_DGRAM)
		return 1;
	struct sk_val init = { .flags = F_BORN };
	struct sk_val *v = new_entry(sk_key(sk), &init, BPF_ANY);
	if (v)
		current_owner(v);
	return 1;
}

SEC("cgroup/sock_release")
int sock_release(struct bpf_sock *sk)
{
	__u32 proto = sk->protocol;
	__u64 key = sk_key(sk);
	struct sk_val *v = bpf_map_lookup_elem(&socks, &key);
	if (!v)
		return 1;
	if (proto == IPPROTO_TCP) {
		/* inet_release runs in the closer before tcp_close: it owns what is left. */
		current_owner(v);
		return 1;
	}
	if (proto != IPPROTO_UDP || sk->type != SOCK_DGRAM)
		return 1;
	__s64 cur[NMETRICS], d[NMETRICS];
	current_owner(v);
	udp_counters(v, cur);
	stat_add(S_CLOSED, 1);
	if (consume(v, cur, d))
		acc_add(v->owner, IPPROTO_UDP, d, v->comm);
	bpf_map_delete_elem(&socks, &key);
	return 1;
}

/* ------------------------------------------------------------------ variant counters-udp-tp */
/* UDP per call, charged directly to the calling process: for hosts without cgroup v2 or
 * CAP_NET_ADMIN. Costs a program run per TCP send/recv too (filtered early). */

static __always_inline void udp_call(struct sock *sk, int ret, int flags, int tx)
{
	if (ret < 0 || sk->sk_protocol != IPPROTO_UDP || sk->sk_type != SOCK_DGRAM) /* 0: empty datagram */
		return;
	if (!tx && (flags & (MSG_PEEK | MSG_ERRQUEUE)))
		return;
	__s64 d[NMETRICS] = {};
	__s64 pkts = 1;
	if (tx) {
		/* UDP_SEGMENT set on the socket: the kernel splits the write into gso_size
		 * datagrams (a per-call UDP_SEGMENT cmsg is not visible here). */
		__u16 gso = BPF_CORE_READ((struct udp_sock *)sk, gso_size);
		if (gso && ret > gso)
			pkts = ((__u32)ret + gso - 1) / (__u32)gso;
	}
	d[tx ? M_TX_BYTES : M_RX_BYTES] = ret;
	d[tx ? M_TX_PKTS : M_RX_PKTS] = pkts;
	char comm[16];
	leader_comm(bpf_get_current_task_btf(), comm);
	acc_add(bpf_get_current_pid_tgid() >> 32, IPPROTO_UDP, d, comm);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(udp_send_tp, struct sock *sk, int ret, int flags)
{
	udp_call(sk, ret, flags, 1);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(udp_recv_tp, struct sock *sk, int ret, int flags)
{
	udp_call(sk, ret, flags, 0);
	return 0;
}

/* ------------------------------------------------------------------ --probe programs */
/* Tiny programs the loader loads one at a time to report what this kernel allows. */

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(probe_tp_state, const struct sock *sk, const int oldstate, const int newstate)
{
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(probe_tp_send, struct sock *sk, int ret, int flags)
{
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(probe_sk_storage, const struct sock *sk, const int oldstate, const int newstate)
{
	__u32 *v = bpf_sk_storage_get(&sk_map, (void *)sk, 0, 0);
	return v ? 1 : 0;
}

SEC("iter/task_file")
int probe_iter(struct bpf_iter__task_file *ctx)
{
	return 0;
}

SEC("iter/task_file")
int probe_sock_from_file(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;
	if (file && bpf_sock_from_file(file))
		return 0;
	return 0;
}

SEC("cgroup_skb/egress")
int probe_cgroup_skb(struct __sk_buff *skb)
{
	return 1;
}

SEC("kprobe/tcp_sendmsg")
int probe_kprobe(struct pt_regs *ctx)
{
	return 0;
}

SEC("fentry/tcp_sendmsg")
int BPF_PROG(probe_fentry)
{
	return 0;
}
