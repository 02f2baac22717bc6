// Package shim_test runs containerd-shim-km-v2 under private containerd
// daemons (Debian's 1.6 and 2.2.1 built from the module proxy) with ctr,
// side by side with runc on the same rootfs.
package shim_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kmvm/km/test/repo"
)

const (
	kmRuntime   = "io.containerd.km.v2"
	runcRuntime = "io.containerd.runc.v2"
	// containerd v2 is built by scripts/install-test-deps.sh here.
	containerd2Dir = "/var/cache/km-test/containerd-v2.2.1/bin"
	ctrTimeout     = 60 * time.Second
)

var (
	repoRoot string
	work     string // temp dir for everything the suite builds
	binDir   string // fresh km + shim, first on the daemons' PATH
	rootfs   string // static payloads
	daemons  []*daemon
)

// daemon is one private containerd.
type daemon struct {
	name    string // "containerd-1.6", "containerd-2.2"
	bin     string // containerd
	ctrBin  string
	dir     string
	sock    string
	cmd     *exec.Cmd
	logPath string
}

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	var err error
	var cleanup func()
	if repoRoot, work, cleanup, err = repo.Suite("kmshim", "KM_SHIM_KEEP"); err != nil {
		fmt.Fprintln(os.Stderr, "shim tests:", err)
		return 1
	}
	defer cleanup()
	if err := build(); err != nil {
		fmt.Fprintln(os.Stderr, "shim tests: build:", err)
		return 1
	}
	for _, d := range []*daemon{
		{name: "containerd-1.6", bin: "/usr/bin/containerd", ctrBin: "/usr/bin/ctr"},
		{name: "containerd-2.2", bin: filepath.Join(containerd2Dir, "containerd"), ctrBin: filepath.Join(containerd2Dir, "ctr")},
	} {
		if err := d.start(); err != nil {
			fmt.Fprintf(os.Stderr, "shim tests: %s: %v (run scripts/install-test-deps.sh)\n", d.name, err)
			stopAll()
			return 1
		}
		daemons = append(daemons, d)
	}
	code := m.Run()
	stopAll()
	if code != 0 {
		for _, d := range daemons {
			if b, err := os.ReadFile(d.logPath); err == nil {
				lines := strings.Split(string(b), "\n")
				if len(lines) > 60 {
					lines = lines[len(lines)-60:]
				}
				fmt.Fprintf(os.Stderr, "--- last lines of %s log:\n%s\n", d.name, strings.Join(lines, "\n"))
			}
		}
	}
	return code
}

func stopAll() {
	for _, d := range daemons {
		d.stop()
	}
}

// build makes the binaries under test and the payload rootfs.
func build() error {
	binDir = filepath.Join(work, "bin")
	rootfs = filepath.Join(work, "rootfs")
	for _, d := range []string{binDir, rootfs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// One go build for both: the packages compile in parallel.
	if err := repo.GoBuild(repoRoot, binDir+"/", []string{"./cmd/km", "./cmd/containerd-shim-km-v2"}); err != nil {
		return err
	}
	goBuild := func(out, pkg string, env ...string) error { return repo.GoBuild(repoRoot, out, []string{pkg}, env...) }
	if err := goBuild(filepath.Join(rootfs, "gohello"), "./test/payloads/go/gohello"); err != nil {
		return err
	}
	if err := goBuild(filepath.Join(rootfs, "gocgroup"), "./test/payloads/go/gocgroup"); err != nil {
		return err
	}
	// Debian's static busybox (busybox-static) for shell-level checks.
	if b, err := exec.Command("cp", "/bin/busybox", filepath.Join(rootfs, "busybox")).CombinedOutput(); err != nil {
		return fmt.Errorf("busybox (scripts/install-test-deps.sh installs busybox-static): %v %s", err, b)
	}
	// A real ELF for another architecture.
	if err := goBuild(filepath.Join(rootfs, "arm64prog"), "./test/payloads/go/gohello", "GOARCH=arm64"); err != nil {
		return err
	}
	cs := map[string]string{
		"hello":    "test/payloads/hello.c",
		"exitcode": "test/payloads/exitcode.c",
		"ident":    "test/shim/testdata/ident.c",
		"sleeper":  "test/shim/testdata/sleeper.c",
		"catter":   "test/shim/testdata/catter.c",
		"hog":      "test/shim/testdata/hog.c",
		"tty":      "test/shim/testdata/tty.c",
		"hostname": "test/shim/testdata/hostname.c",
		"readfile": "test/shim/testdata/readfile.c",
		"writetmp": "test/shim/testdata/writetmp.c",
		"caps":     "test/shim/testdata/caps.c",
		"seccomp":  "test/shim/testdata/seccomp.c",
	}
	for name, src := range cs {
		cmd := exec.Command("gcc", "-static", "-O1", "-o", filepath.Join(rootfs, name), filepath.Join(repoRoot, src))
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("gcc %s: %v\n%s", src, err, b)
		}
	}
	if err := os.WriteFile(filepath.Join(rootfs, "notelf"), []byte("plain text, not an ELF and no #! line\n"), 0o755); err != nil {
		return err
	}
	for _, d := range []string{"tmp", "work/dir", "etc"} {
		os.MkdirAll(filepath.Join(rootfs, d), 0o777)
	}
	return nil
}

