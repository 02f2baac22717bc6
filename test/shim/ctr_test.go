package shim_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRunMatchesRunc: the same rootfs and command under runc and under km
// give the same output and exit status.
func TestRunMatchesRunc(t *testing.T) {
	cases := []struct {
		name string
		opts []string
		argv []string
	}{
		{"hello", nil, []string{"/hello"}},
		{"exit0", nil, []string{"/exitcode", "0"}},
		{"exit3", nil, []string{"/exitcode", "3"}},
		{"go", nil, []string{"/gohello", "3"}},
		{"env", []string{"--env", "KM_TEST=container value", "--env", "EMPTY="}, []string{"/ident", "KM_TEST", "EMPTY", "PATH", "MISSING"}},
		{"cwd", []string{"--cwd", "/work/dir"}, []string{"/ident"}},
		{"user", []string{"--user", "1234:5678"}, []string{"/ident"}},
		{"path-lookup", []string{"--env", "PATH=/"}, []string{"exitcode", "7"}},
		{"hostname", []string{"--hostname", "kmhost"}, []string{"/hostname"}},
		// The monitor holds only the spec's capabilities: what the
		// program sees (and what km may do on its behalf) is runc's.
		{"caps", nil, []string{"/caps"}},
		{"caps-user", []string{"--user", "1234:5678"}, []string{"/caps"}},
		{"caps-privileged", []string{"--privileged"}, []string{"/caps"}},
	}
	forEachDaemon(t, func(t *testing.T, d *daemon) {
		before := snapshot()
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				for _, f := range []string{"--user", "--hostname"} {
					if slices.Contains(c.opts, f) && strings.HasPrefix(d.name, "containerd-1.") {
						t.Skipf("ctr of %s has no %s flag (containerd 2.2 runs this case)", d.name, f)
					}
				}
				got, want := d.compareWithRunc(t, c.name, c.opts, c.argv...)
				if got.stdout != want.stdout || got.code != want.code {
					t.Errorf("km:   %v\nrunc: %v", got, want)
				}
				if got.stdout == "" || strings.Contains(got.stdout, "Incorrect Usage") {
					t.Errorf("no output: %v", got)
				}
			})
		}
		checkNoLeaks(t, before)
	})
}

// startDetached runs a long-lived container in the background and returns
// a channel with ctr run's result.
func (d *daemon) startBackground(t *testing.T, rt, id string, opts []string, argv ...string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		args := append([]string{"run", "--rm", "--runtime", rt}, opts...)
		args = append(args, "--rootfs", rootfs, id)
		ch <- d.ctr(nil, append(args, argv...)...)
	}()
	// Wait until the task runs.
	for i := 0; i < 200; i++ {
		r := d.ctr(nil, "task", "ls")
		if regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(id) + `\s+\d+\s+RUNNING`).MatchString(r.stdout) {
			return ch
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never reached RUNNING", id)
	return ch
}

func waitResult(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(ctrTimeout + 5*time.Second):
		t.Fatal("ctr run did not finish")
	}
	return result{}
}

// TestTaskOperations: kill (SIGTERM, SIGKILL), exec, ps, metrics, state on
// a running km container.
func TestTaskOperations(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d *daemon) {
		before := snapshot()
		id := cid(t, "ops")
		done := d.startBackground(t, kmRuntime, id, nil, "/sleeper")

		ps := d.ctr(nil, "task", "ps", id)
		if ps.code != 0 || !regexp.MustCompile(`(?m)^\d+`).MatchString(ps.stdout) {
			t.Errorf("task ps: %v", ps)
		}
		m := d.ctr(nil, "task", "metrics", id)
		if m.code != 0 || !strings.Contains(m.stdout, "memory.usage_in_bytes") && !strings.Contains(m.stdout, "memory.usage") {
			t.Errorf("task metrics: %v", m)
		}
		ex := d.ctr(nil, "task", "exec", "--exec-id", "e1", id, "/exitcode", "5")
		if ex.code != 5 || ex.stdout != "exiting with 5\n" {
			t.Errorf("task exec: %v", ex)
		}
		ex = d.ctr([]byte("some input\n"), "task", "exec", "--exec-id", "e2", id, "/catter")
		if ex.code != 0 || ex.stdout != "some input\nbytes=11\n" {
			t.Errorf("task exec with stdin: %v", ex)
		}
		ex = d.ctr(nil, "task", "exec", "--exec-id", "e3", id, "/nonexistent")
		if ex.code == 0 || !strings.Contains(ex.stderr, "no such file") {
			t.Errorf("exec of a missing program: %v", ex)
		}
		// Pause freezes the monitor (and so the guest); resume thaws it.
		if r := d.ctr(nil, "task", "pause", id); r.code != 0 {
			t.Errorf("task pause: %v", r)
		}
		if r := d.ctr(nil, "task", "ls"); !regexp.MustCompile(`(?m)^` + id + `\s+\d+\s+PAUSED`).MatchString(r.stdout) {
			t.Errorf("after pause: %v", r)
		}
		if r := d.ctr(nil, "task", "resume", id); r.code != 0 {
			t.Errorf("task resume: %v", r)
		}
		if k := d.ctr(nil, "task", "kill", id); k.code != 0 {
			t.Errorf("task kill: %v", k)
		}
		r := waitResult(t, done)
		if r.code != 143 || r.stdout != "sleeping\n" {
			t.Errorf("after SIGTERM: %v, want status 143", r)
		}

		// SIGKILL: same status as runc.
		for _, rt := range []string{kmRuntime, runcRuntime} {
			id := cid(t, "kill9")
			done := d.startBackground(t, rt, id, nil, "/sleeper")
			if k := d.ctr(nil, "task", "kill", "-s", "SIGKILL", id); k.code != 0 {
				t.Errorf("%s: task kill -s SIGKILL: %v", rt, k)
			}
			if r := waitResult(t, done); r.code != 137 {
				t.Errorf("%s: after SIGKILL: %v, want status 137", rt, r)
			}
		}
		checkNoLeaks(t, before)
	})
}

