// The choice of the engine's variant from the kernel facts `netproc-loader --probe` prints and the
// capabilities the loader will hold: counters where cgroup v2 programs can attach, counters-udp-tp
// where they cannot but the sock_send_length tracepoint exists, percall-kprobe where neither can
// run but kprobes attach (no BTF, a kernel older than the iterators), otherwise unusable with the
// fix.
import { describe, expect, it } from 'vitest';
import type { CapName } from '../../../src/host/capabilities.js';
import { chooseVariant, type KernelFacts } from '../../../src/sources/ebpf/parse.js';

/** What this development machine's kernel (6.18) reports. */
const FULL: KernelFacts = {
  kernel: '6.18.44',
  btf: true,
  tpBtfInetSockSetState: true,
  tpBtfSockSendLength: true,
  iterTaskFile: true,
  sockFromFile: true,
  cgroupV2: '/sys/fs/cgroup/unified',
  cgroupSkb: true,
  kprobe: false,
  fentry: false,
};
const ALL_CAPS = new Set<CapName>(['CAP_BPF', 'CAP_PERFMON', 'CAP_NET_ADMIN']);
const without = (...caps: CapName[]) => new Set([...ALL_CAPS].filter((c) => !caps.includes(c)));

describe('chooseVariant', () => {
  it('picks counters when iterators, the state tracepoint, cgroup v2, cgroup_skb and CAP_NET_ADMIN are all there', () => {
    expect(chooseVariant(FULL, ALL_CAPS)).toMatchObject({ variant: 'counters', reason: expect.stringContaining('no program per send or receive') });
  });

  it.each<[string, Partial<KernelFacts>, Set<CapName>, string]>([
    ['no cgroup v2 mount', { cgroupV2: null }, ALL_CAPS, 'no cgroup v2 mount'],
    ['cgroup_skb does not attach', { cgroupSkb: false }, ALL_CAPS, 'cgroup_skb programs do not attach'],
    ['no CAP_NET_ADMIN', {}, without('CAP_NET_ADMIN'), 'CAP_NET_ADMIN is missing'],
  ])('falls back to counters-udp-tp when %s', (_, facts, caps, why) => {
    const choice = chooseVariant({ ...FULL, ...facts }, caps);
    expect(choice).toMatchObject({ variant: 'counters-udp-tp' });
    expect(choice.variant && choice.reason).toContain(why);
  });

  it('is unusable, with the fix, when UDP can be counted neither way and kprobes do not attach', () => {
    const choice = chooseVariant({ ...FULL, cgroupV2: null, tpBtfSockSendLength: false }, without('CAP_NET_ADMIN'));
    expect(choice.variant).toBeUndefined();
    expect(!choice.variant && choice.problem).toEqual({
      what: 'UDP cannot be counted: no cgroup v2 mount, CAP_NET_ADMIN is missing, and the BTF tracepoint sock_send_length (Linux 6.3+) is missing; and kprobes cannot be attached (a kernel without CONFIG_KPROBES/CONFIG_KPROBE_EVENTS) for the percall-kprobe fallback',
      fix: 'mount cgroup v2 (mount -t cgroup2 none /sys/fs/cgroup/unified) and grant CAP_NET_ADMIN, or run Linux 6.3 or later',
    });
  });

  it('falls back to percall-kprobe when UDP can be counted neither way but kprobes attach', () => {
    const choice = chooseVariant({ ...FULL, cgroupV2: null, tpBtfSockSendLength: false, kprobe: true }, without('CAP_NET_ADMIN'));
    expect(choice).toMatchObject({ variant: 'percall-kprobe' });
    expect(choice.variant && choice.reason).toContain('the counters variants cannot count UDP (no cgroup v2 mount');
  });

  it.each<[string, Partial<KernelFacts>, RegExp]>([
    ['no BTF', { btf: false }, /CONFIG_DEBUG_INFO_BTF/],
    ['no task_file iterator', { iterTaskFile: false }, /task_file iterator/],
    ['no bpf_sock_from_file', { sockFromFile: false }, /bpf_sock_from_file/],
    ['no inet_sock_set_state BTF tracepoint', { tpBtfInetSockSetState: false }, /inet_sock_set_state/],
  ])('is unusable for TCP with %s, whatever the cgroup side', (_, facts, what) => {
    const choice = chooseVariant({ ...FULL, ...facts }, ALL_CAPS);
    expect(choice.variant).toBeUndefined();
    expect(!choice.variant && `${choice.problem.what} ${choice.problem.fix}`).toMatch(what);
  });

  it.each<CapName>(['CAP_BPF', 'CAP_PERFMON'])('is unusable without %s, and names it in the fix', (cap) => {
    const choice = chooseVariant(FULL, without(cap));
    expect(!choice.variant && choice.problem.fix).toContain(cap);
  });

  it('prefers the counters variants to percall-kprobe wherever they run', () => {
    expect(chooseVariant({ ...FULL, kprobe: true, fentry: true }, ALL_CAPS).variant).toBe('counters');
    expect(chooseVariant({ ...FULL, kprobe: true }, without('CAP_NET_ADMIN')).variant).toBe('counters-udp-tp');
  });

  it('ebpf.variant forces a variant when the host allows it, and says why not otherwise', () => {
    expect(chooseVariant(FULL, ALL_CAPS, 'counters-udp-tp')).toMatchObject({ variant: 'counters-udp-tp', reason: expect.stringMatching(/^ebpf.variant is counters-udp-tp/) });
    expect(chooseVariant(FULL, ALL_CAPS, 'counters').variant).toBe('counters');
    const refused = chooseVariant(FULL, without('CAP_NET_ADMIN'), 'counters');
    expect(!refused.variant && refused.problem).toEqual({ what: 'ebpf.variant is counters, but CAP_NET_ADMIN is missing', fix: 'grant CAP_NET_ADMIN, or set ebpf.variant to auto' });
    const noTp = chooseVariant({ ...FULL, tpBtfSockSendLength: false }, ALL_CAPS, 'counters-udp-tp');
    expect(noTp.variant).toBeUndefined();
  });
});

