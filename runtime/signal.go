package runtime

// Signal delivery. Signals are queued on a thread or on the process, a
// thread that can take one is kicked out of the guest (or out of a blocking
// host syscall), and before it re-enters the guest it builds a Linux
// rt_sigframe on the guest stack and starts the handler. rt_sigreturn undoes
// the frame. Everything here is the x86-64 Linux user ABI: the frame layout,
// the ucontext/sigcontext offsets and the fpstate magic are what glibc, musl
// and the Go runtime read.

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kmvm/km/kvm"
)

// sigInfo is a siginfo_t as the guest sees it.
type sigInfo [sizeofSiginfo]byte

const sizeofSiginfo = 128

// si_code values (<asm-generic/siginfo.h>).
const (
	siUser     = 0
	siKernel   = 0x80
	siQueue    = -1
	siTimer    = -2
	siTkill    = -6
	segvMapErr = 1
	segvAccErr = 2
	busAdrAln  = 1
	illIllOpn  = 2
	fpeIntDiv  = 1
	trapBrkpt  = 1
)

func newSigInfo(sig unix.Signal, code int32) sigInfo {
	var si sigInfo
	le.PutUint32(si[0:], uint32(sig))
	le.PutUint32(si[8:], uint32(code))
	return si
}

// withSender fills si_pid and si_uid (kill, tgkill, sigqueue).
func (si sigInfo) withSender(pid, uid int) sigInfo {
	le.PutUint32(si[16:], uint32(pid))
	le.PutUint32(si[20:], uint32(uid))
	return si
}

// withAddr fills si_addr (faults).
func (si sigInfo) withAddr(addr uint64) sigInfo {
	le.PutUint64(si[16:], addr)
	return si
}

// pendingSet is a set of pending signals: standard signals coalesce, real-
// time signals queue (up to a bound, like RLIMIT_SIGPENDING).
type pendingSet struct {
	mask  uint64
	infos [nSig + 1][]sigInfo
}

const maxQueuedPerSignal = 64

func (ps *pendingSet) add(sig unix.Signal, si sigInfo) bool {
	if sig < sigRTMin && ps.mask&sigBit(sig) != 0 {
		return false
	}
	if len(ps.infos[sig]) >= maxQueuedPerSignal {
		return false
	}
	ps.infos[sig] = append(ps.infos[sig], si)
	ps.mask |= sigBit(sig)
	return true
}

// take removes the lowest-numbered signal in want and returns it.
func (ps *pendingSet) take(want uint64) (unix.Signal, sigInfo, bool) {
	m := ps.mask & want
	if m == 0 {
		return 0, sigInfo{}, false
	}
	sig := lowestSignal(m)
	q := ps.infos[sig]
	si := q[0]
	ps.infos[sig] = q[1:]
	if len(ps.infos[sig]) == 0 {
		ps.infos[sig] = nil
		ps.mask &^= sigBit(sig)
	}
	return sig, si, true
}

func (ps *pendingSet) drop(sig unix.Signal) {
	ps.infos[sig] = nil
	ps.mask &^= sigBit(sig)
}

func lowestSignal(m uint64) unix.Signal {
	for s := unix.Signal(1); s <= nSig; s++ {
		if m&sigBit(s) != 0 {
			return s
		}
	}
	return 0
}

const sigRTMin = 32

// ignored reports whether sig is discarded on arrival under action act.
func ignored(sig unix.Signal, act sigaction) bool {
	if act.handler == sigIGN {
		return true
	}
	return act.handler == sigDFL && defaultAction(sig) == actIgnore
}

// queueSignal makes sig pending on target, or on the process when target is
// nil, and kicks a thread that can take it. It reports false when the
// signal was discarded (ignored, or a standard signal already pending).
func (p *process) queueSignal(sig unix.Signal, si sigInfo, target *thread) bool {
	if sig == unix.SIGKILL {
		p.exit(ExitStatus{Signal: unix.SIGKILL})
		p.kickAll()
		return true
	}
	s := p.sig
	s.mu.Lock()
	act := s.actions[sig]
	if sig == unix.SIGCONT {
		// The host resumed the monitor already; a stop still pending is moot.
		for _, st := range []unix.Signal{unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU} {
			s.pending.drop(st)
		}
	}
	// A blocked signal stays queued even if ignored: the disposition may
	// change before it is unblocked (and sigwait or a signalfd may take
	// it). For a process-directed signal Linux asks the main thread's mask.
	var blocked bool
	if target != nil {
		blocked = target.sigmask&sigBit(sig) != 0
	} else {
		blocked = p.mainBlocks(sig)
	}
	if ignored(sig, act) && !blocked && !p.waitedFor(sig) {
		s.mu.Unlock()
		return false
	}
	var added bool
	if target != nil {
		added = target.pending.add(sig, si)
	} else {
		added = s.pending.add(sig, si)
		target = p.chooseThread(sig)
	}
	if added {
		p.signalfdsChanged(true)
	}
	s.mu.Unlock()
	if added && target != nil {
		target.notify()
	}
	return added
}

