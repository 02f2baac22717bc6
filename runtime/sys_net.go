package runtime

// Socket syscalls: forwarded to the host with descriptors, buffers, socket
// addresses and control messages translated. Guest and host share the
// x86-64 layouts, so translation means bounds-checking guest pointers,
// swapping descriptor numbers (SCM_RIGHTS), and keeping AF_UNIX path names
// inside the guest root.
//
// Every call that can wait for a peer goes through t.block.

import (
	"bytes"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	for nr, h := range map[uintptr]handler{
		unix.SYS_SOCKET: sysSocket, unix.SYS_SOCKETPAIR: sysSocketpair,
		unix.SYS_BIND: sysBind, unix.SYS_LISTEN: sysListen, unix.SYS_CONNECT: sysConnect,
		unix.SYS_ACCEPT: sysAccept, unix.SYS_ACCEPT4: sysAccept4,
		unix.SYS_SENDTO: sysSendto, unix.SYS_RECVFROM: sysRecvfrom,
		unix.SYS_SENDMSG: sysSendmsg, unix.SYS_RECVMSG: sysRecvmsg,
		unix.SYS_SENDMMSG: sysSendmmsg, unix.SYS_RECVMMSG: sysRecvmmsg,
		unix.SYS_GETSOCKOPT: sysGetsockopt, unix.SYS_SETSOCKOPT: sysSetsockopt,
		unix.SYS_GETSOCKNAME: sysGetsockname, unix.SYS_GETPEERNAME: sysGetpeername,
		unix.SYS_SHUTDOWN: sysShutdown,
	} {
		register(nr, h)
	}
}

// Sizes of the x86-64 socket structures.
const (
	sizeofSockaddrStorage = 128
	offSunPath            = 2   // sockaddr_un.sun_path
	sizeofSunPath         = 108 // including the NUL
	sizeofMsghdr          = 56
	sizeofMmsghdr         = 64
	sizeofCmsghdr         = 16
	sizeofSockFprog       = 16
	sizeofSockFilter      = 8

	maxControl = 64 << 10 // bound on a control buffer (Linux: optmem_max)
	// Bounds on what one sendmmsg/recvmmsg call makes the monitor allocate:
	// past them the call is shortened to the messages before.
	mmsgControlBudget = 4 * maxControl
	mmsgIovBudget     = 4 * uioMaxIov
	uioMaxIov         = 1024 // UIO_MAXIOV: iovecs per message, messages per mmsg call
	scmMaxFD          = 253  // SCM_MAX_FD: descriptors per SCM_RIGHTS message
	bpfMaxInsn        = 4096 // BPF_MAXINSNS: classic BPF program length
)

// socketDomains are the address families a guest may create. Families
// whose options or messages carry user pointers the host kernel would
// dereference in the monitor (AF_XDP's UMEM, RDS memory regions), or that
// reach below the network stack (AF_PACKET), are refused.
var socketDomains = map[uint64]bool{
	unix.AF_UNIX: true, unix.AF_INET: true, unix.AF_INET6: true, unix.AF_NETLINK: true,
}

const sockTypeFlags = unix.SOCK_CLOEXEC | unix.SOCK_NONBLOCK

func sysSocket(t *thread, a args) uint64 {
	domain, typ, proto := a[0], a[1], a[2]
	if !socketDomains[domain] {
		return neg(unix.EAFNOSUPPORT)
	}
	h, _, e := unix.Syscall(unix.SYS_SOCKET, uintptr(domain), uintptr(uint32(typ)|unix.SOCK_CLOEXEC), uintptr(proto))
	if e != 0 {
		return neg(e)
	}
	return t.installFD(int(h), typ&unix.SOCK_CLOEXEC != 0)
}

