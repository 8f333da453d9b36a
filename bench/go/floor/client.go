package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// clientConfig is one process's share.
type clientConfig struct {
	targets     []string
	connections int
	maxInFlight int
	procs       int
	blocks      bool
}

// client opens its share of connections, keeps maxInFlight connects pending and holds every
// established fd (out of epoll, never read) until told to stop.
type client struct {
	epfd        int
	targets     []rawSockaddr
	blocks      bool
	want        int
	maxInFlight int
	maxFailed   int
	started     int
	established int
	failed      int
	inFlight    int
	// held is allocated once for the whole share: no allocation per connection.
	held  []int32
	pid   int
	began time.Time
}

// runClient: floor client --targets ... --connections N --max-in-flight K [--procs P]
// [--target-order interleaved|blocks]. With P > 1 it starts P−1 copies of itself for the other
// shares (their lines go to the same stdout) and runs the last share itself. Holds until SIGTERM
// or SIGINT; on SIGHUP (the lab's stop) resets every connection first.
func runClient(args []string) error {
	cfg, err := parseClient(args)
	if err != nil {
		return err
	}
	if err := raiseNofile(); err != nil {
		return fmt.Errorf("raising the open-file limit: %w", err)
	}
	// Before the copies start: a signal that comes while they do is not lost.
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	shares := split(cfg)
	copies, err := startCopies(shares[:len(shares)-1])
	if err != nil {
		copies.signal(syscall.SIGKILL)
		return err
	}
	c, err := newClient(shares[len(shares)-1])
	if err != nil {
		copies.signal(syscall.SIGKILL)
		return err
	}
	s, err := c.ramp(sig)
	if err != nil {
		copies.signal(syscall.SIGKILL)
		return err
	}
	if s == nil {
		s = <-sig // hold
	}
	copies.stop(s)
	if s == syscall.SIGHUP {
		c.reset()
	}
	copies.wait(60 * time.Second)
	return nil
}

func parseClient(args []string) (clientConfig, error) {
	f, err := flags(args, "targets", "connections", "max-in-flight", "procs", "target-order")
	if err != nil {
		return clientConfig{}, err
	}
	cfg := clientConfig{procs: 1, blocks: f["target-order"] == "blocks"}
	if o := f["target-order"]; o != "" && o != "blocks" && o != "interleaved" {
		return cfg, usageError{fmt.Sprintf("--target-order: interleaved or blocks, got %q", o)}
	}
	if _, err := addresses("targets", f["targets"]); err != nil {
		return cfg, err
	}
	cfg.targets = splitComma(f["targets"])
	if cfg.connections, err = positive("connections", f["connections"]); err != nil {
		return cfg, err
	}
	if cfg.maxInFlight, err = positive("max-in-flight", f["max-in-flight"]); err != nil {
		return cfg, err
	}
	if p, ok := f["procs"]; ok {
		if cfg.procs, err = positive("procs", p); err != nil {
			return cfg, err
		}
	}
	// A bound on the processes one client starts (the lab's client has the same one).
	if cfg.procs > 64 || cfg.procs > cfg.connections {
		return cfg, usageError{fmt.Sprintf("--procs %d: at most 64 and at most --connections", cfg.procs)}
	}
	return cfg, nil
}

func newClient(cfg clientConfig) (*client, error) {
	targets, err := addresses("targets", joinComma(cfg.targets))
	if err != nil {
		return nil, err
	}
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	raw := make([]rawSockaddr, len(targets))
	for i, t := range targets {
		raw[i] = toRaw(t)
	}
	return &client{
		epfd:        epfd,
		targets:     raw,
		blocks:      cfg.blocks,
		want:        cfg.connections,
		maxInFlight: cfg.maxInFlight,
		maxFailed:   cfg.connections/100 + 10,
		held:        make([]int32, 0, cfg.connections),
		pid:         os.Getpid(),
		began:       time.Now(),
	}, nil
}

