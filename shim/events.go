package shim

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"strings"
	"time"

	eventsapi "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/log"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Event topics containerd expects from a task runtime.
const (
	TopicTaskCreate      = "/tasks/create"
	TopicTaskStart       = "/tasks/start"
	TopicTaskOOM         = "/tasks/oom"
	TopicTaskExit        = "/tasks/exit"
	TopicTaskDelete      = "/tasks/delete"
	TopicTaskExecAdded   = "/tasks/exec-added"
	TopicTaskExecStarted = "/tasks/exec-started"
	TopicTaskPaused      = "/tasks/paused"
	TopicTaskResumed     = "/tasks/resumed"
)

// namespaceHeader carries the containerd namespace in ttrpc metadata.
const namespaceHeader = "containerd-namespace-ttrpc"

const (
	eventQueue     = 1024 // events buffered before publish drops (never blocks an RPC)
	eventRetries   = 5
	eventRetryBase = 100 * time.Millisecond
	eventTimeout   = 5 * time.Second
)

type event struct {
	topic string
	msg   proto.Message
	at    time.Time
}

// publisher forwards events to containerd in order, from one goroutine, with
// retries; Publish only queues.
type publisher struct {
	namespace     string
	ttrpcAddress  string // TTRPC_ADDRESS, containerd's ttrpc socket
	publishBinary string // fallback: `containerd publish`
	address       string // containerd's grpc address, for the binary
	q             chan event
	done          chan struct{}
	client        *ttrpc.Client
}

func newPublisher(namespace, ttrpcAddress, publishBinary, address string) *publisher {
	p := &publisher{namespace: namespace, ttrpcAddress: ttrpcAddress, publishBinary: publishBinary,
		address: address, q: make(chan event, eventQueue), done: make(chan struct{})}
	go p.run()
	return p
}

// Publish queues an event; it never blocks.
func (p *publisher) Publish(topic string, msg proto.Message) {
	select {
	case p.q <- event{topic, msg, time.Now()}:
	default:
		log.L.WithField("topic", topic).Error("event queue full: event dropped")
	}
}

// Close flushes queued events (bounded by their retries) and stops.
func (p *publisher) Close() {
	close(p.q)
	select {
	case <-p.done:
	case <-time.After(2 * eventTimeout):
	}
}

func (p *publisher) run() {
	defer close(p.done)
	for ev := range p.q {
		var err error
		for i := 0; i < eventRetries; i++ {
			if err = p.forward(ev); err == nil {
				break
			}
			time.Sleep(eventRetryBase << i)
		}
		if err != nil {
			log.L.WithError(err).WithField("topic", ev.topic).Error("publish event")
		}
	}
	if p.client != nil {
		p.client.Close()
	}
}

func (p *publisher) forward(ev event) error {
	anyEv, err := typeurl.MarshalAnyToProto(ev.msg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	if p.ttrpcAddress == "" {
		return p.forwardBinary(ctx, ev, anyEv)
	}
	if p.client == nil {
		conn, err := net.Dial("unix", strings.TrimPrefix(p.ttrpcAddress, "unix://"))
		if err != nil {
			return err
		}
		p.client = ttrpc.NewClient(conn, ttrpc.WithOnClose(func() {}))
	}
	ctx = ttrpc.WithMetadata(ctx, ttrpc.MD{namespaceHeader: []string{p.namespace}})
	_, err = eventsapi.NewTTRPCEventsClient(p.client).Forward(ctx, &eventsapi.ForwardRequest{
		Envelope: &types.Envelope{
			Timestamp: timestamppb.New(ev.at),
			Namespace: p.namespace,
			Topic:     ev.topic,
			Event:     anyEv,
		},
	})
	if err != nil {
		p.client.Close()
		p.client = nil
	}
	return err
}

// forwardBinary is the pre-ttrpc path: `containerd --address A publish
// --topic T --namespace N` with the event's Any on stdin.
func (p *publisher) forwardBinary(ctx context.Context, ev event, anyEv proto.Message) error {
	data, err := proto.Marshal(anyEv)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, p.publishBinary, "--address", p.address, "publish", "--topic", ev.topic, "--namespace", p.namespace)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return &publishError{err: err, out: strings.TrimSpace(string(out))}
	}
	return nil
}

type publishError struct {
	err error
	out string
}

func (e *publishError) Error() string { return e.err.Error() + ": " + e.out }
