package runtime

// Fuzz tests for the monitor's untrusted-input boundaries: the ELF parser, the
// guest-pointer translation in memory.go, and the syscall handlers.
//
//	go test ./runtime -run '^$' -fuzz '^FuzzParseELF$' -fuzztime 60s
//	go test ./runtime -run '^$' -fuzz '^FuzzGuestMemory$' -fuzztime 60s
//	go test ./runtime -run '^$' -fuzz '^FuzzSyscallArgs$' -fuzztime 60s
//	go test ./runtime -run '^$' -fuzz '^FuzzSyscallSeq$' -fuzztime 60s
//
// The syscall fuzzers build a real VM and vCPU, so they need /dev/kvm; they
// fail, rather than skip, without it. Their inputs cost a few hundred
// microseconds each, so unless -fuzzminimizetime is given they lower it to
// 5s: the default (60s) would have the fuzzer spend most of a short run
// minimizing new corpus entries (its pass over []byte is quadratic).

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ---------------------------------------------------------------------------
// FuzzParseELF

// buildELF64 assembles an ELF64 file: header, program headers at offset 64,
// then payload.
func buildELF64(order binary.ByteOrder, data elf.Data, typ elf.Type, mach elf.Machine, entry uint64, progs []elf.Prog64, payload []byte) []byte {
	hdr := elf.Header64{
		Type: uint16(typ), Machine: uint16(mach), Version: uint32(elf.EV_CURRENT), Entry: entry,
		Phoff: 64, Ehsize: 64, Phentsize: 56, Phnum: uint16(len(progs)), Shentsize: 64,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(data)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var buf bytes.Buffer
	binary.Write(&buf, order, &hdr)
	for i := range progs {
		binary.Write(&buf, order, &progs[i])
	}
	buf.Write(payload)
	return buf.Bytes()
}

// exitCode is `xor %edi,%edi; mov $60,%eax; syscall`.
var exitCode = []byte{0x31, 0xff, 0xb8, 0x3c, 0x00, 0x00, 0x00, 0x0f, 0x05}

// minimalELF is a valid x86-64 executable: PT_PHDR, an optional PT_INTERP, a
// bss-only PT_LOAD listed before the text PT_LOAD (parseELF must sort them),
// and the text segment covering the whole file.
func minimalELF(order binary.ByteOrder, data elf.Data, typ elf.Type, mach elf.Machine, interp string) []byte {
	base := uint64(0x400000)
	if typ == elf.ET_DYN {
		base = 0
	}
	n := 3
	if interp != "" {
		n++
	}
	hdrEnd := uint64(64 + 56*n)
	var payload []byte
	interpOff := hdrEnd
	if interp != "" {
		payload = append(payload, interp...)
		payload = append(payload, 0)
	}
	codeOff := hdrEnd + uint64(len(payload))
	payload = append(payload, exitCode...)
	fileLen := hdrEnd + uint64(len(payload))

	progs := []elf.Prog64{{Type: uint32(elf.PT_PHDR), Flags: uint32(elf.PF_R), Off: 64, Vaddr: base + 64, Paddr: base + 64,
		Filesz: uint64(56 * n), Memsz: uint64(56 * n), Align: 8}}
	if interp != "" {
		progs = append(progs, elf.Prog64{Type: uint32(elf.PT_INTERP), Flags: uint32(elf.PF_R), Off: interpOff,
			Vaddr: base + interpOff, Paddr: base + interpOff, Filesz: uint64(len(interp) + 1), Memsz: uint64(len(interp) + 1), Align: 1})
	}
	progs = append(progs,
		elf.Prog64{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_W), Off: 0, Vaddr: base + 0x200000,
			Paddr: base + 0x200000, Filesz: 0, Memsz: 0x3000, Align: 0x1000},
		elf.Prog64{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Off: 0, Vaddr: base, Paddr: base,
			Filesz: fileLen, Memsz: fileLen, Align: 0x1000})
	return buildELF64(order, data, typ, mach, base+codeOff, progs, payload)
}

// elf32Header is a valid 32-bit i386 executable with one PT_LOAD.
func elf32Header() []byte {
	hdr := elf.Header32{Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_386), Version: uint32(elf.EV_CURRENT),
		Entry: 0x8048054, Phoff: 52, Ehsize: 52, Phentsize: 32, Phnum: 1, Shentsize: 40}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS32)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	ph := elf.Prog32{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Off: 0, Vaddr: 0x8048000,
		Paddr: 0x8048000, Filesz: 0x60, Memsz: 0x60, Align: 0x1000}
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, &hdr)
	binary.Write(&buf, binary.LittleEndian, &ph)
	buf.Write(make([]byte, 0x60-buf.Len()))
	return buf.Bytes()
}

const (
	helloC = "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n"
	// tinyC needs no libc: it makes real gcc-built executables of 1-2 KB.
	// Seeds must be that small: the fuzzer minimizes every new interesting
	// input with a quadratic pass, which on a multi-KB input runs for the
	// whole -fuzzminimizetime (60 s) and stalls fuzzing meanwhile.
	tinyC = `static const char msg[] = "hello\n";
void _start(void) {
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(1L), "D"(1L), "S"(msg), "d"(sizeof msg - 1) : "rcx", "r11", "memory");
	__asm__ volatile("syscall" : : "a"(60L), "D"(0L) : "rcx", "r11");
	for (;;) {}
}
`
)

// buildCProgram compiles C source with gcc and the given flags.
func buildCProgram(tb testing.TB, dir, name, source string, flags ...string) ([]byte, error) {
	src := filepath.Join(dir, name+".c")
	if err := os.WriteFile(src, []byte(source), 0o644); err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("gcc", append(append([]string{"-O2", "-o", out}, flags...), src)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("gcc %s: %v\n%s", strings.Join(flags, " "), err, b)
	}
	return os.ReadFile(out)
}

// emptyReadOKReader reads like an *os.File: a zero-length read at any
// non-negative offset succeeds. bytes.Reader returns io.EOF for a zero-length
// read at its end, which io.ReaderAt allows but which load (written against
// *os.File) treats as a failure for a bss-only segment at the file's end.
type emptyReadOKReader struct{ *bytes.Reader }

func (r emptyReadOKReader) ReadAt(p []byte, off int64) (int, error) {
	if len(p) == 0 && off >= 0 {
		return 0, nil
	}
	return r.Reader.ReadAt(p, off)
}

// newPlainGuestMemory is a guestMemory over an anonymous mapping, with no VM:
// every chunk is marked committed, so commit never reaches the (absent) VM.
func newPlainGuestMemory(tb testing.TB, size uint64) *guestMemory {
	host, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		tb.Fatalf("mmap %d MiB: %v", size>>20, err)
	}
	committed := make([]bool, (size+chunkSize-1)/chunkSize)
	for i := range committed {
		committed[i] = true
	}
	m := &guestMemory{host: host, size: size, committed: committed}
	tb.Cleanup(m.close)
	return m
}

func FuzzParseELF(f *testing.F) {
	le64, be64 := binary.ByteOrder(binary.LittleEndian), binary.ByteOrder(binary.BigEndian)
	exe := minimalELF(le64, elf.ELFDATA2LSB, elf.ET_EXEC, elf.EM_X86_64, "")
	dyn := minimalELF(le64, elf.ELFDATA2LSB, elf.ET_DYN, elf.EM_X86_64, "")
	interp := minimalELF(le64, elf.ELFDATA2LSB, elf.ET_DYN, elf.EM_X86_64, "/lib64/ld-linux-x86-64.so.2")
	interpExe := minimalELF(le64, elf.ELFDATA2LSB, elf.ET_EXEC, elf.EM_X86_64, "/lib/ld-musl-x86_64.so.1")
	valid := [][]byte{exe, dyn, interp, interpExe}

	// Real executables built by gcc: a static one is required. The glibc
	// ones must parse, but only the small ones are seeds.
	if _, err := exec.LookPath("gcc"); err != nil {
		f.Fatalf("FuzzParseELF needs gcc (with a static libc) to build real seed executables: %v", err)
	}
	dir := f.TempDir()
	static, err := buildCProgram(f, dir, "hello-static", helloC, "-static")
	if err != nil {
		f.Fatalf("cannot build a static executable with gcc -static (is the static libc installed?): %v", err)
	}
	small := []string{"-nostdlib", "-s", "-Wl,--build-id=none", "-Wl,-z,noseparate-code", "-Wl,-z,norelro"}
	tiny, err := buildCProgram(f, dir, "tiny-static", tinyC, append([]string{"-static"}, small...)...)
	if err != nil {
		f.Fatalf("cannot build a static executable with gcc -static -nostdlib: %v", err)
	}
	real := map[string][]byte{"gcc -static hello.c": static, "gcc -static -nostdlib tiny.c": tiny}
	for name, build := range map[string]struct {
		src   string
		flags []string
	}{
		"gcc -static-pie hello.c":                {helloC, []string{"-static-pie"}},
		"gcc hello.c":                            {helloC, nil},
		"gcc -static-pie -nostdlib -fPIE tiny.c": {tinyC, append([]string{"-static-pie", "-fPIE"}, small...)},
	} {
		if b, err := buildCProgram(f, dir, fmt.Sprint(len(real)), build.src, build.flags...); err == nil {
			real[name] = b
		} else {
			f.Logf("optional seed not built: %v", err)
		}
	}
	names := make([]string, 0, len(real))
	for name := range real {
		names = append(names, name)
	}
	sort.Strings(names) // stable seed numbering
	for _, name := range names {
		b := real[name]
		img, err := parseELF(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			f.Fatalf("%s (%d bytes) rejected: %v", name, len(b), err)
		}
		static := strings.Contains(name, "-static ")
		if static && (img.isDyn || img.interp != "") || !static && !img.isDyn {
			f.Fatalf("%s: isDyn=%v interp=%q", name, img.isDyn, img.interp)
		}
		if len(b) <= 4<<10 {
			valid = append(valid, b)
		}
	}
	for i, b := range valid {
		if _, err := parseELF(bytes.NewReader(b), int64(len(b))); err != nil {
			f.Fatalf("valid seed %d (%d bytes) rejected: %v", i, len(b), err)
		}
		f.Add(b)
	}

	// Invalid ones.
	f.Add(elf32Header())
	f.Add(minimalELF(le64, elf.ELFDATA2LSB, elf.ET_EXEC, elf.EM_AARCH64, ""))
	f.Add(minimalELF(be64, elf.ELFDATA2MSB, elf.ET_EXEC, elf.EM_X86_64, ""))
	f.Add(minimalELF(le64, elf.ELFDATA2LSB, elf.ET_REL, elf.EM_X86_64, ""))
	for _, n := range []int{0, 1, 3, 4, 16, 52, 63, 64, 100, 120, len(exe) - 1} {
		f.Add(append([]byte(nil), exe[:n]...))
	}
	f.Add(append([]byte(nil), interp[:len(interp)-12]...)) // PT_INTERP and PT_LOAD past the end
	f.Add([]byte("\x7fELF"))
	f.Add([]byte("#!/bin/sh\necho hi\n"))
	bad := func(entry uint64, progs ...elf.Prog64) {
		f.Add(buildELF64(le64, elf.ELFDATA2LSB, elf.ET_EXEC, elf.EM_X86_64, entry, progs, exitCode))
	}
	load := func(off, vaddr, filesz, memsz, align uint64) elf.Prog64 {
		return elf.Prog64{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Off: off, Vaddr: vaddr, Paddr: vaddr,
			Filesz: filesz, Memsz: memsz, Align: align}
	}
	const hdr2 = 64 + 2*56
	bad(0x400000)                                                                                 // no program headers
	bad(0x400000, load(0, 0x400000, 0x200, 0x100, 0x1000))                                        // filesz > memsz
	bad(0x400000, load(0, 0x400000, 0x10000, 0x10000, 0x1000))                                    // past the end of the file
	bad(0x400000, load(0, 0x400000, 0x80, 0x2000, 0x1000), load(0, 0x401000, 0x10, 0x10, 0x1000)) // overlapping
	bad(0x900000, load(0, 0x400000, 0x80, 0x1000, 0x1000))                                        // entry outside
	bad(0x400000, load(1, 0x400000, 0x40, 0x1000, 0x1000))                                        // misaligned
	bad(0x400000, load(0, MaxMemory-0x1000, 0x80, 0x2000, 0x1000))                                // out of range
	bad(0x400000, load(0, ^uint64(0)-0xfff, 0x80, 0x2000, 0x1000))                                // wraps
	bad(0x400000, load(0, 0x400000, 0x80, 0, 0x1000))                                             // only an empty segment
	bad(0x400000, load(0, 0x400000, 0x80, 0x1000, 0x1000),
		elf.Prog64{Type: uint32(elf.PT_INTERP), Off: hdr2, Filesz: 0}) // empty PT_INTERP
	bad(0x400000, load(0, 0x400000, 0x80, 0x1000, 0x1000),
		elf.Prog64{Type: uint32(elf.PT_INTERP), Off: ^uint64(0), Filesz: 2}) // PT_INTERP offset wraps
	eof := uint64(hdr2 + len(exitCode))
	bad(0x400000+hdr2, load(0, 0x400000, eof, eof, 0x1000), load(eof, 0x402000+eof, 0, 0x1000, 0)) // bss at EOF
	wrongPhent := append([]byte(nil), exe...)
	le.PutUint16(wrongPhent[54:], 64)
	f.Add(wrongPhent)

	mem := newPlainGuestMemory(f, 64<<20)
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := parseELF(bytes.NewReader(b), int64(len(b)))
		checkParsedELF(t, b, img, err, mem)
	})
}

