// Package oci turns an OCI runtime bundle (config.json + rootfs) into the
// launch description of one km monitor: what to run, as whom, where, with
// how much guest memory, in which namespaces and cgroup.
//
// It knows nothing of containerd and nothing of the monitor's internals; the
// shim maps a Launch onto the km command line.
package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultMemory is the guest memory of a container whose spec sets no
// memory limit. Guest memory is reserved, not committed: an idle 1 GiB guest
// costs what it touches.
const DefaultMemory = 1 << 30

// MinMemory is the smallest guest the monitor can lay out (stack, system
// area, a small heap); a lower limit is rejected at Create with a clear error.
const MinMemory = 16 << 20

// ConfigFile is the name of the spec inside a bundle.
const ConfigFile = "config.json"

// Launch is what one monitor needs to start one guest process.
type Launch struct {
	Args            []string // argv; Args[0] is looked up in the guest's PATH
	Env             []string
	Cwd             string // guest path
	UID, GID        uint32
	Groups          []uint32
	Terminal        bool
	Rlimits         []specs.POSIXRlimit
	NoNewPrivileges bool
	OOMScoreAdj     *int // process.oomScoreAdj (the kubelet's QoS score)
	// Capabilities the process may hold; nil leaves the monitor's as they are.
	Capabilities *specs.LinuxCapabilities

	// Container-wide (ignored for exec processes, which share the init's).
	Root     string // host path of the guest's "/"
	Readonly bool
	Memory   uint64 // guest memory in bytes
	// MemoryLimited: Memory is the spec's memory limit, which the cgroup
	// enforces (not the documented default).
	MemoryLimited bool
	Namespaces    []specs.LinuxNamespace
	CgroupsPath   string
	Resources     *specs.LinuxResources
	Mounts        []specs.Mount
	// linux.maskedPaths and linux.readonlyPaths, applied with the mounts.
	MaskedPaths   []string
	ReadonlyPaths []string
	Hostname      string
	Annotations   map[string]string
	// Seccomp is linux.seccomp: the monitor filters the guest's syscalls
	// with it (init and execs alike, as runc does).
	Seccomp *specs.LinuxSeccomp
}

// Load reads bundle/config.json. Errors are one line naming the file and
// what is wrong with it.
func Load(bundle string) (*specs.Spec, error) {
	path := filepath.Join(bundle, ConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", bundle, err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%s: invalid JSON at byte %d: %v", path, se.Offset, err)
		}
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &s, nil
}

// FromSpec builds the init process's launch description from a bundle's spec.
func FromSpec(bundle string, s *specs.Spec) (*Launch, error) {
	path := filepath.Join(bundle, ConfigFile)
	if s.Process == nil {
		return nil, fmt.Errorf("%s: no \"process\" section", path)
	}
	if s.Root == nil || s.Root.Path == "" {
		return nil, fmt.Errorf("%s: no \"root.path\"", path)
	}
	l, err := FromProcess(s.Process)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	l.Root = s.Root.Path
	if !filepath.IsAbs(l.Root) {
		l.Root = filepath.Join(bundle, l.Root)
	}
	l.Readonly = s.Root.Readonly
	l.Hostname = s.Hostname
	l.Mounts = s.Mounts
	l.Annotations = s.Annotations
	l.Memory = DefaultMemory
	if lx := s.Linux; lx != nil {
		l.Namespaces = lx.Namespaces
		l.CgroupsPath = lx.CgroupsPath
		l.Resources = lx.Resources
		l.Seccomp = lx.Seccomp
		l.MaskedPaths = lx.MaskedPaths
		l.ReadonlyPaths = lx.ReadonlyPaths
		if r := lx.Resources; r != nil && r.Memory != nil && r.Memory.Limit != nil && *r.Memory.Limit > 0 {
			l.Memory = uint64(*r.Memory.Limit)
			l.MemoryLimited = true
		}
	}
	if l.Memory < MinMemory {
		return nil, fmt.Errorf("%s: memory limit %d bytes is below km's minimum guest of %d MiB", path, l.Memory, MinMemory>>20)
	}
	return l, nil
}

// FromProcess builds a launch description from a spec process (the init's
// or an exec's).
func FromProcess(p *specs.Process) (*Launch, error) {
	if len(p.Args) == 0 || p.Args[0] == "" {
		return nil, errors.New("process.args is empty: nothing to run")
	}
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if !strings.HasPrefix(cwd, "/") {
		return nil, fmt.Errorf("process.cwd %q is not absolute", cwd)
	}
	l := &Launch{
		Args:            p.Args,
		Env:             p.Env,
		Cwd:             cwd,
		UID:             p.User.UID,
		GID:             p.User.GID,
		Groups:          p.User.AdditionalGids,
		Terminal:        p.Terminal,
		Rlimits:         p.Rlimits,
		NoNewPrivileges: p.NoNewPrivileges,
		OOMScoreAdj:     p.OOMScoreAdj,
		Capabilities:    p.Capabilities,
	}
	return l, nil
}

// Namespace returns the spec's namespace of type t, and whether it has one.
func (l *Launch) Namespace(t specs.LinuxNamespaceType) (specs.LinuxNamespace, bool) {
	for _, n := range l.Namespaces {
		if n.Type == t {
			return n, true
		}
	}
	return specs.LinuxNamespace{}, false
}
