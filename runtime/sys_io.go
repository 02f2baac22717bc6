package runtime

// Other I/O syscalls: select and pselect6 (served with the host's ppoll, so
// that host descriptor numbers beyond FD_SETSIZE work), timerfd, in-kernel
// copies (sendfile, splice, tee, copy_file_range) and ioctl.

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	for nr, h := range map[uintptr]handler{
		unix.SYS_SELECT: sysSelect, unix.SYS_PSELECT6: sysPselect6,
		unix.SYS_TIMERFD_CREATE: sysTimerfdCreate, unix.SYS_TIMERFD_SETTIME: sysTimerfdSettime,
		unix.SYS_TIMERFD_GETTIME: sysTimerfdGettime,
		unix.SYS_SENDFILE:        sysSendfile, unix.SYS_SPLICE: sysSplice, unix.SYS_TEE: sysTee,
		unix.SYS_COPY_FILE_RANGE: sysCopyFileRange,
		unix.SYS_IOCTL:           sysIoctl,
	} {
		register(nr, h)
	}
}

// ---------------------------------------------------------------------------
// select, pselect6

const (
	sizeofTimeval = 16
	nsecPerSec    = 1_000_000_000
	usecPerSec    = 1_000_000

	// What select reports for each set, from poll events (fs/select.c).
	pollRdNorm = 0x40
	pollRdBand = 0x80
	pollWrNorm = 0x100
	pollWrBand = 0x200
	pollInSet  = unix.POLLIN | pollRdNorm | pollRdBand | unix.POLLHUP | unix.POLLERR
	pollOutSet = unix.POLLOUT | pollWrNorm | pollWrBand | unix.POLLERR
	pollExSet  = unix.POLLPRI

	sizeofSigset = 8 // the kernel's sigset_t
)

// fdSets are the guest's three fd_sets, copied in.
type fdSets struct {
	addr [3]uint64
	bits [3][]uint64
}

// selectFDs runs select over guest sets [rAddr, wAddr, eAddr) of nfds bits.
// timeout, when not nil, is the relative wait (nil: forever); it is updated
// in place to the time left, as Linux does.
func (t *thread) selectFDs(nfds int64, set [3]uint64, timeout *unix.Timespec) uint64 {
	if nfds < 0 {
		return neg(unix.EINVAL)
	}
	// Bits past the descriptor limit cannot name open descriptors; the
	// kernel ignores them too (it clamps to its table size).
	nfds = min(nfds, int64(t.p.files.limit))
	words := (nfds + 63) / 64
	var s fdSets
	for i, addr := range set {
		if addr == 0 {
			continue
		}
		b, err := t.p.mem.slice(addr, uint64(words)*8)
		if err != nil {
			return neg(unix.EFAULT)
		}
		s.addr[i] = addr
		s.bits[i] = make([]uint64, words)
		for w := range s.bits[i] {
			s.bits[i][w] = le.Uint64(b[w*8:])
		}
	}
	isSet := func(i int, fd int64) bool {
		return s.bits[i] != nil && s.bits[i][fd/64]&(1<<(fd%64)) != 0
	}
	var fds []unix.PollFd
	var guest []int64
	for fd := int64(0); fd < nfds; fd++ {
		var ev int16
		if isSet(0, fd) {
			ev |= unix.POLLIN | pollRdNorm | pollRdBand
		}
		if isSet(1, fd) {
			ev |= unix.POLLOUT | pollWrNorm | pollWrBand
		}
		if isSet(2, fd) {
			ev |= unix.POLLPRI
		}
		if ev == 0 {
			continue
		}
		h, err := t.p.files.host(int32(fd))
		if err != nil {
			return neg(unix.EBADF)
		}
		fds = append(fds, unix.PollFd{Fd: int32(h), Events: t.signalfdEvents(int32(fd), ev)})
		guest = append(guest, fd)
	}

	var start unix.Timespec
	if timeout != nil {
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &start)
	}
	// The wait is computed from start on every call, so that block may
	// run it again (after a spurious host EINTR) without extending it.
	_, e := t.block(func() (uintptr, unix.Errno) {
		var w unix.Timespec
		var tsp uintptr
		if timeout != nil {
			var now unix.Timespec
			unix.ClockGettime(unix.CLOCK_MONOTONIC, &now)
			w = unix.NsecToTimespec(max(timeout.Nano()-(now.Nano()-start.Nano()), 0))
			tsp = uintptr(unsafe.Pointer(&w))
		}
		r, _, e := unix.Syscall6(unix.SYS_PPOLL, fdsPtr(fds), uintptr(len(fds)), tsp, 0, 0, 0)
		return r, e
	})
	if timeout != nil {
		var now unix.Timespec
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &now)
		left := timeout.Nano() - (now.Nano() - start.Nano())
		*timeout = unix.NsecToTimespec(max(left, 0))
	}
	if e != 0 {
		return neg(e)
	}
	var out [3][]uint64
	for i := range out {
		if s.bits[i] != nil {
			out[i] = make([]uint64, words)
		}
	}
	n := 0
	mark := func(i int, fd int64) {
		if out[i] != nil && isSet(i, fd) {
			out[i][fd/64] |= 1 << (fd % 64)
			n++
		}
	}
	for k, pfd := range fds {
		fd := guest[k]
		if pfd.Revents&pollInSet != 0 {
			mark(0, fd)
		}
		if pfd.Revents&pollOutSet != 0 {
			mark(1, fd)
		}
		if pfd.Revents&pollExSet != 0 {
			mark(2, fd)
		}
	}
	for i := range out {
		if out[i] == nil {
			continue
		}
		b, _ := t.p.mem.slice(s.addr[i], uint64(words)*8)
		for w, v := range out[i] {
			le.PutUint64(b[w*8:], v)
		}
	}
	return uint64(n)
}