func sysSocketpair(t *thread, a args) uint64 {
	domain, typ, proto := a[0], a[1], a[2]
	out, err := t.p.mem.slice(a[3], 8)
	if err != nil {
		return neg(unix.EFAULT)
	}
	if !socketDomains[domain] {
		return neg(unix.EAFNOSUPPORT)
	}
	var sv [2]int32
	_, _, e := unix.RawSyscall6(unix.SYS_SOCKETPAIR, uintptr(domain), uintptr(uint32(typ)|unix.SOCK_CLOEXEC), uintptr(proto),
		uintptr(unsafe.Pointer(&sv)), 0, 0)
	if e != 0 {
		return neg(e)
	}
	cloexec := typ&unix.SOCK_CLOEXEC != 0
	g0, err := t.p.files.install(int(sv[0]), cloexec, 0)
	if err != nil {
		unix.Close(int(sv[0]))
		unix.Close(int(sv[1]))
		return errno(err)
	}
	g1, err := t.p.files.install(int(sv[1]), cloexec, 0)
	if err != nil {
		if h, err := t.p.files.remove(int32(g0)); err == nil {
			unix.Close(h)
		}
		unix.Close(int(sv[1]))
		return errno(err)
	}
	le.PutUint32(out, uint32(g0))
	le.PutUint32(out[4:], uint32(g1))
	return 0
}

// unixNames remembers the guest's names for the AF_UNIX sockets it bound
// inside its root, keyed by the name the host kernel holds
// (/proc/self/fd/N/NAME), so that addresses read back show the guest's name.
type unixNames struct {
	mu sync.Mutex
	m  map[string]string
}

const maxUnixNames = 4096 // bounds the map a guest binding in a loop grows

func (u *unixNames) add(host, guest string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[string]string{}
	}
	if len(u.m) >= maxUnixNames {
		for k := range u.m { // drop an arbitrary entry: names only, never access
			delete(u.m, k)
			break
		}
	}
	u.m[host] = guest
}

func (u *unixNames) guest(host string) (string, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	g, ok := u.m[host]
	return g, ok
}

// sunPath returns the path of a non-abstract AF_UNIX address, or "".
func sunPath(sa []byte) string {
	if len(sa) <= offSunPath || le.Uint16(sa) != unix.AF_UNIX || sa[offSunPath] == 0 {
		return ""
	}
	p := sa[offSunPath:]
	if i := bytes.IndexByte(p, 0); i >= 0 {
		p = p[:i]
	}
	return string(p)
}

// sockaddrUn builds an AF_UNIX address for path.
func sockaddrUn(path string) ([]byte, bool) {
	if len(path) >= sizeofSunPath {
		return nil, false
	}
	sa := make([]byte, offSunPath+len(path)+1)
	le.PutUint16(sa, unix.AF_UNIX)
	copy(sa[offSunPath:], path)
	return sa, true
}

// sockaddrIn reads a guest socket address (bind, connect, sendto,
// sendmsg). Confined to a root, an AF_UNIX path is resolved inside it and
// the host is given a /proc/self/fd name for the result: for bind the
// directory that will hold the socket, otherwise the socket itself. done
// releases what the resolution opened; guestPath is the guest's name.
func (t *thread) sockaddrIn(addr, n uint64, bind bool) (sa []byte, guestPath string, done func(), e uint64) {
	done = func() {}
	if int32(n) < 0 || n > sizeofSockaddrStorage {
		return nil, "", done, neg(unix.EINVAL)
	}
	if n == 0 {
		return nil, "", done, 0
	}
	sa = make([]byte, n)
	if err := t.p.mem.read(addr, sa); err != nil {
		return nil, "", done, neg(unix.EFAULT)
	}
	path := sunPath(sa)
	if path == "" || !t.p.fs.confined() {
		return sa, path, done, 0
	}
	r, err := t.p.resolve(unix.AT_FDCWD, path, !bind)
	if err != nil {
		return nil, "", done, errno(err)
	}
	host := procPath(r.dir)
	if r.name != "" {
		host += "/" + r.name
	}
	hsa, ok := sockaddrUn(host)
	if !ok {
		r.close()
		return nil, "", done, neg(unix.ENAMETOOLONG)
	}
	return hsa, path, r.close, 0
}

// sockaddrToGuest rewrites a host AF_UNIX address the guest bound back to
// the guest's name.
func (t *thread) sockaddrToGuest(sa []byte) []byte {
	path := sunPath(sa)
	if path == "" || !t.p.fs.confined() {
		return sa
	}
	g, ok := t.p.unixNames.guest(path)
	if !ok {
		return sa
	}
	if out, ok := sockaddrUn(g); ok {
		return out
	}
	return sa
}

// addrOut is a guest (address, length) output pair, checked before the
// host call so that nothing can fail once the call has had its effect.
type addrOut struct {
	addr, lenAddr uint64
	max           uint32 // the guest's buffer size
}

