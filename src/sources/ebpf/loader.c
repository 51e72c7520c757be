// SPDX-License-Identifier: GPL-2.0
/*
 * loader.c: netproc-loader, loads netproc.bpf.o or percall.bpf.o (both embedded in this binary)
 * and streams per-process network counters to the Node agent on stdout, one JSON object per line.
 *
 * Run:   netproc-loader --interval-ms N [--variant counters|counters-udp-tp|percall-kprobe] [--cgroup PATH]
 *        netproc-loader --probe
 *        netproc-loader --verify [--variant V]   load (verify) V's programs, attach nothing:
 *          {"type":"verify","variant":"percall-kprobe","ok":true,"programs":[{"name":"tcp_rbuf","ok":true},...]}
 * Build: build.sh OUTDIR (clang -target bpf for the BPF object, then cc ... -lbpf -lelf -lz)
 *
 * Output (stdout, one JSON object per line, flushed after each interval):
 *   {"type":"ready","variant":"counters","attachMs":123}                        once
 *   {"type":"proc","pid":1234,"transport":"tcp","rxBytes":1,"txBytes":2,"rxPackets":3,
 *    "txPackets":4,"retransSegs":0,"comm":"curl"}             per (pid, transport) with traffic
 *   (percall-kprobe: no retransSegs, and no rxPackets/txPackets for TCP: it does not see segments)
 *   {"type":"interval","seq":7,"sockets":10234,"closed":12,"overflow":0,"iterNs":410000}
 * pid 0 is "owner unknown": an accepted socket that was closed before any process held it.
 * Errors and warnings go to stderr, one line each, starting with "error: " or "warning: ".
 *
 * Why it is built this way:
 * - The BPF object is linked into the executable with .incbin and opened with
 *   bpf_object__open_mem: one file to ship, no bpftool skeleton step, CO-RE relocated by
 *   libbpf against /sys/kernel/btf/vmlinux at start.
 * - Every attachment is a BPF link (cgroup ones too, via BPF_LINK_CREATE, which composes with
 *   other programs like BPF_F_ALLOW_MULTI). Links die with the process, so a killed loader
 *   leaves nothing attached; plain bpf_prog_attach on a cgroup would outlive it.
 * - percall-kprobe (percall.bpf.c) is a separate object without CO-RE relocations, so that a
 *   kernel without BTF never fails on the CO-RE one; it has no iterator, and its per-call sums
 *   go to a per-CPU `acc` drained like netproc.bpf.c's, through the same printer.
 * - After attaching, the object is closed (links and dup'ed map fds stay) and malloc_trim
 *   returns the parsed vmlinux BTF to the OS: RSS stays a few MB.
 * - One interval: flip the epoch of the closed-socket hash, run the task_file iterator (its
 *   records are deltas already consumed in the kernel, so every record must be summed
 *   exactly once), wait >= 1 ms so no program still writes the old epoch, then drain the old
 *   epoch and print. Sums are signed; the kernel side never charges a negative delta (its
 *   `last` only grows), but a negative remainder would be carried to the next interval
 *   rather than printed.
 * - The iterator is read with a 16 KiB buffer: a bpf_iter program whose output overflows the
 *   kernel's 32 KiB seq buffer is run again for the same socket, which would consume its
 *   delta twice; bpf_seq_read stops before showing another object once it holds the user's
 *   read size, so with 16 KiB reads and 64-byte records it never overflows.
 * - No orphan: PR_SET_PDEATHSIG(SIGKILL), exit when getppid() changes, on EOF of stdin, on
 *   SIGTERM/SIGINT, and when stdout is gone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#ifndef NETPROC_BPF_OBJ
#error "define NETPROC_BPF_OBJ to the path of netproc.bpf.o"
#endif

__asm__(".section .rodata.netproc_bpf,\"a\",@progbits\n"
	".balign 16\n"
	".global netproc_bpf_start\n"
	"netproc_bpf_start:\n"
	".incbin \"" NETPROC_BPF_OBJ "\"\n"
	".global netproc_bpf_end\n"
	"netproc_bpf_end:\n"
	".previous\n");
extern const char netproc_bpf_start[], netproc_bpf_end[];

#ifndef NETPROC_PERCALL_OBJ
#error "define NETPROC_PERCALL_OBJ to the path of percall.bpf.o"
#endif
__asm__(".section .rodata.netproc_percall,\"a\",@progbits\n"
	".balign 16\n"
	".global netproc_percall_start\n"
	"netproc_percall_start:\n"
	".incbin \"" NETPROC_PERCALL_OBJ "\"\n"
	".global netproc_percall_end\n"
	"netproc_percall_end:\n"
	".previous\n");
extern const char netproc_percall_start[], netproc_percall_end[];

/* Must match netproc.bpf.c. */
#define NMETRICS 5
#define S_SOCKETS 0
#define S_CLOSED 1
#define S_ACC_OVERFLOW 2
#define S_UDP_DROPS 4
#define S_NOOWNER 5
#define S_SOCK_OVERFLOW 6
#define S_STALE 7
#define S_UNTRACKED 8
#define S_MAX 16
#define ACC_ENTRIES 16384

