package broker

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
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
//   - --max-request-memory: bytes of request frames being read or handled,
//     across all connections (Kafka's queued.max.request.bytes). Produce
//     data lives in those frames until the append is done. Memory is
//     reserved as a frame arrives, not for the size it declares: a frame
//     that fits the connection's 64 KiB read buffer (every request but
//     large produces) once it is there whole, a larger one a chunk at a
//     time before the chunk is read. Larger frames may not take the last
//     sixteenth of the limit (the reserve, smaller if --max-request-bytes
//     needs it), so small requests (Metadata, heartbeats, commits) are
//     read while large frames, or slow clients on any number of
//     connections, fill the rest. One
//     connection may hold a quarter of the limit while another connection
//     within its quarter waits; beyond it, only memory nobody within its
//     share can take. A large frame gets a chunk only if, once every
//     handled request has returned its memory, every frame being read can
//     still complete in some order (the banker's algorithm), so frames
//     read in part can never wait for each other for ever. At the limit
//     the connection is not read until memory is returned (logged).
//   - --request-read-timeout: a frame whose first byte has arrived must
//     arrive whole within it, or the connection is closed (logged). Time
//     the broker spends waiting for memory does not count.
//   - --connections-max-idle: a connection with nothing read, written or
//     awaiting its response for that long is closed, as Kafka's
//     connections.max.idle.ms.
//   - --response-write-timeout: a response must be taken by the client's
//     socket within it from the moment the broker starts writing it;
//     otherwise the connection is closed (logged) and what its responses
//     hold (fetch memory, in-flight slots) is returned.
//   - --max-fetch-memory: bytes of record data read for Fetch responses
//     that are not yet written to their sockets. At the limit fetches answer
//     with less data or none (no error: the client fetches again), so slow
//     consumers cannot make the broker buffer without bound.
//   - --max-partitions: partitions one topic may have; CreateTopics and
//     CreatePartitions beyond it get INVALID_PARTITIONS with the limit in
//     the message.
//   - --max-broker-partitions: partitions of all topics together, internal
//     ones included; CreateTopics, CreatePartitions and auto-creation past
//     it get POLICY_VIOLATION with the limit in the message (partitions.go).
//   - --max-open-files: segment files open at once; idle ones are closed,
//     least recently used first, and reopened on demand (storage.Handles).

// frameChunk is how much request memory is reserved ahead of the bytes
// that arrive: a frame larger than a connection's read buffer and of at
// most frameChunk bytes is reserved and read in
// one piece, a larger one a chunk at a time.
const frameChunk = 1 << 20

// memPool counts bytes held against a limit (0 = unlimited).
//
// acquire, tryAcquire and release serve any use. Request frames use
// take, newFrame, frameRead, dropFrame and releaseUser, which add the
// reserve, the fair share and the deadlock check (setFrameLimits).
type memPool struct {
	name  string // the flag, for messages
	limit int64

	reserve int64 // the last bytes of limit, only for frames that arrived whole in a read buffer
	share   int64 // what one connection may hold while others within theirs wait (0 = no limit)

	mu      sync.Mutex
	used    int64
	waiting int           // goroutines waiting for memory
	changed chan struct{} // closed and replaced when waiters must look again
	waits   []*memWait    // take calls waiting
	over    int           // of waits, those beyond their connection's share
	reading []*memFrame   // large frames being read, by need ascending
	// Sums over reading.
	readingHeld, readingNeed int64
	full                     rateLog
}

// memUser is one connection's account in a pool (fields under the pool's mu).
type memUser struct {
	held int64
}

// memFrame is one frame larger than a connection's read buffer being read.
type memFrame struct {
	u    *memUser
	held int64 // reserved so far
	need int64 // still to reserve
	in   bool  // in reading (from its first chunk until frameRead or dropFrame)
}

type memWait struct {
	u *memUser
	f *memFrame // nil: a whole frame that has arrived
	n int64
}