// mainBlocks reports whether the main thread blocks sig; once it has
// exited, whether every remaining thread does. Called with p.sig.mu held.
func (p *process) mainBlocks(sig unix.Signal) bool {
	p.threadsMu.Lock()
	defer p.threadsMu.Unlock()
	if t := p.threads[p.pid]; t != nil {
		return t.sigmask&sigBit(sig) != 0
	}
	for _, t := range p.threads {
		if t.sigmask&sigBit(sig) == 0 {
			return false
		}
	}
	return len(p.threads) > 0
}

// waitedFor reports whether some thread is in sigtimedwait for sig.
// Called with p.sig.mu held.
func (p *process) waitedFor(sig unix.Signal) bool {
	p.threadsMu.Lock()
	defer p.threadsMu.Unlock()
	for _, t := range p.threads {
		if t.waitSet&sigBit(sig) != 0 {
			return true
		}
	}
	return false
}

// chooseThread picks the thread to take a process-wide signal: one waiting
// for it in sigtimedwait, else the main thread if it does not block it, else
// any thread that does not. nil: every thread blocks it for now. Called with
// p.sig.mu held.
func (p *process) chooseThread(sig unix.Signal) *thread {
	bit := sigBit(sig)
	p.threadsMu.Lock()
	defer p.threadsMu.Unlock()
	var pick *thread
	for _, t := range p.threads {
		if t.waitSet&bit != 0 {
			return t
		}
		if t.sigmask&bit == 0 && (pick == nil || t.tid == p.pid) {
			pick = t
		}
	}
	return pick
}

// notify tells t a signal may be deliverable: it wakes the thread from a
// signal wait and kicks it out of the guest or a blocking host syscall.
func (t *thread) notify() {
	t.interrupt.Store(true)
	select {
	case t.wake <- struct{}{}:
	default:
	}
	if !t.onOwnThread() {
		t.kick()
	}
}

// onOwnThread reports whether the caller is t's own OS thread (a signal it
// sends itself needs no kick: it is delivered when the syscall returns).
func (t *thread) onOwnThread() bool { return unix.Gettid() == t.host }

func (p *process) kickAll() {
	p.threadsMu.Lock()
	defer p.threadsMu.Unlock()
	for _, t := range p.threads {
		t.notify()
	}
}

// deliverable reports whether t has a signal it could take now. Called
// with p.sig.mu held.
func (t *thread) deliverableLocked() bool {
	return (t.pending.mask|t.p.sig.pending.mask)&^t.sigmask != 0
}

// takeSignal dequeues the next signal t can take, thread-directed first.
func (t *thread) takeSignal() (unix.Signal, sigInfo, sigaction, bool) {
	s := t.p.sig
	s.mu.Lock()
	defer s.mu.Unlock()
	want := ^t.sigmask
	sig, si, ok := t.pending.take(want)
	if !ok {
		sig, si, ok = s.pending.take(want)
	}
	if !ok {
		return 0, si, sigaction{}, false
	}
	t.p.signalfdsChanged(false)
	act := s.actions[sig]
	if act.handler != sigDFL && act.handler != sigIGN && act.flags&saResetHand != 0 {
		s.actions[sig] = sigaction{}
	}
	return sig, si, act, true
}

// sa_flags bits.
const (
	saNoCldStop = 0x1
	saNoCldWait = 0x2
	saSigInfo   = 0x4
	saOnStack   = 0x08000000
	saRestart   = 0x10000000
	saNoDefer   = 0x40000000
	saResetHand = 0x80000000
	saRestorer  = 0x04000000
)