struct rec {
	uint32_t tgid;
	uint8_t proto;
	uint8_t kind;
	uint16_t pad;
	int64_t d[NMETRICS];
	char comm[16];
};
_Static_assert(sizeof(struct rec) == 64, "record size");

struct acc_key {
	uint32_t tgid;
	uint16_t proto;
	uint16_t epoch;
};

struct acc_val {
	int64_t d[NMETRICS];
	char comm[16];
};

/* ------------------------------------------------------------------ messages */

static bool quiet_libbpf;
static int libbpf_lines;
#define LIBBPF_MAX_LINES 200

static void warnf(const char *kind, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	fprintf(stderr, "%s: %s\n", kind, buf);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	static int debug = -1;
	if (debug < 0)
		debug = getenv("NETPROC_DEBUG") != NULL;
	if (debug) /* raw, unbounded: for development only */
		return vfprintf(stderr, fmt, ap);
	if (quiet_libbpf || level == LIBBPF_DEBUG)
		return 0;
	if (libbpf_lines >= LIBBPF_MAX_LINES)
		return 0;
	char raw[400];
	vsnprintf(raw, sizeof(raw), fmt, ap);
	char *buf = raw;
	if (!strncmp(buf, "libbpf: ", 8))
		buf += 8;
	size_t n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	if (!n)
		return 0;
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (++libbpf_lines == LIBBPF_MAX_LINES)
		fprintf(stderr, "warning: libbpf: further messages suppressed\n");
	else
		fprintf(stderr, "warning: libbpf: %s\n", buf);
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* ------------------------------------------------------------------ cgroup v2 */

static bool find_cgroup2(char *out, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	char line[4096];
	bool found = false;
	while (fgets(line, sizeof(line), f)) {
		/* id parent maj:min root mountpoint opts ... - fstype source superopts */
		char *sep = strstr(line, " - ");
		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		char *p = line;
		for (int i = 0; i < 4 && p; i++) {
			p = strchr(p, ' ');
			if (p)
				p++;
		}
		if (!p)
			continue;
		char *e = strchr(p, ' ');
		if (!e)
			continue;
		*e = 0;
		/* mountinfo escapes space, tab, newline, backslash as \ooo */
		size_t o = 0;
		for (char *q = p; *q && o + 1 < len; q++) {
			if (q[0] == '\\' && q[1] >= '0' && q[1] <= '7' && q[2] && q[3]) {
				out[o++] = (char)((q[1] - '0') * 64 + (q[2] - '0') * 8 + (q[3] - '0'));
				q += 3;
			} else {
				out[o++] = *q;
			}
		}
		out[o] = 0;
		found = true;
		break;
	}
	fclose(f);
	return found;
}

/* ------------------------------------------------------------------ object */

/* The CO-RE object (counters, counters-udp-tp) or the kprobe one (percall-kprobe). */
static struct bpf_object *open_obj(bool percall)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = percall ? "netproc_percall" : "netproc");
	struct bpf_object *obj =
		percall ? bpf_object__open_mem(netproc_percall_start, netproc_percall_end - netproc_percall_start, &opts)
			: bpf_object__open_mem(netproc_bpf_start, netproc_bpf_end - netproc_bpf_start, &opts);
	if (!obj) {
		warnf("error", "open embedded BPF object: %s", strerror(errno));
		return NULL;
	}
	return obj;
}

static bool name_in(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(name, *list))
			return true;
	return false;
}

/* Whether the tracepoint's BTF prototype has `nargs` arguments (not counting the void *). */
static bool tp_has_args(const char *tp, int nargs)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux)
		return false;
	char name[128];
	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	bool ok = false;
	int id = btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF);
	if (id > 0) {
		const struct btf_type *t = btf__type_by_id(vmlinux, id);
		t = btf__type_by_id(vmlinux, t->type); /* ptr */
		if (t && btf_is_ptr(t)) {
			t = btf__type_by_id(vmlinux, t->type); /* func_proto */
			ok = t && btf_is_func_proto(t) && btf_vlen(t) == nargs + 1;
		}
	}
	btf__free(vmlinux);
	return ok;
}

