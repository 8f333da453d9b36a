// Command ref is the Go reference for the loopback bench: the goroutine-per-connection server
// and client a Go developer would write, standard library only, default runtime settings.
//
//	ref server --listen 127.0.0.31:7000,127.0.0.32:7000
//	ref client --targets 127.0.0.31:7000,127.0.0.32:7000 --connections 19000 --max-in-flight 1024
//
// The server echoes what it reads (as the lab's server echoes pings) and prints
// {"live":N,"accepted":N} every 100 ms; the client holds its connections and prints
// {"established":N,"failed":N,"elapsedMs":N} every 50 ms. Both run until SIGTERM or SIGINT.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Read buffer per connection: a ping is a few bytes, so a small buffer is what the job takes.
const bufSize = 512

// A dial that fails is retried after this long; past maxFailures the client gives up.
const (
	retryDelay  = 50 * time.Millisecond
	maxFailures = 1000
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	raiseOpenFileLimit()
	switch os.Args[1] {
	case "server":
		server(os.Args[2:])
	case "client":
		client(os.Args[2:])
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ref server --listen ip:port,... | ref client --targets ip:port,... --connections N --max-in-flight K")
	os.Exit(2)
}

// raiseOpenFileLimit lifts the soft open-file limit to the hard one: every connection is a
// file descriptor. (Go since 1.19 does this by itself at start; done here so it does not depend
// on the toolchain and says what the program needs.)
func raiseOpenFileLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fail("getrlimit: %v", err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fail("setrlimit: %v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ref: "+format+"\n", args...)
	os.Exit(1)
}

// untilSignal blocks until SIGTERM or SIGINT, then exits 0: a stop asked for is a clean stop.
func untilSignal() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	os.Exit(0)
}

func server(args []string) {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	listen := fs.String("listen", "", "comma-separated ip:port to listen on")
	fs.Parse(args)
	if *listen == "" {
		usage()
	}
	var live, accepted atomic.Int64
	for _, addr := range strings.Split(*listen, ",") {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fail("listen: %v", err)
		}
		go acceptLoop(ln, &live, &accepted)
	}
	go func() {
		for range time.Tick(100 * time.Millisecond) {
			fmt.Printf("{\"live\":%d,\"accepted\":%d}\n", live.Load(), accepted.Load())
		}
	}()
	untilSignal()
}

func acceptLoop(ln net.Listener, live, accepted *atomic.Int64) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			// Out of descriptors and the like pass; back off briefly (as net/http does), don't spin.
			fmt.Fprintf(os.Stderr, "ref: accept: %v\n", err)
			time.Sleep(5 * time.Millisecond)
			continue
		}
		accepted.Add(1)
		live.Add(1)
		go func() {
			defer live.Add(-1)
			echo(conn)
		}()
	}
}

// echo writes back whatever the peer sends until it closes; idle, it sits in Read.
func echo(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, bufSize)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		if _, err := conn.Write(buf[:n]); err != nil {
			return
		}
	}
}

func client(args []string) {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	targetList := fs.String("targets", "", "comma-separated ip:port, taken round-robin")
	n := fs.Int("connections", 0, "connections to open and hold")
	maxInFlight := fs.Int("max-in-flight", 1024, "dials in progress at once")
	fs.Parse(args)
	targets := strings.Split(*targetList, ",")
	if *targetList == "" || *n < 1 || *maxInFlight < 1 {
		usage()
	}
	var established, failed atomic.Int64
	start := time.Now()
	reached := make(chan time.Duration, 1) // when the n-th connection came up
	go report(&established, &failed, start, reached)
	go func() {
		sem := make(chan struct{}, *maxInFlight) // a slot per dial in progress
		for i := 0; i < *n; i++ {
			sem <- struct{}{}
			go func(target string) {
				conn := dial(target, &failed)
				<-sem
				if established.Add(1) == int64(*n) {
					reached <- time.Since(start)
				}
				hold(conn)
				established.Add(-1)
			}(targets[i%len(targets)])
		}
	}()
	untilSignal()
}

// dial connects to target, retrying failures until maxFailures have happened in all.
func dial(target string, failed *atomic.Int64) net.Conn {
	for {
		conn, err := net.Dial("tcp", target)
		if err == nil {
			return conn
		}
		if failed.Add(1) > maxFailures {
			fail("more than %d failed dials, last: %v", maxFailures, err)
		}
		time.Sleep(retryDelay)
	}
}

// hold keeps the connection open until the peer closes it, reading whatever comes.
func hold(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, bufSize)
	for {
		if _, err := conn.Read(buf); err != nil {
			return
		}
	}
}

// report prints a status line every 50 ms, and one at the moment the last connection came up
// (so the ramp's length does not depend on the tick).
func report(established, failed *atomic.Int64, start time.Time, reached <-chan time.Duration) {
	tick := time.NewTicker(50 * time.Millisecond)
	for {
		var elapsed time.Duration
		select {
		case <-tick.C:
			elapsed = time.Since(start)
		case elapsed = <-reached:
		}
		fmt.Printf("{\"established\":%d,\"failed\":%d,\"elapsedMs\":%d}\n", established.Load(), failed.Load(), elapsed.Milliseconds())
	}
}