// deliverSignals runs the pending signals t can take against the user state
// u (the registers the thread would resume with): default actions happen
// here, and each handled signal gets a frame on the guest stack, leaving u
// at the handler's entry. It reports whether u changed. interrupted is the
// syscall number whose host call a signal interrupted with EINTR, or -1.
func (t *thread) deliverSignals(u *kvm.Regs, interrupted int64) bool {
	changed := false
	for !t.exitThread {
		sig, si, act, ok := t.takeSignal()
		if !ok {
			break
		}
		switch {
		case act.handler == sigIGN:
			continue
		case act.handler == sigDFL:
			switch defaultAction(sig) {
			case actIgnore:
				continue
			case actStop:
				// The whole monitor stops, as the whole process would; the
				// host's SIGCONT resumes it.
				unix.Kill(os.Getpid(), unix.SIGSTOP)
				continue
			}
			t.terminate(sig, actCoreLike(sig))
			return changed
		}
		if interrupted >= 0 {
			if act.flags&saRestart != 0 && restartable(uint64(interrupted)) {
				u.RIP -= syscallInsnLen
				u.RAX = uint64(interrupted)
			} else {
				u.RAX = neg(unix.EINTR)
			}
			interrupted = -1
		}
		if err := t.setupFrame(u, sig, si, act); err != nil {
			// Linux: a frame that cannot be written kills with SIGSEGV.
			t.p.report("cannot deliver %s: %v", signalName(sig), err)
			t.terminate(unix.SIGSEGV, true)
			return changed
		}
		changed = true
	}
	if interrupted >= 0 && !t.exitThread {
		// No handler ran: the interrupted call restarts as if nothing
		// happened (Linux restarts every kind when no handler is invoked).
		if !neverRestarted(uint64(interrupted)) {
			u.RIP -= syscallInsnLen
			u.RAX = uint64(interrupted)
			changed = true
		}
	}
	if t.hasSavedMask {
		// sigsuspend/ppoll/pselect's temporary mask ends with the call.
		t.setMask(t.savedMask)
		t.hasSavedMask = false
	}
	return changed
}

func actCoreLike(sig unix.Signal) bool { return defaultAction(sig) == actCore }

// terminate ends the process by signal sig's default action.
func (t *thread) terminate(sig unix.Signal, core bool) {
	if core {
		t.p.report("guest killed by %s", signalName(sig))
	}
	t.p.exit(ExitStatus{Signal: sig})
	t.p.kickAll()
	t.exitThread = true
}

// syscallInsnLen is the length of the guest's `syscall` instruction (0f 05):
// a restarted syscall resumes this far back.
const syscallInsnLen = 2

// restartable lists the syscalls Linux restarts after a handler with
// SA_RESTART (they return -ERESTARTSYS when interrupted).
func restartable(nr uint64) bool {
	switch nr {
	case unix.SYS_READ, unix.SYS_WRITE, unix.SYS_READV, unix.SYS_WRITEV, unix.SYS_PREAD64, unix.SYS_PWRITE64,
		unix.SYS_PREADV, unix.SYS_PWRITEV, unix.SYS_PREADV2, unix.SYS_PWRITEV2,
		unix.SYS_ACCEPT, unix.SYS_ACCEPT4, unix.SYS_CONNECT, unix.SYS_RECVFROM, unix.SYS_SENDTO,
		unix.SYS_RECVMSG, unix.SYS_SENDMSG, unix.SYS_RECVMMSG, unix.SYS_SENDMMSG,
		unix.SYS_WAIT4, unix.SYS_WAITID, unix.SYS_FUTEX, unix.SYS_FLOCK, unix.SYS_FCNTL,
		unix.SYS_OPEN, unix.SYS_OPENAT, unix.SYS_SENDFILE, unix.SYS_SPLICE, unix.SYS_TEE, unix.SYS_IOCTL,
		unix.SYS_FSYNC, unix.SYS_FDATASYNC, unix.SYS_COPY_FILE_RANGE:
		return true
	}
	return false
}

// neverRestarted lists the syscalls that end with EINTR even when the
// signal ran no handler: the waits for signals themselves. Linux restarts
// every other interrupted call in that case.
func neverRestarted(nr uint64) bool {
	switch nr {
	case unix.SYS_RT_SIGSUSPEND, unix.SYS_PAUSE, unix.SYS_RT_SIGTIMEDWAIT:
		return true
	}
	return false
}

