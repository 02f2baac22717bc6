// gosignals exercises what the Go runtime needs from signals: nil-pointer
// panics recovered through its SIGSEGV handler, asynchronous preemption of
// a goroutine spinning without calls (SIGURG between threads), os/signal
// delivery of signals sent to the process, and timers.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

type node struct{ next *node }

func nilDeref() (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	var n *node
	return fmt.Sprint(n.next)
}

//go:noinline
func spin(stop *atomic.Bool, n *uint64) {
	for !stop.Load() {
		*n++
	}
}

func main() {
	for i := 0; i < 3; i++ {
		fmt.Println("recovered:", nilDeref())
	}

	// With one P, main only runs again if the spinning goroutine is
	// preempted asynchronously.
	runtime.GOMAXPROCS(1)
	var stop atomic.Bool
	var n uint64
	go spin(&stop, &n)
	time.Sleep(50 * time.Millisecond)
	stop.Store(true)
	fmt.Println("preempted a spinning goroutine:", n > 0)
	runtime.GOMAXPROCS(2)

	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGUSR1, syscall.SIGTERM)
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	fmt.Println("got:", <-ch)

	tick := time.NewTicker(5 * time.Millisecond)
	for i := 0; i < 3; i++ {
		<-tick.C
	}
	tick.Stop()
	fmt.Println("ticker ok")

	go func() {
		time.Sleep(20 * time.Millisecond)
		syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}()
	select {
	case s := <-ch:
		fmt.Println("got:", s, "- shutting down")
	case <-time.After(10 * time.Second):
		fmt.Println("FAIL: no SIGTERM")
	}
	os.Exit(3)
}
