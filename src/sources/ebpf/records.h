/* What both BPF objects (netproc.bpf.c and percall.bpf.c) hand the loader, which drains them the
 * same way: the metric order, the stats[] indexes, the per-process increment's key and value, and
 * the stats and ctl maps. Each object declares its own `acc` map of these (a hash in netproc, a
 * per-CPU hash in percall). Include after the types and <bpf/bpf_helpers.h>. */
#ifndef NETPROC_RECORDS_H
#define NETPROC_RECORDS_H

/* Metrics, in this order everywhere (records, map values, storage). */
#define M_RX_BYTES 0
#define M_TX_BYTES 1
#define M_RX_PKTS 2
#define M_TX_PKTS 3
#define M_RETRANS 4
#define NMETRICS 5

/* stats[] indexes, read by the loader. */
#define S_SOCKETS 0       /* sockets visited by the iterator (cumulative) */
#define S_CLOSED 1        /* sockets charged at close (cumulative) */
#define S_ACC_OVERFLOW 2  /* increment hash full: increment lost */
#define S_UDP_DROPS 4     /* UDP datagrams taken back (receive buffer full) */
#define S_NOOWNER 5       /* sockets closed with no known owner (charged to tgid 0) */
#define S_SOCK_OVERFLOW 6 /* socks hash full: socket not tracked */
#define S_STALE 7         /* stale entry of a freed socket replaced */
#define S_UNTRACKED 8     /* UDP skbs of sockets without an entry (kernel sockets) */
#define S_MAX 16

struct acc_key {
	__u32 tgid;
	__u16 proto;
	__u16 epoch;
};

struct acc_val {
	__s64 d[NMETRICS];
	char comm[16];
};

#define ACC_ENTRIES 16384

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, S_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* ctl[0] = current epoch (0/1), written by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} ctl SEC(".maps");

#endif