// x86-64 rt_sigframe layout (arch/x86/include/asm/sigframe.h): the return
// address (sa_restorer), a ucontext, a siginfo; the XSAVE area follows,
// 64-byte aligned, above them.
const (
	frameUContext   = 8
	ucFlags         = 0
	ucLink          = 8
	ucStack         = 16 // stack_t: sp, flags (int + pad), size
	ucMcontext      = 40 // struct sigcontext, 32 words
	ucSigmask       = 296
	sizeofUContext  = 304
	frameSiginfo    = frameUContext + sizeofUContext
	sizeofSigframe  = frameSiginfo + sizeofSiginfo
	redZone         = 128
	ucFPXState      = 0x1 // UC_FP_XSTATE: fpstate is an XSAVE area
	ucSigcontextSS  = 0x2 // UC_SIGCONTEXT_SS: ss in sigcontext is valid
	ucStrictRestore = 0x4 // UC_STRICT_RESTORE_SS

	fpxMagic1      = 0x46505853 // FP_XSTATE_MAGIC1 in the sw_reserved bytes
	fpxMagic2      = 0x46505845 // FP_XSTATE_MAGIC2 after the XSAVE area
	fpxSwBytes     = 464        // offset of struct _fpx_sw_bytes in the legacy area
	xsaveHeader    = 512        // XSAVE header offset (xstate_bv)
	xsaveMinSize   = 576        // legacy area + header
	ssOnStack      = 1
	ssDisable      = 2
	ssAutodisarm   = 1 << 31
	sigcontextSize = 256
)

// sigcontext word indexes (struct sigcontext_64).
const (
	scR8 = iota
	scR9
	scR10
	scR11
	scR12
	scR13
	scR14
	scR15
	scRDI
	scRSI
	scRBP
	scRBX
	scRDX
	scRAX
	scRCX
	scRSP
	scRIP
	scEFLAGS
	scSegs // cs, gs, fs, ss as four u16
	scErr
	scTrapno
	scOldmask
	scCR2
	scFPState
)

// faultInfo is what a synchronous fault adds to a frame.
type faultInfo struct {
	err, trapno, cr2 uint64
}

// onAltStack reports whether sp is on t's alternate signal stack.
func (t *thread) onAltStack(sp uint64) bool {
	a := t.altstack
	return a.flags&ssDisable == 0 && a.size != 0 && sp > a.sp && sp-a.sp <= a.size
}

// setupFrame writes sig's frame for user state u and points u at the handler.
func (t *thread) setupFrame(u *kvm.Regs, sig unix.Signal, si sigInfo, act sigaction) error {
	m := t.p.mem
	sp := u.RSP
	alt := t.altstack
	onAlt := t.onAltStack(sp)
	if act.flags&saOnStack != 0 && alt.flags&ssDisable == 0 && alt.size != 0 && !onAlt {
		sp = alt.sp + alt.size
		if alt.flags&ssAutodisarm != 0 {
			t.altstack = stackT{flags: ssDisable}
		}
	} else {
		sp -= redZone
	}

	// FPU state: the vCPU's XSAVE image, as the kernel's xsave would write it.
	var xs kvm.Xsave
	if err := t.vcpu.GetXsave(&xs); err != nil {
		return err
	}
	xsize := t.p.xsaveSize
	sp -= xsize + 4 // + FP_XSTATE_MAGIC2
	sp &^= 63
	fp := sp
	img := unsafe.Slice((*byte)(unsafe.Pointer(&xs.Region[0])), len(xs.Region)*4)[:xsize]
	sw := img[fpxSwBytes:]
	le.PutUint32(sw[0:], fpxMagic1)
	le.PutUint32(sw[4:], uint32(xsize+4))
	le.PutUint64(sw[8:], t.p.xcr0)
	le.PutUint32(sw[16:], uint32(xsize))
	if err := m.write(fp, img); err != nil {
		return err
	}
	if err := m.writeU32(fp+xsize, fpxMagic2); err != nil {
		return err
	}

	sp -= sizeofSigframe
	sp = sp&^15 - 8 // the handler starts as if called: (rsp+8) % 16 == 0
	frame, err := m.slice(sp, sizeofSigframe)
	if err != nil {
		return err
	}
	clear(frame)
	le.PutUint64(frame[0:], act.restorer)
	uc := frame[frameUContext:]
	le.PutUint64(uc[ucFlags:], ucFPXState|ucSigcontextSS|ucStrictRestore)
	ssFlags := uint64(alt.flags)
	if onAlt {
		ssFlags |= ssOnStack
	}
	le.PutUint64(uc[ucStack:], alt.sp)
	le.PutUint64(uc[ucStack+8:], ssFlags)
	le.PutUint64(uc[ucStack+16:], alt.size)
	putSigcontext(uc[ucMcontext:], u, t.fault, fp)
	mask := t.sigmask
	if t.hasSavedMask {
		mask = t.savedMask
		t.hasSavedMask = false
	}
	le.PutUint64(uc[ucSigmask:], mask)
	copy(frame[frameSiginfo:], si[:])

	newMask := mask | act.mask
	if act.flags&saNoDefer == 0 {
		newMask |= sigBit(sig)
	}
	t.setMask(newMask)

	u.RSP = sp
	u.RIP = act.handler
	u.RDI = uint64(sig)
	u.RSI = sp + frameSiginfo
	u.RDX = sp + frameUContext
	u.RAX = 0
	u.RFLAGS = u.RFLAGS&^(rflagsDF|rflagsTF|rflagsAC) | rflagsInitial
	t.fault = faultInfo{}
	return nil
}

