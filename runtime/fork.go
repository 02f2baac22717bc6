package runtime

// fork, vfork and clone without CLONE_THREAD: a guest process is one monitor
// process. The parent monitor copies the guest's memory into a memfd and
// re-executes its own binary in child mode; the child monitor maps the memfd
// MAP_PRIVATE as the new guest's memory and continues the calling thread.
// The guest pid is the monitor's host pid, so wait4, kill and getppid are
// the host's own.

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kmvm/km/kvm"
)

// childArg is argv[1] of a monitor started to continue a forked guest.
const childArg = "__km_fork_child__"

// Descriptor numbers in a child monitor.
const (
	childStateFD = 3 // memfd: the gob-encoded forkState
	childMemFD   = 4 // memfd: the guest memory image
	childVforkFD = 5 // write end of the parent's vfork pipe, or closed
	childFirstFD = 6 // the guest's host descriptors follow, in forkState.Files order
)

// forkMapping is an addressSpace mapping in transit.
type forkMapping struct {
	Start, End, Offset uint64
	Prot, Flags        int
	Name               string
}

// forkFD is one guest descriptor in transit.
type forkFD struct {
	Guest   int
	Cloexec bool
	// Signalfd: a signalfd reading SigMask; the child makes its own.
	Signalfd bool
	SigMask  uint64
}

// forkState is what a child monitor needs besides memory and descriptors.
type forkState struct {
	Regs           kvm.Regs
	FSBase, GSBase uint64
	Xsave          kvm.Xsave
	Sigmask        uint64
	Altstack       [3]uint64
	Actions        [nSig + 1][4]uint64
	ChildTID       uint64 // CLONE_CHILD_SETTID address, or 0
	ClearTID       uint64 // CLONE_CHILD_CLEARTID address, or 0

	Maps                   []forkMapping
	BrkStart, Brk, MmapTop uint64

	Memory    uint64
	Strict    bool
	Trace     bool
	Root, Cwd string
	KVMDevice string
	Exe       string
	Files     []forkFD
	FileLimit int
	Vfork     bool
	Parent    int  // the parent guest's pid
	OwnMounts bool // fsState.ownMounts
	// Shared file mappings, re-mapped shared in the child; their files
	// follow the guest's descriptors.
	Shared []sharedRange
	// The vDSO clock: its data page and parameters (host-TSC based), so
	// the child's clock continues the parent's line.
	VdsoPage uint64
	Vclock   [8]uint64
	// Seccomp is the parent's filter: a child inherits it, as in Linux.
	Seccomp *Seccomp
}

// sharedRange is a host MAP_SHARED file mapping inside guest memory.
type sharedRange struct {
	Start, End, Offset uint64 // guest range, file offset
}

// IsChild reports whether this process was started by a monitor to continue
// a forked guest. Monitor binaries call it first thing in main and then
// ChildMain.
func IsChild() bool { return len(os.Args) == 2 && os.Args[1] == childArg }

// children records the host pids this monitor forked, so kill and setpgid
// may reach them (and nothing else on the host).
type children struct {
	mu   sync.Mutex
	pids map[int]bool
}

func (c *children) add(pid int) {
	c.mu.Lock()
	if c.pids == nil {
		c.pids = map[int]bool{}
	}
	c.pids[pid] = true
	c.mu.Unlock()
}

// reaped forgets a child once waited for: its pid may be reused by any
// host process from then on.
func (c *children) reaped(pid int) {
	c.mu.Lock()
	delete(c.pids, pid)
	c.mu.Unlock()
}

func (c *children) has(pid int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pids[pid]
}

func (c *children) list() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]int, 0, len(c.pids))
	for pid := range c.pids {
		out = append(out, pid)
	}
	return out
}

// cloneNamespaces are the CLONE_NEW* flags: km gives the guest no namespaces.
const cloneNamespaces = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWTIME

