package runtime

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// fsState is the guest's view of the file system: its root and cwd.
//
// With a root directory, every guest path is resolved by the host kernel with
// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) against an O_PATH handle
// of the root: "..", absolute symlinks and symlink chains all stay inside it,
// and /proc magic links (/proc/self/root, /proc/PID/fd/N) cannot be used to
// step out. Without one, paths go to the host unchanged, as for any process.
type fsState struct {
	root   string // host path of the guest root; "" when unconfined
	rootFD int

	mu  sync.Mutex
	cwd string // guest path of the working directory (confined mode)

	v virtualFS // the emulated /proc and /dev (procfs.go)

	// ownMounts: the monitor has a mount namespace of its own (a
	// container's, holding its mounts), so the guest's mount lists show
	// the mounts below the root (mounttab.go).
	ownMounts bool
}

const resolveInRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

func newFSState(root, cwd string) (*fsState, error) {
	fs := &fsState{rootFD: -1}
	if root == "" {
		if cwd != "" {
			if err := os.Chdir(cwd); err != nil {
				return nil, fmt.Errorf("working directory %s: %w", cwd, err)
			}
		}
		return fs, nil
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, fmt.Errorf("root %s: %w", root, err)
	}
	fd, err := unix.Open(abs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", root, err)
	}
	fs.root, fs.rootFD, fs.cwd = abs, fd, "/"
	if cwd != "" {
		c := path.Clean("/" + cwd)
		dfd, err := unix.Openat2(fd, c, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: resolveInRoot})
		if err != nil {
			return nil, fmt.Errorf("working directory %s inside root %s: %w", cwd, root, err)
		}
		fs.cwd, err = fs.guestPathOfHost(dfd)
		unix.Close(dfd)
		if err != nil {
			return nil, err
		}
	}
	return fs, nil
}

func (fs *fsState) confined() bool { return fs.root != "" }

func (fs *fsState) cwdPath() string {
	if !fs.confined() {
		wd, _ := os.Getwd()
		return wd
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.cwd
}

// guestPathOfHost maps an open host descriptor to its guest path.
func (fs *fsState) guestPathOfHost(h int) (string, error) {
	if d, ok := fs.v.dirOf(h); ok { // a synthetic /proc directory
		return d, nil
	}
	link, err := readlinkString("/proc/self/fd/" + strconv.Itoa(h))
	if err != nil {
		return "", err
	}
	if !fs.confined() {
		return link, nil
	}
	if link == fs.root {
		return "/", nil
	}
	if rest, ok := strings.CutPrefix(link, fs.root+"/"); ok {
		return "/" + rest, nil
	}
	if fs.root == "/" {
		return link, nil
	}
	return "", unix.ENOENT // a descriptor from outside the root
}

// guestAbs makes a guest path absolute against dirfd (confined mode).
func (p *process) guestAbs(dirfd int32, name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return name, nil
	}
	if dirfd == unix.AT_FDCWD {
		return path.Join(p.fs.cwdPath(), name), nil
	}
	h, err := p.files.host(dirfd)
	if err != nil {
		return "", err
	}
	if d, ok := p.fs.v.dirOf(h); ok {
		return path.Join(d, name), nil
	}
	base, err := p.fs.guestPathOfHost(h)
	if err != nil {
		return "", unix.ENOTDIR
	}
	return path.Join(base, name), nil
}

// openFlagsMask are the open(2) flags openat2 accepts; others are dropped,
// as open(2) ignores unknown bits.
const openFlagsMask = unix.O_ACCMODE | unix.O_CREAT | unix.O_EXCL | unix.O_NOCTTY | unix.O_TRUNC | unix.O_APPEND |
	unix.O_NONBLOCK | unix.O_DSYNC | unix.O_ASYNC | unix.O_DIRECT | unix.O_LARGEFILE | unix.O_DIRECTORY |
	unix.O_NOFOLLOW | unix.O_NOATIME | unix.O_CLOEXEC | unix.O_SYNC | unix.O_PATH | unix.O_TMPFILE

