#!/usr/bin/env bash
# Installs what km's tests need on a fresh Debian 12 machine: a C toolchain
# for the test payloads (glibc static, static-pie and musl builds) and the
# kernel headers the ABI test compiles against, busybox-static for the
# process tests (fork, pipes, execve through applet symlinks), and Debian's
# python3.11 with its standard library for the python tests and benchmark
# (copied into a guest root; ldd lists its libraries); containerd, runc and
# python3 for the shim and CRI suites, and Debian's CNI plugins (a bridge
# pod network) and iproute2 (to delete that bridge) for the CRI suite. Go
# comes with the machine.
set -euo pipefail
need=()
for pkg in gcc libc6-dev musl-tools linux-libc-dev busybox-static file python3.11 libpython3.11-stdlib libc-bin containerd runc python3 containernetworking-plugins iproute2; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
	echo "installing: ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The shim and CRI suites (test/shim, test/cri) run under Debian's
# containerd 1.6 (above) and under containerd 2.x built from the Go module
# proxy, cached across runs.
CONTAINERD2_VERSION=v2.2.1
CONTAINERD2_DIR=/var/cache/km-test/containerd-${CONTAINERD2_VERSION}/bin
if [[ ! -x $CONTAINERD2_DIR/containerd || ! -x $CONTAINERD2_DIR/ctr || ! -x $CONTAINERD2_DIR/containerd-shim-runc-v2 ]]; then
	echo "building containerd ${CONTAINERD2_VERSION} into ${CONTAINERD2_DIR} (once, ~2 min)"
	mkdir -p "$CONTAINERD2_DIR"
	GOBIN=$CONTAINERD2_DIR GOFLAGS=-buildvcs=false go install \
		"github.com/containerd/containerd/v2/cmd/containerd@${CONTAINERD2_VERSION}" \
		"github.com/containerd/containerd/v2/cmd/ctr@${CONTAINERD2_VERSION}" \
		"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@${CONTAINERD2_VERSION}"
fi
test -c /dev/kvm || { echo "km tests need /dev/kvm (load kvm_intel, kvm_amd or kvm_pvm)" >&2; exit 1; }
