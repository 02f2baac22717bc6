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

// program is an executable ready to be placed in memory: the ELF file (after
// any #! scripts), its interpreter, and the argv it starts with.
type program struct {
	img    *elfImage
	file   *os.File
	exe    string // guest path of the ELF file: /proc/self/exe
	interp *elfImage
	ifile  *os.File
	args   []string
	execFn string // AT_EXECFN
}

func (pr *program) close() {
	if pr.file != nil {
		pr.file.Close()
	}
	if pr.ifile != nil {
		pr.ifile.Close()
	}
}

const (
	maxShebang = 4   // nested #! interpreters followed (the kernel's BINPRM_MAX_RECURSION)
	shebangLen = 256 // bytes of a #! line read (the kernel's BINPRM_BUF_SIZE)
)

// parseShebang splits a "#!" line (without the "#!") into the interpreter
// and its one optional argument, as the kernel's binfmt_script does.
func parseShebang(head []byte) (interp, arg string, ok bool) {
	line := string(head)
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	} else if len(head) == shebangLen-2 {
		// No newline in the buffer: the interpreter name must end in it.
		trimmed := strings.TrimLeft(line, " \t")
		if !strings.ContainsAny(trimmed, " \t") {
			return "", "", false
		}
	}
	line = strings.Trim(line, " \t")
	interp = line
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		interp, arg = line[:i], strings.Trim(line[i:], " \t")
	}
	if interp == "" {
		return "", "", false
	}
	return interp, arg, true
}

// openExec opens a guest path for execution, with execve's checks.
func (p *process) openExec(dirfd int32, name string) (*os.File, string, error) {
	if name == "" {
		return nil, "", unix.ENOENT
	}
	fd, err := p.openAt(dirfd, name, unix.O_RDONLY, 0)
	if err != nil {
		return nil, "", err
	}
	f := os.NewFile(uintptr(fd), name)
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		f.Close()
		return nil, "", unix.EACCES
	}
	abs := name
	if !path.IsAbs(name) {
		if dirfd == unix.AT_FDCWD {
			abs = path.Join(p.fs.cwdPath(), name)
		} else if a, err := p.guestAbs(dirfd, name); err == nil {
			abs = a
		}
	}
	return f, abs, nil
}

// prepare follows #! lines from f (named name, at guest path abs), then
// validates the ELF file and opens its interpreter. It owns f. Errors are
// errnos for execve to return (wrapping ErrBadExecutable for ENOEXEC).
func (p *process) prepare(f *os.File, name, abs string, args []string) (*program, error) {
	execFn := name
	for depth := 0; ; depth++ {
		head := make([]byte, shebangLen)
		n, _ := f.ReadAt(head, 0)
		head = head[:n]
		if n < 2 || head[0] != '#' || head[1] != '!' {
			break
		}
		f.Close()
		if depth >= maxShebang {
			return nil, unix.ELOOP
		}
		interp, arg, ok := parseShebang(head[2:])
		if !ok {
			return nil, badExec("%s: bad #! line", name)
		}
		nargs := []string{interp}
		if arg != "" {
			nargs = append(nargs, arg)
		}
		nargs = append(nargs, name)
		if len(args) > 1 {
			nargs = append(nargs, args[1:]...)
		}
		args = nargs
		var err error
		if f, abs, err = p.openExec(unix.AT_FDCWD, interp); err != nil {
			return nil, err
		}
		name = interp
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	img, err := parseELF(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	pr := &program{img: img, file: f, exe: abs, args: args, execFn: execFn}
	if len(pr.args) == 0 {
		pr.args = []string{name}
	}
	if img.interp != "" {
		ifile, _, err := p.openExec(unix.AT_FDCWD, img.interp)
		if err != nil {
			pr.close()
			return nil, err
		}
		pr.ifile = ifile
		ist, err := ifile.Stat()
		if err != nil {
			pr.close()
			return nil, err
		}
		if pr.interp, err = parseELF(ifile, ist.Size()); err != nil {
			pr.close()
			return nil, fmt.Errorf("interpreter %s of %s: %w", img.interp, name, err)
		}
		if !pr.interp.isDyn {
			pr.close()
			return nil, badExec("interpreter %s is not position-independent", img.interp)
		}
	}
	return pr, nil
}

// load places the program of the configuration (found on the guest PATH)
// in guest memory and returns the main thread's registers.
func (p *process) load() (kvm.Regs, error) {
	f, abs, err := p.openExecutable(p.cfg.Program)
	if err != nil {
		return kvm.Regs{}, err
	}
	pr, err := p.prepare(f, abs, abs, p.cfg.Args)
	if err != nil {
		var e unix.Errno
		switch {
		case errors.Is(err, ErrBadExecutable):
			return kvm.Regs{}, err
		case errors.As(err, &e) && e == unix.ENOENT:
			return kvm.Regs{}, fmt.Errorf("%w: %s: interpreter not found (inside the guest root)", ErrNotFound, p.cfg.Program)
		}
		return kvm.Regs{}, fmt.Errorf("%w: %s: %v", ErrBadExecutable, p.cfg.Program, err)
	}
	defer pr.close()
	return p.loadProgram(pr, p.cfg.Env)
}

// loadProgram places pr (and its interpreter) in guest memory, builds the
// initial stack and returns the main thread's registers.
func (p *process) loadProgram(pr *program, env []string) (kvm.Regs, error) {
	img, abs := pr.img, pr.exe
	p.exe = abs
	stackTop := p.mem.size

	bias := uint64(0)
	if img.isDyn {
		bias = pieBase - img.lo
	}
	if err := img.load(p.mem, bias, stackTop-stackMax-stackGuard); err != nil {
		return kvm.Regs{}, fmt.Errorf("%s: %w", abs, err)
	}
	p.as.setImage(img.lo+bias, img.hi+bias, abs)
	p.as.segmentProts(img, bias)
	entry := img.file.Entry + bias

	si := &startInfo{
		args: pr.args, env: env, execFn: pr.execFn,
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

	if interp := pr.interp; interp != nil {
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

	si.vdso = p.mapVDSO()

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
