package cri_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kmvm/km/test/ociimage"
	"github.com/kmvm/km/test/pyroot"
)

const pythonImage = "docker.io/kmtest/python:1"

var (
	pythonOnce sync.Once
	pythonTar  string
	pythonErr  error
)

// buildPythonImage packs test/pyroot's python root (Debian's python3.11
// and its standard library) as a one-layer image, once per suite.
func buildPythonImage() (string, error) {
	pythonOnce.Do(func() {
		dir := filepath.Join(work, "pyroot")
		if pythonErr = os.MkdirAll(dir, 0o755); pythonErr != nil {
			return
		}
		if pythonErr = pyroot.Build(dir); pythonErr != nil {
			return
		}
		layer, err := ociimage.DirLayer(dir)
		if err != nil {
			pythonErr = err
			return
		}
		img, err := ociimage.Layout(pythonImage, layer, []string{"/usr/bin/python3"})
		if err != nil {
			pythonErr = err
			return
		}
		pythonTar = filepath.Join(work, "python.tar")
		pythonErr = os.WriteFile(pythonTar, img, 0o644)
		os.RemoveAll(dir)
	})
	return pythonTar, pythonErr
}

// importImage imports an image tar into CRI's namespace and waits until
// CRI sees it (CRI learns of images from containerd's events).
func (d *daemon) importImage(t *testing.T, tarPath, ref string) {
	t.Helper()
	if out, err := d.ctr("images", "import", tarPath); err != nil {
		t.Fatalf("import %s: %v\n%s", tarPath, err, out)
	}
	deadline := time.Now().Add(rpcTimeout)
	for {
		ctx, cancel := rpcCtx()
		r, err := d.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
		cancel()
		if err == nil && r.Image != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("CRI does not see image %s: %v", ref, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPython: Debian's dynamically linked python3 as a container of a km
// pod, its output in the CRI log and its exit code in the status.
func TestPython(t *testing.T) {
	tarPath, err := buildPythonImage()
	if err != nil {
		t.Fatalf("python image: %v", err)
	}
	forEachDaemon(t, func(t *testing.T, d *daemon) {
		d.importImage(t, tarPath, pythonImage)
		before := snapshot()
		p := runPod(t, d, podSpec{})
		script := `import json, os, sys
print("python", sys.version_info[0], os.environ["KM_CRI"])
print(json.dumps({"sum": sum(range(10))}))
sys.exit(4)`
		id := p.run("py", ctrSpec{image: pythonImage}, "/usr/bin/python3", "-c", script)
		if s := p.waitExit(id); s.ExitCode != 4 {
			t.Errorf("python: exit code %d (reason %q, message %q), want 4", s.ExitCode, s.Reason, s.Message)
		}
		lines := p.exitedLog("py")
		if got := strings.Join(stdout(lines), "\n"); got != "python 3 yes\n{\"sum\": 45}" {
			t.Errorf("python: CRI log %v", lines)
		}
		p.removeContainer(id)
		p.remove()
		checkNoLeaks(t, before, d.shimSocket(p.id))
		checkNoCgroups(t, podCgroupParent(p.cfg.Metadata.Name))
	})
}
