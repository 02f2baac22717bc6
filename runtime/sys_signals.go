package runtime

// Signal syscalls: dispositions, masks, alternate stacks, sending, waiting
// and rt_sigreturn. Delivery itself is in signal.go.

import (
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	for nr, h := range map[uintptr]handler{
		unix.SYS_RT_SIGACTION: sysRtSigaction, unix.SYS_RT_SIGPROCMASK: sysRtSigprocmask,
		unix.SYS_SIGALTSTACK: sysSigaltstack, unix.SYS_KILL: sysKill, unix.SYS_TGKILL: sysTgkill,
		unix.SYS_TKILL: sysTkill, unix.SYS_RT_SIGPENDING: sysRtSigpending,
		unix.SYS_RT_SIGRETURN: sysRtSigreturn, unix.SYS_RT_SIGSUSPEND: sysRtSigsuspend,
		unix.SYS_PAUSE: sysPause, unix.SYS_RT_SIGTIMEDWAIT: sysRtSigtimedwait,
		unix.SYS_RT_SIGQUEUEINFO: sysRtSigqueueinfo, unix.SYS_RT_TGSIGQUEUEINFO: sysRtTgsigqueueinfo,
	} {
		register(nr, h)
	}
}

const (
	nSig     = 64
	sigDFL   = 0
	sigIGN   = 1
	sigKill  = 1 << (unix.SIGKILL - 1)
	sigStop  = 1 << (unix.SIGSTOP - 1)
	sizeofSA = 32 // struct kernel_sigaction: handler, flags, restorer, mask
)

// sigaction is the kernel's struct sigaction for x86-64.
type sigaction struct {
	handler, flags, restorer, mask uint64
}

type stackT struct {
	sp, flags, size uint64
}

// signalState is the process's signal dispositions and its process-wide
// pending signals; mu also guards every thread's sigmask, pending and waitSet.
type signalState struct {
	mu      sync.Mutex
	actions [nSig + 1]sigaction
	pending pendingSet
	fds     signalFDs // the process's signalfds, kept in step with pending
}

func newSignalState() *signalState { return &signalState{} }

func sigBit(sig unix.Signal) uint64 { return 1 << (uint(sig) - 1) }

// defaultAction of each signal: what SIG_DFL does.
type sigDefault int

const (
	actTerminate sigDefault = iota
	actCore
	actIgnore
	actStop
)

func defaultAction(sig unix.Signal) sigDefault {
	switch sig {
	case unix.SIGQUIT, unix.SIGILL, unix.SIGTRAP, unix.SIGABRT, unix.SIGBUS, unix.SIGFPE, unix.SIGSEGV,
		unix.SIGXCPU, unix.SIGXFSZ, unix.SIGSYS:
		return actCore
	case unix.SIGCHLD, unix.SIGCONT, unix.SIGURG, unix.SIGWINCH:
		return actIgnore
	case unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		return actStop
	}
	return actTerminate
}

func sysRtSigaction(t *thread, a args) uint64 {
	sig, newAddr, oldAddr, size := unix.Signal(a[0]), a[1], a[2], a[3]
	if size != 8 || sig < 1 || sig > nSig {
		return neg(unix.EINVAL)
	}
	var nb, ob []byte
	var err error
	if newAddr != 0 {
		if sig == unix.SIGKILL || sig == unix.SIGSTOP {
			return neg(unix.EINVAL)
		}
		if nb, err = t.p.mem.slice(newAddr, sizeofSA); err != nil {
			return neg(unix.EFAULT)
		}
	}
	if oldAddr != 0 {
		if ob, err = t.p.mem.slice(oldAddr, sizeofSA); err != nil {
			return neg(unix.EFAULT)
		}
	}
	p := t.p
	s := p.sig
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.actions[sig]
	if nb != nil {
		act := sigaction{le.Uint64(nb), le.Uint64(nb[8:]), le.Uint64(nb[16:]),
			le.Uint64(nb[24:]) &^ (sigKill | sigStop)}
		s.actions[sig] = act
		if ignored(sig, act) {
			// POSIX: setting an ignoring disposition discards what is pending.
			s.pending.drop(sig)
			p.threadsMu.Lock()
			for _, o := range p.threads {
				o.pending.drop(sig)
			}
			p.threadsMu.Unlock()
			p.signalfdsChanged(false)
		}
	}
	if ob != nil {
		le.PutUint64(ob, old.handler)
		le.PutUint64(ob[8:], old.flags)
		le.PutUint64(ob[16:], old.restorer)
		le.PutUint64(ob[24:], old.mask)
	}
	return 0
}

