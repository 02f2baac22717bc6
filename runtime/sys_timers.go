package runtime

// Timers that signal. alarm and the interval timers are the host's own, set
// on the monitor: the signal they raise (SIGALRM, SIGVTALRM, SIGPROF)
// reaches the monitor and is forwarded to the guest process (signal.go).
// ITIMER_VIRTUAL and ITIMER_PROF count the whole monitor's CPU time. POSIX
// timers are the monitor's (timers.go, timers_cpu.go), with Linux's siginfo
// and targets.

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	for nr, h := range map[uintptr]handler{
		unix.SYS_ALARM: sysAlarm, unix.SYS_SETITIMER: sysSetitimer, unix.SYS_GETITIMER: sysGetitimer,
		unix.SYS_TIMER_CREATE: sysTimerCreate, unix.SYS_TIMER_SETTIME: sysTimerSettime,
		unix.SYS_TIMER_GETTIME: sysTimerGettime, unix.SYS_TIMER_GETOVERRUN: sysTimerGetoverrun,
		unix.SYS_TIMER_DELETE: sysTimerDelete,
	} {
		register(nr, h)
	}
}

const sizeofItimerval = 32 // two timevals

func sysAlarm(t *thread, a args) uint64 {
	r, _, e := unix.Syscall(unix.SYS_ALARM, uintptr(uint32(a[0])), 0, 0)
	return result(r, e)
}

func sysSetitimer(t *thread, a args) uint64 {
	nv, e := t.optSlice(a[1], sizeofItimerval)
	if e != 0 {
		return e
	}
	ov, e := t.optSlice(a[2], sizeofItimerval)
	if e != 0 {
		return e
	}
	_, _, en := unix.Syscall(unix.SYS_SETITIMER, uintptr(a[0]), nv, ov)
	return result(0, en)
}

func sysGetitimer(t *thread, a args) uint64 {
	v, e := t.optSlice(a[1], sizeofItimerval)
	if e != 0 || v == 0 {
		return neg(unix.EFAULT)
	}
	_, _, en := unix.Syscall(unix.SYS_GETITIMER, uintptr(a[0]), v, 0)
	return result(0, en)
}

func sysTimerCreate(t *thread, a args) uint64 {
	pt := &posixTimer{notify: sigevSignal, signo: unix.SIGALRM}
	if a[1] != 0 {
		var sev [sizeofSigevent]byte
		if err := t.p.mem.read(a[1], sev[:]); err != nil {
			return neg(unix.EFAULT)
		}
		pt.value = le.Uint64(sev[sevValue:])
		pt.signo = unix.Signal(int32(le.Uint32(sev[sevSigno:])))
		pt.notify = int32(le.Uint32(sev[sevNotify:]))
		pt.tid = int(int32(le.Uint32(sev[sevTID:])))
		if e := t.checkSigevent(pt); e != 0 {
			return neg(e)
		}
	}
	// The id's address must take it before the timer exists.
	if _, err := t.p.mem.slice(a[2], 4); err != nil {
		return neg(unix.EFAULT)
	}
	id, e := t.p.createTimer(int32(a[0]), pt, a[1] == 0)
	if e != 0 {
		return neg(e)
	}
	if err := t.p.mem.writeU32(a[2], uint32(id)); err != nil {
		t.p.deleteTimer(id)
		return neg(unix.EFAULT)
	}
	return 0
}

// checkSigevent validates a sigevent as Linux's good_sigevent does.
func (t *thread) checkSigevent(pt *posixTimer) unix.Errno {
	switch pt.notify {
	case sigevNone:
		return 0
	case sigevThreadID:
		t.p.threadsMu.Lock()
		_, ok := t.p.threads[pt.tid]
		t.p.threadsMu.Unlock()
		if !ok {
			return unix.EINVAL
		}
	case sigevSignal, sigevThread:
		pt.notify = sigevSignal
	default:
		return unix.EINVAL
	}
	if !validSignal(pt.signo) {
		return unix.EINVAL
	}
	return 0
}

const timerAbstime = 1 // TIMER_ABSTIME, the one flag Linux looks at (= TFD_TIMER_ABSTIME)

func sysTimerSettime(t *thread, a args) uint64 {
	if a[2] == 0 {
		return neg(unix.EINVAL)
	}
	var nv, ov unix.ItimerSpec
	if err := t.p.mem.read(a[2], unsafe.Slice((*byte)(unsafe.Pointer(&nv)), sizeofItimerspec)); err != nil {
		return neg(unix.EFAULT)
	}
	pt := t.p.timer(int32(a[0]))
	if pt == nil {
		return neg(unix.EINVAL)
	}
	pt.mu.Lock()
	e := pt.settime(int(a[1])&timerAbstime, &nv, &ov)
	if e == 0 {
		t.p.settle(pt, true)
		pt.overrun, pt.lastOverrun = 0, 0
	}
	pt.mu.Unlock()
	if e != 0 {
		return neg(e)
	}
	if a[3] != 0 && t.p.mem.write(a[3], unsafe.Slice((*byte)(unsafe.Pointer(&ov)), sizeofItimerspec)) != nil {
		return neg(unix.EFAULT)
	}
	return 0
}

func sysTimerGettime(t *thread, a args) uint64 {
	pt := t.p.timer(int32(a[0]))
	if pt == nil {
		return neg(unix.EINVAL)
	}
	var cur unix.ItimerSpec
	pt.mu.Lock()
	e := pt.gettime(&cur)
	pt.mu.Unlock()
	if e != 0 {
		return neg(e)
	}
	if t.p.mem.write(a[1], unsafe.Slice((*byte)(unsafe.Pointer(&cur)), sizeofItimerspec)) != nil {
		return neg(unix.EFAULT)
	}
	return 0
}

func sysTimerGetoverrun(t *thread, a args) uint64 {
	pt := t.p.timer(int32(a[0]))
	if pt == nil {
		return neg(unix.EINVAL)
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	t.p.settle(pt, false)
	return uint64(pt.lastOverrun)
}

func sysTimerDelete(t *thread, a args) uint64 {
	if !t.p.deleteTimer(int32(a[0])) {
		return neg(unix.EINVAL)
	}
	return 0
}
