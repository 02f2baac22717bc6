package shim_test

import (
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
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
	all, _ := filepath.Glob("/run/km/s/*")
	for _, s := range all {
		if _, ok := ourSockets.Load(s); ok {
			r.Sockets = append(r.Sockets, s)
		}
	}
	cgs, _ := filepath.Glob("/sys/fs/cgroup/*/default/km-*")
	cgs2, _ := filepath.Glob("/sys/fs/cgroup/default/km-*")
	r.Cgroups = append(cgs, cgs2...)
	return r
}

// ourSockets holds the shim sockets this suite's containers can have: other
// suites (test/cri) run at the same time and have shims of their own in
// /run/km/s.
var ourSockets sync.Map

// registerID records a container id this suite uses, as the socket its shim
// serves on under each containerd of the suite and under the direct tests'
// fake one (named as cmd/containerd-shim-km-v2 names them).
func registerID(id string) {
	addrs := [][2]string{{filepath.Join(work, "no-containerd.sock"), "kmtest"}}
	for _, d := range daemons {
		addrs = append(addrs, [2]string{d.sock, "default"})
	}
	for _, a := range addrs {
		ourSockets.Store(hostres.ShimSocket(a[0], a[1], id), true)
	}
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
