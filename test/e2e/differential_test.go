package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A diffCase runs one payload natively and under km, in every flavour the
// payload is built in, and compares stdout and exit status.
type diffCase struct {
	name    string
	payload string
	args    []string
	kmFlags []string // extra km flags (before PROGRAM)
	// root runs the payload from a fresh root: natively as ROOT/payload in
	// ROOT/work, under km as `km --root ROOT --cwd /work /payload`.
	root bool
	// noRoot marks a case that needs the host's file system (ptys in
	// /dev/pts): dynamically linked flavours, which otherwise always run
	// from a root holding their loader and libraries, run it unconfined
	// with the host's.
	noRoot bool
	// setup prepares the working directory of a non-root case; args may
	// refer to that directory as {dir}.
	setup   func(t testing.TB, dir string)
	timeout time.Duration

	// Expectations of the native run (checked so that a broken payload is
	// not mistaken for a km bug). Payloads print "FAIL" on broken
	// invariants, which always fails the case.
	wantCode     int
	wantSignal   syscall.Signal // the native run must die of this signal
	wantStdout   string         // exact stdout, if set
	wantContains []string       // substrings of stdout
}

var diffCases = []diffCase{
	{name: "hello", payload: "hello", wantStdout: "hello, world\n"},

	{name: "exit-0", payload: "exitcode", args: []string{"0"}, wantStdout: "exiting with 0\n"},
	{name: "exit-1", payload: "exitcode", args: []string{"1"}, wantCode: 1},
	{name: "exit-42", payload: "exitcode", args: []string{"42"}, wantCode: 42},
	{name: "exit-255", payload: "exitcode", args: []string{"255"}, wantCode: 255},
	{name: "exit-256", payload: "exitcode", args: []string{"256"}, wantCode: 0},
	{name: "exit-minus-1", payload: "exitcode", args: []string{"-1"}, wantCode: 255},

	{name: "args-plain", payload: "args", wantContains: []string{"argc=1\n", "env=[KM_E2E=1]\n", "AT_PAGESZ=4096\n"}},
	{
		name:    "args-odd",
		payload: "args",
		// Arguments after PROGRAM belong to the guest, even if they look like km flags.
		args: []string{"one", "two words", "", "  spaced  ", "tab\there", "ünïcödé", "--trace", "--memory", "2G", "-", ""},
		wantContains: []string{
			"argc=12\n", "argv[2]=[two words]\n", "argv[3]=[]\n", "argv[4]=[  spaced  ]\n",
			"argv[7]=[--trace]\n", "argv[11]=[]\n",
		},
	},

	{name: "uname", payload: "uname", wantContains: []string{"sysname=Linux\n", "machine=x86_64\n"}},
	{name: "fileio", payload: "fileio", root: true, wantContains: []string{"done failed=0\n"}},
	{name: "tls", payload: "tls", wantContains: []string{"counter=62 greeting=[changed]"}},
	{name: "clock", payload: "clock", wantContains: []string{"time() plausible: ok\n"}},
	{name: "vdso", payload: "vdso", wantContains: []string{"vdso symbols: ok\n", "maps has [vdso] and [vvar]: ok\n",
		"vdso monotonic agrees with the syscall: ok\n", "monotonic never decreases over >= 1e6 calls in 4 threads: ok\n", "done failed=0\n"}},
	{name: "recurse", payload: "recurse", wantStdout: "depth 100000 result 352729e103ce3351\n"},
	{name: "nosys", payload: "nosys", wantContains: []string{"ENOSYS: yes"}},
	{
		name: "procfs", payload: "procfs", args: []string{"a", "two words"}, root: true,
		wantContains: []string{"exe basename: procfs\n", "cmdline last: two words\n", "maps has the mmap, split by mprotect: yes\n", "shm: shared\n", "done failed=0\n"},
	},

	{name: "mmap", payload: "mmap", timeout: 3 * time.Minute, wantContains: []string{"touched >= 1 GiB: yes\n", "done failed=0\n"}},
	{name: "mmap-2G", payload: "mmap", kmFlags: []string{"--memory", "2G"}, timeout: 3 * time.Minute, wantContains: []string{"done failed=0\n"}},

	{name: "sigsegv", payload: "nullderef", wantSignal: syscall.SIGSEGV, wantStdout: "about to dereference NULL\n"},
	{name: "sigill", payload: "trap", wantSignal: syscall.SIGILL, wantStdout: "about to execute ud2\n"},
	{name: "sigfpe", payload: "divzero", wantSignal: syscall.SIGFPE, wantStdout: "about to divide by zero\n"},
	{name: "signals", payload: "signals", wantSignal: syscall.SIGTERM, timeout: 2 * time.Minute, wantContains: []string{
		"kill: sig=10 code=0 onalt=1\n", "segv recovered: addr=0x18\n", "sigwaitinfo: r=12 signo=12 got=1\n",
		"nodefer depth=3\n", "resethand: got=1 now_default=1\n", "reader: read=-1 errno=Interrupted system call\n",
		"restart=1 handler ran=1\n", "itimer: fired>=3 1\n", "rem>=3s=1\n",
	}},
	{name: "timers", payload: "timers", timeout: 2 * time.Minute, wantContains: []string{
		"sival_int: fired=yes signo-ok=yes code=SI_TIMER value=1234 timerid-ok=yes overrun=0\n",
		"sival_ptr: fired=yes ptr-ok=yes code=SI_TIMER\n",
		"default sigevent: fired=yes SIGALRM=yes code=SI_TIMER value-is-id=yes\n",
		"SIGEV_THREAD_ID: fired=yes on the target thread=yes value=77\n", "SIGEV_THREAD: waited=yes value=4242\n",
		"overrun: sigwaitinfo=yes code=SI_TIMER si_overrun>0=yes timer_getoverrun>0=yes\n",
		"TIMER_ABSTIME REALTIME: fired=yes relative gettime=yes past fires=yes value=1\n",
		"PROCESS_CPUTIME timer: gettime in (9s,10s]=yes fired=yes code=SI_TIMER value=50 on this thread=yes\n",
		"THREAD_CPUTIME timer: gettime in (9s,10s]=yes fired=yes code=SI_TIMER value=51 on this thread=yes\n",
		"fork child has no timers: yes\n", "timers gone after execve: yes\n",
		"tid 1: EINVAL\n", "create bad id ptr: EFAULT\n", "done failed=0\n",
	}},
	{name: "signalfd", payload: "signalfd", timeout: 2 * time.Minute, wantContains: []string{
		"link: anon_inode:[signalfd]\n", "sigqueue: n=128 signo=12 code=-1 int=4242 pid_ok=1\n",
		"two in one read: n=256 signos=10,12\n", "empty: n=-1 errno=Resource temporarily unavailable\n",
		"short buffer: n=-1 errno=Invalid argument\n", "pending: poll=1 select=11 epoll=1\n",
		"consumed: poll=-100 select=0 epoll=0\n", "woken by pthread_kill: signo=12 code=-6 pid_ok=1 uid_ok=1\n",
		"woken by alarm: n=128 signo=14\n", "interrupted: n=-1 errno=Interrupted system call handled=12\n",
		"restarted: n=128 signo=10 handled=12\n", "after update: n=128 signo=12 usr1 still pending=1\n",
		"closed fd: -1 Bad file descriptor\n", "bad mask pointer: -1 Bad address\n",
		"child: parent's pending: n=-1 errno=Resource temporarily unavailable\n", "child exit: 7\n",
		"after execve: signo=10 code=-6 pid_ok=1 uid_ok=1\n",
		"SIGCHLD via signalfd: n=128 signo=17 pid_ok=1\n", "done failed=0\n",
	}},
	{name: "pthreads", payload: "pthreads", timeout: 2 * time.Minute, wantStdout: "counter=160000 (want 160000) joins=280 tls_ok=1 main_tls=7\n" +
		"condvar total=500500 (want 500500)\ncancelled: reader=1 sleeper=1 cleanups=2\n"},
	{name: "threadchurn", payload: "threadchurn", wantStdout: "300 threads ok\n"},
	{name: "sigabrt", payload: "abort", wantSignal: syscall.SIGABRT, wantStdout: "about to abort\n"},

	{
		name:    "gohello",
		payload: "gohello",
		args:    []string{"7", "{dir}/input.txt"},
		setup: func(t testing.TB, dir string) {
			writeFile(t, filepath.Join(dir, "input.txt"), []byte("first line\nsecond line\n"), 0o644)
		},
		wantCode:     7,
		wantContains: []string{"hello from go\n", "sleep: ok\n", "file: 23 bytes, first line \"first line\"\n", "exiting with 7\n"},
	},
	{name: "gohello-0", payload: "gohello", args: []string{"0"}, wantContains: []string{"exiting with 0\n"}},
	{name: "gosignals", payload: "gosignals", wantCode: 3, wantContains: []string{
		"recovered: runtime error: invalid memory address or nil pointer dereference\n",
		"preempted a spinning goroutine: true\n", "got: user defined signal 1\n", "ticker ok\n",
		"got: terminated - shutting down\n",
	}},

	// Sockets and other I/O (sys_net.go, sys_io.go). Inside a root, AF_UNIX
	// path names are translated; without one they pass through.
	{name: "sockets", payload: "sockets", root: true, wantContains: []string{
		"tcp: client err=0 got [HELLO OVER TCP]\n", "received fds 5 7 cloexec=yes,yes\n",
		"unix getsockname: [sock] len=7\n", "unix dgram sender: [dg1] len=6\n", "done failed=0\n"}},
	{name: "sockets-noroot", payload: "sockets", wantContains: []string{"done failed=0\n"}},
	{name: "sigpipe", payload: "sockets", args: []string{"sigpipe"}, wantSignal: syscall.SIGPIPE,
		wantStdout: "writing to a socket with no peer\n"},
	{name: "tty", payload: "tty", wantContains: []string{"TIOCGWINSZ: 0 rows=33 cols=111\n", "done failed=0\n"}},
	{name: "gonet", payload: "gonet", root: true, wantContains: []string{"concurrent: 20/20 ok\n", "done\n"}},
	{name: "gonet-noroot", payload: "gonet", wantContains: []string{"done\n"}},

	{name: "fork", payload: "fork", wantContains: []string{
		"child exit 42: WIFEXITED=1 WEXITSTATUS=42\n", "child segv: WIFSIGNALED=1 WTERMSIG=11\n",
		"child abort: WIFSIGNALED=1 WTERMSIG=6\n", "child killed: WIFSIGNALED=1 WTERMSIG=9\n",
		"child terminated: WIFSIGNALED=1 WTERMSIG=15\n", "child open fds: parent's - 2: yes\n",
		"pipe round trip: 11 [HELLO CHILD]\n", "waitid: code=CLD_EXITED status=17 pid-ok=1\n",
		"shared mapping: child 0, parent sees 41 42, private 3, anonymous 44\n",
		"vfork: exit 9\n", "fork with threads: child exit 0\n", "done failed=0\n",
	}},
	{name: "forkthreads", payload: "forkthreads", timeout: 3 * time.Minute, wantContains: []string{
		"children with a point-in-time image: 50/50 from main, 20/20 from a second thread\n",
		"atfork handlers: prepare 70 parent 70\n", "writers and churner ran on: yes (churner result 0)\n",
		"blocked reader: read 1 [x] errno -\n", "condition waiter got 42\n", "sigwaitinfo thread: signal 10",
		"execve racing forks: exit 7\n", "exit_group racing forks: exit 3\n", "done failed=0\n",
	}},
	{name: "execve", payload: "execve", wantContains: []string{
		"execve missing: ENOENT\n", "execve no x bit: EACCES\n", "execve garbage: ENOEXEC\n",
		"execve huge argv: E2BIG\n", "execve bad argv pointer: EFAULT\n",
		"child: fd 3 (no cloexec) open=1, fd 4 (cloexec) open=0 errno=EBADF\n", "fork+execve: status 3\n",
		"vfork+execve: status 12\n", "posix_spawn: read 32 [spawned: hello through the pipe] status 6\n",
		"script: argc=4 argv0=execve argv1=script-arg argv2=./script.sh argv3=extra\n", "fexecve: status 21\n",
		"done failed=0\n",
	}},
	{name: "execve-root", payload: "execve", root: true, wantContains: []string{"fork+execve: status 3\n", "done failed=0\n"}},
	{name: "goexec", payload: "goexec", args: []string{"/bin/echo"}, wantContains: []string{
		"child-upper: \"THROUGH A PIPE\\n\" err=<nil>\n", "child-exit: code 7 stderr \"child writes to stderr\\n\"\n",
		"missing program: true\n", "/bin/echo x: \"x\\n\" err=<nil>\n",
	}},
}