// TestStdin: ctr run with stdin piped gets EOF when it closes. (Not
// compared with runc: ctr run with runc and a piped stdin never exits here.)
func TestStdin(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d *daemon) {
		for _, rt := range []string{kmRuntime} {
			r := d.ctr([]byte("abc\n"), "run", "--rm", "--runtime", rt, "--rootfs", rootfs, cid(t, "stdin"), "/catter")
			if r.code != 0 || r.stdout != "abc\nbytes=4\n" {
				t.Errorf("%s: %v", rt, r)
			}
		}
	})
}

// TestBadInput: each broken container fails with a clear message and a
// non-zero status, and leaves nothing behind.
func TestBadInput(t *testing.T) {
	nokvm := filepath.Join(work, "nokvm.toml")
	os.WriteFile(nokvm, []byte("kvm_device = \"/dev/km-test-no-such-kvm\"\n"), 0o644)
	cases := []struct {
		name string
		opts []string
		argv []string
		want string
	}{
		{"non-elf", nil, []string{"/notelf"}, "not an ELF"},
		{"missing", nil, []string{"/no/such/program"}, "no such file"},
		{"foreign-arch", nil, []string{"/arm64prog"}, "x86-64"},
		{"memory-too-small", []string{"--memory-limit", "1048576"}, []string{"/hello"}, "memory limit"},
		{"no-kvm", []string{"--runtime-config-path", nokvm}, []string{"/hello"}, "/dev/km-test-no-such-kvm"},
		{"bad-runtime-config", []string{"--runtime-config-path", filepath.Join(work, "absent.toml")}, []string{"/hello"}, "absent.toml"},
	}
	forEachDaemon(t, func(t *testing.T, d *daemon) {
		before := snapshot()
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := d.runIn(kmRuntime, cid(t, "bad"), c.opts, c.argv...)
				if r.code == 0 || !strings.Contains(r.stderr, c.want) {
					t.Errorf("got %v, want a failure mentioning %q", r, c.want)
				}
			})
		}
		checkNoLeaks(t, before)
		// containerd keeps no half-created container.
		if r := d.ctr(nil, "c", "ls", "-q"); strings.Contains(r.stdout, "km-bad") {
			t.Errorf("containers left: %s", r.stdout)
		}
	})
}

// TestCycles: many sequential run/delete cycles and concurrent containers
// leave no process, mount, socket or cgroup behind.
func TestCycles(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 20
	}
	forEachDaemon(t, func(t *testing.T, d *daemon) {
		before := snapshot()
		for i := 0; i < n; i++ {
			r := d.runIn(kmRuntime, cid(t, "cycle"), nil, "/exitcode", fmt.Sprint(i%5))
			if r.code != i%5 {
				t.Fatalf("cycle %d: %v", i, r)
			}
		}
		checkNoLeaks(t, before)

		const concurrent = 20
		var wg sync.WaitGroup
		errs := make(chan string, concurrent)
		for i := 0; i < concurrent; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r := d.runIn(kmRuntime, cid(t, "conc"), nil, "/exitcode", fmt.Sprint(i))
				if r.code != i || r.stdout != fmt.Sprintf("exiting with %d\n", i) {
					errs <- fmt.Sprintf("container %d: %v", i, r)
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		checkNoLeaks(t, before)
	})
}

