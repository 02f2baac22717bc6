package runtime

// execve and execveat replace the guest's image inside the same monitor
// process (same pid, same VM): the other threads end, memory is replaced by
// fresh memory, close-on-exec descriptors close, handled signals return to
// their default, and the new program starts on the calling thread.

import (
	"errors"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kmvm/km/kvm"
)

func init() {
	register(unix.SYS_EXECVE, sysExecve)
	register(unix.SYS_EXECVEAT, sysExecveat)
}

const (
	maxArgStrings = 1 << 17   // argv+envp entries accepted (MAX_ARG_STRINGS is 0x7fffffff; memory bounds it first)
	maxArgBytes   = 2 << 20   // total argv+envp size: km places them in the top half of the 8 MiB stack
	maxArgString  = 128 << 10 // one argument or variable (MAX_ARG_STRLEN)
	// execThreadWait bounds how long execve waits for the other threads to
	// leave the guest; a thread stuck in a host call past it is abandoned.
	execThreadWait = 2 * time.Second
)

func sysExecve(t *thread, a args) uint64 {
	return t.execve(unix.AT_FDCWD, a[0], a[1], a[2], 0)
}

func sysExecveat(t *thread, a args) uint64 {
	return t.execve(int32(a[0]), a[1], a[2], a[3], int(a[4]))
}

func (t *thread) execve(dirfd int32, pathAddr, argvAddr, envAddr uint64, flags int) uint64 {
	p := t.p
	if flags&^(unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW) != 0 {
		return neg(unix.EINVAL)
	}
	name, err := p.mem.readString(pathAddr, maxPath)
	if err != nil {
		return errno(err)
	}
	budget := maxArgBytes
	argv, err := p.mem.readArgs(argvAddr, &budget)
	if err != nil {
		return errno(err)
	}
	envp, err := p.mem.readArgs(envAddr, &budget)
	if err != nil {
		return errno(err)
	}

	var f *os.File
	var abs string
	if name == "" && flags&unix.AT_EMPTY_PATH != 0 {
		// fexecve: the descriptor itself.
		h, err := p.files.host(dirfd)
		if err != nil {
			return neg(unix.EBADF)
		}
		fd, err := unix.Open(procPath(h), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return errno(err)
		}
		f = os.NewFile(uintptr(fd), name)
		if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
			f.Close()
			return neg(unix.EACCES)
		}
		abs, _ = p.fs.guestPathOfHost(h)
		name = "/dev/fd/" + strconv.Itoa(int(dirfd))
	} else {
		if flags&unix.AT_SYMLINK_NOFOLLOW != 0 {
			if r, err := p.resolve(dirfd, name, false); err == nil {
				var st unix.Stat_t
				isLink := unix.Fstatat(r.dir, r.name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
				r.close()
				if isLink {
					return neg(unix.ELOOP)
				}
			}
		}
		if f, abs, err = p.openExec(dirfd, name); err != nil {
			return errno(err)
		}
	}
	pr, err := p.prepare(f, name, abs, argv)
	if err != nil {
		if errors.Is(err, ErrBadExecutable) {
			return neg(unix.ENOEXEC)
		}
		return errno(err)
	}
	defer pr.close()

	// The point of no return.
	p.execMu.Lock()
	defer p.execMu.Unlock()
	p.stopOtherThreads(t)
	p.deleteAllTimers() // Linux deletes POSIX timers on exec
	if err := p.mem.reset(); err != nil {
		p.report("execve: cannot reset guest memory: %v", err)
		return t.execFailed()
	}
	p.as = newAddressSpace(p.mem)
	p.sig.mu.Lock()
	for i := range p.sig.actions {
		if p.sig.actions[i].handler != sigIGN {
			p.sig.actions[i] = sigaction{}
		}
	}
	p.sig.mu.Unlock()
	t.altstack = stackT{}
	t.clearChildTID = 0
	p.files.closeOnExec()
	p.cfg.Program, p.cfg.Args, p.cfg.Env = name, pr.args, envp

	regs, err := p.loadProgram(pr, envp)
	if err != nil {
		p.report("execve %s: %v", name, err)
		return t.execFailed()
	}
	// The thread that exec'ed becomes the main thread (tid = pid).
	p.threadsMu.Lock()
	delete(p.threads, t.tid)
	t.tid = p.pid
	p.threads[t.tid] = t
	p.threadsMu.Unlock()

	// Fresh CPU state: FS/GS bases 0, x87/SSE/AVX in their reset state.
	s := t.sregs()
	s.FS.Base, s.GS.Base = 0, 0
	t.sregsDirty = true
	var xs kvm.Xsave
	const xsaveMXCSR = 24 / 4 // MXCSR's word in the legacy XSAVE area
	xs.Region[xsaveMXCSR] = 0x1f80
	if err := t.vcpu.SetXsave(&xs); err != nil {
		fpu := kvm.FPU{FCW: 0x37f, MXCSR: 0x1f80}
		t.vcpu.SetFPU(&fpu)
	}
	*t.regs = regs
	t.noResume = true
	p.closeVfork()
	return 0
}

// execFailed ends a process whose execve failed past the point of no return.
func (t *thread) execFailed() uint64 {
	t.p.exit(ExitStatus{Signal: unix.SIGKILL})
	t.exitThread = true
	return neg(unix.ENOMEM)
}

// stopOtherThreads ends every guest thread but t, as execve does.
func (p *process) stopOtherThreads(t *thread) {
	deadline := time.Now().Add(execThreadWait)
	for {
		p.threadsMu.Lock()
		others := 0
		for _, o := range p.threads {
			if o != t {
				others++
				o.killed.Store(true)
				o.kick()
			}
		}
		p.threadsMu.Unlock()
		if others == 0 {
			return
		}
		if time.Now().After(deadline) {
			p.report("execve: %d thread(s) stuck in the host abandoned", others)
			p.threadsMu.Lock()
			for tid, o := range p.threads {
				if o != t {
					delete(p.threads, tid)
				}
			}
			p.threadsMu.Unlock()
			return
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// readArgs reads a NULL-terminated guest array of string pointers (argv,
// envp), charging each string and pointer to *budget: E2BIG once it is
// spent, so a hostile array (the same long string a million times) costs
// the monitor at most maxArgBytes.
func (m *guestMemory) readArgs(addr uint64, budget *int) ([]string, error) {
	var out []string
	if addr == 0 {
		return nil, nil
	}
	for i := uint64(0); ; i++ {
		if len(out) >= maxArgStrings {
			return nil, unix.E2BIG
		}
		p, err := m.readU64(addr + i*8)
		if err != nil {
			return nil, err
		}
		if p == 0 {
			return out, nil
		}
		s, err := m.readString(p, min(*budget, maxArgString))
		if err == unix.ENAMETOOLONG {
			return nil, unix.E2BIG
		}
		if err != nil {
			return nil, err
		}
		if *budget -= len(s) + 1 + 8; *budget < 0 {
			return nil, unix.E2BIG
		}
		out = append(out, s)
	}
}
