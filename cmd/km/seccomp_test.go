package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kmvm/km/runtime"
)

// A profile shaped like containerd's default (JSON as ctr puts it in the
// spec), trimmed: an allow list with names this kernel table lacks,
// personality by value, clone without namespaces, clone3 ENOSYS.
const containerdLike = `{
	"defaultAction": "SCMP_ACT_ERRNO",
	"architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
	"syscalls": [
		{"names": ["read", "write", "futex_waitv", "no_such_call", "clock_settime64"], "action": "SCMP_ACT_ALLOW"},
		{"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
		{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
		 "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
		{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
		{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
	]
}`

func TestConvertSeccompContainerdShape(t *testing.T) {
	f, err := loadSeccomp(containerdLike)
	if err != nil {
		t.Fatal(err)
	}
	eperm := runtime.SeccompErrno.WithData(uint16(unix.EPERM))
	if f.Default != eperm {
		t.Errorf("default %#x, want ERRNO(EPERM)", f.Default)
	}
	if !f.X32 || f.ENOSYSAbove != unix.SYS_FUTEX_WAITV || f.ENOSYSAboveX32 != 0x40000000|unix.SYS_FUTEX_WAITV {
		t.Errorf("x32 %v, ENOSYS above %d / %#x", f.X32, f.ENOSYSAbove, f.ENOSYSAboveX32)
	}
	var nrs []uint32
	for _, r := range f.Rules {
		nrs = append(nrs, r.Nr)
	}
	// no_such_call and clock_settime64 (32-bit only) are not x86-64 names:
	// ignored, as runc ignores names libseccomp cannot resolve.
	want := []uint32{unix.SYS_READ, unix.SYS_WRITE, unix.SYS_FUTEX_WAITV, unix.SYS_PERSONALITY, unix.SYS_CLONE, unix.SYS_CLONE3, unix.SYS_GETPID}
	if len(nrs) != len(want) {
		t.Fatalf("rules for %v, want %v", nrs, want)
	}
	for i := range want {
		if nrs[i] != want[i] {
			t.Fatalf("rules for %v, want %v", nrs, want)
		}
	}
	if r := f.Rules[5]; r.Action != runtime.SeccompErrno.WithData(uint16(unix.ENOSYS)) {
		t.Errorf("clone3: %#x", r.Action)
	}
	if r := f.Rules[4]; len(r.Args) != 1 || r.Args[0] != (runtime.SeccompArg{Index: 0, Op: runtime.SeccompMaskedEQ, Value: 2114060288}) {
		t.Errorf("clone: %+v", r.Args)
	}
	if err := f.Compile(); err != nil {
		t.Fatal(err)
	}
}

func TestConvertSeccompRuncRules(t *testing.T) {
	// Two comparisons of one argument become two rules (runc), each
	// action is converted as runc converts it, TSYNC is accepted, and
	// without SCMP_ARCH_X86_64 listed there is no ENOSYS stub.
	f, err := loadSeccomp(`{"defaultAction": "SCMP_ACT_KILL", "architectures": ["SCMP_ARCH_X86"],
		"flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
		"syscalls": [
		{"names": ["fchdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 67,
		 "args": [{"index": 0, "value": 100, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 101, "op": "SCMP_CMP_EQ"}]},
		{"names": ["lseek"], "action": "SCMP_ACT_ALLOW",
		 "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_EQ"}, {"index": 2, "value": 1, "op": "SCMP_CMP_NE"}]},
		{"names": ["ptrace"], "action": "SCMP_ACT_TRACE"},
		{"names": ["getpriority"], "action": "SCMP_ACT_TRAP"},
		{"names": ["acct"], "action": "SCMP_ACT_KILL_PROCESS"},
		{"names": ["getpgid"], "action": "SCMP_ACT_LOG"},
		{"names": ["umask"], "action": "SCMP_ACT_ERRNO"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if f.Default != runtime.SeccompKillThread || f.X32 || f.ENOSYSAbove != 0 {
		t.Errorf("default %#x x32 %v stub %d", f.Default, f.X32, f.ENOSYSAbove)
	}
	acts := []runtime.SeccompAction{
		runtime.SeccompErrno.WithData(67), runtime.SeccompErrno.WithData(67), runtime.SeccompAllow,
		runtime.SeccompTrace.WithData(uint16(unix.EPERM)), runtime.SeccompTrap, runtime.SeccompKillProcess,
		runtime.SeccompLog, runtime.SeccompErrno.WithData(uint16(unix.EPERM)),
	}
	if len(f.Rules) != len(acts) {
		t.Fatalf("%d rules: %+v", len(f.Rules), f.Rules)
	}
	for i, a := range acts {
		if f.Rules[i].Action != a {
			t.Errorf("rule %d: %#x, want %#x", i, f.Rules[i].Action, a)
		}
	}
	if len(f.Rules[0].Args) != 1 || f.Rules[1].Args[0].Value != 101 || len(f.Rules[2].Args) != 2 {
		t.Errorf("argument split: %+v", f.Rules[:3])
	}
}

func TestConvertSeccompErrors(t *testing.T) {
	for _, c := range []struct{ js, want string }{
		{`{"defaultAction": "SCMP_ACT_NOTIFY"}`, "SCMP_ACT_NOTIFY"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x", "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_NOTIFY"}]}`, "SCMP_ACT_NOTIFY"},
		{`{"defaultAction": "SCMP_ACT_BOGUS"}`, "SCMP_ACT_BOGUS"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}`, "SCMP_ARCH_Z80"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NEW"]}`, "SECCOMP_FILTER_FLAG_NEW"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}`, "index 6"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]}`, "SCMP_CMP_ABOUT"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [""], "action": "SCMP_ACT_ERRNO"}]}`, "empty syscall name"},
		{`{"defaultAction": `, "--seccomp"},
	} {
		_, err := loadSeccomp(c.js)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line naming %q", c.js, err, c.want)
		}
	}
	file := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(file, []byte(containerdLike), 0o644)
	if _, err := loadSeccomp(file); err != nil {
		t.Errorf("from a file: %v", err)
	}
	if _, err := loadSeccomp(file + ".missing"); err == nil {
		t.Error("a missing file loaded")
	}
}