// fork creates a new guest process from the calling thread (fork, vfork,
// clone without CLONE_THREAD) and returns its pid.
func (t *thread) fork(req cloneRequest) uint64 {
	p := t.p
	switch {
	case req.flags&unix.CLONE_THREAD != 0, req.flags&unix.CLONE_SIGHAND != 0 && req.flags&unix.CLONE_VM == 0:
		return neg(unix.EINVAL)
	case req.flags&cloneNamespaces != 0:
		return neg(unix.EPERM)
	case req.flags&unix.CLONE_PIDFD != 0 && req.flags&unix.CLONE_PARENT_SETTID != 0 && req.pidfd == req.parentTID:
		return neg(unix.EINVAL)
	}
	// CLONE_VM, CLONE_FS, CLONE_FILES and CLONE_SIGHAND ask to share with the
	// child what a separate monitor cannot share: the child gets copies, as
	// after fork. (vfork users such as posix_spawn and Go's os/exec only
	// exec or exit in the child.)
	vfork := req.flags&unix.CLONE_VFORK != 0

	st := &forkState{
		Sigmask:  t.sigmask,
		Altstack: [3]uint64{t.altstack.sp, t.altstack.flags, t.altstack.size},
		Memory:   p.mem.size, Strict: p.cfg.Strict, Trace: p.trace != nil,
		Root: p.fs.root, Cwd: p.fs.cwdPath(), KVMDevice: p.cfg.KVMDevice, Exe: p.exe, Vfork: vfork, Parent: p.pid,
		Seccomp:   p.seccomp,
		OwnMounts: p.fs.ownMounts,
	}
	p.vclock.save(st)
	regs := *t.regs
	regs.RAX = 0
	regs.RIP, regs.RFLAGS = regs.RCX, regs.R11&rflagsUser|rflagsInitial
	if req.stack != 0 {
		regs.RSP = req.stack
	}
	st.Regs = regs
	s := t.sregs()
	st.FSBase, st.GSBase = s.FS.Base, s.GS.Base
	if req.flags&unix.CLONE_SETTLS != 0 {
		if req.tls >= canonicalUser {
			return neg(unix.EPERM)
		}
		st.FSBase = req.tls
	}
	if err := t.vcpu.GetXsave(&st.Xsave); err != nil {
		p.report("fork: KVM_GET_XSAVE: %v", err)
		return neg(unix.ENOMEM)
	}
	if req.flags&unix.CLONE_CHILD_SETTID != 0 {
		st.ChildTID = req.childTID
	}
	if req.flags&unix.CLONE_CHILD_CLEARTID != 0 {
		st.ClearTID = req.childTID
	}
	// The image: memory, descriptors, dispositions. Forks hold execMu (one
	// at a time; no execve replacing the memory meanwhile). A fork copies
	// memory at one instant, as Linux does, with the other threads out of
	// the guest (forkstop.go); a CLONE_VM child (vfork, posix_spawn, Go's
	// os/exec) would share the live memory on Linux and only reads what
	// its parent prepared, so it does without the stop.
	//
	// The others resume once the child monitor runs, not right after the
	// copy: a thread resumed earlier takes one of the monitor's few Go Ps
	// into KVM_RUN, and this thread could then wait milliseconds for one
	// (until sysmon retakes it) at its next host call.
	p.execMu.Lock()
	stopped := req.flags&unix.CLONE_VM == 0
	if stopped && !p.stopWorld(t) {
		p.execMu.Unlock()
		return neg(unix.EAGAIN) // the process is ending
	}
	released := false
	release := func() {
		if !released {
			released = true
			if stopped {
				p.resumeWorld()
			}
			p.execMu.Unlock()
		}
	}
	defer release()
	memfd, guestFiles, sharedFiles, err := p.image(st)
	if err != nil {
		return errno(err)
	}
	defer func() {
		unix.Close(memfd)
		for _, h := range append(guestFiles, sharedFiles...) {
			unix.Close(h)
		}
	}()
	if p.isExited() {
		// exit_group or a fatal signal came during the copy: as on Linux,
		// no child.
		return neg(unix.EAGAIN)
	}

	var enc bytes.Buffer
	if err := gob.NewEncoder(&enc).Encode(st); err != nil {
		p.report("fork: encode state: %v", err)
		return neg(unix.ENOMEM)
	}
	statefd, err := unix.MemfdCreate("km-fork-state", unix.MFD_CLOEXEC)
	if err != nil {
		return errno(err)
	}
	defer unix.Close(statefd)
	if err := pwriteAll(statefd, enc.Bytes(), 0); err != nil {
		return errno(err)
	}

	devNull, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return errno(err)
	}
	defer unix.Close(devNull)
	logFD := uintptr(2)
	if f, ok := p.log.(*os.File); ok {
		logFD = f.Fd()
	}
	vforkR, vforkW := -1, -1
	if vfork {
		var pp [2]int
		if err := unix.Pipe2(pp[:], unix.O_CLOEXEC); err != nil {
			return errno(err)
		}
		vforkR, vforkW = pp[0], pp[1]
		defer unix.Close(vforkR)
	}
	files := []uintptr{uintptr(devNull), uintptr(devNull), logFD, uintptr(statefd), uintptr(memfd), uintptr(vforkW)}
	for _, h := range append(guestFiles, sharedFiles...) {
		files = append(files, uintptr(h))
	}
	pid, err := syscall.ForkExec("/proc/self/exe", []string{os.Args[0], childArg},
		&syscall.ProcAttr{Env: os.Environ(), Files: files})
	release() // before a vfork wait, which may depend on the other threads
	if vforkW >= 0 {
		unix.Close(vforkW)
	}
	if err != nil {
		p.report("fork: cannot start a child monitor: %v", err)
		return neg(unix.EAGAIN)
	}
	p.children.add(pid)

	if req.flags&unix.CLONE_PIDFD != 0 {
		if h, err := unix.PidfdOpen(pid, 0); err == nil {
			if fd, err := p.files.install(h, true, 0); err == nil {
				p.mem.writeU32(req.pidfd, uint32(fd))
			} else {
				unix.Close(h)
			}
		}
	}
	if req.flags&unix.CLONE_PARENT_SETTID != 0 {
		p.mem.writeU32(req.parentTID, uint32(pid))
	}
	if vfork {
		// Like vfork: the parent resumes once the child execs or exits,
		// when the child monitor's end of the pipe closes.
		// Not through block: like Linux's vfork wait, signals for the
		// parent wait until the child has let go of it.
		var b [1]byte
		for {
			n, err := unix.Read(vforkR, b[:])
			if err == unix.EINTR {
				continue
			}
			if err != nil || n == 0 {
				break
			}
		}
	}
	return uint64(pid)
}