// checkParsedELF checks parseELF's contract, then loads a valid image the way
// exec.go does and checks what landed in memory.
func checkParsedELF(t *testing.T, b []byte, img *elfImage, err error, mem *guestMemory) {
	if err != nil {
		if img != nil {
			t.Fatalf("parseELF returned both an image and an error: %v", err)
		}
		if !errors.Is(err, ErrBadExecutable) {
			t.Fatalf("parseELF error does not wrap ErrBadExecutable: %v", err)
		}
		return
	}
	if img == nil || img.file == nil {
		t.Fatalf("parseELF returned no image and no error")
	}
	if len(img.loads) == 0 {
		t.Fatalf("accepted an image with no PT_LOAD")
	}
	for i, ph := range img.loads {
		if ph.Type != elf.PT_LOAD || ph.Memsz == 0 {
			t.Fatalf("load %d: type %v memsz %#x", i, ph.Type, ph.Memsz)
		}
		if ph.Filesz > ph.Memsz {
			t.Fatalf("load %d: filesz %#x > memsz %#x", i, ph.Filesz, ph.Memsz)
		}
		if ph.Off > uint64(len(b)) || ph.Filesz > uint64(len(b))-ph.Off {
			t.Fatalf("load %d: [%#x, +%#x) is past the end of the %#x-byte file", i, ph.Off, ph.Filesz, len(b))
		}
		if end, carry := bits.Add64(ph.Vaddr, ph.Memsz, 0); carry != 0 || end > MaxMemory {
			t.Fatalf("load %d: [%#x, +%#x) is out of range", i, ph.Vaddr, ph.Memsz)
		}
		if i > 0 {
			prev := img.loads[i-1]
			if prev.Vaddr+prev.Memsz > ph.Vaddr {
				t.Fatalf("loads %d and %d unsorted or overlapping: [%#x,+%#x) [%#x,+%#x)", i-1, i, prev.Vaddr, prev.Memsz, ph.Vaddr, ph.Memsz)
			}
		}
	}
	first, last := img.loads[0], img.loads[len(img.loads)-1]
	end := last.Vaddr + last.Memsz
	if img.lo > img.hi || img.lo%pageSize != 0 || img.hi%pageSize != 0 || img.lo > first.Vaddr || img.hi < end {
		t.Fatalf("bad span [%#x, %#x) for segments [%#x, %#x)", img.lo, img.hi, first.Vaddr, end)
	}
	if e := img.file.Entry; e < first.Vaddr || e >= end {
		t.Fatalf("entry %#x outside [%#x, %#x)", e, first.Vaddr, end)
	}
	if img.isDyn != (img.file.Type == elf.ET_DYN) || img.file.Machine != elf.EM_X86_64 || img.file.Class != elf.ELFCLASS64 {
		t.Fatalf("accepted type %v machine %v class %v (isDyn %v)", img.file.Type, img.file.Machine, img.file.Class, img.isDyn)
	}
	if len(img.interp) > maxPath || strings.IndexByte(img.interp, 0) >= 0 {
		t.Fatalf("bad interpreter path %q", img.interp)
	}
	img.phdrAddr()

	bias := uint64(0)
	if img.isDyn {
		bias = pieBase - img.lo
	}
	fits := img.lo+bias >= pageSize && img.hi+bias <= mem.size
	img.r = emptyReadOKReader{bytes.NewReader(b)}
	err = img.load(mem, bias, mem.size)
	if err != nil && !errors.Is(err, ErrBadExecutable) {
		t.Fatalf("load error does not wrap ErrBadExecutable: %v", err)
	}
	if fits != (err == nil) {
		t.Fatalf("image [%#x, %#x)+%#x fits=%v, load: %v", img.lo, img.hi, bias, fits, err)
	}
	if err != nil {
		return
	}
	for _, ph := range img.loads {
		got := mem.host[ph.Vaddr+bias : ph.Vaddr+bias+ph.Filesz]
		if !bytes.Equal(got, b[ph.Off:ph.Off+ph.Filesz]) {
			t.Fatalf("segment at %#x: memory differs from the file", ph.Vaddr)
		}
	}
}

// ---------------------------------------------------------------------------
// FuzzGuestMemory

// validGuestRange is the translation rule: [addr, addr+n) lies in
// [pageSize, size) (an empty range may sit at size), without wrapping.
func validGuestRange(m *guestMemory, addr, n uint64) bool {
	end, carry := bits.Add64(addr, n, 0)
	return carry == 0 && addr >= pageSize && end <= m.size
}

// checkGuestSlice checks that b is host[addr:addr+n], and that the whole of
// it, capacity included, lies inside host[pageSize:size].
func checkGuestSlice(t *testing.T, m *guestMemory, what string, addr, n uint64, b []byte) {
	t.Helper()
	if uint64(len(b)) != n {
		t.Fatalf("%s(%#x, %#x): got %d bytes", what, addr, n, len(b))
	}
	if cap(b) == 0 {
		return
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	base := uintptr(unsafe.Pointer(unsafe.SliceData(m.host)))
	if p != base+uintptr(addr) {
		t.Fatalf("%s(%#x, %#x): slice at host offset %#x", what, addr, n, p-base)
	}
	if p < base+pageSize || p+uintptr(cap(b)) > base+uintptr(m.size) {
		t.Fatalf("%s(%#x, %#x): [%#x, %#x) escapes guest memory", what, addr, n, p-base, p-base+uintptr(cap(b)))
	}
}

func wantFault(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, errFault) {
		t.Fatalf("%s: got error %v, want errFault", what, err)
	}
}

// refString is readString's documented behaviour: the bytes up to the first
// NUL among the next max+1; errFault for a bad address or when guest memory
// ends first, ENAMETOOLONG when max+1 bytes hold no NUL.
func refString(m *guestMemory, addr uint64, max int) (string, error) {
	if addr < pageSize || addr >= m.size {
		return "", errFault
	}
	limit, tooLong := m.size-addr, false
	if uint64(max)+1 < limit {
		limit, tooLong = uint64(max)+1, true
	}
	if i := bytes.IndexByte(m.host[addr:addr+limit], 0); i >= 0 {
		return string(m.host[addr : addr+uint64(i)]), nil
	}
	if tooLong {
		return "", unix.ENAMETOOLONG
	}
	return "", errFault
}

func refStringArray(m *guestMemory, addr uint64, maxCount int) ([]string, error) {
	if addr == 0 {
		return nil, nil
	}
	var out []string
	for i := 0; ; i++ {
		if i >= maxCount {
			return nil, unix.E2BIG
		}
		pa, carry := bits.Add64(addr, uint64(i)*8, 0)
		if carry != 0 || !validGuestRange(m, pa, 8) {
			return nil, errFault
		}
		p := le.Uint64(m.host[pa:])
		if p == 0 {
			return out, nil
		}
		s, err := refString(m, p, 128<<10)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
}

func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return errors.Is(a, b)
}

