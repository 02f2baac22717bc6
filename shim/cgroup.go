package shim

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/anypb"
)

// cgroup is a container's cgroup on a v1 (legacy or hybrid) or v2 host.
type cgroup struct {
	v1   cgroup1.Cgroup
	v2   *cgroup2.Manager
	path string // below the cgroup root
	// unified is the container's directory in a hybrid host's v2
	// hierarchy (v1 controllers, cgroup2 at /sys/fs/cgroup/unified), or "".
	// runc puts the container there too, so /proc/self/cgroup's "0::" line
	// names the container (cgroup1 leaves it alone).
	unified string

	oomMu       sync.Mutex
	oomReported uint64
}

// cgroupfsPath turns a spec cgroupsPath into a path below the cgroup root.
// The systemd form "slice:prefix:name" becomes the directory systemd itself
// would use (slice nesting expanded, "prefix-name.scope"); km writes the
// cgroup filesystem directly rather than asking systemd over D-Bus, so it
// works on hosts with and without systemd. A relative cgroupfs path is
// placed below the root, as runc does.
func cgroupfsPath(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	if strings.HasPrefix(p, "/") {
		return filepath.Clean(p), nil
	}
	parts := strings.Split(p, ":")
	if len(parts) != 3 {
		return "/" + filepath.Clean(p), nil
	}
	slice, prefix, name := parts[0], parts[1], parts[2]
	if slice == "" {
		slice = "system.slice"
	}
	if !strings.HasSuffix(slice, ".slice") {
		return "", fmt.Errorf("cgroupsPath %q: slice %q does not end in .slice", p, slice)
	}
	// "a-b-c.slice" lives at a.slice/a-b.slice/a-b-c.slice.
	var dir string
	base := strings.TrimSuffix(slice, ".slice")
	if base != "-" {
		acc := ""
		for _, comp := range strings.Split(base, "-") {
			if comp == "" {
				return "", fmt.Errorf("cgroupsPath %q: malformed slice", p)
			}
			if acc != "" {
				acc += "-"
			}
			acc += comp
			dir = filepath.Join(dir, acc+".slice")
		}
	}
	unit := name
	if !strings.HasSuffix(name, ".slice") && !strings.HasSuffix(name, ".scope") {
		if prefix != "" {
			unit = prefix + "-" + name
		}
		unit += ".scope"
	}
	return "/" + filepath.Join(dir, unit), nil
}

func newCgroup(specPath string, res *specs.LinuxResources) (*cgroup, error) {
	path, err := cgroupfsPath(specPath)
	if err != nil || path == "" {
		return nil, err
	}
	if res == nil {
		res = &specs.LinuxResources{}
	}
	if cgroups.Mode() == cgroups.Unified {
		m, err := cgroup2.NewManager("/sys/fs/cgroup", path, cgroup2.ToResources(res))
		if err != nil {
			return nil, fmt.Errorf("cgroup %s: %w", path, err)
		}
		return &cgroup{v2: m, path: path}, nil
	}
	cg, err := cgroup1.New(cgroup1.StaticPath(path), res)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", path, err)
	}
	c := &cgroup{v1: cg, path: path, unified: hybridDir(path)}
	if c.unified != "" {
		if err := os.MkdirAll(c.unified, 0o755); err != nil {
			c.unified = "" // the v1 controllers are what limits the container
		}
	}
	return c, nil
}

// hybridUnified is where a hybrid host mounts its v2 hierarchy.
const hybridUnified = "/sys/fs/cgroup/unified"

// cgroup2Magic is CGROUP2_SUPER_MAGIC (statfs f_type of a cgroup2 mount).
const cgroup2Magic = 0x63677270

// hybridDir returns path's directory in a hybrid host's v2 hierarchy, or
// "" on a host without one.
func hybridDir(path string) string {
	var st unix.Statfs_t
	if unix.Statfs(hybridUnified, &st) != nil || st.Type != cgroup2Magic || path == "/" || path == "" {
		return ""
	}
	return filepath.Join(hybridUnified, path)
}

// loadCgroup opens an existing cgroup (cleanup after the shim died).
func loadCgroup(specPath string) *cgroup {
	path, err := cgroupfsPath(specPath)
	if err != nil || path == "" {
		return nil
	}
	if cgroups.Mode() == cgroups.Unified {
		m, err := cgroup2.Load(path)
		if err != nil {
			return nil
		}
		return &cgroup{v2: m}
	}
	cg, err := cgroup1.Load(cgroup1.StaticPath(path))
	if err != nil {
		return nil
	}
	return &cgroup{v1: cg, path: path, unified: hybridDir(path)}
}

