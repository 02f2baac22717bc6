// Command containerd-shim-km-v2 is km's containerd runtime shim
// (runtime_type "io.containerd.km.v2"): containerd runs each container's
// process as a km VM through it.
//
// Binary contract (containerd 1.6 to 2.x):
//
//	containerd-shim-km-v2 -namespace NS -address A -publish-binary B -id ID [-debug] start
//	    starts (or reuses, per pod) a shim server, writes <bundle>/address and
//	    prints its plain unix:// address. The bundle is the working directory.
//	containerd-shim-km-v2 -namespace NS -address A -id ID -bundle DIR delete
//	    cleans up after a shim that went away; prints a DeleteResponse.
//	containerd-shim-km-v2 -v | --version
//	containerd-shim-km-v2 -info    (protobuf RuntimeInfo, for containerd 2.x)
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/fifo"
	"github.com/containerd/log"
	"github.com/containerd/ttrpc"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kmvm/km/oci"
	"github.com/kmvm/km/shim"
)

// Set by the linker (-X main.version=... -X main.revision=...).
var (
	version  = "dev"
	revision = "unknown"
)

const (
	runtimeName = "io.containerd.km.v2"
	// socketDir holds the shims' sockets (0700, root only).
	socketDir = "/run/km/s"
	// sandboxAnnotation groups a pod's containers on one shim.
	sandboxAnnotation = "io.kubernetes.cri.sandbox-id"
	// maxSocketPath is sun_path's size less the terminating NUL.
	maxSocketPath = 107
)

type flags struct {
	namespace, address, publishBinary, id, bundle, socket string
	debug, showVersion, info                              bool
}

