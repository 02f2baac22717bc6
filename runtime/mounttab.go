package runtime

// The guest's mount table: /proc/self/mountinfo, /proc/self/mounts and
// /proc/mounts are the monitor's own lists cut down to the mounts the guest
// can reach (at or below its root), with the root's path stripped from
// every mount point, as a container's table looks after pivot_root. The
// monitor of a container has a mount namespace of its own holding the
// container's mounts (cmd/km/mounts.go); a monitor in someone else's
// namespace (the plain CLI with --root) shows only the root's entry, since
// the mounts below the root there are the host's business. Without a root
// (unconfined, every host path reachable) the lists are the host's as any
// process sees them.
//
// No host path outside the root shows: the root entry's and bind mounts'
// "root" field (the mounted directory's path inside its filesystem) becomes
// "/", except for cgroup mounts whose root is the cgroup path that
// /proc/self/cgroup shows anyway and runtimes need to locate their cgroup
// files; filesystem options naming a path (overlay's lowerdir=, upperdir=,
// workdir=) are dropped.

import (
	"bytes"
	"os"
	"path"
	"strconv"
	"strings"
)

// mountLine is one line of a mount list, split into the fields km edits.
type mountLine struct {
	fields []string // space-separated fields, as the kernel wrote them
	point  int      // index of the (escaped) mount point
	root   int      // index of the root field (mountinfo), or -1
	opts   []int    // indexes of option fields whose key=/path options are dropped
	fstype string
}

// parseMountLines splits a mountinfo (info) or mounts list.
func parseMountLines(b []byte, info bool) []mountLine {
	var out []mountLine
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, " ")
		if info {
			sep := -1
			for i := 6; i < len(f); i++ {
				if f[i] == "-" {
					sep = i
					break
				}
			}
			if sep < 0 || sep+3 >= len(f) {
				continue
			}
			if cleanMountPoint(f[4]) {
				out = append(out, mountLine{fields: f, point: 4, root: 3, opts: []int{sep + 3}, fstype: f[sep+1]})
			}
			continue
		}
		if len(f) >= 4 && cleanMountPoint(f[1]) {
			out = append(out, mountLine{fields: f, point: 1, root: -1, opts: []int{3}, fstype: f[2]})
		}
	}
	return out
}

// cleanMountPoint reports whether a mount point is as the kernel writes
// them (absolute and clean); anything else is dropped.
func cleanMountPoint(mp string) bool {
	return mp == "/" || (strings.HasPrefix(mp, "/") && path.Clean(mp) == mp)
}

// escapeMountPath escapes a path as the kernel does in mount lists.
func escapeMountPath(p string) string {
	r := strings.NewReplacer(`\`, `\134`, " ", `\040`, "\t", `\011`, "\n", `\012`)
	return r.Replace(p)
}

// under reports whether escaped mount point mp is at or below escaped dir.
func under(mp, dir string) bool {
	if dir == "/" {
		return strings.HasPrefix(mp, "/")
	}
	return mp == dir || strings.HasPrefix(mp, dir+"/")
}

// visibleMounts drops the mounts a later one covers: a mount on a path
// hides every earlier mount on that path or below it (the lists run in
// mount order).
func visibleMounts(lines []mountLine) []mountLine {
	var kept []mountLine
	for _, l := range lines {
		mp := l.fields[l.point]
		n := 0
		for _, k := range kept {
			if !under(k.fields[k.point], mp) {
				kept[n] = k
				n++
			}
		}
		kept = append(kept[:n], l)
	}
	return kept
}

// guestMountTable renders the guest's view of mount list b (the monitor's
// mountinfo when info, else its mounts) for a guest confined to root (a
// clean absolute host path); private says whether the monitor has a mount
// namespace of its own.
func guestMountTable(b []byte, info bool, root string, private bool) []byte {
	lines := visibleMounts(parseMountLines(b, info))
	eroot := escapeMountPath(root)
	// The mount holding the root: on it, or the deepest one above it.
	top := -1
	for i, l := range lines {
		mp := l.fields[l.point]
		if under(eroot, mp) && (top < 0 || len(mp) >= len(lines[top].fields[lines[top].point])) {
			top = i
		}
	}
	var out bytes.Buffer
	emit := func(l mountLine, point string, isRoot bool) {
		f := append([]string(nil), l.fields...)
		f[l.point] = point
		if l.root >= 0 && (isRoot || (l.fstype != "cgroup" && l.fstype != "cgroup2")) {
			f[l.root] = "/"
		}
		for _, i := range l.opts {
			f[i] = dropPathOptions(f[i])
		}
		out.WriteString(strings.Join(f, " "))
		out.WriteByte('\n')
	}
	if top >= 0 {
		emit(lines[top], "/", true)
	}
	if !private {
		return out.Bytes()
	}
	for i, l := range lines {
		mp := l.fields[l.point]
		if i == top || mp == eroot || !under(mp, eroot) {
			continue
		}
		if root != "/" {
			mp = strings.TrimPrefix(mp, eroot)
		}
		emit(l, mp, false)
	}
	return out.Bytes()
}

// dropPathOptions removes key=/path options from a comma-separated list.
func dropPathOptions(opts string) string {
	parts := strings.Split(opts, ",")
	n := 0
	for _, o := range parts {
		if _, v, ok := strings.Cut(o, "="); ok && strings.HasPrefix(v, "/") {
			continue
		}
		parts[n] = o
		n++
	}
	if n == 0 {
		return "rw" // a field may not be empty
	}
	return strings.Join(parts[:n], ",")
}

// ownMountNS reports whether the monitor's mount namespace is not its
// parent's (a container runtime created it, or unshare -m): then it holds
// the container's mounts. When that cannot be read, it counts as shared.
// Monitors of forked guests inherit the answer (forkState).
func ownMountNS() bool {
	self, err1 := os.Readlink("/proc/self/ns/mnt")
	parent, err2 := os.Readlink("/proc/" + strconv.Itoa(os.Getppid()) + "/ns/mnt")
	return err1 == nil && err2 == nil && self != parent
}

// mountTable is /proc/<pid>/mountinfo (info) or /proc/<pid>/mounts.
func (p *process) mountTable(info bool) []byte {
	name := "/proc/self/mounts"
	if info {
		name = "/proc/self/mountinfo"
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil
	}
	if !p.fs.confined() {
		return b
	}
	return guestMountTable(b, info, p.fs.root, p.fs.ownMounts)
}