func sysRtSigprocmask(t *thread, a args) uint64 {
	how, setAddr, oldAddr, size := a[0], a[1], a[2], a[3]
	if size != 8 {
		return neg(unix.EINVAL)
	}
	old := t.sigmask
	if setAddr != 0 {
		set, err := t.p.mem.readU64(setAddr)
		if err != nil {
			return neg(unix.EFAULT)
		}
		mask := old
		switch how {
		case unix.SIG_BLOCK:
			mask |= set
		case unix.SIG_UNBLOCK:
			mask &^= set
		case unix.SIG_SETMASK:
			mask = set
		default:
			return neg(unix.EINVAL)
		}
		t.setMask(mask)
	}
	if oldAddr != 0 {
		if err := t.p.mem.writeU64(oldAddr, old); err != nil {
			return neg(unix.EFAULT)
		}
	}
	return 0
}

func sysRtSigpending(t *thread, a args) uint64 {
	if a[1] != 8 {
		return neg(unix.EINVAL)
	}
	s := t.p.sig
	s.mu.Lock()
	set := (t.pending.mask | s.pending.mask) & t.sigmask
	s.mu.Unlock()
	if err := t.p.mem.writeU64(a[0], set); err != nil {
		return neg(unix.EFAULT)
	}
	return 0
}

func sysSigaltstack(t *thread, a args) uint64 {
	ss, oss := a[0], a[1]
	old := t.altstack
	onAlt := t.onAltStack(t.regs.RSP)
	if ss != 0 {
		b, err := t.p.mem.slice(ss, 24)
		if err != nil {
			return neg(unix.EFAULT)
		}
		n := stackT{sp: le.Uint64(b), flags: uint64(le.Uint32(b[8:])), size: le.Uint64(b[16:])}
		if onAlt {
			return neg(unix.EPERM)
		}
		if n.flags&^(ssDisable|ssAutodisarm|ssOnStack) != 0 {
			return neg(unix.EINVAL)
		}
		n.flags &^= ssOnStack
		if n.flags&ssDisable != 0 {
			n = stackT{flags: ssDisable}
		} else if n.size < minSigStackSize {
			return neg(unix.ENOMEM)
		}
		t.altstack = n
	}
	if oss != 0 {
		b, err := t.p.mem.slice(oss, 24)
		if err != nil {
			return neg(unix.EFAULT)
		}
		flags := old.flags
		if old.size == 0 {
			flags = ssDisable
		}
		if onAlt {
			flags |= ssOnStack
		}
		le.PutUint64(b, old.sp)
		le.PutUint64(b[8:], flags)
		le.PutUint64(b[16:], old.size)
	}
	return 0
}

func validSignal(sig unix.Signal) bool { return sig >= 1 && sig <= nSig }

// sendSelf queues sig, sent by the guest itself, on target (nil: the process).
func (t *thread) sendSelf(sig unix.Signal, code int32, target *thread) uint64 {
	if sig == 0 {
		return 0
	}
	if !validSignal(sig) {
		return neg(unix.EINVAL)
	}
	if sig == unix.SIGSTOP {
		unix.Kill(t.p.pid, unix.SIGSTOP)
		return 0
	}
	t.p.queueSignal(sig, newSigInfo(sig, code).withSender(t.p.pid, unix.Getuid()), target)
	return 0
}

func sysKill(t *thread, a args) uint64 {
	pid, sig := int32(a[0]), unix.Signal(a[1])
	if !validSignal(sig) && sig != 0 {
		return neg(unix.EINVAL)
	}
	if pid == int32(t.p.pid) {
		return t.sendSelf(sig, siUser, nil)
	}
	if own, _ := unix.Getpgid(0); pid == 0 || pid == -1 || pid == -int32(own) {
		// The guest's group (or all it can reach) includes itself.
		if sig < 0 || sig > nSig {
			return neg(unix.EINVAL)
		}
		t.p.signalChildren(pid == -1, sig)
		return t.sendSelf(sig, siUser, nil)
	}
	return t.p.killOther(pid, sig)
}

func sysTgkill(t *thread, a args) uint64 {
	tgid, tid, sig := int32(a[0]), int32(a[1]), unix.Signal(a[2])
	if tgid <= 0 || tid <= 0 {
		return neg(unix.EINVAL)
	}
	if tgid != int32(t.p.pid) {
		_, _, e := unix.Syscall(unix.SYS_TGKILL, uintptr(tgid), uintptr(tid), uintptr(sig))
		return result(0, e)
	}
	return t.signalThread(tid, sig)
}

