package runtime

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

var (
	eperm  = SeccompErrno.WithData(uint16(unix.EPERM))
	enosys = SeccompErrno.WithData(uint16(unix.ENOSYS))
)

// containerdShaped is a filter with the shape of containerd's default
// profile (contrib/seccomp) for a process without CAP_SYS_ADMIN: default
// ERRNO(EPERM), an unconditional allow list, socket allowed by ranges of
// the family, personality by exact values, clone without namespace flags,
// clone3 ENOSYS, and runc's ENOSYS stub above the newest listed syscall.
func containerdShaped(t *testing.T) *Seccomp {
	t.Helper()
	f := &Seccomp{Default: eperm, X32: true}
	allow := func(nr int, args ...SeccompArg) {
		f.Rules = append(f.Rules, SeccompRule{Nr: uint32(nr), Action: SeccompAllow, Args: args})
	}
	for _, nr := range []int{unix.SYS_READ, unix.SYS_WRITE, unix.SYS_EXIT_GROUP, unix.SYS_GETPID, unix.SYS_FUTEX,
		unix.SYS_EXECVE, unix.SYS_PRCTL, unix.SYS_FUTEX_WAITV, unix.SYS_RT_SIGACTION} {
		allow(nr)
	}
	allow(unix.SYS_SOCKET, SeccompArg{Index: 0, Op: SeccompLT, Value: unix.AF_ALG})
	allow(unix.SYS_SOCKET, SeccompArg{Index: 0, Op: SeccompEQ, Value: unix.AF_ALG + 1})
	allow(unix.SYS_SOCKET, SeccompArg{Index: 0, Op: SeccompGT, Value: unix.AF_VSOCK})
	for _, p := range []uint64{0, 8, 0x20000, 0x20008, 0xffffffff} {
		allow(unix.SYS_PERSONALITY, SeccompArg{Index: 0, Op: SeccompEQ, Value: p})
	}
	const nsFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
		unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP
	allow(unix.SYS_CLONE, SeccompArg{Index: 0, Op: SeccompMaskedEQ, Value: nsFlags, ValueTwo: 0})
	f.Rules = append(f.Rules, SeccompRule{Nr: unix.SYS_CLONE3, Action: enosys})
	f.ENOSYSAbove = unix.SYS_FUTEX_WAITV
	f.ENOSYSAboveX32 = x32SyscallBit | 547
	if err := f.Compile(); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSeccompContainerdShape(t *testing.T) {
	f := containerdShaped(t)
	cases := []struct {
		name string
		nr   uint64
		a    args
		want SeccompAction
	}{
		{"write", unix.SYS_WRITE, args{1}, SeccompAllow},
		{"keyctl", unix.SYS_KEYCTL, args{}, eperm},
		{"unshare", unix.SYS_UNSHARE, args{unix.CLONE_NEWUSER}, eperm},
		{"socket AF_INET", unix.SYS_SOCKET, args{unix.AF_INET}, SeccompAllow},
		{"socket AF_ALG", unix.SYS_SOCKET, args{unix.AF_ALG}, eperm},
		{"socket AF_ALG+1", unix.SYS_SOCKET, args{unix.AF_ALG + 1}, SeccompAllow},
		{"socket AF_VSOCK", unix.SYS_SOCKET, args{unix.AF_VSOCK}, eperm},
		{"socket AF_VSOCK+1", unix.SYS_SOCKET, args{unix.AF_VSOCK + 1}, SeccompAllow},
		{"personality query", unix.SYS_PERSONALITY, args{0xffffffff}, SeccompAllow},
		{"personality PER_LINUX32", unix.SYS_PERSONALITY, args{8}, SeccompAllow},
		{"personality ADDR_NO_RANDOMIZE", unix.SYS_PERSONALITY, args{0x40000}, eperm},
		{"personality 64-bit query", unix.SYS_PERSONALITY, args{^uint64(0)}, eperm}, // 64-bit compare: not 0xffffffff
		{"fork-like clone", unix.SYS_CLONE, args{unix.CLONE_CHILD_SETTID | unix.CLONE_CHILD_CLEARTID | uint64(unix.SIGCHLD)}, SeccompAllow},
		{"thread clone", unix.SYS_CLONE, args{unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND}, SeccompAllow},
		{"clone NEWUSER", unix.SYS_CLONE, args{unix.CLONE_NEWUSER | uint64(unix.SIGCHLD)}, eperm},
		{"clone3", unix.SYS_CLONE3, args{}, enosys},
		{"newest listed", unix.SYS_FUTEX_WAITV, args{}, SeccompAllow},
		{"newer than the profile", unix.SYS_FUTEX_WAITV + 1, args{}, enosys},
		{"far beyond the table", 100000, args{}, enosys},
		{"high bits ignored like the kernel", 1<<32 | unix.SYS_WRITE, args{}, SeccompAllow},
		{"x32 write", x32SyscallBit | unix.SYS_WRITE, args{}, SeccompAllow},
		{"x32 keyctl", x32SyscallBit | unix.SYS_KEYCTL, args{}, eperm},
		{"x32 rt_sigaction (512)", x32SyscallBit | 512, args{}, SeccompAllow},
		{"x32 execve (520)", x32SyscallBit | 520, args{}, SeccompAllow},
		{"x32 ptrace (521)", x32SyscallBit | 521, args{}, eperm},
		{"x32 beyond", x32SyscallBit | 548, args{}, enosys},
	}
	for _, c := range cases {
		if got := f.decide(c.nr, c.a); got != c.want {
			t.Errorf("%s: decide(%#x, %#x) = %#x, want %#x", c.name, c.nr, c.a[0], got, c.want)
		}
	}
}

func TestSeccompX32NotListed(t *testing.T) {
	f := &Seccomp{Default: SeccompAllow}
	if err := f.Compile(); err != nil {
		t.Fatal(err)
	}
	if got := f.decide(x32SyscallBit|unix.SYS_WRITE, args{}); got != SeccompKillThread {
		t.Errorf("x32 call without SCMP_ARCH_X32: %#x, want libseccomp's bad-arch KILL_THREAD", got)
	}
	if got := f.decide(unix.SYS_WRITE, args{}); got != SeccompAllow {
		t.Errorf("write: %#x", got)
	}
}

// TestSeccompPrecedence: several rules for one syscall combine as
// libseccomp combines them.
func TestSeccompPrecedence(t *testing.T) {
	e := func(n uint16) SeccompAction { return SeccompErrno.WithData(n) }
	eq := func(v uint64) []SeccompArg { return []SeccompArg{{Index: 0, Op: SeccompEQ, Value: v}} }
	cases := []struct {
		name  string
		rules []SeccompRule
		a0    uint64
		want  SeccompAction
	}{
		{"unconditional after conditional replaces it", []SeccompRule{{Nr: 1, Action: e(11), Args: eq(0)}, {Nr: 1, Action: e(12)}}, 0, e(12)},
		{"unconditional before conditional stays", []SeccompRule{{Nr: 1, Action: e(12)}, {Nr: 1, Action: e(11), Args: eq(0)}}, 0, e(12)},
		{"first unconditional stays", []SeccompRule{{Nr: 1, Action: e(12)}, {Nr: 1, Action: e(13)}}, 5, e(12)},
		{"first matching conditional", []SeccompRule{{Nr: 1, Action: e(11), Args: eq(5)}, {Nr: 1, Action: e(13), Args: []SeccompArg{{Op: SeccompGE, Value: 3}}}}, 5, e(11)},
		{"no conditional matches: default", []SeccompRule{{Nr: 1, Action: e(11), Args: eq(5)}}, 6, SeccompAllow},
		{"rule equal to the default is dropped", []SeccompRule{{Nr: 1, Action: SeccompAllow, Args: eq(5)}, {Nr: 1, Action: e(11), Args: []SeccompArg{{Op: SeccompGE, Value: 3}}}}, 5, e(11)},
		{"arguments are ANDed", []SeccompRule{{Nr: 1, Action: e(11), Args: []SeccompArg{{Index: 0, Op: SeccompEQ, Value: 5}, {Index: 1, Op: SeccompEQ, Value: 1}}}}, 5, SeccompAllow},
		{"same action, same arguments: no conflict", []SeccompRule{{Nr: 1, Action: e(11), Args: eq(5)}, {Nr: 1, Action: e(11), Args: eq(5)}}, 5, e(11)},
	}
	for _, c := range cases {
		f := &Seccomp{Default: SeccompAllow, Rules: c.rules}
		if err := f.Compile(); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := f.decide(1, args{c.a0}); got != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, got, c.want)
		}
	}
	f := &Seccomp{Default: SeccompAllow, Rules: []SeccompRule{{Nr: 1, Action: e(11), Args: eq(5)}, {Nr: 1, Action: e(12), Args: eq(5)}}}
	if err := f.Compile(); err == nil || !strings.Contains(err.Error(), "conflicting") {
		t.Errorf("same arguments, different actions: %v, want libseccomp's conflict", err)
	}
	for _, bad := range []*Seccomp{
		{Default: SeccompNotify},
		{Default: SeccompAllow, Rules: []SeccompRule{{Nr: 1, Action: SeccompNotify}}},
		{Default: SeccompAllow, Rules: []SeccompRule{{Nr: 1, Action: 0x12340000}}},
		{Default: SeccompAllow, Rules: []SeccompRule{{Nr: 1, Action: eperm, Args: []SeccompArg{{Index: 6, Op: SeccompEQ}}}}},
		{Default: SeccompAllow, Rules: []SeccompRule{{Nr: 1, Action: eperm, Args: []SeccompArg{{Op: 8}}}}},
	} {
		if err := bad.Compile(); err == nil {
			t.Errorf("%+v compiled", bad)
		}
	}
}