func sysSelect(t *thread, a args) uint64 {
	var tv []byte
	var timeout *unix.Timespec
	if a[4] != 0 {
		var err error
		if tv, err = t.p.mem.slice(a[4], sizeofTimeval); err != nil {
			return neg(unix.EFAULT)
		}
		sec, usec := int64(le.Uint64(tv)), int64(le.Uint64(tv[8:]))
		if sec < 0 || usec < 0 {
			return neg(unix.EINVAL)
		}
		sec += usec / usecPerSec
		usec %= usecPerSec
		if sec < 0 { // overflow: wait "forever"
			sec = 1<<63 - 1
		}
		timeout = &unix.Timespec{Sec: sec, Nsec: usec * 1000}
	}
	r := t.selectFDs(int64(int32(a[0])), [3]uint64{a[1], a[2], a[3]}, timeout)
	if timeout != nil && r != neg(unix.EFAULT) {
		le.PutUint64(tv, uint64(timeout.Sec))
		le.PutUint64(tv[8:], uint64(timeout.Nsec/1000))
	}
	return r
}

// sizeofSigsetArg is pselect6's sixth argument: { const sigset_t *ss; size_t ss_len; }.
const sizeofSigsetArg = 16

func sysPselect6(t *thread, a args) uint64 {
	var tsb []byte
	var timeout *unix.Timespec
	if a[4] != 0 {
		var err error
		if tsb, err = t.p.mem.slice(a[4], sizeofTimespec); err != nil {
			return neg(unix.EFAULT)
		}
		ts := unix.Timespec{Sec: int64(le.Uint64(tsb)), Nsec: int64(le.Uint64(tsb[8:]))}
		if ts.Sec < 0 || ts.Nsec < 0 || ts.Nsec >= nsecPerSec {
			return neg(unix.EINVAL)
		}
		timeout = &ts
	}
	if a[5] != 0 {
		// { const sigset_t *ss; size_t ss_len }: the mask for the wait.
		b, err := t.p.mem.slice(a[5], sizeofSigsetArg)
		if err != nil {
			return neg(unix.EFAULT)
		}
		if le.Uint64(b) != 0 {
			if e := t.tempMask(le.Uint64(b), le.Uint64(b[8:])); e != 0 {
				return e
			}
		}
	}
	r := t.selectFDs(int64(int32(a[0])), [3]uint64{a[1], a[2], a[3]}, timeout)
	if timeout != nil && r != neg(unix.EFAULT) {
		le.PutUint64(tsb, uint64(timeout.Sec))
		le.PutUint64(tsb[8:], uint64(timeout.Nsec))
	}
	return r
}

// ---------------------------------------------------------------------------
// timerfd

const sizeofItimerspec = 32

func sysTimerfdCreate(t *thread, a args) uint64 {
	flags := int(a[1])
	if flags&^(unix.TFD_CLOEXEC|unix.TFD_NONBLOCK) != 0 {
		return neg(unix.EINVAL)
	}
	h, err := unix.TimerfdCreate(int(int32(a[0])), flags|unix.TFD_CLOEXEC)
	if err != nil {
		return errno(err)
	}
	return t.installFD(h, flags&unix.TFD_CLOEXEC != 0)
}

