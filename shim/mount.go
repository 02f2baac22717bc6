package shim

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/containerd/containerd/api/types"
	"golang.org/x/sys/unix"

	"github.com/kmvm/km/oci"
)

// mountRootfs mounts Create's rootfs list at target, in order (the usual
// case is one overlay or bind mount of a snapshot).
func mountRootfs(ms []*types.Mount, target string) error {
	for i, m := range ms {
		typ := m.Type
		flags, data := oci.MountOptions(typ, m.Options)
		if err := unix.Mount(m.Source, target, typ, flags&^unix.MS_RDONLY, data); err != nil {
			unmountAll(target)
			return fmt.Errorf("mount rootfs %d (%s %s): %w", i, m.Type, m.Source, err)
		}
		if flags&unix.MS_BIND != 0 && flags&unix.MS_RDONLY != 0 {
			// A read-only bind needs a remount to take effect.
			if err := unix.Mount("", target, "", flags|unix.MS_REMOUNT, ""); err != nil {
				unmountAll(target)
				return fmt.Errorf("remount rootfs read-only: %w", err)
			}
		} else if flags&unix.MS_RDONLY != 0 {
			unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_RDONLY, "")
		}
	}
	return nil
}

// unmountAll removes every mount stacked on target. Busy mounts are retried
// briefly, then detached lazily so a Delete always ends with nothing mounted.
func unmountAll(target string) error {
	for i := 0; ; i++ {
		err := unix.Unmount(target, 0)
		switch {
		case err == nil:
			continue
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil // not a mount point (any more)
		case errors.Is(err, unix.EBUSY) && i < 50:
			time.Sleep(10 * time.Millisecond)
		case errors.Is(err, unix.EBUSY):
			return unix.Unmount(target, unix.MNT_DETACH)
		default:
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
}

// isMountPoint reports whether path is the root of a mount.
func isMountPoint(path string) bool {
	var st, parent unix.Stat_t
	if unix.Lstat(path, &st) != nil || unix.Lstat(path+"/..", &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}

var _ = os.Getpid
