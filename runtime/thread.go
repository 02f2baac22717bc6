package runtime

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kmvm/km/kvm"
)

// thread is one guest thread: a vCPU driven by one locked OS thread.
type thread struct {
	p    *process
	id   int // vCPU id, also the index of its TSS and exception stack
	tid  int // guest thread id
	host int // host thread id of the OS thread running the vCPU
	vcpu *kvm.VCPU
	run  *kvm.Run
	regs *kvm.Regs // the sync-register copy in the kvm_run page

	clearChildTID uint64
	altstack      stackT

	// Signals. sigmask, pending and waitSet are guarded by p.sig.mu (other
	// threads read them to pick a target); the rest belong to the thread.
	sigmask      uint64     // blocked signals
	pending      pendingSet // signals sent to this thread
	waitSet      uint64     // signals it waits for in rt_sigtimedwait
	savedMask    uint64     // the mask to restore after sigsuspend/ppoll/pselect
	hasSavedMask bool
	fault        faultInfo   // the synchronous fault being delivered
	interrupt    atomic.Bool // a signal may be deliverable: look before entering the guest
	inBlock      atomic.Bool // in a blocking host syscall (see block)
	inGuest      atomic.Bool // in KVM_RUN or past the stop check on the way: forks wait for it (forkstop.go)
	rekicking    atomic.Bool
	wake         chan struct{} // wakes signal waits (sigsuspend, sigtimedwait, pause)
	// blockInterrupted: this syscall's host call ended with EINTR for a signal.
	blockInterrupted bool

	// set by handlers that change how the thread resumes
	exitThread      bool        // the thread is gone (exit, exit_group, fatal signal)
	forceFullReturn bool        // return by rewriting the user state even on hardware KVM
	noResume        bool        // the handler set the whole user state (rt_sigreturn, execve)
	atCPL0          bool        // stopped in an exception stub: returning needs the user segments back
	killed          atomic.Bool // another thread's execve ends this one
	sregsValid      bool        // run.S.Sregs holds this exit's special registers
	sregsDirty      bool        // a handler changed them: write them back on entry
}

// sregs returns the special registers, fetched on first use after an exit
// (most exits need none, so they are not synced on every exit).
func (t *thread) sregs() *kvm.Sregs {
	if !t.sregsValid {
		if err := t.vcpu.GetSregs(&t.run.S.Sregs); err != nil {
			t.p.report("KVM_GET_SREGS: %v", err)
		}
		t.sregsValid = true
	}
	return &t.run.S.Sregs
}

func sliceAddr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// threadStart is the initial CPU state of a new thread.
type threadStart struct {
	regs    kvm.Regs
	fsBase  uint64
	gsBase  uint64
	xsave   *kvm.Xsave // FPU/SSE/AVX state to restore (fork), or nil for the reset state
	sigmask uint64     // inherited from the creating thread
	tid     int        // 0: allocate (the main thread gets the pid)
	// ready receives nil once the thread exists, or why it could not.
	ready chan<- error
}

// startThread starts the main thread.
func (p *process) startThread(regs kvm.Regs) {
	ready, started, release := make(chan error, 1), make(chan *thread, 1), make(chan struct{})
	close(release)
	p.spawnThread(threadStart{regs: regs, tid: p.pid, ready: ready}, started, release)
	if err := <-ready; err != nil {
		p.report("cannot start the guest: %v", err)
		p.exit(ExitStatus{Signal: unix.SIGKILL})
	}
}

// The guest's main thread has the pid as its tid and every other guest
// thread the host tid of its vCPU thread, so no vCPU may ever run on the
// process's main OS thread (whose tid is the pid). Keeping the main
// goroutine on it for good (LockOSThread during init applies to the main
// goroutine) keeps every other goroutine, vCPUs included, off it.
func init() { goruntime.LockOSThread() }

// lockThread binds the calling goroutine to its OS thread for good: a vCPU
// must always run on one thread, and when the goroutine ends Go retires the
// thread with it.
func lockThread() { goruntime.LockOSThread() }

// idleVCPU is the vCPU of a thread that ended. KVM cannot destroy a single
// vCPU, so a new thread takes an idle one before a new one is created: a
// server that starts a thread per request would otherwise run out.
type idleVCPU struct {
	id   int
	vcpu *kvm.VCPU
}

