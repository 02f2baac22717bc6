package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kmvm/km/runtime"
)

// containerFlags are what a container runtime (containerd-shim-km-v2) needs
// on top of the plain CLI: a create/start split and the process's identity.
type containerFlags struct {
	syncFD  int    // descriptor of the runtime's end of the start handshake, or -1
	user    string // UID:GID[:G1,G2...] to drop to before the guest runs
	noNewPr bool
	host    string // hostname to set (the runtime gives km its own UTS namespace)
	mounts  string // JSON file of OCI mounts to apply inside --root
	roRoot  bool
	capsJS  string // the spec's process.capabilities as JSON
	caps    *capSets
	seccomp string // the spec's linux.seccomp: a JSON file, or inline JSON
	sync    *os.File
}

// Handshake messages on --sync-fd (one write each).
const (
	syncReady = 'R' // km -> runtime: program loaded, VM built, waiting
	syncError = 'E' // km -> runtime: followed by the one-line error
	syncStart = 'S' // runtime -> km: run the guest
	syncGo    = 'G' // runtime -> km: placed in the cgroup, begin loading
)

func (c *containerFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&c.syncFD, "sync-fd", -1, "container runtimes: report load success on `FD` and wait for a start byte before running the guest")
	fs.StringVar(&c.user, "user", "", "drop to `UID:GID[:GROUPS]` (GROUPS comma-separated) once the VM is built")
	fs.BoolVar(&c.noNewPr, "no-new-privs", false, "set no_new_privs before the guest runs")
	fs.StringVar(&c.mounts, "mounts", "", "container runtimes: apply the OCI mounts in JSON `FILE` inside --root (needs a private mount namespace)")
	fs.BoolVar(&c.roRoot, "readonly-root", false, "container runtimes: make --root read-only (needs a private mount namespace)")
	fs.StringVar(&c.capsJS, "capabilities", "", "container runtimes: keep only the capability sets in `JSON` (the OCI spec's process.capabilities)")
	fs.StringVar(&c.seccomp, "seccomp", "", "filter the guest's syscalls with the OCI seccomp profile (linux.seccomp) in JSON `FILE` (or inline JSON)")
	fs.StringVar(&c.host, "hostname", "", "set the UTS hostname to `NAME` (only in a private UTS namespace)")
}

// apply installs the Ready hook that drops privileges and, with --sync-fd,
// waits for the runtime's go-ahead.
func (c *containerFlags) apply(cfg *runtime.Config) error {
	if c.syncFD < 0 && c.user == "" && !c.noNewPr && c.host == "" && c.mounts == "" && !c.roRoot && c.capsJS == "" && c.seccomp == "" {
		return nil
	}
	if c.capsJS != "" {
		var err error
		if c.caps, err = parseCaps(c.capsJS); err != nil {
			return err
		}
	}
	var uid, gid int
	var groups []int
	if c.user != "" {
		parts := strings.Split(c.user, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return fmt.Errorf("--user %q: want UID:GID[:GROUPS]", c.user)
		}
		var err error
		if uid, err = strconv.Atoi(parts[0]); err != nil || uid < 0 {
			return fmt.Errorf("--user %q: bad uid", c.user)
		}
		if gid, err = strconv.Atoi(parts[1]); err != nil || gid < 0 {
			return fmt.Errorf("--user %q: bad gid", c.user)
		}
		if len(parts) == 3 && parts[2] != "" {
			for _, g := range strings.Split(parts[2], ",") {
				n, err := strconv.Atoi(g)
				if err != nil || n < 0 {
					return fmt.Errorf("--user %q: bad group %q", c.user, g)
				}
				groups = append(groups, n)
			}
		}
	}
	if c.syncFD >= 0 {
		c.sync = os.NewFile(uintptr(c.syncFD), "sync")
		unix.CloseOnExec(c.syncFD)
		// Nothing (not even opening /dev/kvm) happens before the runtime
		// has put this process in the container's cgroup.
		var b [1]byte
		if n, _ := c.sync.Read(b[:]); n != 1 || b[0] != syncGo {
			return errAborted
		}
	}
	if c.seccomp != "" {
		// After the go-ahead, so that a bad profile reaches the runtime as
		// a Create error.
		f, err := loadSeccomp(c.seccomp)
		if err != nil {
			return err
		}
		cfg.Seccomp = f
	}
	if c.mounts != "" || c.roRoot {
		if err := applyMounts(cfg.Root, c.mounts, c.roRoot); err != nil {
			return err
		}
	}
	cfg.Ready = func() error {
		if c.host != "" {
			if err := unix.Sethostname([]byte(c.host)); err != nil {
				return fmt.Errorf("sethostname: %w", err)
			}
		}
		// Privileges go next: the guest must never run with more than
		// the spec grants, and Go applies these to every thread.
		if c.caps != nil {
			if err := c.caps.dropBounding(); err != nil {
				return err
			}
			if err := keepCaps(true); err != nil {
				return err
			}
		}
		if c.user != "" {
			if err := unix.Setgroups(groups); err != nil {
				return fmt.Errorf("setgroups: %w", err)
			}
			if err := unix.Setgid(gid); err != nil {
				return fmt.Errorf("setgid %d: %w", gid, err)
			}
			if err := unix.Setuid(uid); err != nil {
				return fmt.Errorf("setuid %d: %w", uid, err)
			}
		}
		if c.caps != nil {
			if err := keepCaps(false); err != nil {
				return err
			}
			if err := c.caps.apply(uid); err != nil {
				return err
			}
		}
		if c.noNewPr {
			// Per thread in Linux: every monitor thread, not just this one.
			if err := allThreads("no_new_privs", unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); err != nil {
				return err
			}
		}
		if c.sync == nil {
			return nil
		}
		if _, err := c.sync.Write([]byte{syncReady}); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
		var b [1]byte
		n, err := c.sync.Read(b[:])
		c.sync.Close()
		c.sync = nil
		if n != 1 || b[0] != syncStart {
			return errAborted
		}
		return err
	}
	return nil
}

// errAborted: the runtime closed the handshake without starting the guest
// (the container was deleted before Start).
var errAborted = errors.New("not started: the runtime went away before Start")

// failed reports a load error to the runtime waiting on --sync-fd, and
// whether it did (then the runtime shows it; the guest's stderr stays clean).
func (c *containerFlags) failed(msg string) bool {
	if c.sync == nil {
		return false
	}
	_, err := c.sync.Write(append([]byte{syncError}, msg...))
	c.sync.Close()
	c.sync = nil
	return err == nil
}
