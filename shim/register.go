package shim

import (
	"context"

	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/proto"
)

// Service names containerd dials: 1.x and 2.x speak task v2; 2.x also v3.
// The two APIs' messages are identical on the wire, so one implementation
// (on the v3 types) serves both.
const (
	taskServiceV2 = "containerd.task.v2.Task"
	taskServiceV3 = "containerd.task.v3.Task"
)

// method adapts a typed handler to ttrpc, converting errdefs errors to
// gRPC status codes at the RPC boundary.
func method[Req any, PReq interface {
	*Req
	proto.Message
}, Resp any](f func(context.Context, PReq) (Resp, error)) ttrpc.Method {
	return func(ctx context.Context, unmarshal func(any) error) (any, error) {
		req := PReq(new(Req))
		if err := unmarshal(req); err != nil {
			return nil, err
		}
		resp, err := f(ctx, req)
		if err != nil {
			return nil, errgrpc.ToGRPC(err)
		}
		return resp, nil
	}
}

// Register serves s as task API v2 and v3 on srv.
func Register(srv *ttrpc.Server, s taskv3.TTRPCTaskService) {
	methods := map[string]ttrpc.Method{
		"State":      method(s.State),
		"Create":     method(s.Create),
		"Start":      method(s.Start),
		"Delete":     method(s.Delete),
		"Pids":       method(s.Pids),
		"Pause":      method(s.Pause),
		"Resume":     method(s.Resume),
		"Checkpoint": method(s.Checkpoint),
		"Kill":       method(s.Kill),
		"Exec":       method(s.Exec),
		"ResizePty":  method(s.ResizePty),
		"CloseIO":    method(s.CloseIO),
		"Update":     method(s.Update),
		"Wait":       method(s.Wait),
		"Stats":      method(s.Stats),
		"Connect":    method(s.Connect),
		"Shutdown":   method(s.Shutdown),
	}
	srv.RegisterService(taskServiceV2, &ttrpc.ServiceDesc{Methods: methods})
	srv.RegisterService(taskServiceV3, &ttrpc.ServiceDesc{Methods: methods})
}
