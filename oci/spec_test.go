package oci

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func bundleWith(t *testing.T, config string) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadErrors(t *testing.T) {
	for name, c := range map[string]struct{ config, want string }{
		"syntax":   {`{"process": {`, "invalid JSON"},
		"type":     {`{"process": {"args": 3}}`, "config.json"},
		"noproc":   {`{"root": {"path": "rootfs"}}`, `no "process" section`},
		"noroot":   {`{"process": {"args": ["/x"]}}`, `no "root.path"`},
		"noargs":   {`{"root": {"path": "r"}, "process": {"args": []}}`, "process.args is empty"},
		"relcwd":   {`{"root": {"path": "r"}, "process": {"args": ["/x"], "cwd": "rel"}}`, "not absolute"},
		"smallmem": {`{"root": {"path": "r"}, "process": {"args": ["/x"]}, "linux": {"resources": {"memory": {"limit": 4096}}}}`, "below km's minimum"},
	} {
		t.Run(name, func(t *testing.T) {
			b := bundleWith(t, c.config)
			s, err := Load(b)
			if err == nil {
				_, err = FromSpec(b, s)
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line containing %q", err, c.want)
			}
			if !strings.Contains(err.Error(), ConfigFile) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestFromSpec(t *testing.T) {
	b := bundleWith(t, `{"root": {"path": "rootfs", "readonly": true},
	 "process": {"args": ["/bin/x", "a"], "env": ["A=1"], "cwd": "/w", "terminal": true,
	   "user": {"uid": 5, "gid": 6, "additionalGids": [7]},
	   "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 10, "soft": 9}], "oomScoreAdj": 1000},
	 "linux": {"cgroupsPath": "/k/x", "namespaces": [{"type": "network", "path": "/proc/1/ns/net"}, {"type": "pid"}],
	   "resources": {"memory": {"limit": 268435456}}}}`)
	s, err := Load(b)
	if err != nil {
		t.Fatal(err)
	}
	l, err := FromSpec(b, s)
	if err != nil {
		t.Fatal(err)
	}
	if l.Root != filepath.Join(b, "rootfs") || !l.Readonly || l.Memory != 256<<20 || l.Cwd != "/w" ||
		l.UID != 5 || l.GID != 6 || len(l.Groups) != 1 || !l.Terminal || l.CgroupsPath != "/k/x" || len(l.Rlimits) != 1 ||
		l.OOMScoreAdj == nil || *l.OOMScoreAdj != 1000 {
		t.Errorf("launch %+v", l)
	}
	if ns, ok := l.Namespace("network"); !ok || ns.Path != "/proc/1/ns/net" {
		t.Errorf("network namespace %+v %v", ns, ok)
	}
	// No limit: the documented default.
	b = bundleWith(t, `{"root": {"path": "/r"}, "process": {"args": ["x"]}}`)
	s, _ = Load(b)
	if l, err = FromSpec(b, s); err != nil || l.Memory != DefaultMemory || l.Cwd != "/" || l.Root != "/r" {
		t.Errorf("defaults: %+v %v", l, err)
	}
}
