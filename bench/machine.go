package bench

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rewindhq/rewind/storage/vfs"
)

// The machine's own limits, measured in the same run so that every figure
// can be read as a fraction of what the hardware gave at that moment.

// loopbackTCP measures one loopback TCP connection: one goroutine writes
// 1 MiB buffers for d, another reads them. It returns bytes/s.
func loopbackTCP(d time.Duration) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- 0
			return
		}
		defer c.Close()
		n, _ := io.CopyBuffer(io.Discard, c, make([]byte, 1<<20))
		got <- n
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	buf := payload[:1<<20]
	start := time.Now()
	for time.Since(start) < d {
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return 0, err
		}
	}
	c.Close()
	n := <-got
	return float64(n) / time.Since(start).Seconds(), nil
}

// syncWrite measures sequential write bandwidth to dir with fdatasync, as
// `dd bs=1M count=N conv=fdatasync` does: size bytes written in 1 MiB
// writes, one fdatasync at the end, timed together. It returns bytes/s.
func syncWrite(dir string, size int64) (float64, error) {
	name := filepath.Join(dir, "bench-write.tmp")
	// vfs.Default is what segment files use: Sync is fdatasync.
	f, err := vfs.Default.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	defer os.Remove(name)
	defer f.Close()
	buf := payload[:1<<20]
	start := time.Now()
	for n := int64(0); n < size; n += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			return 0, err
		}
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	return float64(size) / time.Since(start).Seconds(), nil
}

// cpuSample is a reading of the CPU time the machine was busy and the
// time this process used, for the share of the machine used by others
// (other processes, and kernel work such as page writeback) during a
// measurement: the machines are shared, and a busy neighbour shows here.
type cpuSample struct {
	at         time.Time
	busy, self float64 // seconds
}

func sampleCPU() cpuSample {
	s := cpuSample{at: time.Now()}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		// cpu user nice system idle iowait irq softirq steal ...
		f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
		var total, idle float64
		for i := 1; i < len(f) && i <= 8; i++ {
			v, _ := strconv.ParseFloat(f[i], 64)
			total += v
			if i == 4 || i == 5 {
				idle += v
			}
		}
		s.busy = (total - idle) / clockTicks
	}
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		// Fields after the command name (which may hold spaces).
		str := string(b)
		f := strings.Fields(str[strings.LastIndexByte(str, ')')+1:])
		if len(f) > 12 {
			u, _ := strconv.ParseFloat(f[11], 64)
			k, _ := strconv.ParseFloat(f[12], 64)
			s.self = (u + k) / clockTicks
		}
	}
	return s
}

// clockTicks is USER_HZ, the unit of /proc/stat: 100 on Linux.
const clockTicks = 100

// othersShare is the fraction of the machine's CPUs used outside this
// process between a and b.
func othersShare(a, b cpuSample) float64 {
	el := b.at.Sub(a.at).Seconds() * float64(runtime.NumCPU())
	if el <= 0 {
		return 0
	}
	return max(0, (b.busy-a.busy)-(b.self-a.self)) / el
}

// settle puts the machine back in the same state before each
// measurement, so that none pays for an earlier one: it flushes dirty
// pages (a --fsync=never run leaves gigabytes dirty, and deleting them
// still costs a journal commit that the next fsync waits for), and it
// returns the memory of earlier runs (kfake holds everything it is sent)
// to the operating system: a heap gigabytes large leaves the kernel less
// room for dirty pages, and it throttles buffered writes sooner.
func settle() {
	debug.FreeOSMemory()
	syscall.Sync()
}

// fsyncSamples measures what one durable append costs in dir, n times:
// 512 bytes appended to a file, then fdatasync (vfs.Default's Sync, what
// segment files use), as a commit to __consumer_offsets needs at least.
// The file grows, so each fdatasync also writes its new size, as a
// segment's does.
func fsyncSamples(dir string, n int) ([]time.Duration, error) {
	name := filepath.Join(dir, "bench-fsync.tmp")
	f, err := vfs.Default.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer os.Remove(name)
	defer f.Close()
	out := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if _, err := f.Write(payload[:512]); err != nil {
			return nil, err
		}
		if err := f.Sync(); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

// parallelFsyncRate measures how many 512 B append + fdatasync rounds per
// second files files take together, each appended to and synced by its
// own goroutine for d: what the disk gives commits spread over as many
// __consumer_offsets partitions, each with its own fsync.
func parallelFsyncRate(dir string, files int, d time.Duration) (float64, error) {
	var total atomic.Int64
	errs := make(chan error, files)
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for i := range files {
		name := filepath.Join(dir, fmt.Sprintf("bench-pfsync-%d.tmp", i))
		f, err := vfs.Default.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
		if err != nil {
			return 0, err
		}
		defer os.Remove(name)
		defer f.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if _, err := f.Write(payload[:512]); err != nil {
					errs <- err
					return
				}
				if err := f.Sync(); err != nil {
					errs <- err
					return
				}
				total.Add(1)
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(total.Load()) / time.Since(start).Seconds(), nil
}