func pwriteAll(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pwrite(fd, b, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// image records what the child starts from in st: signal dispositions,
// the address space and memory (a memfd), the guest's descriptors (host
// duplicates) and the host-shared mappings (their files).
func (p *process) image(st *forkState) (memfd int, guestFiles, sharedFiles []int, err error) {
	p.sig.mu.Lock()
	for i, a := range p.sig.actions {
		st.Actions[i] = [4]uint64{a.handler, a.flags, a.restorer, a.mask}
	}
	p.sig.mu.Unlock()

	memfd, err = p.snapshot(st)
	if err != nil {
		p.report("fork: cannot copy guest memory: %v", err)
		return -1, nil, nil, unix.ENOMEM
	}
	// The guest's descriptors, dup'ed so a concurrent close in another
	// guest thread cannot hand the child a recycled number.
	p.files.mu.Lock()
	st.FileLimit = p.files.limit
	for fd, e := range p.files.fds {
		if e.host < 0 {
			continue
		}
		h, err := unix.FcntlInt(uintptr(e.host), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			p.files.mu.Unlock()
			unix.Close(memfd)
			for _, h := range guestFiles {
				unix.Close(h)
			}
			return -1, nil, nil, err
		}
		guestFiles = append(guestFiles, h)
		f := forkFD{Guest: fd, Cloexec: e.cloexec}
		if e.sfd != nil {
			f.Signalfd, f.SigMask = true, e.sfd.mask.Load()
		}
		st.Files = append(st.Files, f)
	}
	p.files.mu.Unlock()
	return memfd, guestFiles, p.sharedMappings(st), nil
}

// snapshot copies the guest's mapped memory into a new memfd of the guest's
// size and records the address space in st. Pages never touched (not
// resident) and pages of zeros stay holes.
func (p *process) snapshot(st *forkState) (int, error) {
	fd, err := unix.MemfdCreate("km-fork-memory", unix.MFD_CLOEXEC)
	if err != nil {
		return -1, err
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	if err := unix.Ftruncate(fd, int64(p.mem.size)); err != nil {
		return -1, err
	}
	as := p.as
	// Holding the lock keeps other threads' mmap/munmap/brk out while the
	// copy runs; their stores are kept out by the caller (forkstop.go).
	as.mu.Lock()
	defer as.mu.Unlock()
	st.BrkStart, st.Brk, st.MmapTop = as.brkStart, as.brk, as.mmapTop
	for _, m := range as.maps {
		st.Maps = append(st.Maps, forkMapping{Start: m.start, End: m.end, Offset: m.offset, Prot: m.prot, Flags: m.flags, Name: m.name})
		if err := p.copyRange(fd, m.start, m.end, m.fileBacked); err != nil {
			return -1, err
		}
	}
	if lo, hi := alignDown(as.brkStart, pageSize), alignUp(as.brk, pageSize); hi > lo {
		if err := p.copyRange(fd, lo, hi, false); err != nil {
			return -1, err
		}
	}
	ok = true
	return fd, nil
}

// copyRange writes the non-zero pages of guest range [lo, hi) to fd at the
// same offsets. Anonymous memory is read only where mincore says pages
// exist; file mappings are read whole (their pages may not be resident yet).
func (p *process) copyRange(fd int, lo, hi uint64, whole bool) error {
	lo, hi = alignDown(lo, pageSize), min(alignUp(hi, pageSize), p.mem.size)
	if lo >= hi {
		return nil
	}
	host := p.mem.host
	var vec []byte
	if !whole {
		vec = make([]byte, (hi-lo)/pageSize)
		if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&host[lo])), uintptr(hi-lo), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
			return e
		}
	}
	runStart := uint64(0)
	inRun := false
	flush := func(end uint64) error {
		if inRun {
			inRun = false
			return pwriteAll(fd, host[runStart:end], int64(runStart))
		}
		return nil
	}
	for a := lo; a < hi; a += pageSize {
		keep := (whole || vec[(a-lo)/pageSize]&1 != 0) && !zeroPage(host[a:a+pageSize])
		switch {
		case keep && !inRun:
			runStart, inRun = a, true
		case !keep:
			if err := flush(a); err != nil {
				return err
			}
		}
	}
	return flush(hi)
}

