package cri_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/kmvm/km/test/ociimage"
)

// streamImage holds Debian's static busybox (scripts/install-test-deps.sh
// installs busybox-static) with the applets the streaming tests run, and a
// file for its httpd to serve.
const streamImage = "docker.io/kmtest/busybox:1"

// busyboxApplets get a /bin symlink each: Debian's busybox runs applets
// only by name (no standalone shell).
var busyboxApplets = []string{"sh", "cat", "stty", "httpd", "wget", "sleep"}

// httpPort is where the pod's httpd listens, on the pod's 127.0.0.1 only:
// port-forward must reach it inside the pod's network namespace.
const httpPort = 18081

// wwwSize is the served file's size: more than one SPDY data frame and
// more than a socket buffer's worth, so flow control is exercised.
const wwwSize = 256 << 10

var (
	streamOnce sync.Once
	streamTar  string
	streamErr  error
)

// wwwFile is the served file's content: lines with their offset, so a
// truncated or reordered copy shows.
func wwwFile() []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < wwwSize; i++ {
		fmt.Fprintf(&b, "line %06d of the file served through port-forward\n", i)
	}
	return b.Bytes()[:wwwSize]
}

// buildStreamImage packs the busybox image, once per suite.
func buildStreamImage() (string, error) {
	streamOnce.Do(func() {
		dir := filepath.Join(work, "busyboxroot")
		streamErr = func() error {
			for _, d := range []string{"bin", "www", "tmp", "etc"} {
				if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
					return err
				}
			}
			bb, err := os.ReadFile("/bin/busybox")
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), bb, 0o755); err != nil {
				return err
			}
			for _, a := range busyboxApplets {
				if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil {
					return err
				}
			}
			if err := os.WriteFile(filepath.Join(dir, "www/file.txt"), wwwFile(), 0o644); err != nil {
				return err
			}
			layer, err := ociimage.DirLayer(dir)
			if err != nil {
				return err
			}
			img, err := ociimage.Layout(streamImage, layer, []string{"/bin/sh"})
			if err != nil {
				return err
			}
			streamTar = filepath.Join(work, "busybox.tar")
			return os.WriteFile(streamTar, img, 0o644)
		}()
		os.RemoveAll(dir)
	})
	return streamTar, streamErr
}

// streamResult is what one handler's pod showed on the streaming paths;
// km's must equal runc's.
type streamResult struct {
	ExecOut, ExecErr string // non-TTY exec: stdout and stderr
	ExecCode         int    // its exit code
	ExecZero         error  // a zero exit: no error
	TTYSizes         []string
	TTYCode          int
	AttachLine       string
	AttachCode       int32
	PipeOut          string // non-TTY attach: its stdout, as the CRI log has it
	PipeCode         int32
	Forwarded        string // the HTTP status and body size through port-forward
}

// TestStream covers CRI's streaming calls, as `kubectl exec -i`,
// `kubectl exec -it`, `kubectl attach -it`, `kubectl attach -i` and
// `kubectl port-forward` use them (the URL from Exec/Attach/PortForward, then SPDY to containerd's
// streaming server with client-go, as the API server's proxy does), in a
// km pod and in a runc pod with the same containers, which must show the
// same.
func TestStream(t *testing.T) {
	tarPath, err := buildStreamImage()
	if err != nil {
		t.Fatalf("busybox image: %v", err)
	}
	forEachDaemon(t, func(t *testing.T, d *daemon) {
		d.importImage(t, tarPath, streamImage)
		res := map[string]*streamResult{}
		for _, handler := range []string{kmHandler, "runc"} {
			r := &streamResult{}
			res[handler] = r
			t.Run(handler, func(t *testing.T) { streamPod(t, d, handler, r) })
		}
		if t.Failed() {
			return
		}
		if km, runc := fmt.Sprintf("%+v", *res[kmHandler]), fmt.Sprintf("%+v", *res["runc"]); km != runc {
			t.Errorf("km and runc differ:\nkm:   %s\nrunc: %s", km, runc)
		}
	})
}

