// SPDX-License-Identifier: GPL-2.0
/*
 * percall.bpf.c: TCP and UDP payload bytes per process, counted on every send and receive
 * call by kprobes, for netproc-loader (loader.c), variant "percall-kprobe": the fallback for
 * kernels without BTF (/sys/kernel/btf/vmlinux) or without the task_file iterator (< 5.8).
 *
 * Build:  clang -target bpf -mcpu=v1 -g -O2 -D__TARGET_ARCH_x86 -c percall.bpf.c  (see build.sh)
 *
 * Why it is built this way:
 * - No CO-RE: every program reads only its function's arguments and return value through the
 *   PT_REGS macros (struct pt_regs from the uapi <asm/ptrace.h>, whose layout is the kernel's),
 *   never a kernel struct field. The object has no CO-RE relocations, so libbpf never needs
 *   the kernel's BTF to load it. -g only gives the object's own BTF for the .maps section.
 *   -mcpu=v1 and no global data, no atomics: it loads on 4.x kernels too.
 * - Attribution: every hook below runs in the context of the task that makes the send or
 *   receive call (the syscall, or an io_uring worker thread of the same process), so the tgid
 *   of bpf_get_current_pid_tgid() is the process that sends or receives: a pre-fork worker
 *   gets its own bytes. comm is the calling thread's (bpf_get_current_comm), not the leader's.
 * - The functions, and why these:
 *   - TCP tx: kretprobe on tcp_sendmsg, its return value (bytes accepted into the send queue;
 *     an error or EAGAIN returns < 0). Its size argument would count non-blocking writes that
 *     returned EAGAIN or were partial. Reached through sk_prot->sendmsg from af_inet.c, another
 *     compilation unit, so never inlined. IPv6 uses the same function. Kernels before 6.5 send
 *     sendfile()/splice() through tcp_sendpage instead: an optional kretprobe there (absent
 *     since 6.5, where they go through tcp_sendmsg with MSG_SPLICE_PAGES).
 *   - TCP rx: kprobe on tcp_cleanup_rbuf(sk, copied), which every reader calls after copying
 *     (recvmsg, splice through tcp_read_sock, zerocopy receive): no kretprobe, so no missed
 *     returns while many threads block in recv (a kretprobe has at most max(10, 2 * CPUs)
 *     instances in flight). But tcp_recvmsg calls it also before sleeping for more data
 *     (MSG_WAITALL, SO_RCVLOWAT) with the bytes copied so far, and for MSG_PEEK: a kprobe on
 *     tcp_recvmsg remembers per thread the socket and whether it peeks, and tcp_cleanup_rbuf
 *     charges only what grew since the previous call of the same recvmsg (bcc issue 5352).
 *     tcp_recvmsg's flags argument is its 4th since 5.19 and its 5th before (the nonblock
 *     argument was removed): two entry programs; the loader loads the one that fits.
 *   - UDP tx: kretprobe on udp_sendmsg and udpv6_sendmsg, the return value (the length sent,
 *     or an error). udpv6_sendmsg hands v4-mapped destinations to udp_sendmsg: a kprobe on
 *     udpv6_sendmsg marks the thread, and udp_sendmsg's return then leaves the count to it.
 *   - UDP rx: kprobe on skb_consume_udp(sk, skb, len), called by udp_recvmsg and
 *     udpv6_recvmsg once a datagram was copied, with len = the bytes returned, negated when
 *     peeking; MSG_ERRQUEUE reads never reach it. One argument instead of an entry/return pair
 *     and a flags argument whose position changed in 5.19.
 * - Sums go to a per-CPU hash keyed by (tgid, protocol, epoch), the same key and value as
 *   netproc.bpf.c's `acc`, so the loader drains both the same way and prints the same
 *   records: it flips the epoch in `ctl`, waits >= 1 ms, sums the old epoch over the CPUs.
 * Not measured: TCP segments and retransmissions (the loader prints no packets for TCP);
 *   UDP datagrams are successful calls (a UDP_SEGMENT send counts as one). Costs a program
 *   run on every TCP and UDP send and receive (~4-5% of a small-write loopback stream).
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <asm/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "records.h"

char LICENSE[] SEC("license") = "GPL";

#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define MSG_PEEK 0x2

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, ACC_ENTRIES);
	__type(key, struct acc_key);
	__type(value, struct acc_val);
} acc SEC(".maps");

/* The tcp_recvmsg call a thread is in: its socket, what was charged so far, whether it peeks.
 * LRU: an entry is left behind by every call (nothing runs at its return). */
struct recv_call {
	__u64 sk;
	__s64 charged;
	__u32 peek;
	__u32 pad;
};

#define THREAD_ENTRIES 16384
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, THREAD_ENTRIES);
	__type(key, __u64);
	__type(value, struct recv_call);
} recv_calls SEC(".maps");

