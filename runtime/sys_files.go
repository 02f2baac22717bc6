package runtime

// File syscalls: forwarded to the host with the guest's descriptors and
// pointers translated, and paths resolved inside the guest root (fs.go).

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	for nr, h := range map[uintptr]handler{
		unix.SYS_READ: sysRead, unix.SYS_WRITE: sysWrite, unix.SYS_PREAD64: sysPread, unix.SYS_PWRITE64: sysPwrite,
		unix.SYS_READV: sysReadv, unix.SYS_WRITEV: sysWritev, unix.SYS_PREADV: sysPreadv, unix.SYS_PWRITEV: sysPwritev,
		unix.SYS_PREADV2: sysPreadv, unix.SYS_PWRITEV2: sysPwritev,
		unix.SYS_OPEN: sysOpen, unix.SYS_OPENAT: sysOpenat, unix.SYS_CREAT: sysCreat,
		unix.SYS_CLOSE: sysClose, unix.SYS_CLOSE_RANGE: sysCloseRange, unix.SYS_LSEEK: sysLseek,
		unix.SYS_FSTAT: sysFstat, unix.SYS_STAT: sysStat, unix.SYS_LSTAT: sysLstat,
		unix.SYS_NEWFSTATAT: sysNewfstatat, unix.SYS_STATX: sysStatx,
		unix.SYS_GETDENTS64: sysGetdents64, unix.SYS_FCNTL: sysFcntl,
		unix.SYS_DUP: sysDup, unix.SYS_DUP2: sysDup2, unix.SYS_DUP3: sysDup3,
		unix.SYS_PIPE: sysPipe, unix.SYS_PIPE2: sysPipe2,
		unix.SYS_ACCESS: sysAccess, unix.SYS_FACCESSAT: sysFaccessat, unix.SYS_FACCESSAT2: sysFaccessat2,
		unix.SYS_GETCWD: sysGetcwd, unix.SYS_CHDIR: sysChdir, unix.SYS_FCHDIR: sysFchdir,
		unix.SYS_MKDIR: sysMkdir, unix.SYS_MKDIRAT: sysMkdirat, unix.SYS_RMDIR: sysRmdir,
		unix.SYS_UNLINK: sysUnlink, unix.SYS_UNLINKAT: sysUnlinkat,
		unix.SYS_RENAME: sysRename, unix.SYS_RENAMEAT: sysRenameat, unix.SYS_RENAMEAT2: sysRenameat2,
		unix.SYS_LINK: sysLink, unix.SYS_LINKAT: sysLinkat, unix.SYS_SYMLINK: sysSymlink, unix.SYS_SYMLINKAT: sysSymlinkat,
		unix.SYS_READLINK: sysReadlink, unix.SYS_READLINKAT: sysReadlinkat,
		unix.SYS_CHMOD: sysChmod, unix.SYS_FCHMOD: sysFchmod, unix.SYS_FCHMODAT: sysFchmodat,
		unix.SYS_CHOWN: sysChown, unix.SYS_LCHOWN: sysLchown, unix.SYS_FCHOWN: sysFchown, unix.SYS_FCHOWNAT: sysFchownat,
		unix.SYS_UMASK: sysUmask, unix.SYS_TRUNCATE: sysTruncate, unix.SYS_FTRUNCATE: sysFtruncate,
		unix.SYS_FSYNC: sysFsync, unix.SYS_FDATASYNC: sysFsync, unix.SYS_SYNC: sysNop, unix.SYS_SYNCFS: sysFsync,
		unix.SYS_FALLOCATE: sysFallocate, unix.SYS_FADVISE64: sysFadvise, unix.SYS_FLOCK: sysFlock,
		unix.SYS_STATFS: sysStatfs, unix.SYS_FSTATFS: sysFstatfs, unix.SYS_UTIMENSAT: sysUtimensat,
	} {
		register(nr, h)
	}
}

func ptr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// fdBuf translates a (fd, buffer, length) triple.
func (t *thread) fdBuf(fd, addr, n uint64) (int, []byte, uint64) {
	h, err := t.p.files.host(int32(fd))
	if err != nil {
		return -1, nil, neg(unix.EBADF)
	}
	if n == 0 {
		return h, nil, 0
	}
	b, err := t.p.mem.slice(addr, n)
	if err != nil {
		return -1, nil, neg(unix.EFAULT)
	}
	return h, b, 0
}

