package runtime

// POSIX timers (timer_create) are the monitor's own. Each guest timer on a
// wall clock is a host timerfd on that clock (CPU-time clocks: see
// timers_cpu.go): the host keeps the time, TIMER_ABSTIME, intervals and the
// itimerspec checks exactly as a Linux timer would, and a goroutine parked
// in Go's poller on the timerfd turns each expiry into the guest's signal
// with a full siginfo (SI_TIMER, si_timerid, si_overrun, si_value), aimed
// at the process or, for SIGEV_THREAD_ID, at one thread.
//
// Overruns as on Linux: a timer has at most one instance of its signal
// queued; an expiry while it is still queued adds to that instance's
// si_overrun. timer_getoverrun reports the overrun of the last instance
// taken off the queue.

import (
	"math"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxTimers bounds a process's timers (Linux: RLIMIT_SIGPENDING); each is a
// host descriptor of the monitor.
const maxTimers = 4096

// siginfo _timer fields (<asm-generic/siginfo.h>).
const (
	siTimerID = 16
	siOverrun = 20
	siValue   = 24
)

// struct sigevent fields and notify kinds.
const (
	sizeofSigevent = 64
	sevValue       = 0
	sevSigno       = 8
	sevNotify      = 12
	sevTID         = 16

	sigevSignal   = 0
	sigevNone     = 1
	sigevThread   = 2 // glibc/musl implement it with SIGEV_THREAD_ID; the kernel treats it as SIGEV_SIGNAL
	sigevThreadID = 4
)

// posixTimers is a process's timers; the zero value is ready.
type posixTimers struct {
	mu      sync.Mutex
	byID    map[int32]*posixTimer
	nextID  int32
	watched bool      // a goroutine deletes them when the process exits
	cpu     cpuWaiter // CPU-time timers' (timers_cpu.go)
}

type posixTimer struct {
	id     int32
	fd     *os.File // the host timerfd, or nil for a CPU-time clock's
	hostID int32    // the host POSIX timer of a CPU-time clock
	notify int32
	signo  unix.Signal
	value  uint64 // sigev_value
	tid    int    // SIGEV_THREAD_ID's thread

	mu          sync.Mutex // the fields below
	deleted     bool
	queued      bool  // an instance was queued and not yet seen taken
	overrun     int32 // that instance's si_overrun
	lastOverrun int32 // the last taken instance's (timer_getoverrun)
}

// timerClockErr is Linux's answer to a timer on clock, from a host
// SIGEV_NONE timer made and deleted at once: EINVAL for unknown clocks,
// EOPNOTSUPP for clocks without timers (raw, coarse) and for the alarm
// clocks without an RTC, EPERM for them without CAP_WAKE_ALARM.
func (p *process) timerClockErr(clock int32) unix.Errno {
	if clock < 0 && !p.isCPUClock(clock) {
		return unix.EINVAL // other processes' CPU clocks: not km's (nor the guest's to probe)
	}
	var sev [sizeofSigevent]byte
	le.PutUint32(sev[sevNotify:], sigevNone)
	var id int32
	_, _, e := unix.Syscall(unix.SYS_TIMER_CREATE, uintptr(clock), ptr(sev[:]), uintptr(unsafe.Pointer(&id)))
	if e == 0 {
		unix.Syscall(unix.SYS_TIMER_DELETE, uintptr(id), 0, 0)
	}
	return e
}

// createTimer makes a timer from a parsed sigevent and returns its id;
// valueIsID: there was no sigevent, and sigev_value is the id (Linux).
func (p *process) createTimer(clock int32, pt *posixTimer, valueIsID bool) (int32, unix.Errno) {
	if e := p.timerClockErr(clock); e != 0 {
		return 0, e
	}
	ts := &p.timers
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.byID) >= maxTimers {
		return 0, unix.EAGAIN
	}
	fd := -1
	if !p.isCPUClock(clock) {
		var err error
		fd, err = unix.TimerfdCreate(int(clock), unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
		switch err {
		case nil:
		case unix.EINVAL: // CLOCK_TAI: Linux has timers on it, a timerfd not
			return 0, unix.EINVAL
		default:
			return 0, unix.EAGAIN // the monitor is out of descriptors or memory
		}
	}
	if ts.byID == nil {
		ts.byID = map[int32]*posixTimer{}
	}
	// Ids count up from 0 and wrap, skipping live ones (Linux 6.x).
	for ts.byID[ts.nextID] != nil {
		ts.nextID = (ts.nextID + 1) & math.MaxInt32
	}
	pt.id = ts.nextID
	ts.nextID = (ts.nextID + 1) & math.MaxInt32
	if valueIsID {
		pt.value = uint64(pt.id)
	}
	if fd < 0 {
		if e := p.createCPUTimer(clock, pt); e != 0 {
			return 0, e
		}
	} else {
		pt.fd = os.NewFile(uintptr(fd), "timer") // non-blocking: reads park in the poller
	}
	ts.byID[pt.id] = pt
	if !ts.watched {
		ts.watched = true
		go func() {
			<-p.exited
			p.deleteAllTimers()
		}()
	}
	if pt.fd != nil && pt.notify != sigevNone {
		go p.runTimer(pt)
	}
	return pt.id, 0
}

func (p *process) timer(id int32) *posixTimer {
	p.timers.mu.Lock()
	defer p.timers.mu.Unlock()
	return p.timers.byID[id]
}

// overrunPoll is how long a timer whose signal is still queued lets its
// expiries pile up in the timerfd before counting them: a fast periodic
// timer whose signals the guest does not take costs the monitor 4000
// wakeups a second, not one per expiry (Linux does not even re-arm it).
// The price: a timer faster than that the guest does keep up with may see
// its next signal up to this late, counted as overruns.
const overrunPoll = 250 * time.Microsecond

// runTimer turns pt's expiries into signals until pt is deleted.
func (p *process) runTimer(pt *posixTimer) {
	var b [8]byte
	for {
		if n, err := pt.fd.Read(b[:]); err != nil || n != len(b) {
			return
		}
		if p.timerFired(pt, le.Uint64(b[:])) {
			time.Sleep(overrunPoll)
		}
	}
}

// timerFired queues pt's signal for n expiries, or adds them to the
// instance still queued (then it reports true).
func (p *process) timerFired(pt *posixTimer, n uint64) bool {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pt.deleted || p.isExited() || n == 0 {
		return false
	}
	target, ok := p.timerTarget(pt)
	if !ok {
		return false // its thread is gone
	}
	s := p.sig
	s.mu.Lock()
	if si := pt.queuedLocked(p, target); si != nil {
		pt.overrun = addOverrun(pt.overrun, n)
		le.PutUint32(si[siOverrun:], uint32(pt.overrun))
		s.mu.Unlock()
		return true
	}
	s.mu.Unlock()
	if pt.queued {
		pt.lastOverrun = pt.overrun
	}
	pt.overrun = addOverrun(0, n-1)
	si := newSigInfo(pt.signo, siTimer)
	le.PutUint32(si[siTimerID:], uint32(pt.id))
	le.PutUint32(si[siOverrun:], uint32(pt.overrun))
	le.PutUint64(si[siValue:], pt.value)
	// Only this goroutine queues pt's signal, so nothing came in between.
	pt.queued = p.queueSignal(pt.signo, si, target)
	return false
}

// addOverrun adds n to an overrun count, saturating like Linux at INT_MAX.
func addOverrun(ov int32, n uint64) int32 {
	if n >= math.MaxInt32 || int64(ov)+int64(n) >= math.MaxInt32 {
		return math.MaxInt32
	}
	return ov + int32(n)
}

// timerTarget is the thread pt signals (nil: the process); false when its
// thread has exited.
func (p *process) timerTarget(pt *posixTimer) (*thread, bool) {
	if pt.notify != sigevThreadID {
		return nil, true
	}
	p.threadsMu.Lock()
	defer p.threadsMu.Unlock()
	t := p.threads[pt.tid]
	return t, t != nil
}

// queuedLocked finds pt's queued signal instance. Called with pt.mu and
// p.sig.mu held.
func (pt *posixTimer) queuedLocked(p *process, target *thread) *sigInfo {
	ps := pt.pendingSetLocked(p, target)
	for i := range ps.infos[pt.signo] {
		si := &ps.infos[pt.signo][i]
		if int32(le.Uint32(si[8:])) == siTimer && int32(le.Uint32(si[siTimerID:])) == pt.id {
			return si
		}
	}
	return nil
}

func (pt *posixTimer) pendingSetLocked(p *process, target *thread) *pendingSet {
	if target != nil {
		return &target.pending
	}
	return &p.sig.pending
}

// settle notes whether pt's queued instance has been taken, and drops it
// when drop is set (the timer is re-armed or deleted: Linux discards the
// signal of the old arming).
func (p *process) settle(pt *posixTimer, drop bool) {
	if !pt.queued {
		return
	}
	target, ok := p.timerTarget(pt)
	if !ok { // its thread is gone, and the signal with it
		pt.queued = false
		return
	}
	s := p.sig
	s.mu.Lock()
	defer s.mu.Unlock()
	si := pt.queuedLocked(p, target)
	if si == nil {
		pt.lastOverrun = pt.overrun
		pt.queued = false
		return
	}
	if drop {
		ps := pt.pendingSetLocked(p, target)
		q := ps.infos[pt.signo]
		for i := range q {
			if &q[i] == si {
				ps.infos[pt.signo] = append(q[:i:i], q[i+1:]...)
				break
			}
		}
		if len(ps.infos[pt.signo]) == 0 {
			ps.drop(pt.signo)
			p.signalfdsChanged(false) // a signalfd may no longer be readable
		}
		pt.queued = false
	}
}

// deleteTimer removes timer id; false if there is none.
func (p *process) deleteTimer(id int32) bool {
	ts := &p.timers
	ts.mu.Lock()
	pt := ts.byID[id]
	delete(ts.byID, id)
	ts.mu.Unlock()
	if pt == nil {
		return false
	}
	pt.mu.Lock()
	pt.deleted = true
	p.settle(pt, true)
	if pt.fd == nil {
		unix.Syscall(unix.SYS_TIMER_DELETE, uintptr(pt.hostID), 0, 0)
	}
	pt.mu.Unlock()
	if pt.fd != nil {
		pt.fd.Close() // ends runTimer's read
	}
	return true
}

// settime arms or disarms pt; the host checks the itimerspec. Called with
// pt.mu held.
func (pt *posixTimer) settime(flags int, nv, ov *unix.ItimerSpec) unix.Errno {
	if pt.deleted {
		return unix.EINVAL
	}
	if pt.fd == nil {
		_, _, e := unix.Syscall6(unix.SYS_TIMER_SETTIME, uintptr(pt.hostID), uintptr(flags),
			uintptr(unsafe.Pointer(nv)), uintptr(unsafe.Pointer(ov)), 0, 0)
		return e
	}
	return pt.onFD(func(fd int) error { return unix.TimerfdSettime(fd, flags, nv, ov) })
}

// gettime reads what is left of pt. Called with pt.mu held.
func (pt *posixTimer) gettime(cur *unix.ItimerSpec) unix.Errno {
	if pt.deleted {
		return unix.EINVAL
	}
	if pt.fd == nil {
		_, _, e := unix.Syscall(unix.SYS_TIMER_GETTIME, uintptr(pt.hostID), uintptr(unsafe.Pointer(cur)), 0)
		return e
	}
	return pt.onFD(func(fd int) error { return unix.TimerfdGettime(fd, cur) })
}

// onFD runs f on pt's timerfd (not Fd(): that would make reads block a thread).
func (pt *posixTimer) onFD(f func(fd int) error) unix.Errno {
	rc, err := pt.fd.SyscallConn()
	if err != nil {
		return unix.EINVAL
	}
	var ferr error = unix.EINVAL // closed meanwhile
	rc.Control(func(fd uintptr) { ferr = f(int(fd)) })
	if e, ok := ferr.(unix.Errno); ok {
		return e
	} else if ferr != nil {
		return unix.EINVAL
	}
	return 0
}

// deleteAllTimers deletes every timer, at exit and execve.
func (p *process) deleteAllTimers() {
	p.timers.mu.Lock()
	ids := make([]int32, 0, len(p.timers.byID))
	for id := range p.timers.byID {
		ids = append(ids, id)
	}
	p.timers.mu.Unlock()
	for _, id := range ids {
		p.deleteTimer(id)
	}
}
