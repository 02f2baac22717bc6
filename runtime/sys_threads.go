package runtime

// Thread syscalls: clone creates a vCPU on its own OS thread; futexes are
// the host's own, on the host address of the guest word.

import (
	"golang.org/x/sys/unix"

	"github.com/kmvm/km/kvm"
)

func init() {
	for nr, h := range map[uintptr]handler{
		unix.SYS_CLONE: sysClone, unix.SYS_CLONE3: sysClone3, unix.SYS_FUTEX: sysFutex,
		unix.SYS_FORK: sysFork, unix.SYS_VFORK: sysVfork,
		unix.SYS_SET_TID_ADDRESS: sysSetTIDAddress, unix.SYS_SET_ROBUST_LIST: sysNop,
		unix.SYS_ARCH_PRCTL: sysArchPrctl, unix.SYS_SCHED_YIELD: sysSchedYield,
		unix.SYS_SCHED_GETAFFINITY: sysSchedGetaffinity, unix.SYS_SCHED_SETAFFINITY: sysNop,
		unix.SYS_GETCPU: sysGetcpu,
		// rseq is declined on purpose: libc falls back to getcpu, and a
		// restartable sequence would need the monitor to rewrite guest RIPs.
		unix.SYS_RSEQ: sysDeclined,
	} {
		register(nr, h)
	}
}

// cloneRequest is what clone and clone3 share.
type cloneRequest struct {
	flags               uint64
	stack, tls          uint64
	parentTID, childTID uint64
	pidfd               uint64 // where CLONE_PIDFD stores the pidfd
}

const cloneThreadFlags = unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND

func sysClone(t *thread, a args) uint64 {
	// clone(2) stores a CLONE_PIDFD descriptor at parent_tid.
	return t.clone(cloneRequest{flags: a[0], stack: a[1], parentTID: a[2], childTID: a[3], tls: a[4], pidfd: a[2]})
}

func sysFork(t *thread, a args) uint64 {
	return t.fork(cloneRequest{flags: uint64(unix.SIGCHLD)})
}

func sysVfork(t *thread, a args) uint64 {
	return t.fork(cloneRequest{flags: unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD)})
}

func sysClone3(t *thread, a args) uint64 {
	const minSize = 64 // CLONE_ARGS_SIZE_VER0
	if a[1] < minSize || a[1] > pageSize {
		return neg(unix.EINVAL)
	}
	b, err := t.p.mem.slice(a[0], minSize)
	if err != nil {
		return neg(unix.EFAULT)
	}
	u := func(i int) uint64 { return le.Uint64(b[i*8:]) }
	req := cloneRequest{flags: u(0), pidfd: u(1), childTID: u(2), parentTID: u(3), tls: u(7)}
	if exit := u(4); exit > nSig {
		return neg(unix.EINVAL)
	}
	if stack, size := u(5), u(6); stack != 0 {
		req.stack = stack + size
	}
	return t.clone(req)
}

func (t *thread) clone(req cloneRequest) uint64 {
	if req.flags&cloneThreadFlags != cloneThreadFlags {
		return t.fork(req) // a new process
	}
	regs := *t.regs
	regs.RAX = 0
	regs.RIP, regs.RFLAGS = regs.RCX, regs.R11&rflagsUser|rflagsInitial
	if req.stack != 0 {
		regs.RSP = req.stack
	}
	fs := t.sregs().FS.Base
	if req.flags&unix.CLONE_SETTLS != 0 {
		fs = req.tls
	}
	ready := make(chan error, 1)
	started := make(chan *thread, 1)
	release := make(chan struct{})
	t.p.spawnThread(threadStart{regs: regs, fsBase: fs, ready: ready}, started, release)
	if err := <-ready; err != nil {
		return neg(unix.EAGAIN)
	}
	child := <-started
	if req.flags&unix.CLONE_PARENT_SETTID != 0 {
		t.p.mem.writeU32(req.parentTID, uint32(child.tid))
	}
	if req.flags&unix.CLONE_CHILD_SETTID != 0 {
		t.p.mem.writeU32(req.childTID, uint32(child.tid))
	}
	if req.flags&unix.CLONE_CHILD_CLEARTID != 0 {
		child.clearChildTID = req.childTID
	}
	close(release)
	return uint64(child.tid)
}

// spawnThread starts a thread that waits for release before its first run,
// so the parent can finish the clone's bookkeeping first.
func (p *process) spawnThread(st threadStart, started chan<- *thread, release <-chan struct{}) {
	p.live.Add(1)
	go func() {
		lockThread()
		t, err := p.newThread(st)
		st.ready <- err
		if err != nil {
			p.live.Add(-1)
			return
		}
		started <- t
		<-release
		t.loop()
	}()
}

// clearTID does CLONE_CHILD_CLEARTID's work at thread exit: zero the word
// and wake one waiter (pthread_join).
func (t *thread) clearTID() {
	if t.clearChildTID == 0 {
		return
	}
	if t.p.mem.writeU32(t.clearChildTID, 0) == nil {
		if addr, err := t.p.mem.hostAddr(t.clearChildTID, 4); err == nil {
			unix.Syscall6(unix.SYS_FUTEX, addr, futexWake, 1, 0, 0, 0)
		}
	}
	t.clearChildTID = 0
}

