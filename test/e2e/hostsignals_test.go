package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Signals sent to the km process from outside (a supervisor, a terminal,
// containerd's kill) reach the guest: its handlers run, or the default
// action ends it with 128+signal.
func TestHostSignals(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		send    []syscall.Signal
		want    []string
		wantRaw int // exit status
	}{
		{"term-default", nil, []syscall.Signal{syscall.SIGTERM}, nil, 143},
		{"int-default", nil, []syscall.Signal{syscall.SIGINT}, nil, 130},
		{"hup-default", nil, []syscall.Signal{syscall.SIGHUP}, nil, 129},
		{"usr1-default", nil, []syscall.Signal{syscall.SIGUSR1}, nil, 138},
		{"kill", nil, []syscall.Signal{syscall.SIGKILL}, nil, 137},
		{"handled", []string{"handle"}, []syscall.Signal{syscall.SIGUSR1, syscall.SIGWINCH, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM},
			[]string{"caught 10", "caught 28", "caught 1", "caught 2", "caught 15", "clean exit"}, 0},
	}
	for _, f := range cFlavours {
		for _, c := range cases {
			t.Run(f.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				bin := filepath.Join(buildDir, f.name, "waitsig")
				cmd := exec.Command(kmBin, append([]string{bin}, c.args...)...)
				stdinR, stdinW, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				defer stdinW.Close()
				cmd.Stdin = stdinR
				out, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				stdinR.Close()
				lines := make(chan string, 16)
				go func() {
					sc := bufio.NewScanner(out)
					for sc.Scan() {
						lines <- sc.Text()
					}
					close(lines)
				}()
				expect := func(want string) {
					select {
					case l := <-lines:
						if l != want {
							t.Errorf("got line %q, want %q", l, want)
						}
					case <-time.After(30 * time.Second):
						t.Errorf("timed out waiting for %q", want)
					}
				}
				expect("ready")
				for i, s := range c.send {
					if err := cmd.Process.Signal(s); err != nil {
						t.Fatal(err)
					}
					if i < len(c.want) {
						expect(c.want[i])
					}
				}
				for i := len(c.send); i < len(c.want); i++ {
					expect(c.want[i])
				}
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case <-done:
				case <-time.After(30 * time.Second):
					cmd.Process.Kill()
					t.Fatal("km did not exit")
				}
				if got := exitStatus(cmd.ProcessState); got != c.wantRaw {
					t.Errorf("exit status %d, want %d", got, c.wantRaw)
				}
			})
		}
	}
}

// exitStatus is the shell's view: code, or 128+signal.
func exitStatus(ps *os.ProcessState) int {
	ws := ps.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
