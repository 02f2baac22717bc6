package e2e

import (
	"strconv"
	"strings"
	"testing"
)

// TestProcConfined checks that the guest's /proc is the emulated one: the
// host's /proc entries of the monitor (its memory, its KVM descriptors, its
// environment) and of other processes are out of reach, with or without a
// root, and /proc/self/fd lists the guest's descriptors only.
func TestProcConfined(t *testing.T) {
	for _, confined := range []bool{true, false} {
		name := "unconfined"
		if confined {
			name = "root"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bin := payload(t, "gcc-static", "openpaths")
			paths := []string{
				"/proc/self/mem", "/proc/self/environ", "/proc/self/fd", "/proc/self/fdinfo/0",
				"/proc/self/task", "/proc/self/root/etc/hostname", "/proc/1/environ", "/proc/1/mem",
				"/proc/self/../1/environ", "/proc/thread-self/mem", "/proc/kcore", "/proc/sys/kernel/hostname",
				"/proc/self/map_files", "/proc/self/pagemap",
			}
			// The monitor's own descriptors (/dev/kvm, the VM, vCPUs) have low host numbers.
			for fd := 3; fd < 12; fd++ {
				paths = append(paths, "/proc/self/fd/"+strconv.Itoa(fd))
			}
			var r result
			if confined {
				root := newRoot(t, map[string]string{"openpaths": bin})
				r = runKM(t, runOpts{}, append([]string{"--root", root, "/openpaths"}, paths...)...)
			} else {
				r = runKM(t, runOpts{}, append([]string{bin}, paths...)...)
			}
			checkNoPanic(t, r)
			out := string(r.stdout)
			if r.code != 0 || !strings.HasSuffix(out, "done\n") {
				t.Fatalf("payload did not finish\n%s", r)
			}
			for _, line := range strings.Split(out, "\n") {
				switch {
				case strings.HasPrefix(line, "[/proc/self/fd] open: opened"), strings.HasPrefix(line, "[/proc/self/environ] open: opened"):
					// The guest's own: allowed.
				case !confined && strings.HasPrefix(line, "[/proc/self/root/etc/hostname] open: opened"):
					// Unconfined, the guest's root is the host's "/".
				case strings.Contains(line, "open: opened"):
					t.Errorf("guest reached a host /proc entry: %s", line)
				case strings.HasPrefix(line, "[/proc/self/fd] list:"):
					// The guest's stdio and the listing's own descriptor, nothing of the monitor's.
					if got := strings.Fields(strings.TrimPrefix(line, "[/proc/self/fd] list:")); strings.Join(got, " ") != ". .. 0 1 2 3" {
						t.Errorf("/proc/self/fd lists %q, want the guest's fds 0-3", got)
					}
				}
			}
			if !strings.Contains(out, "[/proc/self/fd] list:") {
				t.Errorf("/proc/self/fd could not be listed\n%s", r)
			}
		})
	}
}
