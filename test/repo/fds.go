package repo

import "golang.org/x/sys/unix"

// KeepFDsToSelf marks every descriptor above stderr close-on-exec. A test
// binary inherits whatever its caller left open (a CI runner's lock file on
// fd 200, say); without this, every native baseline, containerd and shim the
// suite starts would inherit those too and see a different process than km
// gives its guest.
func KeepFDsToSelf() error {
	return unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
}
