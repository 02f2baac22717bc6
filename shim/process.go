package shim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/console"
	"github.com/containerd/fifo"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kmvm/km/oci"
)

// Handshake bytes on the monitor's --sync-fd (cmd/km/container.go).
const (
	syncReady = 'R'
	syncError = 'E'
	syncStart = 'S'
	syncGo    = 'G'
)

// addressHeadroom is added to a container's VM size. With a memory limit the
// cgroup, not the end of guest memory, must be what stops the guest (an OOM
// kill: 137 and TaskOOM, as for any container), and programs reserve address
// space they never touch: Go's runtime reserves about 1.2 GiB of PROT_NONE
// page summaries and indexes before main (a VM of the limit alone kills any
// Go program under a ~1 GiB limit), glibc 64 MiB per malloc arena. It also
// covers the guest layout's reserved ranges (stack, guard hole) and the
// monitor's own memory. Guest memory is reserved, not committed: headroom
// the guest does not touch costs nothing.
const addressHeadroom = 2 << 30

// maxVM is the largest VM km lays out (runtime.MaxMemory); the headroom
// never pushes a VM past it.
const maxVM = 256 << 30

// MountsFile in the bundle holds the spec's mounts for the init monitor.
const MountsFile = "km-mounts.json"

// SeccompFile in the bundle holds the spec's linux.seccomp, which the
// monitors of the init and of every exec enforce on their guests.
const SeccompFile = "km-seccomp.json"

// mountsFile is MountsFile's content (km --mounts, cmd/km/mounts.go).
type mountsFile struct {
	Mounts        []specs.Mount `json:"mounts"`
	MaskedPaths   []string      `json:"maskedPaths,omitempty"`
	ReadonlyPaths []string      `json:"readonlyPaths,omitempty"`
}

// Exit status the shim reports for a monitor that could not be waited for
// (killed while the shim was away): SIGKILL's.
const exitKilled = 128 + int(unix.SIGKILL)

// stdio are the paths containerd gives for a process's streams.
type stdio struct {
	stdin, stdout, stderr string
	terminal              bool
}

type procState int

const (
	stateCreated procState = iota
	stateRunning
	stateStopped
)

// proc is one guest process: one km monitor child of the shim.
type proc struct {
	id, execID string
	launch     *oci.Launch
	io         stdio

	mu       sync.Mutex
	state    procState
	paused   bool
	pid      int
	status   int
	exitedAt time.Time
	done     chan struct{}
	cmd      *exec.Cmd
	sync     *os.File
	stdinW   io.WriteCloser
	stdinR   io.ReadCloser
	console  console.Console
	// A terminal's EOF (^D) waits for both CloseIO and the end of
	// stdin's data (ttyEOF).
	closeIOSeen, stdinDrained, eofSent bool
	ioWG                               sync.WaitGroup
	closers                            []io.Closer
	startedAt                          time.Time
}

func newProc(id, execID string, l *oci.Launch, s stdio) *proc {
	return &proc{id: id, execID: execID, launch: l, io: s, done: make(chan struct{})}
}

// monitorConfig is what every monitor of the shim shares.
type monitorConfig struct {
	km        string // path of the km binary
	memory    uint64 // default guest memory when the spec has no limit (0: oci.DefaultMemory)
	strict    bool
	kvmDevice string
	logLevel  string
	namespace string // containerd namespace, for binary:// loggers
}

// findKM locates the monitor: next to the shim's own executable first (how
// `make build` and packages install them), then on PATH.
func findKM() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "km")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	p, err := exec.LookPath("km")
	if err != nil {
		return "", fmt.Errorf("km monitor binary not found next to the shim or on PATH: %w", err)
	}
	return p, nil
}

// nsJoin is a namespace to enter by path before the monitor is forked.
type nsJoin struct {
	path string
	flag int
}

// nsFlags maps the namespaces the monitor itself lives in. pid, mount,
// user and cgroup namespaces are not created: the guest never sees host
// processes or mounts (the monitor serves getpid and confines every path to
// the root with openat2), and a monitor that is pid 1 of its namespace would
// lose the default action of SIGTERM/SIGINT that ctr task kill relies on.
var nsFlags = map[specs.LinuxNamespaceType]int{
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
}

var nsNames = map[int]string{unix.CLONE_NEWNET: "net", unix.CLONE_NEWIPC: "ipc", unix.CLONE_NEWUTS: "uts"}

