package cri_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// shimServer is in the command line of the shim's server process only (not
// of its start or delete invocations).
const shimServer = "\x00serve\x00"

// cpuShares is what TestPod updates a running container's CPU weight to.
const cpuShares = 512

// TestPod runs a host-network pod with the km handler through CRI: the
// pause sandbox and four containers in one shim, exit codes, the CRI log
// files, the cgroup's memory limit and stats, the OOM score, ExecSync (and
// one that times out), StopContainer with and without a SIGTERM handler,
// and the pod's removal, after which nothing of it is left on the host.
func TestPod(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d *daemon) {
		before := snapshot()
		p := runPod(t, d, podSpec{})
		ctx, cancel := rpcCtx()
		ps, err := d.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: p.id})
		cancel()
		if err != nil {
			t.Fatalf("PodSandboxStatus: %v", err)
		}
		if ps.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY {
			t.Fatalf("pod state %v", ps.Status.State)
		}
		// The pause container runs under km: one shim, one monitor.
		if n := len(procs("km", p.id)); n != 1 {
			t.Errorf("%d km monitors for the pause container, want 1", n)
		}

		hello0 := p.run("hello0", ctrSpec{}, "/bin/app", "hello", "3", "0")
		hello3 := p.run("hello3", ctrSpec{}, "/bin/app", "hello", "2", "3")
		for _, c := range []struct {
			id, name string
			code     int32
			want     []string
		}{
			{hello0, "hello0", 0, []string{"line 1", "line 2", "line 3", "KM_CRI=yes"}},
			{hello3, "hello3", 3, []string{"line 1", "line 2", "KM_CRI=yes"}},
		} {
			s := p.waitExit(c.id)
			if s.ExitCode != c.code {
				t.Errorf("%s: exit code %d (reason %q), want %d", c.name, s.ExitCode, s.Reason, c.code)
			}
			if s.LogPath != filepath.Join(p.logDir, c.name+".log") {
				t.Errorf("%s: LogPath %q", c.name, s.LogPath)
			}
			lines := p.exitedLog(c.name)
			if got := strings.Join(stdout(lines), "\n"); got != strings.Join(c.want, "\n") {
				t.Errorf("%s: stdout in the CRI log:\n%s\nwant:\n%s", c.name, got, strings.Join(c.want, "\n"))
			}
			if !contains(lines, logLine{"stderr", "to stderr"}) {
				t.Errorf("%s: no stderr line in the CRI log: %v", c.name, lines)
			}
			// Removing an exited container while the pod runs on: the
			// pod's shim stays (containerd 1.6 runs `shim delete` for it).
			p.removeContainer(c.id)
		}

		term := p.run("term", ctrSpec{}, "/bin/app", "term", "7")
		sleeper := p.run("sleep", ctrSpec{}, "/bin/app", "sleep")
		p.waitLog("term", "ready")
		p.waitLog("sleep", "ready")
		// Every container of the pod is served by the pod's one shim.
		if n := len(procs("containerd-shim-km-v2", d.sock, shimServer)); n != 1 {
			t.Errorf("%d km shims for the pod, want 1", n)
		}
		if _, err := os.Stat(d.shimSocket(p.id)); err != nil {
			t.Errorf("the pod's shim socket: %v", err)
		}

		// Stats, as the kubelet polls them: from the container's cgroup.
		ctx, cancel = rpcCtx()
		st, err := d.rt.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: term})
		cancel()
		if err != nil {
			t.Fatalf("ContainerStats: %v", err)
		}
		if st.Stats.Memory == nil || st.Stats.Memory.WorkingSetBytes == nil || st.Stats.Memory.WorkingSetBytes.Value == 0 ||
			st.Stats.Cpu == nil || st.Stats.Cpu.UsageCoreNanoSeconds == nil || st.Stats.Cpu.UsageCoreNanoSeconds.Value == 0 {
			t.Errorf("ContainerStats: %v", st.Stats)
		}
		if lim := cgroupMemoryLimit(t, podCgroupParent(p.cfg.Metadata.Name), term); lim != memoryLimit {
			t.Errorf("container memory limit %d, want %d", lim, memoryLimit)
		}

		// The kubelet's OOM score adjustment is the monitor's: the kernel's
		// OOM killer picks the guest's host process by it.
		if mons := procs("km", term); len(mons) != 1 {
			t.Errorf("km monitors of the term container: %v", mons)
		} else if b, err := os.ReadFile(mons[0] + "/oom_score_adj"); err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(oomScoreAdj) {
			t.Errorf("monitor oom_score_adj %q (%v), want %d", b, err, oomScoreAdj)
		}

		// ExecSync: another guest in the running container.
		ctx, cancel = rpcCtx()
		ex, err := d.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: term, Cmd: []string{"/bin/app", "hello", "1", "5"}, Timeout: 30})
		cancel()
		if err != nil {
			t.Fatalf("ExecSync: %v", err)
		}
		if ex.ExitCode != 5 || string(ex.Stdout) != "line 1\nKM_CRI=yes\n" || string(ex.Stderr) != "to stderr\n" {
			t.Errorf("ExecSync: exit %d, stdout %q, stderr %q", ex.ExitCode, ex.Stdout, ex.Stderr)
		}
		ctx, cancel = rpcCtx()
		ex, err = d.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: sleeper, Cmd: []string{"/bin/app", "hello", "0", "0"}, Timeout: 30})
		cancel()
		if err != nil || ex.ExitCode != 0 || string(ex.Stdout) != "KM_CRI=yes\n" {
			t.Errorf("ExecSync: %v, %+v", err, ex)
		}

		// A probe that times out: CRI kills the exec process, and its
		// monitor goes; the container runs on.
		ctx, cancel = rpcCtx()
		ex, err = d.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: sleeper, Cmd: []string{"/bin/app", "sleep"}, Timeout: 1})
		cancel()
		if err == nil {
			t.Errorf("ExecSync of a command that outlives its timeout: no error, %+v", ex)
		}
		waitMonitors(t, sleeper, 1)
		if s := p.status(sleeper); s.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			t.Errorf("sleep after a timed-out exec: %v", s.State)
		}

		// UpdateContainerResources (the kubelet's CPU manager, in-place
		// resize) reaches the container's cgroup.
		ctx, cancel = rpcCtx()
		_, err = d.rt.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: term,
			Linux: &runtimeapi.LinuxContainerResources{CpuShares: cpuShares, MemoryLimitInBytes: memoryLimit, OomScoreAdj: oomScoreAdj}})
		cancel()
		if err != nil {
			t.Errorf("UpdateContainerResources: %v", err)
		} else {
			cgroupCPUShares(t, podCgroupParent(p.cfg.Metadata.Name), term, cpuShares)
		}

		// Log rotation, as the kubelet does it: rename, then
		// ReopenContainerLog; what the guest writes next is in the new file.
		termLog := filepath.Join(p.logDir, "term.log")
		if err := os.Rename(termLog, termLog+".1"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel = rpcCtx()
		_, err = d.rt.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: term})
		cancel()
		if err != nil {
			t.Errorf("ReopenContainerLog: %v", err)
		}

		// StopContainer: SIGTERM; the handler decides the code, and a guest
		// without one dies of the signal (128+15).
		p.stopContainer(term)
		if s := p.waitExit(term); s.ExitCode != 7 {
			t.Errorf("term: exit code %d (reason %q), want 7", s.ExitCode, s.Reason)
		}
		if got := stdout(p.exitedLog("term")); strings.Join(got, "\n") != "got SIGTERM" {
			t.Errorf("term: stdout in the reopened CRI log: %q", got)
		}
		if b, err := os.ReadFile(termLog + ".1"); err != nil || !strings.HasSuffix(string(b), " stdout F ready\n") {
			t.Errorf("term: the rotated log: %q, %v", b, err)
		}
		p.stopContainer(sleeper)
		if s := p.waitExit(sleeper); s.ExitCode != 143 {
			t.Errorf("sleep: exit code %d (reason %q), want 143", s.ExitCode, s.Reason)
		}
		for _, id := range []string{term, sleeper} {
			p.removeContainer(id)
		}

		p.remove()
		checkNoLeaks(t, before, d.shimSocket(p.id))
		checkNoCgroups(t, podCgroupParent(p.cfg.Metadata.Name))
	})
}

