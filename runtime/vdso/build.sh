#!/bin/sh
# Rebuilds vdso.so from vdso.c (go generate ./runtime). The .so is committed
# so that building km needs no C compiler.
# With an argument, writes there instead (the unit test's reproducibility check).
set -e
out=$(realpath -m "${1:-$(dirname "$0")/vdso.so}")
cd "$(dirname "$0")"
gcc -shared -nostdlib -fPIC -O2 -fno-stack-protector -fno-asynchronous-unwind-tables -fcf-protection=none \
	-Wl,-soname=linux-vdso.so.1 -Wl,--hash-style=both -Wl,--version-script=vdso.lds \
	-Wl,-T,vdso-layout.lds -Wl,--no-undefined -Wl,--build-id=none \
	-o "$out" vdso.c