func sysTkill(t *thread, a args) uint64 {
	tid, sig := int32(a[0]), unix.Signal(a[1])
	if tid <= 0 {
		return neg(unix.EINVAL)
	}
	return t.signalThread(tid, sig)
}

func (t *thread) signalThread(tid int32, sig unix.Signal) uint64 {
	t.p.threadsMu.Lock()
	target := t.p.threads[int(tid)]
	t.p.threadsMu.Unlock()
	if target == nil {
		return neg(unix.ESRCH)
	}
	if !validSignal(sig) && sig != 0 {
		return neg(unix.EINVAL)
	}
	return t.sendSelf(sig, siTkill, target)
}

// readSigInfo copies a guest siginfo for rt_sigqueueinfo.
func (t *thread) readSigInfo(addr uint64, sig unix.Signal) (sigInfo, uint64) {
	var si sigInfo
	if err := t.p.mem.read(addr, si[:]); err != nil {
		return si, neg(unix.EFAULT)
	}
	le.PutUint32(si[0:], uint32(sig))
	return si, 0
}

func sysRtSigqueueinfo(t *thread, a args) uint64 {
	pid, sig := int32(a[0]), unix.Signal(a[1])
	if !validSignal(sig) {
		return neg(unix.EINVAL)
	}
	si, e := t.readSigInfo(a[2], sig)
	if e != 0 {
		return e
	}
	if pid != int32(t.p.pid) {
		code := int32(le.Uint32(si[8:]))
		if code >= 0 || code == siTkill {
			return neg(unix.EPERM)
		}
		_, _, en := unix.Syscall(unix.SYS_RT_SIGQUEUEINFO, uintptr(pid), uintptr(sig), ptr(si[:]))
		return result(0, en)
	}
	t.p.queueSignal(sig, si, nil)
	return 0
}

func sysRtTgsigqueueinfo(t *thread, a args) uint64 {
	tgid, tid, sig := int32(a[0]), int32(a[1]), unix.Signal(a[2])
	if !validSignal(sig) {
		return neg(unix.EINVAL)
	}
	si, e := t.readSigInfo(a[3], sig)
	if e != 0 {
		return e
	}
	if tgid != int32(t.p.pid) {
		code := int32(le.Uint32(si[8:]))
		if code >= 0 || code == siTkill {
			return neg(unix.EPERM)
		}
		_, _, en := unix.Syscall6(unix.SYS_RT_TGSIGQUEUEINFO, uintptr(tgid), uintptr(tid), uintptr(sig), ptr(si[:]), 0, 0)
		return result(0, en)
	}
	t.p.threadsMu.Lock()
	target := t.p.threads[int(tid)]
	t.p.threadsMu.Unlock()
	if target == nil {
		return neg(unix.ESRCH)
	}
	t.p.queueSignal(sig, si, target)
	return 0
}

func sysRtSigreturn(t *thread, a args) uint64 {
	u := *t.regs
	if err := t.sigreturn(&u); err != nil {
		// Linux: a frame that cannot be restored is a SIGSEGV.
		t.p.report("rt_sigreturn: %v", err)
		t.terminate(unix.SIGSEGV, true)
		return 0
	}
	*t.regs = u
	t.noResume = true
	return u.RAX
}

// waitForSignal sleeps until a signal t can take arrives (or the process
// ends). It returns -EINTR, as sigsuspend and pause do.
func (t *thread) waitForSignal() uint64 {
	s := t.p.sig
	for {
		s.mu.Lock()
		ready := t.deliverableLocked()
		s.mu.Unlock()
		if ready {
			t.interrupt.Store(true)
			return neg(unix.EINTR)
		}
		select {
		case <-t.wake:
		case <-t.p.exited:
			return neg(unix.EINTR)
		}
	}
}

func sysPause(t *thread, a args) uint64 { return t.waitForSignal() }

func sysRtSigsuspend(t *thread, a args) uint64 {
	if a[1] != 8 {
		return neg(unix.EINVAL)
	}
	mask, err := t.p.mem.readU64(a[0])
	if err != nil {
		return neg(unix.EFAULT)
	}
	t.savedMask, t.hasSavedMask = t.sigmask, true
	t.setMask(mask)
	return t.waitForSignal()
}