func (c *cgroup) add(pid int) error {
	if c.v2 != nil {
		return c.v2.AddProc(uint64(pid))
	}
	if err := c.v1.Add(cgroup1.Process{Pid: pid}); err != nil {
		return err
	}
	if c.unified != "" {
		return os.WriteFile(filepath.Join(c.unified, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0)
	}
	return nil
}

func (c *cgroup) pids() ([]int, error) {
	if c.v2 != nil {
		ps, err := c.v2.Procs(true)
		out := make([]int, len(ps))
		for i, p := range ps {
			out[i] = int(p)
		}
		return out, err
	}
	ps, err := c.v1.Processes(cgroup1.Devices, true)
	if err != nil {
		ps, err = c.v1.Processes(cgroup1.Memory, true)
	}
	out := make([]int, len(ps))
	for i, p := range ps {
		out[i] = p.Pid
	}
	return out, err
}

// stats is the container's Metrics as CRI expects them
// (io.containerd.cgroups.v1.Metrics or ...v2.Metrics).
func (c *cgroup) stats() (*anypb.Any, error) {
	if c.v2 != nil {
		m, err := c.v2.Stat()
		if err != nil {
			return nil, err
		}
		return typeurl.MarshalAnyToProto(m)
	}
	m, err := c.v1.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		return nil, err
	}
	return typeurl.MarshalAnyToProto(m)
}

func (c *cgroup) update(res *specs.LinuxResources) error {
	if c.v2 != nil {
		return c.v2.Update(cgroup2.ToResources(res))
	}
	return c.v1.Update(res)
}

func (c *cgroup) freeze() error {
	if c.v2 != nil {
		return c.v2.Freeze()
	}
	return c.v1.Freeze()
}

func (c *cgroup) thaw() error {
	if c.v2 != nil {
		return c.v2.Thaw()
	}
	return c.v1.Thaw()
}

func (c *cgroup) delete() error {
	if c.v2 != nil {
		return c.v2.Delete()
	}
	if err := c.v1.Delete(); err != nil {
		return err
	}
	if c.unified != "" {
		if err := unix.Rmdir(c.unified); err != nil && err != unix.ENOENT {
			return fmt.Errorf("cgroup %s: %w", c.unified, err)
		}
	}
	return nil
}

// hostDevices are the character devices the monitor opens for its guest:
// the ones km binds into a tmpfs /dev (cmd/km/mounts.go), which the guest
// opens through the monitor. runc allows the same ones in every
// container's device cgroup whatever the spec says (its AllowedDevices);
// CRI's specs deny all devices and list none of them, so without these a
// guest's open("/dev/null") (a shell's redirection, a fork's stdio) fails
// with EPERM.
var hostDevices = []struct{ major, minor int64 }{
	{1, 3}, // null
	{1, 5}, // zero
	{1, 7}, // full
	{1, 8}, // random
	{1, 9}, // urandom
	{5, 0}, // tty: the monitor's controlling terminal, when it has one
}

// allowDevices adds the monitor's own device, /dev/kvm, and hostDevices to
// the spec's device cgroup rules (a spec's default-deny list would
// otherwise stop the monitor from opening them), after the spec's own
// rules, as runc appends its defaults. Resources with no device rules
// restrict no device and stay so (on cgroup v2 a list of allows alone
// would be a filter denying everything else). The guest never sees
// /dev/kvm: it has no guest file descriptor.
func allowDevices(res *specs.LinuxResources, device string) *specs.LinuxResources {
	if res == nil || len(res.Devices) == 0 {
		return res
	}
	if device == "" {
		device = "/dev/kvm"
	}
	cp := *res
	out := &cp
	out.Devices = append([]specs.LinuxDeviceCgroup(nil), out.Devices...)
	allow := func(major, minor int64, access string) {
		out.Devices = append(out.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &major, Minor: &minor, Access: access})
	}
	var st unix.Stat_t
	if unix.Stat(device, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR {
		allow(int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev)), "rw")
	}
	for _, d := range hostDevices {
		allow(d.major, d.minor, "rw")
	}
	return out
}

// newOOMKills reports whether the kernel's OOM killer acted in the cgroup
// since the last call (the oom_kill counter of memory.oom_control on v1,
// memory.events on v2). Checked before each exit is reported, so TaskOOM
// precedes the TaskExit of the killed monitor.
func (c *cgroup) newOOMKills() bool {
	file := filepath.Join("/sys/fs/cgroup/memory", c.path, "memory.oom_control")
	if c.v2 != nil {
		file = filepath.Join("/sys/fs/cgroup", c.path, "memory.events")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	var n uint64
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	c.oomMu.Lock()
	defer c.oomMu.Unlock()
	if n > c.oomReported {
		c.oomReported = n
		return true
	}
	return false
}
