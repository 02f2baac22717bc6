// Package bench compares km with native execution, in one run, on the same
// binaries: program start to exit, and the cost of one system call.
//
//	go test -run XXX -bench . -benchtime 200x ./test/bench
package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kmvm/km/runtime"
	"github.com/kmvm/km/test/pyroot"
	"github.com/kmvm/km/test/repo"
)

var (
	dir     string // built binaries
	kmBin   string
	payload = map[string]string{}
)

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "km-bench")
	if err != nil {
		panic(err)
	}
	dir = d
	code := 1
	if err := build(); err != nil {
		fmt.Fprintln(os.Stderr, "bench setup:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func repoRoot() string {
	root, err := repo.Root()
	if err != nil {
		panic(err)
	}
	return root
}

func run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func build() error {
	root := repoRoot()
	kmBin = filepath.Join(dir, "km")
	payload["hello"] = filepath.Join(dir, "hello")
	payload["sysloop"] = filepath.Join(dir, "sysloop")
	payload["exit0"] = filepath.Join(dir, "exit0")
	payload["gohello"] = filepath.Join(dir, "gohello")
	payload["waitsig"] = filepath.Join(dir, "waitsig")
	steps := [][]string{
		{"go", "build", "-o", kmBin, filepath.Join(root, "cmd/km")},
		{"gcc", "-static", "-O2", "-o", payload["hello"], filepath.Join(root, "test/payloads/hello.c")},
		{"gcc", "-static", "-O2", "-o", payload["sysloop"], filepath.Join(root, "test/bench/payloads/sysloop.c")},
		{"gcc", "-static", "-nostdlib", "-o", payload["exit0"], filepath.Join(root, "test/bench/payloads/exit0.S")},
		{"go", "build", "-o", payload["gohello"], filepath.Join(root, "test/bench/payloads/hellomin")},
		{"gcc", "-static", "-O2", "-o", payload["waitsig"], filepath.Join(root, "test/payloads/waitsig.c")},
	}
	for _, s := range steps {
		if err := run(s[0], s[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkStart times whole program runs, start to exit, as a shell would.
func BenchmarkStart(b *testing.B) {
	cases := []struct {
		name string
		argv []string
	}{
		{"native-hello", []string{payload["hello"]}},
		{"native-gohello", []string{payload["gohello"]}},
		{"km-hello", []string{kmBin, payload["hello"]}},
		{"km-exit0", []string{kmBin, payload["exit0"]}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				cmd := exec.Command(c.argv[0], c.argv[1:]...)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%v: %v\n%s", c.argv, err, out)
				}
			}
		})
	}
}

// BenchmarkSyscall reports the mean cost of one guest system call, measured
// inside the program over 20000 calls, natively and under km.
func BenchmarkSyscall(b *testing.B) {
	const calls = "20000"
	for _, mode := range []string{"getpid", "getppid"} {
		for _, where := range []string{"native", "km"} {
			b.Run(where+"-"+mode, func(b *testing.B) {
				argv := []string{payload["sysloop"], mode, calls}
				if where == "km" {
					argv = append([]string{kmBin}, argv...)
				}
				var total float64
				runs := 0
				for i := 0; i < b.N && i < 20; i++ {
					out, err := exec.Command(argv[0], argv[1:]...).Output()
					if err != nil {
						b.Fatalf("%v: %v", argv, err)
					}
					ns, err := strconv.ParseFloat(string(bytes.TrimSpace(out)), 64)
					if err != nil {
						b.Fatalf("%v printed %q", argv, out)
					}
					total += ns
					runs++
				}
				b.ReportMetric(total/float64(runs), "ns/syscall")
			})
		}
	}
}

// BenchmarkFirstSyscall runs a program whose first instruction is
// exit_group inside this process and reports the time from runtime.Run's
// start to that first syscall: VM creation, memory and page tables, ELF
// loading, vCPU setup and the first KVM_RUN.
func BenchmarkFirstSyscall(b *testing.B) {
	var first time.Duration
	for i := 0; i < b.N; i++ {
		st, err := runtime.Run(context.Background(), runtime.Config{
			Program: payload["exit0"], Args: []string{"exit0"}, Log: io.Discard})
		if err != nil || st.Status() != 0 {
			b.Fatalf("run: %v, status %d", err, st.Status())
		}
		first += st.FirstSyscall
	}
	b.ReportMetric(float64(first.Nanoseconds())/float64(b.N), "ns/first-syscall")
}

// BenchmarkStartToFirstSyscall is what the shim's Start RPC waits for: the
// program is already loaded (Create), and the clock runs from the monitor's
// go-ahead (Config.Ready returning, as when km reads the shim's start byte)
// to the guest's first system call, a few instructions after its first one.
func BenchmarkStartToFirstSyscall(b *testing.B) {
	var total time.Duration
	for i := 0; i < b.N; i++ {
		st, err := runtime.Run(context.Background(), runtime.Config{
			Program: payload["exit0"], Args: []string{"exit0"}, Log: io.Discard,
			Ready: func() error { return nil }})
		if err != nil || st.Status() != 0 {
			b.Fatalf("run: %v, status %d", err, st.Status())
		}
		total += st.FirstSyscall // counted from Ready returning
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/start-to-first-syscall")
}

// BenchmarkPythonPass runs `python3 -c pass` (Debian's dynamically linked
// python3.11) natively and under km from a root holding a copy of it, its
// libraries and its standard library (test/pyroot), start to exit.
func BenchmarkPythonPass(b *testing.B) {
	root := pythonRoot(b)
	for _, c := range []struct {
		name string
		argv []string
	}{
		{"native", []string{pyroot.Python, "-c", "pass"}},
		{"km", []string{kmBin, "--root", root, pyroot.Python, "-c", "pass"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				runQuiet(b, c.argv)
			}
		})
	}
	// The machine is shared: alternate the two, one run each per
	// iteration, and report the medians and their ratio, which load
	// affects less than the separate means above.
	b.Run("interleaved", func(b *testing.B) {
		var nat, km []time.Duration
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			runQuiet(b, []string{pyroot.Python, "-c", "pass"})
			t1 := time.Now()
			runQuiet(b, []string{kmBin, "--root", root, pyroot.Python, "-c", "pass"})
			nat, km = append(nat, t1.Sub(t0)), append(km, time.Since(t1))
		}
		n, k := median(nat), median(km)
		b.ReportMetric(float64(n.Microseconds())/1000, "native-ms")
		b.ReportMetric(float64(k.Microseconds())/1000, "km-ms")
		b.ReportMetric(float64(k)/float64(n), "km/native")
	})
}

func runQuiet(b *testing.B, argv []string) {
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil || len(out) != 0 {
		b.Fatalf("%v: %v\n%s", argv, err, out)
	}
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
