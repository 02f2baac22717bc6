package e2e

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Hand-made ELF images. Each is a single code blob preceded by the ELF
// header and program headers; one PT_LOAD maps the whole file at base.

// x86-64: write(1, "hi\n", 3); exit_group(3).
var amd64Code = []byte{
	0xbf, 0x01, 0x00, 0x00, 0x00, // mov edi, 1
	0x48, 0x8d, 0x35, 0x18, 0x00, 0x00, 0x00, // lea rsi, [rip+0x18] (msg)
	0xba, 0x03, 0x00, 0x00, 0x00, // mov edx, 3
	0xb8, 0x01, 0x00, 0x00, 0x00, // mov eax, 1 (write)
	0x0f, 0x05, // syscall
	0xbf, 0x03, 0x00, 0x00, 0x00, // mov edi, 3
	0xb8, 0xe7, 0x00, 0x00, 0x00, // mov eax, 231 (exit_group)
	0x0f, 0x05, // syscall
	'h', 'i', '\n', // msg
}

// i386: exit(0) via int 0x80.
var i386Code = []byte{
	0xb8, 0x01, 0x00, 0x00, 0x00, // mov eax, 1
	0xbb, 0x00, 0x00, 0x00, 0x00, // mov ebx, 0
	0xcd, 0x80, // int 0x80
}

// aarch64: exit(0).
var arm64Code = []byte{
	0x00, 0x00, 0x80, 0xd2, // mov x0, #0
	0xa8, 0x0b, 0x80, 0xd2, // mov x8, #93
	0x01, 0x00, 0x00, 0xd4, // svc #0
}

func elfIdent(class elf.Class) [elf.EI_NIDENT]byte {
	return [elf.EI_NIDENT]byte{0x7f, 'E', 'L', 'F', byte(class), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT), byte(elf.ELFOSABI_NONE)}
}

// elf64 builds a 64-bit ET_EXEC image for machine. The first PT_LOAD maps
// the whole file at base; extra program headers are appended after it.
func elf64(machine elf.Machine, code []byte, extra ...elf.Prog64) []byte {
	const base = 0x400000
	phnum := 1 + len(extra)
	codeOff := 64 + 56*phnum
	size := uint64(codeOff + len(code))
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, elf.Header64{
		Ident:     elfIdent(elf.ELFCLASS64),
		Type:      uint16(elf.ET_EXEC),
		Machine:   uint16(machine),
		Version:   uint32(elf.EV_CURRENT),
		Entry:     base + uint64(codeOff),
		Phoff:     64,
		Ehsize:    64,
		Phentsize: 56,
		Phnum:     uint16(phnum),
		Shentsize: 64,
	})
	progs := append([]elf.Prog64{{
		Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X),
		Off: 0, Vaddr: base, Paddr: base, Filesz: size, Memsz: size, Align: 0x1000,
	}}, extra...)
	binary.Write(&b, binary.LittleEndian, progs)
	b.Write(code)
	return b.Bytes()
}

// elf32 builds a 32-bit i386 ET_EXEC image.
func elf32(code []byte) []byte {
	const base = 0x08048000
	codeOff := 52 + 32
	size := uint32(codeOff + len(code))
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, elf.Header32{
		Ident:     elfIdent(elf.ELFCLASS32),
		Type:      uint16(elf.ET_EXEC),
		Machine:   uint16(elf.EM_386),
		Version:   uint32(elf.EV_CURRENT),
		Entry:     base + uint32(codeOff),
		Phoff:     52,
		Ehsize:    52,
		Phentsize: 32,
		Phnum:     1,
		Shentsize: 40,
	})
	binary.Write(&b, binary.LittleEndian, elf.Prog32{
		Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X),
		Off: 0, Vaddr: base, Paddr: base, Filesz: size, Memsz: size, Align: 0x1000,
	})
	b.Write(code)
	return b.Bytes()
}

// overlappingELF is the valid amd64 image plus a second, writable PT_LOAD
// whose range overlaps the first: [0x400000,0x403000) and [0x401000,0x403000).
func overlappingELF() []byte {
	img := elf64(elf.EM_X86_64, amd64Code, elf.Prog64{
		Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_W),
		Off: 0, Vaddr: 0x401000, Paddr: 0x401000, Filesz: 0x100, Memsz: 0x2000, Align: 0x1000,
	})
	// Stretch the first segment's memory size over the second one.
	hdr := 64
	binary.LittleEndian.PutUint64(img[hdr+40:], 0x3000) // Prog64.Memsz
	return img
}

