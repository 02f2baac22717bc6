package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// These files differ from a native run by design (the guest sees its
// container's view, not the host's), so the checks are targeted rather than
// differential.

// sections splits the output of a script that separates files with "==".
func sections(out string) []string { return strings.Split(out, "==\n") }

// TestProcCgroupAndMountsCLI: without a mount namespace of its own (the
// plain CLI), the guest's /proc/self/cgroup is the monitor's (the one km
// was started in), and its mount lists hold only the root's entry, as "/":
// no host path of any mount shows, and df finds "/".
func TestProcCgroupAndMountsCLI(t *testing.T) {
	root := newRoot(t, map[string]string{"busybox": "/bin/busybox"})
	r := runKM(t, runOpts{}, "--root", root, "/busybox", "sh", "-c",
		`cat /proc/self/cgroup; echo ==; cat /proc/self/mountinfo; echo ==; cat /proc/mounts; echo ==; cat /proc/self/mounts; echo ==
df / >/dev/null && echo df ok; read -r line < /proc/$$/cgroup && echo "own pid: $line"; ls /proc/self | grep -c -e '^cgroup$' -e '^mountinfo$' -e '^mounts$'`)
	checkNoPanic(t, r)
	out := string(r.stdout)
	s := sections(out)
	if r.code != 0 || len(s) != 5 {
		t.Fatalf("script failed\n%s", r)
	}
	own, err := os.ReadFile("/proc/self/cgroup") // km runs in the test's cgroup
	if err != nil {
		t.Fatal(err)
	}
	if s[0] != string(own) {
		t.Errorf("/proc/self/cgroup = %q, want the monitor's %q", s[0], own)
	}
	first, _, _ := strings.Cut(string(own), "\n")
	if want := "df ok\nown pid: " + first + "\n3\n"; s[4] != want {
		t.Errorf("got %q, want %q", s[4], want)
	}
	mi := nonEmptyLines([]byte(s[1]))
	if len(mi) != 1 {
		t.Fatalf("mountinfo: want the root's entry alone, got %q", mi)
	}
	if f := strings.Fields(mi[0]); len(f) < 10 || f[3] != "/" || f[4] != "/" {
		t.Errorf("mountinfo root entry %q: want root and mount point \"/\"", mi[0])
	}
	for i, name := range map[int]string{2: "/proc/mounts", 3: "/proc/self/mounts"} {
		m := nonEmptyLines([]byte(s[i]))
		if len(m) != 1 || len(strings.Fields(m[0])) != 6 || strings.Fields(m[0])[1] != "/" {
			t.Errorf("%s: want one entry for \"/\", got %q", name, m)
		}
	}
	if strings.Contains(out, root) {
		t.Errorf("the root's host path shows:\n%s", out)
	}
}

