// Package pyroot builds a guest root holding Debian's python3.11: the
// interpreter, the shared libraries it and its extension modules need (as
// ldd reports them), the standard library without its test suites, and the
// little of /etc and /usr/lib/ssl that ssl reads. Tests and benchmarks run
// `km --root DIR /usr/bin/python3` against it and host python3 natively.
package pyroot

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Python is the interpreter, as a guest path and on the host.
const Python = "/usr/bin/python3.11"

const stdlib = "/usr/lib/python3.11"

// Standard-library directories a program does not need: test suites, GUI
// and tooling, and the static library for embedding.
var skipDirs = map[string]bool{
	"test": true, "tests": true, "idle_test": true, "idlelib": true, "tkinter": true, "turtledemo": true,
	"ensurepip": true, "lib2to3": true, "config-3.11-x86_64-linux-gnu": true,
}

// Extra host files and trees copied as they are (when present).
var extras = []string{"/etc/python3.11", "/usr/lib/ssl/openssl.cnf", "/etc/ssl/openssl.cnf", "/bin/echo", "/usr/bin/echo"}

// Build fills dir (which must exist) with the python root.
func Build(dir string) error {
	if _, err := os.Stat(Python); err != nil {
		return fmt.Errorf("%s is not installed (apt-get install python3.11 libpython3.11-stdlib): %w", Python, err)
	}
	for _, d := range []string{"tmp", "work", "usr/bin", "lib64"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	os.Chmod(filepath.Join(dir, "tmp"), 0o1777)
	if err := copyFile(Python, filepath.Join(dir, Python)); err != nil {
		return err
	}
	if err := os.Symlink("python3.11", filepath.Join(dir, "usr/bin/python3")); err != nil {
		return err
	}
	// /usr/lib/ssl's links into /etc/ssl.
	os.MkdirAll(filepath.Join(dir, "usr/lib/ssl"), 0o755)
	os.Symlink("/etc/ssl/certs", filepath.Join(dir, "usr/lib/ssl/certs"))

	// The standard library, keeping symlinks and __pycache__ (the same
	// bytecode the native run uses, so neither side compiles).
	var elfs []string
	err := filepath.WalkDir(stdlib, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, p)
		switch {
		case d.IsDir():
			if skipDirs[d.Name()] {
				return filepath.SkipDir
			}
			return os.MkdirAll(dst, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(t, dst)
		case d.Type().IsRegular():
			if strings.HasSuffix(p, ".so") {
				elfs = append(elfs, p)
			}
			return copyFile(p, dst)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range extras {
		if err := copyTree(e, filepath.Join(dir, e)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	// Shared libraries of the interpreter, the extension modules and echo.
	// glibc dlopens libgcc_s for pthread_exit and cancellation unwinding;
	// ldd does not list it.
	libs := map[string]bool{"/lib/x86_64-linux-gnu/libgcc_s.so.1": true}
	for _, e := range append(elfs, Python, "/usr/bin/echo") {
		out, err := exec.Command("ldd", e).Output()
		if err != nil {
			continue // not dynamic, or a module whose libraries are missing on the host
		}
		for _, l := range lddPaths(out) {
			libs[l] = true
		}
	}
	for l := range libs {
		real, err := filepath.EvalSymlinks(l)
		if err != nil {
			return err
		}
		if err := copyFile(real, filepath.Join(dir, l)); err != nil {
			return err
		}
	}
	return nil
}

// lddPaths extracts absolute paths from ldd output.
func lddPaths(out []byte) []string {
	var paths []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		for i, w := range f {
			if w == "=>" && i+1 < len(f) && strings.HasPrefix(f[i+1], "/") {
				paths = append(paths, f[i+1])
			}
		}
		if len(f) > 0 && strings.HasPrefix(f[0], "/") {
			paths = append(paths, f[0])
		}
	}
	return paths
}

func copyTree(src, dst string) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return copyFile(src, dst)
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if d.Type().IsRegular() {
			return copyFile(p, filepath.Join(dst, rel))
		}
		return nil
	})
}

// copyFile copies a regular file (following symlinks), keeping its mode and
// modification time (python checks .pyc files against the source's mtime).
func copyFile(src, dst string) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chtimes(dst, st.ModTime(), st.ModTime())
}
