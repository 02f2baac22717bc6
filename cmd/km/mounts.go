package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kmvm/km/oci"
)

// specMount is an OCI runtime-spec mount (the JSON of config.json's mounts).
type specMount struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type,omitempty"`
	Source      string   `json:"source,omitempty"`
	Options     []string `json:"options,omitempty"`
}

// deviceNodes are bind-mounted from the host into a tmpfs /dev, like the
// default devices every OCI runtime provides.
var deviceNodes = []string{"null", "zero", "full", "random", "urandom", "tty"}

// mountsFile is what the runtime hands km in --mounts FILE: the spec's
// mounts and its linux.maskedPaths and linux.readonlyPaths. A bare JSON
// array (what older shims wrote) is the mounts alone.
type mountsFile struct {
	Mounts        []specMount `json:"mounts"`
	MaskedPaths   []string    `json:"maskedPaths,omitempty"`
	ReadonlyPaths []string    `json:"readonlyPaths,omitempty"`
}

// skippedTypes are never mounted for a guest. A procfs would show the
// host's processes (the monitor has no pid namespace of its own), and a
// guest writing /proc/<pid>/mem of a host process must be impossible: km
// synthesises /proc instead (runtime/procfs.go). mqueue and devpts make no
// sense without a guest kernel (km serves /dev/ptmx and /dev/pts itself).
// sysfs is mounted (a fresh one, read-only as the spec says, of the
// monitor's network namespace, which is the container's), and cgroup
// mounts become read-only binds of the container's own cgroup
// (mountCgroup).
var skippedTypes = map[string]bool{"proc": true, "mqueue": true, "devpts": true}

// applyMounts sets up the container's mounts inside root, in the monitor's
// own mount namespace (the runtime creates it), so they vanish with the
// monitor. Targets are resolved inside root (openat2 RESOLVE_IN_ROOT), and
// mounted through the O_PATH descriptor, so symlinks in the image cannot
// redirect a mount onto the host.
func applyMounts(root, file string, readonly bool) error {
	if root == "" {
		return errors.New("--mounts needs --root")
	}
	// The parent (the runtime) is in the host's mount namespace.
	self, err1 := os.Readlink("/proc/self/ns/mnt")
	parent, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", os.Getppid()))
	if err1 != nil || err2 != nil || self == parent {
		return errors.New("--mounts needs a private mount namespace (the runtime creates it)")
	}
	var spec mountsFile
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if strings.HasPrefix(strings.TrimSpace(string(data)), "[") {
			err = json.Unmarshal(data, &spec.Mounts)
		} else {
			err = json.Unmarshal(data, &spec)
		}
		if err != nil {
			return fmt.Errorf("%s: %v", file, err)
		}
	}
	// Nothing mounted here may propagate back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("root %s: %w", root, err)
	}
	defer unix.Close(rootFD)
	for _, m := range spec.Mounts {
		if skippedTypes[m.Type] {
			continue
		}
		if m.Type == "cgroup" || m.Type == "cgroup2" {
			if err := mountCgroup(rootFD, m); err != nil {
				return fmt.Errorf("cgroup mount on %s: %w", m.Destination, err)
			}
			continue
		}
		if err := mountOne(rootFD, m); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.Source, m.Destination, err)
		}
		if m.Destination == "/dev" && m.Type == "tmpfs" {
			for _, n := range deviceNodes {
				dm := specMount{Destination: "/dev/" + n, Type: "bind", Source: "/dev/" + n, Options: []string{"bind", "nosuid", "noexec"}}
				if err := mountOne(rootFD, dm); err != nil {
					return fmt.Errorf("device /dev/%s: %w", n, err)
				}
			}
		}
	}
	// runc's order: read-only paths, then masked ones, then the root.
	for _, p := range spec.ReadonlyPaths {
		if err := readonlyPath(rootFD, p); err != nil {
			return fmt.Errorf("read-only path %s: %w", p, err)
		}
	}
	for _, p := range spec.MaskedPaths {
		if err := maskPath(rootFD, p); err != nil {
			return fmt.Errorf("masked path %s: %w", p, err)
		}
	}
	if readonly {
		// A read-only root: a bind of root onto itself, remounted read-only.
		if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("read-only root: %w", err)
		}
		if err := unix.Mount("", root, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("read-only root: %w", err)
		}
	}
	return nil
}

func mountOne(rootFD int, m specMount) error {
	flags, data := oci.MountOptions(m.Type, m.Options)
	isFile := false
	if flags&unix.MS_BIND != 0 {
		st, err := os.Stat(m.Source)
		if err != nil {
			return err
		}
		isFile = !st.IsDir()
	}
	fd, err := targetFD(rootFD, m.Destination, isFile)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	target := fmt.Sprintf("/proc/self/fd/%d", fd)
	if flags&unix.MS_BIND != 0 {
		if err := unix.Mount(m.Source, target, "", flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
			return err
		}
		if flags&^(unix.MS_BIND|unix.MS_REC) != 0 {
			// Bind mounts take their flags only on a remount, of the new
			// mount: the old descriptor names what is beneath it.
			fd2, err := targetFD(rootFD, m.Destination, isFile)
			if err != nil {
				return err
			}
			defer unix.Close(fd2)
			return unix.Mount("", fmt.Sprintf("/proc/self/fd/%d", fd2), "", flags|unix.MS_REMOUNT, "")
		}
		return nil
	}
	return unix.Mount(m.Source, target, m.Type, flags, data)
}

// targetFD opens (creating if needed) dest inside root as an O_PATH
// descriptor, never leaving root.
func targetFD(rootFD int, dest string, isFile bool) (int, error) {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	dest = path.Clean("/" + dest)
	if fd, err := unix.Openat2(rootFD, dest, &how); err == nil {
		return fd, nil
	} else if !errors.Is(err, unix.ENOENT) {
		return -1, err
	}
	parent, name := path.Split(dest)
	pfd, err := mkdirAllIn(rootFD, parent)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	if isFile {
		fd, err := unix.Openat(pfd, name, unix.O_CREAT|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, err
		}
		if err == nil {
			unix.Close(fd)
		}
	} else if err := unix.Mkdirat(pfd, name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, err
	}
	return unix.Openat2(pfd, name, &unix.OpenHow{Flags: unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC})
}

// mkdirAllIn creates dir (a path inside root) and returns a descriptor of it.
func mkdirAllIn(rootFD int, dir string) (int, error) {
	fd, err := unix.Dup(rootFD)
	if err != nil {
		return -1, err
	}
	for _, comp := range strings.Split(strings.Trim(dir, "/"), "/") {
		if comp == "" || comp == "." {
			continue
		}
		if comp == ".." {
			unix.Close(fd)
			return -1, unix.EINVAL
		}
		next, err := unix.Openat2(fd, comp, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
		if errors.Is(err, unix.ENOENT) {
			if err := unix.Mkdirat(fd, comp, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				unix.Close(fd)
				return -1, err
			}
			next, err = unix.Openat2(fd, comp, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
		}
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = next
	}
	return fd, nil
}
