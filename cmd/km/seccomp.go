package main

// Seccomp: the OCI profile (linux.seccomp) becomes the monitor's filter on
// the guest's syscalls (runtime/seccomp.go), converted the way runc
// converts it for libseccomp, so that a profile means under km what it
// means under runc.

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kmvm/km/runtime"
)

// loadSeccomp reads --seccomp: inline JSON, or the path of a JSON file
// (the spec's linux.seccomp).
func loadSeccomp(arg string) (*runtime.Seccomp, error) {
	data := []byte(arg)
	if !strings.HasPrefix(strings.TrimSpace(arg), "{") {
		var err error
		if data, err = os.ReadFile(arg); err != nil {
			return nil, fmt.Errorf("--seccomp: %v", err)
		}
	}
	var s specs.LinuxSeccomp
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("--seccomp: %v", err)
	}
	f, err := convertSeccomp(&s)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %v", err)
	}
	return f, nil
}

var seccompActions = map[specs.LinuxSeccompAction]runtime.SeccompAction{
	specs.ActKill:        runtime.SeccompKillThread, // runc: SCMP_ACT_KILL is KILL_THREAD
	specs.ActKillThread:  runtime.SeccompKillThread,
	specs.ActKillProcess: runtime.SeccompKillProcess,
	specs.ActTrap:        runtime.SeccompTrap,
	specs.ActErrno:       runtime.SeccompErrno,
	specs.ActTrace:       runtime.SeccompTrace,
	specs.ActAllow:       runtime.SeccompAllow,
	specs.ActLog:         runtime.SeccompLog,
	specs.ActNotify:      runtime.SeccompNotify,
}

var seccompOps = map[specs.LinuxSeccompOperator]runtime.SeccompOp{
	specs.OpNotEqual:     runtime.SeccompNE,
	specs.OpLessThan:     runtime.SeccompLT,
	specs.OpLessEqual:    runtime.SeccompLE,
	specs.OpEqualTo:      runtime.SeccompEQ,
	specs.OpGreaterEqual: runtime.SeccompGE,
	specs.OpGreaterThan:  runtime.SeccompGT,
	specs.OpMaskedEqual:  runtime.SeccompMaskedEQ,
}

// seccompArches are the architecture names runc accepts.
var seccompArches = []specs.Arch{
	specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchARM, specs.ArchAARCH64, specs.ArchMIPS,
	specs.ArchMIPS64, specs.ArchMIPS64N32, specs.ArchMIPSEL, specs.ArchMIPSEL64, specs.ArchMIPSEL64N32,
	specs.ArchPPC, specs.ArchPPC64, specs.ArchPPC64LE, specs.ArchS390, specs.ArchS390X,
	specs.ArchPARISC, specs.ArchPARISC64, specs.ArchRISCV64, specs.ArchLOONGARCH64,
	specs.ArchM68K, specs.ArchSH, specs.ArchSHEB,
}

// "SECCOMP_FILTER_FLAG_TSYNC" has no constant in specs-go.
const seccompFlagTsync specs.LinuxSeccompFlag = "SECCOMP_FILTER_FLAG_TSYNC"

// seccompAction converts an action and its errnoRet as runc does: ERRNO
// and TRACE carry errnoRet, EPERM when it is absent.
func seccompAction(a specs.LinuxSeccompAction, errnoRet *uint) (runtime.SeccompAction, error) {
	act, ok := seccompActions[a]
	if !ok {
		return 0, fmt.Errorf("unknown action %q", a)
	}
	if act == runtime.SeccompNotify {
		return 0, fmt.Errorf("%s needs a seccomp agent (listenerPath), which km does not support", a)
	}
	if act == runtime.SeccompErrno || act == runtime.SeccompTrace {
		e := uint16(unix.EPERM)
		if errnoRet != nil {
			e = uint16(*errnoRet)
		}
		act = act.WithData(e)
	}
	return act, nil
}

// convertSeccomp turns a spec profile into the monitor's filter (see
// runtime.Seccomp for the semantics).
func convertSeccomp(s *specs.LinuxSeccomp) (*runtime.Seccomp, error) {
	def, err := seccompAction(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("defaultAction: %v", err)
	}
	f := &runtime.Seccomp{Default: def}
	x8664 := false
	for _, a := range s.Architectures {
		if !slices.Contains(seccompArches, a) {
			return nil, fmt.Errorf("architecture %q is not a valid arch for seccomp", a)
		}
		// The native x86-64 is always filtered (libseccomp adds it); what
		// listing it changes is runc's -ENOSYS stub.
		x8664 = x8664 || a == specs.ArchX86_64
		f.X32 = f.X32 || a == specs.ArchX32
	}
	for _, fl := range s.Flags {
		switch fl {
		case seccompFlagTsync, specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow, specs.LinuxSeccompFlagWaitKillableRecv:
			// Nothing to do: every monitor thread applies the one filter.
		default:
			return nil, fmt.Errorf("flag %q is not known", fl)
		}
	}
	var last, lastX32 uint32
	for _, sc := range s.Syscalls {
		act, err := seccompAction(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("syscalls %v: %v", sc.Names, err)
		}
		args := make([]runtime.SeccompArg, 0, len(sc.Args))
		var perIndex [6]int
		for _, a := range sc.Args {
			op, ok := seccompOps[a.Op]
			if !ok {
				return nil, fmt.Errorf("syscalls %v: unknown operator %q", sc.Names, a.Op)
			}
			if a.Index >= uint(len(perIndex)) {
				return nil, fmt.Errorf("syscalls %v: argument index %d out of range", sc.Names, a.Index)
			}
			perIndex[a.Index]++
			args = append(args, runtime.SeccompArg{Index: uint8(a.Index), Op: op, Value: a.Value, ValueTwo: a.ValueTwo})
		}
		// runc: comparisons that share an argument become one rule each
		// (ORed), since libseccomp compares each argument once per rule.
		groups := [][]runtime.SeccompArg{args}
		if slices.ContainsFunc(perIndex[:], func(n int) bool { return n > 1 }) {
			groups = groups[:0]
			for _, a := range args {
				groups = append(groups, []runtime.SeccompArg{a})
			}
		}
		for _, name := range sc.Names {
			if name == "" {
				return nil, fmt.Errorf("empty syscall name")
			}
			nr, ok := runtime.SyscallNumber(name)
			if !ok {
				continue // unknown to this kernel's table: ignored, as runc does
			}
			last = max(last, uint32(nr))
			if x, ok := runtime.SyscallNumberX32(name); ok {
				lastX32 = max(lastX32, x)
			}
			for _, g := range groups {
				f.Rules = append(f.Rules, runtime.SeccompRule{Nr: uint32(nr), Action: act, Args: g})
			}
		}
	}
	// runc's stub: calls newer than the profile's newest get ENOSYS rather
	// than a non-permissive default (so libcs fall back as on old kernels).
	switch def.WithData(0) {
	case runtime.SeccompAllow, runtime.SeccompLog, runtime.SeccompTrace:
	default:
		if x8664 {
			f.ENOSYSAbove = last
		}
		if f.X32 {
			f.ENOSYSAboveX32 = lastX32
		}
	}
	return f, nil
}
