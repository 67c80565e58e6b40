package bench

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// TestProcCPU: the CPU time read from /proc/<pid>/stat grows with the
// work the process does (the follow scenario's figure is built on it).
func TestProcCPU(t *testing.T) {
	// The reference is the kernel's own count for this process
	// (getrusage), not the wall clock: on a busy machine 300 ms of
	// spinning may get a small share of a core.
	rusage := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	before, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	ref0 := rusage()
	x := 0
	for deadline := time.Now().Add(time.Minute); rusage()-ref0 < 300*time.Millisecond; x++ {
		if time.Now().After(deadline) {
			t.Fatal("this process got less than 300 ms of CPU in a minute")
		}
	}
	after, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	ref := rusage() - ref0
	// /proc counts in 10 ms ticks, sampled: allow a few of them.
	if d := after - before; d < ref-50*time.Millisecond || d > ref+50*time.Millisecond {
		t.Fatalf("%v of CPU (getrusage) counted as %v by procCPU (%d loops)", ref, d, x)
	}
	if _, err := procCPU(1 << 30); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}
