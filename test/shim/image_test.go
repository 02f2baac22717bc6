package shim_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ociImage builds an OCI image layout tar (no registry) holding the given
// files in one layer, with cmd as its entrypoint.
func ociImage(t *testing.T, name string, files map[string]string, cmd []string) []byte {
	t.Helper()
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	for dst, src := range files {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		tw.WriteHeader(&tar.Header{Name: dst, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write(data)
	}
	tw.WriteHeader(&tar.Header{Name: "tmp/", Mode: 0o1777, Typeflag: tar.TypeDir})
	tw.Close()

	blobs := map[string][]byte{}
	add := func(b []byte) (string, int) {
		d := fmt.Sprintf("sha256:%x", sha256.Sum256(b))
		blobs[d] = b
		return d, len(b)
	}
	layerDigest, layerSize := add(layer.Bytes())
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Cmd": cmd, "Env": []string{"PATH=/usr/bin:/bin", "IMAGE_VAR=from-image"}, "WorkingDir": "/"},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	})
	configDigest, configSize := add(config)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": configDigest, "size": configSize},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layerDigest, "size": layerSize}},
	})
	manifestDigest, manifestSize := add(manifest)
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests": []any{map[string]any{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifestDigest, "size": manifestSize,
			"platform":    map[string]string{"architecture": "amd64", "os": "linux"},
			"annotations": map[string]string{"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "1"},
		}},
	})
	var out bytes.Buffer
	ow := tar.NewWriter(&out)
	put := func(n string, b []byte) {
		ow.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		ow.Write(b)
	}
	put("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	put("index.json", index)
	for d, b := range blobs {
		put("blobs/sha256/"+strings.TrimPrefix(d, "sha256:"), b)
	}
	ow.Close()
	return out.Bytes()
}

// TestImage: an image imported with `ctr images import` (no km inside it)
// runs under km with the image's command and environment.
func TestImage(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d *daemon) {
		name := "docker.io/kmtest/ident:1"
		img := ociImage(t, name, map[string]string{
			"bin/ident": filepath.Join(rootfs, "ident"),
			"bin/hello": filepath.Join(rootfs, "hello"),
		}, []string{"/bin/ident", "IMAGE_VAR"})
		tarPath := filepath.Join(work, d.name+"-image.tar")
		os.WriteFile(tarPath, img, 0o644)
		if r := d.ctr(nil, "images", "import", tarPath); r.code != 0 {
			t.Fatalf("import: %v", r)
		}
		before := snapshot()
		want := d.ctr(nil, "run", "--rm", "--runtime", runcRuntime, name, cid(t, "img-runc"))
		got := d.ctr(nil, "run", "--rm", "--runtime", kmRuntime, name, cid(t, "img"))
		if got.code != 0 || got.stdout != want.stdout || !strings.Contains(got.stdout, "IMAGE_VAR=from-image") {
			t.Errorf("km:   %v\nrunc: %v", got, want)
		}
		got = d.ctr(nil, "run", "--rm", "--runtime", kmRuntime, name, cid(t, "img"), "hello")
		if got.code != 0 || got.stdout != "hello, world\n" {
			t.Errorf("km hello from the image: %v", got)
		}
		checkNoLeaks(t, before)
		d.ctr(nil, "images", "rm", name)
	})
}
