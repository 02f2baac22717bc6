package bench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kmvm/km/test/pyroot"
)

const pyServer = `
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
print("listening", flush=True)
srv.serve_forever()
`

// server is one HTTP server under test, started natively or under km.
type server struct {
	cmd    *exec.Cmd
	port   int
	stderr strings.Builder
}

func freePort(b *testing.B) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer runs argv (with {port} and {port2} replaced) and waits for its
// first output line.
func startServer(b *testing.B, argv []string, env ...string) *server {
	s := &server{port: freePort(b)}
	port2 := freePort(b)
	for i, a := range argv {
		a = strings.ReplaceAll(a, "{port}", strconv.Itoa(s.port))
		argv[i] = strings.ReplaceAll(a, "{port2}", strconv.Itoa(port2))
	}
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stderr = &s.stderr
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		line <- l
		io.Copy(io.Discard, out)
	}()
	select {
	case <-line:
	case <-time.After(60 * time.Second):
		s.stop()
		b.Fatalf("%v did not start", argv)
	}
	return s
}

func (s *server) stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// load sends n GET requests from conc clients and returns requests/second.
func (s *server) load(b *testing.B, n, conc int) float64 {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}, Timeout: 30 * time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d/bench", s.port)
	var wg sync.WaitGroup
	work := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		work <- struct{}{}
	}
	close(work)
	var failed sync.Once
	start := time.Now()
	for c := 0; c < conc; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				resp, err := client.Get(url)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != 200 {
					failed.Do(func() { b.Errorf("GET: %v", err) })
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkHTTP measures requests/second of the Go server shaped like
// Knative's queue-proxy (test/payloads/go/goproxy: a reverse proxy to a
// backend in the same process) and of Python's http.server, natively and
// under km, 8 concurrent keep-alive clients. Each b.N is one batch of 400
// requests; the metric is the mean rate over the batches.
func BenchmarkHTTP(b *testing.B) {
	root := pythonServerRoot(b)
	goproxy := buildGoproxy(b)
	cases := []struct {
		name string
		argv []string
	}{
		{"go/native", []string{goproxy, "{port}", "{port2}"}},
		{"go/km", []string{kmBin, goproxy, "{port}", "{port2}"}},
		{"python/native", []string{pyroot.Python, filepath.Join(root, "tmp", "bench-srv.py"), "{port}"}},
		{"python/km", []string{kmBin, "--root", root, pyroot.Python, "/tmp/bench-srv.py", "{port}"}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s := startServer(b, append([]string(nil), c.argv...), "GOMAXPROCS=2")
			defer s.stop()
			s.load(b, 100, 8) // warm up
			b.ResetTimer()
			var sum float64
			for i := 0; i < b.N; i++ {
				sum += s.load(b, 400, 8)
			}
			b.ReportMetric(sum/float64(b.N), "req/s")
		})
	}
}

// BenchmarkMemoryOverhead reports what a km process holds in memory beyond
// its guest's pages: VmRSS minus the resident part of the guest memory
// mapping (the largest mapping, sized by --memory), for a program blocked
// in read(2), the Go server and the Python server, after some requests.
func BenchmarkMemoryOverhead(b *testing.B) {
	root := pythonServerRoot(b)
	goproxy := buildGoproxy(b)
	cases := []struct {
		name string
		argv []string
		http bool
	}{
		{"c-idle", []string{kmBin, payload["waitsig"]}, false},
		{"go-server", []string{kmBin, goproxy, "{port}", "{port2}"}, true},
		{"python-server", []string{kmBin, "--root", root, pyroot.Python, "/tmp/bench-srv.py", "{port}"}, true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var total, guest float64
			for i := 0; i < b.N; i++ {
				s := startServer(b, append([]string(nil), c.argv...), "GOMAXPROCS=2", "KM_DEBUG_GUEST_RANGE=1")
				if c.http {
					s.load(b, 200, 8)
				}
				var lo, hi uint64
				if _, err := fmt.Sscanf(strings.ReplaceAll(s.stderr.String(), "0x", ""), "km: guest memory at %x-%x", &lo, &hi); err != nil {
					s.stop()
					b.Fatalf("no guest range from km: %v (stderr %q)", err, s.stderr.String())
				}
				rss, g, err := rssSplit(s.cmd.Process.Pid, lo, hi)
				s.stop()
				if err != nil {
					b.Fatal(err)
				}
				total += rss
				guest += g
			}
			b.ReportMetric((total-guest)/float64(b.N)/(1<<20), "MiB-overhead")
			b.ReportMetric(guest/float64(b.N)/(1<<20), "MiB-guest")
		})
	}
}

// rssSplit reads /proc/pid/smaps: the total resident bytes, and those of
// the guest's memory, [lo, hi) (km reports it with KM_DEBUG_GUEST_RANGE).
func rssSplit(pid int, lo, hi uint64) (total, guest float64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	inGuest := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		if a, z, ok := strings.Cut(fields[0], "-"); ok {
			start, err1 := strconv.ParseUint(a, 16, 64)
			end, err2 := strconv.ParseUint(z, 16, 64)
			if err1 == nil && err2 == nil {
				inGuest = start >= lo && end <= hi
				continue
			}
		}
		if fields[0] == "Rss:" {
			kb, _ := strconv.ParseFloat(fields[1], 64)
			total += kb * 1024
			if inGuest {
				guest += kb * 1024
			}
		}
	}
	return total, guest, sc.Err()
}

// pythonRoot builds the python root once per run.
func pythonRoot(b *testing.B) string {
	root := filepath.Join(dir, "pyroot")
	if _, err := os.Stat(root); err != nil {
		if err := os.MkdirAll(root, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := pyroot.Build(root); err != nil {
			b.Fatal(err)
		}
	}
	return root
}

func buildGoproxy(b *testing.B) string {
	goproxy := filepath.Join(dir, "goproxy")
	if err := run("go", "build", "-o", goproxy, filepath.Join(repoRoot(), "test/payloads/go/goproxy")); err != nil {
		b.Fatal(err)
	}
	return goproxy
}

// pythonServerRoot is the python root with the server script in its /tmp.
func pythonServerRoot(b *testing.B) string {
	root := pythonRoot(b)
	script := filepath.Join(root, "tmp", "bench-srv.py")
	os.MkdirAll(filepath.Dir(script), 0o1777)
	if err := os.WriteFile(script, []byte(pyServer), 0o644); err != nil {
		b.Fatal(err)
	}
	return root
}
