package runtime

// Time syscalls: the host's clocks, written into guest memory.

import "golang.org/x/sys/unix"

func init() {
	register(unix.SYS_CLOCK_GETTIME, sysClockGettime)
	register(unix.SYS_CLOCK_GETRES, sysClockGetres)
	register(unix.SYS_GETTIMEOFDAY, sysGettimeofday)
	register(unix.SYS_TIME, sysTime)
	register(unix.SYS_NANOSLEEP, sysNanosleep)
	register(unix.SYS_CLOCK_NANOSLEEP, sysClockNanosleep)
	register(unix.SYS_TIMES, sysTimes)
}

const sizeofTimespec = 16

// clockOut runs a clock syscall whose second argument is an output struct.
func clockOut(t *thread, nr uintptr, first, addr, size uint64, optional bool) uint64 {
	if addr == 0 && optional {
		_, _, e := unix.Syscall(nr, uintptr(first), 0, 0)
		return result(0, e)
	}
	b, err := t.p.mem.slice(addr, size)
	if err != nil {
		return neg(unix.EFAULT)
	}
	_, _, e := unix.Syscall(nr, uintptr(first), ptr(b), 0)
	return result(0, e)
}

func sysClockGettime(t *thread, a args) uint64 {
	return clockOut(t, unix.SYS_CLOCK_GETTIME, a[0], a[1], sizeofTimespec, false)
}

func sysClockGetres(t *thread, a args) uint64 {
	return clockOut(t, unix.SYS_CLOCK_GETRES, a[0], a[1], sizeofTimespec, true)
}

func sysGettimeofday(t *thread, a args) uint64 {
	var tv unix.Timeval
	if err := unix.Gettimeofday(&tv); err != nil {
		return errno(err)
	}
	if a[0] != 0 {
		if t.p.mem.writeU64(a[0], uint64(tv.Sec)) != nil || t.p.mem.writeU64(a[0]+8, uint64(tv.Usec)) != nil {
			return neg(unix.EFAULT)
		}
	}
	if a[1] != 0 {
		if t.p.mem.writeU64(a[1], 0) != nil { // struct timezone: UTC
			return neg(unix.EFAULT)
		}
	}
	return 0
}

func sysTime(t *thread, a args) uint64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_REALTIME, &ts)
	if a[0] != 0 && t.p.mem.writeU64(a[0], uint64(ts.Sec)) != nil {
		return neg(unix.EFAULT)
	}
	return uint64(ts.Sec)
}

// optSlice translates an optional guest pointer (0 stays 0).
func (t *thread) optSlice(addr, n uint64) (uintptr, uint64) {
	if addr == 0 {
		return 0, 0
	}
	b, err := t.p.mem.slice(addr, n)
	if err != nil {
		return 0, neg(unix.EFAULT)
	}
	return ptr(b), 0
}

func sysNanosleep(t *thread, a args) uint64 {
	req, e := t.optSlice(a[0], sizeofTimespec)
	if e != 0 || req == 0 {
		return neg(unix.EFAULT)
	}
	rem, e := t.optSlice(a[1], sizeofTimespec)
	if e != 0 {
		return e
	}
	_, en := t.blockSyscall(unix.SYS_NANOSLEEP, req, rem, 0, 0, 0, 0)
	return result(0, en)
}

func sysClockNanosleep(t *thread, a args) uint64 {
	req, e := t.optSlice(a[2], sizeofTimespec)
	if e != 0 || req == 0 {
		return neg(unix.EFAULT)
	}
	rem, e := t.optSlice(a[3], sizeofTimespec)
	if e != 0 {
		return e
	}
	_, en := t.blockSyscall(unix.SYS_CLOCK_NANOSLEEP, uintptr(a[0]), uintptr(a[1]), req, rem, 0, 0)
	return result(0, en)
}

func sysTimes(t *thread, a args) uint64 {
	buf, e := t.optSlice(a[0], 32)
	if e != 0 {
		return e
	}
	r, _, en := unix.Syscall(unix.SYS_TIMES, buf, 0, 0)
	return result(r, en)
}
