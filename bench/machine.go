package bench

import (
	"io"
	"net"
	"os"
	"path/filepath"
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
