package shim_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSeccompMatchesRunc: linux.seccomp means under km what it means under
// runc. runc has the kernel filter the container's syscalls; km's monitor
// filters the guest's. The payload calls what containerd's default profile
// (ctr run --seccomp) denies or restricts by argument, and what a custom
// profile (--seccomp-profile) turns into ERRNO with its own errno, TRACE,
// LOG, TRAP (the handler prints the siginfo), KILL_THREAD and
// KILL_PROCESS; output and status must be runc's.
func TestSeccompMatchesRunc(t *testing.T) {
	custom := []string{"--seccomp", "--seccomp-profile", filepath.Join(repoRoot, "test/shim/testdata/seccomp-custom.json")}
	cases := []struct {
		name string
		opts []string
		argv []string
		code int
		want []string // lines both must print: a filter that does nothing fails
	}{
		{"default", []string{"--seccomp"}, []string{"/seccomp", "default"}, 0, []string{
			"syscall(SYS_keyctl, 1, 0) = -1 EPERM",
			"syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0) = -1 EPERM",
			"syscall(SYS_clone3, NULL, 0) = -1 ENOSYS",
			"syscall(1000) = -1 ENOSYS",
			"syscall(0x100000000L | SYS_keyctl, 1, 0) = -1 EPERM",
			"syscall(0x40000000 | SYS_keyctl, 1, 0) = -1 EPERM",
			"prctl(PR_GET_SECCOMP, 0, 0, 0, 0) = 2",
			"Seccomp:\t2",
			"child keyctl: syscall(nr, 1, 0) = -1 EPERM",
			"after exec: syscall(SYS_keyctl, 1, 0) = -1 EPERM",
		}},
		{"custom", custom, []string{"/seccomp", "custom"}, 0, []string{
			"syscall(SYS_getsid, 0) = -1 ENOMEM",
			"syscall(0x40000000 | SYS_getsid, 0) = -1 ENOMEM",
			"syscall(SYS_lseek, 7, 0, 1) = -1 EXDEV",
			"syscall(SYS_dup, -5L) = -1 ECHILD",
			"syscall(SYS_fchdir, 101) = -1 ENOLINK",
			"syscall(SYS_ptrace, 0 , 0, 0, 0) = -1 ENOSYS",
			"SIGSYS: signo=31 code=1 errno=0 syscall=140 arch=0xc000003e call_addr=rip:1 rax=140",
			"syscall(SYS_getpriority, 0, 0) = 140",
			"joined",
			"child getsid: syscall(nr, 1, 0) = -1 ENOMEM",
		}},
		// A Go program (threads by clone, signals, futexes) under the
		// default profile: it runs as under runc.
		{"go-default", []string{"--seccomp"}, []string{"/gohello", "3"}, 3, []string{"exiting with 3"}},
		{"kill-process", custom, []string{"/seccomp", "kill"}, 159, []string{"calling acct"}},
		{"trap-blocked", custom, []string{"/seccomp", "trap-blocked"}, 159, []string{"calling getpriority with SIGSYS blocked"}},
	}
	forEachDaemon(t, func(t *testing.T, d *daemon) {
		before := snapshot()
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, want := d.compareWithRunc(t, "seccomp", c.opts, c.argv...)
				if got.stdout != want.stdout || got.code != want.code {
					t.Errorf("km:   %v\nrunc: %v", got, want)
				}
				if got.code != c.code {
					t.Errorf("status %d, want %d: %v", got.code, c.code, got)
				}
				for _, w := range c.want {
					if !strings.Contains(got.stdout, w+"\n") {
						t.Errorf("km printed no %q: %v", w, got)
					}
				}
			})
		}
		checkNoLeaks(t, before)
	})
}

// TestSeccompExec: an exec in a filtered container is filtered too (runc
// applies the container's profile to every process it starts).
func TestSeccompExec(t *testing.T) {
	forEachDaemon(t, func(t *testing.T, d *daemon) {
		before := snapshot()
		var out [2]result
		for i, rt := range []string{kmRuntime, runcRuntime} {
			id := cid(t, "scexec")
			done := d.startBackground(t, rt, id, []string{"--seccomp"}, "/sleeper")
			out[i] = d.ctr(nil, "task", "exec", "--exec-id", "e1", id, "/seccomp", "exec")
			d.ctr(nil, "task", "kill", "-s", "SIGKILL", id)
			waitResult(t, done)
		}
		if out[0].stdout != out[1].stdout || out[0].code != out[1].code ||
			!strings.Contains(out[0].stdout, "after exec: syscall(SYS_keyctl, 1, 0) = -1 EPERM\n") {
			t.Errorf("exec:\nkm:   %v\nrunc: %v", out[0], out[1])
		}
		checkNoLeaks(t, before)
	})
}

// TestSeccompNotify: SCMP_ACT_NOTIFY needs a seccomp agent, which km does
// not have: the container fails to start with a one-line reason.
func TestSeccompNotify(t *testing.T) {
	profile := filepath.Join(work, "seccomp-notify.json")
	os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_NOTIFY"}]}`), 0o644)
	forEachDaemon(t, func(t *testing.T, d *daemon) {
		before := snapshot()
		r := d.runIn(kmRuntime, cid(t, "scnotify"), []string{"--seccomp", "--seccomp-profile", profile}, "/hello")
		if r.code == 0 || !strings.Contains(r.stderr, "SCMP_ACT_NOTIFY") || strings.Contains(r.stdout, "hello") {
			t.Errorf("got %v, want a failure naming SCMP_ACT_NOTIFY", r)
		}
		checkNoLeaks(t, before)
	})
}