func (t *thread) addrOut(addr, lenAddr uint64) (addrOut, uint64) {
	o := addrOut{addr: addr, lenAddr: lenAddr}
	if addr == 0 {
		return o, 0
	}
	b, err := t.p.mem.slice(lenAddr, 4)
	if err != nil {
		return o, neg(unix.EFAULT)
	}
	n := int32(le.Uint32(b))
	if n < 0 {
		return o, neg(unix.EINVAL)
	}
	o.max = uint32(n)
	if _, err := t.p.mem.slice(addr, uint64(n)); n > 0 && err != nil {
		return o, neg(unix.EFAULT)
	}
	return o, 0
}

// put writes a host address to the guest as the kernel does: truncated to
// the guest's buffer, with the full length in *lenAddr.
func (t *thread) putAddr(o addrOut, sa []byte) {
	if o.addr == 0 {
		return
	}
	sa = t.sockaddrToGuest(sa)
	n := min(uint32(len(sa)), o.max)
	t.p.mem.write(o.addr, sa[:n])
	t.p.mem.writeU32(o.lenAddr, uint32(len(sa)))
}

func sysBind(t *thread, a args) uint64 {
	h, err := t.p.files.host(int32(a[0]))
	if err != nil {
		return neg(unix.EBADF)
	}
	sa, path, done, e := t.sockaddrIn(a[1], a[2], true)
	if e != 0 {
		return e
	}
	defer done()
	_, _, en := unix.Syscall(unix.SYS_BIND, uintptr(h), ptr(sa), uintptr(len(sa)))
	if en == 0 && path != "" && t.p.fs.confined() {
		t.p.unixNames.add(sunPath(sa), path)
	}
	return result(0, en)
}

func sysListen(t *thread, a args) uint64 {
	h, err := t.p.files.host(int32(a[0]))
	if err != nil {
		return neg(unix.EBADF)
	}
	_, _, e := unix.Syscall(unix.SYS_LISTEN, uintptr(h), uintptr(int32(a[1])), 0)
	return result(0, e)
}

func sysConnect(t *thread, a args) uint64 {
	h, err := t.p.files.host(int32(a[0]))
	if err != nil {
		return neg(unix.EBADF)
	}
	sa, _, done, e := t.sockaddrIn(a[1], a[2], false)
	if e != 0 {
		return e
	}
	defer done()
	return result(t.blockSyscall(unix.SYS_CONNECT, uintptr(h), ptr(sa), uintptr(len(sa)), 0, 0, 0))
}

func sysAccept(t *thread, a args) uint64 { return t.accept4(a[0], a[1], a[2], 0) }
func sysAccept4(t *thread, a args) uint64 {
	return t.accept4(a[0], a[1], a[2], a[3])
}

func (t *thread) accept4(fd, addr, lenAddr, flags uint64) uint64 {
	if flags&^sockTypeFlags != 0 {
		return neg(unix.EINVAL)
	}
	h, err := t.p.files.host(int32(fd))
	if err != nil {
		return neg(unix.EBADF)
	}
	out, e := t.addrOut(addr, lenAddr)
	if e != 0 {
		return e
	}
	var sa [sizeofSockaddrStorage]byte
	salen := uint32(len(sa))
	nh, en := t.block(func() (uintptr, unix.Errno) {
		r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(h), uintptr(unsafe.Pointer(&sa)),
			uintptr(unsafe.Pointer(&salen)), uintptr(flags|unix.SOCK_CLOEXEC), 0, 0)
		return r, e
	})
	if en != 0 {
		return neg(en)
	}
	g := t.installFD(int(nh), flags&unix.SOCK_CLOEXEC != 0)
	if int64(g) >= 0 {
		t.putAddr(out, sa[:min(salen, uint32(len(sa)))])
	}
	return g
}

// sockName serves getsockname and getpeername. As in the kernel, the
// socket is asked first and the guest's length and buffer checked after.
func sockName(nr uintptr) handler {
	return func(t *thread, a args) uint64 {
		h, err := t.p.files.host(int32(a[0]))
		if err != nil {
			return neg(unix.EBADF)
		}
		var sa [sizeofSockaddrStorage]byte
		salen := uint32(len(sa))
		_, _, en := unix.Syscall(nr, uintptr(h), uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&salen)))
		if en != 0 {
			return neg(en)
		}
		lb, err := t.p.mem.slice(a[2], 4)
		if err != nil {
			return neg(unix.EFAULT)
		}
		n := int32(le.Uint32(lb))
		if n < 0 {
			return neg(unix.EINVAL)
		}
		out := t.sockaddrToGuest(sa[:min(salen, uint32(len(sa)))])
		if k := min(int(n), len(out)); k > 0 {
			if err := t.p.mem.write(a[1], out[:k]); err != nil {
				return neg(unix.EFAULT)
			}
		}
		le.PutUint32(lb, uint32(len(out)))
		return 0
	}
}