func newMemPool(name string, limit int64, log *slog.Logger) *memPool {
	return &memPool{name: name, limit: limit, changed: make(chan struct{}), full: rateLog{log: log, every: 10 * time.Second}}
}

// setFrameLimits sets the reserve and the fair share of a request pool
// whose largest frame is maxFrame bytes (at most the limit): the reserve
// is a sixteenth of the limit, but leaves room for one frame of maxFrame;
// the share is a quarter of the limit.
func (p *memPool) setFrameLimits(maxFrame int64) {
	if p.limit <= 0 {
		return
	}
	p.reserve = max(0, min(p.limit/16, p.limit-maxFrame))
	p.share = p.limit / 4
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
		p.waiting++
		p.mu.Unlock()
		if !logged {
			logged = true
			p.full.warn("memory limit reached: reading of requests paused until responses free memory",
				"flag", p.name, "limit", p.limit, "in_use", used, "waiting", n)
		}
		select {
		case <-ch:
		case <-ctx.Done():
		}
		p.mu.Lock()
		p.waiting--
		p.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return err
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

func (p *memPool) release(n int64) { p.releaseUser(nil, n) }

// releaseUser returns n bytes held by u (nil: by nobody in particular).
func (p *memPool) releaseUser(u *memUser, n int64) {
	if p.limit <= 0 || n <= 0 {
		return
	}
	p.mu.Lock()
	p.used -= n
	if u != nil {
		u.held -= n
	}
	if p.used < 0 || (u != nil && u.held < 0) {
		panic(fmt.Sprintf("broker: %s pool released below zero", p.name))
	}
	p.wake()
	p.mu.Unlock()
}

// wake tells waiters to look again (under mu).
func (p *memPool) wake() {
	if p.waiting > 0 {
		close(p.changed)
		p.changed = make(chan struct{})
	}
}

// newFrame starts the account of a frame of size bytes (more than a
// connection's read buffer holds) read by u.
func (p *memPool) newFrame(u *memUser, size int64) *memFrame {
	return &memFrame{u: u, need: size}
}

// take reserves n more bytes for u: for f, the next chunk of a large
// frame, or (f nil) a whole frame that has arrived in the connection's
// read buffer, which may take the reserve. It waits
// until they are granted and reports whether it had to.
func (p *memPool) take(ctx context.Context, u *memUser, f *memFrame, n int64) (waited bool, err error) {
	if p.limit <= 0 || n <= 0 {
		return false, nil
	}
	p.mu.Lock()
	if p.fits(u, f, n) {
		p.grant(u, f, n)
		p.mu.Unlock()
		return false, nil
	}
	w := &memWait{u: u, f: f, n: n}
	p.waits = append(p.waits, w)
	overShare := p.overShare(u, n)
	if overShare {
		p.over++
	}
	p.waiting++
	p.full.warn("memory limit reached: reading of requests paused until responses free memory",
		"flag", p.name, "limit", p.limit, "in_use", p.used, "waiting", n)
	for {
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		p.mu.Lock()
		if err = ctx.Err(); err != nil {
			break
		}
		if p.fits(u, f, n) {
			p.grant(u, f, n)
			break
		}
	}
	p.waiting--
	for i, x := range p.waits {
		if x == w {
			p.waits = append(p.waits[:i], p.waits[i+1:]...)
			break
		}
	}
	if overShare {
		p.over--
	}
	if p.over > 0 {
		// Waiters beyond their share look at who waits: one fewer.
		p.wake()
	}
	p.mu.Unlock()
	return true, err
}

func (p *memPool) overShare(u *memUser, n int64) bool {
	return p.share > 0 && u.held+n > p.share
}

// fits reports whether u may take n bytes for f now (under mu): within its
// share, whenever they are available; beyond it, only if no connection
// waiting within its share could take memory now.
func (p *memPool) fits(u *memUser, f *memFrame, n int64) bool {
	if !p.available(f, n) {
		return false
	}
	if p.overShare(u, n) {
		for _, w := range p.waits {
			if w.u != u && !p.overShare(w.u, w.n) && p.available(w.f, w.n) {
				return false
			}
		}
	}
	return true
}

// available reports whether n bytes for f (nil: a small frame) fit the
// limit now and, for a large frame, leave every frame being read able to
// complete (under mu).
func (p *memPool) available(f *memFrame, n int64) bool {
	if f == nil {
		return p.used+n <= p.limit
	}
	return p.used+n <= p.limit-p.reserve && p.safe(f, n)
}

// safe is the banker's algorithm over the frames being read, as if f had
// n more bytes: once every handled request has returned its memory (each
// will, in bounded time: none waits for request memory), is there an
// order in which each frame being read gets what it still needs and, once
// handled, returns all it held? Frames taken by need ascending find such
// an order if one exists, since completing one only adds to what is free.
func (p *memPool) safe(f *memFrame, n int64) bool {
	held, need := p.readingHeld+n, p.readingNeed-n
	if !f.in {
		held, need = held+f.held, need+f.need
	}
	free := p.limit - p.reserve - held
	if need <= free {
		return true // every frame could complete at once
	}
	fNeed, fHeld := f.need-n, f.held+n
	fDone := false
	for _, g := range p.reading {
		if g == f {
			continue
		}
		if !fDone && fNeed <= g.need {
			if fNeed > free {
				return false
			}
			free += fHeld
			fDone = true
		}
		if g.need > free {
			return false
		}
		free += g.held
	}
	return fDone || fNeed <= free
}

// grant gives u n bytes for f (under mu).
func (p *memPool) grant(u *memUser, f *memFrame, n int64) {
	p.used += n
	u.held += n
	if f == nil {
		return
	}
	if f.in {
		p.unlist(f)
	}
	f.held += n
	f.need -= n
	if f.need > 0 {
		p.list(f)
	}
}

// list puts f in reading, keeping it sorted by need (under mu).
func (p *memPool) list(f *memFrame) {
	i, _ := slices.BinarySearchFunc(p.reading, f.need, func(g *memFrame, need int64) int { return cmp.Compare(g.need, need) })
	p.reading = slices.Insert(p.reading, i, f)
	p.readingHeld += f.held
	p.readingNeed += f.need
	f.in = true
}

func (p *memPool) unlist(f *memFrame) {
	p.reading = slices.DeleteFunc(p.reading, func(g *memFrame) bool { return g == f })
	p.readingHeld -= f.held
	p.readingNeed -= f.need
	f.in = false
}

// extendFrame adds n bytes to what f, a frame read whole, still needs (what
// its decoding is found to take) if every frame being read can still
// complete with it; otherwise it reports false: granting f more memory
// could then wait for frames that wait for f's.
func (p *memPool) extendFrame(f *memFrame, n int64) bool {
	if p.limit <= 0 || n <= 0 {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if f.in {
		p.unlist(f)
	}
	f.need += n
	if !p.safe(f, 0) {
		f.need -= n
		if f.need > 0 {
			p.list(f)
		}
		return false
	}
	p.list(f)
	return true
}

// frameRead ends the reading of f, complete: what it holds stays held by
// its user until released with releaseUser.
func (p *memPool) frameRead(f *memFrame) {
	if p.limit <= 0 {
		return
	}
	p.mu.Lock()
	if f.in {
		p.unlist(f)
	}
	p.mu.Unlock()
}

// dropFrame ends the reading of f, abandoned, and returns what it holds.
func (p *memPool) dropFrame(f *memFrame) {
	if p.limit <= 0 {
		return
	}
	p.mu.Lock()
	if f.in {
		p.unlist(f)
	}
	p.used -= f.held
	f.u.held -= f.held
	f.held = 0
	p.wake()
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