// withNamespaces runs fn (which forks the monitor) on an OS thread that has
// joined the given namespaces. setns of net, ipc and uts is per thread, and
// a child forked from the thread inherits them; the thread is restored
// afterwards, or left locked (and so discarded by the Go runtime) if that fails.
func withNamespaces(joins []nsJoin, fn func() error) error {
	if len(joins) == 0 {
		return fn()
	}
	goruntime.LockOSThread()
	var restore []nsJoin
	var origs []*os.File
	defer func() {
		for _, f := range origs {
			f.Close()
		}
	}()
	ok := true
	defer func() {
		if ok {
			goruntime.UnlockOSThread()
		}
	}()
	for _, j := range joins {
		orig, err := os.Open("/proc/thread-self/ns/" + nsNames[j.flag])
		if err != nil {
			return err
		}
		origs = append(origs, orig)
		f, err := os.Open(j.path)
		if err != nil {
			ok = restoreNS(restore, origs)
			return fmt.Errorf("namespace %s: %w", j.path, err)
		}
		err = unix.Setns(int(f.Fd()), j.flag)
		f.Close()
		if err != nil {
			ok = restoreNS(restore, origs)
			return fmt.Errorf("join namespace %s: %w", j.path, err)
		}
		restore = append(restore, nsJoin{flag: j.flag})
	}
	err := fn()
	ok = restoreNS(restore, origs)
	return err
}

func restoreNS(joined []nsJoin, origs []*os.File) bool {
	for i, j := range joined {
		if unix.Setns(int(origs[i].Fd()), j.flag) != nil {
			return false
		}
	}
	return true
}

// readerWait bounds how long Create waits for the client to open the read
// side of an output FIFO (containerd and ctr open it before Create).
const readerWait = 30 * time.Second

