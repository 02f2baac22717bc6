package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kmvm/km/test/repo"
)

// A flavour is one way of building the payloads.
type flavour struct {
	name   string
	lang   string   // "c" or "go"
	cc     []string // compiler and flags, for C flavours
	aptPkg string   // Debian package that provides the compiler
	// dynamic payloads need their loader and shared libraries: under km
	// they always run from a root holding copies of them (dynlibs_test.go).
	dynamic bool
}

var cFlavours = []flavour{
	{name: "gcc-static", lang: "c", cc: []string{"gcc", "-static", "-O1"}, aptPkg: "gcc libc6-dev"},
	{name: "gcc-static-pie", lang: "c", cc: []string{"gcc", "-static-pie", "-O1", "-fPIE"}, aptPkg: "gcc libc6-dev"},
	{name: "musl-static", lang: "c", cc: []string{"musl-gcc", "-static", "-O1"}, aptPkg: "musl-tools"},
	{name: "dynamic", lang: "c", cc: []string{"gcc", "-O1"}, aptPkg: "gcc libc6-dev", dynamic: true},
	{name: "musl-dynamic", lang: "c", cc: []string{"musl-gcc", "-O1"}, aptPkg: "musl-tools", dynamic: true},
}

var goFlavour = flavour{name: "go", lang: "go"}

var (
	repoRoot string // directory holding go.mod
	buildDir string // everything TestMain builds goes here
	kmBin    string // the km binary under test

	cPayloads  []string // base names of test/payloads/*.c
	goPayloads []string // directory names under test/payloads/go
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	var err error
	var cleanup func()
	if repoRoot, buildDir, cleanup, err = repo.Suite("km-e2e-", "KM_E2E_KEEP"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer cleanup()
	// Natively run crash payloads must not leave core files behind.
	_ = syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})

	start := time.Now()
	if err := buildAll(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build failed:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e: built km and %d C payloads x %d flavours + %d Go payloads in %v\n",
		len(cPayloads), len(cFlavours), len(goPayloads), time.Since(start).Round(time.Millisecond))
	return m.Run()
}

// A buildJob is one compiler invocation.
type buildJob struct {
	desc string
	argv []string
	env  []string // added to the environment
}

// buildAll builds km (unless KM_BIN is set) and every payload in every
// flavour into buildDir. A missing compiler is an error naming the Debian
// package that provides it.
func buildAll() error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("go not found in PATH: %v", err)
	}
	for _, f := range cFlavours {
		if _, err := exec.LookPath(f.cc[0]); err != nil {
			return fmt.Errorf("%s not found in PATH: install the Debian package(s) %q (apt-get install %s)",
				f.cc[0], f.aptPkg, f.aptPkg)
		}
	}

	payloadDir := filepath.Join(repoRoot, "test", "payloads")
	srcs, err := filepath.Glob(filepath.Join(payloadDir, "*.c"))
	if err != nil || len(srcs) == 0 {
		return fmt.Errorf("no C payloads in %s", payloadDir)
	}
	sort.Strings(srcs)
	for _, s := range srcs {
		cPayloads = append(cPayloads, strings.TrimSuffix(filepath.Base(s), ".c"))
	}
	goDirs, _ := filepath.Glob(filepath.Join(payloadDir, "go", "*", "main.go"))
	for _, d := range goDirs {
		goPayloads = append(goPayloads, filepath.Base(filepath.Dir(d)))
	}
	sort.Strings(goPayloads)

	var jobs []buildJob
	if kmBin = os.Getenv("KM_BIN"); kmBin == "" {
		kmBin = filepath.Join(buildDir, "km")
		jobs = append(jobs, buildJob{desc: "km", argv: []string{goTool, "build", "-o", kmBin, "./cmd/km"}})
	}
	for _, f := range cFlavours {
		if err := os.MkdirAll(filepath.Join(buildDir, f.name), 0o755); err != nil {
			return err
		}
		for i, name := range cPayloads {
			argv := append(append([]string{}, f.cc...), "-Wall", "-o", payloadPath(f.name, name), srcs[i])
			jobs = append(jobs, buildJob{desc: f.name + "/" + name, argv: argv})
		}
	}
	if err := os.MkdirAll(filepath.Join(buildDir, goFlavour.name), 0o755); err != nil {
		return err
	}
	for _, name := range goPayloads {
		argv := []string{goTool, "build", "-o", payloadPath(goFlavour.name, name), "./test/payloads/go/" + name}
		jobs = append(jobs, buildJob{desc: "go/" + name, argv: argv, env: []string{"CGO_ENABLED=0"}})
	}
	return runBuildJobs(jobs)
}

// runBuildJobs runs the jobs a few at a time from the repository root and
// returns all failures together, with the compiler output.
func runBuildJobs(jobs []buildJob) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 4)
	)
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func(j buildJob) {
			defer func() { <-sem; wg.Done() }()
			cmd := exec.Command(j.argv[0], j.argv[1:]...)
			cmd.Dir = repoRoot
			cmd.Env = append(os.Environ(), j.env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %s: %v\n%s", j.desc, strings.Join(j.argv, " "), err, out))
				mu.Unlock()
			}
		}(j)
	}
	wg.Wait()
	return errors.Join(errs...)
}

// payloadPath is where TestMain puts payload name built in flavour fl.
func payloadPath(fl, name string) string {
	return filepath.Join(buildDir, fl, name)
}

// payload returns the path of a built payload, failing the test if it does
// not exist (a typo in a test table, or a flavour lacking that payload).
func payload(t testing.TB, fl, name string) string {
	t.Helper()
	p := payloadPath(fl, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("payload %s/%s was not built: %v", fl, name, err)
	}
	return p
}

// flavoursFor lists the flavours a payload is built in.
func flavoursFor(t testing.TB, name string) []flavour {
	for _, n := range goPayloads {
		if n == name {
			return []flavour{goFlavour}
		}
	}
	for _, n := range cPayloads {
		if n == name {
			return cFlavours
		}
	}
	t.Fatalf("unknown payload %q", name)
	return nil
}
