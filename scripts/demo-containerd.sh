#!/usr/bin/env bash
# Quick start for km under containerd: builds km and its shim, starts a
# private containerd (Debian's 1.6; own root, state and socket in a temp
# dir) with io.containerd.km.v2 on its PATH, imports a locally built OCI
# image of Debian's python3 (no registry, no km inside the image), runs
# `python3 -m http.server` in a km VM on the host network, prints one
# response fetched from it, and cleans everything up.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v containerd >/dev/null && command -v ctr >/dev/null || ./scripts/install-test-deps.sh
make -s build
BIN=$PWD/bin
T=$(mktemp -d /tmp/km-demo.XXXXXX)
PORT=${PORT:-18080}
IMAGE=docker.io/kmdemo/python:1
CTR=(ctr --address "$T/c.sock")
pid=
cleanup() {
	"${CTR[@]}" task kill -s SIGKILL demo >/dev/null 2>&1 || true
	sleep 0.3
	"${CTR[@]}" task rm -f demo >/dev/null 2>&1 || true
	"${CTR[@]}" container rm demo >/dev/null 2>&1 || true
	[[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	grep -o " $T[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

echo "== building an OCI image of Debian's python3 (no registry)"
root=$T/rootfs
py=$(readlink -f /usr/bin/python3)
for f in "$py" $(ldd "$py" | grep -o '/[^ ]*'); do
	mkdir -p "$root$(dirname "$f")"
	cp -L "$f" "$root$f"
done
mkdir -p "$root/usr/lib" "$root/tmp" "$root/etc" "$root/srv"
cp -a "/usr/lib/$(basename "$py")" "$root/usr/lib/"
ln -s "$(basename "$py")" "$root/usr/bin/python3"
echo "hello from a km VM" > "$root/srv/index.html"
oci=$T/oci
mkdir -p "$oci/blobs/sha256"
blob() { # file -> sha256 digest, stored as a blob
	local d
	d=$(sha256sum "$1" | cut -d' ' -f1)
	mv "$1" "$oci/blobs/sha256/$d"
	echo "$d"
}
tar -C "$root" -cf "$T/layer.tar" .
layer=$(blob "$T/layer.tar")
lsize=$(stat -c %s "$oci/blobs/sha256/$layer")
printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/bin:/bin"],"Cmd":["/usr/bin/python3"],"WorkingDir":"/srv"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$layer" > "$T/config.json"
config=$(blob "$T/config.json")
csize=$(stat -c %s "$oci/blobs/sha256/$config")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' "$config" "$csize" "$layer" "$lsize" > "$T/manifest.json"
manifest=$(blob "$T/manifest.json")
msize=$(stat -c %s "$oci/blobs/sha256/$manifest")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s"}}]}' "$manifest" "$msize" "$IMAGE" > "$oci/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$oci/oci-layout"
tar -C "$oci" -cf "$T/image.tar" .

echo "== starting a private containerd ($(containerd --version | cut -d' ' -f3)) in $T"
cat > "$T/config.toml" <<TOML
version = 2
root = "$T/root"
state = "$T/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$T/c.sock"
TOML
PATH=$BIN:$PATH containerd --config "$T/config.toml" >"$T/containerd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do "${CTR[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
"${CTR[@]}" images import "$T/image.tar" >/dev/null

echo "== ctr run --runtime io.containerd.km.v2 $IMAGE python3 -m http.server $PORT"
"${CTR[@]}" run -d --net-host --runtime io.containerd.km.v2 "$IMAGE" demo \
	/usr/bin/python3 -m http.server --bind 127.0.0.1 "$PORT" >/dev/null
for _ in $(seq 100); do
	if body=$(python3 -c "import urllib.request,sys; print(urllib.request.urlopen('http://127.0.0.1:$PORT/index.html', timeout=1).read().decode(), end='')" 2>/dev/null); then
		break
	fi
	sleep 0.2
done
echo "== response: ${body:-<none>}"
"${CTR[@]}" task kill demo
echo "== stopped; cleaning up"
[[ -n ${body:-} ]]