// streamPod runs one pod with its own network namespace and drives the
// streaming paths in it.
func streamPod(t *testing.T, d *daemon, handler string, r *streamResult) {
	before := snapshot()
	p := runPod(t, d, podSpec{handler: handler, podNet: true})
	server := p.run("httpd", ctrSpec{image: streamImage}, "/bin/httpd", "-f", "-p", fmt.Sprintf("127.0.0.1:%d", httpPort), "-h", "/www")
	shell := p.run("shell", ctrSpec{image: streamImage, stdin: true, tty: true}, "/bin/sh")
	pipe := p.run("pipe", ctrSpec{image: streamImage, stdin: true, once: true}, "/bin/sh", "-c", "cat; echo to stderr >&2; exit 6")

	// An in-place resize before the execs: CRI sends the whole resources
	// section again, device rules included, and the execs' monitors must
	// still open /dev/kvm and the devices km binds.
	ctx, cancel := rpcCtx()
	_, err := d.rt.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: server,
		Linux: &runtimeapi.LinuxContainerResources{CpuShares: cpuShares, MemoryLimitInBytes: memoryLimit, OomScoreAdj: oomScoreAdj}})
	cancel()
	if err != nil {
		t.Fatalf("UpdateContainerResources: %v", err)
	}

	streamExec(t, p, server, r)
	streamTTY(t, p, server, r)
	streamAttach(t, p, shell, r)
	streamAttachPipe(t, p, pipe, r)
	streamPortForward(t, p, server, r)

	// The execs' monitors are gone: only the container's own is left.
	if handler == kmHandler {
		waitMonitors(t, server, 1)
	}
	// httpd has no SIGTERM handler, and under runc it is its pid
	// namespace's init, which ignores SIGTERM: the pod's stop kills it.
	p.remove()
	checkNoLeaks(t, before, d.shimSocket(p.id))
	checkNoCgroups(t, podCgroupParent(p.cfg.Metadata.Name))
}

// streamTimeout bounds each streaming session.
const streamTimeout = 60 * time.Second

// executor is client-go's SPDY client for a CRI streaming URL (containerd
// serves it on 127.0.0.1 without TLS; the API server would proxy it).
func executor(t *testing.T, rawURL string) remotecommand.Executor {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("streaming URL %q: %v", rawURL, err)
	}
	ex, err := remotecommand.NewSPDYExecutor(&rest.Config{}, http.MethodPost, u)
	if err != nil {
		t.Fatalf("SPDY executor: %v", err)
	}
	return ex
}

// exitCode is the exit code a stream's error carries (0 for none, -1 for
// an error that is not an exit).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee utilexec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitStatus()
	}
	return -1
}

// streamExec: `kubectl exec -i`: stdin piped in up to EOF, stdout and
// stderr apart, and the exit code as an exit error.
func streamExec(t *testing.T, p *pod, id string, r *streamResult) {
	in := wwwFile()
	ctx, cancel := rpcCtx()
	resp, err := p.d.rt.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: id, Stdin: true, Stdout: true, Stderr: true,
		Cmd: []string{"/bin/sh", "-c", "cat; echo to stderr >&2; exit 3"}})
	cancel()
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	var out, errOut bytes.Buffer
	sctx, scancel := context.WithTimeout(context.Background(), streamTimeout)
	err = executor(t, resp.Url).StreamWithContext(sctx, remotecommand.StreamOptions{Stdin: bytes.NewReader(in), Stdout: &out, Stderr: &errOut})
	scancel()
	r.ExecCode = exitCode(err)
	if r.ExecCode != 3 {
		t.Errorf("exec: %v (exit code %d), want exit code 3", err, r.ExecCode)
	}
	if !bytes.Equal(out.Bytes(), in) {
		t.Errorf("exec: stdout is %d bytes, not the %d of stdin (first 100: %q)", out.Len(), len(in), head(out.Bytes()))
	}
	r.ExecOut = fmt.Sprintf("%d bytes, equal %v", out.Len(), bytes.Equal(out.Bytes(), in))
	r.ExecErr = errOut.String()
	if r.ExecErr != "to stderr\n" {
		t.Errorf("exec: stderr %q", r.ExecErr)
	}

	// A zero exit is no error.
	ctx, cancel = rpcCtx()
	resp, err = p.d.rt.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: id, Stdout: true, Stderr: true, Cmd: []string{"/bin/sh", "-c", "echo ok"}})
	cancel()
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	out.Reset()
	sctx, scancel = context.WithTimeout(context.Background(), streamTimeout)
	r.ExecZero = executor(t, resp.Url).StreamWithContext(sctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut})
	scancel()
	if r.ExecZero != nil || out.String() != "ok\n" {
		t.Errorf("exec echo ok: %v, stdout %q", r.ExecZero, out.String())
	}
}

func head(b []byte) []byte {
	if len(b) > 100 {
		return b[:100]
	}
	return b
}

