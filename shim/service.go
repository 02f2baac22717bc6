// Package shim is km's containerd task service: each container's process
// (and each exec) is one km monitor child of the shim, running the program
// in its own VM.
package shim

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/console"
	eventstypes "github.com/containerd/containerd/api/events"
	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kmvm/km/oci"
)

// PidFile records the init monitor's pid in the bundle, for `delete` after
// the shim died.
const PidFile = "km-init.pid"

// Version is the shim's version, reported by Connect.
var Version = "dev"

type container struct {
	id, bundle  string
	launch      *oci.Launch
	mc          monitorConfig
	rootMounted string // where the shim mounted the rootfs, or ""
	mountNS     string // the init monitor's mount namespace, if it has its own
	cg          *cgroup
	init        *proc
	execs       map[string]*proc
}

// Service implements task API v3 (and, through Register, v2).
type Service struct {
	mu         sync.Mutex
	containers map[string]*container
	events     *publisher
	km         string
	shutdown   func()
}

// NewService returns a task service that publishes through containerd's
// ttrpc address (or the publish binary) and calls shutdown when containerd
// asks it to exit.
func NewService(namespace, ttrpcAddress, publishBinary, address string, shutdown func()) *Service {
	return &Service{
		containers: map[string]*container{},
		events:     newPublisher(namespace, ttrpcAddress, publishBinary, address),
		shutdown:   shutdown,
	}
}

// Close flushes pending events.
func (s *Service) Close() { s.events.Close() }

func (s *Service) get(id string) (*container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[id]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	return c, nil
}

func (s *Service) getProc(id, execID string) (*container, *proc, error) {
	c, err := s.get(id)
	if err != nil {
		return nil, nil, err
	}
	if execID == "" {
		return c, c.init, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := c.execs[execID]
	if !ok {
		return nil, nil, fmt.Errorf("exec %s in %s: %w", execID, id, errdefs.ErrNotFound)
	}
	return c, p, nil
}

func (s *Service) Create(ctx context.Context, r *taskv3.CreateTaskRequest) (_ *taskv3.CreateTaskResponse, retErr error) {
	lg := log.G(ctx).WithField("id", r.ID)
	s.mu.Lock()
	_, exists := s.containers[r.ID]
	s.mu.Unlock()
	if exists {
		return nil, fmt.Errorf("container %s: %w", r.ID, errdefs.ErrAlreadyExists)
	}
	if r.Checkpoint != "" {
		return nil, fmt.Errorf("restore from checkpoint: %w", errdefs.ErrNotImplemented)
	}
	cfg, cfgPath, err := loadConfig(r.Options)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	spec, err := oci.Load(r.Bundle)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	if cfg.LogLevel != "" {
		if lvl, err := logrus.ParseLevel(cfg.LogLevel); err == nil {
			log.L.Logger.SetLevel(lvl)
		}
	}
	hasLimit := spec.Linux != nil && spec.Linux.Resources != nil && spec.Linux.Resources.Memory != nil &&
		spec.Linux.Resources.Memory.Limit != nil && *spec.Linux.Resources.Memory.Limit > 0
	launch, err := oci.FromSpec(r.Bundle, spec)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	if !hasLimit && cfg.Memory != "" {
		launch.Memory, _ = parseSize(cfg.Memory)
	}
	km := s.km
	if km == "" {
		if km, err = findKM(); err != nil {
			return nil, err
		}
		s.km = km
	}
	c := &container{id: r.ID, bundle: r.Bundle, launch: launch, execs: map[string]*proc{},
		mc: monitorConfig{km: km, strict: cfg.Strict, kvmDevice: cfg.KVMDevice, logLevel: cfg.LogLevel, namespace: s.events.namespace}}
	lg.WithFields(log.Fields{"bundle": r.Bundle, "config": cfgPath, "memory": launch.Memory, "args": launch.Args}).Debug("create")

	defer func() {
		if retErr != nil {
			c.cleanup(ctx)
		}
	}()
	if len(r.Rootfs) > 0 {
		target := filepath.Join(r.Bundle, "rootfs")
		if err := os.MkdirAll(target, 0o711); err != nil {
			return nil, err
		}
		if err := mountRootfs(r.Rootfs, target); err != nil {
			return nil, err
		}
		c.rootMounted = target
	}
	if st, err := os.Stat(launch.Root); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("rootfs %s is not a directory: %w", launch.Root, errdefs.ErrInvalidArgument)
	}
	if c.cg, err = newCgroup(launch.CgroupsPath, allowDevices(launch.Resources, c.mc.kvmDevice)); err != nil {
		return nil, err
	}
	var joins []nsJoin
	var cloneflags uintptr
	for _, ns := range launch.Namespaces {
		flag, ok := nsFlags[ns.Type]
		if !ok {
			continue
		}
		if ns.Path == "" {
			cloneflags |= uintptr(flag)
		} else {
			joins = append(joins, nsJoin{path: ns.Path, flag: flag})
		}
	}
	p := newProc(r.ID, "", launch, stdio{stdin: r.Stdin, stdout: r.Stdout, stderr: r.Stderr, terminal: r.Terminal})
	launch.Terminal = launch.Terminal || r.Terminal
	c.init = p
	if err := p.start(ctx, c.mc, c, joins, cloneflags); err != nil {
		return nil, fmt.Errorf("create %s: %w", r.ID, err)
	}
	os.WriteFile(filepath.Join(r.Bundle, PidFile), []byte(strconv.Itoa(p.pid)), 0o644)
	s.mu.Lock()
	s.containers[r.ID] = c
	s.mu.Unlock()
	go s.reportExit(c, p)
	s.events.Publish(TopicTaskCreate, &eventstypes.TaskCreate{
		ContainerID: r.ID, Bundle: r.Bundle, Rootfs: r.Rootfs,
		IO:  &eventstypes.TaskIO{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal},
		Pid: uint32(p.pid),
	})
	return &taskv3.CreateTaskResponse{Pid: uint32(p.pid)}, nil
}