func sysSetTIDAddress(t *thread, a args) uint64 {
	t.clearChildTID = a[0]
	return uint64(t.tid)
}

// futex operations (<linux/futex.h>).
const (
	futexWait          = 0
	futexWake          = 1
	futexFD            = 2
	futexRequeue       = 3
	futexCmpRequeue    = 4
	futexWakeOp        = 5
	futexLockPI        = 6
	futexUnlockPI      = 7
	futexTrylockPI     = 8
	futexWaitBitset    = 9
	futexWakeBitset    = 10
	futexWaitRequeuePI = 11
	futexCmpRequeuePI  = 12
	futexLockPI2       = 13
	futexCmdMask       = 0x7f // without FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME
)

func sysFutex(t *thread, a args) uint64 {
	uaddr, op, val, arg4, uaddr2, val3 := a[0], a[1], a[2], a[3], a[4], a[5]
	m := t.p.mem
	host, err := m.hostAddr(uaddr, 4)
	if err != nil || uaddr&3 != 0 {
		return neg(unix.EFAULT)
	}
	var a4, a5 uintptr
	switch op & futexCmdMask {
	case futexWait, futexWaitBitset, futexLockPI, futexLockPI2, futexWaitRequeuePI:
		// arg4 is an optional timeout
		if arg4 != 0 {
			p, err := m.hostAddr(arg4, sizeofTimespec)
			if err != nil {
				return neg(unix.EFAULT)
			}
			a4 = p
		}
		if op&futexCmdMask == futexWaitRequeuePI {
			if a5, err = m.hostAddr(uaddr2, 4); err != nil {
				return neg(unix.EFAULT)
			}
		}
	case futexWake, futexWakeBitset, futexUnlockPI, futexTrylockPI:
	case futexRequeue, futexCmpRequeue, futexWakeOp, futexCmpRequeuePI:
		a4 = uintptr(arg4) // val2, a count
		if a5, err = m.hostAddr(uaddr2, 4); err != nil {
			return neg(unix.EFAULT)
		}
	default:
		return neg(unix.ENOSYS)
	}
	call := func() (uintptr, unix.Errno) {
		r, _, e := unix.Syscall6(unix.SYS_FUTEX, host, uintptr(op), uintptr(val), a4, a5, uintptr(val3))
		return r, e
	}
	switch op & futexCmdMask {
	case futexWait, futexWaitBitset, futexLockPI, futexLockPI2, futexWaitRequeuePI:
		r, e := t.block(call)
		return result(r, e)
	}
	r, e := call()
	return result(r, e)
}

// arch_prctl codes.
const (
	archSetGS = 0x1001
	archSetFS = 0x1002
	archGetFS = 0x1003
	archGetGS = 0x1004
)

// canonicalUser is the end of the lower canonical half.
const canonicalUser = 1 << 47

func sysArchPrctl(t *thread, a args) uint64 {
	var seg *kvm.Segment
	switch a[0] {
	case archSetFS, archGetFS:
		seg = &t.sregs().FS
	case archSetGS, archGetGS:
		seg = &t.sregs().GS
	default:
		return neg(unix.EINVAL)
	}
	switch a[0] {
	case archSetFS, archSetGS:
		if a[1] >= canonicalUser {
			return neg(unix.EPERM)
		}
		seg.Base = a[1]
		t.sregsDirty = true
		return 0
	}
	if err := t.p.mem.writeU64(a[1], seg.Base); err != nil {
		return neg(unix.EFAULT)
	}
	return 0
}

func sysSchedYield(t *thread, a args) uint64 {
	unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
	return 0
}

func sysSchedGetaffinity(t *thread, a args) uint64 {
	size := a[1]
	if size == 0 || size%8 != 0 {
		return neg(unix.EINVAL)
	}
	b, err := t.p.mem.slice(a[2], size)
	if err != nil {
		return neg(unix.EFAULT)
	}
	r, _, e := unix.Syscall(unix.SYS_SCHED_GETAFFINITY, 0, uintptr(len(b)), ptr(b))
	return result(r, e)
}

func sysGetcpu(t *thread, a args) uint64 {
	var cpu, node uint32
	unix.Syscall(unix.SYS_GETCPU, uintptr(ptr32(&cpu)), uintptr(ptr32(&node)), 0)
	if a[0] != 0 && t.p.mem.writeU32(a[0], cpu) != nil {
		return neg(unix.EFAULT)
	}
	if a[1] != 0 && t.p.mem.writeU32(a[1], node) != nil {
		return neg(unix.EFAULT)
	}
	return 0
}

// sysDeclined answers ENOSYS for syscalls km knowingly does not offer (not
// counted as missing, and allowed under --strict).
func sysDeclined(t *thread, a args) uint64 { return neg(unix.ENOSYS) }
