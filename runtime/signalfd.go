package runtime

// signalfd and signalfd4. Each guest signalfd is backed by a host eventfd,
// so the host's poll, select and epoll (which km forwards) see it: the
// eventfd's counter is 1 exactly while a signal in the signalfd's mask is
// pending, and 0 otherwise. Whenever the pending sets change (a signal is
// queued or taken), signalfdsChanged brings every eventfd up to date. A read
// dequeues pending signals itself, as the guest's sigtimedwait would.
//
// Readiness is computed over the process-wide pending set and every
// thread's own pending set. Linux looks only at the polling thread's own
// set besides the process-wide one, so a signal sent with tgkill to another
// thread makes the fd readable here but not on Linux (a read still takes
// only what the reading thread could take).

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_SIGNALFD, sysSignalfd)
	register(unix.SYS_SIGNALFD4, sysSignalfd4)
}

const (
	sizeofSignalfdSiginfo = 128 // struct signalfd_siginfo
	sfdFlags              = unix.SFD_NONBLOCK | unix.SFD_CLOEXEC
)

// signalFD is one signalfd open file description. Every guest descriptor
// that names it (dup, fcntl F_DUPFD) holds a host dup of efd and a ref.
type signalFD struct {
	efd   int           // the monitor's own eventfd; closed with the last ref
	mask  atomic.Uint64 // the signals it reads (never SIGKILL, SIGSTOP)
	ready bool          // efd's counter is 1; guarded by p.sig.mu
	refs  int           // guest descriptors naming it; guarded by fdTable.mu
	p     *process
}

// signalFDs are a process's signalfds, in its signalState (guarded by its mu).
type signalFDs struct {
	list []*signalFD
	// queued is closed, and replaced, whenever a signal is queued: blocking
	// signalfd reads wait on it.
	queued chan struct{}
}