/* Threads inside udpv6_sendmsg, whose nested udp_sendmsg (v4-mapped) must not count. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, THREAD_ENTRIES);
	__type(key, __u64);
	__type(value, __u32);
} v6_sends SEC(".maps");

static __always_inline void stat_add(__u32 idx, __u64 n)
{
	__u64 *p = bpf_map_lookup_elem(&stats, &idx);
	if (p)
		__sync_fetch_and_add(p, n);
}

/* Adds bytes (and a datagram for UDP) to the calling process's per-CPU sums. */
static __always_inline void charge(__u16 proto, int metric, __s64 bytes)
{
	__u32 zero = 0;
	__u32 *ep = bpf_map_lookup_elem(&ctl, &zero);
	struct acc_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .proto = proto, .epoch = ep ? (*ep & 1) : 0 };
	struct acc_val *a = bpf_map_lookup_elem(&acc, &k);
	if (!a) {
		struct acc_val init = {};
		bpf_get_current_comm(init.comm, sizeof(init.comm));
		bpf_map_update_elem(&acc, &k, &init, BPF_NOEXIST);
		a = bpf_map_lookup_elem(&acc, &k);
		if (!a) {
			stat_add(S_ACC_OVERFLOW, 1);
			return;
		}
	}
	/* Per-CPU value and kprobe programs do not nest on one CPU: plain adds. */
	a->d[metric] += bytes;
	if (proto == IPPROTO_UDP)
		a->d[metric + 2] += 1; /* M_RX_BYTES -> M_RX_PKTS, M_TX_BYTES -> M_TX_PKTS */
}

/* ------------------------------------------------------------------ TCP */

SEC("kretprobe/tcp_sendmsg")
int BPF_KRETPROBE(tcp_send_ret, int ret)
{
	if (ret > 0)
		charge(IPPROTO_TCP, M_TX_BYTES, ret);
	return 0;
}

/* Kernels before 6.5: sendfile()/splice() to a TCP socket. Optional. */
SEC("kretprobe/tcp_sendpage")
int BPF_KRETPROBE(tcp_sendpage_ret, int ret)
{
	if (ret > 0)
		charge(IPPROTO_TCP, M_TX_BYTES, ret);
	return 0;
}

static __always_inline void recv_enter(void *sk, int flags)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct recv_call c = { .sk = (__u64)sk, .peek = (flags & MSG_PEEK) != 0 };
	bpf_map_update_elem(&recv_calls, &tid, &c, BPF_ANY);
}

/* 5.19+: tcp_recvmsg(sk, msg, len, flags, addr_len). */
SEC("kprobe/tcp_recvmsg")
int BPF_KPROBE(tcp_recv_enter, void *sk, void *msg, unsigned long len, int flags)
{
	recv_enter(sk, flags);
	return 0;
}

/* Before 5.19: tcp_recvmsg(sk, msg, len, nonblock, flags, addr_len). */
SEC("kprobe/tcp_recvmsg")
int BPF_KPROBE(tcp_recv_enter_old, void *sk, void *msg, unsigned long len, int nonblock, int flags)
{
	recv_enter(sk, flags);
	return 0;
}

SEC("kprobe/tcp_cleanup_rbuf")
int BPF_KPROBE(tcp_rbuf, void *sk, int copied)
{
	if (copied <= 0)
		return 0;
	__u64 tid = bpf_get_current_pid_tgid();
	struct recv_call *c = bpf_map_lookup_elem(&recv_calls, &tid);
	__s64 d = copied;
	if (c && c->sk == (__u64)sk) {
		if (c->peek)
			return 0;
		/* The same recvmsg again (it slept for more data): only what grew. A smaller
		 * count is a new reader on the socket (splice after recv): all of it. */
		if (copied >= c->charged)
			d = copied - c->charged;
		c->charged = copied;
	}
	if (d > 0)
		charge(IPPROTO_TCP, M_RX_BYTES, d);
	return 0;
}

/* ------------------------------------------------------------------ UDP */

SEC("kprobe/udpv6_sendmsg")
int BPF_KPROBE(udp6_send_enter)
{
	__u64 tid = bpf_get_current_pid_tgid();
	__u32 one = 1;
	bpf_map_update_elem(&v6_sends, &tid, &one, BPF_ANY);
	return 0;
}

SEC("kretprobe/udpv6_sendmsg")
int BPF_KRETPROBE(udp6_send_ret, int ret)
{
	__u64 tid = bpf_get_current_pid_tgid();
	bpf_map_delete_elem(&v6_sends, &tid);
	if (ret >= 0) /* 0: an empty datagram */
		charge(IPPROTO_UDP, M_TX_BYTES, ret);
	return 0;
}

SEC("kretprobe/udp_sendmsg")
int BPF_KRETPROBE(udp_send_ret, int ret)
{
	__u64 tid = bpf_get_current_pid_tgid();
	if (bpf_map_lookup_elem(&v6_sends, &tid)) {
		/* Called by udpv6_sendmsg for a v4-mapped address: its return counts. */
		bpf_map_delete_elem(&v6_sends, &tid);
		return 0;
	}
	if (ret >= 0)
		charge(IPPROTO_UDP, M_TX_BYTES, ret);
	return 0;
}

SEC("kprobe/skb_consume_udp")
int BPF_KPROBE(udp_consume, void *sk, void *skb, int len)
{
	if (len >= 0) /* < 0: MSG_PEEK */
		charge(IPPROTO_UDP, M_RX_BYTES, len);
	return 0;
}

/* ------------------------------------------------------------------ --probe */

/* Loaded and attached by --probe: whether kprobes can be attached at all. */
SEC("kprobe/tcp_sendmsg")
int probe_kprobe(struct pt_regs *ctx)
{
	return 0;
}