// TestShimKilled: a SIGKILLed shim takes its monitors with it, and
// containerd's cleanup (`delete`) leaves nothing behind.
func TestShimKilled(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d *daemon) {
		before := snapshot()
		id := cid(t, "shimkill")
		done := d.startBackground(t, kmRuntime, id, nil, "/sleeper")
		var shims []string
		for _, p := range snapshot().Shims {
			if cmd, _ := os.ReadFile(p + "/cmdline"); strings.Contains(string(cmd), id) {
				shims = append(shims, p)
			}
		}
		if len(shims) != 1 {
			t.Fatalf("shim processes for %s: %v", id, shims)
		}
		var pid int
		fmt.Sscanf(filepath.Base(shims[0]), "%d", &pid)
		if err := killPid(pid); err != nil {
			t.Fatal(err)
		}
		r := waitResult(t, done)
		if r.code == 0 {
			t.Errorf("ctr run after the shim died: %v", r)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.ctrCtx(ctx, nil, "task", "rm", "-f", id)
		d.ctrCtx(ctx, nil, "c", "rm", id)
		checkNoLeaks(t, before)
		if r := d.ctr(nil, "c", "ls", "-q"); strings.Contains(r.stdout, id) {
			t.Errorf("container %s still listed", id)
		}
	})
}

func killPid(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

// TestMounts: the spec's mounts (a read-only bind volume, the default /dev
// tmpfs with its device nodes) and a read-only root look the same as under
// runc, in the init and in an exec; nothing stays mounted on the host.
func TestMounts(t *testing.T) {
	vol := filepath.Join(work, "volume")
	os.MkdirAll(vol, 0o755)
	os.WriteFile(filepath.Join(vol, "f"), []byte("volume content\n"), 0o644)
	bind := []string{"--mount", "type=bind,src=" + vol + ",dst=/data,options=rbind:ro"}
	forEachDaemon(t, func(t *testing.T, d *daemon) {
		before := snapshot()
		for _, c := range []struct {
			name string
			opts []string
			argv []string
		}{
			{"bind-and-dev", bind, []string{"/readfile", "/data/f", "/dev/null", "/dev/zero", "/data/missing"}},
			{"readonly-root", []string{"--read-only"}, []string{"/writetmp"}},
		} {
			got, want := d.compareWithRunc(t, "mnt", c.opts, c.argv...)
			if got.code != want.code || got.stdout != want.stdout || got.stdout == "" {
				t.Errorf("%s:\nkm:   %v\nrunc: %v", c.name, got, want)
			}
		}
		id := cid(t, "mntexec")
		done := d.startBackground(t, kmRuntime, id, bind, "/sleeper")
		if r := d.ctr(nil, "task", "exec", "--exec-id", "e1", id, "/readfile", "/data/f"); r.stdout != "/data/f: 15 bytes: volume content\n\n" {
			t.Errorf("exec sees: %v", r)
		}
		d.ctr(nil, "task", "kill", "-s", "SIGKILL", id)
		waitResult(t, done)
		checkNoLeaks(t, before)
		if b, _ := os.ReadFile("/proc/self/mounts"); strings.Contains(string(b), vol) {
			t.Errorf("volume still mounted on the host")
		}
	})
}

// TestLogURIs: ctr --log-uri file:// and binary:// (a log driver that gets
// stdout and stderr on fds 3 and 4) receive all of the guest's output.
func TestLogURIs(t *testing.T) {
	logDir := filepath.Join(work, "logs")
	os.MkdirAll(logDir, 0o755)
	logger := filepath.Join(logDir, "logger.sh")
	script, err := os.ReadFile(filepath.Join(repoRoot, "test/shim/testdata/logger.sh"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(logger, script, 0o755)
	forEachDaemon(t, func(t *testing.T, d *daemon) {
		before := snapshot()
		id := cid(t, "logfile")
		file := filepath.Join(logDir, id+".log")
		r := d.runIn(kmRuntime, id, []string{"--log-uri", "file://" + file}, "/exitcode", "6")
		if b, _ := os.ReadFile(file); r.code != 6 || string(b) != "exiting with 6\n" {
			t.Errorf("file://: %v, file %q", r, b)
		}
		id = cid(t, "logbin")
		r = d.runIn(kmRuntime, id, []string{"--log-uri", "binary://" + logger}, "/exitcode", "7")
		var b []byte
		for i := 0; i < 50; i++ { // the driver finishes writing after the exit
			if b, _ = os.ReadFile(filepath.Join(logDir, id+".stdout")); len(b) > 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if r.code != 7 || string(b) != "exiting with 7\n" {
			t.Errorf("binary://: %v, stdout file %q", r, b)
		}
		checkNoLeaks(t, before)
	})
}