func fdIO(nr uintptr) handler {
	return func(t *thread, a args) uint64 {
		h, b, e := t.fdBuf(a[0], a[1], a[2])
		if e != 0 {
			return e
		}
		r, en := t.blockSyscall(nr, uintptr(h), ptr(b), uintptr(len(b)), uintptr(a[3]), 0, 0)
		return result(r, en)
	}
}

var (
	sysRead   = withSignalfd(fdIO(unix.SYS_READ), false)
	sysWrite  = rejectSignalfd(withSigpipe(fdIO(unix.SYS_WRITE)), unix.EINVAL)
	sysPread  = rejectSignalfd(fdIO(unix.SYS_PREAD64), unix.ESPIPE)
	sysPwrite = rejectSignalfd(withSigpipe(fdIO(unix.SYS_PWRITE64)), unix.ESPIPE)
)

// withSigpipe raises SIGPIPE in the guest when a write fails with EPIPE
// (the host's SIGPIPE goes to the monitor, which ignores it).
func withSigpipe(h handler) handler {
	return func(t *thread, a args) uint64 { return t.sigpipe(h(t, a), 0) }
}

// hostIovecs translates a guest iovec array for a vectored host syscall.
func (t *thread) hostIovecs(addr, count uint64) ([]unix.Iovec, uint64) {
	bufs, err := t.p.mem.iovecs(addr, count)
	if err != nil {
		return nil, errno(err)
	}
	iov := make([]unix.Iovec, len(bufs))
	for i, b := range bufs {
		if len(b) > 0 {
			iov[i].Base = &b[0]
			iov[i].SetLen(len(b))
		}
	}
	return iov, 0
}

func fdIOV(nr uintptr) handler {
	return func(t *thread, a args) uint64 {
		h, err := t.p.files.host(int32(a[0]))
		if err != nil {
			return neg(unix.EBADF)
		}
		iov, e := t.hostIovecs(a[1], a[2])
		if e != 0 {
			return e
		}
		var p uintptr
		if len(iov) > 0 {
			p = uintptr(unsafe.Pointer(&iov[0]))
		}
		r, en := t.blockSyscall(nr, uintptr(h), p, uintptr(len(iov)), uintptr(a[3]), uintptr(a[4]), uintptr(a[5]))
		return result(r, en)
	}
}

var (
	sysReadv   = withSignalfd(fdIOV(unix.SYS_READV), true)
	sysWritev  = rejectSignalfd(withSigpipe(fdIOV(unix.SYS_WRITEV)), unix.EINVAL)
	sysPreadv  = rejectSignalfd(fdIOV(unix.SYS_PREADV2), unix.ESPIPE)
	sysPwritev = rejectSignalfd(withSigpipe(fdIOV(unix.SYS_PWRITEV2)), unix.ESPIPE)
)

func (t *thread) path(addr uint64) (string, uint64) {
	s, err := t.p.mem.readString(addr, maxPath)
	if err != nil {
		return "", errno(err)
	}
	return s, 0
}

func (t *thread) openGuest(dirfd int32, pathAddr uint64, flags int, mode uint32) uint64 {
	name, e := t.path(pathAddr)
	if e != 0 {
		return e
	}
	if h, ok := t.p.openSpecial(name, flags); ok {
		return t.installFD(h, flags&unix.O_CLOEXEC != 0)
	}
	h, err := t.p.openAt(dirfd, name, flags, mode)
	if err != nil {
		return errno(err)
	}
	return t.installFD(h, flags&unix.O_CLOEXEC != 0)
}

func (t *thread) installFD(h int, cloexec bool) uint64 {
	fd, err := t.p.files.install(h, cloexec, 0)
	if err != nil {
		unix.Close(h)
		return errno(err)
	}
	return uint64(fd)
}

func sysOpen(t *thread, a args) uint64 {
	return t.openGuest(unix.AT_FDCWD, a[0], int(a[1]), uint32(a[2]))
}
func sysOpenat(t *thread, a args) uint64 {
	return t.openGuest(int32(a[0]), a[1], int(a[2]), uint32(a[3]))
}
func sysCreat(t *thread, a args) uint64 {
	return t.openGuest(unix.AT_FDCWD, a[0], unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, uint32(a[1]))
}

