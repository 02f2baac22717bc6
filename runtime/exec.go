package runtime

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kmvm/km/kvm"
)

// ErrNotFound reports a program that does not exist.
var ErrNotFound = errors.New("not found")

// Bias at which position-independent executables are loaded (the usual
// non-PIE link address, so both kinds look alike).
const pieBase = 0x400000

// openExecutable finds prog (searching the guest PATH when it has no slash)
// and opens it inside the guest's root.
func (p *process) openExecutable(prog string) (*os.File, string, error) {
	candidates := []string{prog}
	if !strings.Contains(prog, "/") {
		candidates = nil
		pathEnv := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
		for _, e := range p.cfg.Env {
			if v, ok := strings.CutPrefix(e, "PATH="); ok {
				pathEnv = v
			}
		}
		for _, dir := range strings.Split(pathEnv, ":") {
			if dir == "" {
				dir = "."
			}
			candidates = append(candidates, path.Join(dir, prog))
		}
	}
	var firstErr error
	for _, c := range candidates {
		fd, err := p.openAt(unix.AT_FDCWD, c, unix.O_RDONLY, 0)
		if err != nil {
			if firstErr == nil || err != unix.ENOENT {
				firstErr = err
			}
			continue
		}
		f := os.NewFile(uintptr(fd), c)
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			f.Close()
			firstErr = unix.EACCES
			continue
		}
		abs := c
		if !path.IsAbs(abs) {
			abs = path.Join(p.fs.cwdPath(), c)
		}
		return f, abs, nil
	}
	if firstErr == unix.ENOENT || firstErr == nil {
		return nil, "", fmt.Errorf("%w: %s: no such file (inside the guest root)", ErrNotFound, prog)
	}
	return nil, "", fmt.Errorf("%w: %s: %v", ErrBadExecutable, prog, firstErr)
}

// loadELF opens and validates an ELF file at a guest path.
func (p *process) loadELF(prog string) (*elfImage, *os.File, string, error) {
	f, abs, err := p.openExecutable(prog)
	if err != nil {
		return nil, nil, "", err
	}
	st, _ := f.Stat()
	img, err := parseELF(f, st.Size())
	if err != nil {
		f.Close()
		return nil, nil, "", fmt.Errorf("%s: %w", prog, err)
	}
	return img, f, abs, nil
}

// load places the program (and its interpreter) in guest memory, builds the
// initial stack and returns the main thread's registers.
func (p *process) load() (kvm.Regs, error) {
	img, f, abs, err := p.loadELF(p.cfg.Program)
	if err != nil {
		return kvm.Regs{}, err
	}
	defer f.Close()
	p.exe = abs
	stackTop := p.mem.size

	bias := uint64(0)
	if img.isDyn {
		bias = pieBase - img.lo
	}
	if err := img.load(p.mem, bias, stackTop-stackMax-stackGuard); err != nil {
		return kvm.Regs{}, fmt.Errorf("%s: %w", p.cfg.Program, err)
	}
	p.as.setImage(img.lo+bias, img.hi+bias, abs)
	p.as.segmentProts(img, bias)
	entry := img.file.Entry + bias

	si := &startInfo{
		args: p.cfg.Args, env: p.cfg.Env, execFn: abs,
		phdr: img.phdrAddr() + bias, phnum: uint64(img.phnum), entry: entry,
		uid: uint64(os.Getuid()), euid: uint64(os.Geteuid()),
		gid: uint64(os.Getgid()), egid: uint64(os.Getegid()),
		hwcap: hwcap(p.cpuid),
	}
	if img.phdrAddr() == 0 {
		si.phdr = 0
	}
	if p.fsgs {
		si.hwcap2 = hwcap2FSGSBase
	}
	if len(si.args) == 0 {
		si.args = []string{p.cfg.Program}
	}

	if img.interp != "" {
		interp, ifile, _, err := p.loadELF(img.interp)
		if err != nil {
			return kvm.Regs{}, fmt.Errorf("interpreter of %s: %w", p.cfg.Program, err)
		}
		defer ifile.Close()
		if !interp.isDyn {
			return kvm.Regs{}, fmt.Errorf("%w: interpreter %s is not position-independent", ErrBadExecutable, img.interp)
		}
		base, errno := p.as.reserve(interp.hi-interp.lo, img.interp)
		if errno != 0 {
			return kvm.Regs{}, fmt.Errorf("%w: no room for interpreter %s: raise --memory", ErrBadExecutable, img.interp)
		}
		ibias := base - interp.lo
		if err := interp.load(p.mem, ibias, p.mem.size); err != nil {
			return kvm.Regs{}, fmt.Errorf("interpreter %s: %w", img.interp, err)
		}
		p.as.segmentProts(interp, ibias)
		si.interpBase = ibias
		entry = interp.file.Entry + ibias
	}

	if err := p.mem.commit(stackTop-stackMax, stackMax); err != nil {
		return kvm.Regs{}, err
	}
	sp, err := buildStack(p.mem, stackTop, si)
	if err != nil {
		return kvm.Regs{}, fmt.Errorf("%w: %v", ErrBadExecutable, err)
	}
	return kvm.Regs{RIP: entry, RSP: sp, RFLAGS: rflagsInitial}, nil
}

// hwcap is AT_HWCAP: CPUID leaf 1 EDX, as the kernel reports it.
func hwcap(entries []kvm.CPUIDEntry) uint64 {
	for _, e := range entries {
		if e.Function == 1 {
			return uint64(e.EDX)
		}
	}
	return 0
}

// segmentProts records each loaded segment's protection (PT_LOAD flags) for
// /proc/self/maps; like mprotect, it is not enforced (docs/syscalls.md).
func (as *addressSpace) segmentProts(img *elfImage, bias uint64) {
	as.mu.Lock()
	defer as.mu.Unlock()
	for _, ph := range img.loads {
		prot := 0
		if ph.Flags&elf.PF_R != 0 {
			prot |= unix.PROT_READ
		}
		if ph.Flags&elf.PF_W != 0 {
			prot |= unix.PROT_WRITE
		}
		if ph.Flags&elf.PF_X != 0 {
			prot |= unix.PROT_EXEC
		}
		as.setProt(alignDown(ph.Vaddr+bias, pageSize), alignUp(ph.Vaddr+ph.Memsz+bias, pageSize), prot)
	}
}