// openOutput opens a stdout/stderr destination: a FIFO path from
// containerd, a file:// URI, or nothing (/dev/null).
//
// A FIFO is first opened write-only, which blocks until the client's reader
// has it open (as runc's shim does in Create): a program that writes and
// exits before the reader's open(2) ran would otherwise have its output
// discarded with the pipe, which happened to ctr with 20 containers starting
// at once. The descriptor handed to the monitor is then opened read-write,
// so the monitor's writes never fail with EPIPE when the reader goes away
// (a containerd restart), and only then is the write-only one closed, so
// the reader never sees a moment without writers (an early EOF).
func openOutput(ctx context.Context, p string) (*os.File, error) {
	if p == "" {
		return os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	}
	u, err := url.Parse(p)
	if err == nil && u.Scheme != "" {
		switch u.Scheme {
		case "file":
			if err := os.MkdirAll(filepath.Dir(u.Path), 0o755); err != nil {
				return nil, err
			}
			return os.OpenFile(u.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		case "fifo":
			p = u.Path
		default:
			return nil, fmt.Errorf("stdio URI %q: scheme %q not supported by km (use a FIFO or file://)", p, u.Scheme)
		}
	}
	if st, err := os.Stat(p); err == nil && st.Mode()&os.ModeNamedPipe != 0 {
		wctx, cancel := context.WithTimeout(ctx, readerWait)
		w, err := fifo.OpenFifo(wctx, p, unix.O_WRONLY, 0)
		cancel()
		if err != nil {
			log.G(ctx).WithError(err).WithField("fifo", p).Warn("no reader opened the output FIFO; output may be lost")
		} else {
			defer w.Close()
		}
	}
	return os.OpenFile(p, os.O_RDWR, 0)
}

// start forks the monitor for p and waits until it has loaded the program
// (or failed to). The guest does not run until run is called.
func (p *proc) start(ctx context.Context, mc monitorConfig, c *container, joins []nsJoin, cloneflags uintptr) error {
	l := p.launch
	mem := c.launch.Memory
	if !c.launch.MemoryLimited || c.cg != nil {
		// The cgroup (if any) enforces the limit on monitor and guest
		// together; the VM only has to be large enough not to end first.
		// Without a cgroup the VM's size is the only limit there is.
		mem = min(mem+addressHeadroom, max(mem, maxVM))
	}
	args := []string{"--root", c.launch.Root, "--cwd", l.Cwd, "--memory", strconv.FormatUint(mem, 10),
		"--clear-env", "--sync-fd", "3"}
	for _, e := range l.Env {
		args = append(args, "--env", e)
	}
	if l.UID != 0 || l.GID != 0 || len(l.Groups) > 0 {
		gs := make([]string, len(l.Groups))
		for i, g := range l.Groups {
			gs[i] = strconv.FormatUint(uint64(g), 10)
		}
		args = append(args, "--user", fmt.Sprintf("%d:%d:%s", l.UID, l.GID, strings.Join(gs, ",")))
	}
	if l.NoNewPrivileges {
		args = append(args, "--no-new-privs")
	}
	if l.Capabilities != nil {
		js, err := json.Marshal(l.Capabilities)
		if err != nil {
			return err
		}
		args = append(args, "--capabilities", string(js))
	}
	if c.launch.Seccomp != nil {
		file := filepath.Join(c.bundle, SeccompFile)
		if p.execID == "" {
			// Written once, by the init: execs read it while it exists.
			data, err := json.Marshal(c.launch.Seccomp)
			if err != nil {
				return err
			}
			if err := os.WriteFile(file, data, 0o600); err != nil {
				return err
			}
		}
		args = append(args, "--seccomp", file)
	}
	if p.execID == "" && (len(c.launch.Mounts) > 0 || c.launch.Readonly || len(c.launch.MaskedPaths) > 0 || len(c.launch.ReadonlyPaths) > 0) {
		// The monitor applies the spec's mounts, masked and read-only
		// paths in a mount namespace of its own: they live and die with
		// it, never visible on the host.
		file := filepath.Join(c.bundle, MountsFile)
		data, _ := json.Marshal(mountsFile{Mounts: c.launch.Mounts, MaskedPaths: c.launch.MaskedPaths, ReadonlyPaths: c.launch.ReadonlyPaths})
		if err := os.WriteFile(file, data, 0o600); err != nil {
			return err
		}
		args = append(args, "--mounts", file)
		if c.launch.Readonly {
			args = append(args, "--readonly-root")
		}
		cloneflags |= unix.CLONE_NEWNS
	}
	if c.launch.Hostname != "" && cloneflags&unix.CLONE_NEWUTS != 0 {
		args = append(args, "--hostname", c.launch.Hostname)
	}
	if mc.strict {
		args = append(args, "--strict")
	}
	if mc.kvmDevice != "" {
		args = append(args, "--kvm-device", mc.kvmDevice)
	}
	args = append(args, "--")
	args = append(args, l.Args...)

	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socketpair: %w", err)
	}
	ours := os.NewFile(uintptr(pair[0]), "sync")
	theirs := os.NewFile(uintptr(pair[1]), "sync-child")
	defer theirs.Close()

	cmd := exec.Command(mc.km, args...)
	if p.execID != "" && c.mountNS != "" {
		// An exec joins the init monitor's mount namespace. Go cannot
		// setns(CLONE_NEWNS) in a multi-threaded process, so nsenter
		// (util-linux) does it and then execs km: same pid, and the
		// parent-death signal survives the exec.
		nsenter, err := exec.LookPath("nsenter")
		if err != nil {
			ours.Close()
			return fmt.Errorf("exec in a container with mounts needs nsenter (util-linux): %w", err)
		}
		cmd = exec.Command(nsenter, append([]string{"--mount=" + c.mountNS, "--", mc.km}, args...)...)
	}
	cmd.Dir = "/"
	cmd.Env = []string{}
	cmd.ExtraFiles = []*os.File{theirs}
	// The monitor dies with the shim: nothing outlives a SIGKILLed shim.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Cloneflags: cloneflags}

	var childFiles []*os.File
	defer func() {
		for _, f := range childFiles {
			f.Close()
		}
	}()
	if l.Terminal {
		con, slave, err := console.NewPty()
		if err != nil {
			ours.Close()
			return fmt.Errorf("pty: %w", err)
		}
		sf, err := os.OpenFile(slave, os.O_RDWR|unix.O_NOCTTY, 0)
		if err != nil {
			con.Close()
			ours.Close()
			return fmt.Errorf("pty %s: %w", slave, err)
		}
		childFiles = append(childFiles, sf)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = sf, sf, sf
		cmd.SysProcAttr.Setsid = true
		cmd.SysProcAttr.Setctty = true
		cmd.SysProcAttr.Ctty = 0
		p.console = con
		if err := p.wireConsole(ctx); err != nil {
			con.Close()
			ours.Close()
			return err
		}
	} else if strings.HasPrefix(p.io.stdout, "binary://") {
		out, errf, err := p.startLogger(p.io.stdout, mc.namespace)
		if err != nil {
			ours.Close()
			return err
		}
		childFiles = append(childFiles, out, errf)
		cmd.Stdout, cmd.Stderr = out, errf
	} else {
		out, err := openOutput(ctx, p.io.stdout)
		if err != nil {
			ours.Close()
			p.closeIO()
			return fmt.Errorf("stdout: %w", err)
		}
		childFiles = append(childFiles, out)
		errf := out
		if p.io.stderr != p.io.stdout {
			if errf, err = openOutput(ctx, p.io.stderr); err != nil {
				ours.Close()
				p.closeIO()
				return fmt.Errorf("stderr: %w", err)
			}
			childFiles = append(childFiles, errf)
		}
		cmd.Stdout, cmd.Stderr = out, errf
		if p.io.stdin != "" {
			in, err := fifo.OpenFifo(ctx, p.io.stdin, unix.O_RDONLY|unix.O_NONBLOCK, 0)
			if err != nil {
				ours.Close()
				p.closeIO()
				return fmt.Errorf("stdin: %w", err)
			}
			pr, pw, err := os.Pipe()
			if err != nil {
				in.Close()
				ours.Close()
				return err
			}
			childFiles = append(childFiles, pr)
			cmd.Stdin = pr
			p.stdinW, p.stdinR = pw, in
			go func() {
				io.Copy(pw, in)
				p.closeStdin()
			}()
		}
	}

	if err := withNamespaces(joins, cmd.Start); err != nil {
		ours.Close()
		p.closeIO()
		return fmt.Errorf("start monitor %s: %w", mc.km, err)
	}
	p.cmd, p.pid, p.sync = cmd, cmd.Process.Pid, ours
	if p.execID == "" && cloneflags&unix.CLONE_NEWNS != 0 {
		c.mountNS = fmt.Sprintf("/proc/%d/ns/mnt", p.pid)
	}
	if c.cg != nil {
		if err := c.cg.add(p.pid); err != nil {
			log.G(ctx).WithError(err).WithField("pid", p.pid).Warn("add monitor to cgroup")
		}
	}
	for _, rl := range l.Rlimits {
		if res, ok := rlimits[rl.Type]; ok {
			lim := unix.Rlimit{Cur: rl.Soft, Max: rl.Hard}
			if err := unix.Prlimit(p.pid, res, &lim, nil); err != nil {
				log.G(ctx).WithError(err).WithField("rlimit", rl.Type).Warn("set rlimit")
			}
		}
	}
	// The OOM killer sees the monitor, which holds the guest's memory: it
	// gets the spec's score (the kubelet's per-QoS value), as runc gives its
	// container process.
	if l.OOMScoreAdj != nil {
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", p.pid), []byte(strconv.Itoa(*l.OOMScoreAdj)), 0); err != nil {
			log.G(ctx).WithError(err).WithField("oom_score_adj", *l.OOMScoreAdj).Warn("set oom_score_adj")
		}
	}
	// Placed and limited: let it load.
	if _, err := ours.Write([]byte{syncGo}); err != nil {
		log.G(ctx).WithError(err).Warn("sync go")
	}
	// Wait for the monitor to load the program. Load errors (no such
	// program, not an x86-64 ELF, no /dev/kvm) come back as one line.
	msg := make([]byte, 4096)
	n, rerr := ours.Read(msg)
	if rerr == nil && n > 0 && msg[0] == syncReady {
		go p.wait()
		return nil
	}
	ours.Close()
	p.sync = nil
	_ = cmd.Wait()
	p.closeIO()
	if n > 1 && msg[0] == syncError {
		return errors.New(strings.TrimSpace(string(msg[1:n])))
	}
	return fmt.Errorf("km monitor exited before loading the program (%v)", cmd.ProcessState)
}