var (
	sysGetsockname = sockName(unix.SYS_GETSOCKNAME)
	sysGetpeername = sockName(unix.SYS_GETPEERNAME)
)

func sysShutdown(t *thread, a args) uint64 {
	h, err := t.p.files.host(int32(a[0]))
	if err != nil {
		return neg(unix.EBADF)
	}
	_, _, e := unix.Syscall(unix.SYS_SHUTDOWN, uintptr(h), uintptr(int32(a[1])), 0)
	return result(0, e)
}

// sigpipe raises SIGPIPE for a send that failed with EPIPE, as the kernel
// does unless MSG_NOSIGNAL was given (the host signal itself goes to the
// monitor, whose Go runtime ignores it).
func (t *thread) sigpipe(ret uint64, flags uint64) uint64 {
	if ret == neg(unix.EPIPE) && flags&unix.MSG_NOSIGNAL == 0 {
		t.p.queueSignal(unix.SIGPIPE, newSigInfo(unix.SIGPIPE, siUser).withSender(t.p.pid, unix.Getuid()), t)
	}
	return ret
}

func sysSendto(t *thread, a args) uint64 {
	h, buf, e := t.fdBuf(a[0], a[1], a[2])
	if e != 0 {
		return e
	}
	flags := a[3]
	sa, _, done, e := t.sockaddrIn(a[4], a[5], false)
	if e != 0 {
		return e
	}
	defer done()
	return t.sigpipe(result(t.blockSyscall(unix.SYS_SENDTO, uintptr(h), ptr(buf), uintptr(len(buf)), uintptr(flags), ptr(sa), uintptr(len(sa)))), flags)
}

func sysRecvfrom(t *thread, a args) uint64 {
	h, buf, e := t.fdBuf(a[0], a[1], a[2])
	if e != 0 {
		return e
	}
	flags := a[3]
	out, e := t.addrOut(a[4], a[5])
	if e != 0 {
		return e
	}
	var sa [sizeofSockaddrStorage]byte
	salen := uint32(len(sa))
	var saPtr, lenPtr uintptr
	if out.addr != 0 {
		saPtr, lenPtr = uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&salen))
	}
	r, en := t.blockSyscall(unix.SYS_RECVFROM, uintptr(h), ptr(buf), uintptr(len(buf)), uintptr(flags), saPtr, lenPtr)
	if en != 0 {
		return neg(en)
	}
	t.putAddr(out, sa[:min(salen, uint32(len(sa)))])
	return uint64(r)
}

// ---------------------------------------------------------------------------
// sendmsg / recvmsg and their mmsg forms

// msg is one guest struct msghdr translated for the host: iovecs point
// into guest memory, while the name and control buffers are the monitor's
// own copies, so that the guest can neither change them under the kernel
// nor see host descriptor numbers.
type msg struct {
	hdr  unix.Msghdr
	iov  []unix.Iovec
	name []byte // host address (send) or receive buffer
	ctl  []byte
	// the guest's msghdr and its output fields
	addr     uint64
	nameAddr uint64
	nameMax  uint32
	ctlAddr  uint64
	ctlMax   uint64
	hostFDs  []int  // duplicates made for SCM_RIGHTS (send), closed after the call
	done     func() // releases the resolution of a sendmsg AF_UNIX name
}

func (m *msg) release() {
	for _, h := range m.hostFDs {
		unix.Close(h)
	}
	m.hostFDs = nil
	if m.done != nil {
		m.done()
		m.done = nil
	}
}