func FuzzGuestMemory(f *testing.F) {
	const size = 64 << 20
	m := newPlainGuestMemory(f, size)

	u64s := func(vs ...uint64) []byte {
		b := make([]byte, 8*len(vs))
		for i, v := range vs {
			le.PutUint64(b[8*i:], v)
		}
		return b
	}
	f.Add(uint64(0), uint64(0), []byte(nil))
	f.Add(uint64(pageSize), uint64(16), []byte("hello\x00"))
	f.Add(uint64(pageSize-1), uint64(2), []byte("ab"))
	f.Add(uint64(size-8), uint64(8), []byte("12345678"))
	f.Add(uint64(size), uint64(0), []byte(nil))
	f.Add(uint64(size-1), uint64(1), []byte("x"))
	f.Add(uint64(size+1), uint64(0), []byte(nil))
	f.Add(^uint64(0), uint64(1), []byte("x"))
	f.Add(^uint64(0)-4095, uint64(8192), []byte(nil))
	f.Add(uint64(0x10000), ^uint64(0), []byte("abc"))
	f.Add(uint64(0x10000), uint64(1)<<63, []byte("abc"))
	f.Add(uint64(pageSize), uint64(size-pageSize), []byte(nil))
	f.Add(uint64(pageSize), uint64(size-pageSize+1), []byte(nil))
	f.Add(uint64(size-5), uint64(4100), []byte("abcde"))                                                          // no NUL before the end
	f.Add(uint64(0x20000), uint64(3), []byte("abcdefgh"))                                                         // ENAMETOOLONG
	f.Add(uint64(0x20000), uint64(3), []byte("abcd\x00"))                                                         // NUL just past max
	f.Add(uint64(0x20000), uint64(4), []byte("abcd\x00"))                                                         // NUL right at max
	f.Add(uint64(0x10000), uint64(5), append(u64s(0x10020, 0x10028, 0, 0), "abc\x00\x00\x00\x00\x00defg\x00"...)) // argv
	f.Add(uint64(0x10000), uint64(2), append(u64s(0x10020, 0x10028, 0, 0), "abc\x00\x00\x00\x00\x00defg\x00"...)) // E2BIG
	f.Add(uint64(0x10000), uint64(4), u64s(0x10020, 7, size-1, 0))                                                // bad string
	f.Add(uint64(0x30000), uint64(3), u64s(0x20000, 16, 0, 0, size-16, 16))                                       // iovecs
	f.Add(uint64(0x30000), uint64(2), u64s(0x20000, ^uint64(0), size, 1))                                         // bad iovecs
	f.Add(uint64(0x30000), uint64(1025), u64s(0x20000, 16))                                                       // > IOV_MAX
	f.Add(uint64(size-32), uint64(3), u64s(0x20000, 16, 0x20010, 16))                                             // array past the end

	f.Fuzz(func(t *testing.T, addr, n uint64, data []byte) {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(m.host)))

		// slice and hostAddr
		b, err := m.slice(addr, n)
		if validGuestRange(m, addr, n) {
			if err != nil {
				t.Fatalf("slice(%#x, %#x): %v", addr, n, err)
			}
			checkGuestSlice(t, m, "slice", addr, n, b)
		} else {
			wantFault(t, fmt.Sprintf("slice(%#x, %#x)", addr, n), err)
			if b != nil {
				t.Fatalf("slice(%#x, %#x) failed but returned %d bytes", addr, n, len(b))
			}
		}
		hp, err := m.hostAddr(addr, n)
		if validGuestRange(m, addr, n) {
			if err != nil || hp != base+uintptr(addr) {
				t.Fatalf("hostAddr(%#x, %#x) = %#x, %v; want host offset %#x", addr, n, hp-base, err, addr)
			}
		} else {
			wantFault(t, fmt.Sprintf("hostAddr(%#x, %#x)", addr, n), err)
		}

		// writeU64/readU64, writeU32
		v := n ^ 0x0123456789abcdef
		err = m.writeU64(addr, v)
		if validGuestRange(m, addr, 8) {
			if err != nil {
				t.Fatalf("writeU64(%#x): %v", addr, err)
			}
			if got, err := m.readU64(addr); err != nil || got != v {
				t.Fatalf("readU64(%#x) = %#x, %v; want %#x", addr, got, err, v)
			}
		} else {
			wantFault(t, fmt.Sprintf("writeU64(%#x)", addr), err)
			if _, err := m.readU64(addr); !errors.Is(err, errFault) {
				t.Fatalf("readU64(%#x): %v, want errFault", addr, err)
			}
		}
		if err := m.writeU32(addr, uint32(v)); validGuestRange(m, addr, 4) != (err == nil) {
			t.Fatalf("writeU32(%#x): %v", addr, err)
		}

		// write/read
		err = m.write(addr, data)
		if validGuestRange(m, addr, uint64(len(data))) {
			if err != nil {
				t.Fatalf("write(%#x, %d bytes): %v", addr, len(data), err)
			}
			got := make([]byte, len(data))
			if err := m.read(addr, got); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read(%#x, %d) after write: %v, data differs: %v", addr, len(data), err, !bytes.Equal(got, data))
			}
		} else {
			wantFault(t, fmt.Sprintf("write(%#x, %d bytes)", addr, len(data)), err)
			if err := m.read(addr, make([]byte, len(data))); !errors.Is(err, errFault) {
				t.Fatalf("read(%#x, %d): %v, want errFault", addr, len(data), err)
			}
		}

		// readString, with n as the bound (small and huge bounds alike)
		max := int(n &^ (1 << 63))
		s, err := m.readString(addr, max)
		if len(s) > max {
			t.Fatalf("readString(%#x, %d) returned %d bytes", addr, max, len(s))
		}
		if ws, werr := refString(m, addr, max); s != ws || !sameErr(err, werr) {
			t.Fatalf("readString(%#x, %d) = %q, %v; want %q, %v", addr, max, s, err, ws, werr)
		}
		if err == nil && (addr < pageSize || addr+uint64(len(s)) >= m.size || m.host[addr+uint64(len(s))] != 0) {
			t.Fatalf("readString(%#x, %d) = %q is not a NUL-terminated guest string", addr, max, s)
		}

		// readStringArray over the pointers just written
		maxCount := int(n % 64)
		arr, err := m.readStringArray(addr, maxCount)
		warr, werr := refStringArray(m, addr, maxCount)
		if !sameErr(err, werr) || len(arr) != len(warr) {
			t.Fatalf("readStringArray(%#x, %d) = %d strings, %v; want %d, %v", addr, maxCount, len(arr), err, len(warr), werr)
		}
		for i := range arr {
			if arr[i] != warr[i] || len(arr[i]) > 128<<10 {
				t.Fatalf("readStringArray(%#x, %d)[%d] = %q, want %q", addr, maxCount, i, arr[i], warr[i])
			}
		}

		// iovecs over the array just written
		count := n % 1040
		bufs, err := m.iovecs(addr, count)
		switch {
		case count > 1024:
			if !errors.Is(err, unix.EINVAL) {
				t.Fatalf("iovecs(%#x, %d): %v, want EINVAL", addr, count, err)
			}
			return
		case !validGuestRange(m, addr, count*16):
			wantFault(t, fmt.Sprintf("iovecs(%#x, %d)", addr, count), err)
			return
		}
		ok := true
		for i := uint64(0); i < count; i++ {
			ib, in := le.Uint64(m.host[addr+16*i:]), le.Uint64(m.host[addr+16*i+8:])
			if in != 0 && !validGuestRange(m, ib, in) {
				ok = false
			}
		}
		if !ok {
			wantFault(t, fmt.Sprintf("iovecs(%#x, %d)", addr, count), err)
			return
		}
		if err != nil || uint64(len(bufs)) != count {
			t.Fatalf("iovecs(%#x, %d) = %d buffers, %v", addr, count, len(bufs), err)
		}
		for i := uint64(0); i < count; i++ {
			ib, in := le.Uint64(m.host[addr+16*i:]), le.Uint64(m.host[addr+16*i+8:])
			if in == 0 {
				if len(bufs[i]) != 0 {
					t.Fatalf("iovecs: empty entry %d became %d bytes", i, len(bufs[i]))
				}
				continue
			}
			checkGuestSlice(t, m, "iovecs entry", ib, in, bufs[i])
		}
	})
}

// ---------------------------------------------------------------------------
// FuzzSyscallArgs and FuzzSyscallSeq: the handlers, on a real process and vCPU.

const (
	fuzzGuestMem  = 64 << 20
	fuzzImageBase = 0x400000 // fuzzed memory contents go here...
	fuzzImageSize = 16 << 20 // ...and this far: the "image" mapping
	fuzzZeroAddr  = 0x2000   // a zero timespec for ppoll (the page is reset before each ppoll)
)

// The guest descriptors every input starts with.
const (
	gfdStdin  = iota // root/stdin, read-only
	gfdStdout        // root/stdout
	gfdStderr        // root/stderr
	gfdDir           // root/dir, O_DIRECTORY
	gfdFile          // root/dir/file, O_RDWR
	gfdPipeR         // non-blocking pipe with data in it
	gfdPipeW
	gfdEpoll // watching the pipe
	gfdEvent // non-blocking eventfd
	gfdPath  // O_PATH of the symlink root/dir/link
	gfdCount
)

// fuzzSkip are syscalls the fuzzers never call, registered or not (yet):
// they end or fork the process, block, signal or reconfigure the host
// (other processes, the test process's limits, credentials, mounts).
var fuzzSkip = map[string]bool{
	"exit": true, "exit_group": true, "clone": true, "clone3": true, "fork": true, "vfork": true,
	"execve": true, "execveat": true, "kill": true, "tgkill": true, "tkill": true,
	"rt_sigqueueinfo": true, "rt_tgsigqueueinfo": true, "pidfd_send_signal": true, "pidfd_open": true,
	"futex": true, "futex_waitv": true, "futex_wait": true, "futex_wake": true, "futex_requeue": true,
	"nanosleep": true, "clock_nanosleep": true, "pause": true, "wait4": true, "waitid": true,
	"rt_sigsuspend": true, "rt_sigtimedwait": true, "rt_sigreturn": true, "epoll_pwait2": true,
	"setrlimit": true, "prlimit64": true, "sched_setaffinity": true, "sched_setscheduler": true,
	"sched_setparam": true, "sched_setattr": true, "setpriority": true,
	"setuid": true, "setgid": true, "setreuid": true, "setregid": true, "setresuid": true, "setresgid": true,
	"setfsuid": true, "setfsgid": true, "setgroups": true, "setsid": true, "setpgid": true, "capset": true,
	"chroot": true, "mount": true, "umount2": true, "pivot_root": true, "reboot": true,
	"sethostname": true, "setdomainname": true, "swapon": true, "swapoff": true, "ptrace": true,
	"unshare": true, "setns": true, "personality": true, "iopl": true, "ioperm": true,
	"kexec_load": true, "kexec_file_load": true, "init_module": true, "finit_module": true, "delete_module": true,
	"settimeofday": true, "clock_settime": true, "adjtimex": true, "clock_adjtime": true, "acct": true,
	"quotactl": true, "syslog": true, "alarm": true, "setitimer": true,
	"io_uring_setup": true, "io_uring_enter": true, "io_uring_register": true, "mknod": true, "mknodat": true,
	"vmsplice": true, "msgrcv": true, "msgsnd": true, "semop": true, "semtimedop": true,
	"mq_timedreceive": true, "mq_timedsend": true, "userfaultfd": true, "perf_event_open": true, "bpf": true,
	"seccomp": true, "process_vm_readv": true, "process_vm_writev": true, "vhangup": true,
}

// fuzzNet are the syscalls that can reach a network: they are fuzzed only
// when the vCPU thread has a network namespace of its own (no interfaces
// up, abstract AF_UNIX names of its own), so that no fuzzed address can
// reach a host service.
var fuzzNet = map[string]bool{
	"socket": true, "socketpair": true, "bind": true, "listen": true, "connect": true, "accept": true, "accept4": true,
	"sendto": true, "recvfrom": true, "sendmsg": true, "recvmsg": true, "sendmmsg": true, "recvmmsg": true,
	"getsockopt": true, "setsockopt": true, "getsockname": true, "getpeername": true, "shutdown": true,
}

// fuzzAvoid, when set (by a local, uncommitted test file), drops inputs that
// reproduce an already-known bug so that fuzzing can look for the next one.
var fuzzAvoid func(name string, a args) bool

// sanitize adjusts arguments that would make a handler block, or grow files
// without bound; it returns false for calls that must not run at all.
func sanitize(name string, a *args) bool {
	switch name {
	case "poll":
		a[2] = 0 // timeout: none
	case "select", "pselect6":
		a[4] = fuzzZeroAddr // a zero timeval / timespec
	case "ppoll":
		a[2] = fuzzZeroAddr // a zero timespec
	case "epoll_wait", "epoll_pwait":
		a[3] = 0
	case "fcntl":
		switch int(a[1]) {
		case unix.F_SETOWN, unix.F_SETOWN_EX, unix.F_SETSIG, unix.F_NOTIFY, unix.F_SETLEASE:
			return false // SIGIO to arbitrary processes; lease breaks block for 45 s
		case unix.F_SETLKW:
			a[1] = unix.F_SETLK
		case unix.F_OFD_SETLKW:
			a[1] = unix.F_OFD_SETLK
		case unix.F_SETFL:
			a[2] |= unix.O_NONBLOCK // every pipe stays non-blocking
		}
	case "ioctl":
		if a[1] == fionbio {
			return false
		}
	case "flock":
		a[1] |= unix.LOCK_NB
	case "pipe2":
		a[1] |= unix.O_NONBLOCK
	case "eventfd2":
		a[1] |= unix.EFD_NONBLOCK
	case "signalfd4":
		a[3] |= unix.SFD_NONBLOCK // reads never wait
	case "fallocate":
		a[3] &= 1<<20 - 1 // really allocates
	case "sendfile":
		a[3] &= 1<<20 - 1
	case "socket", "socketpair":
		a[1] |= unix.SOCK_NONBLOCK // every socket stays non-blocking (accept4 below too)
	case "accept4":
		a[3] |= unix.SOCK_NONBLOCK
	case "timerfd_create":
		a[1] |= unix.TFD_NONBLOCK
	case "splice":
		a[4] &= 1<<20 - 1
		a[5] |= unix.SPLICE_F_NONBLOCK
	case "tee":
		a[2] &= 1<<20 - 1
		a[3] |= unix.SPLICE_F_NONBLOCK
	case "copy_file_range":
		a[4] &= 1<<20 - 1
	case "writev", "pwritev", "pwritev2":
		if a[2] <= 1024 {
			a[2] = min(a[2], 2) // one 64 MiB buffer, repeated, could write 2 GiB
		}
	}
	return true
}