// rlimits maps spec names to the host's resource numbers. The monitor's
// limits are the guest's: its file table and memory use live in the monitor.
var rlimits = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK,
}

// wireConsole copies between the pty master and containerd's FIFOs.
func (p *proc) wireConsole(ctx context.Context) error {
	if p.io.stdin != "" {
		in, err := fifo.OpenFifo(ctx, p.io.stdin, unix.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("stdin: %w", err)
		}
		p.stdinR = in
		go func() {
			io.Copy(p.console, in)
			p.ttyEOF(false)
		}()
	}
	out, err := openOutput(ctx, p.io.stdout)
	if err != nil {
		return fmt.Errorf("stdout: %w", err)
	}
	p.closers = append(p.closers, out)
	p.ioWG.Add(1)
	go func() {
		defer p.ioWG.Done()
		io.Copy(out, p.console) // ends with EIO once the last slave fd closes
	}()
	return nil
}

// run lets a created monitor start its guest.
func (p *proc) run() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != stateCreated || p.sync == nil {
		return fmt.Errorf("process %s is not in the created state", p.name())
	}
	_, err := p.sync.Write([]byte{syncStart})
	p.sync.Close()
	p.sync = nil
	if err != nil {
		return fmt.Errorf("start guest: %w", err)
	}
	p.state = stateRunning
	p.startedAt = time.Now()
	return nil
}

