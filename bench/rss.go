package bench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RSS is measured on a child process running only the broker (the rewind
// binary, `rewind serve`, or the kfakepeer program for kfake), so
// the load generator's own memory is not counted. It is sampled from
// /proc/<pid>/status (VmRSS) every 20 ms; the figure is the peak while
// serving. The page cache holding segment files is not RSS: Rewind reads
// segments with pread/sendfile, never mmap.

// child is a broker running in a child process.
type child struct {
	cmd  *exec.Cmd
	addr string
}

func (c *child) addrs() []string { return []string{c.addr} }

// close stops the child with SIGTERM (Rewind then shuts down cleanly) and
// waits for it.
func (c *child) close() error {
	c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Minute):
		c.cmd.Process.Kill()
		return fmt.Errorf("%s did not stop after SIGTERM", c.cmd.Path)
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startChild runs exe with args (the address replaces "{addr}") and waits
// until it accepts connections.
func startChild(exe string, args ...string) (*child, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "{addr}", addr)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, addr: addr}
	for deadline := time.Now().Add(time.Minute); ; {
		if nc, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			nc.Close()
			return c, nil
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			return nil, fmt.Errorf("%s %s: not listening after 1m", exe, strings.Join(args, " "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rssOf reads a process's resident set size in bytes.
func rssOf(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// peakRSS samples pid's RSS until stop is closed and returns the peak.
func peakRSS(pid int, stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var peak int64
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if r, err := rssOf(pid); err == nil {
				peak = max(peak, r)
			}
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// rssResult is one system's RSS measurement.
type rssResult struct{ idle, serving int64 }

// process is a broker in a child process: rewind serve or kfakepeer.
type process interface {
	target
	pid() int
}

func (c *child) pid() int      { return c.cmd.Process.Pid }
func (t *peerTarget) pid() int { return t.cmd.Process.Pid }

// serveAndMeasure reads every byte of topic back from c while sampling
// its RSS.
func serveAndMeasure(ctx context.Context, cfg *Config, c process, topic string) (int64, error) {
	stop := make(chan struct{})
	peak := peakRSS(c.pid(), stop)
	_, err := consumeAll(ctx, cfg, c, topic)
	close(stop)
	return <-peak, err
}

// rewindRSS measures a `rewind serve` child: its RSS when empty, then,
// after storing stored bytes (under --fsync=never, to fill fast) and a
// clean restart with the default --fsync=always, its peak RSS while
// consumers read everything back.
func rewindRSS(ctx context.Context, cfg *Config, root string, stored int64) (rssResult, error) {
	dir, err := os.MkdirTemp(root, "rss-rewind-")
	if err != nil {
		return rssResult{}, err
	}
	defer os.RemoveAll(dir)
	serve := func(fsync string) (*child, error) {
		return startChild(cfg.Exe, "serve", "--listen", "{addr}", "--data-dir", dir, "--fsync", fsync, "--log-level", "warn", "--http", "")
	}
	c, err := serve("never")
	if err != nil {
		return rssResult{}, err
	}
	var res rssResult
	time.Sleep(200 * time.Millisecond)
	res.idle, _ = rssOf(c.cmd.Process.Pid)
	topic, err := createTopic(ctx, c, "rss", 8)
	if err == nil {
		err = fill(ctx, cfg, c, topic, stored)
	}
	if cerr := c.close(); err == nil && cerr != nil {
		err = fmt.Errorf("rewind serve: %w", cerr)
	}
	if err != nil {
		return rssResult{}, err
	}
	if c, err = serve("always"); err != nil {
		return rssResult{}, err
	}
	defer c.close()
	res.serving, err = serveAndMeasure(ctx, cfg, c, topic)
	return res, err
}

// kfakeRSS measures kfake in its kfakepeer process the same way, without
// the restart (kfake keeps its data in memory).
func kfakeRSS(ctx context.Context, cfg *Config, p peer, stored int64) (rssResult, error) {
	c, err := p.start()
	if err != nil {
		return rssResult{}, err
	}
	defer c.close()
	var res rssResult
	time.Sleep(200 * time.Millisecond)
	res.idle, _ = rssOf(c.cmd.Process.Pid)
	topic, err := createTopic(ctx, c, "rss", 8)
	if err == nil {
		err = fill(ctx, cfg, c, topic, stored)
	}
	if err != nil {
		return rssResult{}, err
	}
	res.serving, err = serveAndMeasure(ctx, cfg, c, topic)
	return res, err
}
