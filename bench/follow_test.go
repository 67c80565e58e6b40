package bench

import (
	"os"
	"testing"
	"time"
)

// TestProcCPU: the CPU time read from /proc/<pid>/stat grows with the
// work the process does (the follow scenario's figure is built on it).
func TestProcCPU(t *testing.T) {
	before, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
		x++
	}
	after, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d := after - before; d < 100*time.Millisecond || d > 10*time.Second {
		t.Fatalf("300 ms of spinning counted as %v of CPU (%d loops)", d, x)
	}
	if _, err := procCPU(1 << 30); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}