func TestSeccompOps(t *testing.T) {
	const big = 1 << 63
	cases := []struct {
		op       SeccompOp
		v, v2    uint64
		yes, not []uint64
	}{
		{SeccompNE, 5, 0, []uint64{4, 6, big | 5}, []uint64{5}},
		{SeccompLT, big, 0, []uint64{0, big - 1}, []uint64{big, ^uint64(0)}},
		{SeccompLE, 7, 0, []uint64{0, 7}, []uint64{8, 1<<32 | 7}},
		{SeccompEQ, 1<<32 | 3, 0, []uint64{1<<32 | 3}, []uint64{3}},
		{SeccompGE, big, 0, []uint64{big, ^uint64(0)}, []uint64{0, big - 1}},
		{SeccompGT, 0xffffffff, 0, []uint64{1 << 32}, []uint64{0xffffffff, 0}},
		{SeccompMaskedEQ, 0xf0, 0x10, []uint64{0x10, 0x1f, 0xff11 &^ 0xe0}, []uint64{0x20, 0xf0, 0}},
	}
	for _, c := range cases {
		r := SeccompRule{Args: []SeccompArg{{Index: 3, Op: c.op, Value: c.v, ValueTwo: c.v2}}}
		for _, v := range c.yes {
			if !r.matches(args{3: v}) {
				t.Errorf("op %d value %#x/%#x: %#x should match", c.op, c.v, c.v2, v)
			}
		}
		for _, v := range c.not {
			if r.matches(args{3: v}) {
				t.Errorf("op %d value %#x/%#x: %#x should not match", c.op, c.v, c.v2, v)
			}
		}
	}
}