// msgIn translates the guest msghdr at addr.
func (t *thread) msgIn(addr uint64, send bool) (*msg, uint64) {
	var raw [sizeofMsghdr]byte
	if err := t.p.mem.read(addr, raw[:]); err != nil {
		return nil, neg(unix.EFAULT)
	}
	m := &msg{addr: addr}
	nameAddr, nameLen := le.Uint64(raw[0:]), int32(le.Uint32(raw[8:]))
	iovAddr, iovLen := le.Uint64(raw[16:]), le.Uint64(raw[24:])
	ctlAddr, ctlLen := le.Uint64(raw[32:]), le.Uint64(raw[40:])
	if nameLen < 0 {
		return nil, neg(unix.EINVAL)
	}
	nameLen = min(nameLen, sizeofSockaddrStorage)
	if iovLen > uioMaxIov {
		return nil, neg(unix.EMSGSIZE)
	}
	var e uint64
	if m.iov, e = t.hostIovecs(iovAddr, iovLen); e != 0 {
		return nil, e
	}
	if len(m.iov) > 0 {
		m.hdr.Iov = &m.iov[0]
		m.hdr.SetIovlen(len(m.iov))
	}
	if send {
		if nameAddr != 0 && nameLen > 0 {
			sa, _, done, e := t.sockaddrIn(nameAddr, uint64(nameLen), false)
			if e != 0 {
				return nil, e
			}
			m.name, m.done = sa, done
		}
		if ctlLen > 0 {
			if ctlLen > maxControl {
				m.release()
				return nil, neg(unix.ENOBUFS)
			}
			m.ctl = make([]byte, ctlLen)
			if err := t.p.mem.read(ctlAddr, m.ctl); err != nil {
				m.release()
				return nil, neg(unix.EFAULT)
			}
			if e := t.controlToHost(m); e != 0 {
				m.release()
				return nil, e
			}
		}
	} else {
		if nameAddr != 0 {
			if _, err := t.p.mem.slice(nameAddr, uint64(nameLen)); nameLen > 0 && err != nil {
				return nil, neg(unix.EFAULT)
			}
			m.nameAddr, m.nameMax = nameAddr, uint32(nameLen)
			m.name = make([]byte, sizeofSockaddrStorage)
		}
		if ctlLen > 0 {
			n := min(ctlLen, maxControl)
			if _, err := t.p.mem.slice(ctlAddr, n); err != nil {
				return nil, neg(unix.EFAULT)
			}
			m.ctlAddr, m.ctlMax = ctlAddr, n
			m.ctl = make([]byte, n)
		}
	}
	if len(m.name) > 0 {
		m.hdr.Name = &m.name[0]
		m.hdr.Namelen = uint32(len(m.name))
	}
	if len(m.ctl) > 0 {
		m.hdr.Control = &m.ctl[0]
		m.hdr.SetControllen(len(m.ctl))
	}
	return m, 0
}

// cmsgs calls fn for each well-formed control message header in b, with
// its offset and length; it stops where the kernel's CMSG_NXTHDR would.
func cmsgs(b []byte, fn func(off int, n int, level, typ int32) bool) {
	for off := 0; off+sizeofCmsghdr <= len(b); {
		n := le.Uint64(b[off:])
		if n < sizeofCmsghdr || n > uint64(len(b)-off) {
			return
		}
		if !fn(off, int(n), int32(le.Uint32(b[off+8:])), int32(le.Uint32(b[off+12:]))) {
			return
		}
		off += int(alignUp(n, 8))
	}
}

// controlToHost replaces the guest descriptors in the SCM_RIGHTS messages
// of m.ctl with duplicates of their host descriptors. Malformed headers are
// left for the host kernel to reject.
func (t *thread) controlToHost(m *msg) uint64 {
	var e uint64
	cmsgs(m.ctl, func(off, n int, level, typ int32) bool {
		if level != unix.SOL_SOCKET || typ != unix.SCM_RIGHTS {
			return true
		}
		count := (n - sizeofCmsghdr) / 4
		if count > scmMaxFD {
			e = neg(unix.EINVAL)
			return false
		}
		for i := 0; i < count; i++ {
			p := m.ctl[off+sizeofCmsghdr+4*i:]
			h, err := t.p.files.dupHost(int32(le.Uint32(p)))
			if err != nil {
				e = neg(unix.EBADF)
				return false
			}
			m.hostFDs = append(m.hostFDs, h)
			le.PutUint32(p, uint32(h))
		}
		return true
	})
	return e
}

