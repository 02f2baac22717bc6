package runtime

import (
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// fdTable maps the guest's file descriptors to host ones. Guest numbers are
// the guest's own: the monitor's KVM, vCPU and log descriptors have no guest
// number, so the guest can never name them. Every host descriptor the table
// holds is close-on-exec on the host; the guest's FD_CLOEXEC is kept here.
type fdTable struct {
	mu    sync.Mutex
	fds   []fdEntry
	limit int // RLIMIT_NOFILE soft limit
}

type fdEntry struct {
	host    int // -1: free
	cloexec bool
	sfd     *signalFD // a signalfd: host is a dup of its eventfd
}

const defaultNoFile = 1024

func newFDTable() *fdTable {
	t := &fdTable{limit: defaultNoFile}
	// The guest starts with the caller's stdio.
	for i := 0; i < 3; i++ {
		if _, err := unix.FcntlInt(uintptr(i), unix.F_GETFD, 0); err == nil {
			t.fds = append(t.fds, fdEntry{host: i})
		} else {
			t.fds = append(t.fds, fdEntry{host: -1})
		}
	}
	return t
}

// host returns the host descriptor behind guest fd.
func (t *fdTable) host(fd int32) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || int(fd) >= len(t.fds) || t.fds[fd].host < 0 {
		return -1, unix.EBADF
	}
	return t.fds[fd].host, nil
}

// install gives host descriptor h the lowest free guest number >= min.
func (t *fdTable) install(h int, cloexec bool, min int) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.installLocked(fdEntry{host: h, cloexec: cloexec}, min)
}

func (t *fdTable) installLocked(e fdEntry, min int) (int, error) {
	for i := min; i < t.limit; i++ {
		if i >= len(t.fds) {
			for len(t.fds) <= i {
				t.fds = append(t.fds, fdEntry{host: -1})
			}
		}
		if t.fds[i].host < 0 {
			t.fds[i] = e
			return i, nil
		}
	}
	return -1, unix.EMFILE
}

// installAt puts h at guest number fd, closing what was there (dup2).
func (t *fdTable) installAt(h int, fd int, cloexec bool) error {
	t.mu.Lock()
	if fd < 0 || fd >= t.limit {
		t.mu.Unlock()
		return unix.EBADF
	}
	t.replaceAndUnlock(fd, fdEntry{host: h, cloexec: cloexec})
	return nil
}

// replaceAndUnlock puts e at guest number fd (t.mu held), releases t.mu,
// then closes what fd named before.
func (t *fdTable) replaceAndUnlock(fd int, e fdEntry) {
	for len(t.fds) <= fd {
		t.fds = append(t.fds, fdEntry{host: -1})
	}
	old := t.fds[fd]
	t.fds[fd] = e
	var last *signalFD
	if old.host >= 0 {
		last = t.unref(old)
	}
	t.mu.Unlock()
	if old.host >= 0 {
		unix.Close(old.host)
	}
	last.release()
}

// remove frees guest fd and returns its host descriptor for closing.
func (t *fdTable) remove(fd int32) (int, error) {
	t.mu.Lock()
	if fd < 0 || int(fd) >= len(t.fds) || t.fds[fd].host < 0 {
		t.mu.Unlock()
		return -1, unix.EBADF
	}
	e := t.fds[fd]
	t.fds[fd] = fdEntry{host: -1}
	last := t.unref(e)
	t.mu.Unlock()
	last.release()
	return e.host, nil
}

// unref drops e's reference to its signalfd and returns the signalfd if
// that was the last, for release once t.mu is unlocked. Called with t.mu held.
func (t *fdTable) unref(e fdEntry) *signalFD {
	if e.sfd == nil {
		return nil
	}
	e.sfd.refs--
	if e.sfd.refs > 0 {
		return nil
	}
	return e.sfd
}

// signalfd returns the signalfd guest fd names, or nil.
func (t *fdTable) signalfd(fd int32) *signalFD {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || int(fd) >= len(t.fds) || t.fds[fd].host < 0 {
		return nil
	}
	return t.fds[fd].sfd
}

