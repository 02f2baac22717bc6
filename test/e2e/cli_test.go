package e2e

import (
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	r := runKM(t, runOpts{}, "check")
	checkNoPanic(t, r)
	if r.code != 0 {
		t.Fatalf("km check: want status 0 on this machine\n%s", r)
	}
	if !regexp.MustCompile(`(?i)pvm|hardware`).Match(append(r.stdout, r.stderr...)) {
		t.Errorf("km check does not name the backend (pvm or hardware)\n%s", r)
	}
}

func TestVersion(t *testing.T) {
	r := runKM(t, runOpts{}, "version")
	checkNoPanic(t, r)
	if r.code != 0 || len(strings.TrimSpace(string(r.stdout))) == 0 {
		t.Errorf("km version: want status 0 and a version on stdout\n%s", r)
	}
}

// guestEnv runs the args payload under km and returns the environment it
// saw, sorted.
func guestEnv(t *testing.T, kmArgs ...string) []string {
	t.Helper()
	r := runKM(t, runOpts{}, append(kmArgs, payload(t, "gcc-static", "args"))...)
	checkNoPanic(t, r)
	if r.code != 0 {
		t.Fatalf("args payload failed under km\n%s", r)
	}
	var env []string
	for _, l := range strings.Split(string(r.stdout), "\n") {
		if v, ok := strings.CutPrefix(l, "env=["); ok {
			env = append(env, strings.TrimSuffix(v, "]"))
		}
	}
	sort.Strings(env)
	return env
}

func TestEnv(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"inherited", nil, baseEnv},
		{"clear-env", []string{"--clear-env", "--env", "A=1", "--env", "B=two"}, []string{"A=1", "B=two"}},
		{"clear-env-empty", []string{"--clear-env"}, nil},
		{"clear-env-value-with-spaces", []string{"--clear-env", "--env", "X=a b=c", "--env", "EMPTY="}, []string{"EMPTY=", "X=a b=c"}},
		{"override", []string{"--env", "KM_E2E=override", "--env", "NEW=x"},
			replaceEnv(baseEnv, "KM_E2E=override", "NEW=x")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := guestEnv(t, c.args...)
			want := append([]string{}, c.want...)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("guest environment:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// replaceEnv returns env with the given K=V entries set.
func replaceEnv(env []string, kvs ...string) []string {
	out := append([]string{}, env...)
	for _, kv := range kvs {
		k, _, _ := strings.Cut(kv, "=")
		found := false
		for i, e := range out {
			if strings.HasPrefix(e, k+"=") {
				out[i], found = kv, true
			}
		}
		if !found {
			out = append(out, kv)
		}
	}
	return out
}

func TestCwd(t *testing.T) {
	bin := payload(t, "gcc-static", "fileio")
	t.Run("root", func(t *testing.T) {
		root := newRoot(t, map[string]string{"fileio": bin})
		r := runKM(t, runOpts{}, "--root", root, "--cwd", "/work", "/fileio", "cwd")
		checkNoPanic(t, r)
		if r.code != 0 || string(r.stdout) != "cwd=/work\n" {
			t.Errorf("want status 0 and stdout \"cwd=/work\\n\"\n%s", r)
		}
	})
	t.Run("no-root", func(t *testing.T) {
		dir, err := filepath.EvalSymlinks(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		r := runKM(t, runOpts{}, "--cwd", dir, bin, "cwd")
		checkNoPanic(t, r)
		if r.code != 0 || string(r.stdout) != "cwd="+dir+"\n" {
			t.Errorf("want status 0 and stdout %q\n%s", "cwd="+dir+"\n", r)
		}
	})
	t.Run("inherited", func(t *testing.T) {
		dir, err := filepath.EvalSymlinks(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		r := runKM(t, runOpts{dir: dir}, bin, "cwd")
		checkNoPanic(t, r)
		if r.code != 0 || string(r.stdout) != "cwd="+dir+"\n" {
			t.Errorf("want status 0 and stdout %q\n%s", "cwd="+dir+"\n", r)
		}
	})
}

func TestTrace(t *testing.T) {
	r := runKM(t, runOpts{}, "--trace", payload(t, "gcc-static", "hello"))
	checkNoPanic(t, r)
	if r.code != 0 || string(r.stdout) != "hello, world\n" {
		t.Errorf("--trace must not change the program's stdout or status\n%s", r)
	}
	for _, call := range []string{"write", "exit_group"} {
		if !strings.Contains(string(r.stderr), call) {
			t.Errorf("--trace log on stderr does not mention %s\n%s", call, r)
		}
	}
}

func TestStrict(t *testing.T) {
	for _, fl := range cFlavours {
		t.Run(fl.name, func(t *testing.T) {
			t.Parallel()
			r := runKM(t, runOpts{}, "--strict", payload(t, fl.name, "hello"))
			checkNoPanic(t, r)
			if r.code != 0 || string(r.stdout) != "hello, world\n" || len(r.stderr) != 0 {
				t.Errorf("hello must run cleanly under --strict\n%s", r)
			}
			r = runKM(t, runOpts{}, "--strict", payload(t, fl.name, "nosys"))
			checkOneKMLine(t, r)
			if r.code == 0 {
				t.Errorf("an unknown syscall under --strict must be fatal\n%s", r)
			}
		})
	}
}
