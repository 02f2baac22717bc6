package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kmvm/km/kvm"
)

// Config describes one program to run in a VM.
type Config struct {
	Program   string   // path of the executable; a guest path when Root is set
	Args      []string // argv, including argv[0]
	Env       []string
	Root      string // host directory that is the guest's "/"; "" means the host's root
	Cwd       string // guest working directory; "" means the caller's (or "/" with Root)
	Memory    uint64 // guest memory in bytes; 0 means DefaultMemory
	Strict    bool   // an unimplemented syscall kills the guest instead of returning ENOSYS
	Trace     io.Writer
	KVMDevice string // default kvm.DefaultDevice
	// NoTeardown skips releasing the VM after the guest exits, for callers
	// that exit the process right after Run (the kernel frees it faster).
	NoTeardown bool
	// Log receives the monitor's one-line reports (guest faults, strict-mode
	// violations). Default os.Stderr.
	Log io.Writer
	// Seccomp, if set, filters every guest syscall (an OCI profile's
	// linux.seccomp as runc applies it; seccomp.go).
	Seccomp *Seccomp
	// Ready, if set, is called once the program is loaded and before its
	// first instruction runs (a container runtime's create/start split); an
	// error ends Run with that error and the guest never runs.
	Ready func() error
}

// ExitStatus is how the guest ended, in wait(2) terms.
type ExitStatus struct {
	Code   int         // exit code when Signal is 0
	Signal unix.Signal // the signal that killed it, or 0

	// FirstSyscall is the time from Run's start (or, with Config.Ready,
	// from Ready's return) to the guest's first system call: VM creation,
	// loading and the first vCPU entry (only the thread start and the
	// first entry after Ready).
	FirstSyscall time.Duration
}

// Status is the shell-style exit status: the code, or 128+signal.
func (s ExitStatus) Status() int {
	if s.Signal != 0 {
		return 128 + int(s.Signal)
	}
	return s.Code
}

// ErrKVM marks failures of the host's KVM (missing device, failing ioctls).
var ErrKVM = errors.New("kvm")

// process is one guest program: its memory, address space, files and threads.
type process struct {
	cfg    Config
	sys    *kvm.System
	vm     *kvm.VM
	mem    *guestMemory
	vclock *vclock // the vDSO clock, or nil
	sysMem []byte
	cr3    uint64
	cpuid  []kvm.CPUIDEntry
	xcr0   uint64
	// xsaveSize is the XSAVE image a signal frame carries: every component
	// XCR0 may enable (CPUID 0xd.0 ECX), within KVM's 4 KiB kvm_xsave.
	xsaveSize uint64
	pvm       bool
	fsgs      bool

	as     *addressSpace
	files  *fdTable
	fs     *fsState
	sig    *signalState
	exe    string // guest path of the executable, for /proc/self/exe
	pid    int
	log    io.Writer
	ownLog bool
	trace  io.Writer
	counts syscallCounts
	// seccomp is the syscall filter, nil without one.
	seccomp *Seccomp

	unixNames unixNames   // guest names of bound AF_UNIX sockets (sys_net.go)
	timers    posixTimers // timer_create's timers (timers.go)

	threadsMu sync.Mutex
	threads   map[int]*thread
	nextVCPU  int
	idle      []idleVCPU // vCPUs of ended threads, for reuse

	started      time.Time
	firstSyscall atomic.Int64 // nanoseconds after started; 0 until the first syscall

	exitOnce sync.Once
	exited   chan struct{}
	status   ExitStatus
	live     atomic.Int32

	children children // host pids of the guest's children (fork.go)
	vforkFD  int      // a vfork child's end of its parent's wait pipe, or -1
	forked   bool     // this monitor runs a forked guest (a child monitor)
	parent   int      // the parent guest's pid when forked, else 0
	execMu   sync.Mutex

	// stop keeps the other threads out of the guest while fork copies
	// memory (forkstop.go); forks hold execMu, which also serializes them.
	stop worldStop
}