func sysTimerfdSettime(t *thread, a args) uint64 {
	h, err := t.p.files.host(int32(a[0]))
	if err != nil {
		return neg(unix.EBADF)
	}
	nv, err := t.p.mem.slice(a[2], sizeofItimerspec)
	if err != nil {
		return neg(unix.EFAULT)
	}
	old, e := t.optSlice(a[3], sizeofItimerspec)
	if e != 0 {
		return e
	}
	_, _, en := unix.Syscall6(unix.SYS_TIMERFD_SETTIME, uintptr(h), uintptr(int32(a[1])), ptr(nv), old, 0, 0)
	return result(0, en)
}

func sysTimerfdGettime(t *thread, a args) uint64 {
	h, b, e := t.fdBuf(a[0], a[1], sizeofItimerspec)
	if e != 0 {
		return e
	}
	_, _, en := unix.Syscall(unix.SYS_TIMERFD_GETTIME, uintptr(h), ptr(b), 0)
	return result(0, en)
}

// ---------------------------------------------------------------------------
// sendfile, splice, tee, copy_file_range

// twoFDs translates an (in, out) descriptor pair.
func (t *thread) twoFDs(a, b uint64) (int, int, uint64) {
	ha, err := t.p.files.host(int32(a))
	if err != nil {
		return -1, -1, neg(unix.EBADF)
	}
	hb, err := t.p.files.host(int32(b))
	if err != nil {
		return -1, -1, neg(unix.EBADF)
	}
	if t.p.files.signalfd(int32(a)) != nil || t.p.files.signalfd(int32(b)) != nil {
		// Only km may read or write a signalfd's host eventfd.
		return -1, -1, neg(unix.EINVAL)
	}
	return ha, hb, 0
}

const sizeofLoff = 8

func sysSendfile(t *thread, a args) uint64 {
	out, in, e := t.twoFDs(a[0], a[1])
	if e != 0 {
		return e
	}
	off, e := t.optSlice(a[2], sizeofLoff)
	if e != 0 {
		return e
	}
	return t.sigpipe(result(t.blockSyscall(unix.SYS_SENDFILE, uintptr(out), uintptr(in), off, uintptr(a[3]), 0, 0)), 0)
}

// fdOffsetPairs translates splice's and copy_file_range's (fd_in, off_in,
// fd_out, off_out) arguments; an offset pointer may be NULL.
func (t *thread) fdOffsetPairs(a args) (in int, offIn uintptr, out int, offOut uintptr, e uint64) {
	if in, out, e = t.twoFDs(a[0], a[2]); e != 0 {
		return
	}
	if offIn, e = t.optSlice(a[1], sizeofLoff); e != 0 {
		return
	}
	offOut, e = t.optSlice(a[3], sizeofLoff)
	return
}

func sysSplice(t *thread, a args) uint64 {
	in, offIn, out, offOut, e := t.fdOffsetPairs(a)
	if e != 0 {
		return e
	}
	return t.sigpipe(result(t.blockSyscall(unix.SYS_SPLICE, uintptr(in), offIn, uintptr(out), offOut, uintptr(a[4]), uintptr(uint32(a[5])))), 0)
}

func sysTee(t *thread, a args) uint64 {
	in, out, e := t.twoFDs(a[0], a[1])
	if e != 0 {
		return e
	}
	return t.sigpipe(result(t.blockSyscall(unix.SYS_TEE, uintptr(in), uintptr(out), uintptr(a[2]), uintptr(uint32(a[3])), 0, 0)), 0)
}

func sysCopyFileRange(t *thread, a args) uint64 {
	in, offIn, out, offOut, e := t.fdOffsetPairs(a)
	if e != 0 {
		return e
	}
	r, _, en := unix.Syscall6(unix.SYS_COPY_FILE_RANGE, uintptr(in), offIn, uintptr(out), offOut, uintptr(a[4]), uintptr(uint32(a[5])))
	return result(r, en)
}

// ---------------------------------------------------------------------------
// ioctl

// Request numbers x/sys/unix does not define for linux/amd64.
const (
	fionbio  = 0x5421
	fionclex = 0x5450
	fioclex  = 0x5451
	fioasync = 0x5452

	sizeofTermios  = 36
	sizeofTermios2 = 44
	sizeofTermio   = 18
	sizeofWinsize  = 8
	sizeofIfreq    = 40
	sizeofIfconf   = 16
)

