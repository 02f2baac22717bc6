package shim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	taskv2 "github.com/containerd/containerd/api/runtime/task/v2"
	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/ttrpc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// shimCmd runs the shim binary as containerd would, in bundle.
func shimCmd(t *testing.T, bundle string, stdin []byte, args ...string) (string, string, error) {
	t.Helper()
	for i, a := range args {
		if a == "-id" && i+1 < len(args) {
			registerID(args[i+1])
		}
	}
	all := append([]string{"-namespace", "kmtest", "-address", filepath.Join(work, "no-containerd.sock"), "-publish-binary", "/bin/true"}, args...)
	cmd := exec.Command(filepath.Join(binDir, "containerd-shim-km-v2"), all...)
	cmd.Dir = bundle
	cmd.Env = append(os.Environ(), "TTRPC_ADDRESS=") // no events sink: publishing must not block anything
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func writeBundle(t *testing.T, config []byte) string {
	t.Helper()
	bundle := filepath.Join(work, "bundles", strings.ReplaceAll(t.Name(), "/", "_"))
	os.MkdirAll(bundle, 0o755)
	os.WriteFile(filepath.Join(bundle, "config.json"), config, 0o644)
	return bundle
}

func goodSpec(args ...string) []byte {
	s := specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: rootfs},
		Process: &specs.Process{Args: args, Cwd: "/", Env: []string{"PATH=/"}},
		Linux:   &specs.Linux{CgroupsPath: "/default/km-direct-" + filepath.Base(args[0])},
	}
	b, _ := json.Marshal(s)
	return b
}

// dialShim starts a shim server for bundle and connects to it.
func dialShim(t *testing.T, bundle, id string) (*ttrpc.Client, string) {
	t.Helper()
	out, errOut, err := shimCmd(t, bundle, []byte("any stdin at all"), "-id", id, "start")
	if err != nil {
		t.Fatalf("start: %v: %s", err, errOut)
	}
	if errOut != "" {
		t.Errorf("start wrote to stderr (containerd 1.6 reads both): %q", errOut)
	}
	if !strings.HasPrefix(out, "unix://") || strings.ContainsAny(out, "\n{") {
		t.Fatalf("start printed %q, want a plain unix:// address", out)
	}
	if b, _ := os.ReadFile(filepath.Join(bundle, "address")); string(b) != out {
		t.Errorf("bundle address file %q, want %q", b, out)
	}
	conn, err := net.Dial("unix", strings.TrimPrefix(out, "unix://"))
	if err != nil {
		t.Fatal(err)
	}
	return ttrpc.NewClient(conn), out
}

