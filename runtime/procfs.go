package runtime

// The emulated /proc and the few /dev nodes every program expects.
//
// Paths under /proc never reach the host's procfs: the whole tree is
// synthesised here from the monitor's own state (the guest's fd table,
// address-space map, argv and environment), and host files are only copied
// (cpuinfo, meminfo), or filtered (the mount lists: mounttab.go). The host's /proc/<monitor pid> would expose the
// monitor's memory and descriptors (KVM, vCPUs), so opens that land on a
// procfs anywhere inside the guest root are refused as well (fs.go).
//
// /dev/null, /dev/zero, /dev/full, /dev/random and /dev/urandom open the
// host's device nodes, whatever the root holds; /dev/shm is the root's own
// directory when it has one, else a private directory of this VM;
// /dev/fd, /dev/stdin, /dev/stdout and /dev/stderr are links into /proc/self.
//
// Synthetic files are sealed memfds holding their content as of the open.
// Synthetic directories are descriptors of one empty, already removed host
// directory (fstat says "directory", nothing can be created in it, lookups
// in it fail); the monitor remembers which directory each such descriptor
// stands for and serves getdents64 and *at lookups relative to it.

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Kinds of virtual nodes.
const (
	vDir = iota
	vFile
	vLink
	vDev
	vShm
)

// vnode is one name in the virtual tree.
type vnode struct {
	kind    int
	path    string          // canonical guest path
	entries func() []string // vDir: names in it
	gen     func() []byte   // vFile: content
	target  string          // vLink: link text
	fd      int32           // vLink into /proc/self/fd: the guest fd, else -1
	host    string          // vDev: host device path
	rest    string          // vShm: path inside /dev/shm ("" for the directory)
}

// maxLinkHops bounds link following inside the virtual tree, like ELOOP.
const maxLinkHops = 8

// procMagic is PROC_SUPER_MAGIC (statfs f_type of a procfs).
const procMagic = 0x9fa0

// Host device nodes the guest may open by name. The terminal nodes are the
// monitor's own: in a container, the container's /dev/pts.
var devNodes = map[string]string{
	"/dev/null": "/dev/null", "/dev/zero": "/dev/zero", "/dev/full": "/dev/full",
	"/dev/random": "/dev/random", "/dev/urandom": "/dev/urandom",
	"/dev/tty": "/dev/tty", "/dev/ptmx": "/dev/ptmx",
}

