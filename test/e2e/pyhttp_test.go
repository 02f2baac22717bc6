package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pyHTTPServer is an http.server like the seed's micro_srv.py: a threading
// server on the given port that prints "listening" once bound, and with
// "handle" runs a SIGTERM handler that shuts the server down cleanly.
const pyHTTPServer = `
import http.server, signal, sys, threading

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("hello from km " + self.path + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
if len(sys.argv) > 2 and sys.argv[2] == "handle":
    def term(sig, frame):
        print("SIGTERM handler ran", flush=True)
        threading.Thread(target=srv.shutdown).start()
    signal.signal(signal.SIGTERM, term)
print("listening", flush=True)
srv.serve_forever()
print("served", flush=True)
`

// Acceptance 2 of issue 3: a Python HTTP server under km answers 200
// sequential and 50 concurrent requests from a host client, then ends on
// SIGTERM: 0 after its handler ran, or 143 without one.
func TestPythonHTTPServer(t *testing.T) {
	root := pythonRoot(t)
	for _, handle := range []bool{true, false} {
		name := "default-sigterm"
		if handle {
			name = "sigterm-handler"
		}
		t.Run(name, func(t *testing.T) {
			port := freePort(t)
			script := filepath.Join(root, "tmp", "srv-"+name+".py")
			writeFile(t, script, []byte(pyHTTPServer), 0o644)
			args := []string{"--root", root, "/usr/bin/python3", "/tmp/" + filepath.Base(script), fmt.Sprint(port)}
			if handle {
				args = append(args, "handle")
			}
			cmd := exec.Command(kmBin, args...)
			cmd.Env = baseEnv
			lines, stderr := startLines(t, cmd)
			defer cmd.Process.Kill()
			expectLine(t, lines, "listening", stderr)

			url := fmt.Sprintf("http://127.0.0.1:%d", port)
			get := func(path string) error { return httpGet(url+path, "hello from km "+path+"\n") }
			for i := 0; i < 200; i++ {
				if err := get(fmt.Sprintf("/seq/%d", i)); err != nil {
					t.Fatalf("sequential request %d: %v", i, err)
				}
			}
			var wg sync.WaitGroup
			errs := make(chan error, 50)
			for i := 0; i < 50; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					errs <- get(fmt.Sprintf("/par/%d", i))
				}(i)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("concurrent request: %v", err)
				}
			}

			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if handle {
				expectLine(t, lines, "SIGTERM handler ran", stderr)
				expectLine(t, lines, "served", stderr)
			}
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				t.Fatalf("server did not exit after SIGTERM; stderr:\n%s", stderr.String())
			}
			want := 143
			if handle {
				want = 0
			}
			if got := exitStatus(cmd.ProcessState); got != want {
				t.Errorf("exit status %d, want %d; stderr:\n%s", got, want, stderr.String())
			}
		})
	}
}

// httpGet fetches url and checks for a 200 with body want.
func httpGet(url, want string) error {
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || string(body) != want {
		return fmt.Errorf("GET %s: %d %q, want %q", url, resp.StatusCode, body, want)
	}
	return nil
}

// startLines starts cmd and returns its stdout lines as they come, and its
// stderr so far.
func startLines(t *testing.T, cmd *exec.Cmd) (<-chan string, *strings.Builder) {
	t.Helper()
	stderr := &strings.Builder{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return lines, stderr
}

func expectLine(t *testing.T, lines <-chan string, want string, stderr *strings.Builder) {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok || l != want {
			t.Fatalf("got line %q (open=%v), want %q; stderr:\n%s", l, ok, want, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("timed out waiting for %q; stderr:\n%s", want, stderr.String())
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
