package main

// Capabilities: the monitor serves every guest syscall with its own
// credentials, so it must hold no more than the spec grants the container
// process. The sets are applied the way runc applies them: bounding set
// first (that needs CAP_SETPCAP), then the user switch with keep-caps on,
// then effective/permitted/inheritable, then ambient. Capabilities are
// per thread in Linux; syscall.AllThreadsSyscall applies each step to
// every thread of the monitor, vCPU threads included.

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// capNumbers are the capability numbers of <linux/capability.h>.
var capNumbers = map[string]int{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4,
	"CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
	"CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
	"CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15, "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18,
	"CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
	"CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27, "CAP_LEASE": 28,
	"CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32,
	"CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36,
	"CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39, "CAP_CHECKPOINT_RESTORE": 40,
}

// capSets is a spec's capabilities as bit masks.
type capSets struct {
	bounding, effective, permitted, inheritable, ambient uint64
}

// parseCaps reads the --capabilities JSON (the spec's process.capabilities).
// Capabilities this kernel does not know are left out, as runc does.
func parseCaps(js string) (*capSets, error) {
	var c specs.LinuxCapabilities
	if err := json.Unmarshal([]byte(js), &c); err != nil {
		return nil, fmt.Errorf("--capabilities: %v", err)
	}
	last := lastCap()
	mask := func(names []string) (uint64, error) {
		var m uint64
		for _, n := range names {
			nr, ok := capNumbers[strings.ToUpper(n)]
			if !ok {
				return 0, fmt.Errorf("--capabilities: unknown capability %q", n)
			}
			if nr <= last {
				m |= 1 << nr
			}
		}
		return m, nil
	}
	var s capSets
	var err error
	for _, f := range []struct {
		dst   *uint64
		names []string
	}{{&s.bounding, c.Bounding}, {&s.effective, c.Effective}, {&s.permitted, c.Permitted},
		{&s.inheritable, c.Inheritable}, {&s.ambient, c.Ambient}} {
		if *f.dst, err = mask(f.names); err != nil {
			return nil, err
		}
	}
	return &s, nil
}

// lastCap is the highest capability this kernel has.
func lastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 40
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 40
	}
	return n
}

func allThreads(what string, trap, a1, a2, a3 uintptr) error {
	if _, _, e := syscall.AllThreadsSyscall(trap, a1, a2, a3); e != 0 {
		return fmt.Errorf("%s: %w", what, e)
	}
	return nil
}

// dropBounding removes from the bounding set every capability not in it.
func (s *capSets) dropBounding() error {
	for nr := 0; nr <= lastCap(); nr++ {
		if s.bounding&(1<<nr) == 0 {
			if err := allThreads("drop "+capName(nr)+" from the bounding set", unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(nr), 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// keepCaps keeps the permitted set across the user switch (PR_SET_KEEPCAPS).
func keepCaps(on bool) error {
	v := uintptr(0)
	if on {
		v = 1
	}
	return allThreads("keep capabilities", unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, v, 0)
}

func capset(effective, permitted, inheritable uint64) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for i := range data {
		data[i] = unix.CapUserData{
			Effective:   uint32(effective >> (32 * i)),
			Permitted:   uint32(permitted >> (32 * i)),
			Inheritable: uint32(inheritable >> (32 * i)),
		}
	}
	return allThreads("capset", unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
}

// apply sets the spec's effective, permitted and inheritable sets and
// raises its ambient ones, then does what execve(2) of the program would
// do to them, since km runs the program without an execve of its own: for
// uid 0, permitted and effective become inheritable | bounding; for any
// other uid, both become the ambient set (a program file has no file
// capabilities here). The result never exceeds the spec's permitted set:
// capset(2) cannot raise it, so where Linux's exec would grant more (uid 0,
// a bounding set larger than permitted, no no_new_privs), km keeps less.
func (s *capSets) apply(uid int) error {
	if err := capset(s.effective, s.permitted, s.inheritable); err != nil {
		return err
	}
	if err := allThreads("clear ambient capabilities", unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); err != nil {
		return err
	}
	for nr := 0; nr <= lastCap(); nr++ {
		if s.ambient&(1<<nr) != 0 {
			// Linux refuses an ambient capability that is not both
			// permitted and inheritable; runc ignores that too.
			allThreads("raise ambient "+capName(nr), unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(nr))
		}
	}
	ambient := s.ambient & s.permitted & s.inheritable // what Linux let us raise
	permitted := ambient
	if uid == 0 {
		permitted = s.inheritable | s.bounding
	}
	permitted &= s.permitted // capset cannot add
	effective := ambient
	if uid == 0 {
		effective = permitted
	}
	return capset(effective, permitted, s.inheritable)
}

func capName(nr int) string {
	for n, v := range capNumbers {
		if v == nr {
			return n
		}
	}
	return "capability " + strconv.Itoa(nr)
}