// reportExit publishes TaskExit once p's monitor is reaped and its output
// drained. When the init exits, the container's other processes are killed.
func (s *Service) reportExit(c *container, p *proc) {
	<-p.done
	if p.execID == "" {
		s.mu.Lock()
		execs := make([]*proc, 0, len(c.execs))
		for _, e := range c.execs {
			execs = append(execs, e)
		}
		s.mu.Unlock()
		for _, e := range execs {
			e.signal(unix.SIGKILL)
		}
	}
	if c.cg != nil && c.cg.newOOMKills() {
		log.L.WithField("id", c.id).Warn("OOM killer acted in the container's cgroup")
		s.events.Publish(TopicTaskOOM, &eventstypes.TaskOOM{ContainerID: c.id})
	}
	s.events.Publish(TopicTaskExit, &eventstypes.TaskExit{
		ContainerID: c.id, ID: p.name2(), Pid: uint32(p.pid),
		ExitStatus: uint32(p.status), ExitedAt: timestamppb.New(p.exitedAt),
	})
}

// name2 is the process id containerd uses in events: the exec id, or the
// container id for the init.
func (p *proc) name2() string {
	if p.execID != "" {
		return p.execID
	}
	return p.id
}

// cleanup kills what is left of the container and releases its cgroup and
// rootfs mount.
func (c *container) cleanup(ctx context.Context) {
	if c.cg != nil {
		if pids, err := c.cg.pids(); err == nil {
			for _, pid := range pids {
				unix.Kill(pid, unix.SIGKILL)
			}
		}
		if c.init != nil && c.init.cmd != nil {
			select {
			case <-c.init.done:
			default:
			}
		}
		for i := 0; i < 100; i++ {
			if err := c.cg.delete(); err == nil {
				break
			}
			unix.Nanosleep(&unix.Timespec{Nsec: 10_000_000}, nil)
		}
	}
	if c.rootMounted != "" {
		if err := unmountAll(c.rootMounted); err != nil {
			log.G(ctx).WithError(err).Warn("unmount rootfs")
		}
	}
	os.Remove(filepath.Join(c.bundle, PidFile))
	os.Remove(filepath.Join(c.bundle, MountsFile))
	os.Remove(filepath.Join(c.bundle, SeccompFile))
}

