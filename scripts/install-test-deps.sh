#!/usr/bin/env bash
# Installs what km's tests need on a fresh Debian 12 machine: a C toolchain
# for the test payloads (glibc static, static-pie and musl builds) and the
# kernel headers the ABI test compiles against, busybox-static for the
# process tests (fork, pipes, execve through applet symlinks), and Debian's
# python3.11 with its standard library for the python tests and benchmark
# (copied into a guest root; ldd lists its libraries). Go comes with the machine.
set -euo pipefail
need=()
for pkg in gcc libc6-dev musl-tools linux-libc-dev busybox-static file python3.11 libpython3.11-stdlib libc-bin; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
	echo "installing: ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
test -c /dev/kvm || { echo "km tests need /dev/kvm (load kvm_intel, kvm_amd or kvm_pvm)" >&2; exit 1; }
