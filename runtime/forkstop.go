package runtime

// Stopping the world for fork. Linux's fork write-protects the parent's
// pages and flushes its TLB before the child exists; a thread that stores
// to memory meanwhile waits in the page fault until fork is done. So the
// child's memory is the parent's at one instant: every other thread's
// stores are there up to some point of its program order and none after.
// km copies guest memory with the host's memcpy, so it gets that instant by
// keeping every other thread out of the guest while it copies (and until
// the child monitor has started, see fork): threads in KVM_RUN are kicked
// out and park before their next entry, with their registers in the
// kvm_run page.
//
// Threads in the monitor (blocked in a host call: a futex wait, read,
// accept, a signal wait; or serving any other syscall) are not waited for:
// they park only when they next go back to the guest. Until then the host
// kernel, or the monitor on their behalf, may still write into guest
// memory while it is copied, as a device's DMA could (a read into a buffer
// that completes during the copy may reach the child in part). Linux would
// order such a write wholly before or after the fork, page by page.
//
// Forks hold p.execMu throughout (one at a time per process, and never
// beside an execve replacing the memory being copied). Waiting never
// depends on a thread in the monitor, which might itself wait for the
// fork (an execve for execMu, a clone for its new thread): only on threads
// in the guest, which leave promptly when kicked.

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// worldStop is a process's stop-the-world state.
type worldStop struct {
	stopping atomic.Bool // threads must park before entering the guest
	mu       sync.Mutex
	resume   chan struct{} // closed when the stop ends
}

// Waiting for threads to leave the guest: kicked threads normally leave
// within microseconds, so the stopper yields the CPU a few times before it
// sleeps; on a loaded host a thread may wait for a CPU much longer.
const (
	stopYields = 100
	stopSleep  = 50 * time.Microsecond
	stopRekick = 10 * time.Millisecond
)

// stopWorld keeps every thread but self out of the guest until resumeWorld.
// It reports false, with the world running again, when the process ended
// or self was killed meanwhile. The caller holds p.execMu.
func (p *process) stopWorld(self *thread) bool {
	s := &p.stop
	s.mu.Lock()
	s.resume = make(chan struct{})
	// A thread sets inGuest before it looks at stopping, and this looks at
	// inGuest after setting stopping: each thread either sees the stop
	// before entering the guest or is seen below.
	s.stopping.Store(true)
	s.mu.Unlock()

	var busy []*thread
	var kicked map[*thread]time.Time // when each busy thread was kicked
	for i := 0; ; i++ {
		busy = busy[:0]
		p.threadsMu.Lock()
		for _, t := range p.threads {
			if t != self && t.inGuest.Load() {
				busy = append(busy, t)
			}
		}
		p.threadsMu.Unlock()
		if len(busy) == 0 {
			return true
		}
		if self.killed.Load() || p.isExited() {
			p.resumeWorld()
			return false
		}
		now := time.Now()
		if kicked == nil {
			kicked = map[*thread]time.Time{}
		}
		for _, t := range busy {
			// One kick is enough (immediate_exit stays set until the
			// thread's KVM_RUN returns); repeated only as a safeguard.
			if at, ok := kicked[t]; !ok || now.Sub(at) > stopRekick {
				kicked[t] = now
				t.kick()
			}
		}
		if i < stopYields {
			unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
		} else {
			time.Sleep(stopSleep)
		}
	}
}

// resumeWorld lets parked threads back into the guest.
func (p *process) resumeWorld() {
	s := &p.stop
	s.mu.Lock()
	s.stopping.Store(false)
	close(s.resume)
	s.resume = nil
	s.mu.Unlock()
}

// park waits, outside the guest, until the world runs again.
func (t *thread) park() {
	s := &t.p.stop
	s.mu.Lock()
	ch := s.resume
	s.mu.Unlock()
	if ch != nil {
		<-ch
	}
}