func putSigcontext(sc []byte, u *kvm.Regs, f faultInfo, fp uint64) {
	w := func(i int, v uint64) { le.PutUint64(sc[i*8:], v) }
	w(scR8, u.R8)
	w(scR9, u.R9)
	w(scR10, u.R10)
	w(scR11, u.R11)
	w(scR12, u.R12)
	w(scR13, u.R13)
	w(scR14, u.R14)
	w(scR15, u.R15)
	w(scRDI, u.RDI)
	w(scRSI, u.RSI)
	w(scRBP, u.RBP)
	w(scRBX, u.RBX)
	w(scRDX, u.RDX)
	w(scRAX, u.RAX)
	w(scRCX, u.RCX)
	w(scRSP, u.RSP)
	w(scRIP, u.RIP)
	w(scEFLAGS, u.RFLAGS)
	w(scSegs, uint64(selUserCS)|uint64(selUserDS)<<48)
	w(scErr, f.err)
	w(scTrapno, f.trapno)
	w(scCR2, f.cr2)
	w(scFPState, fp)
}

// sigreturn restores the user state saved by setupFrame; the frame's
// ucontext is at the guest's rsp (the handler's ret popped the return address).
func (t *thread) sigreturn(u *kvm.Regs) error {
	m := t.p.mem
	ucAddr := u.RSP
	uc, err := m.slice(ucAddr, sizeofUContext)
	if err != nil {
		return err
	}
	sc := uc[ucMcontext:]
	r := func(i int) uint64 { return le.Uint64(sc[i*8:]) }
	n := *u
	n.R8, n.R9, n.R10, n.R11 = r(scR8), r(scR9), r(scR10), r(scR11)
	n.R12, n.R13, n.R14, n.R15 = r(scR12), r(scR13), r(scR14), r(scR15)
	n.RDI, n.RSI, n.RBP, n.RBX = r(scRDI), r(scRSI), r(scRBP), r(scRBX)
	n.RDX, n.RAX, n.RCX, n.RSP = r(scRDX), r(scRAX), r(scRCX), r(scRSP)
	n.RIP = r(scRIP)
	n.RFLAGS = r(scEFLAGS)&rflagsUser | rflagsInitial
	if n.RIP >= canonicalUser {
		return fmt.Errorf("sigreturn to non-canonical rip %#x", n.RIP)
	}
	mask := le.Uint64(uc[ucSigmask:]) &^ (sigKill | sigStop)
	if fp := r(scFPState); fp != 0 {
		if err := t.restoreXsave(fp); err != nil {
			return err
		}
	}
	// uc_stack restores the alternate stack (restore_altstack), when valid.
	ss := stackT{sp: le.Uint64(uc[ucStack:]), flags: le.Uint64(uc[ucStack+8:]) &^ ssOnStack, size: le.Uint64(uc[ucStack+16:])}
	if !t.onAltStack(u.RSP) && (ss.flags&ssDisable != 0 || ss.size >= minSigStackSize) && ss.flags&^(ssDisable|ssAutodisarm) == 0 {
		t.altstack = ss
	}
	t.setMask(mask)
	*u = n
	return nil
}

