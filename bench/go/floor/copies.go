package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// split divides cfg into cfg.procs shares as the lab's client does (workload/client/split.ts):
// near-equal connections and connects in flight (each ≥ 1), and the targets rotated by i/P of
// their number, so that shares ramping in blocks start at different servers.
func split(cfg clientConfig) []clientConfig {
	p := cfg.procs
	shares := make([]clientConfig, p)
	n := len(cfg.targets)
	for i := range shares {
		shift := i * n / p
		shares[i] = clientConfig{
			targets:     append(append([]string{}, cfg.targets[shift:]...), cfg.targets[:shift]...),
			connections: spread(cfg.connections, p, i),
			maxInFlight: max(1, spread(cfg.maxInFlight, p, i)),
			procs:       1,
			blocks:      cfg.blocks,
		}
	}
	return shares
}

// spread is slot i of n spread over k slots, earlier slots taking the remainder (shared/spread.ts).
func spread(n, k, i int) int {
	if i < n%k {
		return n/k + 1
	}
	return n / k
}

// copies are the other shares' processes: this program again, run with one share each.
type copies struct {
	cmds     []*exec.Cmd
	done     []chan struct{}
	stopping atomic.Bool
}

func startCopies(shares []clientConfig) (*copies, error) {
	cs := &copies{}
	self, err := os.Executable()
	if err != nil {
		self = "/proc/self/exe"
	}
	for _, s := range shares {
		order := "interleaved"
		if s.blocks {
			order = "blocks"
		}
		cmd := exec.Command(self, "client", "--targets", joinComma(s.targets),
			"--connections", strconv.Itoa(s.connections), "--max-in-flight", strconv.Itoa(s.maxInFlight),
			"--procs", "1", "--target-order", order)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			return cs, fmt.Errorf("starting a copy: %w", err)
		}
		cs.cmds = append(cs.cmds, cmd)
		cs.done = append(cs.done, make(chan struct{}))
		go cs.watch(len(cs.cmds) - 1)
	}
	return cs, nil
}

// watch waits for copy i; one that ends before it was told to stop ends the whole client, with its code.
func (cs *copies) watch(i int) {
	err := cs.cmds[i].Wait()
	close(cs.done[i])
	if cs.stopping.Load() {
		return
	}
	code := 1
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() > 0 {
		code = ee.ExitCode()
	}
	fmt.Fprintf(os.Stderr, "floor client: copy %d (pid %d) ended (%v): stopping\n", i+1, cs.cmds[i].Process.Pid, err)
	cs.signal(syscall.SIGKILL)
	os.Exit(code)
}

// stop passes the lab's signal on to every copy.
func (cs *copies) stop(s os.Signal) {
	cs.stopping.Store(true)
	cs.signal(s)
}

func (cs *copies) signal(s os.Signal) {
	if cs == nil {
		return
	}
	if s == syscall.SIGKILL {
		cs.stopping.Store(true)
	}
	for _, cmd := range cs.cmds {
		_ = cmd.Process.Signal(s)
	}
}

// wait waits for every copy, at most d in all; the rest are killed.
func (cs *copies) wait(d time.Duration) {
	deadline := time.After(d)
	for _, ch := range cs.done {
		select {
		case <-ch:
		case <-deadline:
			cs.signal(syscall.SIGKILL)
			return
		}
	}
}