// start launches the private daemon: own root, state, sockets and config,
// never the system's.
func (d *daemon) start() error {
	if _, err := os.Stat(d.bin); err != nil {
		return err
	}
	d.dir = filepath.Join(work, strings.TrimPrefix(d.name, "containerd-"))
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return err
	}
	d.sock = filepath.Join(d.dir, "c.sock")
	var cfg string
	if strings.HasPrefix(d.name, "containerd-1") {
		cfg = fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[debug]
  level = "debug"
`, filepath.Join(d.dir, "root"), filepath.Join(d.dir, "state"), d.sock)
	} else {
		cfg = fmt.Sprintf(`version = 3
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.podsandbox.controller.v1.podsandbox", "io.containerd.sandbox.controller.v1.shim", "io.containerd.nri.v1.nri"]
[grpc]
  address = %q
[debug]
  level = "debug"
`, filepath.Join(d.dir, "root"), filepath.Join(d.dir, "state"), d.sock)
	}
	cfgPath := filepath.Join(d.dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
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
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if r := d.ctr(nil, "version"); r.code == 0 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.stop()
	return fmt.Errorf("did not come up (log %s)", d.logPath)
}

// restart stops the daemon (SIGTERM, leaving tasks running) and starts it
// again on the same root, state and socket.
func (d *daemon) restart() error {
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.cmd.Wait()
	d.cmd = nil
	return d.start()
}

func (d *daemon) stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	// Remove whatever a failed test left, so no shim outlives the suite.
	if r := d.ctr(nil, "task", "ls", "-q"); r.code == 0 {
		for _, id := range strings.Fields(r.stdout) {
			d.ctr(nil, "task", "kill", "-s", "SIGKILL", id)
			time.Sleep(100 * time.Millisecond)
			d.ctr(nil, "task", "rm", "-f", id)
		}
	}
	if r := d.ctr(nil, "c", "ls", "-q"); r.code == 0 {
		for _, id := range strings.Fields(r.stdout) {
			d.ctr(nil, "c", "rm", id)
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
	// Snapshots may still be mounted under the daemon's root.
	exec.Command("sh", "-c", "grep -o ' "+d.dir+"[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l").Run()
	d.cmd = nil
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("status %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// ctr runs the daemon's ctr against its private socket.
func (d *daemon) ctr(stdin []byte, args ...string) result {
	return d.ctrCtx(context.Background(), stdin, args...)
}

func (d *daemon) ctrCtx(ctx context.Context, stdin []byte, args ...string) result {
	ctx, cancel := context.WithTimeout(ctx, ctrTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.ctrBin, append([]string{"--address", d.sock}, args...)...)
	var report string
	cmd.Cancel = func() error {
		if ctx.Err() == context.DeadlineExceeded {
			report = d.hangReport(args)
		}
		return cmd.Process.Kill()
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		if ctx.Err() != nil {
			r.code = -2
			r.stderr += "\n(ctr timed out)" + report
		}
	default:
		r.code = -1
		r.stderr += err.Error()
	}
	return r
}

// forEachDaemon runs f as a subtest per containerd version.
func forEachDaemon(t *testing.T, f func(t *testing.T, d *daemon)) {
	for _, d := range daemons {
		t.Run(d.name, func(t *testing.T) { f(t, d) })
	}
}

var seq atomic.Int64

// cid is a unique container id for this test.
func cid(t *testing.T, what string) string { return cidB(what) }

func cidB(what string) string {
	id := fmt.Sprintf("km-%s-%d", what, seq.Add(1))
	registerID(id)
	return id
}

// runIn runs a one-shot container (`ctr run --rm`) with runtime rt.
func (d *daemon) runIn(rt, id string, opts []string, argv ...string) result {
	args := append([]string{"run", "--rm", "--runtime", rt}, opts...)
	args = append(args, "--rootfs", rootfs, id)
	return d.ctr(nil, append(args, argv...)...)
}

// compareWithRunc runs argv under km, then under runc as the baseline, and
// returns both results. runc is run up to three times: on this host ctr
// sometimes loses runc's last output lines (seen once in CI with a Go
// program), and a flaky baseline says nothing about km. km runs once, so a
// wrong or flaky km result still fails the comparison.
func (d *daemon) compareWithRunc(t *testing.T, name string, opts []string, argv ...string) (got, want result) {
	got = d.runIn(kmRuntime, cid(t, name), opts, argv...)
	for i := 0; i < 3; i++ {
		want = d.runIn(runcRuntime, cid(t, name+"-runc"), opts, argv...)
		if got.stdout == want.stdout && got.code == want.code {
			break
		}
		t.Logf("runc baseline attempt %d differs from km: %v", i+1, want)
	}
	return got, want
}