// TestMountsFileAndTables: km --mounts in a mount namespace of its own
// (unshare -m, as a container runtime runs it) mounts the spec's sysfs
// (read-only), its cgroup mount (read-only binds of km's own cgroup, in a
// cgroup made for the test), masked and read-only paths; the guest's
// mount lists show exactly what is mounted at or below its root, with the
// root's prefix stripped, and nothing from outside it.
func TestMountsFileAndTables(t *testing.T) {
	root := newRoot(t, map[string]string{"busybox": "/bin/busybox"})
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	writeFile(t, filepath.Join(root, "etc/secret"), []byte("hidden\n"), 0o644)
	vol := t.TempDir()
	writeFile(t, filepath.Join(vol, "f"), []byte("volume\n"), 0o644)
	spec := map[string]any{
		"mounts": []map[string]any{
			{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": []string{"nosuid", "noexec", "nodev", "ro"}},
			{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
			{"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "size=1m"}},
			{"destination": "/vol", "type": "bind", "source": vol, "options": []string{"rbind", "ro"}},
			{"destination": "/proc", "type": "proc", "source": "proc"},
		},
		"maskedPaths":   []string{"/etc/secret", "/sys/firmware", "/proc/kcore", "/missing"},
		"readonlyPaths": []string{"/work", "/proc/sys"},
	}
	js, _ := json.Marshal(spec)
	specFile := filepath.Join(t.TempDir(), "mounts.json")
	writeFile(t, specFile, js, 0o600)

	// A cgroup of the test's own with a memory limit, for km to run in.
	cg, limitFile, limit := testCgroup(t)

	script := `exec 2>&1
cat /proc/self/cgroup; echo ==; cat /proc/self/mountinfo; echo ==; cat /proc/mounts; echo ==
cat /sys/fs/cgroup/` + limitFile + `
echo 1 > /sys/fs/cgroup/` + limitFile + ` || echo write refused
mkdir /sys/fs/cgroup/x || echo mkdir refused
cat /etc/secret | wc -c
ls /sys/firmware | wc -l
cat /vol/f
touch /vol/g || echo vol read-only
touch /work/g || echo work read-only
echo ok > /data/f && cat /data/f
ls /sys/class/net | grep -c '^lo$'
echo 1 > /sys/kernel/profiling || echo sysfs read-only`
	r := run(t, runOpts{}, "sh", "-c", `echo $$ > "$1" && exec unshare -m "$2" --root "$3" --mounts "$4" /busybox sh -c "$5"`,
		"sh", filepath.Join(cg, "cgroup.procs"), kmBin, root, specFile, script)
	checkNoPanic(t, r)
	out := string(r.stdout)
	s := sections(out)
	if r.code != 0 || len(s) != 4 {
		t.Fatalf("script failed\n%s", r)
	}
	// The cgroup: the one km was put in, and its limit read through the bind.
	rel := strings.TrimPrefix(cg, cgroupMountPoint(cg))
	if !strings.Contains(s[0], ":"+rel+"\n") {
		t.Errorf("/proc/self/cgroup lacks %s:\n%s", rel, s[0])
	}
	want := limit + "\n" +
		"sh: can't create /sys/fs/cgroup/" + limitFile + ": Read-only file system\nwrite refused\n" +
		"mkdir: can't create directory '/sys/fs/cgroup/x': Read-only file system\nmkdir refused\n" +
		"0\n0\nvolume\n" +
		"touch: /vol/g: Read-only file system\nvol read-only\n" +
		"touch: /work/g: Read-only file system\nwork read-only\n" +
		"ok\n1\n" +
		"sh: can't create /sys/kernel/profiling: Read-only file system\nsysfs read-only\n"
	if s[3] != want {
		t.Errorf("guest sees:\n%s\nwant:\n%s", s[3], want)
	}
	// The mount lists: the root once, as "/", then the mounts below it.
	allowed := []string{"/data", "/vol", "/sys", "/etc/secret", "/work"}
	for i, name := range map[int]string{1: "mountinfo", 2: "/proc/mounts"} {
		point := 4
		if i == 2 {
			point = 1
		}
		seen := map[string]int{}
		for _, l := range nonEmptyLines([]byte(s[i])) {
			f := strings.Fields(l)
			if len(f) <= point {
				t.Errorf("%s: short line %q", name, l)
				continue
			}
			mp := f[point]
			seen[mp]++
			ok := mp == "/"
			for _, a := range allowed {
				ok = ok || mp == a || strings.HasPrefix(mp, a+"/")
			}
			if !ok {
				t.Errorf("%s: unexpected mount %q", name, l)
			}
		}
		for _, mp := range []string{"/", "/data", "/vol", "/sys", "/sys/fs/cgroup", "/sys/firmware", "/etc/secret", "/work"} {
			if seen[mp] != 1 {
				t.Errorf("%s: %s listed %d times, want once\n%s", name, mp, seen[mp], s[i])
			}
		}
		if i == 1 && !strings.Contains(s[i], " "+rel+" /sys/fs/cgroup/") {
			t.Errorf("%s: no cgroup bind of %s\n%s", name, rel, s[i])
		}
	}
	for _, leak := range []string{root, vol, "/tmp/", "/proc"} {
		if strings.Contains(s[1]+s[2], leak) {
			t.Errorf("the mount lists show %q:\n%s", leak, s[1]+s[2])
		}
	}
}

// testCgroup makes a cgroup for one test (removed at its end): on a v1
// host in the memory hierarchy, on a v2 host in the unified one. It returns
// the cgroup's directory and the limit file (relative to the guest's
// /sys/fs/cgroup) with its value.
func testCgroup(t *testing.T) (dir, limitFile, limit string) {
	t.Helper()
	name := fmt.Sprintf("km-e2e-%d", os.Getpid())
	const limitBytes = "1073741824"
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		dir, limitFile = filepath.Join("/sys/fs/cgroup", name), "memory.max"
	} else {
		dir, limitFile = filepath.Join("/sys/fs/cgroup/memory", name), "memory/memory.limit_in_bytes"
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("cgroup: %v", err)
	}
	t.Cleanup(func() { os.Remove(dir) })
	if err := os.WriteFile(filepath.Join(dir, filepath.Base(limitFile)), []byte(limitBytes), 0); err != nil {
		t.Fatalf("cgroup limit: %v", err)
	}
	return dir, limitFile, limitBytes
}

// cgroupMountPoint is the hierarchy mount holding cgroup directory dir.
func cgroupMountPoint(dir string) string {
	if strings.HasPrefix(dir, "/sys/fs/cgroup/memory/") {
		return "/sys/fs/cgroup/memory"
	}
	return "/sys/fs/cgroup"
}