// waitMonitors waits until the container has n km monitors (its own and
// its execs').
func waitMonitors(t *testing.T, id string, n int) {
	t.Helper()
	var mons []string
	for i := 0; i < 100; i++ {
		if mons = procs("km", id); len(mons) == n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("container %s has %d km monitors, want %d", id, len(mons), n)
}

func contains(lines []logLine, l logLine) bool {
	for _, x := range lines {
		if x == l {
			return true
		}
	}
	return false
}

// TestRestricted: a container with the security context Knative's
// queue-proxy runs with (non-root, read-only root, no capabilities, no new
// privileges, the runtime's default seccomp profile) sees what it sees
// under runc.
func TestRestricted(t *testing.T) {
	const nobody = 65532
	forEachDaemon(t, func(t *testing.T, d *daemon) {
		out := map[string]string{}
		for _, handler := range []string{kmHandler, "runc"} {
			before := snapshot()
			p := runPod(t, d, podSpec{handler: handler})
			id := p.run("ident", ctrSpec{sc: &runtimeapi.LinuxContainerSecurityContext{
				Capabilities:   &runtimeapi.Capability{DropCapabilities: []string{"ALL"}},
				RunAsUser:      &runtimeapi.Int64Value{Value: nobody},
				RunAsGroup:     &runtimeapi.Int64Value{Value: nobody},
				ReadonlyRootfs: true,
				NoNewPrivs:     true,
				Seccomp:        &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault},
			}}, "/bin/app", "ident")
			if s := p.waitExit(id); s.ExitCode != 0 {
				t.Errorf("%s: exit code %d (reason %q, message %q)", handler, s.ExitCode, s.Reason, s.Message)
			}
			out[handler] = strings.Join(stdout(p.exitedLog("ident")), "\n")
			p.removeContainer(id)
			p.remove()
			checkNoLeaks(t, before, d.shimSocket(p.id))
			checkNoCgroups(t, podCgroupParent(p.cfg.Metadata.Name))
		}
		want := fmt.Sprintf("uid=%d gid=%d\ncreate /tmp/probe: Read-only file system", nobody, nobody)
		if out[kmHandler] != want || out["runc"] != want {
			t.Errorf("km:\n%s\nrunc:\n%s\nwant:\n%s", out[kmHandler], out["runc"], want)
		}
	})
}

