package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRootEscape runs the escape payload under km --root with a secret file
// just outside the root and many ways of reaching it: .. beyond the root,
// absolute and relative symlinks, a symlink to "/", symlink loops, /proc
// tricks and directory fds. Nothing from outside the root may be read,
// listed or created.
//
// Layout on the host:
//
//	D/secret.txt       "SECRET"
//	D/outside-marker   a file whose name must never show up in a listing
//	D/root/            the guest's root
func TestRootEscape(t *testing.T) {
	for _, variant := range []string{"plain", "fake-proc"} {
		for _, fl := range cFlavours {
			t.Run(variant+"/"+fl.name, func(t *testing.T) {
				t.Parallel()
				testRootEscape(t, fl, payload(t, fl.name, "escape"), variant == "fake-proc")
			})
		}
	}
}

func testRootEscape(t *testing.T, fl flavour, bin string, fakeProc bool) {
	d := t.TempDir()
	secret := filepath.Join(d, "secret.txt")
	writeFile(t, secret, []byte("SECRET\n"), 0o644)
	writeFile(t, filepath.Join(d, "outside-marker"), []byte("OUTSIDE\n"), 0o644)

	root := filepath.Join(d, "root")
	writeFile(t, filepath.Join(root, "work", ".keep"), nil, 0o644)
	copyFile(t, bin, filepath.Join(root, "escape"), 0o755)
	if fl.dynamic {
		addDynamicLibs(t, root, bin)
	}
	writeFile(t, filepath.Join(root, "inside.txt"), []byte("inside\n"), 0o644)
	symlink(t, secret, filepath.Join(root, "abs-link"))
	symlink(t, d, filepath.Join(root, "abs-dir-link"))
	symlink(t, strings.Repeat("../", 20)+strings.TrimPrefix(secret, "/"), filepath.Join(root, "rel-link"))
	symlink(t, "../../secret.txt", filepath.Join(root, "work", "rel-link2"))
	symlink(t, "/", filepath.Join(root, "root-link"))
	symlink(t, "loop-b", filepath.Join(root, "loop-a"))
	symlink(t, "loop-a/", filepath.Join(root, "loop-b"))
	symlink(t, "../..", filepath.Join(root, "dirloop", "up"))
	symlink(t, "../dirloop", filepath.Join(root, "dirloop", "again"))
	if fakeProc {
		// A /proc inside the root whose magic-looking links point at the
		// (guest) root: they must resolve inside the root.
		symlink(t, "/", filepath.Join(root, "proc", "self", "root"))
		symlink(t, "/", filepath.Join(root, "proc", "1", "root"))
		symlink(t, "/work", filepath.Join(root, "proc", "self", "cwd"))
	}

	// Sanity check of the payload: natively nothing confines it, so it must
	// find the secret (otherwise the test below would prove nothing).
	native := run(t, runOpts{dir: filepath.Join(root, "work")}, filepath.Join(root, "escape"), "../../secret.txt", "../abs-link")
	if strings.Count(string(native.stdout), "open: opened:SECRET\n") != 2 {
		t.Fatalf("escape payload does not detect the secret natively:\n%s", native)
	}

	paths := []string{
		// Controls: these are inside the root and must work.
		"/inside.txt", "/work", "/",
		// Plain .. beyond the root.
		"/..", "/../..", "..", "../..", "../../..",
		"/../secret.txt", "/../../secret.txt", "../secret.txt", "../../secret.txt",
		strings.Repeat("/..", 12) + secret,
		strings.Repeat("../", 12) + strings.TrimPrefix(secret, "/"),
		secret, d, "/dev/../../secret.txt", "/work/../../secret.txt",
		// Symlinks.
		"/abs-link", "/abs-dir-link", "/abs-dir-link/secret.txt",
		"/rel-link", "/work/rel-link2", "rel-link2",
		"/root-link", "/root-link" + secret, "/root-link/..", "/root-link/../secret.txt",
		"/root-link/root-link/../../secret.txt",
		"/loop-a", "/loop-a/x", "/loop-b/secret.txt",
		"/dirloop/up", "/dirloop/up/secret.txt", "/dirloop/up/inside.txt",
		"/dirloop/again/again/again/up/up/secret.txt",
		// /proc tricks.
		"/proc/self/root" + secret, "/proc/1/root" + secret,
		"/proc/self/root/..", "/proc/self/root/../secret.txt",
		"/proc/self/cwd/../../secret.txt", "/proc/self/cwd/../..",
		"/proc/self/fd/3/../secret.txt",
	}
	r := runKM(t, runOpts{dir: d}, append([]string{"--root", root, "--cwd", "/work", "/escape"}, paths...)...)
	if r.timedOut {
		return
	}
	checkNoPanic(t, r)
	out := string(r.stdout) + string(r.stderr)
	for _, leak := range []string{"SECRET", "OUTSIDE", "outside-marker"} {
		if strings.Contains(out, leak) {
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, leak) {
					t.Errorf("ESCAPE: output shows %q from outside the root: %s", leak, l)
				}
			}
		}
	}
	if r.code != 0 || !strings.HasSuffix(string(r.stdout), "done\n") {
		t.Errorf("escape payload did not run to completion under km\n%s", r)
	}
	for _, want := range []string{
		"[/inside.txt] open: opened:inside\n",
		"[/work] create probe: created\n",
		"[/dirloop/up/inside.txt] open: opened:inside\n",
	} {
		if !strings.Contains(string(r.stdout), want) {
			t.Errorf("control failed: stdout lacks %q", want)
		}
	}

	// No probe file may have been created outside the root.
	for dir := d; ; dir = filepath.Dir(dir) {
		probe := filepath.Join(dir, "escape-probe")
		if _, err := os.Lstat(probe); err == nil {
			t.Errorf("ESCAPE: the guest created %s outside its root", probe)
			os.Remove(probe)
		}
		if dir == "/" {
			break
		}
	}
	if data, err := os.ReadFile(secret); err != nil || string(data) != "SECRET\n" {
		t.Errorf("ESCAPE: the secret file was changed: %q, %v", data, err)
	}
	if t.Failed() {
		// The whole output, unclipped: every line is one attempt.
		t.Logf("km run: %q\nstatus %d\nstdout:\n%s\nstderr:\n%s", r.argv, r.code, r.stdout, r.stderr)
	}
}