// newSignalFD makes a signalfd over p's signals with host eventfd flags
// efdFlags (EFD_NONBLOCK or 0) and registers it.
func (p *process) newSignalFD(mask uint64, efdFlags int) (*signalFD, error) {
	efd, err := unix.Eventfd(0, efdFlags|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	sfd := &signalFD{efd: efd, p: p}
	sfd.mask.Store(mask &^ (sigKill | sigStop))
	s := p.sig
	s.mu.Lock()
	s.fds.list = append(s.fds.list, sfd)
	p.signalfdsChanged(false)
	s.mu.Unlock()
	return sfd, nil
}

// release drops sfd from its process once no descriptor names it. Called
// without fdTable.mu held (it takes p.sig.mu).
func (sfd *signalFD) release() {
	if sfd == nil {
		return
	}
	s := sfd.p.sig
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, o := range s.fds.list {
		if o == sfd {
			s.fds.list = append(s.fds.list[:i], s.fds.list[i+1:]...)
			break
		}
	}
	unix.Close(sfd.efd)
	sfd.efd = -1
}

// signalfdsChanged brings every signalfd's eventfd up to date with the
// pending sets, and wakes blocked signalfd reads when queued. Called with
// p.sig.mu held after any change to a pending set.
func (p *process) signalfdsChanged(queued bool) {
	s := p.sig
	if len(s.fds.list) == 0 {
		return
	}
	if queued && s.fds.queued != nil {
		close(s.fds.queued)
		s.fds.queued = nil
	}
	pending := s.pending.mask
	p.threadsMu.Lock()
	for _, t := range p.threads {
		pending |= t.pending.mask
	}
	p.threadsMu.Unlock()
	for _, sfd := range s.fds.list {
		ready := pending&sfd.mask.Load() != 0
		if ready == sfd.ready || sfd.efd < 0 {
			continue
		}
		var b [8]byte
		if ready {
			le.PutUint64(b[:], 1)
			_, err := unix.Write(sfd.efd, b[:])
			sfd.ready = err == nil
		} else {
			// The counter is 1 (only the monitor touches it); the poll makes
			// sure, so that a guest that got hold of the eventfd itself
			// (SCM_RIGHTS) can at worst make it stale, never block here.
			pfd := []unix.PollFd{{Fd: int32(sfd.efd), Events: unix.POLLIN}}
			if n, _ := unix.Poll(pfd, 0); n == 1 {
				unix.Read(sfd.efd, b[:])
			}
			sfd.ready = false
		}
	}
}

// queuedChan is the channel closed at the next queued signal. Called with
// p.sig.mu held.
func (s *signalState) queuedChan() <-chan struct{} {
	if s.fds.queued == nil {
		s.fds.queued = make(chan struct{})
	}
	return s.fds.queued
}

func sysSignalfd(t *thread, a args) uint64 { return t.signalfd(int32(a[0]), a[1], a[2], 0) }

func sysSignalfd4(t *thread, a args) uint64 { return t.signalfd(int32(a[0]), a[1], a[2], a[3]) }

func (t *thread) signalfd(fd int32, maskAddr, size, flags uint64) uint64 {
	if size != sizeofSigset || flags&^sfdFlags != 0 {
		return neg(unix.EINVAL)
	}
	mask, err := t.p.mem.readU64(maskAddr)
	if err != nil {
		return neg(unix.EFAULT)
	}
	mask &^= sigKill | sigStop
	if fd != -1 {
		// Linux checks the descriptor before the flags matter: they are
		// ignored when updating.
		if _, err := t.p.files.host(fd); err != nil {
			return neg(unix.EBADF)
		}
		sfd := t.p.files.signalfd(fd)
		if sfd == nil {
			return neg(unix.EINVAL)
		}
		s := t.p.sig
		s.mu.Lock()
		sfd.mask.Store(mask)
		t.p.signalfdsChanged(false)
		s.mu.Unlock()
		return uint64(fd)
	}
	efdFlags := 0
	if flags&unix.SFD_NONBLOCK != 0 {
		efdFlags = unix.EFD_NONBLOCK
	}
	sfd, err := t.p.newSignalFD(mask, efdFlags)
	if err != nil {
		return errno(err)
	}
	nfd, err := t.p.files.installSignalfd(sfd, flags&unix.SFD_CLOEXEC != 0)
	if err != nil {
		return errno(err)
	}
	return uint64(nfd)
}

// withSignalfd serves read (or, vectored, readv) of signalfds with
// signalfdRead and everything else with h.
func withSignalfd(h handler, vectored bool) handler {
	return func(t *thread, a args) uint64 {
		sfd := t.p.files.signalfd(int32(a[0]))
		if sfd == nil {
			return h(t, a)
		}
		if vectored {
			bufs, err := t.p.mem.iovecs(a[1], a[2])
			if err != nil {
				return errno(err)
			}
			return t.signalfdRead(sfd, bufs)
		}
		if a[2] < sizeofSignalfdSiginfo {
			return neg(unix.EINVAL)
		}
		b, err := t.p.mem.slice(a[1], a[2]-a[2]%sizeofSignalfdSiginfo)
		if err != nil {
			return neg(unix.EFAULT)
		}
		return t.signalfdRead(sfd, [][]byte{b})
	}
}

// rejectSignalfd makes calls that a signalfd does not support (writes,
// positioned I/O) fail with e, as Linux's signalfd file operations do.
func rejectSignalfd(h handler, e unix.Errno) handler {
	return func(t *thread, a args) uint64 {
		if t.p.files.signalfd(int32(a[0])) != nil {
			return neg(e)
		}
		return h(t, a)
	}
}

// signalfdRead dequeues as many pending signals in sfd's mask as fit in
// the guest's buffer, the reading thread's own first, each as a
// signalfd_siginfo. Without any, it waits (unless the descriptor is
// non-blocking) for one, for a signal it must take instead (EINTR, which
// the syscall layer restarts or reports as Linux would), or for the end.
func (t *thread) signalfdRead(sfd *signalFD, bufs [][]byte) uint64 {
	var n uint64
	for _, b := range bufs {
		n += uint64(len(b))
	}
	if n < sizeofSignalfdSiginfo {
		return neg(unix.EINVAL)
	}
	// Never more than can be pending; whole records only.
	n = min(n, sizeofSignalfdSiginfo*nSig*maxQueuedPerSignal)
	n -= n % sizeofSignalfdSiginfo
	buf := make([]byte, n)
	s := t.p.sig
	for {
		s.mu.Lock()
		mask := sfd.mask.Load()
		got := uint64(0)
		for got < n {
			sig, si, ok := t.pending.take(mask)
			if !ok {
				sig, si, ok = s.pending.take(mask)
			}
			if !ok {
				break
			}
			putSignalfdSiginfo(buf[got:got+sizeofSignalfdSiginfo], sig, si)
			got += sizeofSignalfdSiginfo
		}
		t.p.signalfdsChanged(false)
		other := got == 0 && t.deliverableLocked()
		queued := s.queuedChan()
		// efd shares the guest's open file description: its O_NONBLOCK
		// is the guest's (SFD_NONBLOCK, fcntl F_SETFL). It is looked at
		// under s.mu, which release holds to close it.
		nonblock := true
		if sfd.efd >= 0 {
			fl, err := unix.FcntlInt(uintptr(sfd.efd), unix.F_GETFL, 0)
			nonblock = err != nil || fl&unix.O_NONBLOCK != 0
		}
		s.mu.Unlock()
		if got > 0 {
			rest := buf[:got]
			for _, b := range bufs {
				rest = rest[copy(b, rest):]
			}
			return got
		}
		if nonblock {
			return neg(unix.EAGAIN)
		}
		if other || t.killed.Load() || t.p.isExited() {
			t.interrupt.Store(true)
			t.blockInterrupted = true
			return neg(unix.EINTR)
		}
		select {
		case <-queued:
		case <-t.wake:
		case <-t.p.exited:
		}
	}
}

// putSignalfdSiginfo converts a queued siginfo to a struct signalfd_siginfo
// the way Linux's signalfd_copyinfo does: by the siginfo's layout, which
// its signal and code decide.
func putSignalfdSiginfo(b []byte, sig unix.Signal, si sigInfo) {
	clear(b)
	u32 := func(off int) uint32 { return le.Uint32(si[off:]) }
	u64 := func(off int) uint64 { return le.Uint64(si[off:]) }
	code := int32(u32(8))
	le.PutUint32(b[0:], uint32(sig)) // ssi_signo
	le.PutUint32(b[4:], u32(4))      // ssi_errno
	le.PutUint32(b[8:], uint32(code))
	const (
		ssiPid, ssiUID, ssiFD, ssiTid, ssiBand, ssiOverrun = 12, 16, 20, 24, 28, 32
		ssiStatus, ssiInt, ssiPtr, ssiUtime, ssiStime      = 40, 44, 48, 56, 64
		ssiAddr, ssiAddrLsb, ssiSyscall, ssiCallAddr       = 72, 80, 84, 88
		ssiArch                                            = 96
	)
	switch siginfoLayout(sig, code) {
	case silKill:
		le.PutUint32(b[ssiPid:], u32(16))
		le.PutUint32(b[ssiUID:], u32(20))
	case silTimer:
		le.PutUint32(b[ssiTid:], u32(16))
		le.PutUint32(b[ssiOverrun:], u32(20))
		le.PutUint64(b[ssiPtr:], u64(24))
		le.PutUint32(b[ssiInt:], u32(24))
	case silPoll:
		le.PutUint32(b[ssiBand:], u32(16))
		le.PutUint32(b[ssiFD:], u32(24))
	case silFault:
		le.PutUint64(b[ssiAddr:], u64(16))
		if sig == unix.SIGBUS && (code == busMceErrAR || code == busMceErrAO) {
			le.PutUint16(b[ssiAddrLsb:], le.Uint16(si[24:]))
		}
	case silChld:
		le.PutUint32(b[ssiPid:], u32(16))
		le.PutUint32(b[ssiUID:], u32(20))
		le.PutUint32(b[ssiStatus:], u32(24))
		le.PutUint64(b[ssiUtime:], u64(32))
		le.PutUint64(b[ssiStime:], u64(40))
	case silRT:
		le.PutUint32(b[ssiPid:], u32(16))
		le.PutUint32(b[ssiUID:], u32(20))
		le.PutUint64(b[ssiPtr:], u64(24))
		le.PutUint32(b[ssiInt:], u32(24))
	case silSys:
		le.PutUint64(b[ssiCallAddr:], u64(16))
		le.PutUint32(b[ssiSyscall:], u32(24))
		le.PutUint32(b[ssiArch:], u32(28))
	}
}

// siginfo layouts (kernel/signal.c siginfo_layout), as far as x86-64 has them.
const (
	silKill = iota
	silTimer
	silPoll
	silFault
	silChld
	silRT
	silSys
)

const (
	siSigio     = -5
	nSigPoll    = 6
	busMceErrAR = 4
	busMceErrAO = 5
)

// sigSpecificCodes: the signals with codes of their own, how many they
// have and the layout those use (NSIGILL, NSIGFPE, ...).
var sigSpecificCodes = map[unix.Signal]struct {
	n      int32
	layout int
}{
	unix.SIGILL: {11, silFault}, unix.SIGFPE: {15, silFault}, unix.SIGSEGV: {10, silFault},
	unix.SIGBUS: {5, silFault}, unix.SIGTRAP: {6, silFault}, unix.SIGCHLD: {6, silChld},
	unix.SIGSYS: {2, silSys},
}

func siginfoLayout(sig unix.Signal, code int32) int {
	if code > siUser && code < siKernel {
		if l, ok := sigSpecificCodes[sig]; ok && code <= l.n {
			return l.layout
		}
		if code <= nSigPoll {
			return silPoll
		}
		return silKill
	}
	switch {
	case code == siTimer:
		return silTimer
	case code == siSigio:
		return silPoll
	case code < 0:
		return silRT
	}
	return silKill
}

// restoreSignalfd turns guest fd, which a fork child received as a dup of
// its parent's eventfd, into a signalfd of the child's own with mask.
func (t *fdTable) restoreSignalfd(p *process, fd int, mask uint64) {
	e := &t.fds[fd]
	fl, err := unix.FcntlInt(uintptr(e.host), unix.F_GETFL, 0)
	if err != nil {
		return
	}
	sfd, err := p.newSignalFD(mask, fl&unix.O_NONBLOCK)
	if err != nil {
		p.report("fork child: signalfd %d: %v", fd, err)
		return
	}
	// The guest's number keeps its host number; only the object changes.
	if err := unix.Dup3(sfd.efd, e.host, unix.O_CLOEXEC); err != nil {
		sfd.release()
		p.report("fork child: signalfd %d: %v", fd, err)
		return
	}
	e.sfd = sfd
	sfd.refs++
}

// signalfdEvents narrows the poll events asked of guest fd to those a
// signalfd can have (only POLLIN: its host eventfd is always writable).
func (t *thread) signalfdEvents(fd int32, ev int16) int16 {
	if t.p.files.signalfd(fd) != nil {
		return ev & unix.POLLIN
	}
	return ev
}
