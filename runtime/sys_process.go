package runtime

// Process syscalls: exit, identity, limits, system information.

import (
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	for nr, h := range map[uintptr]handler{
		unix.SYS_EXIT: sysExit, unix.SYS_EXIT_GROUP: sysExitGroup,
		unix.SYS_GETPID: sysGetpid, unix.SYS_GETPPID: sysGetppid, unix.SYS_GETTID: sysGettid,
		unix.SYS_GETUID: hostID(unix.SYS_GETUID), unix.SYS_GETEUID: hostID(unix.SYS_GETEUID),
		unix.SYS_GETGID: hostID(unix.SYS_GETGID), unix.SYS_GETEGID: hostID(unix.SYS_GETEGID),
		unix.SYS_GETPGRP: hostID(unix.SYS_GETPGRP), unix.SYS_GETPGID: sysGetpgid, unix.SYS_GETSID: sysGetsid,
		unix.SYS_GETRESUID: sysGetresid(unix.SYS_GETRESUID), unix.SYS_GETRESGID: sysGetresid(unix.SYS_GETRESGID),
		unix.SYS_GETGROUPS: sysGetgroups,
		unix.SYS_UNAME:     sysUname, unix.SYS_PRLIMIT64: sysPrlimit, unix.SYS_GETRLIMIT: sysGetrlimit,
		unix.SYS_SETRLIMIT: sysSetrlimit, unix.SYS_GETRANDOM: sysGetrandom, unix.SYS_SYSINFO: sysSysinfo,
		unix.SYS_GETRUSAGE: sysGetrusage, unix.SYS_PRCTL: sysPrctl, unix.SYS_CAPGET: sysCapget,
	} {
		register(nr, h)
	}
}

func sysExit(t *thread, a args) uint64 {
	t.exitThread = true
	t.clearTID()
	if t.p.live.Load() == 1 {
		t.p.exit(ExitStatus{Code: int(a[0] & 0xff)})
	}
	return 0
}

func sysExitGroup(t *thread, a args) uint64 {
	t.exitThread = true
	t.p.exit(ExitStatus{Code: int(a[0] & 0xff)})
	return 0
}

func sysGetpid(t *thread, a args) uint64  { return uint64(t.p.pid) }
func sysGetppid(t *thread, a args) uint64 { return uint64(unix.Getppid()) }
func sysGettid(t *thread, a args) uint64  { return uint64(t.tid) }

func hostID(nr uintptr) handler {
	return func(t *thread, a args) uint64 {
		r, _, _ := unix.RawSyscall(nr, 0, 0, 0)
		return uint64(r)
	}
}

func (p *process) isSelf(pid uint64) bool { return pid == 0 || int(int32(pid)) == p.pid }

func sysGetpgid(t *thread, a args) uint64 {
	pid := uintptr(0)
	if !t.p.isSelf(a[0]) {
		if !t.p.reachable(int(int32(a[0]))) {
			return neg(unix.ESRCH)
		}
		pid = uintptr(int32(a[0]))
	}
	r, _, e := unix.RawSyscall(unix.SYS_GETPGID, pid, 0, 0)
	return result(r, e)
}

func sysGetsid(t *thread, a args) uint64 {
	if !t.p.isSelf(a[0]) {
		return neg(unix.ESRCH)
	}
	r, _, e := unix.RawSyscall(unix.SYS_GETSID, 0, 0, 0)
	return result(r, e)
}

func sysGetresid(nr uintptr) handler {
	return func(t *thread, a args) uint64 {
		var ids [3]uint32
		unix.RawSyscall(nr, uintptr(ptr32(&ids[0])), uintptr(ptr32(&ids[1])), uintptr(ptr32(&ids[2])))
		for i, addr := range a[:3] {
			if err := t.p.mem.writeU32(addr, ids[i]); err != nil {
				return neg(unix.EFAULT)
			}
		}
		return 0
	}
}

func sysGetgroups(t *thread, a args) uint64 {
	groups, err := unix.Getgroups()
	if err != nil {
		return errno(err)
	}
	if a[0] == 0 {
		return uint64(len(groups))
	}
	if int(a[0]) < len(groups) {
		return neg(unix.EINVAL)
	}
	for i, g := range groups {
		if err := t.p.mem.writeU32(a[1]+uint64(i)*4, uint32(g)); err != nil {
			return neg(unix.EFAULT)
		}
	}
	return uint64(len(groups))
}

const sizeofUtsname = 6 * 65

func sysUname(t *thread, a args) uint64 {
	b, err := t.p.mem.slice(a[0], sizeofUtsname)
	if err != nil {
		return neg(unix.EFAULT)
	}
	_, _, e := unix.RawSyscall(unix.SYS_UNAME, ptr(b), 0, 0)
	return result(0, e)
}

