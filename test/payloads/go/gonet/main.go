// Command gonet is a km test payload: the Go runtime's network poller
// (epoll, non-blocking sockets, accept4, getsockopt SO_ERROR) serving HTTP
// over 127.0.0.1 to clients in the same process, a reverse proxy in front
// of it (the shape of Knative's queue-proxy), a UDP exchange and a unix
// socket. It prints deterministic output only (no ports or timings).
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

func fail(format string, args ...any) {
	fmt.Printf("FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	// Backend: a plain HTTP server.
	backend, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("listen: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Query().Get("n"), strings.ToUpper(string(body)))
	})
	go http.Serve(backend, mux)

	// Proxy in front of it.
	target, _ := url.Parse("http://" + backend.Addr().String())
	proxy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("listen: %v", err)
	}
	go http.Serve(proxy, httputil.NewSingleHostReverseProxy(target))

	client := &http.Client{Timeout: 30 * time.Second}
	get := func(base string, n int) string {
		resp, err := client.Post(fmt.Sprintf("http://%s/echo?n=%d", base, n), "text/plain", strings.NewReader(fmt.Sprintf("body-%d", n)))
		if err != nil {
			return "error: " + err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, b)
	}
	fmt.Println("direct:", get(backend.Addr().String(), 1))
	fmt.Println("proxied:", get(proxy.Addr().String(), 2))

	// Concurrent requests through the proxy.
	const clients = 20
	var wg sync.WaitGroup
	results := make([]string, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = get(proxy.Addr().String(), 100+i)
		}(i)
	}
	wg.Wait()
	sort.Strings(results)
	ok := 0
	for i, r := range results {
		if r == fmt.Sprintf("200 POST %d BODY-%d", 100+i, 100+i) {
			ok++
		}
	}
	fmt.Printf("concurrent: %d/%d ok\n", ok, clients)

	// A read deadline on an idle connection (timers + netpoller).
	c, err := net.Dial("tcp", backend.Addr().String())
	if err != nil {
		fail("dial: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = c.Read(make([]byte, 1))
	ne, isNet := err.(net.Error)
	fmt.Println("read deadline: timeout =", isNet && ne.Timeout())
	fmt.Fprintf(c, "GET /echo?n=3 HTTP/1.0\r\n\r\n")
	c.SetReadDeadline(time.Time{})
	status, _ := bufio.NewReader(c).ReadString('\n')
	fmt.Printf("raw HTTP/1.0: %q\n", strings.TrimSpace(status))
	c.Close()

	// UDP echo.
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		fail("udp: %v", err)
	}
	go func() {
		buf := make([]byte, 64)
		n, from, err := u.ReadFrom(buf)
		if err == nil {
			u.WriteTo([]byte(strings.ToUpper(string(buf[:n]))), from)
		}
	}()
	uc, err := net.Dial("udp", u.LocalAddr().String())
	if err != nil {
		fail("udp dial: %v", err)
	}
	uc.Write([]byte("datagram"))
	buf := make([]byte, 64)
	uc.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := uc.Read(buf)
	fmt.Printf("udp: %q %v\n", buf[:n], err)

	// Unix socket in the working directory.
	dir, _ := os.Getwd()
	path := filepath.Join(dir, "gonet.sock")
	os.Remove(path)
	ul, err := net.Listen("unix", "gonet.sock")
	if err != nil {
		fail("unix listen: %v", err)
	}
	go func() {
		c, err := ul.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	ucon, err := net.Dial("unix", "gonet.sock")
	if err != nil {
		fail("unix dial: %v", err)
	}
	fmt.Fprintf(ucon, "over unix\n")
	line, _ := bufio.NewReader(ucon).ReadString('\n')
	fmt.Printf("unix: %q local=%q remote=%q\n", line, ul.Addr().String(), ucon.RemoteAddr().String())
	ucon.Close()
	ul.Close()
	fmt.Println("done")
}