// openAt opens a guest path and returns a host descriptor (close-on-exec on
// the host).
func (p *process) openAt(dirfd int32, name string, flags int, mode uint32) (int, error) {
	flags = flags&openFlagsMask | unix.O_CLOEXEC
	if flags&(unix.O_CREAT|unix.O_TMPFILE) == 0 {
		mode = 0
	}
	mode &= 0o7777
	if abs, ok := p.virtualAbs(dirfd, name); ok {
		return p.openVirtual(abs, flags, mode)
	}
	if !p.fs.confined() {
		dir := unix.AT_FDCWD
		if dirfd != unix.AT_FDCWD && !strings.HasPrefix(name, "/") {
			h, err := p.files.host(dirfd)
			if err != nil {
				return -1, err
			}
			dir = h
		}
		return unix.Openat(dir, name, flags, mode)
	}
	if name == "" {
		return -1, unix.ENOENT
	}
	abs, err := p.guestAbs(dirfd, name)
	if err != nil {
		return -1, err
	}
	for {
		fd, err := unix.Openat2(p.fs.rootFD, abs, &unix.OpenHow{Flags: uint64(flags), Mode: uint64(mode), Resolve: resolveInRoot})
		if err == unix.EAGAIN || err == unix.EINTR { // a rename raced the lookup
			continue
		}
		if err == nil && onProc(fd) { // a procfs inside the root: the host's /proc, never the guest's
			unix.Close(fd)
			return -1, unix.EACCES
		}
		return fd, err
	}
}

// resolved is a (directory, name) pair for a host *at syscall.
type resolved struct {
	dir   int
	name  string
	owned bool // dir was opened for this call
}

func (r resolved) close() {
	if r.owned {
		unix.Close(r.dir)
	}
}

// atFlags adds AT_EMPTY_PATH when the pair names the directory itself.
func (r resolved) atFlags(flags int) int {
	if r.name == "" {
		return flags | unix.AT_EMPTY_PATH
	}
	return flags
}

// resolve turns a guest (dirfd, path) into a host (dir, name) pair for
// syscalls that are not open: follow says whether a symlink in the last
// component is followed. Confined, the final object (follow) or its parent
// (no follow) is opened inside the root, so the host syscall only ever sees
// a name without slashes relative to a directory already inside the root.
func (p *process) resolve(dirfd int32, name string, follow bool) (resolved, error) {
	if abs, ok := p.virtualAbs(dirfd, name); ok {
		return p.resolveVirtual(abs, follow)
	}
	if !p.fs.confined() {
		if dirfd == unix.AT_FDCWD || strings.HasPrefix(name, "/") {
			return resolved{dir: unix.AT_FDCWD, name: name}, nil
		}
		h, err := p.files.host(dirfd)
		return resolved{dir: h, name: name}, err
	}
	if name == "" {
		return resolved{}, unix.ENOENT
	}
	abs, err := p.guestAbs(dirfd, name)
	if err != nil {
		return resolved{}, err
	}
	dir, last := path.Split(abs)
	if last == "" || last == "." || last == ".." || strings.HasSuffix(name, "/") {
		follow = true
	}
	target, flags := dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC
	if follow {
		target, flags = abs, unix.O_PATH|unix.O_CLOEXEC
	}
	fd, err := unix.Openat2(p.fs.rootFD, target, &unix.OpenHow{Flags: uint64(flags), Resolve: resolveInRoot})
	if err != nil {
		return resolved{}, err
	}
	if onProc(fd) {
		unix.Close(fd)
		return resolved{}, unix.EACCES
	}
	if follow {
		return resolved{dir: fd, owned: true}, nil
	}
	return resolved{dir: fd, name: last, owned: true}, nil
}

// procPath names an O_PATH descriptor for syscalls with no *at form taking
// AT_EMPTY_PATH (chmod, truncate, utimes): the kernel follows the
// /proc/self/fd link to exactly that file.
func procPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }
