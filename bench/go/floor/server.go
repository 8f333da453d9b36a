package main

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

// server accepts on every listener until told to stop and keeps each accepted fd, never reading.
type server struct {
	epfd      int
	listeners []int
	// paused: listeners taken out of epoll at EMFILE, put back at the next report (a level-
	// triggered listener with a full fd table would otherwise wake the loop without end).
	paused   []int
	accepted int
	emfile   int
}

// runServer: floor server --listen IP:PORT[,...]. Prints {"accepted":N,"emfile":N} at once and
// every 200 ms; runs until killed.
func runServer(args []string) error {
	f, err := flags(args, "listen")
	if err != nil {
		return err
	}
	if f["listen"] == "" {
		return usageError{"--listen is required"}
	}
	addrs, err := addresses("listen", f["listen"])
	if err != nil {
		return err
	}
	if err := raiseNofile(); err != nil {
		return fmt.Errorf("raising the open-file limit: %w", err)
	}
	s := &server{}
	if s.epfd, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("epoll_create1: %w", err)
	}
	for i := range addrs {
		fd, err := listen(&addrs[i])
		if err != nil {
			return err
		}
		s.listeners = append(s.listeners, fd)
		if err := s.watch(fd); err != nil {
			return err
		}
	}
	return s.loop()
}

// listen opens a non-blocking listening socket on a.
func listen(a *syscall.SockaddrInet4) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return -1, fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	if err := syscall.Bind(fd, a); err != nil {
		return -1, fmt.Errorf("bind %v:%d: %w", a.Addr, a.Port, err)
	}
	// The kernel caps the backlog at net.core.somaxconn (the lab's namespace: 65535).
	if err := syscall.Listen(fd, 65535); err != nil {
		return -1, fmt.Errorf("listen: %w", err)
	}
	return fd, nil
}

func (s *server) watch(fd int) error {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}
	if err := syscall.EpollCtl(s.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl add: %w", err)
	}
	return nil
}

func (s *server) loop() error {
	events := make([]syscall.EpollEvent, 256)
	s.report()
	next := time.Now().Add(reportEvery)
	for {
		n, err := epollWait(s.epfd, events, next)
		if err != nil {
			return fmt.Errorf("epoll_wait: %w", err)
		}
		for i := 0; i < n; i++ {
			if err := s.acceptAll(int(events[i].Fd)); err != nil {
				return err
			}
		}
		if now := time.Now(); !now.Before(next) {
			s.report()
			if err := s.resume(); err != nil {
				return err
			}
			next = now.Add(reportEvery)
		}
	}
}

// acceptAll accepts until the queue is empty and keeps the fds. accept4 is called raw, with no
// address: syscall.Accept4 would allocate the peer's address for every connection.
func (s *server) acceptAll(lfd int) error {
	for {
		fd, _, errno := syscall.RawSyscall6(syscall.SYS_ACCEPT4, uintptr(lfd), 0, 0,
			syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0, 0)
		switch errno {
		case 0:
			_ = fd // held: never read, never closed
			s.accepted++
		case syscall.EAGAIN:
			return nil
		case syscall.ECONNABORTED, syscall.EINTR:
			// that one is gone, or try again: the next
		case syscall.EMFILE, syscall.ENFILE:
			s.emfile++
			return s.pause(lfd)
		default:
			return fmt.Errorf("accept4: %w", errno)
		}
	}
}

func (s *server) pause(lfd int) error {
	if err := syscall.EpollCtl(s.epfd, syscall.EPOLL_CTL_DEL, lfd, nil); err != nil {
		return fmt.Errorf("epoll_ctl del: %w", err)
	}
	s.paused = append(s.paused, lfd)
	return nil
}

func (s *server) resume() error {
	for _, fd := range s.paused {
		if err := s.watch(fd); err != nil {
			return err
		}
	}
	s.paused = s.paused[:0]
	return nil
}

func (s *server) report() {
	fmt.Fprintf(os.Stdout, "{\"accepted\":%d,\"emfile\":%d}\n", s.accepted, s.emfile)
}