func (p *proc) name() string {
	if p.execID != "" {
		return p.id + "/" + p.execID
	}
	return p.id
}

// wait reaps the monitor, drains the terminal output, and records the status.
func (p *proc) wait() {
	err := p.cmd.Wait()
	status := 0
	if ps := p.cmd.ProcessState; ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			status = 128 + int(ws.Signal())
		} else {
			status = ps.ExitCode()
		}
	} else if err != nil {
		status = exitKilled
	}
	// All output must reach containerd before the exit is reported.
	p.ioWG.Wait()
	p.closeIO()
	p.mu.Lock()
	if p.sync != nil {
		p.sync.Close()
		p.sync = nil
	}
	p.state = stateStopped
	p.status = status
	p.exitedAt = time.Now()
	p.mu.Unlock()
	close(p.done)
}

// ttyEOF records CloseIO (closeIO true) or the end of stdin's data
// (false) for a terminal; once both came, in whichever order, it writes
// ^D, which is EOF for a reader at the start of a line.
func (p *proc) ttyEOF(closeIO bool) {
	p.mu.Lock()
	if closeIO {
		p.closeIOSeen = true
	} else {
		p.stdinDrained = true
	}
	con := p.console
	send := p.closeIOSeen && p.stdinDrained && !p.eofSent && con != nil
	p.eofSent = p.eofSent || send
	p.mu.Unlock()
	if send {
		con.Write([]byte{4})
	}
}

func (p *proc) closeStdin() {
	p.mu.Lock()
	w := p.stdinW
	p.stdinW = nil
	p.mu.Unlock()
	if w != nil {
		w.Close()
	}
}

func (p *proc) closeIO() {
	p.closeStdin()
	p.mu.Lock()
	cs := p.closers
	p.closers = nil
	r := p.stdinR
	p.stdinR = nil
	con := p.console
	p.mu.Unlock()
	if r != nil {
		r.Close()
	}
	for _, c := range cs {
		c.Close()
	}
	if con != nil {
		con.Close()
	}
}

func (p *proc) signal(sig unix.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == stateStopped || p.cmd == nil {
		return errProcessDone
	}
	return unix.Kill(p.pid, sig)
}

var errProcessDone = errors.New("process already finished")

// loggerReadyTimeout bounds the wait for a binary:// logger to start.
const loggerReadyTimeout = 10 * time.Second

// startLogger runs a binary:// log driver as containerd's shims do: the
// URI's path is the program, its query the arguments; it gets the process's
// stdout and stderr on fds 3 and 4 and closes (or writes to) fd 5 when ready.
func (p *proc) startLogger(uri, namespace string) (*os.File, *os.File, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, nil, fmt.Errorf("log URI %q: %w", uri, err)
	}
	var args []string
	for k, vs := range u.Query() {
		args = append(args, k)
		if len(vs) > 0 && vs[0] != "" {
			args = append(args, vs[0])
		}
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, nil, err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		errR.Close()
		errW.Close()
		return nil, nil, err
	}
	cmd := exec.Command(u.Path, args...)
	cmd.Env = append(os.Environ(), "CONTAINER_ID="+p.id, "CONTAINER_NAMESPACE="+namespace)
	cmd.ExtraFiles = []*os.File{outR, errR, readyW}
	err = cmd.Start()
	outR.Close()
	errR.Close()
	readyW.Close()
	if err != nil {
		readyR.Close()
		outW.Close()
		errW.Close()
		return nil, nil, fmt.Errorf("log binary %s: %w", u.Path, err)
	}
	go cmd.Wait() // the logger ends at EOF, after the monitor
	ready := make(chan error, 1)
	go func() {
		var b [1]byte
		_, err := readyR.Read(b[:])
		if err == io.EOF {
			err = nil
		}
		ready <- err
	}()
	select {
	case err = <-ready:
	case <-time.After(loggerReadyTimeout):
		err = errors.New("not ready in time")
	}
	readyR.Close()
	if err != nil {
		cmd.Process.Kill()
		outW.Close()
		errW.Close()
		return nil, nil, fmt.Errorf("log binary %s: %w", u.Path, err)
	}
	return outW, errW, nil
}
