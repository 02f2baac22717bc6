package cri_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// kmHandler is the RuntimeClass handler: the runtimes.km key in the
// containerd config.
const kmHandler = "km"

var seq atomic.Int64

// pod is one CRI pod sandbox under test.
type pod struct {
	t      *testing.T
	d      *daemon
	id     string
	cfg    *runtimeapi.PodSandboxConfig
	ns     *runtimeapi.NamespaceOption
	logDir string
}

func rpcCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), rpcTimeout)
}

// hostNetwork is the namespaces of a host-network pod (no CNI needed);
// pid and ipc are the pod's own.
func hostNetwork() *runtimeapi.NamespaceOption {
	return &runtimeapi.NamespaceOption{
		Network: runtimeapi.NamespaceMode_NODE,
		Pid:     runtimeapi.NamespaceMode_CONTAINER,
		Ipc:     runtimeapi.NamespaceMode_POD,
	}
}

// podNetwork is the namespaces of a pod with its own network namespace
// (CNI sets it up).
func podNetwork() *runtimeapi.NamespaceOption {
	ns := hostNetwork()
	ns.Network = runtimeapi.NamespaceMode_POD
	return ns
}

// podSpec is what differs between the tests' pods.
type podSpec struct {
	handler string                // RuntimeClass handler; "": km
	dns     *runtimeapi.DNSConfig // the kubelet's ClusterFirst config; nil: the host's resolv.conf
	podNet  bool                  // a network namespace of the pod's own (CNI) instead of the host's
}

// runPod starts a pod, as the kubelet does for a pod whose RuntimeClass has
// `handler: km`.
func runPod(t *testing.T, d *daemon, s podSpec) *pod {
	t.Helper()
	handler, ns := s.handler, hostNetwork()
	if handler == "" {
		handler = kmHandler
	}
	if s.podNet {
		ns = podNetwork()
	}
	dns := s.dns
	name := fmt.Sprintf("km-pod-%d", seq.Add(1))
	p := &pod{t: t, d: d, ns: ns, logDir: filepath.Join(d.dir, "pods", name)}
	// The kubelet creates the pod's log directory; CRI writes files in it.
	if err := os.MkdirAll(p.logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	p.cfg = &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Uid: name + "-uid", Namespace: "default"},
		LogDirectory: p.logDir,
		DnsConfig:    dns,
		Labels:       map[string]string{"app": "km-cri-test"},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			// As the kubelet's cgroupfs driver does: containerd puts each
			// container in <parent>/<container id>.
			CgroupParent:    podCgroupParent(name),
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: ns},
		},
	}
	ctx, cancel := rpcCtx()
	defer cancel()
	r, err := d.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: p.cfg, RuntimeHandler: handler})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	p.id = r.PodSandboxId
	// Whatever fails later, the pod goes (a no-op after a clean removal).
	t.Cleanup(func() {
		ctx, cancel := rpcCtx()
		defer cancel()
		d.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.id})
		d.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.id})
	})
	return p
}

// podCgroupParent is the pod's cgroup, under one of the suite's own.
func podCgroupParent(name string) string {
	return "/" + filepath.Base(work) + "/" + name
}

// memoryLimit is every test container's limit: its VM's memory size.
const memoryLimit = 64 << 20

// oomScoreAdj is every test container's OOM score adjustment, the one the
// kubelet gives a BestEffort pod's containers.
const oomScoreAdj = 1000

// ctrSpec is what differs between the tests' containers.
type ctrSpec struct {
	image  string                                    // "": the app image
	sc     *runtimeapi.LinuxContainerSecurityContext // nil: the pod's namespaces, nothing else
	mounts []*runtimeapi.Mount                       // volumes
	stdin  bool                                      // stdin kept open (kubectl run -i)
	once   bool                                      // stdin closed after the first attach ends (StdinOnce)
	tty    bool                                      // a terminal (kubectl run -t)
}

// create makes a container running argv in the pod, with its log at
// <logDir>/<name>.log, the memory limit and the OOM score above, and
// KM_CRI=yes in its environment.
func (p *pod) create(name string, s ctrSpec, argv ...string) string {
	p.t.Helper()
	image, sc := s.image, s.sc
	if image == "" {
		image = appImage
	}
	if sc == nil {
		sc = &runtimeapi.LinuxContainerSecurityContext{}
	}
	sc.NamespaceOptions = p.ns
	ctx, cancel := rpcCtx()
	defer cancel()
	r, err := p.d.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: p.id,
		Config: &runtimeapi.ContainerConfig{
			Metadata:  &runtimeapi.ContainerMetadata{Name: name},
			Image:     &runtimeapi.ImageSpec{Image: image},
			Command:   argv[:1],
			Args:      argv[1:],
			Envs:      []*runtimeapi.KeyValue{{Key: "KM_CRI", Value: "yes"}},
			LogPath:   name + ".log",
			Mounts:    s.mounts,
			Stdin:     s.stdin,
			StdinOnce: s.once,
			Tty:       s.tty,
			Linux: &runtimeapi.LinuxContainerConfig{
				Resources:       &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: memoryLimit, OomScoreAdj: oomScoreAdj},
				SecurityContext: sc,
			},
		},
		SandboxConfig: p.cfg,
	})
	if err != nil {
		p.t.Fatalf("CreateContainer %s: %v", name, err)
	}
	return r.ContainerId
}

