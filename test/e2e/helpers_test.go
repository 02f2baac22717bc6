package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// defaultTimeout bounds every subprocess unless a test asks for another.
const defaultTimeout = 60 * time.Second

// baseEnv is the fixed environment of every payload run, native or km.
var baseEnv = []string{
	"PATH=/usr/local/bin:/usr/bin:/bin",
	"HOME=/",
	"LANG=C",
	"LC_ALL=C",
	"TZ=UTC",
	"KM_E2E=1",
}

// runOpts says how to run a command.
type runOpts struct {
	dir     string        // working directory ("" = a fresh temp dir)
	env     []string      // environment (nil = baseEnv)
	timeout time.Duration // 0 = defaultTimeout
}

// result is what a finished (or killed) command left behind.
type result struct {
	argv     []string
	stdout   []byte
	stderr   []byte
	code     int            // exit status; 128+N if killed by signal N; -1 if it did not run
	signal   syscall.Signal // the signal that killed it, or 0
	timedOut bool
	elapsed  time.Duration
}

// run runs argv with a timeout and captures its output and status. It
// reports a test error if the command could not be started or timed out
// (a hang is a failure, not a stuck test).
func run(t testing.TB, o runOpts, argv ...string) result {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = defaultTimeout
	}
	if o.env == nil {
		o.env = baseEnv
	}
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()

	var stdout, stderr bytes.Buffer
	var err error
	start := time.Now()
	for attempt := 0; ; attempt++ {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir = o.dir
		cmd.Env = o.env
		stdout.Reset()
		stderr.Reset()
		cmd.Stdout = &stdout
		cmd.Stderr = &stderr
		// Own process group, so a timeout kills anything the command started.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = 5 * time.Second
		err = cmd.Run()
		// A payload copied in by this test may still be open for writing in
		// a child another parallel test is forking (golang.org/issue/22315).
		if !errors.Is(err, syscall.ETXTBSY) || attempt == 20 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := result{argv: argv, stdout: stdout.Bytes(), stderr: stderr.Bytes(), code: -1, elapsed: time.Since(start)}
	if ctx.Err() != nil {
		r.timedOut = true
		t.Errorf("timed out after %v\n%s", o.timeout, r)
		return r
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		r.code = 0
	case errors.As(err, &ee):
		ws, _ := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			r.signal = ws.Signal()
			r.code = 128 + int(r.signal)
		} else {
			r.code = ws.ExitStatus()
		}
	default:
		t.Errorf("could not run: %v\n%s", err, r)
	}
	return r
}

// runKM runs km with the given arguments.
func runKM(t testing.TB, o runOpts, args ...string) result {
	t.Helper()
	return run(t, o, append([]string{kmBin}, args...)...)
}

// String renders the result for failure messages.
func (r result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "command: %q\n", r.argv)
	fmt.Fprintf(&b, "status: %d", r.code)
	if r.signal != 0 {
		fmt.Fprintf(&b, " (killed by %s)", sigName(r.signal))
	}
	if r.timedOut {
		b.WriteString(" (timed out)")
	}
	fmt.Fprintf(&b, " after %v\n", r.elapsed.Round(time.Millisecond))
	fmt.Fprintf(&b, "stdout (%d bytes):\n%s\n", len(r.stdout), clip(r.stdout))
	fmt.Fprintf(&b, "stderr (%d bytes):\n%s", len(r.stderr), clip(r.stderr))
	return b.String()
}

func clip(b []byte) string {
	const max = 4000
	if len(b) > max {
		return string(b[:max/2]) + "\n[...]\n" + string(b[len(b)-max/2:])
	}
	return string(b)
}

var sigNames = map[syscall.Signal]string{
	syscall.SIGABRT: "SIGABRT",
	syscall.SIGBUS:  "SIGBUS",
	syscall.SIGFPE:  "SIGFPE",
	syscall.SIGILL:  "SIGILL",
	syscall.SIGKILL: "SIGKILL",
	syscall.SIGPIPE: "SIGPIPE",
	syscall.SIGSEGV: "SIGSEGV",
	syscall.SIGSYS:  "SIGSYS",
	syscall.SIGTRAP: "SIGTRAP",
}

func sigName(s syscall.Signal) string {
	if n, ok := sigNames[s]; ok {
		return n
	}
	return fmt.Sprintf("signal %d", int(s))
}

// checkNoPanic fails if km's stderr shows a Go panic or stack trace.
func checkNoPanic(t testing.TB, r result) {
	t.Helper()
	for _, bad := range []string{"panic:", "goroutine ", "runtime error:", "fatal error:"} {
		if bytes.Contains(r.stderr, []byte(bad)) {
			t.Errorf("km stderr contains %q (a Go panic?)\n%s", bad, r)
			return
		}
	}
}

// checkOneKMLine fails unless stderr is exactly one line starting with
// "km: ". It returns that line.
func checkOneKMLine(t testing.TB, r result) string {
	t.Helper()
	checkNoPanic(t, r)
	lines := nonEmptyLines(r.stderr)
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "km: ") {
		t.Errorf("want exactly one stderr line starting with \"km: \", got %d lines\n%s", len(lines), r)
		for _, l := range lines {
			if strings.HasPrefix(l, "km: ") {
				return l
			}
		}
		return ""
	}
	return lines[0]
}

func nonEmptyLines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// firstDiff describes the first line where a and b differ.
func firstDiff(a, b []byte) string {
	la, lb := strings.SplitAfter(string(a), "\n"), strings.SplitAfter(string(b), "\n")
	for i := 0; i < len(la) || i < len(lb); i++ {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			return fmt.Sprintf("first difference at line %d:\n  native: %q\n  km:     %q", i+1, x, y)
		}
	}
	return "no difference"
}

// newRoot makes a fresh directory to serve as a guest root: it holds a copy
// of each given binary at /<name> and an empty /work directory.
func newRoot(t testing.TB, bins map[string]string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "work"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Every root has a world-writable /tmp, as images do.
	if err := os.Mkdir(filepath.Join(root, "tmp"), 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	for name, src := range bins {
		copyFile(t, src, filepath.Join(root, name), 0o755)
	}
	return root
}

func copyFile(t testing.TB, src, dst string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, data, mode)
}

func writeFile(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode is subject to umask
		t.Fatal(err)
	}
}

func symlink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
