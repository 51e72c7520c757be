// Copies the files the compiled sources read at run time (bpftrace programs) next to them in dist/.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';

for (const dir of ['sources/ebpf']) {
  mkdirSync(new URL(`../dist/${dir}/`, import.meta.url), { recursive: true });
  for (const file of readdirSync(new URL(`../src/${dir}/`, import.meta.url))) {
    if (file.endsWith('.bt')) copyFileSync(new URL(`../src/${dir}/${file}`, import.meta.url), new URL(`../dist/${dir}/${file}`, import.meta.url));
  }
}