/* ------------------------------------------------------------------ --probe */

/* Load only `prog` from a fresh copy of the object and attach it; true if both work. */
static bool try_prog(bool percall, const char *prog, int cgfd)
{
	struct bpf_object *obj = open_obj(percall);
	if (!obj)
		return false;
	struct bpf_program *p, *target = NULL;
	bpf_object__for_each_program(p, obj)
	{
		bool me = !strcmp(bpf_program__name(p), prog);
		bpf_program__set_autoload(p, me);
		if (me)
			target = p;
	}
	bool ok = false;
	if (target && !bpf_object__load(obj)) {
		struct bpf_link *l;
		if (bpf_program__type(target) == BPF_PROG_TYPE_CGROUP_SKB)
			l = cgfd >= 0 ? bpf_program__attach_cgroup(target, cgfd) : NULL;
		else
			l = bpf_program__attach(target);
		if (l) {
			ok = true;
			bpf_link__destroy(l);
		}
	}
	bpf_object__close(obj);
	return ok;
}

static int do_probe(const char *cgroup_opt)
{
	quiet_libbpf = true;
	struct utsname u;
	uname(&u);
	struct btf *vmlinux = btf__load_vmlinux_btf();
	bool btf = vmlinux != NULL;
	btf__free(vmlinux);

	char cg[4096] = "";
	bool have_cg = cgroup_opt ? (snprintf(cg, sizeof(cg), "%s", cgroup_opt), true) : find_cgroup2(cg, sizeof(cg));
	int cgfd = have_cg ? open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (cgfd < 0)
		have_cg = false;

	bool tp_state = btf && try_prog(false, "probe_tp_state", -1);
	bool tp_send = btf && try_prog(false, "probe_tp_send", -1);
	bool iter = btf && try_prog(false, "probe_iter", -1);
	bool sff = btf && try_prog(false, "probe_sock_from_file", -1);
	bool sks = btf && try_prog(false, "probe_sk_storage", -1);
	bool cgskb = have_cg && try_prog(false, "probe_cgroup_skb", cgfd);
	/* Attached, not only loaded: a kernel without CONFIG_KPROBE_EVENTS (this one) loads kprobe
	 * programs (the uprobe PMU brings the program type) but cannot attach them. From the
	 * object without CO-RE, so that it works without BTF. */
	bool kprobe = try_prog(true, "probe_kprobe", -1);
	bool fentry = btf && try_prog(false, "probe_fentry", -1);
	if (cgfd >= 0)
		close(cgfd);

	printf("{\"type\":\"probe\",\"kernel\":\"");
	for (const char *c = u.release; *c; c++)
		if (*c >= 0x20 && *c < 0x7f && *c != '"' && *c != '\\')
			putchar(*c);
	printf("\",\"btf\":%s,\"tpBtfInetSockSetState\":%s,\"tpBtfSockSendLength\":%s,"
	       "\"iterTaskFile\":%s,\"sockFromFile\":%s,\"skStorageTracing\":%s,\"cgroupV2\":",
	       btf ? "true" : "false", tp_state ? "true" : "false", tp_send ? "true" : "false",
	       iter ? "true" : "false", sff ? "true" : "false", sks ? "true" : "false");
	if (have_cg) {
		putchar('"');
		for (const char *c = cg; *c; c++) {
			if (*c == '"' || *c == '\\')
				printf("\\%c", *c);
			else if ((unsigned char)*c < 0x20)
				printf("\\u%04x", (unsigned char)*c);
			else
				putchar(*c);
		}
		putchar('"');
	} else {
		printf("null");
	}
	printf(",\"cgroupSkb\":%s,\"kprobe\":%s,\"fentry\":%s}\n", cgskb ? "true" : "false",
	       kprobe ? "true" : "false", fentry ? "true" : "false");
	fflush(stdout);
	return 0;
}

/* ------------------------------------------------------------------ per-process sums */

struct ent {
	uint32_t tgid;
	uint16_t proto;
	int64_t s[NMETRICS];
	char comm[16];
};

static struct ent *ents;
static size_t nents, cap_ents;
static int32_t *idx; /* open addressing: index into ents, -1 empty */
static size_t idx_size;

static uint64_t hkey(uint32_t tgid, uint16_t proto)
{
	uint64_t k = ((uint64_t)tgid << 8 | proto) * 0x9E3779B97F4A7C15ull;
	return k ^ (k >> 29);
}

