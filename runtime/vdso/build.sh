#!/bin/sh
# Rebuilds vdso.so from vdso.c (go generate ./runtime). The .so is committed
# so that building km needs no C compiler.
set -e
cd "$(dirname "$0")"
gcc -shared -nostdlib -fPIC -O2 -fno-stack-protector -fno-asynchronous-unwind-tables -fcf-protection=none \
	-Wl,-soname=linux-vdso.so.1 -Wl,--hash-style=both -Wl,--version-script=vdso.lds \
	-Wl,-T,vdso-layout.lds -Wl,--no-undefined -Wl,--build-id=none \
	-o vdso.so vdso.c