// msgOut completes a received message: descriptors it carries are given
// guest numbers, then the address, control data, their lengths and the
// flags are written to the guest msghdr.
func (t *thread) msgOut(m *msg, cloexec bool) {
	// The kernel echoes MSG_CMSG_CLOEXEC in msg_flags; km always asks the
	// host for it, the guest only sees it if it asked.
	flags := m.hdr.Flags &^ unix.MSG_CMSG_CLOEXEC
	if cloexec {
		flags |= unix.MSG_CMSG_CLOEXEC
	}
	used := min(int(m.hdr.Controllen), len(m.ctl))
	ctl := m.ctl[:used]
	cmsgs(ctl, func(off, n int, level, typ int32) bool {
		if level != unix.SOL_SOCKET || (typ != unix.SCM_RIGHTS && typ != unix.SCM_PIDFD) {
			return true
		}
		count := (n - sizeofCmsghdr) / 4
		for i := 0; i < count; i++ {
			p := ctl[off+sizeofCmsghdr+4*i:]
			h := int(int32(le.Uint32(p)))
			if typ == unix.SCM_PIDFD { // not made close-on-exec by MSG_CMSG_CLOEXEC
				unix.FcntlInt(uintptr(h), unix.F_SETFD, unix.FD_CLOEXEC)
			}
			g, err := t.p.files.install(h, cloexec, 0)
			if err != nil {
				// Like the kernel: keep what was installed, drop the rest,
				// and report the truncation.
				for j := i; j < count; j++ {
					unix.Close(int(int32(le.Uint32(ctl[off+sizeofCmsghdr+4*j:]))))
				}
				le.PutUint64(ctl[off:], uint64(sizeofCmsghdr+4*i))
				used = off + sizeofCmsghdr + 4*i
				flags |= unix.MSG_CTRUNC
				t.closeCmsgFDs(ctl[min(off+int(alignUp(uint64(n), 8)), len(ctl)):])
				return false
			}
			le.PutUint32(p, uint32(g))
		}
		return true
	})
	if m.nameAddr != 0 {
		sa := t.sockaddrToGuest(m.name[:min(int(m.hdr.Namelen), len(m.name))])
		t.p.mem.write(m.nameAddr, sa[:min(uint32(len(sa)), m.nameMax)])
		t.p.mem.writeU32(m.addr+8, uint32(len(sa)))
	}
	if m.ctlAddr != 0 {
		t.p.mem.write(m.ctlAddr, m.ctl[:used])
	}
	t.p.mem.writeU64(m.addr+40, uint64(used))
	t.p.mem.writeU32(m.addr+48, uint32(flags))
}

// closeCmsgFDs closes the host descriptors in the fd-carrying messages of
// b (a received control buffer the guest will not see).
func (t *thread) closeCmsgFDs(b []byte) {
	cmsgs(b, func(off, n int, level, typ int32) bool {
		if level == unix.SOL_SOCKET && (typ == unix.SCM_RIGHTS || typ == unix.SCM_PIDFD) {
			for i := 0; i < (n-sizeofCmsghdr)/4; i++ {
				unix.Close(int(int32(le.Uint32(b[off+sizeofCmsghdr+4*i:]))))
			}
		}
		return true
	})
}

func sysSendmsg(t *thread, a args) uint64 {
	h, err := t.p.files.host(int32(a[0]))
	if err != nil {
		return neg(unix.EBADF)
	}
	flags := a[2]
	m, e := t.msgIn(a[1], true)
	if e != 0 {
		return e
	}
	defer m.release()
	return t.sigpipe(result(t.blockSyscall(unix.SYS_SENDMSG, uintptr(h), uintptr(unsafe.Pointer(&m.hdr)), uintptr(flags), 0, 0, 0)), flags)
}

func sysRecvmsg(t *thread, a args) uint64 {
	h, err := t.p.files.host(int32(a[0]))
	if err != nil {
		return neg(unix.EBADF)
	}
	flags := a[2]
	m, e := t.msgIn(a[1], false)
	if e != 0 {
		return e
	}
	r, en := t.blockSyscall(unix.SYS_RECVMSG, uintptr(h), uintptr(unsafe.Pointer(&m.hdr)), uintptr(flags|unix.MSG_CMSG_CLOEXEC), 0, 0, 0)
	if en != 0 {
		return neg(en)
	}
	t.msgOut(m, flags&unix.MSG_CMSG_CLOEXEC != 0)
	return uint64(r)
}

