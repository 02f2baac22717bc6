// Package cri_test runs pods under km through containerd's CRI plugin, as
// the kubelet would, with no kubelet: private containerd daemons (Debian's
// 1.6 and 2.2.1 built from the module proxy) with the CRI plugin enabled and
// a `km` runtime handler, driven over the CRI gRPC API (k8s.io/cri-api).
package cri_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kmvm/km/test/ociimage"
	"github.com/kmvm/km/test/repo"
)

const (
	// containerd v2 is built by scripts/install-test-deps.sh here.
	containerd2Dir = "/var/cache/km-test/containerd-v2.2.1/bin"
	// Debian's containernetworking-plugins.
	cniBinDir = "/usr/lib/cni"
	// podSubnet is the pod network's: the bridge has no address on the
	// host, so it routes nowhere.
	podSubnet = "10.250.0.0/24"
	// CRI's namespace in containerd.
	criNamespace = "k8s.io"
	pauseImage   = "docker.io/kmtest/pause:1"
	appImage     = "docker.io/kmtest/app:1"
	rpcTimeout   = 60 * time.Second
)

var (
	repoRoot string
	work     string // temp dir for everything the suite builds
	binDir   string // fresh km + shim, first on the daemons' PATH
	payloads string // static C programs
	daemons  []*daemon
)

// daemon is one private containerd with the CRI plugin.
type daemon struct {
	name    string // "containerd-1.6", "containerd-2.2"
	bin     string // containerd
	ctrBin  string
	dir     string
	sock    string
	cmd     *exec.Cmd
	logPath string
	bridge  string // the CNI bridge of this daemon's pod network
	conn    *grpc.ClientConn
	rt      runtimeapi.RuntimeServiceClient
	img     runtimeapi.ImageServiceClient
}

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	var err error
	var cleanup func()
	if repoRoot, work, cleanup, err = repo.Suite("kmcri", "KM_CRI_KEEP"); err != nil {
		fmt.Fprintln(os.Stderr, "cri tests:", err)
		return 1
	}
	defer cleanup()
	if err := build(); err != nil {
		fmt.Fprintln(os.Stderr, "cri tests: build:", err)
		return 1
	}
	daemons = []*daemon{
		{name: "containerd-1.6", bin: "/usr/bin/containerd", ctrBin: "/usr/bin/ctr"},
		{name: "containerd-2.2", bin: filepath.Join(containerd2Dir, "containerd"), ctrBin: filepath.Join(containerd2Dir, "ctr")},
	}
	// The daemons are independent: start them side by side.
	errs := make([]error, len(daemons))
	var wg sync.WaitGroup
	for i, d := range daemons {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.start()
		}()
	}
	wg.Wait()
	for i, d := range daemons {
		if errs[i] != nil {
			fmt.Fprintf(os.Stderr, "cri tests: %s: %v (run scripts/install-test-deps.sh)\n", d.name, errs[i])
			dumpLog(d)
		}
	}
	if errors.Join(errs...) != nil {
		stopAll()
		return 1
	}
	code := m.Run()
	stopAll()
	removeCgroups(filepath.Base(work))
	if code != 0 {
		for _, d := range daemons {
			dumpLog(d)
		}
	}
	return code
}

func dumpLog(d *daemon) {
	b, err := os.ReadFile(d.logPath)
	if err != nil {
		return
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) > 80 {
		lines = lines[len(lines)-80:]
	}
	fmt.Fprintf(os.Stderr, "--- last lines of %s log:\n%s\n", d.name, strings.Join(lines, "\n"))
}

func stopAll() {
	for _, d := range daemons {
		d.stop()
	}
}