// ptyNode maps /dev/pts/N (a pseudo-terminal the guest opened through
// /dev/ptmx) to the host's node.
func ptyNode(abs string) (string, bool) {
	n, ok := strings.CutPrefix(abs, "/dev/pts/")
	if !ok || n == "" || len(n) > 9 {
		return "", false
	}
	for _, c := range n {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return abs, true
}

// Links in /dev to /proc/self.
var devLinks = map[string]string{
	"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0",
	"/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2",
}

// Host /proc files copied into the guest's /proc as they are.
var procPassthrough = []string{"cpuinfo", "meminfo", "uptime", "loadavg", "version", "stat", "filesystems"}

// virtualFS is the per-process state of the emulation.
type virtualFS struct {
	mu       sync.Mutex
	emptyFD  int    // descriptor of the removed empty directory; -1 until first use
	emptyIno uint64 // its inode, to recognise descriptors of it
	dirs     map[int]*vdirState
	shmDir   string // private /dev/shm (host path), "" until first use
	shmFD    int
	cwd      string // unconfined: the synthetic directory the guest chdir'ed into, or ""
}

// setCwd records, for an unconfined guest that changed directory to host
// descriptor h, whether that is a synthetic directory.
func (v *virtualFS) setCwd(h int) {
	d, _ := v.dirOf(h)
	v.mu.Lock()
	v.cwd = d
	v.mu.Unlock()
}

// vdirState is what the monitor knows about one synthetic-directory
// descriptor: which directory it is and how far getdents64 has read.
type vdirState struct {
	path string
	pos  int
}

// isVirtual reports whether a clean absolute guest path is emulated.
func isVirtual(abs string) bool {
	if abs == "/proc" || strings.HasPrefix(abs, "/proc/") || abs == "/dev/shm" || strings.HasPrefix(abs, "/dev/shm/") ||
		strings.HasPrefix(abs, "/dev/fd/") {
		return true
	}
	_, dev := devNodes[abs]
	_, link := devLinks[abs]
	_, pty := ptyNode(abs)
	return dev || link || pty
}

// virtualAbs returns the clean absolute guest path of (dirfd, name) when it
// falls in the emulated tree. It costs a map lookup for ordinary paths.
func (p *process) virtualAbs(dirfd int32, name string) (string, bool) {
	if name == "" {
		return "", false
	}
	var abs string
	switch {
	case name[0] == '/':
		abs = path.Clean(name)
	case dirfd == unix.AT_FDCWD:
		if !p.fs.confined() {
			p.fs.v.mu.Lock()
			cwd := p.fs.v.cwd
			p.fs.v.mu.Unlock()
			if cwd == "" {
				return "", false // the host cwd: /proc is reached by absolute names
			}
			abs = path.Join(cwd, name)
		} else {
			abs = path.Join(p.fs.cwdPath(), name)
		}
	default:
		h, err := p.files.host(dirfd)
		if err != nil {
			return "", false
		}
		dir, ok := p.fs.v.dirOf(h)
		if !ok {
			return "", false
		}
		abs = path.Join(dir, name)
	}
	return abs, isVirtual(abs)
}

// dirOf returns the guest path of a synthetic-directory host descriptor.
func (v *virtualFS) dirOf(h int) (string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	d, ok := v.dirs[h]
	if !ok {
		return "", false
	}
	var st unix.Stat_t
	if unix.Fstat(h, &st) != nil || st.Ino != v.emptyIno {
		delete(v.dirs, h) // the number now names something else
		return "", false
	}
	return d.path, true
}

// openDir returns a new descriptor standing for synthetic directory dir.
func (v *virtualFS) openDir(dir string) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.dirs == nil {
		tmp, err := os.MkdirTemp("", "km-vdir-")
		if err != nil {
			return -1, unix.ENOMEM
		}
		fd, err := unix.Open(tmp, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		os.Remove(tmp)
		if err != nil {
			return -1, err
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, err
		}
		v.emptyFD, v.emptyIno, v.dirs = fd, st.Ino, map[int]*vdirState{}
	}
	h, err := unix.FcntlInt(uintptr(v.emptyFD), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	v.dirs[h] = &vdirState{path: dir}
	return h, nil
}

// shm returns the host directory descriptor behind the guest's /dev/shm.
func (p *process) shm() (int, error) {
	v := &p.fs.v
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.shmDir != "" {
		return v.shmFD, nil
	}
	if p.fs.confined() {
		// The root's own /dev/shm, when it has one.
		fd, err := unix.Openat2(p.fs.rootFD, "/dev/shm", &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: resolveInRoot})
		if err == nil {
			if onProc(fd) {
				unix.Close(fd)
				return -1, unix.EACCES
			}
			v.shmDir, v.shmFD = "root", fd
			return fd, nil
		}
	} else if fd, err := unix.Open("/dev/shm", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
		v.shmDir, v.shmFD = "host", fd
		return fd, nil
	}
	dir, err := os.MkdirTemp("", "km-shm-")
	if err != nil {
		return -1, unix.ENOSPC
	}
	os.Chmod(dir, 0o1777)
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		os.RemoveAll(dir)
		return -1, err
	}
	v.shmDir, v.shmFD = dir, fd
	return fd, nil
}

// removeShm deletes the private /dev/shm directory, if one was made.
func (v *virtualFS) removeShm() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.shmDir != "" && v.shmDir != "root" && v.shmDir != "host" {
		os.RemoveAll(v.shmDir)
	}
}

// close releases the emulation's descriptors and the private /dev/shm.
func (v *virtualFS) close() {
	v.removeShm()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.dirs != nil {
		unix.Close(v.emptyFD)
	}
	if v.shmDir != "" {
		unix.Close(v.shmFD)
	}
}