func (p *process) newThread(st threadStart) (*thread, error) {
	var id int
	var vcpu *kvm.VCPU
	reused := false
	p.threadsMu.Lock()
	if n := len(p.idle); n > 0 {
		id, vcpu = p.idle[n-1].id, p.idle[n-1].vcpu
		p.idle = p.idle[:n-1]
		reused = true
	} else {
		id = p.nextVCPU
		p.nextVCPU++
	}
	p.threadsMu.Unlock()
	if vcpu == nil {
		if id >= maxVCPUs {
			return nil, unix.EAGAIN
		}
		var err error
		if vcpu, err = p.vm.CreateVCPU(id); err != nil {
			return nil, err
		}
	}
	vcpu.ClearExitRequest()
	t := &thread{p: p, id: id, vcpu: vcpu, run: vcpu.Run(), tid: st.tid, host: unix.Gettid(),
		sigmask: st.sigmask, wake: make(chan struct{}, 1)}
	t.regs = &t.run.S.Regs
	if t.tid == 0 {
		t.tid = t.host
		if t.tid == p.pid {
			p.releaseVCPU(id, vcpu)
			return nil, fmt.Errorf("vCPU thread is the process's main thread (tid %d)", t.tid)
		}
	}
	if err := t.setup(st, reused); err != nil {
		p.releaseVCPU(id, vcpu)
		return nil, err
	}
	p.threadsMu.Lock()
	p.threads[t.tid] = t
	p.threadsMu.Unlock()
	return t, nil
}

// setup puts the vCPU in 64-bit mode at CPL3 with the Linux user ABI.
// A reused vCPU keeps its CPUID: KVM refuses to change it after KVM_RUN.
func (t *thread) setup(st threadStart, reused bool) error {
	p, c := t.p, t.vcpu
	// CPUID first: KVM validates CR4 bits in SET_SREGS against it.
	if !reused {
		if err := c.SetCPUID(p.cpuid); err != nil {
			return err
		}
	}
	writeTSS(p.sysMem, t.id)
	s := initialSregs(p.cr3, t.id, p.fsgs)
	s.FS.Base = st.fsBase
	s.GS.Base = st.gsBase
	if err := c.SetSregs(&s); err != nil {
		return err
	}
	if err := c.SetMSRs([]kvm.MSREntry{
		{Index: msrSTAR, Data: msrSTARValue},
		{Index: msrLSTAR, Data: sysVirt + sysCode + stubSyscall},
		{Index: msrCSTAR, Data: sysVirt + sysCode + stubSyscall},
		{Index: msrSFMASK, Data: msrSFMASKValue},
		{Index: msrKernelGSBase, Data: 0},
	}); err != nil {
		return err
	}
	p.startVclock(c)
	xcrs := kvm.XCRs{NrXCRs: 1}
	xcrs.XCRs[0] = kvm.XCR{XCR: 0, Value: p.xcr0}
	if err := c.SetXCRs(&xcrs); err != nil {
		return err
	}
	fpu := kvm.FPU{FCW: 0x37f, MXCSR: 0x1f80} // the x87 and SSE reset state Linux gives a new program
	if err := c.SetFPU(&fpu); err != nil {
		return err
	}
	if st.xsave != nil {
		if err := c.SetXsave(st.xsave); err != nil {
			return err
		}
	}
	// Registers go in through the sync block, which every entry writes back.
	*t.regs = st.regs
	t.run.ValidRegs = kvm.SyncRegs
	return nil
}

// loop runs the vCPU until the thread or the process exits.
func (t *thread) loop() {
	defer t.finish()
	for {
		select {
		case <-t.p.exited:
			return
		default:
		}
		if t.killed.Load() {
			return
		}
		t.inGuest.Store(true)
		if t.p.stop.stopping.Load() {
			// A fork is copying memory: wait here, registers saved.
			t.inGuest.Store(false)
			t.park()
			continue
		}
		t.asyncSignals()
		if t.exitThread {
			t.inGuest.Store(false)
			return
		}
		if t.sregsDirty {
			t.run.DirtyRegs |= kvm.SyncSregs
		}
		t.run.DirtyRegs |= kvm.SyncRegs
		err := t.vcpu.RunOnce()
		t.inGuest.Store(false)
		t.sregsValid, t.sregsDirty = false, false
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				t.vcpu.ClearExitRequest()
				continue
			}
			if errors.Is(err, unix.EFAULT) {
				// The host mapping behind guest memory refused the access
				// (a read-only file mapping written, a file truncated under it).
				t.fatalSignal(unix.SIGBUS, t.regs.RIP, 0, "host refused guest memory access")
				return
			}
			t.p.report("KVM_RUN failed: %v", err)
			t.p.exit(ExitStatus{Signal: unix.SIGKILL})
			return
		}
		switch t.run.ExitReason {
		case kvm.ExitIO:
			io := t.run.IO()
			switch {
			case io.Port >= portException && io.Port < portException+32:
				t.exception(int(io.Port - portException))
				if t.exitThread {
					return
				}
				continue
			default:
				t.fatalSignal(unix.SIGSEGV, t.regs.RIP, 0, fmt.Sprintf("I/O to port %#x", io.Port))
				return
			}
		case kvm.ExitMMIO:
			mmio := t.run.MMIO()
			if mmio.PhysAddr == sysPhys+sysSize && t.regs.RIP == sysVirt+sysCode+stubSyscallEnd {
				t.syscall()
				if t.exitThread {
					return
				}
				continue
			}
			// An access to guest-physical memory no slot backs: past the
			// memory the guest was given, or the doorbell from elsewhere.
			t.fatalSignal(unix.SIGSEGV, t.regs.RIP, mmio.PhysAddr, "")
			return
		case kvm.ExitShutdown:
			t.fatalSignal(unix.SIGSEGV, t.regs.RIP, 0, "triple fault")
			return
		case kvm.ExitHlt:
			t.fatalSignal(unix.SIGSEGV, t.regs.RIP, 0, "hlt")
			return
		case kvm.ExitIntr:
			continue
		default:
			t.p.report("unexpected VM exit %d (suberror %d) at rip=%#x", t.run.ExitReason, t.run.Suberror(), t.regs.RIP)
			t.p.exit(ExitStatus{Signal: unix.SIGKILL})
			return
		}
	}
}