// run creates and starts a container.
func (p *pod) run(name string, s ctrSpec, argv ...string) string {
	p.t.Helper()
	id := p.create(name, s, argv...)
	p.start(id)
	return id
}

func (p *pod) start(id string) {
	p.t.Helper()
	ctx, cancel := rpcCtx()
	defer cancel()
	if _, err := p.d.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		p.t.Fatalf("StartContainer: %v", err)
	}
}

func (p *pod) status(id string) *runtimeapi.ContainerStatus {
	p.t.Helper()
	ctx, cancel := rpcCtx()
	defer cancel()
	r, err := p.d.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		p.t.Fatalf("ContainerStatus: %v", err)
	}
	return r.Status
}

// waitExit waits for the container to exit and returns its status.
func (p *pod) waitExit(id string) *runtimeapi.ContainerStatus {
	p.t.Helper()
	deadline := time.Now().Add(rpcTimeout)
	for {
		s := p.status(id)
		if s.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			return s
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("container %s did not exit: %v", s.Metadata.Name, s.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logLine is one line of a CRI log file.
type logLine struct{ stream, text string }

// criLog matches CRI's log format: RFC 3339 time, stream, F(ull) or
// P(artial) tag, the line.
var criLog = regexp.MustCompile(`^(\S+) (stdout|stderr) (F|P) (.*)$`)

// exitedLog is readLog for a container that has exited, once containerd has
// written all of its output. CRI reports the container exited when its
// output pipes are drained, but the goroutines that turn what was read into
// log lines may still be writing; containerd closes the log file after them
// (createContainerLoggers), so the file is complete once no containerd
// descriptor refers to it. Under load that window is long enough to read a
// log without its last lines (seen once: stdout missing, stderr present).
func (p *pod) exitedLog(name string) []logLine {
	p.t.Helper()
	path := filepath.Join(p.logDir, name+".log")
	deadline := time.Now().Add(rpcTimeout)
	for p.d.holds(path) {
		if time.Now().After(deadline) {
			p.t.Fatalf("log of %s: containerd still has it open %v after the container exited", name, rpcTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p.readLog(name)
}

// holds reports whether the daemon has a descriptor open on path.
func (d *daemon) holds(path string) bool {
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", d.cmd.Process.Pid))
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && target == path {
			return true
		}
	}
	return false
}

// readLog parses the container's CRI log file.
func (p *pod) readLog(name string) []logLine {
	p.t.Helper()
	b, err := os.ReadFile(filepath.Join(p.logDir, name+".log"))
	if err != nil {
		p.t.Fatalf("log of %s: %v", name, err)
	}
	var out []logLine
	partial := map[string]string{}
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		m := criLog.FindStringSubmatch(l)
		if m == nil {
			p.t.Fatalf("log of %s: not CRI format: %q", name, l)
		}
		if _, err := time.Parse(time.RFC3339Nano, m[1]); err != nil {
			p.t.Fatalf("log of %s: bad time in %q: %v", name, l, err)
		}
		if m[3] == "P" {
			// A line split where containerd's read ended (the kubelet
			// joins these parts as well).
			partial[m[2]] += m[4]
			continue
		}
		out = append(out, logLine{m[2], partial[m[2]] + m[4]})
		delete(partial, m[2])
	}
	for _, stream := range []string{"stdout", "stderr"} {
		if rest, ok := partial[stream]; ok {
			out = append(out, logLine{stream, rest})
		}
	}
	return out
}

// stdout returns the stdout lines of a parsed log.
func stdout(lines []logLine) []string {
	var out []string
	for _, l := range lines {
		if l.stream == "stdout" {
			out = append(out, l.text)
		}
	}
	return out
}

// waitLog waits until the container's log holds the stdout line want.
func (p *pod) waitLog(name, want string) {
	p.t.Helper()
	deadline := time.Now().Add(rpcTimeout)
	for {
		if b, err := os.ReadFile(filepath.Join(p.logDir, name+".log")); err == nil && strings.Contains(string(b), " stdout F "+want+"\n") {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s never logged %q", name, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *pod) stopContainer(id string) {
	p.t.Helper()
	ctx, cancel := rpcCtx()
	defer cancel()
	// The kubelet's default grace period is 30 s; the guests here either
	// exit on SIGTERM or die of it, so SIGKILL after 20 s would be a bug.
	if _, err := p.d.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 20}); err != nil {
		p.t.Fatalf("StopContainer: %v", err)
	}
}

// remove stops and removes the pod sandbox.
func (p *pod) remove() {
	p.t.Helper()
	ctx, cancel := rpcCtx()
	defer cancel()
	if _, err := p.d.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.id}); err != nil {
		p.t.Fatalf("StopPodSandbox: %v", err)
	}
	if _, err := p.d.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.id}); err != nil {
		p.t.Fatalf("RemovePodSandbox: %v", err)
	}
}

func (p *pod) removeContainer(id string) {
	p.t.Helper()
	ctx, cancel := rpcCtx()
	defer cancel()
	if _, err := p.d.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		p.t.Fatalf("RemoveContainer: %v", err)
	}
}