/** A kernel without BTF (CONFIG_DEBUG_INFO_BTF off): every CO-RE program fails to load, so --probe reports no BTF fact true. */
const NO_BTF: KernelFacts = {
  ...FULL,
  kernel: '5.4.0',
  btf: false,
  tpBtfInetSockSetState: false,
  tpBtfSockSendLength: false,
  iterTaskFile: false,
  sockFromFile: false,
  cgroupSkb: false,
  kprobe: true,
  fentry: false,
};
/** Linux 5.4 with BTF: tracepoints and cgroup_skb, but no task_file iterator (5.8) nor bpf_sock_from_file (5.11). */
const OLD: KernelFacts = { ...FULL, kernel: '5.4.0', iterTaskFile: false, sockFromFile: false, tpBtfSockSendLength: false, kprobe: true, fentry: true };

describe('chooseVariant: the percall-kprobe fallback', () => {
  it('runs percall-kprobe on a kernel without BTF whose kprobes attach, and says why', () => {
    const choice = chooseVariant(NO_BTF, ALL_CAPS);
    expect(choice).toMatchObject({ variant: 'percall-kprobe' });
    expect(choice.variant && choice.reason).toBe(
      'TCP and UDP payload bytes per send/receive call by kprobes (no TCP segments or retransmissions; a program run on every call): the kernel has no BTF (/sys/kernel/btf/vmlinux), against which the CO-RE programs of the counters variants are relocated',
    );
  });

  it('runs percall-kprobe on an old kernel without the task_file iterator, naming what is missing', () => {
    const choice = chooseVariant(OLD, ALL_CAPS);
    expect(choice).toMatchObject({ variant: 'percall-kprobe' });
    expect(choice.variant && choice.reason).toContain('this kernel lacks the task_file iterator (Linux 5.8+), bpf_sock_from_file (Linux 5.11+)');
  });

  it('is unusable when neither the counters variants nor kprobes can run, naming both', () => {
    const noBtf = chooseVariant({ ...NO_BTF, kprobe: false }, ALL_CAPS);
    expect(!noBtf.variant && noBtf.problem).toEqual({
      what: 'the kernel has no BTF (/sys/kernel/btf/vmlinux), against which the CO-RE programs of the counters variants are relocated, and kprobes cannot be attached (a kernel without CONFIG_KPROBES/CONFIG_KPROBE_EVENTS) for the percall-kprobe fallback',
      fix: 'run a kernel built with CONFIG_DEBUG_INFO_BTF=y (the default of current Debian, Ubuntu, RHEL and Fedora kernels), or a kernel with CONFIG_KPROBE_EVENTS=y; meanwhile the procfs and ss sources serve bytes and connections',
    });
    const old = chooseVariant({ ...OLD, kprobe: false }, ALL_CAPS);
    expect(!old.variant && old.problem.what).toMatch(/task_file iterator \(Linux 5\.8\+\).*kprobes cannot be attached/);
  });

  it('needs CAP_BPF and CAP_PERFMON for percall-kprobe too, or CAP_SYS_ADMIN on kernels before 5.8 that know neither', () => {
    const choice = chooseVariant(NO_BTF, without('CAP_PERFMON'));
    expect(!choice.variant && choice.problem.fix).toContain('CAP_PERFMON');
    expect(!choice.variant && choice.problem.fix).toContain('kernels before 5.8 know neither: CAP_SYS_ADMIN');
    expect(chooseVariant(OLD, new Set<CapName>(['CAP_SYS_ADMIN'])).variant).toBe('percall-kprobe');
  });

  it('ebpf.variant percall-kprobe runs it wherever kprobes attach, even where counters could run', () => {
    expect(chooseVariant({ ...FULL, kprobe: true }, ALL_CAPS, 'percall-kprobe')).toMatchObject({
      variant: 'percall-kprobe',
      reason: expect.stringMatching(/^ebpf.variant is percall-kprobe: TCP and UDP payload bytes per send\/receive call/),
    });
    expect(chooseVariant(NO_BTF, ALL_CAPS, 'percall-kprobe').variant).toBe('percall-kprobe');
  });

  it('a forced variant this kernel cannot run is unusable with the reason, not replaced by another', () => {
    // This development kernel: everything but kprobes.
    const noKprobes = chooseVariant(FULL, ALL_CAPS, 'percall-kprobe');
    expect(!noKprobes.variant && noKprobes.problem).toEqual({
      what: 'ebpf.variant is percall-kprobe, but kprobes cannot be attached (a kernel without CONFIG_KPROBES/CONFIG_KPROBE_EVENTS)',
      fix: 'set ebpf.variant to auto',
    });
    for (const wanted of ['counters', 'counters-udp-tp'] as const) {
      const choice = chooseVariant(NO_BTF, ALL_CAPS, wanted);
      expect(choice.variant).toBeUndefined();
      expect(!choice.variant && choice.problem.what).toBe(`ebpf.variant is ${wanted}, but the kernel has no BTF (/sys/kernel/btf/vmlinux), against which the CO-RE programs of the counters variants are relocated`);
      expect(!choice.variant && choice.problem.fix).toMatch(/or set ebpf.variant to auto$/);
    }
  });
});