// ioctlArgSize lists the requests forwarded as they are, with the size of
// the structure their argument points to (0: the argument is a value).
// None of these structures holds a pointer. Anything else is ENOTTY: an
// unknown request could make the host read or write monitor memory, or
// reconfigure a device.
var ioctlArgSize = map[uint64]uint64{
	// terminals
	unix.TCGETS: sizeofTermios, unix.TCSETS: sizeofTermios, unix.TCSETSW: sizeofTermios, unix.TCSETSF: sizeofTermios,
	unix.TCGETS2: sizeofTermios2, unix.TCSETS2: sizeofTermios2, unix.TCSETSW2: sizeofTermios2, unix.TCSETSF2: sizeofTermios2,
	unix.TCGETA: sizeofTermio, unix.TCSETA: sizeofTermio, unix.TCSETAW: sizeofTermio, unix.TCSETAF: sizeofTermio,
	unix.TIOCGWINSZ: sizeofWinsize, unix.TIOCSWINSZ: sizeofWinsize,
	unix.TIOCGPGRP: 4, unix.TIOCSPGRP: 4, unix.TIOCGSID: 4,
	unix.TIOCOUTQ: 4, unix.TIOCGPTN: 4, unix.TIOCSPTLCK: 4, unix.TIOCGPTLCK: 4,
	unix.TIOCPKT: 4, unix.TIOCGPKT: 4, unix.TIOCGEXCL: 4,
	unix.TCFLSH: 0, unix.TCXONC: 0, unix.TCSBRK: 0, unix.TCSBRKP: 0,
	unix.TIOCSCTTY: 0, unix.TIOCNOTTY: 0, unix.TIOCEXCL: 0, unix.TIOCNXCL: 0,
	// any descriptor (TIOCINQ is FIONREAD)
	unix.TIOCINQ: 4, fionbio: 4, fioasync: 4,
	// sockets
	unix.SIOCATMARK: 4, unix.SIOCGSTAMP: sizeofTimeval, unix.SIOCGSTAMPNS: sizeofTimespec,
	unix.SIOCGIFNAME: sizeofIfreq, unix.SIOCGIFINDEX: sizeofIfreq, unix.SIOCGIFFLAGS: sizeofIfreq,
	unix.SIOCGIFADDR: sizeofIfreq, unix.SIOCGIFDSTADDR: sizeofIfreq, unix.SIOCGIFBRDADDR: sizeofIfreq,
	unix.SIOCGIFNETMASK: sizeofIfreq, unix.SIOCGIFMTU: sizeofIfreq, unix.SIOCGIFHWADDR: sizeofIfreq,
	unix.SIOCGIFTXQLEN: sizeofIfreq,
}

func sysIoctl(t *thread, a args) uint64 {
	fd, req, arg := int32(a[0]), a[1]&0xffffffff, a[2] // the request is an unsigned int
	h, err := t.p.files.host(fd)
	if err != nil {
		return neg(unix.EBADF)
	}
	switch req {
	case fioclex, fionclex:
		return errno(t.p.files.setCloexec(fd, req == fioclex))
	case unix.TIOCGPTPEER:
		// Opens the pty's peer: a new descriptor.
		flags := int(arg)
		nh, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(h), uintptr(req), uintptr(flags|unix.O_CLOEXEC))
		if e != 0 {
			return neg(e)
		}
		return t.installFD(int(nh), flags&unix.O_CLOEXEC != 0)
	case unix.SIOCGIFCONF:
		return t.ifconf(h, arg)
	}
	size, ok := ioctlArgSize[req]
	if !ok {
		return neg(unix.ENOTTY)
	}
	hostArg := uintptr(arg)
	if size > 0 {
		b, err := t.p.mem.slice(arg, size)
		if err != nil {
			return neg(unix.EFAULT)
		}
		hostArg = ptr(b)
	}
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(h), uintptr(req), hostArg)
	return result(r, e)
}

// ifconf serves SIOCGIFCONF, whose struct ifconf points to the buffer.
func (t *thread) ifconf(h int, arg uint64) uint64 {
	b, err := t.p.mem.slice(arg, sizeofIfconf)
	if err != nil {
		return neg(unix.EFAULT)
	}
	n, buf := int32(le.Uint32(b)), le.Uint64(b[8:])
	var host struct {
		len int32
		_   int32
		buf uintptr
	}
	if buf != 0 {
		if n < 0 {
			return neg(unix.EINVAL)
		}
		var dummy [1]byte // a zero-length buffer that is not NULL (NULL asks for the size)
		host.len, host.buf = n, uintptr(unsafe.Pointer(&dummy))
		if n > 0 {
			out, err := t.p.mem.slice(buf, uint64(n))
			if err != nil {
				return neg(unix.EFAULT)
			}
			host.buf = ptr(out)
		}
	}
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(h), unix.SIOCGIFCONF, uintptr(unsafe.Pointer(&host)))
	if e != 0 {
		return neg(e)
	}
	le.PutUint32(b, uint32(host.len))
	return uint64(r)
}