func TestSyscallNumber(t *testing.T) {
	if nr, ok := SyscallNumber("clone3"); !ok || nr != unix.SYS_CLONE3 {
		t.Errorf("clone3: %d %v", nr, ok)
	}
	if _, ok := SyscallNumber("no_such_call"); ok {
		t.Error("unknown name resolved")
	}
	if nr, ok := SyscallNumberX32("readv"); !ok || nr != x32SyscallBit|515 {
		t.Errorf("x32 readv: %#x %v", nr, ok)
	}
	if nr, ok := SyscallNumberX32("write"); !ok || nr != x32SyscallBit|unix.SYS_WRITE {
		t.Errorf("x32 write: %#x %v", nr, ok)
	}
}

// TestSeccompGob: the filter survives the gob trip to a child
// monitor and decides the same there.
func TestSeccompGob(t *testing.T) {
	f := containerdShaped(t)
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&forkState{Seccomp: f}); err != nil {
		t.Fatal(err)
	}
	back := &forkState{}
	if err := gob.NewDecoder(&buf).Decode(back); err != nil {
		t.Fatal(err)
	}
	g := back.Seccomp
	if g == nil {
		t.Fatal("no filter after the round trip")
	}
	if err := g.Compile(); err != nil {
		t.Fatal(err)
	}
	for nr := uint64(0); nr < 500; nr++ {
		for _, a0 := range []uint64{0, 8, unix.AF_VSOCK, unix.CLONE_NEWUSER} {
			if f.decide(nr, args{a0}) != g.decide(nr, args{a0}) {
				t.Fatalf("syscall %d arg %#x decided differently after the round trip", nr, a0)
			}
		}
	}
}