// zeroPage reports whether a page holds only zeros.
func zeroPage(b []byte) bool {
	w := unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), len(b)/8)
	for _, v := range w {
		if v != 0 {
			return false
		}
	}
	return true
}

// ChildMain runs the guest a parent monitor forked (see IsChild) and exits
// the process the way the guest ended: with its exit code, or killed by the
// same signal. It never returns.
func ChildMain() {
	subscribeHostSignals() // in parallel with rebuilding the guest
	st, err := readForkState()
	if err != nil {
		fmt.Fprintf(os.Stderr, "km: fork child: %v\n", err)
		os.Exit(exitChildFailed)
	}
	p, err := restoreProcess(st)
	if err != nil {
		fmt.Fprintf(os.Stderr, "km: fork child: %v\n", err)
		os.Exit(exitChildFailed)
	}
	installKickSignal()
	p.forwardHostSignals()
	p.startRestored(st)
	<-p.exited
	p.closeVfork()
	exitLike(p.status)
}

// exitChildFailed is the child's status when the monitor could not rebuild
// the guest (as a shell reports a command that could not run).
const exitChildFailed = 127

func readForkState() (*forkState, error) {
	f := os.NewFile(childStateFD, "km-fork-state")
	defer f.Close()
	data, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<30))
	if err != nil {
		return nil, err
	}
	st := &forkState{}
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(st); err != nil {
		return nil, fmt.Errorf("decode state: %w", err)
	}
	return st, nil
}

