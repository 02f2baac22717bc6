// Package hostres lists what containers can leave behind on the host
// (processes, mounts), for the containerd suites' leak checks.
package hostres

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Procs returns /proc/PID of the processes running exe (km or
// containerd-shim-km-v2) whose command line contains every word: a suite
// passes its work directory, so other km users of the host do not count.
func Procs(exe string, words ...string) []string {
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range dirs {
		link, err := os.Readlink(p + "/exe")
		if err != nil || filepath.Base(strings.TrimSuffix(link, " (deleted)")) != exe {
			continue
		}
		cmdline, _ := os.ReadFile(p + "/cmdline")
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(string(cmdline), w)
		}
		if ok {
			out = append(out, p)
		}
	}
	return out
}

// Mounts returns the mount points under prefix that contain every word.
func Mounts(prefix string, words ...string) []string {
	var out []string
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return nil
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || !strings.HasPrefix(f[1], prefix) {
			continue
		}
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(f[1], w)
		}
		if ok {
			out = append(out, f[1])
		}
	}
	return out
}

// Added returns what now holds that before did not: things that were there
// and went away are fine (an earlier test's shim may still have been
// exiting when before was taken).
func Added(before, now []string) []string {
	seen := make(map[string]bool, len(before))
	for _, s := range before {
		seen[s] = true
	}
	var out []string
	for _, s := range now {
		if !seen[s] {
			out = append(out, s)
		}
	}
	return out
}

// ShimSocket is the socket the km shim serves a group (a container id, or
// a pod's sandbox id) on for one containerd address and namespace, named
// as cmd/containerd-shim-km-v2's socketPath names it.
func ShimSocket(address, namespace, group string) string {
	sum := sha256.Sum256([]byte(address + "\x00" + namespace + "\x00" + group))
	return filepath.Join("/run/km/s", fmt.Sprintf("%x", sum[:16]))
}
