package runtime

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The committed vdso.so is what vdso.c builds to.
func TestVDSOBlobMatchesSource(t *testing.T) {
	out := filepath.Join(t.TempDir(), "vdso.so")
	if b, err := exec.Command("vdso/build.sh", out).CombinedOutput(); err != nil {
		t.Fatalf("vdso/build.sh: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, vdsoSO) {
		t.Fatalf("runtime/vdso/vdso.so is stale: run go generate ./runtime")
	}
}

// The image has the shape libcs and the Go runtime expect of a vDSO: one
// PT_LOAD at offset 0 = address 0 (they find .dynamic by file offset), no
// relocations, and the LINUX_2.6 symbols.
func TestVDSOImage(t *testing.T) {
	f, err := elf.NewFile(bytes.NewReader(vdsoSO))
	if err != nil {
		t.Fatal(err)
	}
	loads := 0
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			loads++
			if p.Off != 0 || p.Vaddr != 0 {
				t.Errorf("PT_LOAD at offset %#x, address %#x; want 0, 0", p.Off, p.Vaddr)
			}
		case elf.PT_DYNAMIC:
			if p.Off != p.Vaddr {
				t.Errorf("PT_DYNAMIC offset %#x != address %#x", p.Off, p.Vaddr)
			}
		}
	}
	if loads != 1 {
		t.Errorf("%d PT_LOAD segments, want 1", loads)
	}
	for _, s := range f.Sections {
		if s.Type == elf.SHT_RELA || s.Type == elf.SHT_REL {
			t.Errorf("relocation section %s: the vDSO is not relocated", s.Name)
		}
	}
	if so, _ := f.DynString(elf.DT_SONAME); len(so) != 1 || so[0] != "linux-vdso.so.1" {
		t.Errorf("soname %v", so)
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]string{}
	for _, s := range syms {
		if s.Section != elf.SHN_UNDEF {
			have[s.Name] = s.Version
		}
	}
	for _, name := range []string{"__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time", "__vdso_clock_getres",
		"__vdso_getcpu", "clock_gettime", "gettimeofday", "time", "clock_getres", "getcpu"} {
		if v, ok := have[name]; !ok || v != "LINUX_2.6" {
			t.Errorf("symbol %s: present %v, version %q; want LINUX_2.6", name, ok, v)
		}
	}
	img, err := vdsoImage()
	if err != nil || len(img)%pageSize != 0 || !bytes.Equal(img[:f.Progs[0].Filesz], vdsoSO[:f.Progs[0].Filesz]) {
		t.Errorf("loaded image: %d bytes, %v", len(img), err)
	}
}
