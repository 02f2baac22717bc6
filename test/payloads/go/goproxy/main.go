// goproxy is shaped like Knative's queue-proxy: a static Go HTTP server that
// reverse-proxies to a user container on another local port, with a health
// endpoint, background timers, GOMAXPROCS from the environment, and a
// SIGTERM handler that drains in-flight requests before exiting 0.
//
// Usage: goproxy LISTEN_PORT BACKEND_PORT. The backend (the "user
// container") runs in the same process on BACKEND_PORT.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: goproxy LISTEN_PORT BACKEND_PORT")
		os.Exit(2)
	}
	var served, ticks atomic.Int64

	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := r.URL.Query().Get("sleep"); d != "" {
			if dur, err := time.ParseDuration(d); err == nil {
				time.Sleep(dur)
			}
		}
		fmt.Fprintf(w, "backend says %s\n", r.URL.Path)
	})}
	bl, err := net.Listen("tcp", "127.0.0.1:"+os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "backend listen:", err)
		os.Exit(1)
	}
	go backend.Serve(bl)

	target, _ := url.Parse("http://127.0.0.1:" + os.Args[2])
	proxy := httputil.NewSingleHostReverseProxy(target)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "ok procs=%d\n", runtime.GOMAXPROCS(0))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		proxy.ServeHTTP(w, r)
	})
	front := &http.Server{Handler: mux}
	fl, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}

	// Timers keep running alongside the load.
	go func() {
		for range time.Tick(10 * time.Millisecond) {
			ticks.Add(1)
		}
	}()

	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go front.Serve(fl)
	fmt.Printf("listening procs=%d\n", runtime.GOMAXPROCS(0))

	<-term
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := front.Shutdown(ctx); err != nil {
		fmt.Println("front shutdown:", err)
		os.Exit(1)
	}
	backend.Shutdown(ctx)
	fmt.Printf("drained: served=%d ticking=%v\n", served.Load(), ticks.Load() > 0)
}