static void idx_rebuild(size_t want)
{
	size_t sz = 1024;
	while (sz < want * 2)
		sz <<= 1;
	if (sz != idx_size) {
		free(idx);
		idx = malloc(sz * sizeof(*idx));
		if (!idx) {
			warnf("error", "out of memory");
			exit(1);
		}
		idx_size = sz;
	}
	memset(idx, 0xff, idx_size * sizeof(*idx));
	for (size_t i = 0; i < nents; i++) {
		size_t h = hkey(ents[i].tgid, ents[i].proto) & (idx_size - 1);
		while (idx[h] >= 0)
			h = (h + 1) & (idx_size - 1);
		idx[h] = (int32_t)i;
	}
}

static void add(uint32_t tgid, uint16_t proto, const int64_t d[NMETRICS], const char comm[16])
{
	size_t h = hkey(tgid, proto) & (idx_size - 1);
	while (idx[h] >= 0) {
		struct ent *e = &ents[idx[h]];
		if (e->tgid == tgid && e->proto == proto) {
			for (int i = 0; i < NMETRICS; i++)
				e->s[i] += d[i];
			if (comm[0])
				memcpy(e->comm, comm, 16);
			return;
		}
		h = (h + 1) & (idx_size - 1);
	}
	if (nents == cap_ents) {
		size_t nc = cap_ents ? cap_ents * 2 : 1024;
		struct ent *ne = realloc(ents, nc * sizeof(*ne));
		if (!ne) {
			warnf("error", "out of memory");
			exit(1);
		}
		ents = ne;
		cap_ents = nc;
	}
	struct ent *e = &ents[nents];
	e->tgid = tgid;
	e->proto = proto;
	memcpy(e->s, d, sizeof(e->s));
	memcpy(e->comm, comm, 16);
	idx[h] = (int32_t)nents++;
	if (nents * 2 > idx_size)
		idx_rebuild(nents);
}

static void put_comm(FILE *o, const char comm[16])
{
	for (int i = 0; i < 15 && comm[i]; i++) {
		unsigned char c = (unsigned char)comm[i];
		if (c == '"' || c == '\\')
			fprintf(o, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(o, "\\u%04x", c);
		else
			fputc(c, o);
	}
}

/* percall-kprobe: no retransmissions and no TCP segments seen, so none printed (not a measured 0). */
static bool no_retrans;

/* Prints the positive part of each sum, keeps negative parts as carry. */
static void print_procs(FILE *o)
{
	static const char *const names[NMETRICS] = { "rxBytes", "txBytes", "rxPackets", "txPackets",
						     "retransSegs" };
	size_t keep = 0;
	for (size_t i = 0; i < nents; i++) {
		struct ent *e = &ents[i];
		int64_t out[NMETRICS];
		bool any = false, carry = false;
		for (int m = 0; m < NMETRICS; m++) {
			out[m] = e->s[m] > 0 ? e->s[m] : 0;
			e->s[m] -= out[m];
			any |= out[m] > 0;
			carry |= e->s[m] != 0;
		}
		if (any) {
			fprintf(o, "{\"type\":\"proc\",\"pid\":%u,\"transport\":\"%s\"", e->tgid,
				e->proto == 6 ? "tcp" : "udp");
			for (int m = 0; m < NMETRICS; m++) {
				bool segments = m >= 2; /* rxPackets, txPackets, retransSegs */
				if (no_retrans && (m == NMETRICS - 1 || (segments && e->proto == 6)))
					continue;
				fprintf(o, ",\"%s\":%lld", names[m], (long long)out[m]);
			}
			fputs(",\"comm\":\"", o);
			put_comm(o, e->comm);
			fputs("\"}\n", o);
		}
		if (carry)
			ents[keep++] = *e;
	}
	nents = keep;
	idx_rebuild(nents);
}

/* ------------------------------------------------------------------ run */

static volatile sig_atomic_t stop_sig;
static void on_signal(int sig) { stop_sig = sig; }

static const char *const progs_counters[] = { "tcp_state",  "dump_files", "udp_egress", "udp_ingress",
					      "udp_drop",   "udp_create", "sock_release", NULL };
static const char *const progs_udp_tp[] = { "tcp_state", "dump_files", "udp_send_tp", "udp_recv_tp", NULL };
/* percall.bpf.c; tcp_recv_enter or tcp_recv_enter_old, whichever fits tcp_recvmsg here. */
static const char *const progs_percall[] = { "tcp_send_ret", "tcp_sendpage_ret", "tcp_recv_enter",
					     "tcp_recv_enter_old", "tcp_rbuf", "udp6_send_enter",
					     "udp6_send_ret", "udp_send_ret", "udp_consume", NULL };
/* Attached when the function exists: tcp_sendpage is gone since 6.5 (sendfile goes through
 * tcp_sendmsg there), udpv6_* are absent while the ipv6 module is not loaded. */
static const char *const progs_percall_optional[] = { "tcp_sendpage_ret", "udp6_send_enter",
						      "udp6_send_ret", NULL };

struct state {
	int acc_fd, stats_fd, ctl_fd, iter_link_fd; /* iter_link_fd -1: no iterator (percall) */
	int ncpus;                                   /* > 0: `acc` is per-CPU (percall) */
	struct acc_val *percpu;
	uint32_t epoch;
	uint64_t last_stats[S_MAX];
	uint64_t seq;
	char buf[16384];
	struct acc_key keys[ACC_ENTRIES];
};

static int read_iter(struct state *st, uint64_t *ns)
{
	uint64_t t0 = now_ns();
	int fd = bpf_iter_create(st->iter_link_fd);
	if (fd < 0) {
		warnf("error", "bpf_iter_create: %s", strerror(errno));
		return -1;
	}
	size_t have = 0;
	for (;;) {
		ssize_t n = read(fd, st->buf + have, sizeof(st->buf) - have);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			warnf("error", "read iterator: %s", strerror(errno));
			break;
		}
		if (n == 0)
			break;
		have += n;
		size_t off = 0;
		for (; off + sizeof(struct rec) <= have; off += sizeof(struct rec)) {
			struct rec r;
			memcpy(&r, st->buf + off, sizeof(r));
			add(r.tgid, r.proto, r.d, r.comm);
		}
		memmove(st->buf, st->buf + off, have - off);
		have -= off;
	}
	close(fd);
	*ns = now_ns() - t0;
	return 0;
}

