package e2e

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// addDynamicLibs copies what the dynamically linked bin needs into root, at
// the same paths as on the host: its interpreter (PT_INTERP) and, for glibc
// programs, the libraries ldd lists. musl's loader is its libc as well.
func addDynamicLibs(t testing.TB, root, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var interp string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				t.Fatal(err)
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	if interp == "" {
		t.Fatalf("%s has no PT_INTERP", bin)
	}
	copyHostFile(t, root, interp)
	if strings.Contains(interp, "musl") {
		return
	}
	for _, lib := range lddLibs(t, bin) {
		copyHostFile(t, root, lib)
	}
	// glibc dlopens the unwinder for pthread_cancel and backtraces.
	const libgcc = "/lib/x86_64-linux-gnu/libgcc_s.so.1"
	if _, err := os.Stat(libgcc); err == nil {
		copyHostFile(t, root, libgcc)
	}
}

// lddLibs lists the absolute library paths ldd reports for bin.
func lddLibs(t testing.TB, bin string) []string {
	t.Helper()
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		t.Fatalf("ldd %s: %v", bin, err)
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		for i, f := range fields {
			if f == "=>" && i+1 < len(fields) && strings.HasPrefix(fields[i+1], "/") {
				libs = append(libs, fields[i+1])
			}
		}
		if len(fields) > 0 && strings.HasPrefix(fields[0], "/") {
			libs = append(libs, fields[0]) // the loader's own line
		}
	}
	return libs
}

// copyHostFile copies host file p (following symlinks) to root/p.
func copyHostFile(t testing.TB, root, p string) {
	t.Helper()
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, real, filepath.Join(root, p), 0o755)
}