// TestStopPodRunning: StopPodSandbox with containers still running (a pod
// deleted with no grace period) kills them (SIGKILL: 137) and the pause
// container, and nothing is left.
func TestStopPodRunning(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d *daemon) {
		before := snapshot()
		p := runPod(t, d, podSpec{})
		term := p.run("term", ctrSpec{}, "/bin/app", "term", "7")
		sleeper := p.run("sleep", ctrSpec{}, "/bin/app", "sleep")
		p.waitLog("term", "ready")
		p.waitLog("sleep", "ready")
		ctx, cancel := rpcCtx()
		_, err := d.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.id})
		cancel()
		if err != nil {
			t.Fatalf("StopPodSandbox: %v", err)
		}
		for _, id := range []string{term, sleeper} {
			if s := p.waitExit(id); s.ExitCode != 137 {
				t.Errorf("%s: exit code %d (reason %q), want 137", s.Metadata.Name, s.ExitCode, s.Reason)
			}
		}
		ctx, cancel = rpcCtx()
		_, err = d.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.id})
		cancel()
		if err != nil {
			t.Fatalf("RemovePodSandbox: %v", err)
		}
		checkNoLeaks(t, before, d.shimSocket(p.id))
		checkNoCgroups(t, podCgroupParent(p.cfg.Metadata.Name))
	})
}