// Limits the monitor decides for the guest; others come from the host.
func (p *process) rlimit(resource int) (unix.Rlimit, bool) {
	switch resource {
	case unix.RLIMIT_STACK:
		return unix.Rlimit{Cur: stackMax, Max: stackMax}, true
	case unix.RLIMIT_AS, unix.RLIMIT_DATA:
		return unix.Rlimit{Cur: p.mem.size, Max: p.mem.size}, true
	case unix.RLIMIT_NOFILE:
		p.files.mu.Lock()
		defer p.files.mu.Unlock()
		return unix.Rlimit{Cur: uint64(p.files.limit), Max: maxFiles}, true
	}
	return unix.Rlimit{}, false
}

// rlimNLimits is RLIM_NLIMITS.
const rlimNLimits = 16

// maxFiles is the hard limit on guest descriptors.
const maxFiles = 65536

func sysPrlimit(t *thread, a args) uint64 {
	if !t.p.isSelf(a[0]) {
		return neg(unix.EPERM)
	}
	return t.prlimit(int(a[1]), a[2], a[3])
}

func sysGetrlimit(t *thread, a args) uint64 { return t.prlimit(int(a[0]), 0, a[1]) }
func sysSetrlimit(t *thread, a args) uint64 { return t.prlimit(int(a[0]), a[1], 0) }

func (t *thread) prlimit(resource int, newAddr, oldAddr uint64) uint64 {
	if resource < 0 || resource >= rlimNLimits {
		return neg(unix.EINVAL)
	}
	old, own := t.p.rlimit(resource)
	if !own {
		if err := unix.Getrlimit(resource, &old); err != nil {
			return errno(err)
		}
	}
	if newAddr != 0 {
		b, err := t.p.mem.slice(newAddr, 16)
		if err != nil {
			return neg(unix.EFAULT)
		}
		nl := unix.Rlimit{Cur: le.Uint64(b), Max: le.Uint64(b[8:])}
		if nl.Cur > nl.Max {
			return neg(unix.EINVAL)
		}
		switch resource {
		case unix.RLIMIT_NOFILE:
			if nl.Max > maxFiles {
				return neg(unix.EPERM)
			}
			t.p.files.mu.Lock()
			t.p.files.limit = int(nl.Cur)
			t.p.files.mu.Unlock()
		case unix.RLIMIT_STACK, unix.RLIMIT_AS, unix.RLIMIT_DATA:
			// fixed by the VM's layout; accepted and ignored
		default:
			// Other limits are the monitor's own process limits; the guest
			// may lower them (CPU time, core size) but not raise them.
			if err := unix.Setrlimit(resource, &nl); err != nil {
				return errno(err)
			}
		}
	}
	if oldAddr != 0 {
		b, err := t.p.mem.slice(oldAddr, 16)
		if err != nil {
			return neg(unix.EFAULT)
		}
		le.PutUint64(b, old.Cur)
		le.PutUint64(b[8:], old.Max)
	}
	return 0
}

func sysGetrandom(t *thread, a args) uint64 {
	if a[1] == 0 {
		return 0
	}
	b, err := t.p.mem.slice(a[0], a[1])
	if err != nil {
		return neg(unix.EFAULT)
	}
	r, _, e := unix.Syscall(unix.SYS_GETRANDOM, ptr(b), uintptr(len(b)), uintptr(a[2]))
	return result(r, e)
}

const sizeofSysinfo = 112

func sysSysinfo(t *thread, a args) uint64 {
	b, err := t.p.mem.slice(a[0], sizeofSysinfo)
	if err != nil {
		return neg(unix.EFAULT)
	}
	_, _, e := unix.RawSyscall(unix.SYS_SYSINFO, ptr(b), 0, 0)
	return result(0, e)
}

const sizeofRusage = 144

func sysGetrusage(t *thread, a args) uint64 {
	b, err := t.p.mem.slice(a[1], sizeofRusage)
	if err != nil {
		return neg(unix.EFAULT)
	}
	who := int32(a[0])
	if who == unix.RUSAGE_THREAD {
		who = unix.RUSAGE_SELF
	}
	_, _, e := unix.RawSyscall(unix.SYS_GETRUSAGE, uintptr(who), ptr(b), 0)
	return result(0, e)
}