// installSignalfd gives a new signalfd the lowest free guest number.
func (t *fdTable) installSignalfd(sfd *signalFD, cloexec bool) (int, error) {
	h, err := unix.FcntlInt(uintptr(sfd.efd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		sfd.release()
		return -1, err
	}
	t.mu.Lock()
	fd, err := t.installLocked(fdEntry{host: h, cloexec: cloexec, sfd: sfd}, 0)
	if err == nil {
		sfd.refs++
	}
	t.mu.Unlock()
	if err != nil {
		unix.Close(h)
		sfd.release()
	}
	return fd, err
}

// dup gives a host dup of guest fd (the same open file description) the
// lowest free guest number >= min (dup, fcntl F_DUPFD).
func (t *fdTable) dup(fd int32, min int, cloexec bool) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || int(fd) >= len(t.fds) || t.fds[fd].host < 0 {
		return -1, unix.EBADF
	}
	e := t.fds[fd]
	h, err := unix.FcntlInt(uintptr(e.host), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	nfd, err := t.installLocked(fdEntry{host: h, cloexec: cloexec, sfd: e.sfd}, min)
	if err != nil {
		unix.Close(h)
		return -1, err
	}
	if e.sfd != nil {
		e.sfd.refs++
	}
	return nfd, nil
}

// dupAt puts a host dup of guest fd oldfd at newfd, closing what was there
// (dup2, dup3).
func (t *fdTable) dupAt(oldfd, newfd int32, cloexec bool) error {
	t.mu.Lock()
	if oldfd < 0 || int(oldfd) >= len(t.fds) || t.fds[oldfd].host < 0 {
		t.mu.Unlock()
		return unix.EBADF
	}
	if newfd < 0 || int(newfd) >= t.limit {
		t.mu.Unlock()
		return unix.EBADF
	}
	e := t.fds[oldfd]
	h, err := unix.FcntlInt(uintptr(e.host), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.mu.Unlock()
		return err
	}
	if e.sfd != nil {
		e.sfd.refs++
	}
	t.replaceAndUnlock(int(newfd), fdEntry{host: h, cloexec: cloexec, sfd: e.sfd})
	return nil
}

func (t *fdTable) cloexec(fd int32) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || int(fd) >= len(t.fds) || t.fds[fd].host < 0 {
		return false, unix.EBADF
	}
	return t.fds[fd].cloexec, nil
}

func (t *fdTable) setCloexec(fd int32, on bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || int(fd) >= len(t.fds) || t.fds[fd].host < 0 {
		return unix.EBADF
	}
	t.fds[fd].cloexec = on
	return nil
}

// name is the host path behind guest fd, for /proc/self/maps.
func (t *fdTable) name(fd int32) string {
	h, err := t.host(fd)
	if err != nil {
		return ""
	}
	s, err := readlinkString("/proc/self/fd/" + strconv.Itoa(h))
	if err != nil {
		return ""
	}
	return s
}

func readlinkString(path string) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Readlink(path, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// closeAll closes every host descriptor the guest holds, except the
// caller's own stdio the guest started with.
func (t *fdTable) closeAll() {
	t.mu.Lock()
	var last []*signalFD
	for i, e := range t.fds {
		if e.host > 2 {
			unix.Close(e.host)
		}
		if e.host >= 0 {
			if s := t.unref(e); s != nil {
				last = append(last, s)
			}
		}
		t.fds[i] = fdEntry{host: -1}
	}
	t.mu.Unlock()
	for _, s := range last {
		s.release()
	}
}

// closeOnExec closes the descriptors marked close-on-exec (execve).
func (t *fdTable) closeOnExec() {
	t.mu.Lock()
	var hosts []int
	var last []*signalFD
	for i, e := range t.fds {
		if e.host >= 0 && e.cloexec {
			hosts = append(hosts, e.host)
			if s := t.unref(e); s != nil {
				last = append(last, s)
			}
			t.fds[i] = fdEntry{host: -1}
		}
	}
	t.mu.Unlock()
	for _, h := range hosts {
		unix.Close(h)
	}
	for _, s := range last {
		s.release()
	}
}