func TestDifferential(t *testing.T) {
	for _, c := range diffCases {
		t.Run(c.name, func(t *testing.T) {
			for _, fl := range flavoursFor(t, c.payload) {
				t.Run(fl.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, fl, payload(t, fl.name, c.payload))
				})
			}
		})
	}
}

func (c diffCase) run(t *testing.T, fl flavour, bin string) {
	o := runOpts{timeout: c.timeout}
	var native, km result
	if c.root || fl.dynamic && !c.noRoot {
		bins := map[string]string{c.payload: bin}
		nroot := newRoot(t, bins)
		o.dir = filepath.Join(nroot, "work")
		native = run(t, o, append([]string{filepath.Join(nroot, c.payload)}, c.args...)...)

		kroot := newRoot(t, bins)
		if fl.dynamic {
			addDynamicLibs(t, kroot, bin)
			// Payloads written for the host expect a /tmp (mkstemp).
			if err := os.Mkdir(filepath.Join(kroot, "tmp"), 0o1777); err != nil && !os.IsExist(err) {
				t.Fatal(err)
			}
			os.Chmod(filepath.Join(kroot, "tmp"), 0o1777)
		}
		args := append([]string{"--root", kroot, "--cwd", "/work"}, c.kmFlags...)
		args = append(append(args, "/"+c.payload), c.args...)
		o.dir = t.TempDir()
		km = runKM(t, o, args...)
	} else {
		o.dir = t.TempDir()
		if c.setup != nil {
			c.setup(t, o.dir)
		}
		args := make([]string, len(c.args))
		for i, a := range c.args {
			args[i] = strings.ReplaceAll(a, "{dir}", o.dir)
		}
		native = run(t, o, append([]string{bin}, args...)...)
		km = runKM(t, o, append(append(append([]string{}, c.kmFlags...), bin), args...)...)
	}
	if native.timedOut || km.timedOut {
		return // already reported
	}
	c.checkNative(t, native)
	checkNoPanic(t, km)

	if !bytes.Equal(native.stdout, km.stdout) {
		t.Errorf("stdout differs; %s\nnative run:\n%s\nkm run:\n%s", firstDiff(native.stdout, km.stdout), native, km)
	}
	if native.code != km.code {
		t.Errorf("exit status: native %d, km %d\nkm run:\n%s", native.code, km.code, km)
	}
	if c.wantSignal != 0 && dumpsCore(c.wantSignal) {
		// Like the kernel's "segfault at" line: km names the signal that
		// would have dumped core. Termination signals end quietly.
		line := checkOneKMLine(t, km)
		if name := sigName(c.wantSignal); !strings.Contains(line, name) {
			t.Errorf("km's stderr line %q does not name %s\n%s", line, name, km)
		}
	} else if !bytes.Equal(native.stderr, km.stderr) && c.wantSignal == 0 {
		t.Errorf("stderr differs: native %q, km %q\nkm run:\n%s", clip(native.stderr), clip(km.stderr), km)
	}
}