// fuzzHandler returns the handler fuzzing calls for nr, or nil. pipe and
// eventfd become their non-blocking pipe2 and eventfd2 forms.
func fuzzHandler(nr int) (handler, string) {
	name := syscallName(uint64(nr))
	if nr < 0 || nr >= len(syscallTable) || syscallTable[nr] == nil || fuzzSkip[name] {
		return nil, name
	}
	switch name {
	case "pipe":
		return func(t *thread, a args) uint64 { return syscallTable[unix.SYS_PIPE2](t, args{a[0], unix.O_NONBLOCK}) }, name
	case "eventfd":
		return func(t *thread, a args) uint64 {
			return syscallTable[unix.SYS_EVENTFD2](t, args{a[0], unix.EFD_NONBLOCK})
		}, name
	case "signalfd":
		return func(t *thread, a args) uint64 {
			return syscallTable[unix.SYS_SIGNALFD4](t, args{a[0], a[1], a[2], unix.SFD_NONBLOCK})
		}, name
	case "accept":
		return func(t *thread, a args) uint64 {
			return syscallTable[unix.SYS_ACCEPT4](t, args{a[0], a[1], a[2], unix.SOCK_NONBLOCK})
		}, name
	case "timer_create":
		// A timer's SIGKILL would end the harness's process: it gets SIGUSR1.
		return func(t *thread, a args) uint64 {
			if a[1] != 0 {
				if b, err := t.p.mem.slice(a[1]+sevSigno, 4); err == nil && le.Uint32(b) == uint32(unix.SIGKILL) {
					le.PutUint32(b, uint32(unix.SIGUSR1))
				}
			}
			return syscallTable[unix.SYS_TIMER_CREATE](t, a)
		}, name
	}
	return syscallTable[nr], name
}

// vcpuCall is one function run on the harness's vCPU thread.
type vcpuCall struct {
	fn    func(*thread)
	done  chan struct{}
	perr  any
	stack []byte
}

// sysHarness is one process (real VM, one vCPU) whose handlers the fuzzers
// call directly, with its state reset before every input.
type sysHarness struct {
	p       *process
	base    string // holds root/ and, outside the guest's view, the canary
	root    string
	canary  []string
	before  []unix.Stat_t
	built   []unix.Stat_t  // of rootTree's entries (root first) as last built
	held    map[string]int // harness descriptors on rootTree's directories and files
	clean   bool           // no call since the last tidy
	open    map[int]bool   // the host's open descriptors after the last call; nil after a reset
	maps    []mapping
	brk     [3]uint64 // brkStart, brk, mmapTop
	umask   int
	reqs    chan *vcpuCall
	stopped chan struct{}
	broken  string
	netns   bool // the vCPU thread has a network namespace of its own
}

func newSysHarness(f *testing.F) *sysHarness {
	// tmpfs when there is one: the guest's files are rebuilt often.
	base, err := os.MkdirTemp("/dev/shm", "km-fuzz-")
	if err != nil {
		base = f.TempDir()
	} else {
		f.Cleanup(func() { os.RemoveAll(base) })
	}
	h := &sysHarness{base: base}
	h.root = filepath.Join(h.base, "root")
	outside := filepath.Join(h.base, "outside")
	for _, d := range []string{h.root, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			f.Fatal(err)
		}
	}
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("outside the guest root\n"), 0o644); err != nil {
		f.Fatal(err)
	}
	h.canary = []string{h.base, outside, secret}
	h.umask = unix.Umask(0o022)
	unix.Umask(h.umask)

	p, err := newProcess(Config{Program: "/nonexistent-not-loaded", Memory: fuzzGuestMem, Root: h.root, Log: io.Discard})
	if err != nil {
		f.Fatalf("newProcess (needs a usable /dev/kvm): %v", err)
	}
	h.p = p
	// The synthetic-directory placeholder is created on first use and held
	// for the process's life: make it now, so it is not taken for a leak.
	if fd, err := p.fs.v.openDir("/proc"); err == nil {
		unix.Close(fd)
		delete(p.fs.v.dirs, fd)
	}
	// newFDTable gave the guest this process's own stdio: forget it (never
	// close it); every input gets a fresh table of files inside the root.
	p.files = &fdTable{limit: defaultNoFile}
	p.exe = "/prog"
	if err := p.mem.commit(fuzzImageBase, fuzzImageSize); err != nil {
		f.Fatalf("commit: %v", err)
	}
	p.as.setImage(fuzzImageBase, fuzzImageBase+fuzzImageSize, "/prog")
	h.maps = append([]mapping(nil), p.as.maps...)
	h.brk = [3]uint64{p.as.brkStart, p.as.brk, p.as.mmapTop}

	// The vCPU thread: a goroutine locked to its OS thread for good, serving
	// calls. Faults in Go code there (a handler touching a guest page the
	// host mapped read-only, or past a file's end) become panics to report.
	h.reqs, h.stopped = make(chan *vcpuCall), make(chan struct{})
	ready := make(chan error, 1)
	go func() {
		defer close(h.stopped)
		goruntime.LockOSThread()
		debug.SetPanicOnFault(true)
		// A network namespace for this thread only (the thread dies with
		// the goroutine, which stays locked): sockets made here see no
		// host interface and no host abstract AF_UNIX name.
		h.netns = unix.Unshare(unix.CLONE_NEWNET) == nil
		th, err := p.newThread(threadStart{})
		ready <- err
		if err != nil {
			return
		}
		defer th.vcpu.Close()
		for c := range h.reqs {
			func() {
				defer func() {
					if r := recover(); r != nil {
						c.perr, c.stack = r, debug.Stack()
					}
					close(c.done)
				}()
				c.fn(th)
			}()
		}
	}()
	if err := <-ready; err != nil {
		f.Fatalf("newThread: %v", err)
	}
	f.Cleanup(h.close)

	if err := h.buildRoot(); err != nil {
		f.Fatal(err)
	}
	if h.before, err = statAll(h.canary); err != nil {
		f.Fatal(err)
	}
	return h
}

func (h *sysHarness) close() {
	if h.broken != "" {
		return // a handler may still be running: leave its process alone
	}
	close(h.reqs)
	<-h.stopped
	h.closeGuestFDs()
	for _, fd := range h.held {
		unix.Close(fd)
	}
	os.Chmod(h.root, 0o755)
	p := h.p
	p.vm.Close()
	p.sys.Close()
	p.mem.close()
	unix.Munmap(p.sysMem)
	unix.Close(p.fs.rootFD)
	unix.Umask(h.umask)
}

// on runs fn on the vCPU thread, reporting a panic, or a call that does not
// return, as a test failure.
func (h *sysHarness) on(t *testing.T, what string, fn func(*thread)) {
	t.Helper()
	if h.broken != "" {
		t.Fatalf("harness unusable: %s", h.broken)
	}
	c := &vcpuCall{fn: fn, done: make(chan struct{})}
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case h.reqs <- c:
	case <-timer.C:
		h.broken = "vCPU thread stuck"
		t.Fatalf("%s: vCPU thread stuck", what)
	}
	select {
	case <-c.done:
	case <-timer.C:
		h.broken = what + " blocked"
		t.Fatalf("%s did not return within 10s (blocked in the host?)", what)
	}
	if c.perr != nil {
		t.Fatalf("%s panicked: %v\n%s", what, c.perr, c.stack)
	}
}

func (h *sysHarness) closeGuestFDs() {
	if h.p.files == nil {
		return
	}
	for _, e := range h.p.files.fds {
		if e.host >= 0 {
			unix.Close(e.host)
		}
	}
	h.p.files.fds = nil
	for _, efd := range h.signalfdHostFDs() {
		unix.Close(efd)
	}
	h.p.sig.fds.list = nil
}

// signalfdHostFDs are the eventfds the monitor keeps for the guest's
// signalfds: the guest's too, though no guest number names them.
func (h *sysHarness) signalfdHostFDs() []int {
	if h.p.sig == nil {
		return nil
	}
	var efds []int
	h.p.sig.mu.Lock()
	for _, sfd := range h.p.sig.fds.list {
		efds = append(efds, sfd.efd)
	}
	h.p.sig.mu.Unlock()
	return efds
}

// rootTree is the guest root every input starts with (besides the root
// itself): "d" directories, "f" files, "l" symlinks.
var rootTree = []struct{ path, kind, data string }{
	{"dir", "d", ""}, {"dir/sub", "d", ""}, {"empty", "d", ""},
	{"stdin", "f", "hello from stdin\n"}, {"stdout", "f", ""}, {"stderr", "f", ""}, {"prog", "f", "\x7fELF, not really\n"},
	{"dir/file", "f", "file contents\n"}, {"dir/sub/deep", "f", "deep\n"},
	{"dir/link", "l", "file"}, {"dir/abs", "l", "/dir/file"}, {"dir/escape", "l", "../../outside/secret"},
	{"dir/loop", "l", "loop"}, {"dir/up", "l", "../../../../.."},
}

// buildRoot empties the guest root and builds rootTree in it.
func (h *sysHarness) buildRoot() error {
	for _, fd := range h.held {
		unix.Close(fd)
	}
	h.held = map[string]int{}
	if err := os.Chmod(h.root, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(h.root)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(h.root, e.Name())); err != nil {
			return err
		}
	}
	for _, e := range rootTree {
		name := filepath.Join(h.root, e.path)
		switch e.kind {
		case "d":
			err = os.Mkdir(name, 0o755)
		case "f":
			err = os.WriteFile(name, []byte(e.data), 0o644)
		case "l":
			err = os.Symlink(e.data, name)
		}
		if err != nil {
			return err
		}
	}
	for _, e := range rootTree {
		if e.kind != "l" {
			if h.held[e.path], err = unix.Open(filepath.Join(h.root, e.path), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0); err != nil {
				return err
			}
		}
	}
	if h.held[""], err = unix.Open(h.root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		return err
	}
	h.built, err = h.statRoot()
	return err
}

func (h *sysHarness) statRoot() ([]unix.Stat_t, error) {
	paths := []string{h.root}
	for _, e := range rootTree {
		paths = append(paths, filepath.Join(h.root, e.path))
	}
	return statAll(paths)
}

// rootNames lists, for the root and each directory of rootTree, the names
// it holds.
var rootNames = func() map[string][]string {
	names := map[string][]string{"": nil}
	for _, e := range rootTree {
		dir, name := filepath.Split(e.path)
		dir = strings.TrimSuffix(dir, "/")
		names[dir] = append(names[dir], name)
		if e.kind == "d" && names[e.path] == nil {
			names[e.path] = []string{}
		}
	}
	for _, n := range names {
		sort.Strings(n)
	}
	return names
}()

// rootIntact reports whether the guest root is still rootTree as built:
// same names, same inodes with the same type, mode, owner, link count and
// size, and regular files with the same contents (times are ignored).
func (h *sysHarness) rootIntact() bool {
	buf := make([]byte, 4096)
	for dir, want := range rootNames {
		fd := h.held[dir]
		if _, err := unix.Seek(fd, 0, io.SeekStart); err != nil {
			return false
		}
		var names []string
		for {
			n, err := unix.Getdents(fd, buf)
			if err != nil {
				return false
			}
			if n == 0 {
				break
			}
			_, _, names = unix.ParseDirent(buf[:n], -1, names)
		}
		if len(names) != len(want) {
			return false
		}
		sort.Strings(names)
		for i := range names {
			if names[i] != want[i] {
				return false
			}
		}
	}
	now, err := h.statRoot()
	if err != nil {
		return false
	}
	for i := range now {
		a, b := &h.built[i], &now[i]
		if a.Ino != b.Ino || a.Mode != b.Mode || a.Uid != b.Uid || a.Gid != b.Gid || a.Nlink != b.Nlink ||
			a.Mode&unix.S_IFMT != unix.S_IFDIR && a.Size != b.Size {
			return false
		}
	}
	for _, e := range rootTree {
		if e.kind == "f" {
			if n, err := unix.Pread(h.held[e.path], buf, 0); err != nil || string(buf[:n]) != e.data {
				return false
			}
		}
	}
	return true
}