// sizeQueue is a TerminalSizeQueue fed by the test: kubectl's sends the
// local terminal's size at the start and on each SIGWINCH.
type sizeQueue chan remotecommand.TerminalSize

func (q sizeQueue) Next() *remotecommand.TerminalSize {
	s, ok := <-q
	if !ok {
		return nil
	}
	return &s
}

// terminal is the client's side of a streaming session with a tty: what
// the session printed so far, and a way to type.
type terminal struct {
	t    *testing.T
	in   *io.PipeWriter
	mu   sync.Mutex
	out  bytes.Buffer
	more chan struct{} // signalled on output
	done chan error    // the session's end
}

func (tm *terminal) Write(b []byte) (int, error) {
	tm.mu.Lock()
	tm.out.Write(b)
	tm.mu.Unlock()
	select {
	case tm.more <- struct{}{}:
	default:
	}
	return len(b), nil
}

func (tm *terminal) output() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.out.String()
}

// startTerminal streams a session with a tty in the background.
func startTerminal(t *testing.T, rawURL string, sizes sizeQueue) *terminal {
	pr, pw := io.Pipe()
	tm := &terminal{t: t, in: pw, more: make(chan struct{}, 1), done: make(chan error, 1)}
	ex := executor(t, rawURL)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), streamTimeout)
		defer cancel()
		err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: pr, Stdout: tm, Tty: true, TerminalSizeQueue: sizes})
		// Typing into an ended session fails instead of blocking.
		pr.CloseWithError(fmt.Errorf("the session ended: %v", err))
		tm.done <- err
	}()
	return tm
}

func (tm *terminal) typeLine(line string) {
	tm.t.Helper()
	if _, err := tm.in.Write([]byte(line + "\n")); err != nil {
		tm.t.Fatalf("typing %q: %v (output so far %q)", line, err, tm.output())
	}
}

// waitFor waits until the output matches re after offset from; it returns
// the match and the offset past it.
func (tm *terminal) waitFor(re *regexp.Regexp, from int, d time.Duration) ([]string, int, bool) {
	deadline := time.After(d)
	for {
		out := tm.output()
		if loc := re.FindStringSubmatchIndex(out[from:]); loc != nil {
			m := re.FindStringSubmatch(out[from:])
			return m, from + loc[1], true
		}
		select {
		case <-tm.more:
		case <-deadline:
			return nil, from, false
		case err := <-tm.done:
			tm.done <- err
			if out == tm.output() {
				return nil, from, false
			}
		}
	}
}

// end closes stdin and waits for the session's end.
func (tm *terminal) end() error {
	tm.in.Close()
	select {
	case err := <-tm.done:
		return err
	case <-time.After(streamTimeout):
		tm.t.Fatalf("the session did not end; output %q", tm.output())
		return nil
	}
}

// pollSize types `stty size` lines until the shell reports want: the size
// travels on its own stream, so the shell may see it a line later (or run
// the first one before any size is set).
func pollSize(t *testing.T, tm *terminal, want string, seq *int, from int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		*seq++
		tm.typeLine(fmt.Sprintf(`echo "size%d=$(stty size)"`, *seq))
		// Empty until the first size arrives (busybox's stty fails on 0x0);
		// never the echo of the typed line, which has "$(stty size)" there.
		re := regexp.MustCompile(fmt.Sprintf(`size%d=(\d+ \d+|)\r?\n`, *seq))
		m, next, ok := tm.waitFor(re, from, 10*time.Second)
		if !ok {
			t.Fatalf("tty: no answer to `stty size`; output %q", tm.output())
		}
		from, got = next, m[1]
		if got == want {
			return from
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("tty: `stty size` is %q, want %q; output %q", got, want, tm.output())
	return from
}

// streamTTY: `kubectl exec -it ID -- sh`: an interactive shell on a tty,
// the terminal's size and a resize reach it, and `exit 5` comes back as the
// session's exit code.
func streamTTY(t *testing.T, p *pod, id string, r *streamResult) {
	ctx, cancel := rpcCtx()
	resp, err := p.d.rt.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: id, Stdin: true, Stdout: true, Tty: true, Cmd: []string{"/bin/sh"}})
	cancel()
	if err != nil {
		t.Fatalf("Exec tty: %v", err)
	}
	sizes := make(sizeQueue, 2)
	sizes <- remotecommand.TerminalSize{Width: 80, Height: 24}
	tm := startTerminal(t, resp.Url, sizes)
	defer close(sizes)
	var n int
	from := pollSize(t, tm, "24 80", &n, 0)
	sizes <- remotecommand.TerminalSize{Width: 132, Height: 43}
	from = pollSize(t, tm, "43 132", &n, from)
	r.TTYSizes = []string{"24 80", "43 132"}
	// The shell's own output: arithmetic, so the echo of the typed line
	// cannot match.
	tm.typeLine(`echo "tty $((6*7))"`)
	if _, _, ok := tm.waitFor(regexp.MustCompile(`tty 42\r\n`), from, 10*time.Second); !ok {
		t.Errorf("tty: no `tty 42` line (with a CR: the tty's ONLCR) in %q", tm.output())
	}
	tm.typeLine("exit 5")
	err = tm.end()
	r.TTYCode = exitCode(err)
	if r.TTYCode != 5 {
		t.Errorf("tty: %v (exit code %d), want exit code 5; output %q", err, r.TTYCode, tm.output())
	}
}