func (s *Service) Start(ctx context.Context, r *taskv3.StartRequest) (*taskv3.StartResponse, error) {
	c, p, err := s.getProc(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	if err := p.run(); err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrFailedPrecondition)
	}
	if r.ExecID == "" {
		s.events.Publish(TopicTaskStart, &eventstypes.TaskStart{ContainerID: c.id, Pid: uint32(p.pid)})
	} else {
		s.events.Publish(TopicTaskExecStarted, &eventstypes.TaskExecStarted{ContainerID: c.id, ExecID: r.ExecID, Pid: uint32(p.pid)})
	}
	return &taskv3.StartResponse{Pid: uint32(p.pid)}, nil
}

func (s *Service) Delete(ctx context.Context, r *taskv3.DeleteRequest) (*taskv3.DeleteResponse, error) {
	c, p, err := s.getProc(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	st := p.state
	p.mu.Unlock()
	if st == stateRunning {
		return nil, fmt.Errorf("process %s is running; kill it first: %w", p.name(), errdefs.ErrFailedPrecondition)
	}
	if st == stateCreated {
		p.signal(unix.SIGKILL)
		<-p.done
	}
	<-p.done
	resp := &taskv3.DeleteResponse{Pid: uint32(p.pid), ExitStatus: uint32(p.status), ExitedAt: timestamppb.New(p.exitedAt)}
	s.mu.Lock()
	if r.ExecID != "" {
		delete(c.execs, r.ExecID)
		s.mu.Unlock()
		return resp, nil
	}
	delete(s.containers, r.ID)
	s.mu.Unlock()
	c.cleanup(ctx)
	s.events.Publish(TopicTaskDelete, &eventstypes.TaskDelete{
		ContainerID: c.id, Pid: resp.Pid, ExitStatus: resp.ExitStatus, ExitedAt: resp.ExitedAt, ID: c.id,
	})
	return resp, nil
}

func (s *Service) State(ctx context.Context, r *taskv3.StateRequest) (*taskv3.StateResponse, error) {
	c, p, err := s.getProc(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	status := task.Status_CREATED
	switch {
	case p.state == stateStopped:
		status = task.Status_STOPPED
	case p.paused:
		status = task.Status_PAUSED
	case p.state == stateRunning:
		status = task.Status_RUNNING
	}
	resp := &taskv3.StateResponse{
		ID: p.name2(), Bundle: c.bundle, Pid: uint32(p.pid), Status: status,
		Stdin: p.io.stdin, Stdout: p.io.stdout, Stderr: p.io.stderr, Terminal: p.io.terminal || p.launch.Terminal,
		ExecID: r.ExecID,
	}
	if p.state == stateStopped {
		resp.ExitStatus = uint32(p.status)
		resp.ExitedAt = timestamppb.New(p.exitedAt)
	}
	return resp, nil
}

func (s *Service) Wait(ctx context.Context, r *taskv3.WaitRequest) (*taskv3.WaitResponse, error) {
	_, p, err := s.getProc(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &taskv3.WaitResponse{ExitStatus: uint32(p.status), ExitedAt: timestamppb.New(p.exitedAt)}, nil
}

func (s *Service) Kill(ctx context.Context, r *taskv3.KillRequest) (*emptypb.Empty, error) {
	c, p, err := s.getProc(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	sig := unix.Signal(r.Signal)
	if r.All && c.cg != nil {
		pids, err := c.cg.pids()
		if err != nil {
			return nil, err
		}
		for _, pid := range pids {
			unix.Kill(pid, sig)
		}
		return &emptypb.Empty{}, nil
	}
	if err := p.signal(sig); err != nil {
		if err == errProcessDone {
			return nil, fmt.Errorf("%s: %w", err, errdefs.ErrNotFound)
		}
		return nil, err
	}
	if p.paused && c.cg != nil && (sig == unix.SIGKILL || sig == unix.SIGTERM) {
		c.cg.thaw() // a frozen process cannot act on the signal
	}
	return &emptypb.Empty{}, nil
}

func (s *Service) Exec(ctx context.Context, r *taskv3.ExecProcessRequest) (*emptypb.Empty, error) {
	c, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	_, dup := c.execs[r.ExecID]
	s.mu.Unlock()
	if dup {
		return nil, fmt.Errorf("exec %s: %w", r.ExecID, errdefs.ErrAlreadyExists)
	}
	c.init.mu.Lock()
	initState, initPid := c.init.state, c.init.pid
	c.init.mu.Unlock()
	if initState == stateStopped {
		return nil, fmt.Errorf("container %s has stopped: %w", r.ID, errdefs.ErrFailedPrecondition)
	}
	var ps specs.Process
	if r.Spec == nil || json.Unmarshal(r.Spec.GetValue(), &ps) != nil {
		return nil, fmt.Errorf("exec %s: unreadable process spec: %w", r.ExecID, errdefs.ErrInvalidArgument)
	}
	l, err := oci.FromProcess(&ps)
	if err != nil {
		return nil, fmt.Errorf("exec %s: %v: %w", r.ExecID, err, errdefs.ErrInvalidArgument)
	}
	l.Terminal = l.Terminal || r.Terminal
	// The exec joins the init monitor's namespaces.
	var joins []nsJoin
	for _, ns := range c.launch.Namespaces {
		if flag, ok := nsFlags[ns.Type]; ok {
			joins = append(joins, nsJoin{path: fmt.Sprintf("/proc/%d/ns/%s", initPid, nsNames[flag]), flag: flag})
		}
	}
	p := newProc(r.ID, r.ExecID, l, stdio{stdin: r.Stdin, stdout: r.Stdout, stderr: r.Stderr, terminal: r.Terminal})
	if err := p.start(ctx, c.mc, c, joins, 0); err != nil {
		return nil, fmt.Errorf("exec %s: %w", r.ExecID, err)
	}
	s.mu.Lock()
	c.execs[r.ExecID] = p
	s.mu.Unlock()
	go s.reportExit(c, p)
	s.events.Publish(TopicTaskExecAdded, &eventstypes.TaskExecAdded{ContainerID: c.id, ExecID: r.ExecID})
	return &emptypb.Empty{}, nil
}

func (s *Service) ResizePty(ctx context.Context, r *taskv3.ResizePtyRequest) (*emptypb.Empty, error) {
	_, p, err := s.getProc(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	con, stopped := p.console, p.state == stateStopped
	p.mu.Unlock()
	if con == nil {
		return nil, fmt.Errorf("%s has no terminal: %w", p.name(), errdefs.ErrFailedPrecondition)
	}
	if stopped {
		return &emptypb.Empty{}, nil // ctr resizes after Start; the guest may be gone already
	}
	if err := con.Resize(console.WinSize{Width: uint16(r.Width), Height: uint16(r.Height)}); err != nil {
		select {
		case <-p.done: // the terminal closed as the guest exited
		case <-time.After(time.Second):
			return nil, err
		}
	}
	return &emptypb.Empty{}, nil
}

func (s *Service) CloseIO(ctx context.Context, r *taskv3.CloseIORequest) (*emptypb.Empty, error) {
	_, p, err := s.getProc(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	if r.Stdin {
		// The daemon closes its end of the stdin FIFO too: the copy
		// drains what is still in the FIFO and then ends stdin (closing
		// the monitor's pipe, or ^D on a terminal). Closing the FIFO
		// here would drop that data: CRI's exec closes its end and sends
		// CloseIO at once, with up to a FIFO's worth not yet copied.
		p.mu.Lock()
		tty, in := p.console != nil, p.stdinR
		p.mu.Unlock()
		if tty && in != nil {
			p.ttyEOF(true)
		}
	}
	return &emptypb.Empty{}, nil
}

func (s *Service) Pids(ctx context.Context, r *taskv3.PidsRequest) (*taskv3.PidsResponse, error) {
	c, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	var pids []int
	if c.cg != nil {
		if pids, err = c.cg.pids(); err != nil {
			return nil, err
		}
	} else {
		s.mu.Lock()
		for _, p := range append([]*proc{c.init}, mapValues(c.execs)...) {
			if p.state != stateStopped {
				pids = append(pids, p.pid)
			}
		}
		s.mu.Unlock()
	}
	resp := &taskv3.PidsResponse{}
	for _, pid := range pids {
		resp.Processes = append(resp.Processes, &task.ProcessInfo{Pid: uint32(pid)})
	}
	return resp, nil
}

func mapValues(m map[string]*proc) []*proc {
	out := make([]*proc, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	return out
}

func (s *Service) Stats(ctx context.Context, r *taskv3.StatsRequest) (*taskv3.StatsResponse, error) {
	c, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	if c.cg == nil {
		return nil, fmt.Errorf("container %s has no cgroup: %w", r.ID, errdefs.ErrNotFound)
	}
	st, err := c.cg.stats()
	if err != nil {
		return nil, err
	}
	return &taskv3.StatsResponse{Stats: st}, nil
}

func (s *Service) Update(ctx context.Context, r *taskv3.UpdateTaskRequest) (*emptypb.Empty, error) {
	c, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	if c.cg == nil {
		return nil, fmt.Errorf("container %s has no cgroup: %w", r.ID, errdefs.ErrFailedPrecondition)
	}
	var res specs.LinuxResources
	if r.Resources == nil || json.Unmarshal(r.Resources.GetValue(), &res) != nil {
		return nil, fmt.Errorf("update %s: unreadable resources: %w", r.ID, errdefs.ErrInvalidArgument)
	}
	// CRI sends the whole resources section, its deny-all device rule
	// included: the monitor's devices are allowed again, or the next
	// exec's monitor could not open /dev/kvm.
	if err := c.cg.update(allowDevices(&res, c.mc.kvmDevice)); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// Pause freezes the container's cgroup: the monitors' vCPU threads stop
// where they are, and so do the guests.
func (s *Service) Pause(ctx context.Context, r *taskv3.PauseRequest) (*emptypb.Empty, error) {
	return s.setPaused(r.ID, true)
}

func (s *Service) Resume(ctx context.Context, r *taskv3.ResumeRequest) (*emptypb.Empty, error) {
	return s.setPaused(r.ID, false)
}

func (s *Service) setPaused(id string, pause bool) (*emptypb.Empty, error) {
	c, err := s.get(id)
	if err != nil {
		return nil, err
	}
	if c.cg == nil {
		return nil, fmt.Errorf("pause without a cgroup: %w", errdefs.ErrNotImplemented)
	}
	if pause {
		err = c.cg.freeze()
	} else {
		err = c.cg.thaw()
	}
	if err != nil {
		return nil, err
	}
	c.init.mu.Lock()
	c.init.paused = pause
	c.init.mu.Unlock()
	if pause {
		s.events.Publish(TopicTaskPaused, &eventstypes.TaskPaused{ContainerID: id})
	} else {
		s.events.Publish(TopicTaskResumed, &eventstypes.TaskResumed{ContainerID: id})
	}
	return &emptypb.Empty{}, nil
}

func (s *Service) Checkpoint(ctx context.Context, r *taskv3.CheckpointTaskRequest) (*emptypb.Empty, error) {
	return nil, fmt.Errorf("checkpoint: %w", errdefs.ErrNotImplemented)
}

func (s *Service) Connect(ctx context.Context, r *taskv3.ConnectRequest) (*taskv3.ConnectResponse, error) {
	resp := &taskv3.ConnectResponse{ShimPid: uint32(os.Getpid()), Version: Version}
	if c, err := s.get(r.ID); err == nil {
		resp.TaskPid = uint32(c.init.pid)
	}
	return resp, nil
}

// Shutdown ends the shim once it hosts no container (or at once with Now).
func (s *Service) Shutdown(ctx context.Context, r *taskv3.ShutdownRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	n := len(s.containers)
	s.mu.Unlock()
	if n == 0 || r.Now {
		s.shutdown()
	}
	return &emptypb.Empty{}, nil
}

// CleanupStale releases what a dead shim left for a bundle: processes in
// the cgroup, the cgroup, and the rootfs mount.
func CleanupStale(bundle, cgroupsPath string) {
	if cg := loadCgroup(cgroupsPath); cg != nil {
		if pids, err := cg.pids(); err == nil {
			for _, pid := range pids {
				unix.Kill(pid, unix.SIGKILL)
			}
		}
		for i := 0; i < 100 && cg.delete() != nil; i++ {
			unix.Nanosleep(&unix.Timespec{Nsec: 10_000_000}, nil)
		}
	}
	unmountAll(filepath.Join(bundle, "rootfs"))
}
