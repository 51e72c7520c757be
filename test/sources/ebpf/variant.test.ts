// The choice of the engine's variant from the kernel facts `netproc-loader --probe` prints and the
// capabilities the loader will hold: counters where cgroup v2 programs can attach, counters-udp-tp
// where they cannot but the sock_send_length tracepoint exists, otherwise unusable with the fix.
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

  it('is unusable, with the fix, when UDP can be counted neither way', () => {
    const choice = chooseVariant({ ...FULL, cgroupV2: null, tpBtfSockSendLength: false }, without('CAP_NET_ADMIN'));
    expect(choice.variant).toBeUndefined();
    expect(!choice.variant && choice.problem).toEqual({
      what: 'UDP cannot be counted: no cgroup v2 mount, CAP_NET_ADMIN is missing, and the BTF tracepoint sock_send_length (Linux 6.3+) is missing',
      fix: 'mount cgroup v2 (mount -t cgroup2 none /sys/fs/cgroup/unified) and grant CAP_NET_ADMIN, or run Linux 6.3 or later',
    });
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

  it('kprobe and fentry facts do not matter: no per-call kprobe variant exists', () => {
    expect(chooseVariant({ ...FULL, kprobe: true, fentry: true }, ALL_CAPS).variant).toBe('counters');
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