static void drain_acc(struct state *st, uint32_t old_epoch)
{
	struct acc_key k, next;
	size_t n = 0;
	void *prev = NULL;
	while (n < ACC_ENTRIES && !bpf_map_get_next_key(st->acc_fd, prev, &next)) {
		if (next.epoch == old_epoch)
			st->keys[n++] = next;
		k = next;
		prev = &k;
	}
	for (size_t i = 0; i < n; i++) {
		struct acc_val one, *v = st->ncpus > 0 ? st->percpu : &one;
		if (bpf_map_lookup_and_delete_elem(st->acc_fd, &st->keys[i], v)) {
			/* per-CPU hashes: lookup_and_delete only since 5.14 */
			if (bpf_map_lookup_elem(st->acc_fd, &st->keys[i], v))
				continue;
			bpf_map_delete_elem(st->acc_fd, &st->keys[i]);
		}
		/* One value per possible CPU (sizeof(struct acc_val) is a multiple of 8). */
		for (int c = 1; c < st->ncpus; c++) {
			for (int m = 0; m < NMETRICS; m++)
				v[0].d[m] += v[c].d[m];
			if (!v[0].comm[0])
				memcpy(v[0].comm, v[c].comm, 16);
		}
		add(st->keys[i].tgid, st->keys[i].proto, v[0].d, v[0].comm);
	}
}

static void read_stats(struct state *st, uint64_t cur[S_MAX])
{
	for (uint32_t i = 0; i < S_MAX; i++) {
		uint64_t v = 0;
		bpf_map_lookup_elem(st->stats_fd, &i, &v);
		cur[i] = v;
	}
}

static int tick(struct state *st, bool print)
{
	uint32_t zero = 0, old = st->epoch;
	st->epoch ^= 1;
	bpf_map_update_elem(st->ctl_fd, &zero, &st->epoch, BPF_ANY);
	uint64_t tflip = now_ns(), iter_ns = 0;
	if (st->iter_link_fd >= 0 && read_iter(st, &iter_ns))
		return -1;
	/* Programs that read the old epoch run for microseconds with preemption off. */
	uint64_t waited = now_ns() - tflip;
	if (waited < 1000000) {
		struct timespec ts = { 0, (long)(1000000 - waited) };
		nanosleep(&ts, NULL);
	}
	drain_acc(st, old);
	uint64_t s[S_MAX];
	read_stats(st, s);
	if (print) {
		print_procs(stdout);
		printf("{\"type\":\"interval\",\"seq\":%llu,\"sockets\":%llu,\"closed\":%llu,"
		       "\"overflow\":%llu,\"iterNs\":%llu}\n",
		       (unsigned long long)++st->seq,
		       (unsigned long long)(s[S_SOCKETS] - st->last_stats[S_SOCKETS]),
		       (unsigned long long)(s[S_CLOSED] - st->last_stats[S_CLOSED]),
		       (unsigned long long)(s[S_ACC_OVERFLOW] - st->last_stats[S_ACC_OVERFLOW] +
					    s[S_SOCK_OVERFLOW] - st->last_stats[S_SOCK_OVERFLOW]),
		       (unsigned long long)iter_ns);
		if (fflush(stdout) || ferror(stdout))
			return -1;
		memcpy(st->last_stats, s, sizeof(s));
	}
	return 0;
}