func sysClose(t *thread, a args) uint64 {
	h, err := t.p.files.remove(int32(a[0]))
	if err != nil {
		return errno(err)
	}
	unix.Close(h)
	return 0
}

func sysCloseRange(t *thread, a args) uint64 {
	first, last, flags := a[0], a[1], a[2]
	if first > last || flags&^uint64(unix.CLOSE_RANGE_CLOEXEC|unix.CLOSE_RANGE_UNSHARE) != 0 {
		return neg(unix.EINVAL)
	}
	last = min(last, uint64(t.p.files.limit))
	for fd := first; fd <= last; fd++ {
		if flags&unix.CLOSE_RANGE_CLOEXEC != 0 {
			t.p.files.setCloexec(int32(fd), true)
		} else if h, err := t.p.files.remove(int32(fd)); err == nil {
			unix.Close(h)
		}
	}
	return 0
}

func sysLseek(t *thread, a args) uint64 {
	h, err := t.p.files.host(int32(a[0]))
	if err != nil {
		return neg(unix.EBADF)
	}
	if r, ok := t.p.virtualSeek(h, int64(a[1]), int(a[2])); ok {
		return r
	}
	r, _, e := unix.Syscall(unix.SYS_LSEEK, uintptr(h), uintptr(a[1]), uintptr(a[2]))
	return result(r, e)
}

const sizeofStat = 144 // struct stat on x86-64

func sysFstat(t *thread, a args) uint64 {
	h, b, e := t.fdBuf(a[0], a[1], sizeofStat)
	if e != 0 {
		return e
	}
	_, _, en := unix.Syscall(unix.SYS_FSTAT, uintptr(h), ptr(b), 0)
	return result(0, en)
}

// statAt runs newfstatat or statx-like calls on a resolved path.
func (t *thread) pathAt(dirfd int32, pathAddr uint64, flags int, fn func(r resolved, flags int) (uintptr, unix.Errno)) uint64 {
	name, e := t.path(pathAddr)
	if e != 0 {
		return e
	}
	if name == "" && flags&unix.AT_EMPTY_PATH != 0 {
		if dirfd == unix.AT_FDCWD {
			dirfd = -1 // the cwd itself
			r, err := t.p.resolve(unix.AT_FDCWD, ".", true)
			if err != nil {
				return errno(err)
			}
			defer r.close()
			v, en := fn(r, r.atFlags(flags))
			return result(v, en)
		}
		h, err := t.p.files.host(dirfd)
		if err != nil {
			return neg(unix.EBADF)
		}
		v, en := fn(resolved{dir: h}, flags)
		return result(v, en)
	}
	if special, ok := t.p.specialPath(name); ok {
		name = special
	}
	r, err := t.p.resolve(dirfd, name, flags&unix.AT_SYMLINK_NOFOLLOW == 0)
	if err != nil {
		return errno(err)
	}
	defer r.close()
	v, en := fn(r, r.atFlags(flags))
	return result(v, en)
}

func cstr(s string) *byte {
	b, _ := unix.BytePtrFromString(s)
	return b
}

func (t *thread) newfstatat(dirfd int32, pathAddr, statAddr uint64, flags int) uint64 {
	buf, err := t.p.mem.slice(statAddr, sizeofStat)
	if err != nil {
		return neg(unix.EFAULT)
	}
	return t.pathAt(dirfd, pathAddr, flags, func(r resolved, flags int) (uintptr, unix.Errno) {
		_, _, e := unix.Syscall6(unix.SYS_NEWFSTATAT, uintptr(r.dir), uintptr(unsafe.Pointer(cstr(r.name))), ptr(buf), uintptr(flags), 0, 0)
		return 0, e
	})
}

func sysStat(t *thread, a args) uint64 { return t.newfstatat(unix.AT_FDCWD, a[0], a[1], 0) }
func sysLstat(t *thread, a args) uint64 {
	return t.newfstatat(unix.AT_FDCWD, a[0], a[1], unix.AT_SYMLINK_NOFOLLOW)
}
func sysNewfstatat(t *thread, a args) uint64 {
	return t.newfstatat(int32(a[0]), a[1], a[2], int(a[3]))
}

