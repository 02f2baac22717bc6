package runtime

// I/O readiness syscalls: epoll, eventfd, poll. Descriptors are translated
// on the way in; epoll's user data is the guest's own and passes untouched.

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	for nr, h := range map[uintptr]handler{
		unix.SYS_EPOLL_CREATE: sysEpollCreate, unix.SYS_EPOLL_CREATE1: sysEpollCreate1,
		unix.SYS_EPOLL_CTL: sysEpollCtl, unix.SYS_EPOLL_WAIT: sysEpollWait, unix.SYS_EPOLL_PWAIT: sysEpollPwait,
		unix.SYS_EVENTFD: sysEventfd, unix.SYS_EVENTFD2: sysEventfd2,
		unix.SYS_POLL: sysPoll, unix.SYS_PPOLL: sysPpoll,
	} {
		register(nr, h)
	}
}

func sysEpollCreate(t *thread, a args) uint64 {
	if int32(a[0]) <= 0 {
		return neg(unix.EINVAL)
	}
	return sysEpollCreate1(t, args{0})
}

func sysEpollCreate1(t *thread, a args) uint64 {
	if a[0]&^unix.EPOLL_CLOEXEC != 0 {
		return neg(unix.EINVAL)
	}
	h, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return errno(err)
	}
	return t.installFD(h, a[0]&unix.EPOLL_CLOEXEC != 0)
}

const sizeofEpollEvent = 12 // packed on x86-64

func sysEpollCtl(t *thread, a args) uint64 {
	ep, err := t.p.files.host(int32(a[0]))
	if err != nil {
		return neg(unix.EBADF)
	}
	fd, err := t.p.files.host(int32(a[2]))
	if err != nil {
		return neg(unix.EBADF)
	}
	var ev uintptr
	if a[1] != unix.EPOLL_CTL_DEL {
		b, err := t.p.mem.slice(a[3], sizeofEpollEvent)
		if err != nil {
			return neg(unix.EFAULT)
		}
		ev = ptr(b)
		if t.p.files.signalfd(int32(a[2])) != nil {
			// The host gets a copy without the events a signalfd never has.
			c := append([]byte(nil), b...)
			le.PutUint32(c, le.Uint32(c)&^(unix.EPOLLOUT|unix.EPOLLWRNORM|unix.EPOLLWRBAND))
			ev = ptr(c)
		}
	}
	_, _, e := unix.Syscall6(unix.SYS_EPOLL_CTL, uintptr(ep), uintptr(a[1]), uintptr(fd), ev, 0, 0)
	return result(0, e)
}

func sysEpollWait(t *thread, a args) uint64 {
	ep, err := t.p.files.host(int32(a[0]))
	if err != nil {
		return neg(unix.EBADF)
	}
	n := int32(a[2])
	if n <= 0 || n > 1<<20 {
		return neg(unix.EINVAL)
	}
	b, err := t.p.mem.slice(a[1], uint64(n)*sizeofEpollEvent)
	if err != nil {
		return neg(unix.EFAULT)
	}
	r, e := t.blockSyscall(unix.SYS_EPOLL_WAIT, uintptr(ep), ptr(b), uintptr(n), uintptr(int32(a[3])), 0, 0)
	return result(r, e)
}

func sysEpollPwait(t *thread, a args) uint64 {
	if e := t.tempMask(a[4], a[5]); e != 0 {
		return e
	}
	return sysEpollWait(t, a)
}

func sysEventfd(t *thread, a args) uint64 { return sysEventfd2(t, args{a[0], 0}) }

func sysEventfd2(t *thread, a args) uint64 {
	flags := int(a[1])
	if flags&^(unix.EFD_CLOEXEC|unix.EFD_NONBLOCK|unix.EFD_SEMAPHORE) != 0 {
		return neg(unix.EINVAL)
	}
	h, err := unix.Eventfd(uint(a[0]), flags|unix.EFD_CLOEXEC)
	if err != nil {
		return errno(err)
	}
	return t.installFD(h, flags&unix.EFD_CLOEXEC != 0)
}

// pollFDs copies a guest pollfd array with host descriptors; negative and
// unknown guest descriptors become -1 (ignored by the host), and unknown
// ones are reported POLLNVAL afterwards, as Linux does.
func (t *thread) poll(fdsAddr, nfds uint64, call func(fds []unix.PollFd) (uintptr, unix.Errno)) uint64 {
	if nfds > uint64(t.p.files.limit) {
		return neg(unix.EINVAL)
	}
	var raw []byte
	if nfds > 0 { // poll(NULL, 0, ms) is a sleep
		var err error
		if raw, err = t.p.mem.slice(fdsAddr, nfds*8); err != nil {
			return neg(unix.EFAULT)
		}
	}
	fds := make([]unix.PollFd, nfds)
	bad := make([]bool, nfds)
	for i := range fds {
		g := int32(le.Uint32(raw[i*8:]))
		fds[i].Events = int16(le.Uint16(raw[i*8+4:]))
		fds[i].Fd = -1
		if g >= 0 {
			if h, err := t.p.files.host(g); err == nil {
				fds[i].Fd = int32(h)
				fds[i].Events = t.signalfdEvents(g, fds[i].Events)
			} else {
				bad[i] = true
			}
		}
	}
	r, e := t.block(func() (uintptr, unix.Errno) { return call(fds) })
	if e != 0 {
		return neg(e)
	}
	for i := range fds {
		rev := fds[i].Revents
		if bad[i] {
			rev = unix.POLLNVAL
			r++
		}
		le.PutUint16(raw[i*8+6:], uint16(rev))
	}
	return uint64(r)
}

func fdsPtr(fds []unix.PollFd) uintptr {
	if len(fds) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(&fds[0]))
}

func sysPoll(t *thread, a args) uint64 {
	return t.poll(a[0], a[1], func(fds []unix.PollFd) (uintptr, unix.Errno) {
		r, _, e := unix.Syscall(unix.SYS_POLL, fdsPtr(fds), uintptr(len(fds)), uintptr(int32(a[2])))
		return r, e
	})
}

func sysPpoll(t *thread, a args) uint64 {
	ts, e := t.optSlice(a[2], sizeofTimespec)
	if e != 0 {
		return e
	}
	if e := t.tempMask(a[3], a[4]); e != 0 {
		return e
	}
	return t.poll(a[0], a[1], func(fds []unix.PollFd) (uintptr, unix.Errno) {
		r, _, e := unix.Syscall6(unix.SYS_PPOLL, fdsPtr(fds), uintptr(len(fds)), ts, 0, 0, 0)
		return r, e
	})
}