func main() {
	var f flags
	fs := flag.NewFlagSet(filepath.Base(os.Args[0]), flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.StringVar(&f.namespace, "namespace", "", "containerd namespace")
	fs.StringVar(&f.address, "address", "", "containerd's grpc address")
	fs.StringVar(&f.publishBinary, "publish-binary", "", "binary that publishes events (containerd)")
	fs.StringVar(&f.id, "id", "", "container id")
	fs.StringVar(&f.bundle, "bundle", "", "bundle path (default: the working directory)")
	fs.StringVar(&f.socket, "socket", "", "internal: the server's socket path")
	fs.BoolVar(&f.debug, "debug", false, "debug logging")
	fs.BoolVar(&f.showVersion, "v", false, "print the version and exit")
	fs.BoolVar(&f.showVersion, "version", false, "print the version and exit")
	fs.BoolVar(&f.info, "info", false, "print runtime information as JSON and exit")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if f.showVersion {
		fmt.Printf("%s:\n  Version:  %s\n  Revision: %s\n  Go version: %s\n", os.Args[0], version, revision, goVersion())
		return
	}
	shim.Version = version
	if f.info {
		if err := printInfo(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", runtimeName, err)
			os.Exit(1)
		}
		return
	}
	if f.bundle == "" {
		f.bundle, _ = os.Getwd()
	}
	var err error
	switch fs.Arg(0) {
	case "start":
		err = start(&f)
	case "delete":
		err = del(&f)
	case "", "serve":
		err = serve(&f)
	default:
		err = fmt.Errorf("unknown action %q (want start, delete)", fs.Arg(0))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", runtimeName, err)
		os.Exit(1)
	}
}

func goVersion() string {
	return strings.TrimPrefix(runtimeVersion(), "go")
}

// printInfo answers `-info` as containerd 2.x expects: a protobuf
// RuntimeInfo on stdout (the options on stdin are read and echoed back).
// Annotations name the monitor the shim would use.
func printInfo() error {
	info := &types.RuntimeInfo{
		Name:        runtimeName,
		Version:     &types.RuntimeVersion{Version: version, Revision: revision},
		Annotations: map[string]string{},
	}
	if in, err := io.ReadAll(os.Stdin); err == nil && len(in) > 0 {
		var opts anypb.Any
		if proto.Unmarshal(in, &opts) == nil {
			info.Options = &opts
		}
	}
	if km, err := findKMForInfo(); err == nil {
		info.Annotations["km"] = km
	} else {
		info.Annotations["km-error"] = err.Error()
	}
	data, err := proto.Marshal(info)
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(data)
	return err
}

// socketPath is the shim server's socket for a grouping key: one shim per
// pod (sandbox id) or per container.
func socketPath(f *flags, group string) string {
	sum := sha256.Sum256([]byte(f.address + "\x00" + f.namespace + "\x00" + group))
	return filepath.Join(socketDir, fmt.Sprintf("%x", sum[:16]))
}

// groupKey reads the bundle's config.json for the pod's sandbox id.
func groupKey(f *flags) string {
	spec, err := oci.Load(f.bundle)
	if err == nil && spec.Annotations != nil {
		if sb := spec.Annotations[sandboxAnnotation]; sb != "" {
			return sb
		}
	}
	return f.id
}

// start launches the shim server (or finds the pod's running one) and
// prints its address. containerd 1.6 reads stdout and stderr together, so
// nothing else may be printed; whatever arrives on stdin (nothing, a
// runtime-options Any, or a 2.3+ BootstrapParams) is drained and ignored:
// Create carries the options that matter.
func start(f *flags) error {
	go io.Copy(io.Discard, os.Stdin)
	sock := socketPath(f, groupKey(f))
	if len(sock) > maxSocketPath {
		return fmt.Errorf("socket path %s too long", sock)
	}
	addr := "unix://" + sock
	if err := os.MkdirAll(socketDir, 0o700); err != nil {
		return err
	}
	if conn, err := net.DialTimeout("unix", sock, time.Second); err == nil {
		conn.Close() // the pod's shim is up: share it
		return publishAddress(f, addr)
	}
	os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("listen %s: %w", sock, err)
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	lf, err := ul.File()
	l.Close()
	if err != nil {
		os.Remove(sock)
		return err
	}
	defer lf.Close()
	if err := os.Chmod(sock, 0o600); err != nil {
		os.Remove(sock)
		return err
	}
	self, err := os.Executable()
	if err != nil {
		os.Remove(sock)
		return err
	}
	args := []string{"-namespace", f.namespace, "-address", f.address, "-publish-binary", f.publishBinary,
		"-id", f.id, "-bundle", f.bundle, "-socket", sock}
	if f.debug {
		args = append(args, "-debug")
	}
	cmd := exec.Command(self, append(args, "serve")...)
	cmd.Dir = f.bundle
	cmd.Env = os.Environ()
	cmd.ExtraFiles = []*os.File{lf}
	// Own session: the shim outlives `start` and must not share
	// containerd's process group or terminal.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// stdin/stdout/stderr stay /dev/null: containerd 1.6 waits for EOF on
	// start's output.
	if err := cmd.Start(); err != nil {
		os.Remove(sock)
		return fmt.Errorf("start shim server: %w", err)
	}
	cmd.Process.Release()
	return publishAddress(f, addr)
}

func publishAddress(f *flags, addr string) error {
	if err := os.WriteFile(filepath.Join(f.bundle, "address"), []byte(addr), 0o600); err != nil {
		return err
	}
	_, err := fmt.Fprint(os.Stdout, addr)
	return err
}

// serve is the shim server: task API over ttrpc on the socket passed as fd 3.
func serve(f *flags) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := logrus.New()
	logger.SetLevel(logrus.InfoLevel)
	if f.debug {
		logger.SetLevel(logrus.DebugLevel)
	}
	logger.SetFormatter(&logrus.TextFormatter{TimestampFormat: time.RFC3339Nano, FullTimestamp: true})
	logger.SetOutput(io.Discard)
	// containerd reads the bundle's `log` FIFO into its own log.
	if lf, err := fifo.OpenFifo(ctx, filepath.Join(f.bundle, "log"), unix.O_WRONLY|unix.O_NONBLOCK, 0o700); err == nil {
		logger.SetOutput(lf)
		defer lf.Close()
	}
	entry := logrus.NewEntry(logger).WithFields(logrus.Fields{"runtime": runtimeName, "namespace": f.namespace, "pid": os.Getpid()})
	log.L = entry
	ctx = log.WithLogger(ctx, entry)

	signal.Ignore(unix.SIGPIPE)
	// Become the subreaper of nothing but our monitors: they are our direct
	// children and os/exec reaps them; no wait4(-1) here.
	l, err := net.FileListener(os.NewFile(3, "socket"))
	if err != nil {
		return fmt.Errorf("socket on fd 3: %w", err)
	}
	done := make(chan struct{})
	var once bool
	svc := shim.NewService(f.namespace, os.Getenv("TTRPC_ADDRESS"), f.publishBinary, f.address, func() {
		if !once {
			once = true
			close(done)
		}
	})
	srv, err := ttrpc.NewServer()
	if err != nil {
		return err
	}
	shim.Register(srv, svc)
	go func() {
		if err := srv.Serve(ctx, l); err != nil && !errors.Is(err, ttrpc.ErrServerClosed) {
			entry.WithError(err).Error("serve")
		}
	}()
	entry.WithField("socket", f.socket).Info("shim serving")
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT)
	dumps := make(chan os.Signal, 1)
	signal.Notify(dumps, unix.SIGUSR1)
	defer signal.Stop(dumps)