/* What libbpf attaches kprobes through: the kprobe PMU, else tracefs kprobe_events. */
static bool kprobes_attachable(void)
{
	return !access("/sys/bus/event_source/devices/kprobe/type", F_OK) ||
	       !access("/sys/kernel/tracing/kprobe_events", F_OK) ||
	       !access("/sys/kernel/debug/tracing/kprobe_events", F_OK);
}

/* The programs of a variant, and whether they live in percall.bpf.o; NULL if unknown. */
static const char *const *variant_progs(const char *variant, bool *percall, bool *cgroup_needed)
{
	*percall = false;
	*cgroup_needed = false;
	if (!strcmp(variant, "counters")) {
		*cgroup_needed = true;
		return progs_counters;
	}
	if (!strcmp(variant, "counters-udp-tp"))
		return progs_udp_tp;
	if (!strcmp(variant, "percall-kprobe")) {
		*percall = true;
		return progs_percall;
	}
	return NULL;
}

/* tcp_recvmsg lost its nonblock argument in 5.19, so its flags are the 4th argument since
 * then, the 5th before. From the kernel's BTF when there is one (backports), else by version. */
static bool recvmsg_flags_4th(void)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	if (vmlinux) {
		int id = btf__find_by_name_kind(vmlinux, "tcp_recvmsg", BTF_KIND_FUNC);
		const struct btf_type *t = id > 0 ? btf__type_by_id(vmlinux, id) : NULL;
		t = t ? btf__type_by_id(vmlinux, t->type) : NULL;
		int n = t && btf_is_func_proto(t) ? btf_vlen(t) : -1;
		btf__free(vmlinux);
		if (n > 0)
			return n == 5;
	}
	struct utsname u;
	int major = 0, minor = 0;
	if (uname(&u) || sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return true;
	return major > 5 || (major == 5 && minor >= 19);
}

/* --verify: loads each program of the variant alone (the verifier runs), attaches nothing,
 * and prints one JSON line naming each and whether it loaded. Exit 0 when all did. */
static int do_verify(const char *variant)
{
	bool percall, cgroup_needed;
	const char *const *want = variant_progs(variant, &percall, &cgroup_needed);
	if (!want) {
		warnf("error", "unknown variant %s (counters, counters-udp-tp, percall-kprobe)", variant);
		return 2;
	}
	quiet_libbpf = true;
	struct utsname u;
	uname(&u);
	printf("{\"type\":\"verify\",\"variant\":\"%s\",\"kernel\":\"", variant);
	for (const char *c = u.release; *c; c++)
		if (*c >= 0x20 && *c < 0x7f && *c != '"' && *c != '\\')
			putchar(*c);
	printf("\",\"programs\":[");
	bool all = true;
	for (int i = 0; want[i]; i++) {
		struct bpf_object *obj = open_obj(percall);
		if (!obj)
			return 1;
		struct bpf_program *p, *target = NULL;
		bpf_object__for_each_program(p, obj)
		{
			bool me = !strcmp(bpf_program__name(p), want[i]);
			bpf_program__set_autoload(p, me);
			if (me)
				target = p;
		}
		struct bpf_map *skm = bpf_object__find_map_by_name(obj, "sk_map");
		if (skm)
			bpf_map__set_autocreate(skm, false);
		int err = target ? bpf_object__load(obj) : -ENOENT;
		int e = err ? (errno ? errno : -err) : 0;
		all &= !err;
		printf("%s{\"name\":\"%s\",\"ok\":%s", i ? "," : "", want[i], err ? "false" : "true");
		if (err)
			printf(",\"error\":\"%s\"", target ? strerror(e) : "no such program");
		putchar('}');
		bpf_object__close(obj);
	}
	printf("],\"ok\":%s}\n", all ? "true" : "false");
	fflush(stdout);
	return all ? 0 : 1;
}

static void usage(FILE *o)
{
	fprintf(o, "usage: netproc-loader --interval-ms N [--variant counters|counters-udp-tp|percall-kprobe] "
		   "[--cgroup PATH] [--max-sockets N] [--ignore-stdin]\n       netproc-loader --probe [--cgroup PATH]\n"
		   "       netproc-loader --verify [--variant V]\n");
}

