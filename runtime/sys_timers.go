package runtime

// Timers that signal: alarm, interval timers and POSIX timers are the
// host's own, set on the monitor; the signal they raise reaches the monitor
// and is forwarded to the guest (signal.go). Timer ids are the host's.

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

const (
	sizeofItimerval = 32 // two timevals
	sizeofSigevent  = 64
	sigevSignal     = 0
	sigevNone       = 1
	sigevThreadID   = 4
)

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
	var sev [sizeofSigevent]byte
	sevp := uintptr(0)
	if a[1] != 0 {
		if err := t.p.mem.read(a[1], sev[:]); err != nil {
			return neg(unix.EFAULT)
		}
		// struct sigevent: value @0, signo @8, notify @12, tid @16.
		notify := int32(le.Uint32(sev[12:]))
		switch notify {
		case sigevSignal, sigevNone:
		case sigevThreadID:
			// The guest's thread ids are host thread ids of this monitor,
			// but the main thread's is the pid: aim at the process.
			t.p.threadsMu.Lock()
			_, ok := t.p.threads[int(int32(le.Uint32(sev[16:])))]
			t.p.threadsMu.Unlock()
			if !ok {
				return neg(unix.EINVAL)
			}
			le.PutUint32(sev[12:], sigevSignal)
		default:
			return neg(unix.EINVAL)
		}
		sevp = ptr(sev[:])
	}
	var id int32
	_, _, en := unix.Syscall(unix.SYS_TIMER_CREATE, uintptr(a[0]), sevp, uintptr(unsafe.Pointer(&id)))
	if en != 0 {
		return neg(en)
	}
	if err := t.p.mem.writeU32(a[2], uint32(id)); err != nil {
		unix.Syscall(unix.SYS_TIMER_DELETE, uintptr(id), 0, 0)
		return neg(unix.EFAULT)
	}
	return 0
}

func sysTimerSettime(t *thread, a args) uint64 {
	nv, e := t.optSlice(a[2], sizeofItimerspec)
	if e != 0 || nv == 0 {
		return neg(unix.EFAULT)
	}
	ov, e := t.optSlice(a[3], sizeofItimerspec)
	if e != 0 {
		return e
	}
	_, _, en := unix.Syscall6(unix.SYS_TIMER_SETTIME, uintptr(int32(a[0])), uintptr(a[1]), nv, ov, 0, 0)
	return result(0, en)
}

func sysTimerGettime(t *thread, a args) uint64 {
	v, e := t.optSlice(a[1], sizeofItimerspec)
	if e != 0 || v == 0 {
		return neg(unix.EFAULT)
	}
	_, _, en := unix.Syscall(unix.SYS_TIMER_GETTIME, uintptr(int32(a[0])), v, 0)
	return result(0, en)
}

func sysTimerGetoverrun(t *thread, a args) uint64 {
	r, _, en := unix.Syscall(unix.SYS_TIMER_GETOVERRUN, uintptr(int32(a[0])), 0, 0)
	return result(r, en)
}

func sysTimerDelete(t *thread, a args) uint64 {
	_, _, en := unix.Syscall(unix.SYS_TIMER_DELETE, uintptr(int32(a[0])), 0, 0)
	return result(0, en)
}
