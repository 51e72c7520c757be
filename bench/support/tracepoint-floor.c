// tracepoint-floor MODE RET: what merely attaching a BPF program to the sock length tracepoints
// costs, without bpftrace. Loads a two-instruction program (r0 = RET; exit) on
// sock:sock_send_length and sock:sock_recv_length, then waits to be killed. MODE is
//   perf: a perf event per tracepoint on CPU 0 with PERF_EVENT_IOC_SET_BPF, as bpftrace 0.17
//         (through bcc) attaches `tracepoint:` probes; bpftrace's programs return 1
//   raw:  BPF_RAW_TRACEPOINT_OPEN (what bpftrace >= 0.21's `rawtracepoint:` uses)
// Not part of `npm run bench` (it needs a C compiler); docs/benchmarks.md shows how it was run:
//   gcc -O2 -o /tmp/tracepoint-floor bench/support/tracepoint-floor.c
//   /tmp/tracepoint-floor raw 0 &   # then iperf3 -c 127.0.0.1 -l 1K, with and without it
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
static int bpf(int cmd, union bpf_attr *a) { return syscall(__NR_bpf, cmd, a, sizeof *a); }
int main(int argc, char **argv) {
  int raw = strcmp(argv[1], "raw") == 0, ret = atoi(argv[2]);
  struct bpf_insn insns[] = { { .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = ret }, { .code = BPF_JMP | BPF_EXIT } };
  const char *tps[] = { "sock_send_length", "sock_recv_length" };
  for (int i = 0; i < 2; i++) {
    union bpf_attr a; memset(&a, 0, sizeof a);
    a.prog_type = raw ? BPF_PROG_TYPE_RAW_TRACEPOINT : BPF_PROG_TYPE_TRACEPOINT;
    a.insns = (unsigned long)insns; a.insn_cnt = 2; a.license = (unsigned long)"GPL";
    int prog = bpf(BPF_PROG_LOAD, &a);
    if (prog < 0) { perror("BPF_PROG_LOAD"); return 1; }
    if (raw) {
      memset(&a, 0, sizeof a); a.raw_tracepoint.name = (unsigned long)tps[i]; a.raw_tracepoint.prog_fd = prog;
      if (bpf(BPF_RAW_TRACEPOINT_OPEN, &a) < 0) { perror("RAW_TRACEPOINT_OPEN"); return 1; }
    } else {
      char path[256]; snprintf(path, sizeof path, "/sys/kernel/tracing/events/sock/%s/id", tps[i]);
      FILE *f = fopen(path, "r"); int id; if (!f || fscanf(f, "%d", &id) != 1) { perror(path); return 1; } fclose(f);
      struct perf_event_attr pa; memset(&pa, 0, sizeof pa);
      pa.type = PERF_TYPE_TRACEPOINT; pa.size = sizeof pa; pa.config = id; pa.sample_period = 1; pa.wakeup_events = 1; pa.sample_type = PERF_SAMPLE_RAW;
      int pfd = syscall(__NR_perf_event_open, &pa, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
      if (pfd < 0) { perror("perf_event_open"); return 1; }
      if (ioctl(pfd, PERF_EVENT_IOC_SET_BPF, prog) < 0 || ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0) < 0) { perror("ioctl"); return 1; }
    }
  }
  printf("attached\n"); fflush(stdout);
  pause();
}
