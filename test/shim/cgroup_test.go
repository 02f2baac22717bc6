package shim_test

import (
	"os"
	"strings"
	"testing"
)

// cgroupMount is the spec mount CRI adds for every container (ctr adds none).
var cgroupMount = []string{"--mount", "type=cgroup,src=cgroup,dst=/sys/fs/cgroup,options=ro:nosuid:noexec:nodev"}

// cgroupLimits: a CPU quota and a memory limit the guest can read back.
// 128 MiB: a static Go program (which reserves ~1.2 GiB of address space
// before main) must run under a limit far below that, as under runc.
var cgroupLimits = []string{"--cpus", "1", "--memory-limit", "134217728"}

// cgroupScript is what a shell in a container learns about its limits and
// mounts (stdout and stderr both, so error messages are compared too).
const cgroupScript = `exec 2>&1
df / >/dev/null && echo df ok
cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max
cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max
ls /sys/fs/cgroup
cat /proc/self/cgroup
read -r line < /proc/$$/cgroup && [ -n "$line" ] && echo "own pid's cgroup read"
grep -e ' - cgroup ' -e ' - cgroup2 ' /proc/self/mountinfo | cut -d' ' -f4,5,6
grep ' /sys/fs/cgroup/' /proc/mounts
mount | grep '^cgroup'
echo 1 > /sys/fs/cgroup/memory/memory.limit_in_bytes || echo write refused
mkdir /sys/fs/cgroup/memory/sub || echo mkdir refused
ls /sys/firmware | wc -l
ls /sys/class/net
`

// TestCgroupView: a program in a km container sees its cgroup limits and
// its mount table as in a runc container: /proc/self/cgroup, the cgroup
// mount's entries in /proc/self/mountinfo and /proc/mounts, the limit files
// under /sys/fs/cgroup (read-only), the spec's sysfs (the container's
// network namespace, /sys/firmware masked). A static Go program locating
// its limits as Go's runtime and JVMs do prints what it prints under runc.
func TestCgroupView(t *testing.T) {
	cases := []struct {
		name string
		opts []string
		argv []string
		want []string // lines km's output must have (the comparison with runc must not pass vacuously)
	}{
		{"go", append(append([]string{}, cgroupLimits...), cgroupMount...), []string{"/gocgroup"},
			[]string{"mountinfo has a cgroup entry: true", "read-only file system"}},
		{"go-no-cgroup-mount", cgroupLimits, []string{"/gocgroup"},
			[]string{"mountinfo has a cgroup entry: false"}},
		{"busybox", append(append([]string{}, cgroupLimits...), cgroupMount...), []string{"/busybox", "sh", "-c", cgroupScript},
			[]string{"df ok", "134217728", "100000", "own pid's cgroup read", "write refused", "mkdir refused", "lo"}},
	}
	// The limits as the payload reads them on this host's cgroup version.
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		cases[0].want = append(cases[0].want, "v2 memory.max 134217728", "v2 cpu.max 100000 100000")
	} else {
		cases[0].want = append(cases[0].want, "v1 memory.limit_in_bytes 134217728", "v1 cpu.cfs_quota_us 100000")
	}
	forEachDaemon(t, func(t *testing.T, d *daemon) {
		before := snapshot()
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				kmID := cid(t, "cg")
				got := d.runIn(kmRuntime, kmID, c.opts, c.argv...)
				var want result
				var runcID string
				for i := 0; i < 3; i++ { // see compareWithRunc: ctr may lose runc's last lines
					runcID = cid(t, "cg-runc") // a fresh id: a failed `run --rm` may leave its container
					want = d.runIn(runcRuntime, runcID, c.opts, c.argv...)
					if strings.ReplaceAll(want.stdout, runcID, "ID") == strings.ReplaceAll(got.stdout, kmID, "ID") {
						break
					}
				}
				// The container's cgroup is named after its id.
				g, w := strings.ReplaceAll(got.stdout, kmID, "ID"), strings.ReplaceAll(want.stdout, runcID, "ID")
				if g != w || got.code != want.code {
					t.Errorf("km:   %v\nrunc: %v\n%s", got, want, d.logAbout(kmID))
				}
				lines := strings.Split(g, "\n")
				for _, l := range c.want {
					found := false
					for _, gl := range lines {
						if gl == l || strings.HasSuffix(gl, l) {
							found = true
						}
					}
					if !found {
						t.Errorf("km output lacks %q: %v", l, got)
					}
				}
			})
		}
		// The synthesised mount lists show no host path: the root's
		// entry is "/", nothing outside the root appears.
		id := cid(t, "cgpaths")
		r := d.runIn(kmRuntime, id, append(append([]string{}, cgroupLimits...), cgroupMount...),
			"/busybox", "sh", "-c", "cat /proc/self/mountinfo /proc/mounts /proc/self/mounts")
		if r.code != 0 || !strings.Contains(r.stdout, " / / ") {
			t.Errorf("mount lists: %v", r)
		}
		for _, leak := range []string{work, rootfs, "lowerdir", "/tmp/"} {
			if strings.Contains(r.stdout, leak) {
				t.Errorf("mount lists show host path %q:\n%s", leak, r.stdout)
			}
		}
		// An exec process sees the same (it joins the init's mounts).
		id = cid(t, "cgexec")
		done := d.startBackground(t, kmRuntime, id, append(append([]string{}, cgroupLimits...), cgroupMount...), "/sleeper")
		r = d.ctr(nil, "task", "exec", "--exec-id", "e1", id, "/busybox", "sh", "-c",
			"cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; grep -c -e ' - cgroup ' -e ' - cgroup2 ' /proc/self/mountinfo; grep -c '/"+id+"$' /proc/self/cgroup")
		if f := strings.Fields(r.stdout); len(f) != 3 || f[0] != "134217728" || f[1] == "0" || f[2] == "0" {
			t.Errorf("exec sees: %v", r)
		}
		d.ctr(nil, "task", "kill", "-s", "SIGKILL", id)
		waitResult(t, done)
		checkNoLeaks(t, before)
	})
}