// Run runs the program to completion and returns its exit status. An error
// means the program never started (bad executable, no KVM, bad config).
//
// A VM owns the calling process's signal-kick and thread state: run one VM
// per process, and exit the process after Run returns (threads of the guest
// that are blocked in the host may still exist).
func Run(ctx context.Context, cfg Config) (ExitStatus, error) {
	started := time.Now()
	subscribeHostSignals() // in parallel with building the VM
	p, err := newProcess(cfg)
	if err != nil {
		return ExitStatus{}, err
	}
	p.started = started
	// Before Ready drops privileges: the parent's namespace link is
	// readable only with them.
	p.fs.ownMounts = ownMountNS()
	main, err := p.load()
	if err == nil && cfg.Ready != nil {
		if err = cfg.Ready(); err == nil {
			p.started = time.Now() // FirstSyscall counts from the go-ahead
		}
	}
	if err != nil {
		p.close()
		return ExitStatus{}, err
	}
	installKickSignal()
	p.forwardHostSignals()
	if os.Getenv("KM_DEBUG_GUEST_RANGE") != "" {
		// For measurements of the monitor's own memory (test/bench).
		p.report("guest memory at %#x-%#x", sliceAddr(p.mem.host), sliceAddr(p.mem.host)+uintptr(len(p.mem.host)))
	}
	p.startThread(main)
	select {
	case <-p.exited:
	case <-ctx.Done():
		p.exit(ExitStatus{Signal: unix.SIGKILL})
	}
	p.fs.v.removeShm() // host state outliving the process, teardown or not
	if !cfg.NoTeardown && p.stopThreads(100*time.Millisecond) {
		p.close()
	}
	st := p.status
	st.FirstSyscall = time.Duration(p.firstSyscall.Load())
	return st, nil
}

// stopThreads kicks every vCPU out of the guest and waits up to timeout for
// all threads to end. Threads blocked in a host syscall (a read on a pipe,
// a futex) may not; then it reports false and their resources stay.
func (p *process) stopThreads(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for p.live.Load() > 0 {
		p.threadsMu.Lock()
		for _, t := range p.threads {
			t.kick()
		}
		p.threadsMu.Unlock()
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Microsecond)
	}
	return true
}

// close releases the VM and everything the guest had open.
func (p *process) close() {
	if p.files != nil {
		p.files.closeAll()
	}
	if p.fs != nil {
		p.fs.v.close()
	}
	if p.fs != nil && p.fs.rootFD >= 0 {
		unix.Close(p.fs.rootFD)
	}
	p.vclock.stop() // before the memory it writes goes
	if p.mem != nil {
		p.mem.close()
	}
	if p.sysMem != nil {
		unix.Munmap(p.sysMem)
	}
	for _, v := range p.idle {
		v.vcpu.Close()
	}
	p.idle = nil
	if p.vm != nil {
		p.vm.Close()
	}
	if p.sys != nil {
		p.sys.Close()
	}
	if c, ok := p.log.(io.Closer); ok && p.ownLog {
		c.Close()
	}
}