const sizeofStatx = 256

func sysStatx(t *thread, a args) uint64 {
	buf, err := t.p.mem.slice(a[4], sizeofStatx)
	if err != nil {
		return neg(unix.EFAULT)
	}
	return t.pathAt(int32(a[0]), a[1], int(a[2]), func(r resolved, flags int) (uintptr, unix.Errno) {
		_, _, e := unix.Syscall6(unix.SYS_STATX, uintptr(r.dir), uintptr(unsafe.Pointer(cstr(r.name))), uintptr(flags), uintptr(a[3]), ptr(buf), 0)
		return 0, e
	})
}

func sysGetdents64(t *thread, a args) uint64 {
	h, b, e := t.fdBuf(a[0], a[1], a[2])
	if e != 0 {
		return e
	}
	if r, ok := t.p.virtualGetdents(h, b); ok {
		return r
	}
	r, _, en := unix.Syscall(unix.SYS_GETDENTS64, uintptr(h), ptr(b), uintptr(len(b)))
	return result(r, en)
}

const sizeofFlock = 32

func sysFcntl(t *thread, a args) uint64 {
	fd, cmd, arg := int32(a[0]), int(a[1]), a[2]
	h, err := t.p.files.host(fd)
	if err != nil {
		return neg(unix.EBADF)
	}
	switch cmd {
	case unix.F_DUPFD, unix.F_DUPFD_CLOEXEC:
		if int64(arg) < 0 || arg >= uint64(t.p.files.limit) {
			return neg(unix.EINVAL)
		}
		nfd, err := t.p.files.dup(fd, int(arg), cmd == unix.F_DUPFD_CLOEXEC)
		if err != nil {
			return errno(err)
		}
		return uint64(nfd)
	case unix.F_GETFD:
		if c, _ := t.p.files.cloexec(fd); c {
			return unix.FD_CLOEXEC
		}
		return 0
	case unix.F_SETFD:
		return errno(t.p.files.setCloexec(fd, arg&unix.FD_CLOEXEC != 0))
	case unix.F_GETFL, unix.F_SETFL, unix.F_GETPIPE_SZ, unix.F_SETPIPE_SZ, unix.F_ADD_SEALS, unix.F_GET_SEALS,
		unix.F_GETOWN, unix.F_SETOWN, unix.F_NOTIFY, unix.F_GETLEASE, unix.F_SETLEASE:
		r, _, e := unix.Syscall(unix.SYS_FCNTL, uintptr(h), uintptr(cmd), uintptr(arg))
		return result(r, e)
	case unix.F_GETLK, unix.F_SETLK, unix.F_SETLKW, unix.F_OFD_GETLK, unix.F_OFD_SETLK, unix.F_OFD_SETLKW:
		b, err := t.p.mem.slice(arg, sizeofFlock)
		if err != nil {
			return neg(unix.EFAULT)
		}
		r, _, e := unix.Syscall(unix.SYS_FCNTL, uintptr(h), uintptr(cmd), ptr(b))
		return result(r, e)
	}
	return neg(unix.EINVAL)
}

func sysDup(t *thread, a args) uint64 {
	nfd, err := t.p.files.dup(int32(a[0]), 0, false)
	if err != nil {
		return errno(err)
	}
	return uint64(nfd)
}

func (t *thread) dup3(oldfd, newfd int32, cloexec bool) uint64 {
	if err := t.p.files.dupAt(oldfd, newfd, cloexec); err != nil {
		return errno(err)
	}
	return uint64(newfd)
}

func sysDup2(t *thread, a args) uint64 {
	if int32(a[0]) == int32(a[1]) {
		if _, err := t.p.files.host(int32(a[0])); err != nil {
			return neg(unix.EBADF)
		}
		return uint64(int32(a[1]))
	}
	return t.dup3(int32(a[0]), int32(a[1]), false)
}

func sysDup3(t *thread, a args) uint64 {
	if int32(a[0]) == int32(a[1]) || a[2]&^unix.O_CLOEXEC != 0 {
		return neg(unix.EINVAL)
	}
	return t.dup3(int32(a[0]), int32(a[1]), a[2]&unix.O_CLOEXEC != 0)
}