// TestRestartContainerd: a km pod survives a containerd restart; CRI
// recovers it from the shim (which 1.6 reaches through the bundle's
// address file), and the pod is still managed afterwards.
func TestRestartContainerd(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d *daemon) {
		before := snapshot()
		p := runPod(t, d, podSpec{})
		sleeper := p.run("sleep", ctrSpec{}, "/bin/app", "sleep")
		p.waitLog("sleep", "ready")
		if err := d.restart(); err != nil {
			t.Fatalf("restart: %v", err)
		}
		if s := p.status(sleeper); s.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			t.Fatalf("sleep after the restart: %v", s.State)
		}
		ctx, cancel := rpcCtx()
		ps, err := d.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: p.id})
		cancel()
		if err != nil || ps.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY {
			t.Fatalf("pod after the restart: %v, %v", err, ps)
		}
		ctx, cancel = rpcCtx()
		ex, err := d.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: sleeper, Cmd: []string{"/bin/app", "hello", "1", "6"}, Timeout: 30})
		cancel()
		if err != nil || ex.ExitCode != 6 || string(ex.Stdout) != "line 1\nKM_CRI=yes\n" {
			t.Errorf("ExecSync after the restart: %v, %+v", err, ex)
		}
		p.stopContainer(sleeper)
		if s := p.waitExit(sleeper); s.ExitCode != 143 {
			t.Errorf("sleep: exit code %d (reason %q), want 143", s.ExitCode, s.Reason)
		}
		p.removeContainer(sleeper)
		p.remove()
		checkNoLeaks(t, before, d.shimSocket(p.id))
		checkNoCgroups(t, podCgroupParent(p.cfg.Metadata.Name))
	})
}

// TestMounts: the files CRI and the kubelet mount into a container (the
// pod's resolv.conf from its DNS config, /etc/hostname, volumes read-write
// and read-only) are what the guest sees, as under runc.
func TestMounts(t *testing.T) {
	dns := &runtimeapi.DNSConfig{Servers: []string{"10.96.0.10"}, Searches: []string{"default.svc.cluster.local"}, Options: []string{"ndots:5"}}
	forEachDaemon(t, func(t *testing.T, d *daemon) {
		out := map[string]string{}
		for _, handler := range []string{kmHandler, "runc"} {
			vol := filepath.Join(d.dir, "vol-"+handler+fmt.Sprint(seq.Add(1)))
			ro := vol + "-ro"
			for _, dir := range []string{vol, ro} {
				if err := os.MkdirAll(dir, 0o777); err != nil {
					t.Fatal(err)
				}
			}
			os.WriteFile(filepath.Join(vol, "in"), []byte("from the host\n"), 0o644)
			os.WriteFile(filepath.Join(ro, "in"), []byte("read-only\n"), 0o644)
			mounts := []*runtimeapi.Mount{
				{ContainerPath: "/vol", HostPath: vol},
				{ContainerPath: "/ro", HostPath: ro, Readonly: true},
			}
			before := snapshot()
			p := runPod(t, d, podSpec{handler: handler, dns: dns})
			var got []string
			for _, c := range []struct {
				name string
				argv []string
				code int32
			}{
				{"cat", []string{"/bin/app", "cat", "/etc/resolv.conf", "/etc/hostname", "/vol/in", "/ro/in"}, 0},
				{"write", []string{"/bin/app", "write", "/vol/out", "from the guest"}, 0},
				{"writero", []string{"/bin/app", "write", "/ro/out", "refused"}, 1},
			} {
				id := p.run(c.name, ctrSpec{mounts: mounts}, c.argv...)
				if s := p.waitExit(id); s.ExitCode != c.code {
					t.Errorf("%s: %s: exit code %d, want %d", handler, c.name, s.ExitCode, c.code)
				}
				got = append(got, stdout(p.exitedLog(c.name))...)
				p.removeContainer(id)
			}
			if b, err := os.ReadFile(filepath.Join(vol, "out")); err != nil || string(b) != "from the guest\n" {
				t.Errorf("%s: the volume on the host: %q, %v", handler, b, err)
			}
			out[handler] = strings.Join(got, "\n")
			p.remove()
			checkNoLeaks(t, before, d.shimSocket(p.id))
			checkNoCgroups(t, podCgroupParent(p.cfg.Metadata.Name))
		}
		host, _ := os.Hostname()
		for _, want := range []string{"nameserver 10.96.0.10", "search default.svc.cluster.local", "options ndots:5",
			"== /etc/hostname\n" + host, "== /vol/in\nfrom the host", "== /ro/in\nread-only",
			"write /vol/out: ok", "write /ro/out: Read-only file system"} {
			if !strings.Contains(out[kmHandler], want) {
				t.Errorf("km output lacks %q", want)
			}
		}
		if out[kmHandler] != out["runc"] {
			t.Errorf("km:\n%s\nrunc:\n%s", out[kmHandler], out["runc"])
		}
	})
}