// mmsghdr is struct mmsghdr.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// mmsgIn translates a guest mmsghdr array. A bad entry after the first
// shortens the call to the entries before it, as the kernel stops there;
// so does running over the allocation budgets.
func (t *thread) mmsgIn(addr, vlen uint64, send bool) ([]*msg, []mmsghdr, uint64) {
	vlen = min(vlen, uioMaxIov)
	var ms []*msg
	ctl, iov := 0, 0
	for i := uint64(0); i < vlen; i++ {
		m, e := t.msgIn(addr+i*sizeofMmsghdr, send)
		if e != 0 {
			if i == 0 {
				return nil, nil, e
			}
			break
		}
		ctl, iov = ctl+len(m.ctl), iov+len(m.iov)
		if i > 0 && (ctl > mmsgControlBudget || iov > mmsgIovBudget) {
			m.release()
			break
		}
		ms = append(ms, m)
	}
	hs := make([]mmsghdr, len(ms))
	for i, m := range ms {
		hs[i].hdr = m.hdr
	}
	return ms, hs, 0
}

func mmsgPtr(hs []mmsghdr) uintptr {
	if len(hs) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(&hs[0]))
}

func sysSendmmsg(t *thread, a args) uint64 {
	h, err := t.p.files.host(int32(a[0]))
	if err != nil {
		return neg(unix.EBADF)
	}
	flags := a[3]
	ms, hs, e := t.mmsgIn(a[1], a[2], true)
	if e != 0 {
		return e
	}
	defer func() {
		for _, m := range ms {
			m.release()
		}
	}()
	r, en := t.blockSyscall(unix.SYS_SENDMMSG, uintptr(h), mmsgPtr(hs), uintptr(len(hs)), uintptr(flags), 0, 0)
	if en != 0 {
		return t.sigpipe(neg(en), flags)
	}
	for i := 0; i < int(r) && i < len(hs); i++ {
		t.p.mem.writeU32(ms[i].addr+sizeofMsghdr, hs[i].len)
	}
	return uint64(r)
}

func sysRecvmmsg(t *thread, a args) uint64 {
	h, err := t.p.files.host(int32(a[0]))
	if err != nil {
		return neg(unix.EBADF)
	}
	flags := a[3]
	timeout, e := t.optSlice(a[4], sizeofTimespec)
	if e != 0 {
		return e
	}
	ms, hs, e := t.mmsgIn(a[1], a[2], false)
	if e != 0 {
		return e
	}
	r, en := t.block(func() (uintptr, unix.Errno) {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(h), mmsgPtr(hs), uintptr(len(hs)),
			uintptr(flags|unix.MSG_CMSG_CLOEXEC), timeout, 0)
		return r, e
	})
	if en != 0 {
		return neg(en)
	}
	for i := 0; i < int(r) && i < len(hs); i++ {
		ms[i].hdr = hs[i].hdr
		t.msgOut(ms[i], flags&unix.MSG_CMSG_CLOEXEC != 0)
		t.p.mem.writeU32(ms[i].addr+sizeofMsghdr, hs[i].len)
	}
	return uint64(r)
}

// dupHost duplicates the host descriptor behind guest fd (close-on-exec),
// under the table lock: a concurrent close cannot make it duplicate a
// recycled number belonging to the monitor.
func (t *fdTable) dupHost(fd int32) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || int(fd) >= len(t.fds) || t.fds[fd].host < 0 {
		return -1, unix.EBADF
	}
	return unix.FcntlInt(uintptr(t.fds[fd].host), unix.F_DUPFD_CLOEXEC, 0)
}

// ---------------------------------------------------------------------------
// getsockopt / setsockopt

// Options below these levels that the host must not see from a guest.
const (
	soOriginalDst    = 80 // SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST: a plain address
	ipNetfilterFirst = 64 // SOL_IP names from here are netfilter/ebtables/IPVS/multicast routing control
)