// TestHandMadeELF checks the ELF generator itself: the valid amd64 image
// runs natively and under km with the same result, and every image parses
// as intended with debug/elf.
func TestHandMadeELF(t *testing.T) {
	for _, c := range []struct {
		name    string
		img     []byte
		class   elf.Class
		machine elf.Machine
		loads   int
	}{
		{"amd64", elf64(elf.EM_X86_64, amd64Code), elf.ELFCLASS64, elf.EM_X86_64, 1},
		{"i386", elf32(i386Code), elf.ELFCLASS32, elf.EM_386, 1},
		{"arm64", elf64(elf.EM_AARCH64, arm64Code), elf.ELFCLASS64, elf.EM_AARCH64, 1},
		{"overlap", overlappingELF(), elf.ELFCLASS64, elf.EM_X86_64, 2},
	} {
		f, err := elf.NewFile(bytes.NewReader(c.img))
		if err != nil {
			t.Errorf("%s: debug/elf rejects the image: %v", c.name, err)
			continue
		}
		loads := 0
		for _, p := range f.Progs {
			if p.Type == elf.PT_LOAD {
				loads++
			}
		}
		if f.Class != c.class || f.Machine != c.machine || loads != c.loads {
			t.Errorf("%s: got class %v machine %v %d PT_LOADs", c.name, f.Class, f.Machine, loads)
		}
	}

	dir := t.TempDir()
	prog := filepath.Join(dir, "tiny")
	writeFile(t, prog, elf64(elf.EM_X86_64, amd64Code), 0o755)
	native := run(t, runOpts{dir: dir}, prog)
	if native.code != 3 || string(native.stdout) != "hi\n" {
		t.Fatalf("hand-made ELF misbehaves natively:\n%s", native)
	}
	km := runKM(t, runOpts{dir: dir}, prog)
	checkNoPanic(t, km)
	if km.code != native.code || !bytes.Equal(km.stdout, native.stdout) || len(km.stderr) != 0 {
		t.Errorf("hand-made ELF under km differs from native (want status 3, stdout \"hi\\n\", no stderr):\n%s", km)
	}
}

// TestBadInput feeds km things it must refuse cleanly: one "km: " line on
// stderr, no panic, the documented exit status, and no hang.
func TestBadInput(t *testing.T) {
	hello := payload(t, "gcc-static", "hello")
	helloBytes, err := os.ReadFile(hello)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		// make creates the input in dir and returns km's arguments.
		make     func(t *testing.T, dir string) []string
		wantCode int // 0 means any non-zero status
	}{
		{"missing-program", func(t *testing.T, dir string) []string {
			return []string{filepath.Join(dir, "does-not-exist")}
		}, 127},
		{"missing-program-in-root", func(t *testing.T, dir string) []string {
			root := newRoot(t, nil)
			return []string{"--root", root, "/does-not-exist"}
		}, 127},
		{"empty-file", file("empty", nil), 126},
		{"text-file", file("notes.txt", []byte("this is just some text\nnot a program\n")), 126},
		{"script-without-shebang", file("script", []byte("echo hello\nexit 3\n")), 126},
		{"truncated-elf", file("truncated", helloBytes[:200]), 126},
		{"elf32-i386", file("i386", elf32(i386Code)), 126},
		{"elf64-aarch64", file("aarch64", elf64(elf.EM_AARCH64, arm64Code)), 126},
		{"overlapping-pt-load", file("overlap", overlappingELF()), 126},
		{"directory", func(t *testing.T, dir string) []string {
			return []string{dir}
		}, 0},
		{"missing-kvm-device", func(t *testing.T, dir string) []string {
			return []string{"--kvm-device", "/nonexistent", hello}
		}, 125},
		{"kvm-device-not-kvm", func(t *testing.T, dir string) []string {
			return []string{"--kvm-device", "/dev/null", hello}
		}, 125},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			args := c.make(t, dir)
			r := runKM(t, runOpts{dir: dir, timeout: 20 * time.Second}, args...)
			if r.timedOut {
				return
			}
			checkOneKMLine(t, r)
			switch {
			case c.wantCode == 0 && r.code == 0:
				t.Errorf("want a non-zero exit status\n%s", r)
			case c.wantCode != 0 && r.code != c.wantCode:
				t.Errorf("want exit status %d, got %d\n%s", c.wantCode, r.code, r)
			}
			if len(r.stdout) != 0 {
				t.Errorf("want no stdout\n%s", r)
			}
		})
	}
}

// file returns a TestBadInput maker that writes data to an executable file.
func file(name string, data []byte) func(t *testing.T, dir string) []string {
	return func(t *testing.T, dir string) []string {
		p := filepath.Join(dir, name)
		writeFile(t, p, data, 0o755)
		return []string{p}
	}
}