// restoreProcess builds the child's process: a fresh VM whose memory is the
// parent's image, the parent's address-space map, descriptors and signal
// dispositions.
func restoreProcess(st *forkState) (*process, error) {
	cfg := Config{Memory: st.Memory, Strict: st.Strict, Root: st.Root, KVMDevice: st.KVMDevice, NoTeardown: true,
		Seccomp: st.Seccomp}
	if st.Trace {
		cfg.Trace = os.Stderr
	}
	if st.Root != "" {
		cfg.Cwd = st.Cwd
	}
	p, err := newProcess(cfg)
	if err != nil {
		unix.Close(childMemFD)
		return nil, err
	}
	p.forked, p.parent = true, st.Parent
	p.fs.ownMounts = st.OwnMounts
	if err := p.mem.loadImage(childMemFD); err != nil {
		return nil, err
	}
	unix.Close(childMemFD)
	as := p.as
	as.maps = as.maps[:0]
	for _, m := range st.Maps {
		if m.Start >= m.End || m.End > p.mem.size {
			continue
		}
		as.maps = append(as.maps, mapping{start: m.Start, end: m.End, offset: m.Offset, prot: m.Prot, flags: m.Flags, name: m.Name})
		if err := p.mem.commit(m.Start, m.End-m.Start); err != nil {
			return nil, err
		}
	}
	as.brkStart, as.brk, as.mmapTop = st.BrkStart, st.Brk, st.MmapTop
	content := []forkMapping{}
	for _, m := range as.maps {
		content = append(content, forkMapping{Start: alignDown(m.start, pageSize), End: alignUp(m.end, pageSize)})
	}
	if lo, hi := alignDown(st.BrkStart, pageSize), alignUp(st.Brk, pageSize); hi > lo && hi <= p.mem.size {
		if err := p.mem.commit(lo, hi-lo); err != nil {
			return nil, err
		}
		content = append(content, forkMapping{Start: lo, End: hi})
	}
	// Memory outside the image's mappings has no content: back it with
	// ordinary anonymous memory again (huge pages, no page-cache copy when
	// the child maps and touches it later).
	sort.Slice(content, func(i, j int) bool { return content[i].Start < content[j].Start })
	next := uint64(0)
	for _, c := range append(content, forkMapping{Start: p.mem.size, End: p.mem.size}) {
		if c.Start > next {
			as.resetHost(next, c.Start)
			unix.Madvise(p.mem.host[next:c.Start], unix.MADV_HUGEPAGE)
		}
		next = max(next, c.End)
	}
	for i, r := range st.Shared {
		h := childFirstFD + len(st.Files) + i
		if r.Start < r.End && r.End <= p.mem.size {
			// The same file pages as the parent's: stores stay visible both
			// ways, and futexes there are shared (keyed on the file).
			if _, err := unix.MmapPtr(h, int64(r.Offset), hostPtr(p.mem, r.Start), uintptr(r.End-r.Start),
				unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_FIXED); err != nil {
				p.report("fork child: shared mapping at %#x not shared: %v", r.Start, err)
			}
		}
		unix.Close(h)
	}
	p.exe = st.Exe
	p.vclock = restoreVclock(st, p.mem)
	for i, a := range st.Actions {
		p.sig.actions[i] = sigaction{a[0], a[1], a[2], a[3]}
	}
	// The guest's descriptors, as the parent had them; the monitor's own
	// copies are close-on-exec so they reach no further host program.
	p.files = &fdTable{limit: st.FileLimit}
	for i, f := range st.Files {
		h := childFirstFD + i
		unix.CloseOnExec(h)
		for len(p.files.fds) <= f.Guest {
			p.files.fds = append(p.files.fds, fdEntry{host: -1})
		}
		p.files.fds[f.Guest] = fdEntry{host: h, cloexec: f.Cloexec}
		if f.Signalfd {
			p.files.restoreSignalfd(p, f.Guest, f.SigMask)
		}
	}
	if st.Vfork {
		unix.CloseOnExec(childVforkFD)
		p.vforkFD = childVforkFD
	}
	return p, nil
}