// onProc reports whether host descriptor fd is on a procfs.
func onProc(fd int) bool {
	var st unix.Statfs_t
	return unix.Fstatfs(fd, &st) == nil && st.Type == procMagic
}

// lookup finds the node for a clean absolute virtual path without following
// a link in the last component; links in earlier components are followed.
func (p *process) lookup(abs string, hops int) (vnode, error) {
	if hops > maxLinkHops {
		return vnode{}, unix.ELOOP
	}
	h, ok := devNodes[abs]
	if !ok {
		h, ok = ptyNode(abs)
	}
	if ok {
		return vnode{kind: vDev, path: abs, host: h, fd: -1}, nil
	}
	if t, ok := devLinks[abs]; ok {
		return vnode{kind: vLink, path: abs, target: t, fd: -1}, nil
	}
	if abs == "/dev/shm" || strings.HasPrefix(abs, "/dev/shm/") {
		return vnode{kind: vShm, path: abs, rest: strings.TrimPrefix(strings.TrimPrefix(abs, "/dev/shm"), "/"), fd: -1}, nil
	}
	if rest, ok := strings.CutPrefix(abs, "/dev/fd/"); ok {
		return p.lookup("/proc/self/fd/"+rest, hops+1)
	}
	parts := strings.Split(strings.TrimPrefix(abs, "/"), "/")
	if parts[0] != "proc" {
		return vnode{}, unix.ENOENT
	}
	n := p.procRoot()
	for i, name := range parts[1:] {
		if n.kind == vLink {
			// A link in the middle of the path: continue from its target.
			t := n.target
			if !path.IsAbs(t) {
				t = path.Join(path.Dir(n.path), t)
			}
			joined := path.Join(append([]string{t}, parts[i+1:]...)...)
			if !isVirtual(joined) {
				// Out of the virtual tree (/proc/self/cwd/x): a link to the real path.
				return vnode{kind: vLink, path: abs, target: joined, fd: -1}, nil
			}
			return p.lookup(joined, hops+1)
		}
		if n.kind != vDir {
			return vnode{}, unix.ENOTDIR
		}
		next, ok := p.child(n, name)
		if !ok {
			return vnode{}, unix.ENOENT
		}
		n = next
	}
	return n, nil
}

// follow resolves links until the node is not a link. A link whose target
// is outside the virtual tree comes back as a vLink with that target.
func (p *process) follow(n vnode) (vnode, error) {
	for hops := 0; n.kind == vLink; hops++ {
		if hops > maxLinkHops {
			return vnode{}, unix.ELOOP
		}
		if n.fd >= 0 {
			return n, nil // a descriptor link: the caller reopens the descriptor
		}
		t := n.target
		if !path.IsAbs(t) {
			t = path.Join(path.Dir(n.path), t)
		}
		if !isVirtual(t) {
			return vnode{kind: vLink, path: n.path, target: t, fd: -1}, nil
		}
		var err error
		if n, err = p.lookup(t, hops); err != nil {
			return vnode{}, err
		}
	}
	return n, nil
}

func (p *process) procRoot() vnode {
	pid := strconv.Itoa(p.pid)
	return vnode{kind: vDir, path: "/proc", fd: -1, entries: func() []string {
		return append([]string{"self", "thread-self", pid, "mounts"}, procPassthrough...)
	}}
}

// Names in /proc/<pid>.
var pidEntries = []string{"cgroup", "cmdline", "comm", "cwd", "environ", "exe", "fd", "maps", "mountinfo", "mounts", "root", "stat", "status"}

