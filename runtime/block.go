package runtime

import "golang.org/x/sys/unix"

// block runs a host syscall that may wait indefinitely (read on a pipe or
// socket, accept, connect, futex wait, poll, nanosleep, wait4...). The signal
// code makes such a call interruptible: a signal for the guest thread makes
// it return EINTR, and the syscall layer then restarts it or reports EINTR to
// the guest as Linux would. Every potentially blocking host call goes through here.
//
// The host may also interrupt the call for reasons of its own (a signal for
// the monitor that the Go runtime handles): with no guest signal for this
// thread and the process still running, the call is simply made again.
func (t *thread) block(fn func() (uintptr, unix.Errno)) (uintptr, unix.Errno) {
	for {
		// inBlock goes up before the check: a kicker sets interrupt before
		// it looks at inBlock, so either this check sees its signal or the
		// kicker sees this thread blocked and repeats the kick until it leaves.
		t.inBlock.Store(true)
		if t.interrupt.Load() || t.killed.Load() || t.p.isExited() {
			t.inBlock.Store(false)
			t.blockInterrupted = true
			return 0, unix.EINTR
		}
		r, e := fn()
		t.inBlock.Store(false)
		if e != unix.EINTR {
			return r, e
		}
		if t.interrupt.Load() || t.killed.Load() || t.p.isExited() {
			t.blockInterrupted = true
			return r, e
		}
	}
}

// blockSyscall makes one host syscall through block.
func (t *thread) blockSyscall(nr, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, unix.Errno) {
	return t.block(func() (uintptr, unix.Errno) {
		r, _, e := unix.Syscall6(nr, a1, a2, a3, a4, a5, a6)
		return r, e
	})
}