// build makes the binaries under test, the payloads and the two images.
func build() error {
	binDir = filepath.Join(work, "bin")
	payloads = filepath.Join(work, "payloads")
	for _, d := range []string{binDir, payloads} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// One go build for both: the packages compile in parallel.
	if err := repo.GoBuild(repoRoot, binDir+"/", []string{"./cmd/km", "./cmd/containerd-shim-km-v2"}); err != nil {
		return err
	}
	for _, name := range []string{"pause", "app"} {
		src := filepath.Join(repoRoot, "test/cri/testdata", name+".c")
		cmd := exec.Command("gcc", "-static", "-O1", "-o", filepath.Join(payloads, name), src)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("gcc %s: %v\n%s", src, err, b)
		}
	}
	images := []struct {
		name, file string
		cmd        []string
	}{
		{pauseImage, "pause", []string{"/pause"}},
		{appImage, "app", []string{"/bin/app", "hello", "1", "0"}},
	}
	for _, im := range images {
		dst := strings.TrimPrefix(im.cmd[0], "/")
		b, err := ociimage.Image(im.name, map[string]string{dst: filepath.Join(payloads, im.file)}, im.cmd)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(work, im.file+".tar"), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// config is the daemon's TOML: own root, state and socket, never the
// system's; CRI with the local pause image, runc as the default handler and
// km as the `km` handler (as deploy/containerd-*.toml register it); CNI
// given Debian's plugins and a bridge network for pods with their own
// network namespace (host-network pods need none); OOM
// score adjustments kept to what the daemon may set (runc fails a sandbox's
// -998 where CAP_SYS_RESOURCE is missing, as in some CI containers).
func (d *daemon) config() string {
	root, state := filepath.Join(d.dir, "root"), filepath.Join(d.dir, "state")
	cniConf := filepath.Join(d.dir, "cni/net.d")
	if strings.HasPrefix(d.name, "containerd-1") {
		return fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[debug]
  level = "debug"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.km]
      runtime_type = "io.containerd.km.v2"
      pod_annotations = ["io.kubernetes.cri.*"]
      privileged_without_host_devices = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
`, root, state, d.sock, pauseImage, cniBinDir, cniConf)
	}
	return fmt.Sprintf(`version = 3
root = %q
state = %q
disabled_plugins = ["io.containerd.nri.v1.nri"]
[grpc]
  address = %q
[debug]
  level = "debug"
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = %q
[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.km]
      runtime_type = "io.containerd.km.v2"
      pod_annotations = ["io.kubernetes.cri.*"]
      privileged_without_host_devices = true
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [%q]
    conf_dir = %q
`, root, state, d.sock, pauseImage, cniBinDir, cniConf)
}

// restart stops the daemon (SIGTERM, leaving pods running) and starts it
// again on the same root, state and socket.
func (d *daemon) restart() error {
	d.conn.Close()
	d.conn = nil
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.cmd.Wait()
	d.cmd = nil
	return d.start()
}

// start launches the private daemon, imports the images into CRI's
// namespace and connects the CRI client.
func (d *daemon) start() error {
	if _, err := os.Stat(d.bin); err != nil {
		return err
	}
	d.dir = filepath.Join(work, strings.TrimPrefix(d.name, "containerd-"))
	for _, sub := range []string{"cni/net.d", "pods"} {
		if err := os.MkdirAll(filepath.Join(d.dir, sub), 0o700); err != nil {
			return err
		}
	}
	d.sock = filepath.Join(d.dir, "c.sock")
	// A bridge name is at most 15 bytes: the work dir's random tail and
	// the daemon's version.
	base := filepath.Base(work)
	d.bridge = "kmcri" + base[len(base)-6:] + strings.ReplaceAll(strings.TrimPrefix(d.name, "containerd-"), ".", "")
	cni := fmt.Sprintf(`{"cniVersion": "0.4.0", "name": "kmcri", "plugins": [{"type": "bridge", "bridge": %q,
  "isGateway": false, "ipMasq": false,
  "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "dataDir": %q}}]}
`, d.bridge, podSubnet, filepath.Join(d.dir, "cni/ipam"))
	if err := os.WriteFile(filepath.Join(d.dir, "cni/net.d/10-kmcri.conflist"), []byte(cni), 0o644); err != nil {
		return err
	}
	cfgPath := filepath.Join(d.dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(d.config()), 0o600); err != nil {
		return err
	}
	d.logPath = filepath.Join(d.dir, "containerd.log")
	logf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	d.cmd = exec.Command(d.bin, "--config", cfgPath)
	// The fresh shim and km first; runc's shim next to the daemon.
	d.cmd.Env = append(os.Environ(), "PATH="+binDir+":"+filepath.Dir(d.bin)+":"+os.Getenv("PATH"))
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := d.cmd.Start(); err != nil {
		return err
	}
	d.conn, err = grpc.NewClient("unix://"+d.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		d.stop()
		return err
	}
	d.rt = runtimeapi.NewRuntimeServiceClient(d.conn)
	d.img = runtimeapi.NewImageServiceClient(d.conn)
	deadline := time.Now().Add(30 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, lastErr = d.rt.Version(ctx, &runtimeapi.VersionRequest{})
		cancel()
		if lastErr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lastErr != nil {
		d.stop()
		return fmt.Errorf("CRI did not come up: %v (log %s)", lastErr, d.logPath)
	}
	for _, f := range []string{"pause.tar", "app.tar"} {
		if out, err := d.ctr("images", "import", filepath.Join(work, f)); err != nil {
			d.stop()
			return fmt.Errorf("import %s: %v\n%s", f, err, out)
		}
	}
	// CRI learns of imported images from containerd's events: wait for it.
	for _, ref := range []string{pauseImage, appImage} {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			r, err := d.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
			cancel()
			if err == nil && r.Image != nil {
				break
			}
			if time.Now().After(deadline) {
				d.stop()
				return fmt.Errorf("CRI does not see image %s: %v", ref, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// ctr runs the daemon's ctr in CRI's namespace.
func (d *daemon) ctr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.ctrBin, append([]string{"--address", d.sock, "--namespace", criNamespace}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (d *daemon) stop() {
	if d.conn != nil {
		d.conn.Close()
		d.conn = nil
	}
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	// Remove whatever a failed test left, so no shim outlives the suite.
	if out, err := d.ctr("task", "ls", "-q"); err == nil {
		for _, id := range strings.Fields(out) {
			d.ctr("task", "kill", "-s", "SIGKILL", id)
			time.Sleep(100 * time.Millisecond)
			d.ctr("task", "rm", "-f", id)
		}
	}
	if out, err := d.ctr("c", "ls", "-q"); err == nil {
		for _, id := range strings.Fields(out) {
			d.ctr("c", "rm", id)
		}
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-done
	}
	// Snapshots and sandbox /dev/shm may still be mounted under the
	// daemon's dirs.
	exec.Command("sh", "-c", "grep -o ' "+d.dir+"[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l").Run()
	// The bridge plugin leaves its bridge; it is ours alone.
	exec.Command("ip", "link", "del", d.bridge).Run()
	d.cmd = nil
}

// forEachDaemon runs f as a subtest per containerd version.
func forEachDaemon(t *testing.T, f func(t *testing.T, d *daemon)) {
	for _, d := range daemons {
		t.Run(d.name, func(t *testing.T) { f(t, d) })
	}
}
