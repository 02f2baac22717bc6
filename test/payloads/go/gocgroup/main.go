// Command gocgroup is a km test payload: it prints what a cgroup-aware
// runtime (Go's own GOMAXPROCS, a JVM's or Node's memory sizing) learns about
// its container from /proc/self/cgroup, /proc/self/mountinfo and the cgroup
// files under the mount point they lead to.
//
// Its output is deterministic for a given container spec, so the same
// container under runc and under km must print the same lines.
package main

import (
	"fmt"
	"os"
	"path"
	"runtime"
	"strings"
)

// cgroupPath returns the process's cgroup path in the v1 hierarchy that has
// controller, or in the v2 hierarchy when controller is "".
func cgroupPath(controller string) (string, bool) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if controller == "" && f[0] == "0" && f[1] == "" {
			return f[2], true
		}
		for _, c := range strings.Split(f[1], ",") {
			if controller != "" && c == controller {
				return f[2], true
			}
		}
	}
	return "", false
}

// mountFor returns the mount point and mount root of the cgroup hierarchy
// with controller (v1), or of the cgroup2 mount (controller "").
func mountFor(controller string) (point, root string, ok bool) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", "", false
	}
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, found := strings.Cut(line, " - ")
		if !found {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			continue
		}
		switch {
		case controller == "" && g[0] == "cgroup2":
			return f[4], f[3], true
		case controller != "" && g[0] == "cgroup":
			for _, o := range strings.Split(g[2], ",") {
				if o == controller {
					return f[4], f[3], true
				}
			}
		}
	}
	return "", "", false
}

// cgroupFile reads file of the process's own cgroup in the hierarchy of
// controller, as runtimes locate it: mount point + (cgroup path - mount root).
func cgroupFile(controller, file string) string {
	cg, ok := cgroupPath(controller)
	if !ok {
		return "no /proc/self/cgroup entry"
	}
	point, root, ok := mountFor(controller)
	if !ok {
		return "no cgroup mount"
	}
	rel, ok := strings.CutPrefix(cg, root)
	if !ok && root != "/" {
		return "cgroup outside the mount"
	}
	if root == "/" {
		rel = cg
	}
	b, err := os.ReadFile(path.Join(point, rel, file))
	if err != nil {
		return "unreadable"
	}
	return strings.TrimSpace(string(b))
}

func main() {
	fmt.Println("gomaxprocs", runtime.GOMAXPROCS(0))
	if _, ok := cgroupPath(""); ok {
		if _, _, ok := mountFor(""); ok {
			fmt.Println("v2 memory.max", cgroupFile("", "memory.max"))
			fmt.Println("v2 cpu.max", cgroupFile("", "cpu.max"))
		}
	}
	fmt.Println("v1 memory.limit_in_bytes", cgroupFile("memory", "memory.limit_in_bytes"))
	fmt.Println("v1 cpu.cfs_quota_us", cgroupFile("cpu", "cpu.cfs_quota_us"))
	b, _ := os.ReadFile("/proc/self/mountinfo")
	has := false
	for _, line := range strings.Split(string(b), "\n") {
		if _, post, ok := strings.Cut(line, " - "); ok && (strings.HasPrefix(post, "cgroup ") || strings.HasPrefix(post, "cgroup2 ")) {
			has = true
		}
	}
	fmt.Println("mountinfo has a cgroup entry:", has)
	// A guest write to its limits fails as in any container.
	err := os.WriteFile("/sys/fs/cgroup/memory/memory.limit_in_bytes", []byte("1"), 0)
	fmt.Println("write memory.limit_in_bytes:", err)
}