// startRestored starts the forked thread.
func (p *process) startRestored(st *forkState) *thread {
	ready, started, release := make(chan error, 1), make(chan *thread, 1), make(chan struct{})
	xs := st.Xsave
	p.spawnThread(threadStart{regs: st.Regs, fsBase: st.FSBase, gsBase: st.GSBase, xsave: &xs, tid: p.pid, ready: ready}, started, release)
	if err := <-ready; err != nil {
		p.report("fork child: cannot start the guest: %v", err)
		p.exit(ExitStatus{Signal: unix.SIGKILL})
		close(release)
		return nil
	}
	t := <-started
	t.sigmask = st.Sigmask
	t.altstack = stackT{sp: st.Altstack[0], flags: st.Altstack[1], size: st.Altstack[2]}
	if st.ChildTID != 0 {
		p.mem.writeU32(st.ChildTID, uint32(t.tid))
	}
	t.clearChildTID = st.ClearTID
	close(release)
	return t
}

// closeVfork lets a vfork parent continue (the child exec'ed or is ending).
func (p *process) closeVfork() {
	if fd := p.vforkFD; fd >= 0 {
		p.vforkFD = -1
		unix.Close(fd)
	}
}

// exitLike ends the monitor process with the guest's status, so the
// parent's wait4 sees what Linux would show: the exit code, or death by
// the same signal (without a core dump of the monitor).
func exitLike(s ExitStatus) {
	if s.Signal == 0 {
		os.Exit(s.Code)
	}
	sig := s.Signal
	unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	var dfl [4]uint64 // struct kernel_sigaction with SIG_DFL
	unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl[0])), 0, 8, 0, 0)
	set := sigBit(sig)
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_UNBLOCK, uintptr(unsafe.Pointer(&set)), 0, 8, 0, 0)
	unix.Tgkill(os.Getpid(), unix.Gettid(), sig)
	os.Exit(128 + int(sig)) // not reached for signals whose default kills
}

// sharedMappings finds the host MAP_SHARED file mappings inside guest memory
// (the guest's writable MAP_SHARED file mappings), records them in st and
// returns a descriptor of each file, opened through /proc/self/map_files
// (which needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE). A mapping whose
// file cannot be opened is copied into the child like private memory.
func (p *process) sharedMappings(st *forkState) []int {
	data, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return nil
	}
	base := uint64(sliceAddr(p.mem.host))
	var fds []int
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || len(f[1]) < 4 || f[1][3] != 's' {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		off, err3 := strconv.ParseUint(f[2], 16, 64)
		if err1 != nil || err2 != nil || err3 != nil || start < base || end > base+p.mem.size || start >= end {
			continue
		}
		h, err := unix.Open("/proc/self/map_files/"+f[0], unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		fds = append(fds, h)
		st.Shared = append(st.Shared, sharedRange{Start: start - base, End: end - base, Offset: off})
	}
	return fds
}