// referenceDecide is the semantics of Seccomp written plainly, over the
// rule list, for FuzzSeccomp to compare the table with.
func referenceDecide(f *Seccomp, nr uint32, a args) SeccompAction {
	if nr >= x32SyscallBit {
		return 0xdead // not fuzzed
	}
	if f.ENOSYSAbove != 0 && nr > f.ENOSYSAbove {
		return enosys
	}
	var rules []SeccompRule
	for _, r := range f.Rules {
		if r.Nr == nr && r.Action != f.Default && int(nr) < len(syscallNames) {
			rules = append(rules, r)
		}
	}
	for _, r := range rules {
		if len(r.Args) == 0 {
			return r.Action
		}
	}
	for _, r := range rules {
		if r.matches(a) {
			return r.Action
		}
	}
	return f.Default
}

// FuzzSeccomp: random rule sets compile without panicking, and the table
// decides every call as the plain reading of the rules does.
func FuzzSeccomp(f *testing.F) {
	f.Add([]byte{1, 2, 0, 3, 1, 4, 0, 5, 5, 1, 0, 7, 0xf0, 0x10}, uint16(1), uint64(5), uint64(0x10))
	f.Add([]byte{0x3f, 0, 1, 0, 0x3f, 1, 0, 0, 0x3f, 2, 1, 0, 4, 9}, uint16(0x3f), uint64(9), uint64(0))
	actions := []SeccompAction{SeccompAllow, eperm, enosys, SeccompErrno.WithData(99), SeccompTrap, SeccompKillThread, SeccompKillProcess, SeccompLog, SeccompTrace}
	f.Fuzz(func(t *testing.T, prog []byte, nr uint16, a0, a1 uint64) {
		next := func() byte {
			if len(prog) == 0 {
				return 0
			}
			b := prog[0]
			prog = prog[1:]
			return b
		}
		s := &Seccomp{Default: actions[int(next())%len(actions)]}
		if next()&1 != 0 {
			s.ENOSYSAbove = uint32(next()) * 2
		}
		for len(prog) > 0 && len(s.Rules) < 32 {
			r := SeccompRule{Nr: uint32(next()) * 2, Action: actions[int(next())%len(actions)]}
			for n := next() % 3; n > 0; n-- {
				var v [8]byte
				idx, op := next()%6, SeccompOp(next()%8)
				v[7] = next()
				r.Args = append(r.Args, SeccompArg{Index: idx, Op: op, Value: binary.BigEndian.Uint64(v[:]), ValueTwo: uint64(next())})
			}
			s.Rules = append(s.Rules, r)
		}
		if err := s.Compile(); err != nil {
			valid := true
			for _, r := range s.Rules {
				for _, c := range r.Args {
					valid = valid && c.Index <= 5 && c.Op >= SeccompNE && c.Op <= SeccompMaskedEQ
				}
			}
			if valid && !strings.Contains(err.Error(), "conflicting") {
				t.Fatalf("valid rules rejected: %v", err)
			}
			return
		}
		n := uint32(nr) % 512
		for _, a := range []args{{a0, a1}, {a1, a0}, {}, {a0, a0, a0, a0, a0, a0}} {
			if got, want := s.decide(uint64(n), a), referenceDecide(s, n, a); got != want {
				t.Fatalf("syscall %d %#x: table %#x, rules %#x (rules %+v)", n, a, got, want, s.Rules)
			}
		}
	})
}

// BenchmarkSeccompDecide: the filter's cost per guest syscall, for an
// unconditional entry and for a syscall with containerd's five personality
// rules (the worst case of its default profile).
func BenchmarkSeccompDecide(b *testing.B) {
	f := containerdShaped(&testing.T{})
	b.Run("unconditional", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			f.decide(unix.SYS_GETPID, args{})
		}
	})
	b.Run("five-rules-no-match", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			f.decide(unix.SYS_PERSONALITY, args{0x40000})
		}
	})
}