func sysPipe(t *thread, a args) uint64 { return sysPipe2(t, args{a[0], 0}) }

func sysPipe2(t *thread, a args) uint64 {
	flags := int(a[1])
	if flags&^(unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_DIRECT) != 0 {
		return neg(unix.EINVAL)
	}
	out, err := t.p.mem.slice(a[0], 8)
	if err != nil {
		return neg(unix.EFAULT)
	}
	var hp [2]int
	if err := unix.Pipe2(hp[:], flags|unix.O_CLOEXEC); err != nil {
		return errno(err)
	}
	cloexec := flags&unix.O_CLOEXEC != 0
	r, err := t.p.files.install(hp[0], cloexec, 0)
	if err != nil {
		unix.Close(hp[0])
		unix.Close(hp[1])
		return errno(err)
	}
	w, err := t.p.files.install(hp[1], cloexec, 0)
	if err != nil {
		t.p.files.remove(int32(r))
		unix.Close(hp[0])
		unix.Close(hp[1])
		return errno(err)
	}
	le.PutUint32(out, uint32(r))
	le.PutUint32(out[4:], uint32(w))
	return 0
}

func (t *thread) faccessat(dirfd int32, pathAddr uint64, mode uint64, flags int) uint64 {
	return t.pathAt(dirfd, pathAddr, flags, func(r resolved, flags int) (uintptr, unix.Errno) {
		_, _, e := unix.Syscall6(unix.SYS_FACCESSAT2, uintptr(r.dir), uintptr(unsafe.Pointer(cstr(r.name))), uintptr(mode), uintptr(flags), 0, 0)
		return 0, e
	})
}

func sysAccess(t *thread, a args) uint64    { return t.faccessat(unix.AT_FDCWD, a[0], a[1], 0) }
func sysFaccessat(t *thread, a args) uint64 { return t.faccessat(int32(a[0]), a[1], a[2], 0) }
func sysFaccessat2(t *thread, a args) uint64 {
	return t.faccessat(int32(a[0]), a[1], a[2], int(a[3]))
}

func sysGetcwd(t *thread, a args) uint64 {
	cwd := t.p.fs.cwdPath()
	if uint64(len(cwd))+1 > a[1] {
		return neg(unix.ERANGE)
	}
	if err := t.p.mem.write(a[0], append([]byte(cwd), 0)); err != nil {
		return neg(unix.EFAULT)
	}
	return uint64(len(cwd) + 1)
}