func (p *process) child(dir vnode, name string) (vnode, bool) {
	pid := strconv.Itoa(p.pid)
	at := path.Join(dir.path, name)
	link := func(t string) (vnode, bool) { return vnode{kind: vLink, path: at, target: t, fd: -1}, true }
	file := func(gen func() []byte) (vnode, bool) { return vnode{kind: vFile, path: at, gen: gen, fd: -1}, true }
	switch dir.path {
	case "/proc":
		switch name {
		case "self":
			return link(pid)
		case "thread-self":
			return link(pid)
		case "mounts":
			return link("self/mounts") // as Linux has it
		case pid:
			return vnode{kind: vDir, path: at, fd: -1, entries: func() []string { return pidEntries }}, true
		}
		for _, f := range procPassthrough {
			if name == f {
				return file(func() []byte { b, _ := os.ReadFile("/proc/" + f); return b })
			}
		}
	case "/proc/" + pid:
		switch name {
		case "exe":
			return link(p.exe)
		case "cwd":
			return link(p.fs.cwdPath())
		case "root":
			return link("/")
		case "fd":
			return vnode{kind: vDir, path: at, fd: -1, entries: p.fdNames}, true
		case "maps":
			return file(p.procMaps)
		case "cmdline":
			return file(func() []byte { return nulJoin(p.guestArgs()) })
		case "environ":
			return file(func() []byte { return nulJoin(p.cfg.Env) })
		case "comm":
			return file(func() []byte { return []byte(p.comm() + "\n") })
		case "status":
			return file(p.procStatus)
		case "stat":
			return file(p.procStat)
		case "cgroup":
			// The monitor's: the container's cgroup, as a container
			// without a cgroup namespace sees it (runc on cgroup v1).
			return file(func() []byte { b, _ := os.ReadFile("/proc/self/cgroup"); return b })
		case "mountinfo":
			return file(func() []byte { return p.mountTable(true) })
		case "mounts":
			return file(func() []byte { return p.mountTable(false) })
		}
	case "/proc/" + pid + "/fd":
		n, err := strconv.Atoi(name)
		if err != nil || n < 0 || n > math.MaxInt32 || strconv.Itoa(n) != name {
			return vnode{}, false
		}
		h, err := p.files.host(int32(n))
		if err != nil {
			return vnode{}, false
		}
		target := p.fdTarget(h)
		if p.files.signalfd(int32(n)) != nil {
			target = "anon_inode:[signalfd]" // the host sees its eventfd
		}
		return vnode{kind: vLink, path: at, target: target, fd: int32(n)}, true
	}
	return vnode{}, false
}

func nulJoin(list []string) []byte {
	var b bytes.Buffer
	for _, s := range list {
		b.WriteString(s)
		b.WriteByte(0)
	}
	return b.Bytes()
}

func (p *process) guestArgs() []string {
	if len(p.cfg.Args) == 0 {
		return []string{p.cfg.Program}
	}
	return p.cfg.Args
}

func (p *process) comm() string {
	name := path.Base(p.exe)
	if len(name) > 15 {
		name = name[:15]
	}
	return name
}

// fdNames lists the guest's open descriptors.
func (p *process) fdNames() []string {
	t := p.files
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for i, e := range t.fds {
		if e.host >= 0 {
			out = append(out, strconv.Itoa(i))
		}
	}
	return out
}

// fdTarget is what readlink of /proc/self/fd/N shows: the guest path of a
// file inside the root, the host's text for pipes, sockets and the like.
func (p *process) fdTarget(h int) string {
	if d, ok := p.fs.v.dirOf(h); ok {
		return d
	}
	link, err := readlinkString("/proc/self/fd/" + strconv.Itoa(h))
	if err != nil {
		return ""
	}
	return p.guestName(link)
}

// guestName turns a host path into the guest's name for it.
func (p *process) guestName(host string) string {
	if !p.fs.confined() || !strings.HasPrefix(host, "/") {
		return host
	}
	if host == p.fs.root {
		return "/"
	}
	if rest, ok := strings.CutPrefix(host, p.fs.root+"/"); ok {
		return "/" + rest
	}
	return host
}

