// Command floor is the near-zero user-space load for bench:floor (bench/floor.ts): how fast this
// machine opens and holds N TCP connections along the lab's path when the programs at both ends
// do almost nothing. Raw non-blocking sockets and one epoll loop per process; no goroutine, no
// allocation and no read or write per connection, so what remains is the kernel's work (both TCP
// ends, veth, bridge, NAT, conntrack).
//
//	floor server --listen IP:PORT[,IP:PORT...]
//	floor client --targets IP:PORT[,...] --connections N --max-in-flight K [--procs P] [--target-order interleaved|blocks]
//
// Both print one JSON line to stdout every 200 ms; see server.go and client.go.
package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// reportEvery is how often each process prints its counts.
const reportEvery = 200 * time.Millisecond

const usage = `usage:
  floor server --listen IP:PORT[,IP:PORT...]
  floor client --targets IP:PORT[,...] --connections N --max-in-flight K [--procs P] [--target-order interleaved|blocks]`

func main() {
	withoutAsyncPreemption()
	if len(os.Args) < 2 {
		fail(2, usage)
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = runServer(os.Args[2:])
	case "client":
		err = runClient(os.Args[2:])
	default:
		fail(2, usage)
	}
	if err != nil {
		var u usageError
		if errors.As(err, &u) {
			fail(2, fmt.Sprintf("floor %s: %v\n%s", os.Args[1], err, usage))
		}
		fail(1, fmt.Sprintf("floor %s: %v", os.Args[1], err))
	}
}

func fail(code int, msg string) {
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(code)
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

// flags parses "--name value" pairs into a map; every name must be in known.
func flags(args []string, known ...string) (map[string]string, error) {
	out := map[string]string{}
	for i := 0; i < len(args); i += 2 {
		name := strings.TrimPrefix(args[i], "--")
		if name == args[i] || i+1 >= len(args) {
			return nil, usageError{fmt.Sprintf("expected --flag value, got %q", args[i])}
		}
		ok := false
		for _, k := range known {
			ok = ok || k == name
		}
		if !ok {
			return nil, usageError{fmt.Sprintf("unknown flag --%s", name)}
		}
		out[name] = args[i+1]
	}
	return out, nil
}

// positive parses a whole number ≥ 1.
func positive(name, raw string) (int, error) {
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 {
		return 0, usageError{fmt.Sprintf("--%s: expected a whole number ≥ 1, got %q", name, raw)}
	}
	return n, nil
}

// addresses parses "IP:PORT,IP:PORT" (IPv4 only: the lab's addresses are).
func addresses(name, raw string) ([]syscall.SockaddrInet4, error) {
	var out []syscall.SockaddrInet4
	for _, s := range splitComma(raw) {
		ap, err := netip.ParseAddrPort(s)
		if err != nil || !ap.Addr().Is4() {
			return nil, usageError{fmt.Sprintf("--%s: %q is not IPv4:PORT", name, s)}
		}
		out = append(out, syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()})
	}
	return out, nil
}

func splitComma(raw string) []string {
	parts := strings.Split(raw, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

func joinComma(parts []string) string { return strings.Join(parts, ",") }

// raiseNofile lifts the open-file soft limit to the hard one: every connection is an fd.
func raiseNofile() error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	l.Cur = l.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
}

// epollWait waits until the next report is due, at most; EINTR (a signal) counts as no event.
func epollWait(epfd int, events []syscall.EpollEvent, next time.Time) (int, error) {
	ms := int(time.Until(next) / time.Millisecond)
	if ms < 0 {
		ms = 0
	}
	n, e := rawEpollWait(epfd, events, ms)
	if e != 0 {
		return 0, e
	}
	return n, nil
}