func newProcess(cfg Config) (*process, error) {
	if cfg.Memory == 0 {
		cfg.Memory = DefaultMemory
	}
	cfg.Memory = alignUp(cfg.Memory, hugeSize)
	if cfg.Memory < MinMemory || cfg.Memory > MaxMemory {
		return nil, fmt.Errorf("guest memory %d MiB is outside [%d MiB, %d GiB]", cfg.Memory>>20, MinMemory>>20, MaxMemory>>30)
	}
	if cfg.KVMDevice == "" {
		cfg.KVMDevice = kvm.DefaultDevice
	}
	ownLog := false
	if cfg.Log == nil {
		// A private copy of stderr: the guest may close or reuse fd 2.
		fd, err := unix.FcntlInt(2, unix.F_DUPFD_CLOEXEC, 3)
		if err == nil {
			cfg.Log = os.NewFile(uintptr(fd), "km-log")
			ownLog = true
		} else {
			cfg.Log = io.Discard
		}
	}
	if cfg.Seccomp != nil {
		f := *cfg.Seccomp // compiled here, once; the caller's copy stays as it is
		if err := f.Compile(); err != nil {
			return nil, err
		}
		cfg.Seccomp = &f
	}
	p := &process{cfg: cfg, log: cfg.Log, ownLog: ownLog, trace: cfg.Trace, pid: os.Getpid(),
		threads: map[int]*thread{}, exited: make(chan struct{}), vforkFD: -1, seccomp: cfg.Seccomp}
	ok := false
	defer func() {
		if !ok {
			p.close()
		}
	}()

	sys, err := kvm.Open(cfg.KVMDevice)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKVM, err)
	}
	p.sys = sys
	if sys.CheckExtension(kvm.CapSyncRegs)&(kvm.SyncRegs|kvm.SyncSregs) != kvm.SyncRegs|kvm.SyncSregs ||
		sys.CheckExtension(kvm.CapImmediateExit) == 0 {
		return nil, fmt.Errorf("%w: %s lacks KVM_CAP_SYNC_REGS or KVM_CAP_IMMEDIATE_EXIT (kernel too old)", ErrKVM, cfg.KVMDevice)
	}
	p.pvm = kvm.ProbeBackend() == kvm.BackendPVM
	if p.cpuid, err = sys.SupportedCPUID(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKVM, err)
	}
	p.xcr0, p.fsgs = cpuFeatures(p.cpuid)
	p.xsaveSize = xsaveSize(p.cpuid)
	if p.vm, err = sys.CreateVM(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKVM, err)
	}
	if p.mem, err = newGuestMemory(p.vm, cfg.Memory); err != nil {
		return nil, err
	}
	p.sysMem, err = unix.Mmap(-1, 0, sysSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("allocate system area: %w", err)
	}
	if p.cr3, err = buildSysArea(p.sysMem, cfg.Memory); err != nil {
		return nil, err
	}
	if err := p.vm.SetMemoryRegion(sysSlot, sysPhys, sliceAddr(p.sysMem), sysSize); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKVM, err)
	}
	p.as = newAddressSpace(p.mem)
	p.sig = newSignalState()
	if p.fs, err = newFSState(cfg.Root, cfg.Cwd); err != nil {
		return nil, err
	}
	p.files = newFDTable()
	ok = true
	return p, nil
}

// cpuFeatures picks XCR0 (every user state component KVM supports) and
// whether FSGSBASE can be enabled, from KVM's supported CPUID.
func cpuFeatures(entries []kvm.CPUIDEntry) (xcr0 uint64, fsgsbase bool) {
	const (
		xstateUser    = 0x2e7 // x87 SSE AVX opmask ZMM_Hi256 Hi16_ZMM PKRU
		cpuid7EBXFSGS = 1 << 0
	)
	xcr0 = 3 // x87 | SSE
	for _, e := range entries {
		switch {
		case e.Function == 0xd && e.Index == 0:
			xcr0 = (uint64(e.EDX)<<32 | uint64(e.EAX)) & xstateUser
		case e.Function == 7 && e.Index == 0:
			fsgsbase = e.EBX&cpuid7EBXFSGS != 0
		}
	}
	return xcr0 | 3, fsgsbase
}

func xsaveSize(entries []kvm.CPUIDEntry) uint64 {
	size := uint64(xsaveMinSize)
	for _, e := range entries {
		if e.Function == 0xd && e.Index == 0 && uint64(e.ECX) > size {
			size = uint64(e.ECX)
		}
	}
	return min(alignUp(size, 64), 4096)
}

// exit ends the guest with status s (first caller wins).
func (p *process) exit(s ExitStatus) {
	p.exitOnce.Do(func() {
		p.status = s
		close(p.exited)
	})
}

// report writes one line for the user on the monitor's log.
func (p *process) report(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if p.forked && strings.HasPrefix(msg, "guest killed by") {
		// As on Linux, a child's death by a signal is its parent's to
		// report (the wait status carries it); the top-level km reports it.
		return
	}
	fmt.Fprintf(p.log, "km: %s\n", msg)
}