int main(int argc, char **argv)
{
	uint64_t t_start = now_ns();
	long interval_ms = 1000;
	const char *variant = "counters", *cgroup_opt = NULL;
	bool probe = false, verify = false, ignore_stdin = false;
	long max_sockets = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--interval-ms") && i + 1 < argc) {
			char *end;
			interval_ms = strtol(argv[++i], &end, 10);
			if (*end || interval_ms < 10 || interval_ms > 3600000) {
				warnf("error", "--interval-ms must be 10..3600000");
				return 2;
			}
		} else if (!strcmp(argv[i], "--variant") && i + 1 < argc) {
			variant = argv[++i];
		} else if (!strcmp(argv[i], "--cgroup") && i + 1 < argc) {
			cgroup_opt = argv[++i];
		} else if (!strcmp(argv[i], "--max-sockets") && i + 1 < argc) {
			char *end;
			max_sockets = strtol(argv[++i], &end, 10);
			if (*end || max_sockets < 1024 || max_sockets > (1L << 24)) {
				warnf("error", "--max-sockets must be 1024..16777216");
				return 2;
			}
		} else if (!strcmp(argv[i], "--probe")) {
			probe = true;
		} else if (!strcmp(argv[i], "--verify")) {
			verify = true;
		} else if (!strcmp(argv[i], "--ignore-stdin")) {
			ignore_stdin = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			warnf("error", "unknown argument: %s", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	libbpf_set_print(libbpf_print);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	pid_t ppid = getppid();
	if (probe)
		return do_probe(cgroup_opt);
	if (verify)
		return do_verify(variant);

	bool cgroup_needed, percall;
	const char *const *want = variant_progs(variant, &percall, &cgroup_needed);
	if (!want) {
		warnf("error", "unknown variant %s (counters, counters-udp-tp, percall-kprobe)", variant);
		return 2;
	}
	no_retrans = percall;

	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int cgfd = -1;
	if (cgroup_needed) {
		char cg[4096];
		if (cgroup_opt)
			snprintf(cg, sizeof(cg), "%s", cgroup_opt);
		else if (!find_cgroup2(cg, sizeof(cg))) {
			warnf("error", "no cgroup v2 mount found (mount one or pass --cgroup PATH, or use "
				       "--variant counters-udp-tp)");
			return 1;
		}
		cgfd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cgfd < 0) {
			warnf("error", "open cgroup %s: %s", cg, strerror(errno));
			return 1;
		}
	}

	struct bpf_object *obj = open_obj(percall);
	if (!obj)
		return 1;
	/* Only the CO-RE object has udp_drop; the BTF lookup is not for kernels without it. */
	bool drop_tp = !percall && tp_has_args("udp_fail_queue_rcv_skb", 3);
	const char *recv_unused = percall ? (recvmsg_flags_4th() ? "tcp_recv_enter_old" : "tcp_recv_enter") : NULL;
	struct bpf_program *p;
	bpf_object__for_each_program(p, obj)
	{
		const char *name = bpf_program__name(p);
		bool on = name_in(name, want) && !(recv_unused && !strcmp(name, recv_unused));
		if (on && !strcmp(name, "udp_drop") && !drop_tp) {
			warnf("warning", "tracepoint udp_fail_queue_rcv_skb(rc, sk, skb) not found: UDP "
					 "datagrams dropped on a full receive buffer are counted as received");
			on = false;
		}
		bpf_program__set_autoload(p, on);
	}
	struct bpf_map *rodata = NULL, *m;
	bpf_object__for_each_map(m, obj)
		if (strstr(bpf_map__name(m), ".rodata"))
			rodata = m;
	if (rodata && !percall) {
		size_t sz;
		uint32_t *ro = (uint32_t *)bpf_map__initial_value(rodata, &sz);
		if (ro && sz >= sizeof(uint32_t))
			*ro = cgroup_needed; /* udp_via_cgroup, the only .rodata variable */
	}
	struct bpf_map *socks = bpf_object__find_map_by_name(obj, "socks");
	if (socks && max_sockets)
		bpf_map__set_max_entries(socks, max_sockets);
	struct bpf_map *skm = bpf_object__find_map_by_name(obj, "sk_map");
	if (skm)
		bpf_map__set_autocreate(skm, false);
	if (bpf_object__load(obj)) {
		int e = errno;
		warnf("error", "load BPF programs: %s%s", strerror(e),
		      e == EPERM ? " (needs CAP_BPF and CAP_PERFMON, CAP_NET_ADMIN for cgroup programs)" : "");
		return 1;
	}

	struct bpf_link *iter_link = NULL;
	bpf_object__for_each_program(p, obj)
	{
		if (!bpf_program__autoload(p))
			continue;
		struct bpf_link *l;
		enum bpf_prog_type t = bpf_program__type(p);
		if (t == BPF_PROG_TYPE_CGROUP_SKB || t == BPF_PROG_TYPE_CGROUP_SOCK)
			l = bpf_program__attach_cgroup(p, cgfd);
		else
			l = bpf_program__attach(p);
		if (!l && percall && name_in(bpf_program__name(p), progs_percall_optional)) {
			warnf("warning", "%s not attached (%s): %s", bpf_program__section_name(p), strerror(errno),
			      strcmp(bpf_program__name(p), "tcp_sendpage_ret")
				      ? "UDP over IPv6 is not counted"
				      : "no tcp_sendpage (Linux 6.5+ sends sendfile through tcp_sendmsg)");
			continue;
		}
		if (!l) {
			int e = errno;
			if (percall && !kprobes_attachable())
				warnf("error", "attach %s (%s): %s: this kernel cannot attach kprobes (no kprobe PMU "
					       "and no kprobe_events: CONFIG_KPROBES/CONFIG_KPROBE_EVENTS are off); "
					       "use a variant the probe reports, or the procfs and ss sources",
				      bpf_program__name(p), bpf_program__section_name(p), strerror(e));
			else if (percall)
				warnf("error", "attach %s (%s): %s (is the function there and traceable? see "
					       "/proc/kallsyms, /sys/kernel/debug/kprobes/blacklist)",
				      bpf_program__name(p), bpf_program__section_name(p), strerror(e));
			else
				warnf("error", "attach %s: %s", bpf_program__name(p), strerror(e));
			return 1;
		}
		if (!strcmp(bpf_program__name(p), "dump_files"))
			iter_link = l;
		/* other links stay open until exit */
	}
	if (cgfd >= 0)
		close(cgfd);

	struct state *st = calloc(1, sizeof(*st));
	if (!st) {
		warnf("error", "out of memory");
		return 1;
	}
	st->acc_fd = dup(bpf_map__fd(bpf_object__find_map_by_name(obj, "acc")));
	st->stats_fd = dup(bpf_map__fd(bpf_object__find_map_by_name(obj, "stats")));
	st->ctl_fd = dup(bpf_map__fd(bpf_object__find_map_by_name(obj, "ctl")));
	st->iter_link_fd = iter_link ? bpf_link__fd(iter_link) : -1;
	if (percall) {
		st->ncpus = libbpf_num_possible_cpus();
		st->percpu = st->ncpus > 0 ? calloc(st->ncpus, sizeof(struct acc_val)) : NULL;
		if (!st->percpu) {
			warnf("error", "possible CPUs: %s", strerror(st->ncpus < 0 ? -st->ncpus : ENOMEM));
			return 1;
		}
	}
	if (st->acc_fd < 0 || st->stats_fd < 0 || st->ctl_fd < 0) {
		warnf("error", "map fds: %s", strerror(errno));
		return 1;
	}
	/* The links and dup'ed map fds keep everything alive; free libbpf's copies. */
	bpf_object__close(obj);
	malloc_trim(0);

	idx_rebuild(0);
	/* Baseline pass: sockets older than the programs get last := current. */
	if (tick(st, false))
		return 1;
	read_stats(st, st->last_stats); /* interval 1 counts from here; its records are kept */
	printf("{\"type\":\"ready\",\"variant\":\"%s\",\"attachMs\":%llu}\n", variant,
	       (unsigned long long)((now_ns() - t_start) / 1000000));
	fflush(stdout);

	uint64_t interval = (uint64_t)interval_ms * 1000000ull, next = now_ns() + interval;
	struct pollfd pfd = { .fd = ignore_stdin ? -1 : 0, .events = POLLIN };
	char sink[4096];
	int rc = 0;
	while (!stop_sig) {
		uint64_t now = now_ns();
		if (now >= next) {
			if (tick(st, true)) {
				rc = 1;
				break;
			}
			next += interval;
			if (next <= now_ns())
				next = now_ns() + interval;
			continue;
		}
		int timeout = (int)((next - now + 999999) / 1000000);
		if (timeout > 200)
			timeout = 200; /* also re-check getppid() */
		int r = poll(&pfd, 1, timeout);
		if (r < 0 && errno != EINTR) {
			warnf("error", "poll: %s", strerror(errno));
			break;
		}
		if (r > 0 && pfd.revents) {
			ssize_t n = read(0, sink, sizeof(sink));
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
				break; /* stdin EOF: the agent is gone */
		}
		if (getppid() != ppid)
			break;
	}
	/* Links are released when the process exits. */
	return rc;
}