// streamAttach: `kubectl attach -it` to a running shell started with
// stdin and a tty (as `kubectl run -it`): a typed line runs there, and the
// container ends with the shell's exit.
func streamAttach(t *testing.T, p *pod, id string, r *streamResult) {
	ctx, cancel := rpcCtx()
	resp, err := p.d.rt.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: id, Stdin: true, Stdout: true, Tty: true})
	cancel()
	if err != nil {
		t.Fatalf("Attach: %v", err)
	}
	sizes := make(sizeQueue, 1)
	sizes <- remotecommand.TerminalSize{Width: 100, Height: 30}
	tm := startTerminal(t, resp.Url, sizes)
	defer close(sizes)
	tm.typeLine(`echo "attached $((6*7))"`)
	m, _, ok := tm.waitFor(regexp.MustCompile(`(attached 42)\r\n`), 0, 20*time.Second)
	if !ok {
		t.Fatalf("attach: no `attached 42` line in %q", tm.output())
	}
	r.AttachLine = m[1]
	tm.typeLine("exit 4")
	s := p.waitExit(id)
	r.AttachCode = s.ExitCode
	if s.ExitCode != 4 {
		t.Errorf("attach: the shell's exit code %d (reason %q), want 4", s.ExitCode, s.Reason)
	}
	// The container's output ended: so does the session.
	if err := tm.end(); err != nil {
		t.Errorf("attach: the session ended with %v", err)
	}
}

// streamAttachPipe: `kubectl attach -i` (or `kubectl run -i`) to a
// container with stdin and StdinOnce but no tty: what is written reaches
// its stdin up to EOF, its stdout and stderr come back apart, and it ends
// with its own exit code.
//
// What containerd 1.6 streams back, and even what it logs, may lose its
// tail, for runc as for km: the attach session ends at the container's exit
// while up to a pipe's worth of output is still on its way (seen: 225280 and
// 229376 of 262144 bytes streamed, 163840 logged, under both runtimes). The
// session's output must be a prefix of what was sent; the container's CRI
// log, complete once containerd closes it, must have all of it on 2.2 and a
// prefix on 1.6.
func streamAttachPipe(t *testing.T, p *pod, id string, r *streamResult) {
	in := wwwFile()
	in = in[:bytes.LastIndexByte(in, '\n')+1] // whole lines, as the log keeps them
	ctx, cancel := rpcCtx()
	resp, err := p.d.rt.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: id, Stdin: true, Stdout: true, Stderr: true})
	cancel()
	if err != nil {
		t.Fatalf("Attach: %v", err)
	}
	var out, errOut bytes.Buffer
	sctx, scancel := context.WithTimeout(context.Background(), streamTimeout)
	err = executor(t, resp.Url).StreamWithContext(sctx, remotecommand.StreamOptions{Stdin: bytes.NewReader(in), Stdout: &out, Stderr: &errOut})
	scancel()
	if err != nil {
		t.Errorf("attach -i: %v", err)
	}
	if !bytes.HasPrefix(in, out.Bytes()) {
		t.Errorf("attach -i: stdout (%d bytes) is not what stdin sent (%d bytes; first 100: %q)", out.Len(), len(in), head(out.Bytes()))
	}
	if e := errOut.String(); e != "to stderr\n" && e != "" {
		t.Errorf("attach -i: stderr %q", e)
	}
	s := p.waitExit(id)
	r.PipeCode = s.ExitCode
	if s.ExitCode != 6 {
		t.Errorf("attach -i: exit code %d (reason %q), want 6", s.ExitCode, s.Reason)
	}
	lines := p.exitedLog("pipe")
	logged := strings.Join(stdout(lines), "\n") + "\n"
	if p.d.name == "containerd-1.6" {
		// containerd 1.6 also cuts what reaches the log at the exit, for
		// runc as for km (seen: 163840 and 196608 of 262132 bytes under
		// both); 2.2 does not.
		r.PipeOut = fmt.Sprintf("a prefix of stdin logged: %v", strings.HasPrefix(string(in), logged[:len(logged)-1]))
		if !strings.HasPrefix(string(in), logged[:len(logged)-1]) {
			t.Errorf("attach -i: the CRI log's stdout is not what stdin sent (%d bytes; first 100: %q)", len(logged), head([]byte(logged)))
		}
	} else if r.PipeOut = fmt.Sprintf("%d bytes logged, equal %v", len(logged), logged == string(in)); logged != string(in) {
		same := 0
		for same < min(len(logged), len(in)) && logged[same] == in[same] {
			same++
		}
		t.Errorf("attach -i: the CRI log has %d bytes of stdout, not the %d of stdin; they part at byte %d: %q vs %q",
			len(logged), len(in), same, head([]byte(logged[same:])), head(in[same:]))
	}
	if !contains(lines, logLine{"stderr", "to stderr"}) {
		t.Errorf("attach -i: no stderr line in the CRI log")
	}
}