// ramp connects until the share is established (nil signal) or a signal comes (checked at each
// report, so within 200 ms).
func (c *client) ramp(sig <-chan os.Signal) (os.Signal, error) {
	events := make([]syscall.EpollEvent, 1024)
	next := time.Now().Add(reportEvery)
	for c.established < c.want {
		if err := c.fill(); err != nil {
			return nil, err
		}
		n, err := epollWait(c.epfd, events, next)
		if err != nil {
			return nil, fmt.Errorf("epoll_wait: %w", err)
		}
		for i := 0; i < n; i++ {
			if err := c.complete(int(events[i].Fd)); err != nil {
				return nil, err
			}
		}
		if c.failed > c.maxFailed {
			return nil, fmt.Errorf("%d connects failed (bound %d; %d established)", c.failed, c.maxFailed, c.established)
		}
		if now := time.Now(); !now.Before(next) {
			c.report(false)
			next = now.Add(reportEvery)
			select {
			case s := <-sig:
				return s, nil
			default:
			}
		}
	}
	c.report(true)
	return nil, nil
}

// fill starts connects until maxInFlight are pending or the share is covered.
func (c *client) fill() error {
	for c.inFlight < c.maxInFlight && c.established+c.inFlight < c.want {
		if err := c.connect(); err != nil {
			return err
		}
	}
	return nil
}

// target is where connect number i goes: blocks as the lab's client (target k gets connects
// [k·n/T, (k+1)·n/T) of the share), else round-robin.
func (c *client) target(i int) *rawSockaddr {
	t := len(c.targets)
	if c.blocks {
		return &c.targets[(i%c.want)*t/c.want]
	}
	return &c.targets[i%t]
}

func (c *client) connect() error {
	fd, e := rawSocket()
	if e != 0 {
		return fmt.Errorf("socket: %w", e)
	}
	e = rawConnect(fd, c.target(c.started))
	c.started++
	switch e {
	case 0:
		c.hold(fd)
	case syscall.EINPROGRESS:
		ev := syscall.EpollEvent{Events: syscall.EPOLLOUT, Fd: int32(fd)}
		if e := rawEpollCtl(c.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); e != 0 {
			return fmt.Errorf("epoll_ctl add: %w", e)
		}
		c.inFlight++
	default:
		syscall.Close(fd)
		c.failed++
	}
	return nil
}

// complete: a pending connect is writable (connected) or failed; SO_ERROR says which.
func (c *client) complete(fd int) error {
	var none syscall.EpollEvent // a pointer is required before Linux 2.6.9; ignored since
	if e := rawEpollCtl(c.epfd, syscall.EPOLL_CTL_DEL, fd, &none); e != 0 {
		return fmt.Errorf("epoll_ctl del: %w", e)
	}
	c.inFlight--
	soErr, e := rawSoError(fd)
	if e == 0 && soErr == 0 {
		c.hold(fd)
		return nil
	}
	syscall.Close(fd)
	c.failed++
	return nil
}

func (c *client) hold(fd int) {
	c.held = append(c.held, int32(fd))
	c.established++
}

// reset closes every held connection with an RST (SO_LINGER 0), as the lab's client does on
// SIGHUP: the server's side closes at once, while the NAT still maps the connection.
func (c *client) reset() {
	linger := syscall.Linger{Onoff: 1, Linger: 0}
	for _, fd := range c.held {
		_ = syscall.SetsockoptLinger(int(fd), syscall.SOL_SOCKET, syscall.SO_LINGER, &linger)
		syscall.Close(int(fd))
	}
	c.held = c.held[:0]
}

func (c *client) report(done bool) {
	if done {
		fmt.Fprintf(os.Stdout, "{\"pid\":%d,\"done\":true,\"established\":%d,\"failed\":%d,\"inFlight\":%d,\"seconds\":%.3f}\n",
			c.pid, c.established, c.failed, c.inFlight, time.Since(c.began).Seconds())
		return
	}
	fmt.Fprintf(os.Stdout, "{\"pid\":%d,\"established\":%d,\"failed\":%d,\"inFlight\":%d}\n",
		c.pid, c.established, c.failed, c.inFlight)
}