wait:
	for {
		select {
		case <-done:
			break wait
		case s := <-sigs:
			entry.WithField("signal", s).Info("shim exiting on signal")
			break wait
		case <-dumps:
			dumpStacks(entry)
		}
	}
	// Let the Shutdown reply reach containerd before the socket goes.
	sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
	srv.Shutdown(sctx)
	scancel()
	svc.Close()
	if f.socket != "" {
		os.Remove(f.socket)
	}
	entry.Info("shim exited")
	return nil
}

// dumpStacks logs every goroutine's stack, as containerd and its runc shim
// do on SIGUSR1: the way to see where a stuck shim waits.
func dumpStacks(entry *logrus.Entry) {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	entry.Infof("=== goroutine stack dump (SIGUSR1) ===\n%s\n=== end of goroutine stack dump ===", buf)
}

// del cleans up after a shim that is gone: the monitor (if it survived),
// the rootfs mount, the cgroup, the socket. Idempotent. Prints a
// DeleteResponse for containerd.
func del(f *flags) error {
	pid := 0
	if b, err := os.ReadFile(filepath.Join(f.bundle, shim.PidFile)); err == nil {
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if pid > 0 && isMonitor(pid) {
		unix.Kill(pid, unix.SIGKILL)
	}
	var cgPath string
	if spec, err := oci.Load(f.bundle); err == nil && spec.Linux != nil {
		cgPath = spec.Linux.CgroupsPath
	}
	shim.CleanupStale(f.bundle, cgPath)
	// A container's own shim is gone when containerd calls delete: its
	// socket goes. A pod's shared shim may still serve other containers:
	// its socket goes only if nothing answers on it.
	key := groupKey(f)
	sock := socketPath(f, key)
	if key == f.id {
		os.Remove(sock)
	} else if conn, err := net.DialTimeout("unix", sock, time.Second); err == nil {
		conn.Close()
	} else {
		os.Remove(sock)
	}
	os.Remove(filepath.Join(f.bundle, shim.PidFile))
	resp := &taskv3.DeleteResponse{Pid: uint32(pid), ExitStatus: 128 + uint32(unix.SIGKILL), ExitedAt: timestamppb.Now()}
	data, err := proto.Marshal(resp)
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(data)
	return err
}

// isMonitor checks that pid is still a km monitor (not a reused pid).
func isMonitor(pid int) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return false
	}
	return filepath.Base(strings.TrimSuffix(exe, " (deleted)")) == "km"
}
