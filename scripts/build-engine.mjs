// Builds the ebpf source's engine (src/sources/ebpf/build.sh: the CO-RE BPF object and the
// per-call kprobe object, both embedded in netproc-loader) into dist/sources/ebpf/. Without clang,
// libbpf-dev, libelf-dev or zlib1g-dev the TypeScript build still succeeds: this prints what is
// missing, and `doctor` says it again.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../src/sources/ebpf/build.sh', import.meta.url));
const out = fileURLToPath(new URL('../dist/sources/ebpf/', import.meta.url));
const result = spawnSync('sh', [script, out], { encoding: 'utf8' });
if (result.status === 0) {
  // The objects are linked into the loader; only the loader ships.
  rmSync(`${out}netproc.bpf.o`, { force: true });
  rmSync(`${out}percall.bpf.o`, { force: true });
  process.stdout.write(`build-engine: built ${out}netproc-loader\n`);
} else {
  const why = (result.stderr || result.error?.message || '').trim();
  process.stderr.write(`build-engine: the ebpf engine was NOT built (the ebpf source will be unusable): ${why}\n`);
  process.stderr.write(`build-engine: fix: apt-get install clang llvm libbpf-dev libelf-dev zlib1g-dev gcc, then npm run build\n`);
}