// restoreXsave loads the frame's XSAVE image at guest fp into the vCPU.
func (t *thread) restoreXsave(fp uint64) error {
	if fp&63 != 0 {
		return fmt.Errorf("misaligned fpstate %#x", fp)
	}
	size := t.p.xsaveSize
	src, err := t.p.mem.slice(fp, size)
	if err != nil {
		return err
	}
	var xs kvm.Xsave
	img := unsafe.Slice((*byte)(unsafe.Pointer(&xs.Region[0])), len(xs.Region)*4)
	copy(img, src)
	clear(img[fpxSwBytes : fpxSwBytes+48]) // software bytes: not CPU state
	// Only components the guest may use; KVM rejects the rest anyway.
	bv := le.Uint64(img[xsaveHeader:]) & t.p.xcr0
	le.PutUint64(img[xsaveHeader:], bv)
	clear(img[xsaveHeader+8 : xsaveHeader+64]) // xcomp_bv and reserved: standard format
	if err := t.vcpu.SetXsave(&xs); err != nil {
		return fmt.Errorf("bad fpstate: %v", err)
	}
	return nil
}

// setMask sets t's blocked signals (never SIGKILL or SIGSTOP) and notes
// whether something became deliverable.
func (t *thread) setMask(mask uint64) {
	s := t.p.sig
	s.mu.Lock()
	old := t.sigmask
	t.sigmask = mask &^ (sigKill | sigStop)
	deliver := t.deliverableLocked()
	var wake []*thread
	if t.sigmask&^old != 0 {
		// Process-wide signals this thread now blocks may suit another.
		for m := s.pending.mask & t.sigmask &^ old; m != 0; m &^= sigBit(lowestSignal(m)) {
			if o := t.p.chooseThread(lowestSignal(m)); o != nil && o != t {
				wake = append(wake, o)
			}
		}
	}
	s.mu.Unlock()
	if deliver {
		t.interrupt.Store(true)
	}
	for _, o := range wake {
		o.notify()
	}
}

// userStateAfterSyscall is the state the thread returns to from a syscall
// with result ret.
func (t *thread) userStateAfterSyscall(ret, rip, flags uint64) kvm.Regs {
	u := *t.regs
	u.RAX, u.RIP, u.RFLAGS = ret, rip, flags&rflagsUser|rflagsInitial
	return u
}

// enterUser makes the vCPU resume at CPL3 with exactly the user state u.
func (t *thread) enterUser(u kvm.Regs) {
	*t.regs = u
	if !t.p.pvm || t.atCPL0 {
		// At CPL0 (an exception stub, or the syscall stub on hardware KVM):
		// leave by rewriting the user segments along with the registers.
		s := t.sregs()
		s.CS, s.SS = userCodeSegment(), userDataSegment(selUserDS)
		t.sregsDirty = true
	}
	t.atCPL0 = false
}

// inStub reports whether rip is in km's stubs (signals wait until the
// thread is back in the program's code).
func inStub(rip uint64) bool { return rip >= sysVirt && rip < sysVirt+sysSize }

// asyncSignals delivers signals to a thread that was interrupted in guest
// code (its sync registers are its user state).
func (t *thread) asyncSignals() {
	if !t.interrupt.Swap(false) {
		return
	}
	if inStub(t.regs.RIP) {
		// Between the guest's syscall and the doorbell: delivered when the
		// syscall returns.
		t.interrupt.Store(true)
		return
	}
	u := *t.regs
	if t.deliverSignals(&u, -1) {
		t.enterUser(u)
	}
}

// Kicks. A vCPU thread leaves KVM_RUN on immediate_exit or any signal; a
// thread blocked in a host syscall only leaves it on a signal whose handler
// lacks SA_RESTART. The Go runtime installs every handler with SA_RESTART,
// so km takes a real-time signal through os/signal and then clears that
// flag on the installed handler. A kick that lands just before the thread
// blocks is repeated until the thread acknowledges it.
const kickSignal = unix.Signal(63)

var kickOnce sync.Once

func installKickSignal() {
	kickOnce.Do(func() {
		ch := make(chan os.Signal, 16)
		signal.Notify(ch, kickSignal)
		go func() {
			for range ch {
			}
		}()
		var sa sigaction
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(kickSignal), 0,
			uintptr(unsafe.Pointer(&sa)), 8, 0, 0); e != 0 {
			return
		}
		sa.flags &^= saRestart
		unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(kickSignal), uintptr(unsafe.Pointer(&sa)), 0, 8, 0, 0)
	})
}