// sockoptAllowed says whether a (level, name) pair may go to the host. The
// levels are those of the allowed socket families; within them, the
// options that carry user pointers (netfilter table replacement writes
// counters through one, ebtables entries, TCP zerocopy receive maps pages
// at a given address) or reconfigure the host (multicast routing) are
// refused as unknown. pidfd options are refused: a pidfd names a host
// process.
func sockoptAllowed(level, name int32) bool {
	switch level {
	case unix.SOL_SOCKET:
		return name != unix.SO_PEERPIDFD && name != unix.SO_PASSPIDFD
	case unix.IPPROTO_IP:
		return name < ipNetfilterFirst || name == soOriginalDst
	case unix.IPPROTO_IPV6:
		switch {
		case name == 64, name == 65, name == 68, name == 69: // ip6tables control
			return false
		case name >= 200: // MRT6_*
			return false
		}
		return true
	case unix.IPPROTO_TCP:
		return name != unix.TCP_ZEROCOPY_RECEIVE
	case unix.IPPROTO_UDP, unix.IPPROTO_UDPLITE, unix.SOL_ICMPV6, unix.IPPROTO_RAW,
		unix.SOL_NETLINK, unix.SOL_TLS, unix.SOL_MPTCP:
		return true
	}
	return false
}

// sockFprog is struct sock_fprog.
type sockFprog struct {
	len    uint16
	_      [6]byte
	filter uintptr
}

func sysSetsockopt(t *thread, a args) uint64 {
	h, err := t.p.files.host(int32(a[0]))
	if err != nil {
		return neg(unix.EBADF)
	}
	level, name, optval, optlen := int32(a[1]), int32(a[2]), a[3], int32(a[4])
	if optlen < 0 {
		return neg(unix.EINVAL)
	}
	if !sockoptAllowed(level, name) {
		return neg(unix.ENOPROTOOPT)
	}
	var opt []byte
	if optlen > 0 {
		if opt, err = t.p.mem.slice(optval, uint64(optlen)); err != nil {
			return neg(unix.EFAULT)
		}
	}
	hostOpt, hostLen := ptr(opt), uintptr(len(opt))
	if level == unix.SOL_SOCKET {
		switch name {
		case unix.SO_ATTACH_FILTER, unix.SO_ATTACH_REUSEPORT_CBPF:
			// The program is behind a pointer in the guest's sock_fprog.
			if len(opt) < sizeofSockFprog {
				return neg(unix.EINVAL)
			}
			n := uint64(le.Uint16(opt))
			if n == 0 || n > bpfMaxInsn {
				return neg(unix.EINVAL)
			}
			prog, err := t.p.mem.slice(le.Uint64(opt[8:]), n*sizeofSockFilter)
			if err != nil {
				return neg(unix.EFAULT)
			}
			fp := &sockFprog{len: uint16(n), filter: ptr(prog)}
			_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(h), uintptr(level), uintptr(name),
				uintptr(unsafe.Pointer(fp)), sizeofSockFprog, 0)
			return result(0, e)
		case unix.SO_ATTACH_BPF, unix.SO_ATTACH_REUSEPORT_EBPF:
			// The value is a BPF program descriptor: a guest number.
			if len(opt) < 4 {
				return neg(unix.EINVAL)
			}
			bh, err := t.p.files.host(int32(le.Uint32(opt)))
			if err != nil {
				return neg(unix.EBADF)
			}
			v := int32(bh)
			_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(h), uintptr(level), uintptr(name),
				uintptr(unsafe.Pointer(&v)), 4, 0)
			return result(0, e)
		}
	}
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(h), uintptr(level), uintptr(name), hostOpt, hostLen, 0)
	return result(0, e)
}

func sysGetsockopt(t *thread, a args) uint64 {
	h, err := t.p.files.host(int32(a[0]))
	if err != nil {
		return neg(unix.EBADF)
	}
	level, name, optval, lenAddr := int32(a[1]), int32(a[2]), a[3], a[4]
	lb, err := t.p.mem.slice(lenAddr, 4)
	if err != nil {
		return neg(unix.EFAULT)
	}
	n := int32(le.Uint32(lb))
	if n < 0 {
		return neg(unix.EINVAL)
	}
	if !sockoptAllowed(level, name) {
		return neg(unix.ENOPROTOOPT)
	}
	var opt []byte
	if n > 0 {
		if opt, err = t.p.mem.slice(optval, uint64(n)); err != nil {
			return neg(unix.EFAULT)
		}
	}
	hostLen := uint32(n)
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(h), uintptr(level), uintptr(name), ptr(opt),
		uintptr(unsafe.Pointer(&hostLen)), 0)
	if e != 0 {
		return neg(e)
	}
	le.PutUint32(lb, hostLen)
	return 0
}
