package main

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kmvm/km/oci"
)

// The container's view of its cgroup, as runc builds it for a cgroup mount
// without a cgroup namespace: on a v1 (or hybrid) host a tmpfs with one
// read-only bind per v1 hierarchy of the container's own cgroup directory,
// named like the host's hierarchy mount points (plus the co-mount links,
// cpu -> cpu,cpuacct); on a v2 host a read-only bind of the container's
// cgroup directory. The hybrid host's v2 hierarchy is left out, as runc
// does. The container's cgroup is the monitor's own: the runtime put the
// monitor there before letting it set up mounts (--sync-fd).
//
// A hierarchy in which the monitor sits at the root ("/": not in a
// container cgroup there) is left out, where runc would bind the host's
// whole hierarchy: nothing outside the container's own cgroup directory
// becomes reachable.

// cgroupTmpfsMode is the mode of the tmpfs holding the v1 hierarchies (runc's).
const cgroupTmpfsMode = "mode=755"

// cgroupLine is one line of /proc/self/cgroup.
type cgroupLine struct {
	controllers []string // "cpu", "cpuacct", "name=systemd"; none for v2
	path        string
	v2          bool
}

func readCgroupLines() ([]cgroupLine, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	var out []cgroupLine
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[0] == "0" && f[1] == "" {
			out = append(out, cgroupLine{path: f[2], v2: true})
			continue
		}
		if f[1] == "" {
			continue
		}
		out = append(out, cgroupLine{controllers: strings.Split(f[1], ","), path: f[2]})
	}
	return out, nil
}

// mountEntry is one line of /proc/self/mountinfo (the fields km uses).
type mountEntry struct {
	root, point string // unescaped
	fstype      string
	superOpts   []string
}

func readMountInfo() ([]mountEntry, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []mountEntry
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 6 || len(g) < 3 {
			continue
		}
		out = append(out, mountEntry{root: unescapeMount(f[3]), point: unescapeMount(f[4]), fstype: g[0], superOpts: strings.Split(g[2], ",")})
	}
	return out, nil
}

// unescapeMount undoes the kernel's octal escapes (\040 for a space, ...)
// in mountinfo paths.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, ok := octal3(s[i+1 : i+4]); ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal3(s string) (byte, bool) {
	if len(s) != 3 {
		return 0, false
	}
	v := 0
	for _, c := range s {
		if c < '0' || c > '7' {
			return 0, false
		}
		v = v*8 + int(c-'0')
	}
	if v > 0xff {
		return 0, false
	}
	return byte(v), true
}

// cgroupSource returns the host directory of cgroup path cg inside
// hierarchy mount e, if e holds it.
func cgroupSource(e mountEntry, cg string) (string, bool) {
	if e.root == "/" {
		return path.Join(e.point, cg), true
	}
	if cg == e.root {
		return e.point, true
	}
	if rest, ok := strings.CutPrefix(cg, e.root+"/"); ok {
		return path.Join(e.point, rest), true
	}
	return "", false
}