// streamPortForward: `kubectl port-forward`: a local port through
// containerd's streaming server to the httpd on the pod's own 127.0.0.1.
func streamPortForward(t *testing.T, p *pod, id string, r *streamResult) {
	// The server is up once a wget in the container gets the file.
	deadline := time.Now().Add(rpcTimeout)
	for {
		ctx, cancel := rpcCtx()
		ex, err := p.d.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Timeout: 30,
			Cmd: []string{"/bin/wget", "-q", "-O", "/dev/null", fmt.Sprintf("http://127.0.0.1:%d/file.txt", httpPort)}})
		cancel()
		if err == nil && ex.ExitCode == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("httpd does not answer in the pod: %v %+v", err, ex)
		}
		time.Sleep(100 * time.Millisecond)
	}

	ctx, cancel := rpcCtx()
	resp, err := p.d.rt.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: p.id, Port: []int32{httpPort}})
	cancel()
	if err != nil {
		t.Fatalf("PortForward: %v", err)
	}
	u, err := url.Parse(resp.Url)
	if err != nil {
		t.Fatalf("port-forward URL %q: %v", resp.Url, err)
	}
	transport, upgrader, err := spdy.RoundTripperFor(&rest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	var pfOut, pfErr bytes.Buffer
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", httpPort)}, stop, ready, &pfOut, &pfErr)
	if err != nil {
		t.Fatalf("port-forward: %v", err)
	}
	fwDone := make(chan error, 1)
	go func() { fwDone <- fw.ForwardPorts() }()
	defer func() {
		close(stop)
		select {
		case err := <-fwDone:
			if err != nil {
				t.Errorf("port-forward: %v", err)
			}
		case <-time.After(streamTimeout):
			t.Errorf("port-forward did not stop")
		}
	}()
	select {
	case <-ready:
	case err := <-fwDone:
		t.Fatalf("port-forward: %v (%s)", err, pfErr.String())
	case <-time.After(streamTimeout):
		t.Fatalf("port-forward not ready")
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) != 1 {
		t.Fatalf("port-forward ports: %v %v", ports, err)
	}
	client := &http.Client{Timeout: streamTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	// Two requests: each is a connection and a stream pair of its own.
	for i := 0; i < 2; i++ {
		hr, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/file.txt", ports[0].Local))
		if err != nil {
			t.Fatalf("GET through port-forward: %v (%s)", err, pfErr.String())
		}
		body, err := io.ReadAll(hr.Body)
		hr.Body.Close()
		if err != nil || hr.StatusCode != http.StatusOK || !bytes.Equal(body, wwwFile()) {
			t.Fatalf("GET through port-forward: %s, %d bytes (%v), want the %d-byte file", hr.Status, len(body), err, wwwSize)
		}
		r.Forwarded = fmt.Sprintf("%s %d bytes", hr.Status, len(body))
	}
	if strings.Contains(pfErr.String(), "error") {
		t.Errorf("port-forward errors: %s", pfErr.String())
	}
}
