// cgroup-skb-floor CGROUP: attaches a two-instruction cgroup_skb program (r0 = 1; exit) at ingress
// and egress of CGROUP (a cgroup v2 directory) through BPF links, then waits to be killed: what the
// hooks cost with no work in them, the floor under the counters variant's UDP counting. Not part of
// `npm run bench` (it needs a C compiler); docs/benchmarks.md shows how it was run:
//   gcc -O2 -o /tmp/cgroup-skb-floor bench/support/cgroup-skb-floor.c
//   /tmp/cgroup-skb-floor /sys/fs/cgroup/unified &   # then iperf3 -u -b 0 -l 64, with and without it
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
static int bpf(int cmd, union bpf_attr *a) { return syscall(__NR_bpf, cmd, a, sizeof *a); }
int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: cgroup-skb-floor CGROUP\n"); return 2; }
  int cg = open(argv[1], O_RDONLY | O_DIRECTORY);
  if (cg < 0) { perror(argv[1]); return 1; }
  struct bpf_insn insns[] = { { .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 1 }, { .code = BPF_JMP | BPF_EXIT } };
  enum bpf_attach_type types[] = { BPF_CGROUP_INET_INGRESS, BPF_CGROUP_INET_EGRESS };
  for (int i = 0; i < 2; i++) {
    union bpf_attr a; memset(&a, 0, sizeof a);
    a.prog_type = BPF_PROG_TYPE_CGROUP_SKB; a.expected_attach_type = types[i];
    a.insns = (unsigned long)insns; a.insn_cnt = 2; a.license = (unsigned long)"GPL";
    int prog = bpf(BPF_PROG_LOAD, &a);
    if (prog < 0) { perror("BPF_PROG_LOAD"); return 1; }
    // A link, not BPF_PROG_ATTACH: it detaches when this process dies.
    memset(&a, 0, sizeof a);
    a.link_create.prog_fd = prog; a.link_create.target_fd = cg; a.link_create.attach_type = types[i];
    if (bpf(BPF_LINK_CREATE, &a) < 0) { perror("BPF_LINK_CREATE"); return 1; }
  }
  printf("attached\n"); fflush(stdout);
  pause();
  return 0;
}