// checkNative verifies the payload itself behaves as designed when run
// natively.
func (c diffCase) checkNative(t *testing.T, r result) {
	t.Helper()
	ok := true
	if c.wantSignal != 0 {
		if r.signal != c.wantSignal {
			t.Errorf("native run: want death by %s", sigName(c.wantSignal))
			ok = false
		}
	} else if r.code != c.wantCode {
		t.Errorf("native run: want exit status %d", c.wantCode)
		ok = false
	}
	if bytes.Contains(r.stdout, []byte("FAIL")) {
		t.Errorf("native run: payload reported FAIL")
		ok = false
	}
	if c.wantStdout != "" && string(r.stdout) != c.wantStdout {
		t.Errorf("native run: want stdout %q", c.wantStdout)
		ok = false
	}
	for _, s := range c.wantContains {
		if !strings.Contains(string(r.stdout), s) {
			t.Errorf("native run: stdout lacks %q", s)
			ok = false
		}
	}
	if !ok {
		t.Logf("native run:\n%s", r)
	}
}

// dumpsCore reports whether sig's default action is to dump core.
func dumpsCore(sig syscall.Signal) bool {
	switch sig {
	case syscall.SIGQUIT, syscall.SIGILL, syscall.SIGTRAP, syscall.SIGABRT, syscall.SIGBUS, syscall.SIGFPE,
		syscall.SIGSEGV, syscall.SIGXCPU, syscall.SIGXFSZ, syscall.SIGSYS:
		return true
	}
	return false
}
