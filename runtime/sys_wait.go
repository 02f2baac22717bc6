package runtime

// Waiting for and signalling children. Guest pids are host pids (each guest
// process is its own monitor process), so these go to the host, limited to
// the processes the guest may reach.

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	for nr, h := range map[uintptr]handler{
		unix.SYS_WAIT4: sysWait4, unix.SYS_WAITID: sysWaitid,
		unix.SYS_SETPGID: sysSetpgid, unix.SYS_SETSID: sysSetsid,
	} {
		register(nr, h)
	}
}

const (
	pPIDFD      = 3 // P_PIDFD
	waitOptions = unix.WNOHANG | unix.WUNTRACED | unix.WCONTINUED | unix.WEXITED | unix.WSTOPPED | unix.WNOWAIT |
		unix.WALL | unix.WCLONE | 0x20000000 // __WNOTHREAD
)

func sysWait4(t *thread, a args) uint64 {
	pid, statusAddr, options, rusageAddr := int32(a[0]), a[1], a[2], a[3]
	if options&^uint64(waitOptions) != 0 {
		return neg(unix.EINVAL)
	}
	var status int32
	var ru [sizeofRusage]byte
	r, e := t.block(func() (uintptr, unix.Errno) {
		r, _, e := unix.Syscall6(unix.SYS_WAIT4, uintptr(pid), uintptr(unsafe.Pointer(&status)), uintptr(options),
			uintptr(unsafe.Pointer(&ru[0])), 0, 0)
		return r, e
	})
	if e != 0 {
		return neg(e)
	}
	if ws := unix.WaitStatus(status); r != 0 && options&unix.WNOWAIT == 0 && (ws.Exited() || ws.Signaled()) {
		t.p.children.reaped(int(r))
	}
	if r != 0 && statusAddr != 0 {
		if t.p.mem.writeU32(statusAddr, uint32(status)) != nil {
			return neg(unix.EFAULT)
		}
	}
	if r != 0 && rusageAddr != 0 {
		if t.p.mem.write(rusageAddr, ru[:]) != nil {
			return neg(unix.EFAULT)
		}
	}
	return uint64(r)
}

func sysWaitid(t *thread, a args) uint64 {
	idtype, id, infoAddr, options, rusageAddr := a[0], a[1], a[2], a[3], a[4]
	if options&^uint64(waitOptions) != 0 {
		return neg(unix.EINVAL)
	}
	if idtype == pPIDFD {
		h, err := t.p.files.host(int32(id))
		if err != nil {
			return neg(unix.EBADF)
		}
		id = uint64(h)
	}
	var info [sizeofSiginfo]byte
	var ru [sizeofRusage]byte
	_, e := t.block(func() (uintptr, unix.Errno) {
		r, _, e := unix.Syscall6(unix.SYS_WAITID, uintptr(idtype), uintptr(id), uintptr(unsafe.Pointer(&info[0])),
			uintptr(options), uintptr(unsafe.Pointer(&ru[0])), 0)
		return r, e
	})
	if e != 0 {
		return neg(e)
	}
	// siginfo: si_code at 8, si_pid at 16 (zero when WNOHANG found nothing).
	const cldExited, cldKilled, cldDumped = 1, 2, 3
	if code, pid := int32(le.Uint32(info[8:])), int(int32(le.Uint32(info[16:]))); pid > 0 && options&unix.WNOWAIT == 0 &&
		(code == cldExited || code == cldKilled || code == cldDumped) {
		t.p.children.reaped(pid)
	}
	if infoAddr != 0 && t.p.mem.write(infoAddr, info[:]) != nil {
		return neg(unix.EFAULT)
	}
	if rusageAddr != 0 && t.p.mem.write(rusageAddr, ru[:]) != nil {
		return neg(unix.EFAULT)
	}
	return 0
}

// reachable reports whether the guest may signal or regroup host process
// pid: itself, its parent guest (while it is still the parent: an orphan's
// new parent is no guest), its children. The top-level guest's host parent
// (a shell, the shim) is out of reach.
func (p *process) reachable(pid int) bool {
	return pid == p.pid || p.parent != 0 && pid == p.parent && unix.Getppid() == p.parent || p.children.has(pid)
}

// reachableGroup reports whether the guest may signal process group pgid:
// its own, or one a child leads or belongs to.
func (p *process) reachableGroup(pgid int) bool {
	if own, _ := unix.Getpgid(0); pgid == own {
		return true
	}
	for _, c := range p.children.list() {
		if g, err := unix.Getpgid(c); err == nil && g == pgid {
			return true
		}
	}
	return false
}

// killOther sends sig to a process other than the guest itself: a child,
// the parent, or a process group of theirs. Anything else on the host is
// out of the guest's reach (ESRCH, as if it did not exist).
func (p *process) killOther(pid int32, sig unix.Signal) uint64 {
	switch {
	case pid == -1:
		// Every process the guest could signal: its children.
		for _, c := range p.children.list() {
			unix.Kill(c, sig)
		}
		return 0
	case pid < -1:
		if !p.reachableGroup(int(-pid)) {
			return neg(unix.ESRCH)
		}
	case !p.reachable(int(pid)):
		return neg(unix.ESRCH)
	}
	_, _, e := unix.Syscall(unix.SYS_KILL, uintptr(pid), uintptr(sig), 0)
	return result(0, e)
}

func sysSetpgid(t *thread, a args) uint64 {
	pid, pgid := int(int32(a[0])), int(int32(a[1]))
	if pid != 0 && pid != t.p.pid && !t.p.children.has(pid) {
		return neg(unix.ESRCH)
	}
	if pgid < 0 {
		return neg(unix.EINVAL)
	}
	_, _, e := unix.RawSyscall(unix.SYS_SETPGID, uintptr(pid), uintptr(pgid), 0)
	return result(0, e)
}

func sysSetsid(t *thread, a args) uint64 {
	r, _, e := unix.RawSyscall(unix.SYS_SETSID, 0, 0, 0)
	return result(r, e)
}

// signalChildren sends sig to the guest's children in its process group
// (all of them when all is set).
func (p *process) signalChildren(all bool, sig unix.Signal) {
	own, _ := unix.Getpgid(0)
	for _, c := range p.children.list() {
		if g, err := unix.Getpgid(c); all || err == nil && g == own {
			unix.Kill(c, sig)
		}
	}
}
