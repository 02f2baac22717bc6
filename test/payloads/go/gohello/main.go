// Command gohello is a km test payload written in Go. It is built with
// CGO_ENABLED=0 into a static binary and exercises the parts of the Go
// runtime that stress a monitor: thread creation via clone (several
// goroutines doing allocation-heavy work), futexes, timers (time.Sleep), the
// garbage collector and file reads.
//
// Usage: gohello [STATUS [FILE]]
//
// It prints deterministic output and exits with STATUS (default 0). If FILE
// is given, its size and first line are printed.
package main

import (
	"fmt"
	"hash/crc32"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// work builds and discards many maps and slices so the allocator and the
// garbage collector have something to do, and returns a deterministic digest.
func work(id int) uint32 {
	h := crc32.NewIEEE()
	for round := 0; round < 100; round++ {
		m := make(map[string][]byte, 64)
		for i := 0; i < 64; i++ {
			k := fmt.Sprintf("g%d-r%d-k%d", id, round, i)
			m[k] = make([]byte, 1024+i*16)
			for j := range m[k] {
				m[k][j] = byte(id + round + i + j)
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			h.Write([]byte(k))
			h.Write(m[k][:8])
		}
		if round%50 == 0 {
			runtime.Gosched()
		}
	}
	return h.Sum32()
}

func main() {
	fmt.Println("hello from go")

	status := 0
	if len(os.Args) > 1 {
		n, err := strconv.Atoi(os.Args[1])
		if err != nil {
			fmt.Println("FAIL: bad status:", err)
			os.Exit(2)
		}
		status = n
	}

	const workers = 6
	results := make([]uint32, workers)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = work(i)
		}(i)
	}
	wg.Wait()
	for i, r := range results {
		fmt.Printf("worker %d digest %08x\n", i, r)
	}
	runtime.GC()

	start := time.Now()
	time.Sleep(10 * time.Millisecond)
	if d := time.Since(start); d >= 10*time.Millisecond && d < 10*time.Second {
		fmt.Println("sleep: ok")
	} else {
		fmt.Println("FAIL: sleep took", d)
	}

	// A timer and a channel across goroutines.
	done := make(chan string)
	go func() {
		<-time.After(time.Millisecond)
		done <- "timer fired"
	}()
	fmt.Println(<-done)

	if len(os.Args) > 2 {
		data, err := os.ReadFile(os.Args[2])
		if err != nil {
			fmt.Println("FAIL: read file:", err)
			os.Exit(3)
		}
		first, _, _ := strings.Cut(string(data), "\n")
		fmt.Printf("file: %d bytes, first line %q\n", len(data), first)
	}

	fmt.Printf("exiting with %d\n", status)
	os.Exit(status)
}
