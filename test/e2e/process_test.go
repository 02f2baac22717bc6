package e2e

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// busyboxPath is Debian's busybox-static (scripts/install-test-deps.sh).
const busyboxPath = "/bin/busybox"

// TestBusyboxShell runs a busybox shell pipeline (fork, pipes, execve of
// applets through symlinks, wait4, exit status) in a root holding only
// busybox, natively in a chroot of an identical root and under km.
func TestBusyboxShell(t *testing.T) {
	if out, err := exec.Command("file", "-L", busyboxPath).Output(); err == nil && !bytes.Contains(out, []byte("statically linked")) {
		t.Fatalf("%s is not static (install busybox-static): %s", busyboxPath, out)
	}
	mkRoot := func() string {
		root := newRoot(t, map[string]string{"bin/busybox": busyboxPath})
		for _, applet := range []string{"sh", "cat", "ls", "wc", "echo", "true", "false"} {
			symlink(t, "busybox", filepath.Join(root, "bin", applet))
		}
		return root
	}
	script := `echo a | cat; ls / | wc -l; true && echo and; false || echo or; x=$(echo sub); echo $x; (exit 5); echo $?; exit 3`

	nroot := mkRoot()
	cmd := exec.Command("/bin/busybox", "sh", "-c", script)
	cmd.Env = []string{"PATH=/bin"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: nroot}
	var nout bytes.Buffer
	cmd.Stdout = &nout
	err := cmd.Run()
	ncode := 0
	if ee, ok := err.(*exec.ExitError); ok {
		ncode = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("native busybox in a chroot (needs root): %v", err)
	}
	if ncode != 3 || !strings.HasPrefix(nout.String(), "a\n") {
		t.Fatalf("native run: status %d, output %q", ncode, nout.String())
	}

	kroot := mkRoot()
	km := runKM(t, runOpts{env: []string{"PATH=/bin"}}, "--root", kroot, "--clear-env", "--env", "PATH=/bin",
		"/bin/busybox", "sh", "-c", script)
	checkNoPanic(t, km)
	if km.stdout == nil || string(km.stdout) != nout.String() || km.code != ncode {
		t.Errorf("native: status %d stdout %q\nkm run:\n%s", ncode, nout.String(), km)
	}
	if len(km.stderr) != 0 {
		t.Errorf("km wrote to stderr:\n%s", km)
	}
}

// TestShebangProgram runs #! scripts given to km itself.
func TestShebangProgram(t *testing.T) {
	root := newRoot(t, map[string]string{"bin/busybox": busyboxPath})
	symlink(t, "busybox", filepath.Join(root, "bin", "sh"))
	writeFile(t, filepath.Join(root, "script"), []byte("#!/bin/sh -e\necho \"script args: $0 $*\"\nexit 4\n"), 0o755)
	km := runKM(t, runOpts{}, "--root", root, "--clear-env", "/script", "one", "two")
	checkNoPanic(t, km)
	if want := "script args: /script one two\n"; string(km.stdout) != want || km.code != 4 {
		t.Errorf("want stdout %q and status 4\n%s", want, km)
	}
	// Unconfined, too: a #! script given to km by host path.
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "s.sh"), []byte("#!"+busyboxPath+" sh\necho unconfined $1\n"), 0o755)
	km = runKM(t, runOpts{dir: dir}, "./s.sh", "arg")
	if string(km.stdout) != "unconfined arg\n" || km.code != 0 {
		t.Errorf("unconfined script:\n%s", km)
	}
}
