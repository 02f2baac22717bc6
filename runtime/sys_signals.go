package runtime

// Signal syscalls. Dispositions, masks and alternate stacks are recorded;
// a signal the guest sends itself takes its default action when that action
// is to terminate, and is otherwise dropped (handlers run in a later version).

import (
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

func init() {
	for nr, h := range map[uintptr]handler{
		unix.SYS_RT_SIGACTION: sysRtSigaction, unix.SYS_RT_SIGPROCMASK: sysRtSigprocmask,
		unix.SYS_SIGALTSTACK: sysSigaltstack, unix.SYS_KILL: sysKill, unix.SYS_TGKILL: sysTgkill,
		unix.SYS_TKILL: sysTkill, unix.SYS_RT_SIGPENDING: sysRtSigpending,
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

type signalState struct {
	mu      sync.Mutex
	actions [nSig + 1]sigaction
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
	s := t.p.sig
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.actions[sig]
	if nb != nil {
		s.actions[sig] = sigaction{le.Uint64(nb), le.Uint64(nb[8:]), le.Uint64(nb[16:]),
			le.Uint64(nb[24:]) &^ (sigKill | sigStop)}
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
		set &^= sigKill | sigStop
		switch how {
		case unix.SIG_BLOCK:
			t.sigmask |= set
		case unix.SIG_UNBLOCK:
			t.sigmask &^= set
		case unix.SIG_SETMASK:
			t.sigmask = set
		default:
			return neg(unix.EINVAL)
		}
	}
	if oldAddr != 0 {
		if err := t.p.mem.writeU64(oldAddr, old); err != nil {
			return neg(unix.EFAULT)
		}
	}
	t.deliverPending()
	return 0
}

func sysRtSigpending(t *thread, a args) uint64 {
	if a[1] != 8 {
		return neg(unix.EINVAL)
	}
	if err := t.p.mem.writeU64(a[0], t.pending&t.sigmask); err != nil {
		return neg(unix.EFAULT)
	}
	return 0
}

func sysSigaltstack(t *thread, a args) uint64 {
	ss, oss := a[0], a[1]
	old := t.altstack
	if ss != 0 {
		b, err := t.p.mem.slice(ss, 24)
		if err != nil {
			return neg(unix.EFAULT)
		}
		n := stackT{sp: le.Uint64(b), flags: uint64(le.Uint32(b[8:])), size: le.Uint64(b[16:])}
		const ssDisable, ssAutodisarm = 2, 1 << 31
		if n.flags&^(ssDisable|ssAutodisarm) != 0 {
			return neg(unix.EINVAL)
		}
		if n.flags&ssDisable == 0 && n.size < minSigStackSize {
			return neg(unix.ENOMEM)
		}
		t.altstack = n
	}
	if oss != 0 {
		b, err := t.p.mem.slice(oss, 24)
		if err != nil {
			return neg(unix.EFAULT)
		}
		le.PutUint64(b, old.sp)
		le.PutUint64(b[8:], old.flags)
		le.PutUint64(b[16:], old.size)
	}
	return 0
}

func sysKill(t *thread, a args) uint64 {
	pid, sig := int32(a[0]), unix.Signal(a[1])
	if pid == int32(t.p.pid) {
		return t.sendSignal(t, sig)
	}
	if own, _ := unix.Getpgid(0); pid == 0 || pid == -1 || pid == -int32(own) {
		// The guest's group (or all it can reach) includes itself.
		if sig < 0 || sig > nSig {
			return neg(unix.EINVAL)
		}
		t.p.signalChildren(pid == -1, sig)
		return t.sendSignal(t, sig)
	}
	return t.p.killOther(pid, sig)
}

func sysTgkill(t *thread, a args) uint64 {
	if int32(a[0]) != int32(t.p.pid) {
		return neg(unix.ESRCH)
	}
	return sysTkill(t, args{a[1], a[2]})
}

func sysTkill(t *thread, a args) uint64 {
	t.p.threadsMu.Lock()
	target := t.p.threads[int(int32(a[0]))]
	t.p.threadsMu.Unlock()
	if target == nil {
		return neg(unix.ESRCH)
	}
	return t.sendSignal(target, unix.Signal(a[1]))
}

// sendSignal applies a guest-sent signal to target.
func (t *thread) sendSignal(target *thread, sig unix.Signal) uint64 {
	if sig == 0 {
		return 0
	}
	if sig < 1 || sig > nSig {
		return neg(unix.EINVAL)
	}
	if target == t {
		t.pending |= sigBit(sig)
		t.deliverPending()
		return 0
	}
	// Other threads: only the process-wide effect of a fatal default matters.
	t.p.sig.mu.Lock()
	act := t.p.sig.actions[sig]
	t.p.sig.mu.Unlock()
	if act.handler == sigDFL && (defaultAction(sig) == actTerminate || defaultAction(sig) == actCore) {
		t.p.report("guest killed by %s (sent by the guest)", signalName(sig))
		t.p.exit(ExitStatus{Signal: sig})
		t.exitThread = true
	}
	return 0
}

// deliverPending acts on the unblocked pending signals of t.
func (t *thread) deliverPending() {
	for t.pending&^t.sigmask != 0 {
		var sig unix.Signal
		for s := unix.Signal(1); s <= nSig; s++ {
			if t.pending&^t.sigmask&sigBit(s) != 0 {
				sig = s
				break
			}
		}
		t.pending &^= sigBit(sig)
		t.p.sig.mu.Lock()
		act := t.p.sig.actions[sig]
		t.p.sig.mu.Unlock()
		if act.handler == sigDFL && (defaultAction(sig) == actTerminate || defaultAction(sig) == actCore) {
			t.p.report("guest killed by %s (sent by the guest)", signalName(sig))
			t.p.exit(ExitStatus{Signal: sig})
			t.exitThread = true
			return
		}
		// SIG_IGN, ignored defaults, and handlers (not yet run) end here.
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