// TestPodNetwork: a pod with its own network namespace (CNI's bridge
// plugin): the pause container's monitor is in it, every container joins
// it, and one container reaches another on 127.0.0.1, as Knative's
// queue-proxy reaches the user container.
func TestPodNetwork(t *testing.T) {
	const port = "18080"
	forEachDaemon(t, func(t *testing.T, d *daemon) {
		before := snapshot()
		p := runPod(t, d, podSpec{podNet: true})
		ctx, cancel := rpcCtx()
		ps, err := d.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: p.id, Verbose: true})
		cancel()
		if err != nil {
			t.Fatalf("PodSandboxStatus: %v", err)
		}
		_, subnet, _ := net.ParseCIDR(podSubnet)
		if ps.Status.Network == nil || !subnet.Contains(net.ParseIP(ps.Status.Network.Ip)) {
			t.Errorf("pod IP %v, want one in %s", ps.Status.Network, podSubnet)
		}
		// The pinned namespace CRI made (under /var/run/netns), from the
		// sandbox's spec in the verbose status.
		var info struct {
			Spec struct {
				Linux struct {
					Namespaces []struct{ Type, Path string }
				}
			} `json:"runtimeSpec"`
		}
		if err := json.Unmarshal([]byte(ps.Info["info"]), &info); err != nil {
			t.Fatalf("verbose pod status: %v", err)
		}
		var netnsPath string
		for _, ns := range info.Spec.Linux.Namespaces {
			if ns.Type == "network" {
				netnsPath = ns.Path
			}
		}
		if netnsPath == "" {
			t.Fatalf("no network namespace path in the sandbox spec: %q", ps.Info["info"])
		}
		podNS := netNS(t, procs("km", p.id))
		if host := netNS(t, []string{"/proc/self"}); podNS == host {
			t.Errorf("the pause monitor is in the host's network namespace %s", host)
		}

		server := p.run("server", ctrSpec{}, "/bin/app", "serve", port)
		p.waitLog("server", "listening")
		client := p.run("client", ctrSpec{}, "/bin/app", "connect", port)
		if s := p.waitExit(client); s.ExitCode != 0 {
			t.Errorf("client: exit code %d", s.ExitCode)
		}
		if got := stdout(p.exitedLog("client")); strings.Join(got, "\n") != "hello from the pod" {
			t.Errorf("client: %q", got)
		}
		if ns := netNS(t, procs("km", server)); ns != podNS {
			t.Errorf("server monitor in network namespace %s, the pod's is %s", ns, podNS)
		}
		ctx, cancel = rpcCtx()
		ex, err := d.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: server, Cmd: []string{"/bin/app", "connect", port}, Timeout: 30})
		cancel()
		if err != nil || ex.ExitCode != 0 || string(ex.Stdout) != "hello from the pod\n" {
			t.Errorf("ExecSync connect: %v %+v", err, ex)
		}
		p.stopContainer(server)
		if s := p.waitExit(server); s.ExitCode != 143 {
			t.Errorf("server: exit code %d, want 143", s.ExitCode)
		}
		p.removeContainer(server)
		p.removeContainer(client)
		p.remove()
		checkNoLeaks(t, before, d.shimSocket(p.id))
		checkNoCgroups(t, podCgroupParent(p.cfg.Metadata.Name))
		if _, err := os.Lstat(netnsPath); !os.IsNotExist(err) {
			t.Errorf("the pod's network namespace %s is left: %v", netnsPath, err)
		}
	})
}

// netNS is the network namespace of the one process in pids.
func netNS(t *testing.T, pids []string) string {
	t.Helper()
	if len(pids) != 1 {
		t.Fatalf("want one process, have %v", pids)
	}
	ns, err := os.Readlink(pids[0] + "/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	return ns
}
