package runtime

import "golang.org/x/sys/unix"

// block runs a host syscall that may wait indefinitely (read on a pipe or
// socket, accept, connect, futex wait, poll, nanosleep, wait4...). The signal
// code makes such a call interruptible: a signal for the guest thread makes
// it return EINTR, and the syscall layer then restarts it or reports EINTR to
// the guest as Linux would. Every potentially blocking host call goes through here.
func (t *thread) block(fn func() (uintptr, unix.Errno)) (uintptr, unix.Errno) {
	return fn()
}