// tempMask installs the signal mask at guest addr for the rest of this
// syscall (ppoll, pselect6, epoll_pwait); addr 0 keeps the mask.
func (t *thread) tempMask(addr, size uint64) uint64 {
	if addr == 0 {
		return 0
	}
	if size != 8 {
		return neg(unix.EINVAL)
	}
	mask, err := t.p.mem.readU64(addr)
	if err != nil {
		return neg(unix.EFAULT)
	}
	t.savedMask, t.hasSavedMask = t.sigmask, true
	t.setMask(mask)
	return 0
}

func sysRtSigtimedwait(t *thread, a args) uint64 {
	setAddr, infoAddr, tsAddr, size := a[0], a[1], a[2], a[3]
	if size != 8 {
		return neg(unix.EINVAL)
	}
	set, err := t.p.mem.readU64(setAddr)
	if err != nil {
		return neg(unix.EFAULT)
	}
	set &^= sigKill | sigStop
	var deadline <-chan time.Time
	if tsAddr != 0 {
		b, err := t.p.mem.slice(tsAddr, sizeofTimespec)
		if err != nil {
			return neg(unix.EFAULT)
		}
		sec, nsec := int64(le.Uint64(b)), int64(le.Uint64(b[8:]))
		if sec < 0 || nsec < 0 || nsec >= 1e9 {
			return neg(unix.EINVAL)
		}
		timer := time.NewTimer(time.Duration(sec)*time.Second + time.Duration(nsec))
		defer timer.Stop()
		deadline = timer.C
	}
	s := t.p.sig
	// take dequeues a waited-for signal (blocked ones too: that is
	// sigwait's point) and writes its siginfo.
	take := func() (uint64, bool) {
		sig, si, ok := t.pending.take(set)
		if !ok {
			sig, si, ok = s.pending.take(set)
		}
		if !ok {
			return 0, false
		}
		t.p.signalfdsChanged(false)
		if infoAddr != 0 && t.p.mem.write(infoAddr, si[:]) != nil {
			return neg(unix.EFAULT), true
		}
		return uint64(sig), true
	}
	for {
		s.mu.Lock()
		ret, ok := take()
		other := !ok && t.deliverableLocked()
		if ok || other {
			t.waitSet = 0
		} else {
			t.waitSet = set
		}
		s.mu.Unlock()
		if ok {
			return ret
		}
		if other {
			t.interrupt.Store(true)
			return neg(unix.EINTR)
		}
		select {
		case <-t.wake:
		case <-deadline:
			// One last look: a signal may have come with the deadline.
			s.mu.Lock()
			t.waitSet = 0
			ret, ok := take()
			s.mu.Unlock()
			if ok {
				return ret
			}
			return neg(unix.EAGAIN)
		case <-t.p.exited:
			s.mu.Lock()
			t.waitSet = 0
			s.mu.Unlock()
			return neg(unix.EINTR)
		}
	}
}

var signalNames = map[unix.Signal]string{
	unix.SIGHUP: "SIGHUP", unix.SIGINT: "SIGINT", unix.SIGQUIT: "SIGQUIT", unix.SIGILL: "SIGILL",
	unix.SIGTRAP: "SIGTRAP", unix.SIGABRT: "SIGABRT", unix.SIGBUS: "SIGBUS", unix.SIGFPE: "SIGFPE",
	unix.SIGKILL: "SIGKILL", unix.SIGUSR1: "SIGUSR1", unix.SIGSEGV: "SIGSEGV", unix.SIGUSR2: "SIGUSR2",
	unix.SIGPIPE: "SIGPIPE", unix.SIGALRM: "SIGALRM", unix.SIGTERM: "SIGTERM", unix.SIGSTKFLT: "SIGSTKFLT",
	unix.SIGCHLD: "SIGCHLD", unix.SIGCONT: "SIGCONT", unix.SIGSTOP: "SIGSTOP", unix.SIGTSTP: "SIGTSTP",
	unix.SIGTTIN: "SIGTTIN", unix.SIGTTOU: "SIGTTOU", unix.SIGURG: "SIGURG", unix.SIGXCPU: "SIGXCPU",
	unix.SIGXFSZ: "SIGXFSZ", unix.SIGVTALRM: "SIGVTALRM", unix.SIGPROF: "SIGPROF", unix.SIGWINCH: "SIGWINCH",
	unix.SIGIO: "SIGIO", unix.SIGPWR: "SIGPWR", unix.SIGSYS: "SIGSYS",
}

func signalName(sig unix.Signal) string {
	if n, ok := signalNames[sig]; ok {
		return n
	}
	return "signal " + strconv.Itoa(int(sig))
}