// releaseVCPU keeps a vCPU for the next thread.
func (p *process) releaseVCPU(id int, vcpu *kvm.VCPU) {
	p.threadsMu.Lock()
	p.idle = append(p.idle, idleVCPU{id, vcpu})
	p.threadsMu.Unlock()
}

func (t *thread) finish() {
	t.p.threadsMu.Lock()
	if t.p.threads[t.tid] == t {
		delete(t.p.threads, t.tid)
	}
	t.p.threadsMu.Unlock()
	t.p.releaseVCPU(t.id, t.vcpu)
	if t.p.live.Add(-1) == 0 {
		t.p.exit(ExitStatus{})
	}
}

// exceptionFrame is what the CPU pushed on the exception stack.
type exceptionFrame struct {
	errorCode, rip, cs, rflags, rsp, ss uint64
}

func (t *thread) readExceptionFrame(vector int) (exceptionFrame, error) {
	var f exceptionFrame
	sp := t.regs.RSP - sysVirt
	if sp >= sysSize-6*8 {
		return f, fmt.Errorf("exception stack pointer %#x out of range", t.regs.RSP)
	}
	words := t.p.sysMem[sp:]
	if vectorHasErrorCode[vector] {
		f.errorCode = le.Uint64(words)
		words = words[8:]
	}
	f.rip, f.cs, f.rflags = le.Uint64(words), le.Uint64(words[8:]), le.Uint64(words[16:])
	f.rsp, f.ss = le.Uint64(words[24:]), le.Uint64(words[32:])
	return f, nil
}

// exception handles a CPU exception the guest raised: the signal it maps to
// goes to the guest's handler, or takes its default action when the guest
// has none or blocks it (Linux's force_sig).
func (t *thread) exception(vector int) {
	f, err := t.readExceptionFrame(vector)
	if err != nil || f.cs&3 != 3 {
		t.p.report("fault inside km's stubs (vector %d, frame %+v, %v)", vector, f, err)
		t.p.exit(ExitStatus{Signal: unix.SIGKILL})
		t.exitThread = true
		return
	}
	sig, addr, code := unix.SIGSEGV, f.rip, int32(siKernel)
	switch vector {
	case vecDivide:
		sig, code = unix.SIGFPE, fpeIntDiv
	case vecX87, vecSIMD:
		sig, code = unix.SIGFPE, 0
	case vecInvalidOp:
		sig, code = unix.SIGILL, illIllOpn
	case vecDebug, vecBreakpoint:
		sig, code = unix.SIGTRAP, trapBrkpt
	case vecAlignment:
		sig, code = unix.SIGBUS, busAdrAln
	case vecPageFault:
		addr, code = t.sregs().CR2, segvMapErr
		if f.errorCode&1 != 0 { // P: the page was present, the access was not allowed
			code = segvAccErr
		}
	case vecGP:
		addr = 0
	}
	t.fault = faultInfo{err: f.errorCode, trapno: uint64(vector), cr2: addr}
	if !t.handles(sig) {
		t.fatalSignal(sig, f.rip, addr, "")
		t.exitThread = true
		return
	}
	u := *t.regs
	u.RIP, u.RSP, u.RFLAGS = f.rip, f.rsp, f.rflags
	t.atCPL0 = true
	si := newSigInfo(sig, code).withAddr(addr)
	t.p.sig.mu.Lock()
	t.pending.add(sig, si)
	t.p.sig.mu.Unlock()
	t.deliverSignals(&u, -1)
	if !t.exitThread {
		t.enterUser(u)
	}
}

// handles reports whether a synchronous sig would reach a guest handler:
// it has one and does not block the signal.
func (t *thread) handles(sig unix.Signal) bool {
	s := t.p.sig
	s.mu.Lock()
	defer s.mu.Unlock()
	act := s.actions[sig]
	return act.handler != sigDFL && act.handler != sigIGN && t.sigmask&sigBit(sig) == 0
}

// fatalSignal ends the process with sig's default action and a one-line report.
func (t *thread) fatalSignal(sig unix.Signal, rip, addr uint64, detail string) {
	msg := fmt.Sprintf("guest killed by %s at rip=%#x addr=%#x", signalName(sig), rip, addr)
	if detail != "" {
		msg += " (" + detail + ")"
	}
	t.p.report("%s", msg)
	t.p.exit(ExitStatus{Signal: sig})
}
