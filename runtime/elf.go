package runtime

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"sort"
)

// ErrBadExecutable marks every reason an executable cannot be loaded; the
// wrapped message names the problem for the user.
var ErrBadExecutable = errors.New("cannot execute")

func badExec(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadExecutable}, args...)...)
}

// maxSegments bounds the program headers km accepts; real programs have < 20.
const maxSegments = 128

// elfImage is a validated ELF executable ready to be placed in guest memory.
type elfImage struct {
	file   *elf.File
	r      io.ReaderAt
	loads  []elf.ProgHeader // PT_LOAD, sorted by address
	interp string           // PT_INTERP, if any
	phoff  uint64
	phnum  int
	lo, hi uint64 // page-aligned span of the PT_LOAD segments (before relocation)
	isDyn  bool
}

// parseELF validates an x86-64 Linux executable. size is the file's size,
// used to reject segments that point past its end.
func parseELF(r io.ReaderAt, size int64) (img *elfImage, err error) {
	defer func() {
		// debug/elf is not hardened against every malformed input; a broken
		// file must be an error, never a crash of the monitor.
		if p := recover(); p != nil {
			img, err = nil, badExec("malformed ELF file (%v)", p)
		}
	}()
	var magic [4]byte
	if _, err := r.ReadAt(magic[:], 0); err != nil || string(magic[:]) != elf.ELFMAG {
		return nil, badExec("not an ELF executable")
	}
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, badExec("malformed ELF file: %v", err)
	}
	switch {
	case f.Class != elf.ELFCLASS64:
		return nil, badExec("%v executable; km runs only 64-bit x86-64 programs", f.Class)
	case f.Machine != elf.EM_X86_64:
		return nil, badExec("executable is for %v; km runs only x86-64 programs", f.Machine)
	case f.Data != elf.ELFDATA2LSB:
		return nil, badExec("big-endian ELF file")
	case f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN:
		return nil, badExec("ELF type %v is not an executable", f.Type)
	case len(f.Progs) == 0 || len(f.Progs) > maxSegments:
		return nil, badExec("ELF file has %d program headers", len(f.Progs))
	}
	img = &elfImage{file: f, r: r, isDyn: f.Type == elf.ET_DYN, phnum: len(f.Progs)}
	// debug/elf does not expose e_phoff; read it from the header.
	var hdr [64]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return nil, badExec("truncated ELF header")
	}
	img.phoff = le.Uint64(hdr[32:])
	if le.Uint16(hdr[54:]) != 56 {
		return nil, badExec("unexpected program header size %d", le.Uint16(hdr[54:]))
	}

	for _, p := range f.Progs {
		ph := p.ProgHeader
		switch ph.Type {
		case elf.PT_LOAD:
			if ph.Memsz == 0 {
				continue
			}
			if ph.Filesz > ph.Memsz {
				return nil, badExec("segment file size %#x exceeds memory size %#x", ph.Filesz, ph.Memsz)
			}
			if ph.Off > uint64(size) || ph.Filesz > uint64(size)-ph.Off {
				return nil, badExec("truncated file: segment at offset %#x+%#x past end %#x", ph.Off, ph.Filesz, size)
			}
			if ph.Vaddr > MaxMemory || ph.Memsz > MaxMemory || ph.Vaddr+ph.Memsz > MaxMemory {
				return nil, badExec("segment at %#x size %#x is out of range", ph.Vaddr, ph.Memsz)
			}
			if ph.Align > 1 && ph.Vaddr%pageSize != ph.Off%pageSize {
				return nil, badExec("segment at %#x is misaligned with its file offset", ph.Vaddr)
			}
			img.loads = append(img.loads, ph)
		case elf.PT_INTERP:
			if ph.Filesz == 0 || ph.Filesz > maxPath || ph.Off+ph.Filesz > uint64(size) {
				return nil, badExec("bad PT_INTERP")
			}
			b := make([]byte, ph.Filesz)
			if _, err := r.ReadAt(b, int64(ph.Off)); err != nil {
				return nil, badExec("bad PT_INTERP: %v", err)
			}
			for i, c := range b {
				if c == 0 {
					b = b[:i]
					break
				}
			}
			img.interp = string(b)
		}
	}
	if len(img.loads) == 0 {
		return nil, badExec("ELF file has no loadable segments")
	}
	sort.Slice(img.loads, func(i, j int) bool { return img.loads[i].Vaddr < img.loads[j].Vaddr })
	for i := 1; i < len(img.loads); i++ {
		prev, cur := img.loads[i-1], img.loads[i]
		if cur.Vaddr < prev.Vaddr+prev.Memsz {
			return nil, badExec("overlapping segments at %#x and %#x", prev.Vaddr, cur.Vaddr)
		}
	}
	img.lo = alignDown(img.loads[0].Vaddr, pageSize)
	last := img.loads[len(img.loads)-1]
	img.hi = alignUp(last.Vaddr+last.Memsz, pageSize)
	if img.hi-img.lo > MaxMemory {
		return nil, badExec("image spans %#x bytes", img.hi-img.lo)
	}
	if f.Entry < img.loads[0].Vaddr || f.Entry >= last.Vaddr+last.Memsz {
		return nil, badExec("entry point %#x is outside the loaded segments", f.Entry)
	}
	return img, nil
}

// phdrAddr returns the unrelocated address of the program headers in memory
// (for AT_PHDR), or 0 if no loaded segment covers them.
func (img *elfImage) phdrAddr() uint64 {
	for _, p := range img.file.Progs {
		if p.Type == elf.PT_PHDR {
			return p.Vaddr
		}
	}
	end := img.phoff + uint64(img.phnum)*56
	for _, ph := range img.loads {
		if img.phoff >= ph.Off && end <= ph.Off+ph.Filesz {
			return ph.Vaddr + img.phoff - ph.Off
		}
	}
	return 0
}

// load copies the segments into guest memory at bias (0 for ET_EXEC) after
// checking they fit below limit.
func (img *elfImage) load(mem *guestMemory, bias, limit uint64) error {
	if img.lo+bias < pageSize || img.hi+bias > limit {
		return badExec("image [%#x, %#x) does not fit in guest memory (%d MiB); raise --memory", img.lo+bias, img.hi+bias, limit>>20)
	}
	if err := mem.commit(img.lo+bias, img.hi-img.lo); err != nil {
		return err
	}
	for _, ph := range img.loads {
		dst, err := mem.slice(ph.Vaddr+bias, ph.Filesz)
		if err != nil {
			return badExec("segment at %#x outside guest memory", ph.Vaddr)
		}
		if _, err := img.r.ReadAt(dst, int64(ph.Off)); err != nil {
			return badExec("reading segment at %#x: %v", ph.Vaddr, err)
		}
	}
	return nil
}