// tidy closes the guest's descriptors and puts the root back as built.
func (h *sysHarness) tidy() error {
	h.closeGuestFDs()
	if !h.clean && !h.rootIntact() {
		if err := h.buildRoot(); err != nil {
			return err
		}
	}
	h.clean = true
	return nil
}

// baselineFDs opens the descriptors every input starts with.
func (h *sysHarness) baselineFDs() (*fdTable, error) {
	tab := &fdTable{limit: defaultNoFile}
	add := func(fd int, err error) error {
		if err != nil {
			return err
		}
		tab.fds = append(tab.fds, fdEntry{host: fd, cloexec: len(tab.fds) == gfdPath})
		return nil
	}
	open := func(name string, flags int) error {
		return add(unix.Open(filepath.Join(h.root, name), flags|unix.O_CLOEXEC, 0))
	}
	fail := func(err error) (*fdTable, error) {
		for _, e := range tab.fds {
			unix.Close(e.host)
		}
		return nil, err
	}
	for _, o := range []struct {
		name  string
		flags int
	}{{"stdin", unix.O_RDONLY}, {"stdout", unix.O_WRONLY}, {"stderr", unix.O_WRONLY},
		{"dir", unix.O_RDONLY | unix.O_DIRECTORY}, {"dir/file", unix.O_RDWR}} {
		if err := open(o.name, o.flags); err != nil {
			return fail(err)
		}
	}
	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return fail(err)
	}
	add(pipe[0], nil)
	add(pipe[1], nil)
	unix.Write(pipe[1], []byte("pipe data"))
	if err := add(unix.EpollCreate1(unix.EPOLL_CLOEXEC)); err != nil {
		return fail(err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(gfdPipeR)}
	if err := unix.EpollCtl(tab.fds[gfdEpoll].host, unix.EPOLL_CTL_ADD, pipe[0], &ev); err != nil {
		return fail(err)
	}
	if err := add(unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)); err != nil {
		return fail(err)
	}
	if err := open("dir/link", unix.O_PATH|unix.O_NOFOLLOW); err != nil {
		return fail(err)
	}
	return tab, nil
}

// reset puts the process back in its baseline state, with mem at fuzzImageBase.
func (h *sysHarness) reset(t *testing.T, mem []byte) {
	t.Helper()
	var err error
	h.open = nil
	h.on(t, "reset", func(th *thread) {
		p := h.p
		if e := p.as.resetHost(0, p.mem.size); e != 0 {
			err = fmt.Errorf("reset guest memory: %w", e)
			return
		}
		p.as.mu.Lock()
		p.as.maps = append([]mapping(nil), h.maps...)
		p.as.brkStart, p.as.brk, p.as.mmapTop = h.brk[0], h.brk[1], h.brk[2]
		p.as.mu.Unlock()
		copy(p.mem.host[fuzzImageBase:fuzzImageBase+fuzzImageSize], mem)

		p.deleteAllTimers()
		if err = h.tidy(); err != nil {
			return
		}
		if p.files, err = h.baselineFDs(); err != nil {
			return
		}
		p.fs.mu.Lock()
		p.fs.cwd = "/"
		p.fs.mu.Unlock()
		p.sig = newSignalState()
		th.sigmask, th.pending, th.altstack, th.clearChildTID = 0, pendingSet{}, stackT{}, 0
		th.waitSet, th.hasSavedMask, th.noResume, th.atCPL0 = 0, false, false, false
		th.interrupt.Store(false)
		th.exitThread, th.forceFullReturn, th.sregsValid, th.sregsDirty = false, false, false, false
		unix.Umask(h.umask)
	})
	if err != nil {
		t.Fatalf("reset: %v", err)
	}
}

// call runs syscall nr and checks every invariant that must hold after it.
func (h *sysHarness) call(t *testing.T, nr int, a args) {
	t.Helper()
	hd, name := fuzzHandler(nr)
	if hd == nil || !sanitize(name, &a) || fuzzAvoid != nil && fuzzAvoid(name, a) || fuzzNet[name] && !h.netns {
		return
	}
	what := fmt.Sprintf("%s(%#x, %#x, %#x, %#x, %#x, %#x)", name, a[0], a[1], a[2], a[3], a[4], a[5])
	open0 := h.open
	if open0 == nil {
		var err error
		if open0, err = openFDs(); err != nil {
			t.Fatal(err)
		}
	}
	h.open = nil
	held0 := h.guestHostFDs()
	h.clean = false
	var ret uint64
	h.on(t, what, func(th *thread) {
		if name == "ppoll" || name == "select" || name == "pselect6" { // an earlier call may have written there
			h.p.as.resetHost(fuzzZeroAddr, fuzzZeroAddr+pageSize)
		}
		ret = hd(th, a)
		unix.Umask(h.umask)
	})
	if r := int64(ret); r < -4095 {
		t.Fatalf("%s = %#x: neither a result nor -errno", what, ret)
	}
	h.checkResult(t, what, name, a, ret)
	h.open = h.checkFDs(t, what, open0, held0)
	h.checkMemory(t, what)
	after, err := statAll(h.canary)
	if err != nil {
		t.Fatalf("%s: canary outside the root: %v", what, err)
	}
	for i := range after {
		if !sameStat(&h.before[i], &after[i]) {
			t.Fatalf("%s changed %s, outside the guest root", what, h.canary[i])
		}
	}
}

// checkResult checks what a successful result must be for calls that return
// descriptors or addresses.
func (h *sysHarness) checkResult(t *testing.T, what, name string, a args, ret uint64) {
	t.Helper()
	if int64(ret) < 0 {
		return
	}
	p := h.p
	switch name {
	case "fcntl":
		if cmd := int(a[1]); cmd != unix.F_DUPFD && cmd != unix.F_DUPFD_CLOEXEC {
			return
		}
		fallthrough
	case "recvmsg":
		h.checkReceivedFDs(t, what, a[1])
	case "open", "openat", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "eventfd", "eventfd2",
		"socket", "accept", "accept4", "timerfd_create", "signalfd", "signalfd4":
		if ret >= uint64(p.files.limit) {
			t.Fatalf("%s = %#x: not a descriptor below the limit %d", what, ret, p.files.limit)
		}
		if _, err := p.files.host(int32(ret)); err != nil {
			t.Fatalf("%s = %d: not an open guest descriptor", what, ret)
		}
	case "mmap", "mremap":
		n := alignUp(a[1], pageSize)
		if name == "mremap" {
			n = alignUp(a[2], pageSize)
		}
		p.as.mu.Lock()
		covered := p.as.covered(ret, ret+n)
		p.as.mu.Unlock()
		if ret%pageSize != 0 || !validGuestRange(p.mem, ret, n) || !covered {
			t.Fatalf("%s = %#x: [%#x, +%#x) is not a mapped guest range", what, ret, ret, n)
		}
	}
}

func (h *sysHarness) guestHostFDs() map[int]bool {
	held := map[int]bool{}
	for _, e := range h.p.files.fds {
		if e.host >= 0 {
			held[e.host] = true
		}
	}
	for _, fd := range h.timerFDs() {
		held[fd] = true
	}
	for _, efd := range h.signalfdHostFDs() {
		held[efd] = true
	}
	return held
}

// timerFDs are the host timerfds behind the guest's POSIX timers: the
// guest's though not in its descriptor table.
func (h *sysHarness) timerFDs() []int {
	ts := &h.p.timers
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var fds []int
	for _, pt := range ts.byID {
		if pt.fd == nil {
			continue // a CPU-time clock's: a host timer, no descriptor
		}
		if rc, err := pt.fd.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { fds = append(fds, int(fd)) })
		}
	}
	return fds
}

// checkFDs checks the descriptor table against the host's, given the open
// descriptors (open0) and the guest's (held0) before the call: every guest
// descriptor is an open, close-on-exec host one; no two share one; the call
// neither closed nor handed the guest a descriptor that was not the guest's
// (the monitor's own: KVM, log, the test's); every descriptor it opened, and
// every one the guest let go of, is held by the guest or closed.
func (h *sysHarness) checkFDs(t *testing.T, what string, open0, held0 map[int]bool) (open1 map[int]bool) {
	t.Helper()
	open1, err := openFDs()
	if err != nil {
		t.Fatal(err)
	}
	held := map[int]int{}
	for g, e := range h.p.files.fds {
		if e.host < 0 {
			continue
		}
		if prev, dup := held[e.host]; dup {
			t.Fatalf("%s: guest fds %d and %d share host fd %d", what, prev, g, e.host)
		}
		held[e.host] = g
		if open0[e.host] && !held0[e.host] {
			t.Fatalf("%s: guest fd %d is now the monitor's own host fd %d (%s)", what, g, e.host, fdName(e.host))
		}
		if !open1[e.host] {
			t.Fatalf("%s: guest fd %d refers to closed host fd %d", what, g, e.host)
		}
		if fl, err := unix.FcntlInt(uintptr(e.host), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
			t.Fatalf("%s: host fd %d behind guest fd %d is not close-on-exec (%#x, %v)", what, e.host, g, fl, err)
		}
	}
	// A signalfd's own eventfd is open, and lives exactly as long as
	// some guest descriptor names the signalfd.
	named := map[*signalFD]bool{}
	for _, e := range h.p.files.fds {
		if e.host >= 0 && e.sfd != nil {
			named[e.sfd] = true
		}
	}
	h.p.sig.mu.Lock()
	for _, sfd := range h.p.sig.fds.list {
		if !named[sfd] {
			t.Fatalf("%s: signalfd with eventfd %d is named by no guest descriptor", what, sfd.efd)
		}
		if !open1[sfd.efd] {
			t.Fatalf("%s: signalfd's eventfd %d is closed", what, sfd.efd)
		}
		held[sfd.efd] = -1
		delete(named, sfd)
	}
	h.p.sig.mu.Unlock()
	for sfd := range named {
		t.Fatalf("%s: a guest descriptor names a released signalfd (eventfd %d)", what, sfd.efd)
	}
	for fd := range open0 {
		if !held0[fd] && !open1[fd] {
			t.Fatalf("%s closed host fd %d, which was not the guest's", what, fd)
		}
	}
	for _, fd := range h.timerFDs() {
		if _, dup := held[fd]; dup || !open1[fd] {
			t.Fatalf("%s: timer host fd %d is shared or closed", what, fd)
		}
		held[fd] = -1
	}
	for fd := range open1 {
		if _, ok := held[fd]; !ok && (!open0[fd] || held0[fd]) {
			t.Fatalf("%s leaked host fd %d (%s): open, but no longer or never in the guest's table", what, fd, fdName(fd))
		}
	}
	return open1
}

// checkMemory checks the address space bookkeeping and that guest memory is
// still one mapped range on the host.
func (h *sysHarness) checkMemory(t *testing.T, what string) {
	t.Helper()
	p := h.p
	as := p.as
	as.mu.Lock()
	defer as.mu.Unlock()
	for i, m := range as.maps {
		if m.start >= m.end || m.start%pageSize != 0 || m.end%pageSize != 0 || m.start < pageSize || m.end > p.mem.size {
			t.Fatalf("%s: bad mapping %d [%#x, %#x)", what, i, m.start, m.end)
		}
		if i > 0 && as.maps[i-1].end > m.start {
			t.Fatalf("%s: mappings %d [%#x, %#x) and %d [%#x, %#x) unsorted or overlapping",
				what, i-1, as.maps[i-1].start, as.maps[i-1].end, i, m.start, m.end)
		}
	}
	if as.brk < as.brkStart || as.brk >= as.mmapTop {
		t.Fatalf("%s: brk %#x outside [%#x, %#x)", what, as.brk, as.brkStart, as.mmapTop)
	}
	vec := make([]byte, p.mem.size/pageSize)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(p.mem.host))),
		uintptr(p.mem.size), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatalf("%s: guest memory is no longer mapped on the host: mincore: %v", what, e)
	}
}