// procMaps renders the address-space map in /proc/<pid>/maps format.
func (p *process) procMaps() []byte {
	as := p.as
	as.mu.Lock()
	maps := append([]mapping(nil), as.maps...)
	heapLo, heapHi := as.brkStart, alignUp(as.brk, pageSize)
	as.mu.Unlock()
	if heapHi > heapLo {
		maps = append(maps, mapping{start: heapLo, end: heapHi, prot: unix.PROT_READ | unix.PROT_WRITE, name: "[heap]"})
		sort.Slice(maps, func(i, j int) bool { return maps[i].start < maps[j].start })
	}
	var b bytes.Buffer
	for _, m := range maps {
		perm := []byte("---p")
		if m.prot&unix.PROT_READ != 0 {
			perm[0] = 'r'
		}
		if m.prot&unix.PROT_WRITE != 0 {
			perm[1] = 'w'
		}
		if m.prot&unix.PROT_EXEC != 0 {
			perm[2] = 'x'
		}
		if m.flags&mapTypeMask == mapShared || m.flags&mapTypeMask == mapSharedValidate {
			perm[3] = 's'
		}
		off := uint64(0) // anonymous memory and the loaded images show 0
		if m.fileBacked {
			off = m.offset
		}
		line := fmt.Sprintf("%08x-%08x %s %08x 00:00 0", m.start, m.end, perm, off)
		if name := p.guestName(m.name); name != "" {
			// The kernel pads the name to column 73.
			line = fmt.Sprintf("%-72s %s", line, name)
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func (p *process) threadCount() int {
	p.threadsMu.Lock()
	defer p.threadsMu.Unlock()
	return max(1, len(p.threads))
}

func (p *process) procStatus() []byte {
	umask := unix.Umask(0)
	unix.Umask(umask)
	var vm uint64
	p.as.mu.Lock()
	for _, m := range p.as.maps {
		vm += m.end - m.start
	}
	vm += alignUp(p.as.brk, pageSize) - p.as.brkStart
	p.as.mu.Unlock()
	uid, gid := os.Getuid(), os.Getgid()
	return []byte(fmt.Sprintf("Name:\t%s\nUmask:\t%04o\nState:\tR (running)\nTgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\nTracerPid:\t0\n"+
		"Uid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\nFDSize:\t%d\nGroups:\t\nVmSize:\t%8d kB\nThreads:\t%d\n"+
		"SigQ:\t0/0\n%sSeccomp:\t%d\nSeccomp_filters:\t%d\nCpus_allowed_list:\t0-%d\n",
		p.comm(), umask, p.pid, p.pid, os.Getppid(), uid, uid, uid, uid, gid, gid, gid, gid,
		p.files.limit, vm>>10, p.threadCount(), capStatus(), p.seccompMode(), p.seccompMode()/seccompModeFilter,
		max(0, numCPU()-1)))
}

// capStatus is status's capability lines and NoNewPrivs: the monitor's,
// which are the guest's (cmd/km applies the container's sets to it).
func capStatus() string {
	h := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var d [2]unix.CapUserData
	if unix.Capget(&h, &d[0]) != nil {
		return ""
	}
	set := func(f func(unix.CapUserData) uint32) uint64 { return uint64(f(d[1]))<<32 | uint64(f(d[0])) }
	var bnd, amb uint64
	for nr := 0; nr < 64; nr++ {
		r, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_READ, uintptr(nr), 0)
		if e != 0 {
			break // past the kernel's last capability
		}
		if r == 1 {
			bnd |= 1 << nr
		}
		if r, _, _ := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_IS_SET, uintptr(nr), 0, 0, 0); r == 1 {
			amb |= 1 << nr
		}
	}
	nnp, _, _ := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_GET_NO_NEW_PRIVS, 0, 0)
	return fmt.Sprintf("CapInh:\t%016x\nCapPrm:\t%016x\nCapEff:\t%016x\nCapBnd:\t%016x\nCapAmb:\t%016x\nNoNewPrivs:\t%d\n",
		set(func(c unix.CapUserData) uint32 { return c.Inheritable }), set(func(c unix.CapUserData) uint32 { return c.Permitted }),
		set(func(c unix.CapUserData) uint32 { return c.Effective }), bnd, amb, nnp)
}

func numCPU() int {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) != nil {
		return 1
	}
	return set.Count()
}

