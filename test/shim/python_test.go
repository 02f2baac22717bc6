package shim_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pythonRootfs hard-links Debian's python3 and everything it loads into a
// rootfs (hard links: instant, no copy).
func pythonRootfs(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("/usr/bin/python3")
	if err != nil {
		t.Fatal("python3 is needed (scripts/install-test-deps.sh installs it)")
	}
	py, _ = filepath.EvalSymlinks(py)
	dir := filepath.Join(work, "pyroot")
	if _, err := os.Stat(filepath.Join(dir, "usr/bin/python3")); err == nil {
		return dir
	}
	out, err := exec.Command("ldd", py).Output()
	if err != nil {
		t.Fatal(err)
	}
	files := []string{py}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "/") {
			files = append(files, f)
		}
	}
	version := filepath.Base(py) // python3.11
	for _, f := range files {
		dst := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if b, err := exec.Command("cp", "-aL", f, dst).CombinedOutput(); err != nil {
			t.Fatalf("cp %s: %v %s", f, err, b)
		}
	}
	os.MkdirAll(filepath.Join(dir, "usr/lib"), 0o755)
	if b, err := exec.Command("cp", "-al", "/usr/lib/"+version, filepath.Join(dir, "usr/lib/")).CombinedOutput(); err != nil {
		t.Fatalf("cp stdlib: %v %s", err, b)
	}
	os.Symlink(version, filepath.Join(dir, "usr/bin/python3"))
	for _, d := range []string{"tmp", "etc", "lib64"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	// /lib64/ld-linux-x86-64.so.2 as the ELF interpreter path.
	if _, err := os.Stat(filepath.Join(dir, "lib64/ld-linux-x86-64.so.2")); err != nil {
		exec.Command("cp", "-aL", "/lib64/ld-linux-x86-64.so.2", filepath.Join(dir, "lib64/")).Run()
	}
	return dir
}

// TestPython: Debian's dynamically linked python3 gives runc's output.
func TestPython(t *testing.T) {
	root := pythonRootfs(t)
	forEachDaemon(t, func(t *testing.T, d *daemon) {
		before := snapshot()
		argv := []string{"/usr/bin/python3", "-S", "-c", "import sys, os; print(6*7, os.getcwd(), sys.argv[1:]); sys.exit(3)", "a b"}
		run := func(rt string) result {
			args := append([]string{"run", "--rm", "--runtime", rt, "--rootfs", root, cid(t, "py")}, argv...)
			return d.ctr(nil, args...)
		}
		want, got := run(runcRuntime), run(kmRuntime)
		if want.code != 3 || want.stdout != "42 / ['a b']\n" {
			t.Fatalf("runc baseline: %v", want)
		}
		if got.code != want.code || got.stdout != want.stdout {
			t.Errorf("km:   %v\nrunc: %v", got, want)
		}
		checkNoLeaks(t, before)
	})
}
