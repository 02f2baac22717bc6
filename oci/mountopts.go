package oci

import (
	"strings"

	"golang.org/x/sys/unix"
)

// mountFlags are the mount(8) options that are mount(2) flags rather than
// filesystem data. Propagation options need a mount call of their own and
// are accepted but not applied here.
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
	"strictatime": {false, unix.MS_STRICTATIME}, "nodiratime": {false, unix.MS_NODIRATIME},
	"sync": {false, unix.MS_SYNCHRONOUS}, "remount": {false, unix.MS_REMOUNT},
	"private": {false, 0}, "rprivate": {false, 0}, "slave": {false, 0}, "rslave": {false, 0},
	"shared": {false, 0}, "rshared": {false, 0},
}

// MountOptions splits mount(8)-style options of a mount of type typ into
// mount(2) flags and the filesystem's data string; types "bind" and
// "rbind" imply MS_BIND.
func MountOptions(typ string, options []string) (flags uintptr, data string) {
	var rest []string
	for _, o := range options {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		rest = append(rest, o)
	}
	if typ == "bind" || typ == "rbind" {
		flags |= unix.MS_BIND
	}
	return flags, strings.Join(rest, ",")
}
