package broker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Resource limits. Each protects the broker from clients, not clients from
// each other's mistakes, and each says in the log what it did:
//
//   - --max-connections: connections over the limit are closed as soon as
//     they are accepted (a Kafka client cannot be told why before it has
//     sent a request); the log says so, at most every 10 s with a count.
//   - --max-in-flight: requests read from one connection whose responses
//     are not yet written. At the limit the connection is not read until a
//     response goes out, so a client pipelining without reading responses
//     is slowed down by TCP, not buffered (Kafka reads one request at a
//     time per connection; clients pipeline up to 5).
//   - --max-request-memory: bytes of request frames being handled, across
//     all connections (Kafka's queued.max.request.bytes). Produce data lives
//     in those frames until the append is done. At the limit no connection
//     reads its next request until memory is returned; a frame larger than
//     the whole limit is refused when configured (--max-request-bytes must
//     fit).
//   - --max-fetch-memory: bytes of record data read for Fetch responses
//     that are not yet written to their sockets. At the limit fetches answer
//     with less data or none (no error: the client fetches again), so slow
//     consumers cannot make the broker buffer without bound.
//   - --max-partitions: partitions one topic may have; CreateTopics and
//     CreatePartitions beyond it get INVALID_PARTITIONS with the limit in
//     the message.

// memPool counts bytes held against a limit (0 = unlimited).
type memPool struct {
	name  string // the flag, for messages
	limit int64

	mu      sync.Mutex
	used    int64
	changed chan struct{} // closed and replaced when memory is returned
	full    rateLog
}

func newMemPool(name string, limit int64, log *slog.Logger) *memPool {
	return &memPool{name: name, limit: limit, changed: make(chan struct{}), full: rateLog{log: log, every: 10 * time.Second}}
}

// acquire takes n bytes, waiting until they fit. A request for more than the
// whole limit waits until nothing else is held, so it cannot starve forever.
func (p *memPool) acquire(ctx context.Context, n int64) error {
	if p.limit <= 0 || n <= 0 {
		return nil
	}
	logged := false
	for {
		p.mu.Lock()
		if p.used+n <= p.limit || p.used == 0 {
			p.used += n
			p.mu.Unlock()
			return nil
		}
		ch := p.changed
		used := p.used
		p.mu.Unlock()
		if !logged {
			logged = true
			p.full.warn("memory limit reached: reading of requests paused until responses free memory",
				"flag", p.name, "limit", p.limit, "in_use", used, "waiting", n)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// tryAcquire takes n bytes if they fit now, or if nothing is held (so a
// response larger than the whole limit still goes out, alone).
func (p *memPool) tryAcquire(n int64) bool {
	if p.limit <= 0 || n <= 0 {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.used+n > p.limit && p.used > 0 {
		p.full.warn("memory limit reached: answering fetches with less data",
			"flag", p.name, "limit", p.limit, "in_use", p.used, "wanted", n)
		return false
	}
	p.used += n
	return true
}

func (p *memPool) release(n int64) {
	if p.limit <= 0 || n <= 0 {
		return
	}
	p.mu.Lock()
	p.used -= n
	if p.used < 0 {
		panic(fmt.Sprintf("broker: %s pool released below zero", p.name))
	}
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// inUse returns the bytes held.
func (p *memPool) inUse() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.used
}

// rateLog logs a warning at most once per period, counting the ones it
// held back.
type rateLog struct {
	log   *slog.Logger
	every time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (r *rateLog) warn(msg string, args ...any) { r.logAt(slog.LevelWarn, msg, args...) }

func (r *rateLog) error(msg string, args ...any) { r.logAt(slog.LevelError, msg, args...) }

func (r *rateLog) logAt(level slog.Level, msg string, args ...any) {
	if r.log == nil {
		return
	}
	r.mu.Lock()
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < r.every {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	n := r.suppressed
	r.last, r.suppressed = now, 0
	r.mu.Unlock()
	if n > 0 {
		args = append(args, "similar_since_last_message", n)
	}
	r.log.Log(context.Background(), level, msg, args...)
}
