// Command km runs a Linux x86-64 program in its own KVM virtual machine,
// with no guest kernel: km serves the program's system calls itself.
//
//	km [flags] PROGRAM [ARGS...]
//	km check
//	km version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/kmvm/km/kvm"
	"github.com/kmvm/km/runtime"
)

// Set by the linker (-X main.version=... -X main.revision=...).
var (
	version  = "dev"
	revision = "unknown"
)

// Exit statuses for failures before the guest runs, as shells use them.
const (
	exitMonitorError = 125 // km itself or KVM failed
	exitCannotExec   = 126 // the program is not a runnable x86-64 ELF
	exitNotFound     = 127 // no such program
)

type envFlag []string

func (e *envFlag) String() string     { return strings.Join(*e, ",") }
func (e *envFlag) Set(v string) error { *e = append(*e, v); return nil }

func main() {
	if runtime.IsChild() {
		runtime.ChildMain() // a monitor started by km itself for a forked guest
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(argv []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("km", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		root     = fs.String("root", "", "run with `DIR` as the guest's root directory (paths cannot leave it)")
		memory   = fs.String("memory", "4G", "guest memory `SIZE` (K, M, G suffixes)")
		cwd      = fs.String("cwd", "", "guest working `DIR` (a guest path)")
		clearEnv = fs.Bool("clear-env", false, "start with an empty environment")
		trace    = fs.Bool("trace", false, "log every guest syscall to stderr")
		strict   = fs.Bool("strict", false, "an unimplemented syscall kills the guest instead of failing with ENOSYS")
		device   = fs.String("kvm-device", kvm.DefaultDevice, "KVM device `PATH`")
		env      envFlag
		cont     containerFlags
	)
	cont.register(fs)
	fs.Var(&env, "env", "set guest environment `KEY=VALUE` (repeatable)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: km [flags] PROGRAM [ARGS...]\n       km check\n       km version\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(argv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return 2
	}
	switch rest[0] {
	case "version":
		if len(rest) == 1 {
			fmt.Fprintf(stdout, "km %s (revision %s)\n", version, revision)
			return 0
		}
	case "check":
		if len(rest) == 1 {
			return check(*device, stdout, stderr)
		}
	}

	mem, err := parseSize(*memory)
	if err != nil {
		fmt.Fprintf(stderr, "km: --memory %q: %v\n", *memory, err)
		return 2
	}
	cfg := runtime.Config{
		Program: rest[0], Args: rest, Root: *root, Cwd: *cwd, Memory: mem,
		Strict: *strict, KVMDevice: *device, NoTeardown: true,
	}
	if !*clearEnv {
		cfg.Env = os.Environ()
	}
	cfg.Env = mergeEnv(cfg.Env, env)
	if *trace {
		cfg.Trace = stderr
	}
	if err := cont.apply(&cfg); err != nil {
		if !cont.failed(err.Error()) {
			fmt.Fprintf(stderr, "km: %v\n", err)
		}
		return 2
	}
	status, err := runtime.Run(context.Background(), cfg)
	if err != nil {
		if !cont.failed(explain(err, *device)) {
			fmt.Fprintf(stderr, "km: %v\n", explain(err, *device))
		}
		switch {
		case errors.Is(err, runtime.ErrNotFound):
			return exitNotFound
		case errors.Is(err, runtime.ErrBadExecutable):
			return exitCannotExec
		}
		return exitMonitorError
	}
	return status.Status()
}

// explain adds what to do to errors whose cure is on the host.
func explain(err error, device string) string {
	if errors.Is(err, kvm.ErrNoDevice) {
		return fmt.Sprintf("%v (is the kvm module loaded and %s readable and writable by you? `km check` tells more)", err, device)
	}
	return err.Error()
}

// mergeEnv applies KEY=VALUE overrides to env, keeping its order.
func mergeEnv(env, overrides []string) []string {
	out := append([]string(nil), env...)
	for _, kv := range overrides {
		key, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, e := range out {
			if k, _, _ := strings.Cut(e, "="); k == key {
				out[i], replaced = kv, true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

func parseSize(s string) (uint64, error) {
	mult := uint64(1)
	switch {
	case strings.HasSuffix(s, "K"), strings.HasSuffix(s, "k"):
		mult = 1 << 10
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult = 1 << 20
	case strings.HasSuffix(s, "G"), strings.HasSuffix(s, "g"):
		mult = 1 << 30
	case strings.HasSuffix(s, "T"), strings.HasSuffix(s, "t"):
		mult = 1 << 40
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("want a size such as 512M or 2G")
	}
	return n * mult, nil
}

// check reports what the host offers km.
func check(device string, stdout, stderr io.Writer) int {
	sys, err := kvm.Open(device)
	if err != nil {
		fmt.Fprintf(stderr, "km: %s\n", explain(err, device))
		return 1
	}
	defer sys.Close()
	backend := kvm.ProbeBackend()
	fmt.Fprintf(stdout, "device:          %s\n", device)
	fmt.Fprintf(stdout, "api version:     %d\n", kvm.APIVersion)
	fmt.Fprintf(stdout, "backend:         %s\n", backend)
	fmt.Fprintf(stdout, "vcpu mmap size:  %d\n", sys.VCPUMmapSize())
	caps := []struct {
		name string
		cap  kvm.Cap
		need bool
	}{
		{"sync regs", kvm.CapSyncRegs, true},
		{"immediate exit", kvm.CapImmediateExit, true},
		{"xcrs", kvm.CapXCRs, false},
		{"xsave2", kvm.CapXsave2, false},
		{"max vcpus", kvm.CapMaxVCPUs, false},
		{"memslots", kvm.CapNrMemslots, false},
	}
	ok := true
	for _, c := range caps {
		v := sys.CheckExtension(c.cap)
		fmt.Fprintf(stdout, "%-16s %d\n", c.name+":", v)
		if c.need && v == 0 {
			ok = false
		}
	}
	if !ok {
		fmt.Fprintf(stderr, "km: %s lacks a capability km needs (kernel too old)\n", device)
		return 1
	}
	fmt.Fprintf(stdout, "km can run here\n")
	return 0
}