// procStat is /proc/<pid>/stat: the fields programs parse (pid, comm, state,
// ppid, threads, vsize); the rest are zero.
func (p *process) procStat() []byte {
	f := make([]string, 52)
	for i := range f {
		f[i] = "0"
	}
	f[0], f[1], f[2], f[3] = strconv.Itoa(p.pid), "("+p.comm()+")", "R", strconv.Itoa(os.Getppid())
	f[4], f[5] = strconv.Itoa(p.pid), strconv.Itoa(p.pid) // pgrp, session
	f[19] = strconv.Itoa(p.threadCount())
	return []byte(strings.Join(f, " ") + "\n")
}

// memfdWith returns a read-only, sealed memfd holding b.
func memfdWith(name string, b []byte) (int, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, err
	}
	for off := 0; off < len(b); {
		n, err := unix.Pwrite(fd, b[off:], int64(off))
		if err != nil {
			unix.Close(fd)
			return -1, err
		}
		off += n
	}
	unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE)
	// Reopen read-only so the guest's descriptor has the access mode it asked for.
	ro, err := unix.Open(procPath(fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	unix.Close(fd)
	return ro, err
}

// openVirtual opens a virtual path for the guest.
func (p *process) openVirtual(abs string, flags int, mode uint32) (int, error) {
	n, err := p.lookup(abs, 0)
	if err != nil {
		return -1, err
	}
	if n.kind == vLink && flags&unix.O_NOFOLLOW != 0 && flags&unix.O_PATH == 0 {
		return -1, unix.ELOOP
	}
	if n.kind == vLink && flags&unix.O_NOFOLLOW == 0 {
		if n, err = p.follow(n); err != nil {
			return -1, err
		}
	}
	acc := flags & unix.O_ACCMODE
	switch n.kind {
	case vDev:
		return unix.Open(n.host, flags&(unix.O_ACCMODE|unix.O_NONBLOCK|unix.O_PATH)|unix.O_CLOEXEC, 0)
	case vShm:
		dir, err := p.shm()
		if err != nil {
			return -1, err
		}
		if n.rest == "" {
			return unix.Openat(dir, ".", flags&openFlagsMask|unix.O_CLOEXEC, 0)
		}
		if strings.Contains(n.rest, "/") {
			return -1, unix.ENOENT // POSIX shared memory names are flat
		}
		return unix.Openat(dir, n.rest, flags&openFlagsMask|unix.O_CLOEXEC|unix.O_NOFOLLOW, mode&0o7777)
	case vLink:
		if n.fd >= 0 {
			return p.reopenFD(n.fd, flags)
		}
		return p.openAt(unix.AT_FDCWD, n.target, flags, mode) // a real file (/proc/self/exe)
	}
	if flags&(unix.O_CREAT|unix.O_TRUNC) != 0 || acc != unix.O_RDONLY {
		if n.kind == vDir {
			return -1, unix.EISDIR
		}
		return -1, unix.EACCES
	}
	if n.kind == vDir {
		return p.fs.v.openDir(n.path)
	}
	if flags&unix.O_DIRECTORY != 0 {
		return -1, unix.ENOTDIR
	}
	return memfdWith(path.Base(n.path), n.gen())
}

// reopenFD opens the object behind guest fd again, as open of
// /proc/self/fd/N does: a new open file description.
func (p *process) reopenFD(fd int32, flags int) (int, error) {
	h, err := p.files.host(fd)
	if err != nil {
		return -1, unix.ENOENT
	}
	if d, ok := p.fs.v.dirOf(h); ok {
		return p.fs.v.openDir(d)
	}
	return unix.Open(procPath(h), flags&(openFlagsMask&^(unix.O_CREAT|unix.O_EXCL|unix.O_TMPFILE))|unix.O_CLOEXEC, 0)
}

// resolveVirtual gives the path-based syscalls (stat, access, ...) a host
// object standing for a virtual path. Links are always followed, except
// that a link whose target cannot be found still resolves (to itself, as a
// directory-less name), so lstat of /proc/self/fd/N works for pipes.
func (p *process) resolveVirtual(abs string, follow bool) (resolved, error) {
	n, err := p.lookup(abs, 0)
	if err != nil {
		return resolved{}, err
	}
	if n.kind == vShm && n.rest != "" && !strings.Contains(n.rest, "/") {
		dir, err := p.shm()
		if err != nil {
			return resolved{}, err
		}
		if !follow {
			return resolved{dir: dir, name: n.rest}, nil
		}
		fd, err := unix.Openat(dir, n.rest, unix.O_PATH|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		return resolved{dir: fd, owned: true}, err
	}
	fd, err := p.openVirtual(abs, unix.O_PATH, 0)
	if err != nil {
		return resolved{}, err
	}
	return resolved{dir: fd, owned: true}, nil
}

// virtualReadlink answers readlink for virtual paths; ok is false for paths
// outside the virtual tree.
func (p *process) virtualReadlink(dirfd int32, name string) (string, bool, error) {
	abs, ok := p.virtualAbs(dirfd, name)
	if !ok {
		return "", false, nil
	}
	n, err := p.lookup(abs, 0)
	if err != nil {
		return "", true, err
	}
	if n.kind != vLink {
		return "", true, unix.EINVAL
	}
	return n.target, true, nil
}

// virtualGetdents serves getdents64 on a synthetic directory; ok is false
// for any other descriptor.
func (p *process) virtualGetdents(h int, buf []byte) (uint64, bool) {
	dir, ok := p.fs.v.dirOf(h)
	if !ok {
		return 0, false
	}
	n, err := p.lookup(dir, 0)
	if err != nil || n.kind != vDir {
		return 0, true
	}
	names := append([]string{".", ".."}, n.entries()...)
	types := make([]byte, len(names))
	for i, name := range names {
		types[i] = unix.DT_DIR
		if i >= 2 {
			if c, ok := p.child(n, name); ok && c.kind == vLink {
				types[i] = unix.DT_LNK
			} else if ok && c.kind == vFile {
				types[i] = unix.DT_REG
			}
		}
	}
	v := &p.fs.v
	v.mu.Lock()
	defer v.mu.Unlock()
	st := v.dirs[h]
	if st == nil {
		return 0, true
	}
	out := 0
	for st.pos < len(names) {
		name := names[st.pos]
		reclen := alignUp(uint64(19+len(name)+1), 8)
		if out+int(reclen) > len(buf) {
			if out == 0 {
				return neg(unix.EINVAL), true
			}
			break
		}
		rec := buf[out : out+int(reclen)]
		clear(rec)
		le.PutUint64(rec[0:], uint64(st.pos+1)) // d_ino: any non-zero value
		le.PutUint64(rec[8:], uint64(st.pos+1)) // d_off: the cookie of the next entry
		le.PutUint16(rec[16:], uint16(reclen))
		rec[18] = types[st.pos]
		copy(rec[19:], name)
		out += int(reclen)
		st.pos++
	}
	return uint64(out), true
}

// virtualSeek handles lseek on synthetic directories (rewinddir).
func (p *process) virtualSeek(h int, off int64, whence int) (uint64, bool) {
	if _, ok := p.fs.v.dirOf(h); !ok {
		return 0, false
	}
	v := &p.fs.v
	v.mu.Lock()
	defer v.mu.Unlock()
	st := v.dirs[h]
	if st == nil || whence != unix.SEEK_SET || off < 0 {
		return neg(unix.EINVAL), true
	}
	st.pos = int(min(off, 1<<20))
	return uint64(st.pos), true
}

// memDevMajor is the major number of /dev/null, /dev/zero, /dev/full,
// /dev/random and /dev/urandom.
const memDevMajor = 1

// isMemDevice reports whether (dir, name) is one of the host's memory
// devices. The guest opens the host's own nodes, so changing their owner,
// mode or times must be refused: it would change them for the whole host.
func isMemDevice(dir int, name string) bool {
	var st unix.Stat_t
	flags := unix.AT_SYMLINK_NOFOLLOW
	if name == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	if unix.Fstatat(dir, name, &st, flags) != nil {
		return false
	}
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && unix.Major(st.Rdev) == memDevMajor
}
