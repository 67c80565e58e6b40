package broker

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// A task never waits behind a busy worker: the second task runs while the
// first still blocks, and the first finishes only because the second ran.
func TestWorkersNeverQueueBehindABusyOne(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorkers(ctx)
	second := make(chan struct{})
	firstDone := make(chan struct{})
	w.run(func() {
		select {
		case <-second:
		case <-time.After(10 * time.Second):
		}
		close(firstDone)
	})
	w.run(func() { close(second) })
	select {
	case <-firstDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the second task did not run while the first was busy")
	}
	select {
	case <-second:
	default:
		t.Fatal("the first task ended without the second having run")
	}
}

// Sequential tasks reuse an idle worker, and the workers end with the
// broker's context.
func TestWorkersReusedAndEndWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	w := newWorkers(ctx)
	base := runtime.NumGoroutine()
	for i := 0; i < 100; i++ {
		done := make(chan struct{})
		w.run(func() { close(done) })
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("task %d did not run", i)
		}
		time.Sleep(time.Millisecond) // for the worker to wait for the next task
	}
	// One worker would do; a new goroutine per task would leave up to 100
	// (each idle for workerIdle).
	if n := runtime.NumGoroutine(); n > base+20 {
		t.Fatalf("%d goroutines after 100 sequential tasks, %d before: workers not reused", n, base)
	}
	cancel()
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > base; {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines 10s after the context ended, %d before the first task", runtime.NumGoroutine(), base)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