// TestShimBinaryContract: start/delete as containerd calls them, the task
// API v2 and v3 on one socket, Wait before Start, and Create's error for a
// broken config.json.
func TestShimBinaryContract(t *testing.T) {
	before := snapshot()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("lifecycle", func(t *testing.T) {
		bundle := writeBundle(t, goodSpec("/exitcode", "4"))
		client, _ := dialShim(t, bundle, "direct1")
		defer client.Close()
		v3 := taskv3.NewTTRPCTaskClient(client)
		v2 := taskv2.NewTTRPCTaskClient(client)
		outFile := filepath.Join(bundle, "stdout.log")
		cr, err := v3.Create(ctx, &taskv3.CreateTaskRequest{ID: "direct1", Bundle: bundle, Stdout: "file://" + outFile})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if cr.Pid == 0 {
			t.Error("Create returned pid 0")
		}
		st, err := v2.State(ctx, &taskv2.StateRequest{ID: "direct1"})
		if err != nil || st.Status.String() != "CREATED" {
			t.Errorf("v2 State before Start: %v %v", st, err)
		}
		// Update: the memory limit reaches the container's cgroup.
		res, _ := json.Marshal(specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(200 << 20))}})
		if _, err := v3.Update(ctx, &taskv3.UpdateTaskRequest{ID: "direct1", Resources: &anypb.Any{
			TypeUrl: "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources", Value: res}}); err != nil {
			t.Errorf("Update: %v", err)
		}
		limitFiles, _ := filepath.Glob("/sys/fs/cgroup/memory/default/km-direct-exitcode/memory.limit_in_bytes")
		v2files, _ := filepath.Glob("/sys/fs/cgroup/default/km-direct-exitcode/memory.max")
		for _, f := range append(limitFiles, v2files...) {
			if b, _ := os.ReadFile(f); strings.TrimSpace(string(b)) != fmt.Sprint(200<<20) {
				t.Errorf("%s after Update: %s", f, b)
			}
		}
		if len(limitFiles)+len(v2files) == 0 {
			t.Error("container cgroup not found")
		}
		waited := make(chan *taskv3.WaitResponse, 1)
		go func() { // Wait before Start returns after the exit.
			w, err := v3.Wait(ctx, &taskv3.WaitRequest{ID: "direct1"})
			if err != nil {
				t.Errorf("Wait: %v", err)
			}
			waited <- w
		}()
		time.Sleep(100 * time.Millisecond)
		if _, err := v3.Start(ctx, &taskv3.StartRequest{ID: "direct1"}); err != nil {
			t.Fatalf("Start: %v", err)
		}
		if w := <-waited; w == nil || w.ExitStatus != 4 {
			t.Errorf("Wait: %v, want status 4", w)
		}
		if b, _ := os.ReadFile(outFile); string(b) != "exiting with 4\n" {
			t.Errorf("file:// stdout got %q", b)
		}
		if _, err := v3.Pause(ctx, &taskv3.PauseRequest{ID: "direct1"}); err != nil {
			t.Errorf("Pause of a stopped task (freezer): %v", err)
		}
		v3.Resume(ctx, &taskv3.ResumeRequest{ID: "direct1"})
		if _, err := v3.Checkpoint(ctx, &taskv3.CheckpointTaskRequest{ID: "direct1"}); err == nil || !strings.Contains(err.Error(), "not implemented") {
			t.Errorf("Checkpoint: %v, want not implemented", err)
		}
		d, err := v3.Delete(ctx, &taskv3.DeleteRequest{ID: "direct1"})
		if err != nil || d.ExitStatus != 4 {
			t.Errorf("Delete: %v %v", d, err)
		}
		if _, err := v3.State(ctx, &taskv3.StateRequest{ID: "direct1"}); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("State after Delete: %v, want not found", err)
		}
		v3.Shutdown(ctx, &taskv3.ShutdownRequest{ID: "direct1"})

		// delete: idempotent, prints a DeleteResponse.
		for i := 0; i < 2; i++ {
			out, errOut, err := shimCmd(t, bundle, nil, "-id", "direct1", "-bundle", bundle, "delete")
			var resp taskv3.DeleteResponse
			if err != nil || proto.Unmarshal([]byte(out), &resp) != nil || resp.ExitStatus != 137 {
				t.Errorf("delete #%d: %v %q %v", i, err, errOut, &resp)
			}
		}
	})

	t.Run("broken-config", func(t *testing.T) {
		for name, cfg := range map[string]string{
			"syntax":  `{"ociVersion": "1.0.2", "process": {`,
			"no-args": `{"ociVersion": "1.0.2", "root": {"path": "/tmp"}, "process": {"cwd": "/", "args": []}}`,
			"no-root": `{"ociVersion": "1.0.2", "process": {"cwd": "/", "args": ["/hello"]}}`,
			"types":   `{"ociVersion": "1.0.2", "process": {"args": "not-a-list"}}`,
		} {
			t.Run(name, func(t *testing.T) {
				bundle := writeBundle(t, []byte(cfg))
				client, _ := dialShim(t, bundle, "direct-"+name)
				defer client.Close()
				v3 := taskv3.NewTTRPCTaskClient(client)
				_, err := v3.Create(ctx, &taskv3.CreateTaskRequest{ID: "direct-" + name, Bundle: bundle})
				if err == nil || !strings.Contains(err.Error(), "config.json") || strings.Contains(err.Error(), "\n") {
					t.Errorf("Create: %v, want a one-line error naming config.json", err)
				}
				v3.Shutdown(ctx, &taskv3.ShutdownRequest{})
				shimCmd(t, bundle, nil, "-id", "direct-"+name, "-bundle", bundle, "delete")
			})
		}
	})
	checkNoLeaks(t, before)
}

// TestPodSharesShim: containers of one pod (same io.kubernetes.cri.sandbox-id)
// get the same shim address, and one shim runs both.
func TestPodSharesShim(t *testing.T) {
	before := snapshot()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec := func(id string) []byte {
		var s specs.Spec
		json.Unmarshal(goodSpec("/exitcode", "2"), &s)
		s.Linux.CgroupsPath = "/default/km-pod-" + id
		s.Annotations = map[string]string{"io.kubernetes.cri.sandbox-id": "pod-xyz"}
		b, _ := json.Marshal(s)
		return b
	}
	var addrs []string
	var clients []*ttrpc.Client
	for _, id := range []string{"podc1", "podc2"} {
		t.Run(id, func(t *testing.T) {
			bundle := writeBundle(t, spec(id))
			client, addr := dialShim(t, bundle, id)
			clients = append(clients, client)
			addrs = append(addrs, addr)
			v3 := taskv3.NewTTRPCTaskClient(client)
			if _, err := v3.Create(ctx, &taskv3.CreateTaskRequest{ID: id, Bundle: bundle}); err != nil {
				t.Fatal(err)
			}
		})
	}
	if len(addrs) != 2 || addrs[0] != addrs[1] {
		t.Fatalf("pod containers got shims %v, want one", addrs)
	}
	v3 := taskv3.NewTTRPCTaskClient(clients[0])
	c1, _ := v3.Connect(ctx, &taskv3.ConnectRequest{ID: "podc1"})
	c2, _ := v3.Connect(ctx, &taskv3.ConnectRequest{ID: "podc2"})
	if c1 == nil || c2 == nil || c1.ShimPid != c2.ShimPid || c1.TaskPid == c2.TaskPid {
		t.Errorf("Connect: %v %v", c1, c2)
	}
	for _, id := range []string{"podc1", "podc2"} {
		v3.Start(ctx, &taskv3.StartRequest{ID: id})
		if w, err := v3.Wait(ctx, &taskv3.WaitRequest{ID: id}); err != nil || w.ExitStatus != 2 {
			t.Errorf("%s: Wait %v %v", id, w, err)
		}
		if _, err := v3.Delete(ctx, &taskv3.DeleteRequest{ID: id}); err != nil {
			t.Errorf("%s: Delete %v", id, err)
		}
		// The shim stays while it hosts a container.
		v3.Shutdown(ctx, &taskv3.ShutdownRequest{ID: id})
	}
	for _, c := range clients {
		c.Close()
	}
	checkNoLeaks(t, before)
}

func ptr[T any](v T) *T { return &v }
