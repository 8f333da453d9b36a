package main

import (
	"encoding/binary"
	"os"
	"strings"
	"syscall"
	"unsafe"
)

// The hot path's system calls, made raw. Through syscall.Syscall the runtime marks the thread as
// in a system call, and its monitor hands the process's P to another thread when a call lasts
// over ~20 µs, which a connect() does here (it runs the handshake through the NAT inline).
// Profiled at 1M, those handoffs and the monitor's own wakeups took ~10% of both cores in
// context switches, a cost of the Go runtime and not of the kernel's TCP path that this
// program measures. One goroutine does all the work, so nothing else needs the P meanwhile.

// rawSockaddr is a sockaddr_in, built once per target.
type rawSockaddr syscall.RawSockaddrInet4

func toRaw(a syscall.SockaddrInet4) rawSockaddr {
	r := rawSockaddr{Family: syscall.AF_INET, Addr: a.Addr}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&r.Port))[:], uint16(a.Port))
	return r
}

func rawSocket() (int, syscall.Errno) {
	fd, _, e := syscall.RawSyscall(syscall.SYS_SOCKET, syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	return int(fd), e
}

func rawConnect(fd int, sa *rawSockaddr) syscall.Errno {
	_, _, e := syscall.RawSyscall(syscall.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(sa)), unsafe.Sizeof(*sa))
	return e
}

func rawEpollCtl(epfd, op, fd int, ev *syscall.EpollEvent) syscall.Errno {
	_, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	return e
}

// rawSoError is getsockopt(SO_ERROR): a pending connect's outcome.
func rawSoError(fd int) (int32, syscall.Errno) {
	var v int32
	l := uint32(unsafe.Sizeof(v))
	_, _, e := syscall.RawSyscall6(syscall.SYS_GETSOCKOPT, uintptr(fd), syscall.SOL_SOCKET, syscall.SO_ERROR,
		uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&l)), 0)
	return v, e
}

// rawEpollWait blocks without telling the runtime (see above); EINTR counts as no event.
func rawEpollWait(epfd int, events []syscall.EpollEvent, ms int) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_WAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(ms), 0, 0)
	if e == syscall.EINTR {
		return 0, 0
	}
	return int(n), e
}

// withoutAsyncPreemption re-executes the program with GODEBUG=asyncpreemptoff=1 once: a goroutine
// blocked in a raw epoll_wait looks busy to the runtime, which would otherwise signal it every
// 10 ms to preempt it (a signal per process per 10 ms, each ending the wait early).
func withoutAsyncPreemption() {
	if strings.Contains(os.Getenv("GODEBUG"), "asyncpreemptoff=1") {
		return
	}
	godebug := "asyncpreemptoff=1"
	if old := os.Getenv("GODEBUG"); old != "" {
		godebug = old + "," + godebug
	}
	exe, err := os.Executable()
	if err != nil {
		return // run as is: slower, still correct
	}
	_ = syscall.Exec(exe, os.Args, append(os.Environ(), "GODEBUG="+godebug))
}
