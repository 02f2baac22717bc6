package shim_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// hangReport describes, for a ctr command that ran past ctrTimeout, where
// each party waits: the shims' and containerd's goroutines (SIGUSR1 makes
// both log them), and every ctr, containerd, shim and km thread's kernel
// state and stack. It is returned as text for the failing test's message.
func (d *daemon) hangReport(args []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n=== ctr %s: no answer by its deadline; hang report ===\n", strings.Join(args, " "))
	procs := interestingProcs()
	for _, p := range procs {
		if p.comm == "containerd-shim" || p.comm == "containerd" {
			syscall.Kill(p.pid, syscall.SIGUSR1)
		}
	}
	time.Sleep(time.Second) // the dumps go through the shims' log FIFOs
	for _, p := range procs {
		fmt.Fprintf(&b, "pid %d ppid %d %s: %s\n", p.pid, p.ppid, p.comm, p.cmdline)
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", p.pid))
		for _, task := range tasks {
			stat, _ := os.ReadFile(task + "/stat")
			wchan, _ := os.ReadFile(task + "/wchan")
			fmt.Fprintf(&b, "  tid %s state %s wchan %s\n", filepath.Base(task), procState(stat), wchan)
			if p.comm == "km" || p.comm == "ctr" {
				stack, _ := os.ReadFile(task + "/stack")
				for _, l := range strings.Split(strings.TrimSpace(string(stack)), "\n") {
					fmt.Fprintf(&b, "    %s\n", l)
				}
			}
		}
	}
	if log, err := os.ReadFile(d.logPath); err == nil {
		lines := strings.Split(string(log), "\n")
		if len(lines) > 400 {
			lines = lines[len(lines)-400:]
		}
		fmt.Fprintf(&b, "--- last lines of %s log:\n%s\n", d.name, strings.Join(lines, "\n"))
	}
	b.WriteString("=== end of hang report ===\n")
	return b.String()
}

type procInfo struct {
	pid, ppid     int
	comm, cmdline string
}

// interestingProcs lists the processes a ctr command waits on.
func interestingProcs() []procInfo {
	var out []procInfo
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		comm, err := os.ReadFile(dir + "/comm")
		if err != nil {
			continue
		}
		name := strings.TrimSpace(string(comm))
		switch name {
		case "ctr", "containerd", "containerd-shim", "km":
		default:
			continue
		}
		p := procInfo{comm: name}
		fmt.Sscanf(filepath.Base(dir), "%d", &p.pid)
		stat, _ := os.ReadFile(dir + "/stat")
		if i := bytes.LastIndexByte(stat, ')'); i > 0 {
			var state string
			fmt.Sscanf(string(stat[i+1:]), " %s %d", &state, &p.ppid)
		}
		cmd, _ := os.ReadFile(dir + "/cmdline")
		p.cmdline = strings.Join(strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00"), " ")
		out = append(out, p)
	}
	return out
}

// procState is the state letter from a /proc/PID/stat line.
func procState(stat []byte) string {
	if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+3 <= len(stat) {
		return string(stat[i+2 : i+3])
	}
	return "?"
}

// logAbout returns containerd's log lines (the shims' included) that name
// id, for a failure message; the kernel's last lines, in case something
// outside km (the OOM killer) ended the container.
func (d *daemon) logAbout(id string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s log lines naming %s:\n", d.name, id)
	if log, err := os.ReadFile(d.logPath); err == nil {
		for _, l := range strings.Split(string(log), "\n") {
			if strings.Contains(l, id) {
				b.WriteString(l + "\n")
			}
		}
	}
	if out, err := exec.Command("dmesg").Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		fmt.Fprintf(&b, "--- dmesg tail:\n%s\n", strings.Join(lines, "\n"))
	}
	return b.String()
}