// openFDs lists this process's open descriptors.
func openFDs() (map[int]bool, error) {
	dfd, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dfd)
	fds := map[int]bool{}
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(dfd, buf)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		_, _, names := unix.ParseDirent(buf[:n], -1, nil)
		for _, name := range names {
			if fd, err := strconv.Atoi(name); err == nil && fd != dfd {
				fds[fd] = true
			}
		}
	}
	return fds, nil
}

func fdName(fd int) string {
	s, err := readlinkString("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return err.Error()
	}
	return s
}

func statAll(paths []string) ([]unix.Stat_t, error) {
	out := make([]unix.Stat_t, len(paths))
	for i, p := range paths {
		if err := unix.Lstat(p, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func sameStat(a, b *unix.Stat_t) bool {
	return a.Ino == b.Ino && a.Mode == b.Mode && a.Nlink == b.Nlink && a.Uid == b.Uid && a.Gid == b.Gid &&
		a.Size == b.Size && a.Mtim == b.Mtim && a.Ctim == b.Ctim
}

func negArg(v int64) uint64 { return uint64(v) }

// g is a guest address in the fuzzed memory.
func g(off uint64) uint64 { return fuzzImageBase + off }

// Offsets from fuzzImageBase of what syscallSeedMem holds. The seed memory
// is kept small (see tinyC): everything at or past its end reads as zeros,
// and the seeds write their output at g(0x2000).
const (
	offFile    = 0x00  // "/dir/file"
	offNew     = 0x10  // "/newfile"
	offLink    = 0x20  // "dir/link"
	offEscape  = 0x30  // "/dir/escape"
	offOutside = 0x40  // "/../outside/secret"
	offExe     = 0x58  // "/proc/self/exe"
	offDir     = 0x68  // "/dir"
	offName    = 0x70  // "file"
	offSubNew  = 0x78  // "sub/new"
	offIov     = 0x80  // struct iovec[2] over the data
	offStack   = 0xa0  // stack_t
	offFlock   = 0xc0  // struct flock
	offSigact  = 0xe0  // struct sigaction
	offPoll    = 0x100 // struct pollfd[2]
	offEpoll   = 0x110 // struct epoll_event
	offSigset  = 0x120 // sigset_t
	offTimes   = 0x128 // struct timespec[2]
	offRlimit  = 0x148 // struct rlimit
	offData    = 0x160 // 64 bytes of text
	offMsg     = 0x1a0 // struct mmsghdr: msghdr over offIov, control at offCmsg
	offCmsg    = 0x1e0 // SCM_RIGHTS carrying gfdFile and gfdPipeR
	offFdset   = 0x1f8 // fd_set holding gfdPipeR and gfdPipeW
	offFprog   = 0x200 // struct sock_fprog of one instruction at offFilter
	offFilter  = 0x210 // BPF "accept all"
	offItimer  = 0x218 // struct itimerspec: 1 s
	offSun     = 0x238 // sockaddr_un "sock" (7 bytes)
	offSigev   = 0x248 // struct sigevent: SIGUSR1, value 42
	seedMemLen = 0x288
)

// syscallSeedMem is guest memory for the seeds.
func syscallSeedMem() []byte {
	m := make([]byte, seedMemLen)
	for off, s := range map[int]string{offFile: "/dir/file", offNew: "/newfile", offLink: "dir/link", offEscape: "/dir/escape",
		offOutside: "/../outside/secret", offExe: "/proc/self/exe", offDir: "/dir", offName: "file", offSubNew: "sub/new"} {
		copy(m[off:], s+"\x00")
	}
	le.PutUint64(m[offIov:], g(offData))
	le.PutUint64(m[offIov+8:], 16)
	le.PutUint64(m[offIov+16:], g(offData+16))
	le.PutUint64(m[offIov+24:], 32)
	le.PutUint64(m[offStack:], g(0x2000))
	le.PutUint64(m[offStack+16:], 0x4000)
	le.PutUint16(m[offFlock:], unix.F_WRLCK) // whole of [0, 10)
	le.PutUint64(m[offFlock+16:], 10)
	le.PutUint64(m[offSigact:], g(0x800))
	le.PutUint64(m[offSigact+8:], 0x04000000) // SA_RESTORER
	le.PutUint64(m[offSigact+16:], g(0x900))
	le.PutUint32(m[offPoll:], gfdStdin)
	le.PutUint16(m[offPoll+4:], unix.POLLIN)
	le.PutUint32(m[offPoll+8:], gfdPipeR)
	le.PutUint16(m[offPoll+12:], unix.POLLIN)
	le.PutUint32(m[offEpoll:], unix.EPOLLIN)
	le.PutUint64(m[offEpoll+4:], 42)
	le.PutUint64(m[offSigset:], 1<<(unix.SIGUSR1-1))
	le.PutUint64(m[offTimes:], 1)
	le.PutUint64(m[offTimes+16:], 2)
	le.PutUint64(m[offRlimit:], 100)
	le.PutUint64(m[offRlimit+8:], 200)
	for i := offData; i < offData+64; i++ {
		m[i] = byte('a' + i%26)
	}
	le.PutUint64(m[offMsg+16:], g(offIov)) // msg_iov
	le.PutUint64(m[offMsg+24:], 2)
	le.PutUint64(m[offMsg+32:], g(offCmsg)) // msg_control
	le.PutUint64(m[offMsg+40:], 24)
	le.PutUint64(m[offCmsg:], 24) // cmsg_len
	le.PutUint32(m[offCmsg+8:], unix.SOL_SOCKET)
	le.PutUint32(m[offCmsg+12:], unix.SCM_RIGHTS)
	le.PutUint32(m[offCmsg+16:], gfdFile)
	le.PutUint32(m[offCmsg+20:], gfdPipeR)
	m[offFdset] = 1<<gfdPipeR | 1<<gfdPipeW
	le.PutUint16(m[offFprog:], 1)
	le.PutUint64(m[offFprog+8:], g(offFilter))
	le.PutUint16(m[offFilter:], 0x06) // BPF_RET|BPF_K
	le.PutUint32(m[offFilter+4:], 0xffffffff)
	le.PutUint64(m[offItimer+16:], 1)
	le.PutUint16(m[offSun:], unix.AF_UNIX)
	copy(m[offSun+2:], "sock\x00")
	le.PutUint64(m[offSigev+sevValue:], 42)
	le.PutUint32(m[offSigev+sevSigno:], uint32(unix.SIGUSR1))
	return m
}

type seedCall struct {
	nr uintptr
	a  args
}

// syscallSeeds are ordinary calls of most handlers, plus a few edge cases.
func syscallSeeds() []seedCall {
	cwd := negArg(unix.AT_FDCWD)
	out := g(0x2000)
	return []seedCall{
		{unix.SYS_READ, args{gfdFile, g(0x2000), 64}},
		{unix.SYS_READ, args{gfdStdin, g(0x2000), 4096}},
		{unix.SYS_READ, args{gfdPipeR, g(0x2000), 100}},
		{unix.SYS_READ, args{gfdFile, 0, 10}},
		{unix.SYS_READ, args{gfdFile, fuzzGuestMem - 4, 100}},
		{unix.SYS_WRITE, args{gfdStdout, g(offData), 32}},
		{unix.SYS_WRITE, args{gfdStderr, ^uint64(0) - 0xfff, 16}},
		{unix.SYS_WRITE, args{gfdPipeW, g(offData), 256}},
		{unix.SYS_PREAD64, args{gfdFile, out, 10, 3}},
		{unix.SYS_PWRITE64, args{gfdFile, g(offData), 10, 1 << 20}},
		{unix.SYS_READV, args{gfdStdin, g(offIov), 2}},
		{unix.SYS_READV, args{gfdStdin, g(offIov), 1025}},
		{unix.SYS_WRITEV, args{gfdStdout, g(offIov), 2}},
		{unix.SYS_PREADV, args{gfdFile, g(offIov), 2, 1}},
		{unix.SYS_PWRITEV2, args{gfdFile, g(offIov), 2, 0, 0, 0}},
		{unix.SYS_OPEN, args{g(offFile), unix.O_RDWR}},
		{unix.SYS_OPEN, args{^uint64(0), unix.O_RDONLY}},
		{unix.SYS_OPEN, args{g(offOutside), unix.O_RDONLY}},
		{unix.SYS_OPEN, args{g(offEscape), unix.O_RDWR}},
		{unix.SYS_OPEN, args{g(offExe), unix.O_RDONLY}},
		{unix.SYS_OPENAT, args{cwd, g(offNew), unix.O_CREAT | unix.O_WRONLY, 0o644}},
		{unix.SYS_OPENAT, args{gfdDir, g(offName), unix.O_RDONLY}},
		{unix.SYS_OPENAT, args{gfdDir, g(offDir), unix.O_TMPFILE | unix.O_RDWR, 0o600}},
		{unix.SYS_CREAT, args{g(offNew), 0o600}},
		{unix.SYS_CLOSE, args{gfdFile}},
		{unix.SYS_CLOSE, args{1 << 32}},
		{unix.SYS_CLOSE_RANGE, args{3, 100, 0}},
		{unix.SYS_CLOSE_RANGE, args{0, ^uint64(0), unix.CLOSE_RANGE_CLOEXEC}},
		{unix.SYS_LSEEK, args{gfdFile, 5, unix.SEEK_SET}},
		{unix.SYS_FSTAT, args{gfdFile, out}},
		{unix.SYS_STAT, args{g(offFile), out}},
		{unix.SYS_LSTAT, args{g(offLink), out}},
		{unix.SYS_NEWFSTATAT, args{gfdDir, g(offName), out, 0}},
		{unix.SYS_NEWFSTATAT, args{gfdPath, g(seedMemLen), out, unix.AT_EMPTY_PATH}},
		{unix.SYS_STATX, args{cwd, g(offExe), 0, unix.STATX_BASIC_STATS, out}},
		{unix.SYS_GETDENTS64, args{gfdDir, out, 4096}},
		{unix.SYS_FCNTL, args{gfdFile, unix.F_DUPFD, 10}},
		{unix.SYS_FCNTL, args{gfdFile, unix.F_DUPFD_CLOEXEC, 0}},
		{unix.SYS_FCNTL, args{gfdFile, unix.F_GETFL}},
		{unix.SYS_FCNTL, args{gfdFile, unix.F_SETFD, unix.FD_CLOEXEC}},
		{unix.SYS_FCNTL, args{gfdFile, unix.F_SETLK, g(offFlock)}},
		{unix.SYS_FCNTL, args{gfdFile, unix.F_OFD_GETLK, g(offFlock)}},
		{unix.SYS_IOCTL, args{gfdStdin, unix.TCGETS, out}},
		{unix.SYS_IOCTL, args{gfdFile, fioclex}},
		{unix.SYS_IOCTL, args{gfdPipeR, unix.TIOCINQ, out}},
		{unix.SYS_DUP, args{gfdFile}},
		{unix.SYS_DUP2, args{gfdFile, 100}},
		{unix.SYS_DUP2, args{gfdFile, gfdFile}},
		{unix.SYS_DUP3, args{gfdFile, gfdPipeR, unix.O_CLOEXEC}},
		{unix.SYS_PIPE, args{out}},
		{unix.SYS_PIPE2, args{out, unix.O_CLOEXEC}},
		{unix.SYS_ACCESS, args{g(offFile), unix.R_OK}},
		{unix.SYS_FACCESSAT2, args{gfdDir, g(offName), unix.W_OK, unix.AT_SYMLINK_NOFOLLOW}},
		{unix.SYS_GETCWD, args{out, 256}},
		{unix.SYS_CHDIR, args{g(offDir)}},
		{unix.SYS_FCHDIR, args{gfdDir}},
		{unix.SYS_MKDIR, args{g(offNew), 0o755}},
		{unix.SYS_MKDIRAT, args{gfdDir, g(offSubNew), 0o700}},
		{unix.SYS_RMDIR, args{g(offDir)}},
		{unix.SYS_UNLINK, args{g(offFile)}},
		{unix.SYS_UNLINKAT, args{gfdDir, g(offName), 0}},
		{unix.SYS_RENAME, args{g(offFile), g(offNew)}},
		{unix.SYS_RENAMEAT2, args{gfdDir, g(offName), cwd, g(offNew), unix.RENAME_NOREPLACE}},
		{unix.SYS_LINK, args{g(offFile), g(offNew)}},
		{unix.SYS_LINKAT, args{gfdPath, g(seedMemLen), cwd, g(offNew), unix.AT_EMPTY_PATH}},
		{unix.SYS_SYMLINK, args{g(offOutside), g(offNew)}},
		{unix.SYS_SYMLINKAT, args{g(offFile), gfdDir, g(offSubNew)}},
		{unix.SYS_READLINK, args{g(offLink), out, 100}},
		{unix.SYS_READLINK, args{g(offExe), out, 100}},
		{unix.SYS_READLINKAT, args{gfdDir, g(offName), out, 0}},
		{unix.SYS_CHMOD, args{g(offFile), 0o600}},
		{unix.SYS_CHMOD, args{g(offEscape), 0o777}},
		{unix.SYS_FCHMOD, args{gfdFile, 0o600}},
		{unix.SYS_FCHMODAT, args{gfdDir, g(offName), 0o640}},
		{unix.SYS_CHOWN, args{g(offEscape), 1, 1}},
		{unix.SYS_LCHOWN, args{g(offEscape), 1, 1}},
		{unix.SYS_FCHOWN, args{gfdFile, 1, 1}},
		{unix.SYS_FCHOWNAT, args{cwd, g(offLink), 2, 2, unix.AT_SYMLINK_NOFOLLOW}},
		{unix.SYS_UMASK, args{0o077}},
		{unix.SYS_TRUNCATE, args{g(offFile), 100}},
		{unix.SYS_FTRUNCATE, args{gfdFile, 1 << 20}},
		{unix.SYS_FSYNC, args{gfdFile}},
		{unix.SYS_FDATASYNC, args{gfdStdout}},
		{unix.SYS_SYNC, args{}},
		{unix.SYS_SYNCFS, args{gfdDir}},
		{unix.SYS_FALLOCATE, args{gfdFile, 0, 0, 4096}},
		{unix.SYS_FADVISE64, args{gfdFile, 0, 0, unix.FADV_SEQUENTIAL}},
		{unix.SYS_FLOCK, args{gfdFile, unix.LOCK_EX}},
		{unix.SYS_STATFS, args{g(offFile), out}},
		{unix.SYS_FSTATFS, args{gfdFile, out}},
		{unix.SYS_UTIMENSAT, args{cwd, g(offFile), g(offTimes), 0}},
		{unix.SYS_UTIMENSAT, args{gfdFile, 0, 0, 0}},
		{unix.SYS_SENDFILE, args{gfdStdout, gfdFile, 0, 100}},
		{unix.SYS_SENDFILE, args{gfdPipeW, gfdFile, g(offRlimit), 100}},
		{unix.SYS_BRK, args{fuzzImageBase + fuzzImageSize + 0x100000}},
		{unix.SYS_BRK, args{0}},
		{unix.SYS_MMAP, args{0, 8192, unix.PROT_READ | unix.PROT_WRITE, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS, ^uint64(0), 0}},
		{unix.SYS_MMAP, args{g(offData), 4096, unix.PROT_READ, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED, ^uint64(0), 0}},
		{unix.SYS_MMAP, args{0, 4096, unix.PROT_READ, unix.MAP_SHARED, gfdFile, 0}},
		{unix.SYS_MMAP, args{g(0x4000), 8192, unix.PROT_READ | unix.PROT_WRITE, unix.MAP_PRIVATE | unix.MAP_FIXED, gfdFile, 0}},
		{unix.SYS_MMAP, args{0, 1 << 40, unix.PROT_READ, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS, ^uint64(0), 0}},
		{unix.SYS_MUNMAP, args{g(offData), 4096}},
		{unix.SYS_MPROTECT, args{g(offFile), 4096, unix.PROT_READ}},
		{unix.SYS_MREMAP, args{g(offFile), 4096, 8192, unix.MREMAP_MAYMOVE}},
		{unix.SYS_MREMAP, args{g(offFile), 8192, 4096, 0}},
		{unix.SYS_MREMAP, args{g(offFile), 4096, 4096, unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED, 0x2000000}},
		{unix.SYS_MADVISE, args{g(offFile), 4096, unix.MADV_DONTNEED}},
		{unix.SYS_MINCORE, args{g(offFile), 8192, out}},
		{unix.SYS_MSYNC, args{g(offFile), 4096, unix.MS_SYNC}},
		{unix.SYS_MLOCK, args{g(offFile), 4096}},
		{unix.SYS_RT_SIGACTION, args{uint64(unix.SIGUSR1), g(offSigact), out, 8}},
		{unix.SYS_RT_SIGACTION, args{uint64(unix.SIGKILL), g(offSigact), 0, 8}},
		{unix.SYS_RT_SIGPROCMASK, args{unix.SIG_BLOCK, g(offSigset), out, 8}},
		{unix.SYS_RT_SIGPENDING, args{out, 8}},
		{unix.SYS_SIGALTSTACK, args{g(offStack), out}},
		{unix.SYS_SET_TID_ADDRESS, args{out}},
		{unix.SYS_SET_ROBUST_LIST, args{out, 24}},
		{unix.SYS_ARCH_PRCTL, args{archGetFS, out}},
		{unix.SYS_ARCH_PRCTL, args{archSetFS, 0x1234000}},
		{unix.SYS_ARCH_PRCTL, args{archSetGS, 1 << 47}},
		{unix.SYS_SCHED_YIELD, args{}},
		{unix.SYS_SCHED_GETAFFINITY, args{0, 128, out}},
		{unix.SYS_GETCPU, args{out, out + 4, 0}},
		{unix.SYS_CLOCK_GETTIME, args{unix.CLOCK_MONOTONIC, out}},
		{unix.SYS_CLOCK_GETRES, args{unix.CLOCK_REALTIME, 0}},
		{unix.SYS_GETTIMEOFDAY, args{out, out + 16}},
		{unix.SYS_TIME, args{out}},
		{unix.SYS_TIMES, args{out}},
		{unix.SYS_GETPID, args{}},
		{unix.SYS_GETPPID, args{}},
		{unix.SYS_GETTID, args{}},
		{unix.SYS_GETUID, args{}},
		{unix.SYS_GETPGID, args{0}},
		{unix.SYS_GETSID, args{12345}},
		{unix.SYS_GETRESUID, args{out, out + 4, out + 8}},
		{unix.SYS_GETGROUPS, args{64, out}},
		{unix.SYS_UNAME, args{out}},
		{unix.SYS_GETRLIMIT, args{unix.RLIMIT_NOFILE, out}},
		{unix.SYS_GETRANDOM, args{out, 64, 0}},
		{unix.SYS_SYSINFO, args{out}},
		{unix.SYS_GETRUSAGE, args{0, out}},
		{unix.SYS_PRCTL, args{unix.PR_GET_NAME, out}},
		{unix.SYS_EPOLL_CREATE1, args{unix.EPOLL_CLOEXEC}},
		{unix.SYS_EPOLL_CTL, args{gfdEpoll, unix.EPOLL_CTL_ADD, gfdEvent, g(offEpoll)}},
		{unix.SYS_EPOLL_WAIT, args{gfdEpoll, out, 4, ^uint64(0)}},
		{unix.SYS_EVENTFD2, args{3, unix.EFD_CLOEXEC}},
		{unix.SYS_POLL, args{g(offPoll), 2, ^uint64(0)}},
		{unix.SYS_PPOLL, args{g(offPoll), 2, 0, 0, 8}},
		{unix.SYS_SOCKET, args{unix.AF_UNIX, unix.SOCK_STREAM, 0}},
		{unix.SYS_SOCKET, args{unix.AF_INET, unix.SOCK_DGRAM | unix.SOCK_CLOEXEC, 0}},
		{unix.SYS_SOCKET, args{unix.AF_PACKET, unix.SOCK_RAW, 0}},
		{unix.SYS_SOCKETPAIR, args{unix.AF_UNIX, unix.SOCK_DGRAM, 0, out}},
		{unix.SYS_SENDMSG, args{gfdPipeW, g(offMsg), 0}},
		{unix.SYS_SENDMMSG, args{gfdPipeW, g(offMsg), 1, 0}},
		{unix.SYS_RECVMSG, args{gfdPipeR, g(offMsg), unix.MSG_CMSG_CLOEXEC}},
		{unix.SYS_RECVMMSG, args{gfdPipeR, g(offMsg), 1, 0, 0}},
		{unix.SYS_SENDTO, args{gfdPipeW, g(offData), 10, 0, g(offSun), 7}},
		{unix.SYS_RECVFROM, args{gfdPipeR, out, 64, 0, out + 64, g(offRlimit)}},
		{unix.SYS_CONNECT, args{gfdFile, g(offSun), 7}},
		{unix.SYS_BIND, args{gfdFile, g(offSun), 7}},
		{unix.SYS_ACCEPT4, args{gfdFile, out, g(offRlimit), unix.SOCK_CLOEXEC}},
		{unix.SYS_GETSOCKNAME, args{gfdFile, out, g(offRlimit)}},
		{unix.SYS_SETSOCKOPT, args{gfdFile, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, g(offFprog), 16}},
		{unix.SYS_GETSOCKOPT, args{gfdFile, unix.SOL_SOCKET, unix.SO_TYPE, out, g(offRlimit)}},
		{unix.SYS_SELECT, args{8, g(offFdset), g(offFdset), 0, 0}},
		{unix.SYS_PSELECT6, args{8, g(offFdset), 0, 0, 0, 0}},
		{unix.SYS_TIMERFD_CREATE, args{unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC}},
		{unix.SYS_TIMERFD_SETTIME, args{gfdFile, 0, g(offItimer), out}},
		{unix.SYS_TIMER_CREATE, args{unix.CLOCK_MONOTONIC, g(offSigev), out}},
		{unix.SYS_TIMER_CREATE, args{unix.CLOCK_REALTIME, 0, out}},
		{unix.SYS_TIMER_SETTIME, args{0, 1, g(offItimer), out}},
		{unix.SYS_TIMER_GETTIME, args{0, out}},
		{unix.SYS_TIMER_GETOVERRUN, args{0}},
		{unix.SYS_TIMER_DELETE, args{0}},
		{unix.SYS_SPLICE, args{gfdPipeR, 0, gfdFile, g(offRlimit), 10, 0}},
		{unix.SYS_TEE, args{gfdPipeR, gfdPipeW, 10, 0}},
		{unix.SYS_COPY_FILE_RANGE, args{gfdFile, 0, gfdFile, g(offRlimit), 10, 0}},
		{unix.SYS_IOCTL, args{gfdStdin, unix.SIOCGIFCONF, g(offRlimit)}},
	}
}

func seedArgs(f *testing.F) {
	mem := syscallSeedMem()
	for _, s := range syscallSeeds() {
		f.Add(uint16(s.nr), s.a[0], s.a[1], s.a[2], s.a[3], s.a[4], s.a[5], mem)
	}
	f.Add(uint16(unix.SYS_GETPID), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), []byte(nil))
}

// shortMinimize sets -fuzzminimizetime to d unless it was given.
func shortMinimize(d string) {
	given := false
	flag.Visit(func(fl *flag.Flag) { given = given || fl.Name == "test.fuzzminimizetime" })
	if fl := flag.Lookup("test.fuzzminimizetime"); fl != nil && !given {
		fl.Value.Set(d)
	}
}

func FuzzSyscallArgs(f *testing.F) {
	shortMinimize("5s")
	seedArgs(f)
	h := newSysHarness(f)
	f.Fuzz(func(t *testing.T, nr uint16, a0, a1, a2, a3, a4, a5 uint64, mem []byte) {
		h.reset(t, mem)
		h.call(t, int(nr)%len(syscallTable), args{a0, a1, a2, a3, a4, a5})
		h.on(t, "tidy", func(*thread) { h.tidy() })
	})
}

// fuzzNumbers lists the syscalls the sequence fuzzer picks from.
func fuzzNumbers() []int {
	var nrs []int
	for nr := range syscallTable {
		if h, _ := fuzzHandler(nr); h != nil {
			nrs = append(nrs, nr)
		}
	}
	sort.Ints(nrs)
	return nrs
}

// seqValues are the arguments an encoded sequence can name in one byte.
var seqValues = []uint64{
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 16, 64, 100, 0x1000, 0x2000, 0x10000,
	fuzzImageBase, g(0x1000), g(0x2000), fuzzImageBase + fuzzImageSize, fuzzGuestMem - 0x1000, fuzzGuestMem,
	fuzzGuestMem - stackMax, 1 << 31, 1 << 32, 1 << 47, 1 << 63, ^uint64(0), ^uint64(0) - 0xfff, 0x7fffffff, 0xffffffff,
	negArg(unix.AT_FDCWD), unix.PROT_READ, unix.PROT_READ | unix.PROT_WRITE, unix.MAP_SHARED, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS,
	unix.MAP_SHARED | unix.MAP_FIXED, unix.MAP_PRIVATE | unix.MAP_FIXED, unix.O_RDWR | unix.O_CREAT, unix.O_RDONLY | unix.O_DIRECTORY,
	unix.MREMAP_MAYMOVE, unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED, unix.AT_EMPTY_PATH, unix.AT_SYMLINK_NOFOLLOW, 0o644, 0o755,
}

// decodeSeq turns fuzz bytes into at most 8 calls: a byte choosing the
// syscall, then per argument a tag byte whose low two bits say what follows:
// 0 a signed byte, 1 a 16-bit offset from fuzzImageBase, 2 a raw 64-bit value,
// 3 none (the tag's other bits pick one of seqValues).
func decodeSeq(data []byte, nrs []int) []seedCall {
	next := func(n int) uint64 {
		var v uint64
		for i := 0; i < n; i++ {
			v <<= 8
			if len(data) > 0 {
				v |= uint64(data[0])
				data = data[1:]
			}
		}
		return v
	}
	var calls []seedCall
	for len(data) > 0 && len(calls) < 8 {
		c := seedCall{nr: uintptr(nrs[int(next(1))%len(nrs)])}
		for i := range c.a {
			switch tag := next(1); tag & 3 {
			case 0:
				c.a[i] = uint64(int64(int8(next(1))))
			case 1:
				c.a[i] = fuzzImageBase + next(2)
			case 2:
				c.a[i] = next(8)
			case 3:
				c.a[i] = seqValues[int(tag>>2)%len(seqValues)]
			}
		}
		calls = append(calls, c)
	}
	return calls
}

// encodeSeq is decodeSeq's inverse, with every argument raw.
func encodeSeq(nrs []int, calls ...seedCall) []byte {
	var b []byte
	for _, c := range calls {
		i := sort.SearchInts(nrs, int(c.nr))
		if i == len(nrs) || nrs[i] != int(c.nr) {
			continue // not fuzzed
		}
		b = append(b, byte(i))
		for _, v := range c.a {
			b = append(b, 2)
			b = binary.BigEndian.AppendUint64(b, v)
		}
	}
	return b
}

func FuzzSyscallSeq(f *testing.F) {
	shortMinimize("5s")
	nrs := fuzzNumbers()
	if len(nrs) > 256 {
		f.Fatalf("%d fuzzable syscalls do not fit the one-byte selector", len(nrs))
	}
	mem := syscallSeedMem()
	cwd := negArg(unix.AT_FDCWD)
	out := g(0x2000)
	const newFD = gfdCount // the first descriptor a call opens
	seqs := [][]seedCall{
		{{unix.SYS_OPENAT, args{cwd, g(offNew), unix.O_CREAT | unix.O_RDWR, 0o644}}, {unix.SYS_WRITE, args{newFD, g(offData), 100}},
			{unix.SYS_LSEEK, args{newFD, 0, unix.SEEK_SET}}, {unix.SYS_READ, args{newFD, out, 100}}, {unix.SYS_CLOSE, args{newFD}}},
		{{unix.SYS_MMAP, args{0, 0x10000, unix.PROT_READ | unix.PROT_WRITE, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS, ^uint64(0), 0}},
			{unix.SYS_MUNMAP, args{fuzzGuestMem - stackMax - stackGuard - 0x10000, 0x4000}},
			{unix.SYS_BRK, args{fuzzImageBase + fuzzImageSize + 0x5000}}, {unix.SYS_BRK, args{fuzzImageBase + fuzzImageSize + 0x1000}}},
		{{unix.SYS_PIPE2, args{out, 0}}, {unix.SYS_DUP2, args{newFD, 50}}, {unix.SYS_WRITE, args{newFD + 1, g(offData), 10}},
			{unix.SYS_READ, args{50, out, 100}}, {unix.SYS_CLOSE_RANGE, args{newFD, 60, 0}}},
		{{unix.SYS_MMAP, args{g(0x4000), 0x2000, unix.PROT_READ | unix.PROT_WRITE, unix.MAP_PRIVATE | unix.MAP_FIXED, gfdFile, 0}},
			{unix.SYS_MPROTECT, args{g(0x4000), 0x1000, unix.PROT_READ}},
			{unix.SYS_MREMAP, args{g(0x4000), 0x2000, 0x8000, unix.MREMAP_MAYMOVE}}, {unix.SYS_UNAME, args{out}}},
		{{unix.SYS_MKDIR, args{g(offNew), 0o755}}, {unix.SYS_CHDIR, args{g(offNew)}}, {unix.SYS_GETCWD, args{out, 256}},
			{unix.SYS_SYMLINK, args{g(offOutside), g(offName)}}, {unix.SYS_READLINK, args{g(offName), out, 100}},
			{unix.SYS_OPEN, args{g(offName), unix.O_RDONLY}}, {unix.SYS_RENAME, args{g(offName), g(offSubNew)}}},
		{{unix.SYS_FLOCK, args{gfdFile, unix.LOCK_EX}}, {unix.SYS_OPEN, args{g(offFile), unix.O_RDWR}}, {unix.SYS_FLOCK, args{newFD, unix.LOCK_EX}},
			{unix.SYS_FCNTL, args{gfdFile, unix.F_OFD_SETLK, g(offFlock)}}, {unix.SYS_FCNTL, args{newFD, unix.F_OFD_SETLKW, g(offFlock)}}},
		{{unix.SYS_FCNTL, args{gfdPipeR, unix.F_SETFL, 0}}, {unix.SYS_READ, args{gfdPipeR, out, 100}}, {unix.SYS_READ, args{gfdPipeR, out, 100}}},
		// Descriptors through a socketpair, both ways, then the pair closed.
		{{unix.SYS_SOCKETPAIR, args{unix.AF_UNIX, unix.SOCK_STREAM, 0, out}}, {unix.SYS_SENDMSG, args{newFD, g(offMsg), 0}},
			{unix.SYS_SENDMMSG, args{newFD + 1, g(offMsg), 1, 0}}, {unix.SYS_RECVMSG, args{newFD + 1, g(offMsg), unix.MSG_CMSG_CLOEXEC}},
			{unix.SYS_RECVMMSG, args{newFD, g(offMsg), 2, 0, 0}}, {unix.SYS_CLOSE, args{newFD}}, {unix.SYS_RECVMSG, args{newFD + 1, g(offMsg), 0}}},
		// A named datagram socket sending to itself inside the root.
		{{unix.SYS_SOCKET, args{unix.AF_UNIX, unix.SOCK_DGRAM, 0}}, {unix.SYS_BIND, args{newFD, g(offSun), 7}},
			{unix.SYS_SENDTO, args{newFD, g(offData), 10, 0, g(offSun), 7}}, {unix.SYS_GETSOCKNAME, args{newFD, out, g(offRlimit)}},
			{unix.SYS_RECVFROM, args{newFD, out, 64, 0, out + 64, g(offRlimit)}}, {unix.SYS_UNLINK, args{g(offSun + 2)}}},
		// A listening socket in the root, a connection, accept.
		{{unix.SYS_SOCKET, args{unix.AF_UNIX, unix.SOCK_STREAM, 0}}, {unix.SYS_BIND, args{newFD, g(offSun), 7}},
			{unix.SYS_LISTEN, args{newFD, 4}}, {unix.SYS_SOCKET, args{unix.AF_UNIX, unix.SOCK_STREAM, 0}},
			{unix.SYS_CONNECT, args{newFD + 1, g(offSun), 7}}, {unix.SYS_ACCEPT4, args{newFD, out, g(offRlimit), 0}},
			{unix.SYS_GETPEERNAME, args{newFD + 1, out, g(offRlimit)}}, {unix.SYS_SELECT, args{16, g(offFdset), g(offFdset), 0, 0}}},
		// A timerfd read before it fires, and select over it.
		{{unix.SYS_TIMERFD_CREATE, args{unix.CLOCK_MONOTONIC, 0}}, {unix.SYS_TIMERFD_SETTIME, args{newFD, 0, g(offItimer), out}},
			{unix.SYS_READ, args{newFD, out, 8}}, {unix.SYS_TIMERFD_GETTIME, args{newFD, out}}},
		// POSIX timers: two, one armed, queried and deleted.
		{{unix.SYS_TIMER_CREATE, args{unix.CLOCK_MONOTONIC, g(offSigev), out}}, {unix.SYS_TIMER_CREATE, args{unix.CLOCK_BOOTTIME, 0, out + 4}},
			{unix.SYS_TIMER_SETTIME, args{1, 0, g(offItimer), out + 8}}, {unix.SYS_TIMER_GETTIME, args{1, out}},
			{unix.SYS_TIMER_GETOVERRUN, args{1}}, {unix.SYS_TIMER_DELETE, args{0}}, {unix.SYS_TIMER_DELETE, args{0}}},
		// A signalfd read with nothing pending, dup'ed, its mask changed, polled and closed.
		{{unix.SYS_SIGNALFD4, args{0xffffffff, g(offData), 8, 0}}, {unix.SYS_READ, args{newFD, out, 256}},
			{unix.SYS_DUP, args{newFD}}, {unix.SYS_SIGNALFD, args{newFD + 1, g(offData), 8}},
			{unix.SYS_EPOLL_CTL, args{gfdEpoll, unix.EPOLL_CTL_ADD, newFD, g(offData)}}, {unix.SYS_CLOSE, args{newFD}},
			{unix.SYS_SELECT, args{16, g(offFdset), g(offFdset), 0, 0}}, {unix.SYS_WRITE, args{newFD + 1, out, 8}}},
	}
	for _, s := range seqs {
		f.Add(encodeSeq(nrs, s...), mem)
	}
	h := newSysHarness(f)
	f.Fuzz(func(t *testing.T, data, mem []byte) {
		h.reset(t, mem)
		for _, c := range decodeSeq(data, nrs) {
			h.call(t, int(c.nr), c.a)
		}
		h.on(t, "tidy", func(*thread) { h.tidy() })
	})
}
