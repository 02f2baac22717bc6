package shim_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmvm/km/test/ociimage"
)

// ociImage builds an OCI image layout tar holding the given files in one
// layer, with cmd as its entrypoint.
func ociImage(t *testing.T, name string, files map[string]string, cmd []string) []byte {
	t.Helper()
	img, err := ociimage.Image(name, files, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return img
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
