package broker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/rewindhq/rewind/storage"
)

// Retention and compaction of the registry's logs. Every
// --retention-check-interval (log.retention.check.interval.ms) each
// partition is queued for retention and, if its topic is compacted, for
// compaction: two queues with their own workers, so a partition whose
// compaction takes minutes never delays the retention of another, nor of
// itself. A partition is in a queue at most once: one still queued or
// running when the next check comes is not queued again, so a slow one
// neither piles up work nor is run twice at once.
//
// Failures are logged through rate-limited logs (one a kind every 10 s,
// with the count of those suppressed): a fenced partition fails at every
// check until it is repaired.

const (
	// retentionWorkers run retention (deleting expired segments, rolling
	// by segment.ms) side by side. Retention is a few stats and removals
	// a partition, holding that partition's append lock: a few workers
	// keep a slow disk's removal from holding up the others, without
	// crowding the disk that serves produces.
	retentionWorkers = 4
	// compactionWorkers is 1, Kafka's log.cleaner.threads default: a run
	// holds the process's one dedupe buffer (log.cleaner.dedupe.buffer.size,
	// storage.acquireOffsetMap) from start to end, so a second worker
	// would only wait for it.
	compactionWorkers = 1
)

type maintenance struct {
	r             *registry
	retention     workQueue
	compaction    workQueue
	retentionErrs rateLog
	compactErrs   rateLog
	wg            sync.WaitGroup
}

// partJob is one partition to retain or compact.
type partJob struct {
	topic  string
	p      int32
	log    *storage.Log
	policy storage.CompactPolicy // compaction only
}

func (m *maintenance) init(r *registry) {
	m.r = r
	m.retentionErrs = rateLog{log: r.log, every: 10 * time.Second}
	m.compactErrs = rateLog{log: r.log, every: 10 * time.Second}
	m.retention.init(m.retain)
	m.compaction.init(m.compact)
}

// start runs the checks every interval and the workers until ctx is done.
func (m *maintenance) start(ctx context.Context, every time.Duration) {
	for range retentionWorkers {
		m.wg.Add(1)
		go func() { defer m.wg.Done(); m.retention.work(ctx) }()
	}
	for range compactionWorkers {
		m.wg.Add(1)
		go func() { defer m.wg.Done(); m.compaction.work(ctx) }()
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				m.schedule()
			}
		}
	}()
}

// wait returns once start's goroutines have ended (after its context is
// done; at once if it never started). A compaction under way finishes.
func (m *maintenance) wait() { m.wg.Wait() }

// schedule queues every partition for retention, and those of compacted
// topics for compaction unless the disk is full (compaction needs room for
// the cleaned copy, while retention frees space).
func (m *maintenance) schedule() {
	compactOK := m.r.disk.writable() == nil
	for _, t := range m.r.all() {
		policy, compacted := m.r.compactPolicy(t.meta)
		for p, l := range t.parts {
			j := partJob{topic: t.meta.Name, p: int32(p), log: l, policy: policy}
			m.retention.add(j)
			if compacted && compactOK {
				m.compaction.add(j)
			}
		}
	}
}

// current reports whether j's log is still the one served (not deleted or
// replaced by a repair since it was queued).
func (m *maintenance) current(j partJob) bool { return m.r.partition(j.topic, j.p) == j.log }

func (m *maintenance) retain(j partJob) {
	if !m.current(j) {
		return
	}
	if err := j.log.ApplyRetention(); err != nil && !errors.Is(err, storage.ErrClosed) {
		m.retentionErrs.error("retention failed", "topic", j.topic, "partition", j.p, "err", err)
	}
}

func (m *maintenance) compact(j partJob) {
	if !m.current(j) || m.r.disk.writable() != nil {
		return
	}
	if _, err := j.log.Compact(j.policy); err != nil && !errors.Is(err, storage.ErrClosed) {
		m.compactErrs.error("compaction failed", "topic", j.topic, "partition", j.p, "err", err)
	}
}

// workQueue is a FIFO of partitions, each in it at most once from when it
// is added until its run ends, served by the workers that call work.
type workQueue struct {
	run     func(partJob)
	mu      sync.Mutex
	queue   []partJob
	pending map[*storage.Log]bool // queued or running
	wake    chan struct{}         // a job was queued; capacity 1
}

func (q *workQueue) init(run func(partJob)) {
	q.run = run
	q.pending = map[*storage.Log]bool{}
	q.wake = make(chan struct{}, 1)
}

// add queues j unless its log is already queued or running.
func (q *workQueue) add(j partJob) {
	q.mu.Lock()
	if q.pending[j.log] {
		q.mu.Unlock()
		return
	}
	q.pending[j.log] = true
	q.queue = append(q.queue, j)
	q.mu.Unlock()
	q.signal()
}

func (q *workQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next takes the oldest job; more says whether others wait.
func (q *workQueue) next() (j partJob, ok, more bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queue) == 0 {
		q.queue = nil // let a long queue's array go
		return partJob{}, false, false
	}
	j = q.queue[0]
	q.queue[0] = partJob{}
	q.queue = q.queue[1:]
	return j, true, len(q.queue) > 0
}

func (q *workQueue) done(j partJob) {
	q.mu.Lock()
	delete(q.pending, j.log)
	q.mu.Unlock()
}

// work runs queued jobs until ctx is done.
func (q *workQueue) work(ctx context.Context) {
	for {
		j, ok, more := q.next()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-q.wake:
				continue
			}
		}
		if ctx.Err() != nil {
			return
		}
		if more {
			q.signal() // one wake-up per add: pass it on to an idle worker
		}
		q.run(j)
		q.done(j)
	}
}