// kick makes the thread leave the guest or its blocking host call promptly.
func (t *thread) kick() {
	t.vcpu.RequestExit()
	unix.Tgkill(t.p.pid, t.host, kickSignal)
	if t.inBlock.Load() && t.rekicking.CompareAndSwap(false, true) {
		go t.rekick()
	}
}

func (t *thread) rekick() {
	defer t.rekicking.Store(false)
	d := 500 * time.Microsecond
	for i := 0; i < 40 && t.inBlock.Load() && (t.interrupt.Load() || t.killed.Load() || t.p.isExited()); i++ {
		time.Sleep(d)
		if !t.inBlock.Load() {
			return
		}
		unix.Tgkill(t.p.pid, t.host, kickSignal)
		if d < 20*time.Millisecond {
			d *= 2
		}
	}
}

func (p *process) isExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Host signals sent to the monitor (kill from outside, the terminal, timers
// the host runs) are the guest's: they are forwarded to the running process.
// SIGPIPE is not: km raises it itself for the guest write that failed.
var forwardedSignals = func() []os.Signal {
	s := []os.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGALRM,
		unix.SIGTERM, unix.SIGSTKFLT, unix.SIGCHLD, unix.SIGCONT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU,
		unix.SIGXCPU, unix.SIGXFSZ, unix.SIGVTALRM, unix.SIGPROF, unix.SIGWINCH, unix.SIGIO, unix.SIGPWR}
	for sig := unix.Signal(34); sig <= nSig; sig++ {
		if sig != kickSignal {
			s = append(s, sig)
		}
	}
	return s
}()

var (
	forwardOnce   sync.Once
	activeProcess atomic.Pointer[process]
	earlyMu       sync.Mutex
	early         []unix.Signal // forwarded before a process was active
)

// subscribeHostSignals starts taking the forwarded signals from the host
// and returns a channel closed once that is in place. Subscribing to some
// 50 signals costs over a millisecond (os/signal updates the mask one signal
// at a time), so Run does it beside building the VM and waits only before
// the guest's first instruction. Signals that arrive before a process is
// active are kept for it.
func subscribeHostSignals() <-chan struct{} {
	forwardOnce.Do(func() {
		subscribed = make(chan struct{})
		go func() {
			ch := make(chan os.Signal, 64)
			signal.Notify(ch, forwardedSignals...)
			close(subscribed)
			for s := range ch {
				forwardHostSignal(s.(unix.Signal))
			}
		}()
	})
	return subscribed
}

var subscribed chan struct{}

// forwardHostSignals routes host signals to p from now on.
func (p *process) forwardHostSignals() {
	<-subscribeHostSignals()
	earlyMu.Lock()
	activeProcess.Store(p)
	pending := early
	early = nil
	earlyMu.Unlock()
	for _, sig := range pending {
		p.queueHostSignal(sig)
	}
}

// hostSigInfo is the siginfo of a signal the host sent the monitor, and
// false for a stale SIGCHLD. os/signal does not pass the host's siginfo on,
// so it says SI_USER, except for SIGCHLD: a child monitor's exit, stop or
// continue, whose details a non-reaping waitid(2) still holds (in Linux's
// siginfo layout, as the guest's is). os/signal delivers late: when no
// child has a change to report, the guest has already reaped the one this
// SIGCHLD was for (Linux raised it at the exit, before that wait returned),
// and queueing it now would only hide the next child's. (A SIGCHLD another
// process sends with kill(2) is dropped with them.)
func hostSigInfo(sig unix.Signal) (sigInfo, bool) {
	if sig == unix.SIGCHLD {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WSTOPPED|unix.WCONTINUED|unix.WNOHANG|unix.WNOWAIT, nil)
		if err == nil && info.Signo == int32(unix.SIGCHLD) {
			return *(*sigInfo)(unsafe.Pointer(&info)), true
		}
		return sigInfo{}, false
	}
	return newSigInfo(sig, siUser), true
}

func (p *process) queueHostSignal(sig unix.Signal) {
	if si, ok := hostSigInfo(sig); ok {
		p.queueSignal(sig, si, nil)
	}
}

func forwardHostSignal(sig unix.Signal) {
	earlyMu.Lock()
	p := activeProcess.Load()
	if p == nil {
		early = append(early, sig)
		earlyMu.Unlock()
		return
	}
	earlyMu.Unlock()
	p.queueHostSignal(sig)
}