// hasAll reports whether every controller is among a v1 mount's options.
func hasAll(opts, controllers []string) bool {
	for _, c := range controllers {
		found := false
		for _, o := range opts {
			if o == c {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return len(controllers) > 0
}

// mountCgroup mounts the container's cgroup view at m.Destination.
func mountCgroup(rootFD int, m specMount) error {
	lines, err := readCgroupLines()
	if err != nil {
		return err
	}
	mounts, err := readMountInfo()
	if err != nil {
		return err
	}
	flags, _ := oci.MountOptions(m.Type, m.Options)
	// The binds are read-only whatever the spec says, as runc's are for
	// the container's cgroup (the runtime, not the guest, sets limits).
	bindFlags := flags&(unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_RELATIME|unix.MS_NOATIME|unix.MS_STRICTATIME) | unix.MS_RDONLY
	v1 := false
	for _, e := range mounts {
		if e.fstype == "cgroup" {
			v1 = true
		}
	}
	if !v1 {
		for _, l := range lines {
			if !l.v2 || l.path == "/" {
				continue
			}
			for _, e := range mounts {
				if e.fstype != "cgroup2" {
					continue
				}
				if src, ok := cgroupSource(e, l.path); ok {
					return bindReadonly(rootFD, src, m.Destination, bindFlags)
				}
			}
		}
		return nil // not in a cgroup of its own: nothing to show
	}

	fd, err := targetFD(rootFD, m.Destination, false)
	if err != nil {
		return err
	}
	err = unix.Mount("tmpfs", fmt.Sprintf("/proc/self/fd/%d", fd), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, cgroupTmpfsMode)
	unix.Close(fd)
	if err != nil {
		return err
	}
	dirFD, err := targetFD(rootFD, m.Destination, false) // the new tmpfs
	if err != nil {
		return err
	}
	defer unix.Close(dirFD)
	// In the host's mount order, as runc binds them.
	done := map[string]bool{}
	for _, e := range mounts {
		if e.fstype != "cgroup" {
			continue
		}
		name := path.Base(e.point)
		if done[name] || name == "/" || name == "." || name == ".." {
			continue
		}
		for _, l := range lines {
			if l.v2 || l.path == "/" || !hasAll(e.superOpts, l.controllers) {
				continue
			}
			src, ok := cgroupSource(e, l.path)
			if !ok {
				continue
			}
			done[name] = true
			if err := bindReadonly(rootFD, src, path.Join(m.Destination, name), bindFlags); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			// A co-mounted hierarchy (cpu,cpuacct) is reachable by each name.
			if strings.Contains(name, ",") {
				for _, c := range strings.Split(name, ",") {
					if c != "" && c != "." && c != ".." && !strings.Contains(c, "=") {
						if err := unix.Symlinkat(name, dirFD, c); err != nil && !errors.Is(err, unix.EEXIST) {
							return err
						}
					}
				}
			}
			break
		}
	}
	if flags&unix.MS_RDONLY == 0 {
		return nil
	}
	return unix.Mount("", fmt.Sprintf("/proc/self/fd/%d", dirFD), "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
}

// bindReadonly binds host directory src at dest inside the root and makes
// the new mount read-only with flags.
func bindReadonly(rootFD int, src, dest string, flags uintptr) error {
	fd, err := targetFD(rootFD, dest, false)
	if err != nil {
		return err
	}
	err = unix.Mount(src, fmt.Sprintf("/proc/self/fd/%d", fd), "", unix.MS_BIND|unix.MS_REC, "")
	unix.Close(fd)
	if err != nil {
		return err
	}
	fd, err = targetFD(rootFD, dest, false) // the bind just made
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Mount("", fmt.Sprintf("/proc/self/fd/%d", fd), "", flags|unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "")
}

// inProc reports whether a guest path is under /proc, which km synthesises:
// the spec's masked and read-only /proc paths never reach the root's
// directory, so there is nothing to mount for them.
func inProc(p string) bool {
	p = path.Clean("/" + p)
	return p == "/proc" || strings.HasPrefix(p, "/proc/")
}

// openExisting opens an existing path inside the root (O_PATH), or
// reports ENOENT.
func openExisting(rootFD int, p string) (int, error) {
	return unix.Openat2(rootFD, path.Clean("/"+p), &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
}

// maskOrReadonlyTarget opens a masked or read-only path of the spec; ok is
// false when there is nothing to do: the path is under the synthesised
// /proc, or missing (runc skips those too).
func maskOrReadonlyTarget(rootFD int, p string) (fd int, ok bool, err error) {
	if inProc(p) {
		return -1, false, nil
	}
	fd, err = openExisting(rootFD, p)
	if errors.Is(err, unix.ENOENT) {
		return -1, false, nil
	}
	return fd, err == nil, err
}

// maskPath hides a path as runc does: /dev/null over a file, an empty
// read-only tmpfs over a directory; a missing path is left alone.
func maskPath(rootFD int, p string) error {
	fd, ok, err := maskOrReadonlyTarget(rootFD, p)
	if !ok {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	target := fmt.Sprintf("/proc/self/fd/%d", fd)
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return unix.Mount("tmpfs", target, "tmpfs", unix.MS_RDONLY, "")
	}
	return unix.Mount("/dev/null", target, "", unix.MS_BIND, "")
}

// readonlyPath makes a path read-only (a bind of it onto itself, remounted
// read-only), as runc does; a missing path is left alone.
func readonlyPath(rootFD int, p string) error {
	fd, ok, err := maskOrReadonlyTarget(rootFD, p)
	if !ok {
		return err
	}
	target := fmt.Sprintf("/proc/self/fd/%d", fd)
	err = unix.Mount(target, target, "", unix.MS_BIND|unix.MS_REC, "")
	unix.Close(fd)
	if err != nil {
		return err
	}
	if fd, err = openExisting(rootFD, p); err != nil { // the bind just made
		return err
	}
	defer unix.Close(fd)
	return unix.Mount("", fmt.Sprintf("/proc/self/fd/%d", fd), "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_REC, "")
}
