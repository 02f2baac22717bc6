package shim_test

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/kmvm/km/test/hostres"
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
	r := resources{
		Monitors: hostres.Procs("km", work),
		Shims:    hostres.Procs("containerd-shim-km-v2", work),
		Mounts:   hostres.Mounts(work, "io.containerd.runtime"),
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
	return resources{
		Monitors: hostres.Added(before.Monitors, now.Monitors),
		Shims:    hostres.Added(before.Shims, now.Shims),
		Mounts:   hostres.Added(before.Mounts, now.Mounts),
		Sockets:  hostres.Added(before.Sockets, now.Sockets),
		Cgroups:  hostres.Added(before.Cgroups, now.Cgroups),
	}
}

func fmtRes(r resources) string {
	return fmt.Sprintf("%+v", r)
}
