package broker

import (
	"context"
	"time"
)

// workers run the deferred part of requests (reply.later: a commit
// waiting until it is durable, a fetch long poll) on goroutines
// kept between requests, instead of one new goroutine per request. A new
// goroutine starts with a small stack, and the path of a deferred reply
// (the group coordinator applying a commit, a fetch reading its
// partitions) grows it by copying on every request; a kept one has grown
// already. A task never waits for a busy worker: it goes to an idle one,
// or to a new one, so deferred replies run as concurrently as before.
// An idle worker ends after workerIdle, or when the broker closes.
type workers struct {
	ctx  context.Context
	idle chan func() // unbuffered: a send succeeds only to a waiting worker
}

// workerIdle is how long a worker waits for a task before it ends.
const workerIdle = 30 * time.Second

func newWorkers(ctx context.Context) *workers {
	return &workers{ctx: ctx, idle: make(chan func())}
}

// run runs f on an idle worker, or on a new one if none is idle.
func (w *workers) run(f func()) {
	select {
	case w.idle <- f:
	default:
		go w.loop(f)
	}
}

func (w *workers) loop(f func()) {
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		f()
		f = nil // not kept alive while idle
		t.Reset(workerIdle)
		select {
		case f = <-w.idle:
		case <-t.C:
			return
		case <-w.ctx.Done():
			return
		}
	}
}
