package runtime

// POSIX timers on CPU-time clocks (CLOCK_PROCESS_CPUTIME_ID,
// CLOCK_THREAD_CPUTIME_ID), which a timerfd cannot run: a host POSIX timer
// on the monitor's own clock does the accounting (the guest's CPU time is
// its vCPU threads'; the process clock also counts the monitor's work). Its
// expiry is a signal aimed at one monitor thread that keeps it blocked and
// takes it with sigtimedwait, si_value naming the guest timer, si_overrun
// the host's count; the guest's signal is then queued as for any timer.

import (
	goruntime "runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cpuTimerSignal is the host signal of CPU-time timers. It is only ever
// thread-directed at the waiter, which blocks it; one sent to the monitor
// from outside is still forwarded to the guest like any other.
const cpuTimerSignal = unix.Signal(62)

// Dynamic CPU clock ids (<linux/posix-timers.h>): ~pid << 3 | perthread | which.
const (
	cpuClockPerThread = 4
	cpuClockPIDShift  = 3
)

// isCPUClock reports whether clock is a CPU-time clock of the guest: the
// calling process's or thread's (pid 0, as glibc names them), or the
// process's by its pid, which is the monitor's. Other processes' and
// threads-by-tid's are not km's.
func (p *process) isCPUClock(clock int32) bool {
	if clock == unix.CLOCK_PROCESS_CPUTIME_ID || clock == unix.CLOCK_THREAD_CPUTIME_ID {
		return true
	}
	if clock >= 0 {
		return false
	}
	pid := int(^clock >> cpuClockPIDShift)
	return pid == 0 || pid == p.pid && clock&cpuClockPerThread == 0
}

// cpuWaiter is the monitor thread that takes CPU-time timers' signals.
type cpuWaiter struct {
	once sync.Once
	tid  int
}

// cpuWaiterTID starts p's waiter once and returns its host thread id.
func (p *process) cpuWaiterTID() int {
	w := &p.timers.cpu
	w.once.Do(func() {
		ready := make(chan int)
		go p.cpuWait(ready)
		w.tid = <-ready
	})
	return w.tid
}

func (p *process) cpuWait(ready chan<- int) {
	goruntime.LockOSThread() // for good: the thread keeps the signal blocked
	set := sigBit(cpuTimerSignal)
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, uintptr(unsafe.Pointer(&set)), 0, 8, 0, 0)
	ready <- unix.Gettid()
	for {
		var si sigInfo
		_, _, e := unix.Syscall6(unix.SYS_RT_SIGTIMEDWAIT, uintptr(unsafe.Pointer(&set)), ptr(si[:]), 0, 8, 0, 0)
		if e != 0 {
			continue
		}
		pt := p.timer(int32(le.Uint64(si[siValue:])))
		if pt == nil || pt.fd != nil {
			continue // deleted meanwhile
		}
		p.timerFired(pt, 1+uint64(uint32(le.Uint32(si[siOverrun:]))))
	}
}

// createCPUTimer makes pt's host timer on clock; called from the guest
// thread's own OS thread, whose CPU time CLOCK_THREAD_CPUTIME_ID is.
func (p *process) createCPUTimer(clock int32, pt *posixTimer) unix.Errno {
	var sev [sizeofSigevent]byte
	le.PutUint64(sev[sevValue:], uint64(pt.id))
	if pt.notify == sigevNone {
		le.PutUint32(sev[sevNotify:], sigevNone)
	} else {
		le.PutUint32(sev[sevSigno:], uint32(cpuTimerSignal))
		le.PutUint32(sev[sevNotify:], sigevThreadID)
		le.PutUint32(sev[sevTID:], uint32(p.cpuWaiterTID()))
	}
	_, _, e := unix.Syscall(unix.SYS_TIMER_CREATE, uintptr(clock), ptr(sev[:]), uintptr(unsafe.Pointer(&pt.hostID)))
	return e
}
