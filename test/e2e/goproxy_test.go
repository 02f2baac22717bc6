package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Acceptance 3 of issue 3: a static Go server shaped like Knative's
// queue-proxy (GOMAXPROCS=2, a reverse proxy to another local port, timers,
// a SIGTERM handler) serves concurrent load under km and drains in-flight
// requests on SIGTERM, exiting 0 — natively and under km alike.
func TestGoProxyServer(t *testing.T) {
	bin := filepath.Join(buildDir, goFlavour.name, "goproxy")
	for _, mode := range []string{"native", "km"} {
		t.Run(mode, func(t *testing.T) {
			port, backend := freePort(t), freePort(t)
			argv := []string{bin, fmt.Sprint(port), fmt.Sprint(backend)}
			if mode == "km" {
				argv = append([]string{kmBin}, argv...)
			}
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = append(append([]string{}, baseEnv...), "GOMAXPROCS=2")
			lines, stderr := startLines(t, cmd)
			defer cmd.Process.Kill()
			expectLine(t, lines, "listening procs=2", stderr)

			base := fmt.Sprintf("http://127.0.0.1:%d", port)
			get := func(path, want string) error { return httpGet(base+path, want) }
			if err := get("/healthz", "ok procs=2\n"); err != nil {
				t.Fatal(err)
			}
			// 400 proxied requests, 20 at a time.
			var wg sync.WaitGroup
			errs := make(chan error, 400)
			sem := make(chan struct{}, 20)
			for i := 0; i < 400; i++ {
				wg.Add(1)
				sem <- struct{}{}
				go func(i int) {
					defer wg.Done()
					defer func() { <-sem }()
					p := fmt.Sprintf("/load/%d", i)
					errs <- get(p, "backend says "+p+"\n")
				}(i)
			}
			wg.Wait()
			// Requests still in flight when SIGTERM arrives complete.
			inflight := make(chan error, 5)
			for i := 0; i < 5; i++ {
				go func(i int) {
					p := fmt.Sprintf("/slow/%d", i)
					inflight <- get(p+"?sleep=300ms", "backend says "+p+"\n")
				}(i)
			}
			time.Sleep(100 * time.Millisecond)
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 5; i++ {
				if err := <-inflight; err != nil {
					t.Errorf("in-flight request: %v", err)
				}
			}
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("load: %v", err)
				}
			}
			expectLine(t, lines, "drained: served=405 ticking=true", stderr)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				t.Fatalf("no exit after SIGTERM; stderr:\n%s", stderr.String())
			}
			if got := exitStatus(cmd.ProcessState); got != 0 {
				t.Errorf("exit status %d, want 0; stderr:\n%s", got, stderr.String())
			}
		})
	}
}
