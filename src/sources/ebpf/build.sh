#!/bin/sh
# build.sh OUTDIR: compiles netproc.bpf.c (clang -target bpf, CO-RE against vmlinux-min.h, no
# bpftool) and percall.bpf.c (kprobes, no CO-RE: loads without kernel BTF) and links both into
# OUTDIR/netproc-loader (dynamically against Debian's libbpf1).
# Needs: clang (>= 12), libbpf-dev (>= 1.0), libelf-dev, zlib1g-dev, a C compiler.
set -eu
OUT=${1:-out}
SRC=$(cd "$(dirname "$0")" && pwd)
CLANG=${CLANG:-clang}
CC=${CC:-cc}
missing=""
command -v "$CLANG" >/dev/null 2>&1 || missing="$missing clang"
[ -f /usr/include/bpf/libbpf.h ] && [ -f /usr/include/bpf/bpf_helpers.h ] || missing="$missing libbpf-dev"
[ -f /usr/include/libelf.h ] || [ -f /usr/include/elfutils/libelf.h ] || missing="$missing libelf-dev"
[ -f /usr/include/zlib.h ] || missing="$missing zlib1g-dev"
command -v "$CC" >/dev/null 2>&1 || missing="$missing gcc"
if [ -n "$missing" ]; then
	echo "error: missing build dependencies; install the Debian packages:$missing" >&2
	exit 1
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
case $(uname -m) in
x86_64) ARCH=x86 ;; aarch64) ARCH=arm64 ;; *) ARCH=$(uname -m) ;;
esac
"$CLANG" -target bpf -mcpu=v3 -g -O2 -Wall -Wno-unused-function -D__TARGET_ARCH_$ARCH \
	-c "$SRC/netproc.bpf.c" -o "$OUT/netproc.bpf.o"
# The per-call fallback: its own object, so that a kernel without BTF never sees a CO-RE
# relocation. pt_regs comes from the uapi <asm/ptrace.h> (same layout as the kernel's);
# -mcpu=v1 so that 4.x verifiers take it.
MULTIARCH=$("$CC" -print-multiarch 2>/dev/null || true)
"$CLANG" -target bpf -mcpu=v1 -g -O2 -Wall -Wno-unused-function -D__TARGET_ARCH_$ARCH \
	${MULTIARCH:+-I/usr/include/$MULTIARCH} -c "$SRC/percall.bpf.c" -o "$OUT/percall.bpf.o"
# Drop DWARF, keep BTF/.BTF.ext (CO-RE needs them): the embedded object shrinks ~3x.
if command -v llvm-strip >/dev/null 2>&1; then
	llvm-strip -g "$OUT/netproc.bpf.o" "$OUT/percall.bpf.o"
fi
"$CC" -O2 -g -Wall -Wextra -Wno-unused-parameter -DNETPROC_BPF_OBJ="\"$OUT/netproc.bpf.o\"" \
	-DNETPROC_PERCALL_OBJ="\"$OUT/percall.bpf.o\"" \
	"$SRC/loader.c" -o "$OUT/netproc-loader" -lbpf -lelf -lz
ls -l "$OUT/netproc.bpf.o" "$OUT/percall.bpf.o" "$OUT/netproc-loader" | awk '{print $5, $NF}'
size "$OUT/netproc-loader" 2>/dev/null | tail -1 | awk '{print "text+data+bss:", $4}' || true
