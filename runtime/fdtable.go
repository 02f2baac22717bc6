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
	for i := min; i < t.limit; i++ {
		if i >= len(t.fds) {
			for len(t.fds) <= i {
				t.fds = append(t.fds, fdEntry{host: -1})
			}
		}
		if t.fds[i].host < 0 {
			t.fds[i] = fdEntry{host: h, cloexec: cloexec}
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
	for len(t.fds) <= fd {
		t.fds = append(t.fds, fdEntry{host: -1})
	}
	old := t.fds[fd].host
	t.fds[fd] = fdEntry{host: h, cloexec: cloexec}
	t.mu.Unlock()
	if old >= 0 {
		unix.Close(old)
	}
	return nil
}

// remove frees guest fd and returns its host descriptor for closing.
func (t *fdTable) remove(fd int32) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || int(fd) >= len(t.fds) || t.fds[fd].host < 0 {
		return -1, unix.EBADF
	}
	h := t.fds[fd].host
	t.fds[fd] = fdEntry{host: -1}
	return h, nil
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
	defer t.mu.Unlock()
	for i, e := range t.fds {
		if e.host > 2 {
			unix.Close(e.host)
		}
		t.fds[i].host = -1
	}
}

// closeOnExec closes the descriptors marked close-on-exec (execve).
func (t *fdTable) closeOnExec() {
	t.mu.Lock()
	var hosts []int
	for i, e := range t.fds {
		if e.host >= 0 && e.cloexec {
			hosts = append(hosts, e.host)
			t.fds[i] = fdEntry{host: -1}
		}
	}
	t.mu.Unlock()
	for _, h := range hosts {
		unix.Close(h)
	}
}
