package cri_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kmvm/km/test/hostres"
)

// resources is what a pod can leave behind on the host.
type resources struct {
	Monitors []string // km processes
	Shims    []string // containerd-shim-km-v2 processes
	Mounts   []string // mounts under the suite's work dir (rootfs, /dev/shm)
}

// procs returns this suite's processes running exe whose command line
// contains all of words.
func procs(exe string, words ...string) []string {
	return hostres.Procs(exe, append([]string{work}, words...)...)
}

func snapshot() resources {
	return resources{Monitors: procs("km"), Shims: procs("containerd-shim-km-v2"), Mounts: hostres.Mounts(work)}
}

// shimSocket is the socket the km shim serves a pod on (as
// cmd/containerd-shim-km-v2 names it: one shim per sandbox id).
func (d *daemon) shimSocket(podID string) string {
	return hostres.ShimSocket(d.sock, criNamespace, podID)
}

// checkNoLeaks waits for the shim's asynchronous exit, then checks that
// nothing of the test exists on the host that was not there before, and
// that the pod's shim socket is gone.
func checkNoLeaks(t *testing.T, before resources, sock string) {
	t.Helper()
	var extra resources
	var sockErr error
	for i := 0; i < 100; i++ {
		extra = added(before, snapshot())
		_, sockErr = os.Lstat(sock)
		if reflect.DeepEqual(extra, resources{}) && os.IsNotExist(sockErr) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("resources leaked: %+v; shim socket %s: %v", extra, sock, sockErr)
}

// added returns what now has that before has not.
func added(before, now resources) resources {
	return resources{
		Monitors: hostres.Added(before.Monitors, now.Monitors),
		Shims:    hostres.Added(before.Shims, now.Shims),
		Mounts:   hostres.Added(before.Mounts, now.Mounts),
	}
}

// cgroupRoots are the hierarchies a container's cgroup lives in: v2's
// single one, or v1's memory and devices (every v1 controller gets it).
func cgroupRoots() []string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup"}
	}
	return []string{"/sys/fs/cgroup/memory", "/sys/fs/cgroup/devices"}
}

// cgroupMemoryLimit reads a container's memory limit from its cgroup.
func cgroupMemoryLimit(t *testing.T, parent, id string) int64 {
	t.Helper()
	file := "memory.limit_in_bytes"
	if cgroupRoots()[0] == "/sys/fs/cgroup" {
		file = "memory.max"
	}
	b, err := os.ReadFile(filepath.Join(cgroupRoots()[0], parent, id, file))
	if err != nil {
		t.Fatalf("container cgroup: %v", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return n
}

// cgroupCPUShares checks a container's CPU weight in its cgroup: v1
// cpu.shares, or v2 cpu.weight converted from shares as runc does.
func cgroupCPUShares(t *testing.T, parent, id string, shares uint64) {
	t.Helper()
	file, want := filepath.Join("/sys/fs/cgroup/cpu", parent, id, "cpu.shares"), shares
	if cgroupRoots()[0] == "/sys/fs/cgroup" {
		file, want = filepath.Join("/sys/fs/cgroup", parent, id, "cpu.weight"), 1+((shares-2)*9999)/262142
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("container cgroup: %v", err)
	}
	if got := strings.TrimSpace(string(b)); got != strconv.FormatUint(want, 10) {
		t.Errorf("%s: %s, want %d", file, got, want)
	}
}

// checkNoCgroups checks that no container cgroup is left in the pod's
// cgroup, then removes the pod's cgroup (the kubelet's job).
func checkNoCgroups(t *testing.T, parent string) {
	t.Helper()
	for _, root := range cgroupRoots() {
		dir := filepath.Join(root, parent)
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.IsDir() {
				t.Errorf("cgroup left: %s", filepath.Join(dir, e.Name()))
			}
		}
	}
	removeCgroups(parent)
}

// removeCgroups removes the cgroup dir under every hierarchy, deepest
// first (rmdir is how cgroups go).
func removeCgroups(rel string) {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	for _, root := range roots {
		var dirs []string
		filepath.WalkDir(filepath.Join(root, rel), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			os.Remove(dirs[i])
		}
	}
}
