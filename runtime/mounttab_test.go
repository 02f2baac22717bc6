package runtime

import (
	"strings"
	"testing"
)

// A monitor's mountinfo: the guest root /srv/r is a bind of itself with
// mounts below it; /srv/r2 only shares a prefix with it.
const testMountInfo = `1 0 8:1 / / rw,relatime - ext4 /dev/sda1 rw
2 1 0:5 / /proc rw,nosuid - proc proc rw
3 1 8:1 /srv/r /srv/r rw,relatime shared:1 - ext4 /dev/sda1 rw
4 3 0:40 / /srv/r/dev rw,nosuid - tmpfs tmpfs rw,mode=755
5 3 8:1 /home/u/vol /srv/r/vol ro,relatime - ext4 /dev/sda1 rw
6 3 0:41 /default/c1 /srv/r/sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory
7 1 0:42 / /srv/r2 rw - tmpfs tmpfs rw
8 3 0:43 / /srv/r/sp\040ace rw - tmpfs tmpfs rw
`

// The same root covered by an overlay (as a read-only root's bind is
// stacked on the first): what was mounted below the first is hidden.
const testMountInfoCovered = testMountInfo + `9 3 0:44 / /srv/r rw - overlay overlay rw,lowerdir=/var/l1:/var/l2,upperdir=/var/u,workdir=/var/w,xino=off
10 9 0:45 / /srv/r/dev rw - tmpfs tmpfs rw
`

const testMounts = `/dev/sda1 / ext4 rw,relatime 0 0
proc /proc proc rw,nosuid 0 0
/dev/sda1 /srv/r ext4 rw,relatime 0 0
tmpfs /srv/r/dev tmpfs rw,nosuid,mode=755 0 0
/dev/sda1 /srv/r/vol ext4 ro,relatime 0 0
cgroup /srv/r/sys/fs/cgroup/memory cgroup ro,nosuid,memory 0 0
tmpfs /srv/r2 tmpfs rw 0 0
tmpfs /srv/r/sp\040ace tmpfs rw 0 0
overlay /srv/r overlay rw,lowerdir=/var/l1:/var/l2,upperdir=/var/u,workdir=/var/w,xino=off 0 0
`

func TestGuestMountTable(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		info    bool
		root    string
		private bool
		want    string
	}{
		{"container", testMountInfo, true, "/srv/r", true, `3 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
4 3 0:40 / /dev rw,nosuid - tmpfs tmpfs rw,mode=755
5 3 8:1 / /vol ro,relatime - ext4 /dev/sda1 rw
6 3 0:41 /default/c1 /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory
8 3 0:43 / /sp\040ace rw - tmpfs tmpfs rw
`},
		{"covered", testMountInfoCovered, true, "/srv/r", true, `9 3 0:44 / / rw - overlay overlay rw,xino=off
10 9 0:45 / /dev rw - tmpfs tmpfs rw
`},
		{"shared namespace", testMountInfo, true, "/srv/r", false, "3 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"},
		{"root not a mount", testMountInfo, true, "/srv/r2/sub", true, "7 1 0:42 / / rw - tmpfs tmpfs rw\n"},
		{"root below a mount", testMountInfo, true, "/home", false, "1 0 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"},
		{"escaped root", testMountInfo, true, "/srv/r/sp ace", true, "8 3 0:43 / / rw - tmpfs tmpfs rw\n"},
		{"mounts", testMounts, false, "/srv/r", true, `overlay / overlay rw,xino=off 0 0
`},
		{"mounts uncovered", strings.Join(strings.Split(testMounts, "\n")[:8], "\n"), false, "/srv/r", true, `/dev/sda1 / ext4 rw,relatime 0 0
tmpfs /dev tmpfs rw,nosuid,mode=755 0 0
/dev/sda1 /vol ext4 ro,relatime 0 0
cgroup /sys/fs/cgroup/memory cgroup ro,nosuid,memory 0 0
tmpfs /sp\040ace tmpfs rw 0 0
`},
		{"garbage", "x\n\n1 2 3 - a\n- - - - - - - - -\n", true, "/srv/r", true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := string(guestMountTable([]byte(c.in), c.info, c.root, c.private))
			if got != c.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, c.want)
			}
		})
	}
}

// FuzzGuestMountTable: whatever the monitor's lists hold, the guest's have
// absolute mount points (what was below the root), one root entry at most,
// no more lines than the input, and every line keeps its shape.
func FuzzGuestMountTable(f *testing.F) {
	f.Add(testMountInfoCovered, true, "/srv/r", true)
	f.Add(testMounts, false, "/srv/r", true)
	f.Add(testMountInfo, true, "/", true)
	f.Fuzz(func(t *testing.T, in string, info bool, root string, private bool) {
		if !strings.HasPrefix(root, "/") {
			root = "/" + root
		}
		out := guestMountTable([]byte(in), info, root, private)
		lines := nonEmpty(strings.Split(string(out), "\n"))
		point := 1
		if info {
			point = 4
		}
		roots := 0
		for _, l := range lines {
			f := strings.Split(l, " ")
			if len(f) <= point {
				t.Fatalf("short line %q", l)
			}
			if f[point] == "/" {
				roots++
			}
			if !strings.HasPrefix(f[point], "/") {
				t.Fatalf("mount point of %q is not absolute", l)
			}
		}
		if roots > 1 {
			t.Fatalf("%d entries for the root", roots)
		}
		if len(lines) > strings.Count(in, "\n")+1 {
			t.Fatalf("%d lines out of %q", len(lines), in)
		}
		if !private && len(lines) > 1 {
			t.Fatalf("shared namespace shows %d lines", len(lines))
		}
	})
}

func nonEmpty(list []string) []string {
	var out []string
	for _, s := range list {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
