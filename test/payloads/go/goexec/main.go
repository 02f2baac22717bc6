// Command goexec runs child processes with os/exec (clone with
// CLONE_VFORK|CLONE_VM, execve, pipes, wait4/waitid): itself in child
// modes and, when given, another program.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "child-upper":
			b, _ := io.ReadAll(os.Stdin)
			fmt.Print(strings.ToUpper(string(b)))
			return
		case "child-exit":
			fmt.Fprintln(os.Stderr, "child writes to stderr")
			os.Exit(7)
		}
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Println("FAIL os.Executable:", err)
		os.Exit(1)
	}
	cmd := exec.Command(self, "child-upper")
	cmd.Stdin = strings.NewReader("through a pipe\n")
	out, err := cmd.Output()
	fmt.Printf("child-upper: %q err=%v\n", out, err)

	cmd = exec.Command(self, "child-exit")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		fmt.Printf("child-exit: code %d stderr %q\n", ee.ExitCode(), stderr.String())
	} else {
		fmt.Println("FAIL child-exit:", err)
	}

	_, err = exec.Command("/nonexistent/program").Output()
	fmt.Printf("missing program: %v\n", errors.Is(err, os.ErrNotExist))

	for _, argv := range os.Args[1:] {
		// Other programs named on the command line, e.g. /bin/echo.
		out, err := exec.Command(argv, "x").Output()
		fmt.Printf("%s x: %q err=%v\n", argv, out, err)
	}
}
