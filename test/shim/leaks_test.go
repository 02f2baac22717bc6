package shim_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// resources is what a container can leave behind on the host.
type resources struct {
	Monitors []string // km processes
	Shims    []string // containerd-shim-km-v2 processes
	Mounts   []string // mounts under the suite's work dir
	Sockets  []string // shim sockets
	Cgroups  []string // km-* cgroups in any v1 hierarchy or v2
}

func snapshot() resources {
	var r resources
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		exe, err := os.Readlink(p + "/exe")
		if err != nil {
			continue
		}
		// Only this suite's processes: other km users may share the host.
		cmdline, _ := os.ReadFile(p + "/cmdline")
		if !strings.Contains(string(cmdline), work) {
			continue
		}
		switch filepath.Base(strings.TrimSuffix(exe, " (deleted)")) {
		case "km":
			r.Monitors = append(r.Monitors, p)
		case "containerd-shim-km-v2":
			r.Shims = append(r.Shims, p)
		}
	}
	if b, err := os.ReadFile("/proc/self/mounts"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) > 1 && strings.HasPrefix(f[1], work) && strings.Contains(f[1], "io.containerd.runtime") {
				r.Mounts = append(r.Mounts, f[1])
			}
		}
	}
	r.Sockets, _ = filepath.Glob("/run/km/s/*")
	cgs, _ := filepath.Glob("/sys/fs/cgroup/*/default/km-*")
	cgs2, _ := filepath.Glob("/sys/fs/cgroup/default/km-*")
	r.Cgroups = append(cgs, cgs2...)
	return r
}

// checkNoLeaks waits for the shims' asynchronous exits, then checks that
// nothing exists on the host that was not there before. Things that were
// there and went away are fine: an earlier test's shim may still have been
// exiting when before was taken.
func checkNoLeaks(t *testing.T, before resources) {
	t.Helper()
	var extra resources
	for i := 0; i < 100; i++ {
		extra = added(before, snapshot())
		if reflect.DeepEqual(extra, resources{}) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("resources leaked: %s\nbefore: %s", fmtRes(extra), fmtRes(before))
}

// added returns what now has that before has not.
func added(before, now resources) resources {
	diff := func(b, n []string) []string {
		seen := make(map[string]bool, len(b))
		for _, s := range b {
			seen[s] = true
		}
		var out []string
		for _, s := range n {
			if !seen[s] {
				out = append(out, s)
			}
		}
		return out
	}
	return resources{
		Monitors: diff(before.Monitors, now.Monitors),
		Shims:    diff(before.Shims, now.Shims),
		Mounts:   diff(before.Mounts, now.Mounts),
		Sockets:  diff(before.Sockets, now.Sockets),
		Cgroups:  diff(before.Cgroups, now.Cgroups),
	}
}

func fmtRes(r resources) string {
	return fmt.Sprintf("%+v", r)
}
