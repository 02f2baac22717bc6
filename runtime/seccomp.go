package runtime

import (
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// Seccomp filters the guest's system calls the way Linux applies the BPF
// filter runc builds (with libseccomp) from an OCI profile. Under km the
// guest's calls never reach the host kernel as such, so the monitor decides
// before serving each one: Compile turns the rules into a table indexed by
// syscall number, and the check is one array load (plus the argument
// comparisons of the few syscalls that have conditional rules).
//
// The filter is the process's for good: a forked child monitor gets it
// (forkState), execve keeps it, and nothing removes it, as in Linux.
// The vDSO's clock reads are not syscalls and are not filtered (as in Linux);
// its fallbacks to a real `syscall` are.
//
// Semantics (runc + libseccomp, for the x86-64 native architecture):
//   - rules whose action equals the default action are dropped (runc);
//   - for one syscall, the first unconditional rule decides every call,
//     whatever its position (libseccomp drops a later unconditional rule and
//     lets an unconditional one replace earlier conditional ones);
//   - otherwise the conditional rules are tried in profile order, the first
//     whose comparisons all hold (they are ANDed) decides, else the default;
//     two conditional rules with the same comparisons and different actions
//     are an error, as libseccomp's -EEXIST makes runc fail;
//   - ENOSYSAbove > 0: syscalls above that number get ENOSYS (runc's stub
//     for syscalls newer than the profile);
//   - x32 calls (bit 30 of the number): with X32 they are decided by the
//     rules of the same call's x86-64 number and then fail with ENOSYS (km
//     serves no x32 ABI); without X32 they get libseccomp's bad-architecture
//     action, KILL_THREAD.
type Seccomp struct {
	Default SeccompAction
	Rules   []SeccompRule
	// X32 is set when the profile lists SCMP_ARCH_X32.
	X32 bool
	// ENOSYSAbove, ENOSYSAboveX32: runc's -ENOSYS stub bounds (0: none).
	ENOSYSAbove, ENOSYSAboveX32 uint32

	table []seccompEntry // by syscall number; built by Compile
}

// SeccompAction is a filter's return value, encoded as the kernel's
// SECCOMP_RET_*: the action in the high 16 bits, data (errno, trap code)
// in the low 16.
type SeccompAction uint32

// The actions (<linux/seccomp.h>).
const (
	SeccompKillProcess SeccompAction = 0x80000000
	SeccompKillThread  SeccompAction = 0x00000000
	SeccompTrap        SeccompAction = 0x00030000
	SeccompErrno       SeccompAction = 0x00050000
	SeccompNotify      SeccompAction = 0x7fc00000
	SeccompTrace       SeccompAction = 0x7ff00000
	SeccompLog         SeccompAction = 0x7ffc0000
	SeccompAllow       SeccompAction = 0x7fff0000

	seccompActionMask = 0xffff0000
	seccompDataMask   = 0x0000ffff
)

// WithData returns the action with its 16-bit data (errno for ERRNO).
func (a SeccompAction) WithData(d uint16) SeccompAction {
	return a&seccompActionMask | SeccompAction(d)
}

func (a SeccompAction) kind() SeccompAction { return a & seccompActionMask }
func (a SeccompAction) data() uint16        { return uint16(a & seccompDataMask) }

// SeccompOp is an argument comparison (libseccomp's enum scmp_compare).
type SeccompOp uint8

// The comparisons.
const (
	SeccompNE       SeccompOp = 1
	SeccompLT       SeccompOp = 2
	SeccompLE       SeccompOp = 3
	SeccompEQ       SeccompOp = 4
	SeccompGE       SeccompOp = 5
	SeccompGT       SeccompOp = 6
	SeccompMaskedEQ SeccompOp = 7 // (arg & Value) == ValueTwo
)

// SeccompArg compares argument Index (0-5) with Value (and ValueTwo for
// MASKED_EQ), as 64-bit unsigned numbers.
type SeccompArg struct {
	Index           uint8
	Op              SeccompOp
	Value, ValueTwo uint64
}

// SeccompRule applies Action to syscall Nr when every Args comparison holds.
type SeccompRule struct {
	Nr     uint32
	Action SeccompAction
	Args   []SeccompArg
}

// seccompEntry is one syscall's decision: action when rules is nil, else
// the first matching rule's, else the default.
type seccompEntry struct {
	action SeccompAction
	rules  []SeccompRule
}

// x32SyscallBit marks an x32 ABI syscall number.
const x32SyscallBit = 0x40000000

// Compile checks the rules and builds the lookup table.
func (f *Seccomp) Compile() error {
	if err := f.Default.valid(); err != nil {
		return fmt.Errorf("seccomp default action: %w", err)
	}
	table := make([]seccompEntry, len(syscallNames))
	for i := range table {
		table[i].action = f.Default
	}
	uncond := make([]bool, len(table))
	for _, r := range f.Rules {
		if err := r.Action.valid(); err != nil {
			return fmt.Errorf("seccomp rule for %s: %w", syscallName(uint64(r.Nr)), err)
		}
		for _, c := range r.Args {
			if c.Index > 5 || c.Op < SeccompNE || c.Op > SeccompMaskedEQ {
				return fmt.Errorf("seccomp rule for %s: bad argument comparison %+v", syscallName(uint64(r.Nr)), c)
			}
		}
		if r.Action == f.Default || int(r.Nr) >= len(table) {
			continue // runc drops rules that change nothing; unknown numbers never dispatch
		}
		e := &table[r.Nr]
		switch {
		case uncond[r.Nr]:
			// The first unconditional rule stays.
		case len(r.Args) == 0:
			uncond[r.Nr] = true
			e.action, e.rules = r.Action, nil
		default:
			for _, o := range e.rules {
				if o.Action != r.Action && slices.Equal(o.Args, r.Args) {
					return fmt.Errorf("seccomp: conflicting actions for the same arguments of %s", syscallName(uint64(r.Nr)))
				}
			}
			e.rules = append(e.rules, r)
		}
	}
	f.table = table
	return nil
}

func (a SeccompAction) valid() error {
	switch a.kind() {
	case SeccompKillProcess, SeccompKillThread, SeccompTrap, SeccompErrno, SeccompTrace, SeccompLog, SeccompAllow:
		return nil
	case SeccompNotify:
		return fmt.Errorf("SCMP_ACT_NOTIFY is not supported by km (no seccomp agent can serve the guest's calls)")
	}
	return fmt.Errorf("unknown action %#x", uint32(a))
}

// decide returns the filter's action for syscall nr with arguments a. The
// number is the kernel's 32-bit one (seccomp_data.nr).
func (f *Seccomp) decide(nr uint64, a args) SeccompAction {
	n := uint32(nr)
	if n >= x32SyscallBit {
		if !f.X32 {
			return SeccompKillThread // libseccomp's bad-architecture action
		}
		if f.ENOSYSAboveX32 != 0 && n > f.ENOSYSAboveX32 {
			return SeccompErrno.WithData(uint16(unix.ENOSYS))
		}
		x := n &^ x32SyscallBit
		if x >= x32CompatBase && x-x32CompatBase < uint32(len(x32Compat)) {
			x = x32Compat[x-x32CompatBase]
		}
		return f.decide64(x, a)
	}
	if f.ENOSYSAbove != 0 && n > f.ENOSYSAbove {
		return SeccompErrno.WithData(uint16(unix.ENOSYS))
	}
	return f.decide64(n, a)
}

func (f *Seccomp) decide64(n uint32, a args) SeccompAction {
	if int(n) >= len(f.table) {
		return f.Default
	}
	e := &f.table[n]
	if e.rules == nil {
		return e.action
	}
	for i := range e.rules {
		if e.rules[i].matches(a) {
			return e.rules[i].Action
		}
	}
	return f.Default
}

func (r *SeccompRule) matches(a args) bool {
	for _, c := range r.Args {
		v := a[c.Index]
		var ok bool
		switch c.Op {
		case SeccompNE:
			ok = v != c.Value
		case SeccompLT:
			ok = v < c.Value
		case SeccompLE:
			ok = v <= c.Value
		case SeccompEQ:
			ok = v == c.Value
		case SeccompGE:
			ok = v >= c.Value
		case SeccompGT:
			ok = v > c.Value
		case SeccompMaskedEQ:
			ok = v&c.Value == c.ValueTwo
		}
		if !ok {
			return false
		}
	}
	return true
}

// x32Compat maps the x32-only syscall numbers 512..547 to the x86-64
// numbers of the same calls (<asm/unistd_x32.h>).
const x32CompatBase = 512

var x32Compat = [...]uint32{
	unix.SYS_RT_SIGACTION, unix.SYS_RT_SIGRETURN, unix.SYS_IOCTL, unix.SYS_READV, unix.SYS_WRITEV,
	unix.SYS_RECVFROM, unix.SYS_SENDMSG, unix.SYS_RECVMSG, unix.SYS_EXECVE, unix.SYS_PTRACE,
	unix.SYS_RT_SIGPENDING, unix.SYS_RT_SIGTIMEDWAIT, unix.SYS_RT_SIGQUEUEINFO, unix.SYS_SIGALTSTACK,
	unix.SYS_TIMER_CREATE, unix.SYS_MQ_NOTIFY, unix.SYS_KEXEC_LOAD, unix.SYS_WAITID,
	unix.SYS_SET_ROBUST_LIST, unix.SYS_GET_ROBUST_LIST, unix.SYS_VMSPLICE, unix.SYS_MOVE_PAGES,
	unix.SYS_PREADV, unix.SYS_PWRITEV, unix.SYS_RT_TGSIGQUEUEINFO, unix.SYS_RECVMMSG, unix.SYS_SENDMMSG,
	unix.SYS_PROCESS_VM_READV, unix.SYS_PROCESS_VM_WRITEV, unix.SYS_SETSOCKOPT, unix.SYS_GETSOCKOPT,
	unix.SYS_IO_SETUP, unix.SYS_IO_SUBMIT, unix.SYS_EXECVEAT, unix.SYS_PREADV2, unix.SYS_PWRITEV2,
}

var (
	syscallNumbersOnce sync.Once
	syscallNumbers     map[string]int
)

// SyscallNumber returns the x86-64 number of the syscall called name, and
// whether km knows that name.
func SyscallNumber(name string) (int, bool) {
	syscallNumbersOnce.Do(func() {
		syscallNumbers = make(map[string]int, len(syscallNames))
		for nr, n := range syscallNames {
			if n != "" {
				syscallNumbers[n] = nr
			}
		}
	})
	nr, ok := syscallNumbers[name]
	return nr, ok
}

// Syscall-level constants of a SIGSYS from seccomp (<asm-generic/siginfo.h>,
// <linux/audit.h>).
const (
	sysSeccomp     = 1          // si_code SYS_SECCOMP
	auditArchX8664 = 0xc000003e // AUDIT_ARCH_X86_64
	maxErrno       = 4095       // the kernel clamps ERRNO data to MAX_ERRNO
)

// seccompSigInfo is the siginfo of a SECCOMP_RET_TRAP: si_errno = the
// action's data, si_call_addr = the address after the syscall instruction,
// si_syscall, si_arch.
func seccompSigInfo(nr uint64, data uint16, callAddr uint64) sigInfo {
	si := newSigInfo(unix.SIGSYS, sysSeccomp)
	le.PutUint32(si[4:], uint32(data))
	le.PutUint64(si[16:], callAddr)
	le.PutUint32(si[24:], uint32(nr))
	le.PutUint32(si[28:], auditArchX8664)
	return si
}

// seccompDeny applies a filter action other than ALLOW and LOG to syscall
// nr. It returns the syscall's result, or done when the thread (or the
// process) ended or the signal path took over the return.
func (t *thread) seccompDeny(act SeccompAction, nr uint64) (ret uint64, done bool) {
	switch act.kind() {
	case SeccompErrno:
		e := uint64(act.data())
		if e > maxErrno {
			e = maxErrno
		}
		return -e, false
	case SeccompTrace:
		// No tracer can be attached to a guest: Linux fails the call with
		// ENOSYS when there is none.
		return neg(unix.ENOSYS), false
	case SeccompTrap:
		if !t.handles(unix.SIGSYS) {
			// Blocked, ignored or default: Linux's force_sig kills.
			t.seccompKill(nr)
			return 0, true
		}
		// The call is skipped and rax keeps the syscall number (Linux rolls
		// it back); the handler sees SIGSYS with the seccomp siginfo.
		t.p.sig.mu.Lock()
		t.pending.add(unix.SIGSYS, seccompSigInfo(nr, act.data(), t.regs.RCX))
		t.p.sig.mu.Unlock()
		t.interrupt.Store(true)
		return nr, false
	case SeccompKillThread:
		if t.p.live.Load() > 1 {
			// Only this thread ends, as with exit(2) (the kernel's
			// do_exit(SIGSYS)); the last one takes the process with it.
			t.exitThread = true
			t.clearTID()
			return 0, true
		}
	}
	t.seccompKill(nr)
	return 0, true
}

// seccompKill ends the process with SIGSYS (KILL_PROCESS, the last
// thread's KILL_THREAD, an unhandled TRAP), with a one-line report.
func (t *thread) seccompKill(nr uint64) {
	t.p.report("guest killed by SIGSYS (seccomp: %s)", syscallName(nr))
	t.p.exit(ExitStatus{Signal: unix.SIGSYS})
	t.p.kickAll()
	t.exitThread = true
}

// seccompModeFilter is SECCOMP_MODE_FILTER, what PR_GET_SECCOMP and
// /proc/self/status report for a filtered process.
const seccompModeFilter = 2

// seccompMode is the guest's seccomp mode: 0, or 2 with a filter.
func (p *process) seccompMode() uint64 {
	if p.seccomp != nil {
		return seccompModeFilter
	}
	return 0
}

// SyscallNumberX32 returns the x32 ABI number (bit 30 set) of the syscall
// called name, as libseccomp resolves it for SCMP_ARCH_X32.
func SyscallNumberX32(name string) (uint32, bool) {
	nr, ok := SyscallNumber(name)
	if !ok {
		return 0, false
	}
	for i, x := range x32Compat {
		if int(x) == nr {
			return x32SyscallBit | uint32(x32CompatBase+i), true
		}
	}
	return x32SyscallBit | uint32(nr), true
}