func (t *thread) chdirTo(h int) uint64 {
	if !t.p.fs.confined() {
		if err := unix.Fchdir(h); err != nil {
			return errno(err)
		}
		t.p.fs.v.setCwd(h)
		return 0
	}
	var st unix.Stat_t
	if err := unix.Fstat(h, &st); err != nil {
		return errno(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return neg(unix.ENOTDIR)
	}
	p, err := t.p.fs.guestPathOfHost(h)
	if err != nil {
		return errno(err)
	}
	t.p.fs.mu.Lock()
	t.p.fs.cwd = p
	t.p.fs.mu.Unlock()
	return 0
}

func sysChdir(t *thread, a args) uint64 {
	name, e := t.path(a[0])
	if e != 0 {
		return e
	}
	h, err := t.p.openAt(unix.AT_FDCWD, name, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return errno(err)
	}
	defer unix.Close(h)
	return t.chdirTo(h)
}

func sysFchdir(t *thread, a args) uint64 {
	h, err := t.p.files.host(int32(a[0]))
	if err != nil {
		return neg(unix.EBADF)
	}
	return t.chdirTo(h)
}

// onName runs fn on the host (dir, name) of a guest path whose last
// component is not followed (mkdir, unlink, rename...).
func (t *thread) onName(dirfd int32, pathAddr uint64, fn func(r resolved) unix.Errno) uint64 {
	name, e := t.path(pathAddr)
	if e != 0 {
		return e
	}
	r, err := t.p.resolve(dirfd, name, false)
	if err != nil {
		return errno(err)
	}
	defer r.close()
	if r.name == "" { // "/", ".", ".." : a directory that cannot be created or removed
		return neg(unix.EBUSY)
	}
	return result(0, fn(r))
}

func (t *thread) mkdirat(dirfd int32, pathAddr, mode uint64) uint64 {
	return t.onName(dirfd, pathAddr, func(r resolved) unix.Errno {
		return toErrno(unix.Mkdirat(r.dir, r.name, uint32(mode)))
	})
}

func toErrno(err error) unix.Errno {
	if err == nil {
		return 0
	}
	if e, ok := err.(unix.Errno); ok {
		return e
	}
	return unix.EIO
}

func sysMkdir(t *thread, a args) uint64   { return t.mkdirat(unix.AT_FDCWD, a[0], a[1]) }
func sysMkdirat(t *thread, a args) uint64 { return t.mkdirat(int32(a[0]), a[1], a[2]) }

func (t *thread) unlinkat(dirfd int32, pathAddr uint64, flags int) uint64 {
	return t.onName(dirfd, pathAddr, func(r resolved) unix.Errno {
		return toErrno(unix.Unlinkat(r.dir, r.name, flags))
	})
}

func sysUnlink(t *thread, a args) uint64   { return t.unlinkat(unix.AT_FDCWD, a[0], 0) }
func sysRmdir(t *thread, a args) uint64    { return t.unlinkat(unix.AT_FDCWD, a[0], unix.AT_REMOVEDIR) }
func sysUnlinkat(t *thread, a args) uint64 { return t.unlinkat(int32(a[0]), a[1], int(a[2])) }

// twoNames resolves two guest paths (rename, link) and runs fn.
func (t *thread) twoNames(oldDir int32, oldAddr uint64, newDir int32, newAddr uint64, followOld bool,
	fn func(o, n resolved) unix.Errno) uint64 {
	oldName, e := t.path(oldAddr)
	if e != 0 {
		return e
	}
	newName, e := t.path(newAddr)
	if e != 0 {
		return e
	}
	o, err := t.p.resolve(oldDir, oldName, followOld)
	if err != nil {
		return errno(err)
	}
	defer o.close()
	n, err := t.p.resolve(newDir, newName, false)
	if err != nil {
		return errno(err)
	}
	defer n.close()
	if n.name == "" || (o.name == "" && !followOld) {
		return neg(unix.EBUSY)
	}
	return result(0, fn(o, n))
}

func (t *thread) renameat2(od int32, oa uint64, nd int32, na uint64, flags uint) uint64 {
	return t.twoNames(od, oa, nd, na, false, func(o, n resolved) unix.Errno {
		return toErrno(unix.Renameat2(o.dir, o.name, n.dir, n.name, flags))
	})
}

func sysRename(t *thread, a args) uint64 {
	return t.renameat2(unix.AT_FDCWD, a[0], unix.AT_FDCWD, a[1], 0)
}
func sysRenameat(t *thread, a args) uint64 {
	return t.renameat2(int32(a[0]), a[1], int32(a[2]), a[3], 0)
}
func sysRenameat2(t *thread, a args) uint64 {
	return t.renameat2(int32(a[0]), a[1], int32(a[2]), a[3], uint(a[4]))
}

func (t *thread) linkat(od int32, oa uint64, nd int32, na uint64, flags int) uint64 {
	follow := flags&unix.AT_SYMLINK_FOLLOW != 0
	return t.twoNames(od, oa, nd, na, follow, func(o, n resolved) unix.Errno {
		fl := 0
		if o.name == "" {
			// Linking an O_PATH handle needs AT_EMPTY_PATH (CAP_DAC_READ_SEARCH)
			// or the /proc link with AT_SYMLINK_FOLLOW.
			return toErrno(unix.Linkat(unix.AT_FDCWD, procPath(o.dir), n.dir, n.name, unix.AT_SYMLINK_FOLLOW))
		}
		return toErrno(unix.Linkat(o.dir, o.name, n.dir, n.name, fl))
	})
}

func sysLink(t *thread, a args) uint64 { return t.linkat(unix.AT_FDCWD, a[0], unix.AT_FDCWD, a[1], 0) }
func sysLinkat(t *thread, a args) uint64 {
	return t.linkat(int32(a[0]), a[1], int32(a[2]), a[3], int(a[4]))
}

func (t *thread) symlinkat(targetAddr uint64, dirfd int32, pathAddr uint64) uint64 {
	target, e := t.path(targetAddr)
	if e != 0 {
		return e
	}
	// The target is stored as text; it is only ever resolved inside the root.
	return t.onName(dirfd, pathAddr, func(r resolved) unix.Errno {
		return toErrno(unix.Symlinkat(target, r.dir, r.name))
	})
}

func sysSymlink(t *thread, a args) uint64   { return t.symlinkat(a[0], unix.AT_FDCWD, a[1]) }
func sysSymlinkat(t *thread, a args) uint64 { return t.symlinkat(a[0], int32(a[1]), a[2]) }

func (t *thread) readlinkat(dirfd int32, pathAddr, bufAddr, size uint64) uint64 {
	name, e := t.path(pathAddr)
	if e != 0 {
		return e
	}
	if int64(size) <= 0 {
		return neg(unix.EINVAL)
	}
	buf, err := t.p.mem.slice(bufAddr, size)
	if err != nil {
		return neg(unix.EFAULT)
	}
	if target, ok := t.p.specialLink(name); ok {
		return uint64(copy(buf, target))
	}
	if target, ok, err := t.p.virtualReadlink(dirfd, name); ok {
		if err != nil {
			return errno(err)
		}
		return uint64(copy(buf, target))
	}
	r, err := t.p.resolve(dirfd, name, false)
	if err != nil {
		return errno(err)
	}
	defer r.close()
	n, err := unix.Readlinkat(r.dir, r.name, buf)
	if err != nil {
		return errno(err)
	}
	return uint64(n)
}

func sysReadlink(t *thread, a args) uint64 { return t.readlinkat(unix.AT_FDCWD, a[0], a[1], a[2]) }
func sysReadlinkat(t *thread, a args) uint64 {
	return t.readlinkat(int32(a[0]), a[1], a[2], a[3])
}

// onFollowed runs fn on a /proc/self/fd path naming the resolved object, for
// syscalls whose *at form cannot take an O_PATH descriptor.
func (t *thread) onFollowed(dirfd int32, pathAddr uint64, flags int, fn func(path string, r resolved, flags int) error) uint64 {
	return t.pathAt(dirfd, pathAddr, flags, func(r resolved, flags int) (uintptr, unix.Errno) {
		if r.name == "" {
			return 0, toErrno(fn(procPath(r.dir), r, flags&^unix.AT_EMPTY_PATH))
		}
		return 0, toErrno(fn("", r, flags))
	})
}

func (t *thread) fchmodat(dirfd int32, pathAddr, mode uint64) uint64 {
	return t.onFollowed(dirfd, pathAddr, 0, func(p string, r resolved, _ int) error {
		if isMemDevice(r.dir, r.name) {
			return unix.EPERM
		}
		if p != "" {
			return unix.Chmod(p, uint32(mode))
		}
		return unix.Fchmodat(r.dir, r.name, uint32(mode), 0)
	})
}

func sysChmod(t *thread, a args) uint64    { return t.fchmodat(unix.AT_FDCWD, a[0], a[1]) }
func sysFchmodat(t *thread, a args) uint64 { return t.fchmodat(int32(a[0]), a[1], a[2]) }
func sysFchmod(t *thread, a args) uint64 {
	h, err := t.p.files.host(int32(a[0]))
	if err != nil {
		return neg(unix.EBADF)
	}
	if isMemDevice(h, "") {
		return neg(unix.EPERM)
	}
	return errno(unix.Fchmod(h, uint32(a[1])))
}

func (t *thread) fchownat(dirfd int32, pathAddr, uid, gid uint64, flags int) uint64 {
	return t.pathAt(dirfd, pathAddr, flags, func(r resolved, flags int) (uintptr, unix.Errno) {
		if isMemDevice(r.dir, r.name) {
			return 0, unix.EPERM
		}
		return 0, toErrno(unix.Fchownat(r.dir, r.name, int(int32(uid)), int(int32(gid)), flags))
	})
}

func sysChown(t *thread, a args) uint64 { return t.fchownat(unix.AT_FDCWD, a[0], a[1], a[2], 0) }
func sysLchown(t *thread, a args) uint64 {
	return t.fchownat(unix.AT_FDCWD, a[0], a[1], a[2], unix.AT_SYMLINK_NOFOLLOW)
}
func sysFchownat(t *thread, a args) uint64 {
	return t.fchownat(int32(a[0]), a[1], a[2], a[3], int(a[4]))
}
func sysFchown(t *thread, a args) uint64 {
	h, err := t.p.files.host(int32(a[0]))
	if err != nil {
		return neg(unix.EBADF)
	}
	if isMemDevice(h, "") {
		return neg(unix.EPERM)
	}
	return errno(unix.Fchown(h, int(int32(a[1])), int(int32(a[2]))))
}

func sysUmask(t *thread, a args) uint64 { return uint64(unix.Umask(int(a[0] & 0o777))) }

func sysTruncate(t *thread, a args) uint64 {
	name, e := t.path(a[0])
	if e != 0 {
		return e
	}
	h, err := t.p.openAt(unix.AT_FDCWD, name, unix.O_WRONLY, 0)
	if err != nil {
		return errno(err)
	}
	defer unix.Close(h)
	return errno(unix.Ftruncate(h, int64(a[1])))
}

func fdOnly(fn func(h int, a args) error) handler {
	return func(t *thread, a args) uint64 {
		h, err := t.p.files.host(int32(a[0]))
		if err != nil {
			return neg(unix.EBADF)
		}
		return errno(fn(h, a))
	}
}

var (
	sysFtruncate = fdOnly(func(h int, a args) error { return unix.Ftruncate(h, int64(a[1])) })
	sysFsync     = fdOnly(func(h int, a args) error { return unix.Fsync(h) })
	sysFallocate = fdOnly(func(h int, a args) error { return unix.Fallocate(h, uint32(a[1]), int64(a[2]), int64(a[3])) })
	sysFadvise   = fdOnly(func(h int, a args) error { return unix.Fadvise(h, int64(a[1]), int64(a[2]), int(a[3])) })
	sysFlock     = fdOnly(func(h int, a args) error { return unix.Flock(h, int(a[1])) })
)

const sizeofStatfs = 120

func sysStatfs(t *thread, a args) uint64 {
	buf, err := t.p.mem.slice(a[1], sizeofStatfs)
	if err != nil {
		return neg(unix.EFAULT)
	}
	return t.pathAt(unix.AT_FDCWD, a[0], 0, func(r resolved, flags int) (uintptr, unix.Errno) {
		h := r.dir
		if r.name != "" {
			fd, err := unix.Openat(r.dir, r.name, unix.O_PATH|unix.O_CLOEXEC, 0)
			if err != nil {
				return 0, toErrno(err)
			}
			defer unix.Close(fd)
			h = fd
		}
		_, _, e := unix.Syscall(unix.SYS_FSTATFS, uintptr(h), ptr(buf), 0)
		return 0, e
	})
}

func sysFstatfs(t *thread, a args) uint64 {
	h, b, e := t.fdBuf(a[0], a[1], sizeofStatfs)
	if e != 0 {
		return e
	}
	_, _, en := unix.Syscall(unix.SYS_FSTATFS, uintptr(h), ptr(b), 0)
	return result(0, en)
}

func sysUtimensat(t *thread, a args) uint64 {
	dirfd, pathAddr, timesAddr, flags := int32(a[0]), a[1], a[2], int(a[3])
	var times uintptr
	if timesAddr != 0 {
		b, err := t.p.mem.slice(timesAddr, 32)
		if err != nil {
			return neg(unix.EFAULT)
		}
		times = ptr(b)
	}
	if pathAddr == 0 { // futimens
		h, err := t.p.files.host(dirfd)
		if err != nil {
			return neg(unix.EBADF)
		}
		if isMemDevice(h, "") {
			return neg(unix.EPERM)
		}
		_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(h), 0, times, 0, 0, 0)
		return result(0, e)
	}
	return t.onFollowed(dirfd, pathAddr, flags, func(p string, r resolved, flags int) error {
		if isMemDevice(r.dir, r.name) {
			return unix.EPERM
		}
		dir, name := r.dir, r.name
		if p != "" {
			dir, name = unix.AT_FDCWD, p
		}
		_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(dir), uintptr(unsafe.Pointer(cstr(name))), times, uintptr(flags), 0, 0)
		if e != 0 {
			return e
		}
		return nil
	})
}
