package shim

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/containerd/containerd/api/types"
	"golang.org/x/sys/unix"
)

// mountFlags are the mount(8) options that are flags, not data.
var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"nosuid": {false, unix.MS_NOSUID}, "suid": {true, unix.MS_NOSUID},
	"nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC},
	"bind": {false, unix.MS_BIND}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
	"noatime": {false, unix.MS_NOATIME}, "relatime": {false, unix.MS_RELATIME},
	"sync": {false, unix.MS_SYNCHRONOUS}, "remount": {false, unix.MS_REMOUNT},
	"private": {false, unix.MS_PRIVATE}, "rprivate": {false, unix.MS_PRIVATE | unix.MS_REC},
}

// mountRootfs mounts Create's rootfs list at target, in order (the usual
// case is one overlay or bind mount of a snapshot).
func mountRootfs(ms []*types.Mount, target string) error {
	for i, m := range ms {
		var flags uintptr
		var data []string
		for _, o := range m.Options {
			if f, ok := mountFlags[o]; ok {
				if f.clear {
					flags &^= f.flag
				} else {
					flags |= f.flag
				}
				continue
			}
			data = append(data, o)
		}
		typ := m.Type
		if typ == "bind" || typ == "rbind" {
			flags |= unix.MS_BIND
		}
		if err := unix.Mount(m.Source, target, typ, flags&^unix.MS_RDONLY, strings.Join(data, ",")); err != nil {
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
