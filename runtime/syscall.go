package runtime

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// args are a syscall's six arguments (rdi, rsi, rdx, r10, r8, r9).
type args [6]uint64

// handler serves one syscall and returns its result: a value, or -errno.
type handler func(t *thread, a args) uint64

// syscallTable is indexed by syscall number. The sys_*.go files fill it from
// their init functions, one area each.
var syscallTable [len(syscallNames)]handler

func register(nr uintptr, h handler) {
	if syscallTable[nr] != nil {
		panic(fmt.Sprintf("syscall %d registered twice", nr))
	}
	syscallTable[nr] = h
}

// errno encodes a host error as a syscall result.
func errno(err error) uint64 {
	if err == nil {
		return 0
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return neg(e)
	}
	if errors.Is(err, errFault) {
		return neg(unix.EFAULT)
	}
	return neg(unix.EIO)
}

// neg encodes errno e as a syscall result (-e); neg(0) is 0.
func neg(e unix.Errno) uint64 { return -uint64(e) }

// result turns a raw syscall's (r, errno) into a syscall result.
func result(r uintptr, e unix.Errno) uint64 {
	if e != 0 {
		return neg(e)
	}
	return uint64(r)
}

// syscallCounts counts syscalls km does not implement, by number.
type syscallCounts struct {
	mu      sync.Mutex
	missing map[uint64]int
	total   atomic.Int64
}

// syscall serves the syscall the guest thread is stopped in and resumes it
// at the instruction after its `syscall`.
func (t *thread) syscall() {
	if t.p.firstSyscall.Load() == 0 {
		t.p.firstSyscall.CompareAndSwap(0, int64(time.Since(t.p.started)))
	}
	r := t.regs
	nr := r.RAX
	a := args{r.RDI, r.RSI, r.RDX, r.R10, r.R8, r.R9}
	// Linux: syscall saved the return address and flags in rcx and r11.
	retRIP, retFlags := r.RCX, r.R11

	var ret uint64
	var h handler
	if nr < uint64(len(syscallTable)) {
		h = syscallTable[nr]
	}
	t.blockInterrupted = false
	filtered := false
	if f := t.p.seccomp; f != nil {
		// The profile's decision comes before anything is served.
		if act := f.decide(nr, a); act != SeccompAllow && act.kind() != SeccompLog {
			var done bool
			if ret, done = t.seccompDeny(act, nr); done {
				return
			}
			filtered = true
		}
	}
	if t.p.trace != nil && !filtered && (nr == unix.SYS_EXIT || nr == unix.SYS_EXIT_GROUP) {
		// These do not return, and the monitor may be gone before a line
		// written afterwards: traced now, with strace's "= ?".
		t.traceSyscall(nr, a, noReturn)
	}
	switch {
	case filtered:
	case h != nil:
		ret = h(t, a)
	default:
		ret = t.unimplemented(nr, a)
	}
	if t.p.trace != nil && (filtered || (nr != unix.SYS_EXIT && nr != unix.SYS_EXIT_GROUP)) {
		t.traceSyscall(nr, a, ret)
	}
	if t.exitThread {
		return
	}
	if t.noResume {
		// rt_sigreturn or execve installed the whole user state.
		t.noResume = false
		u := *t.regs
		if t.interrupt.Swap(false) {
			t.deliverSignals(&u, -1)
		}
		if !t.exitThread {
			t.enterUser(u)
		}
		return
	}
	if t.interrupt.Swap(false) || t.hasSavedMask {
		interrupted := int64(-1)
		if t.blockInterrupted && ret == neg(unix.EINTR) {
			interrupted = int64(nr)
		}
		u := t.userStateAfterSyscall(ret, retRIP, retFlags)
		if t.deliverSignals(&u, interrupted) {
			if !t.exitThread {
				t.enterUser(u)
			}
			return
		}
		if t.exitThread {
			return
		}
	}
	t.resume(ret, retRIP, retFlags)
}

// resume returns to the guest at rip with flags and rax = ret.
func (t *thread) resume(ret, rip, flags uint64) {
	r := t.regs
	r.RAX = ret
	switch {
	case t.p.pvm:
		// PVM entered the stub without leaving CPL3: jumping back is enough
		// (a sysretq would triple-fault there).
		r.RIP, r.RFLAGS = rip, flags&rflagsUser|rflagsInitial
	case t.forceFullReturn:
		// Hardware KVM, but the return address is not the caller's: leave
		// CPL0 by rewriting the user state rather than trusting sysretq
		// with an address the guest chose.
		r.RIP, r.RFLAGS = rip, flags&rflagsUser|rflagsInitial
		s := t.sregs()
		s.CS, s.SS = userCodeSegment(), userDataSegment(selUserDS)
		t.sregsDirty = true
	default:
		// Hardware KVM: the stub's sysretq returns to rcx with r11's flags.
		r.RIP = sysVirt + sysCode + stubSysret
		r.RCX, r.R11 = rip, flags
	}
	t.forceFullReturn = false
}

func (t *thread) unimplemented(nr uint64, a args) uint64 {
	name := syscallName(nr)
	if t.p.cfg.Strict {
		t.p.report("unimplemented syscall %s (%d) with --strict", name, nr)
		t.p.exit(ExitStatus{Signal: unix.SIGSYS})
		t.exitThread = true
		return neg(unix.ENOSYS)
	}
	c := &t.p.counts
	c.total.Add(1)
	c.mu.Lock()
	if c.missing == nil {
		c.missing = map[uint64]int{}
	}
	c.missing[nr]++
	c.mu.Unlock()
	return neg(unix.ENOSYS)
}

func syscallName(nr uint64) string {
	if nr < uint64(len(syscallNames)) && syscallNames[nr] != "" {
		return syscallNames[nr]
	}
	return fmt.Sprintf("syscall_%d", nr)
}

// noReturn is traceSyscall's result for a call that does not return.
const noReturn = ^uint64(0) >> 1

// traceSyscall writes one strace-like line.
func (t *thread) traceSyscall(nr uint64, a args, ret uint64) {
	var b strings.Builder
	fmt.Fprintf(&b, "[%d] %s(", t.tid, syscallName(nr))
	for i, v := range a {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%#x", v)
	}
	if ret == noReturn {
		b.WriteString(") = ?\n")
	} else if int64(ret) < 0 && int64(ret) > -4096 {
		fmt.Fprintf(&b, ") = -1 %s\n", unix.ErrnoName(unix.Errno(-int64(ret))))
	} else {
		fmt.Fprintf(&b, ") = %#x\n", ret)
	}
	fmt.Fprint(t.p.trace, b.String())
}

// MissingSyscalls returns the unimplemented syscalls the guest called, by name.
func (p *process) missingSyscalls() map[string]int {
	out := map[string]int{}
	p.counts.mu.Lock()
	defer p.counts.mu.Unlock()
	for nr, n := range p.counts.missing {
		out[syscallName(nr)] = n
	}
	return out
}