func sysPrctl(t *thread, a args) uint64 {
	switch a[0] {
	case unix.PR_SET_NAME, unix.PR_SET_PDEATHSIG, unix.PR_SET_DUMPABLE, unix.PR_SET_NO_NEW_PRIVS,
		unix.PR_SET_KEEPCAPS, unix.PR_SET_TIMERSLACK, unix.PR_SET_VMA, unix.PR_SET_THP_DISABLE:
		return 0
	case unix.PR_GET_NAME:
		name := t.p.exe[strings.LastIndex(t.p.exe, "/")+1:]
		if len(name) > 15 {
			name = name[:15]
		}
		if err := t.p.mem.write(a[1], append([]byte(name), 0)); err != nil {
			return neg(unix.EFAULT)
		}
		return 0
	case unix.PR_GET_DUMPABLE:
		return 1
	case unix.PR_GET_PDEATHSIG, unix.PR_GET_KEEPCAPS:
		return 0
	case unix.PR_GET_NO_NEW_PRIVS:
		// The monitor's own: a container runtime sets it on km.
		r, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_GET_NO_NEW_PRIVS, 0, 0)
		return result(r, e)
	case unix.PR_GET_SECCOMP:
		// The monitor's filter is the guest's (seccomp.go): mode 2, as
		// SECCOMP_MODE_FILTER. The guest cannot install filters of its own.
		return t.p.seccompMode()
	case unix.PR_CAPBSET_READ:
		// The guest's capabilities are the monitor's (cmd/km applies the
		// container's sets to every monitor thread).
		r, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_READ, uintptr(a[1]), 0)
		return result(r, e)
	case unix.PR_CAP_AMBIENT:
		if a[1] != unix.PR_CAP_AMBIENT_IS_SET {
			return neg(unix.EPERM) // changing capabilities is not supported
		}
		r, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_IS_SET, uintptr(a[2]), 0, 0, 0)
		return result(r, e)
	}
	return neg(unix.EINVAL)
}

// specialLink answers readlink of the links whose host value would be
// wrong for the guest.
func (p *process) specialLink(name string) (string, bool) {
	if name == "/proc/self/exe" || name == "/proc/"+strconv.Itoa(p.pid)+"/exe" || name == "/proc/thread-self/exe" {
		return p.exe, true
	}
	return "", false
}

// specialPath maps stat-able special names to the guest path they stand for.
func (p *process) specialPath(name string) (string, bool) { return p.specialLink(name) }

// openSpecial opens special names (/proc/self/exe) the host would get wrong.
func (p *process) openSpecial(name string, flags int) (int, bool) {
	target, ok := p.specialLink(name)
	if !ok {
		return -1, false
	}
	h, err := p.openAt(unix.AT_FDCWD, target, flags, 0)
	if err != nil {
		return -1, false
	}
	return h, true
}

func ptr32(p *uint32) unsafe.Pointer { return unsafe.Pointer(p) }

// sysCapget reports the monitor's capabilities, which are the guest's, for
// the guest itself (pid 0, its pid or one of its tids); a version query
// (data NULL) gets the version km answers with.
func sysCapget(t *thread, a args) uint64 {
	const headerSize, dataSize = 8, 12 // struct __user_cap_header_struct, __user_cap_data_struct
	hdr, err := t.p.mem.slice(a[0], headerSize)
	if err != nil {
		return neg(unix.EFAULT)
	}
	version := le.Uint32(hdr)
	pid := int32(le.Uint32(hdr[4:]))
	words := 0
	switch version {
	case unix.LINUX_CAPABILITY_VERSION_1:
		words = 1
	case unix.LINUX_CAPABILITY_VERSION_2, unix.LINUX_CAPABILITY_VERSION_3:
		words = 2
	default:
		le.PutUint32(hdr, unix.LINUX_CAPABILITY_VERSION_3)
		if a[1] == 0 {
			return 0
		}
		return neg(unix.EINVAL)
	}
	if a[1] == 0 {
		return 0
	}
	if pid < 0 {
		return neg(unix.EINVAL)
	}
	if pid != 0 && int(pid) != t.p.pid {
		t.p.threadsMu.Lock()
		_, ours := t.p.threads[int(pid)]
		t.p.threadsMu.Unlock()
		if !ours {
			return neg(unix.ESRCH) // other processes are not the guest's to see
		}
	}
	out, err := t.p.mem.slice(a[1], uint64(words*dataSize))
	if err != nil {
		return neg(unix.EFAULT)
	}
	h := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var d [2]unix.CapUserData
	if err := unix.Capget(&h, &d[0]); err != nil {
		return errno(err)
	}
	for i := 0; i < words; i++ {
		le.PutUint32(out[i*dataSize:], d[i].Effective)
		le.PutUint32(out[i*dataSize+4:], d[i].Permitted)
		le.PutUint32(out[i*dataSize+8:], d[i].Inheritable)
	}
	return 0
}
