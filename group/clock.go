package group

import (
	"container/heap"
	"sync"
	"time"
)

// scheduler runs callbacks at deadlines measured with the injected clock
// (Config.Now). All group timers (session expiry, rebalance and initial
// delays, pending-sync expiry, offset expiry) are entries here, so a test
// can move a fake clock forward and call fireDue to run exactly the timers
// that became due, without sleeping.
//
// In production run() waits in real time for the earliest deadline and
// starts each due callback on its own goroutine, so one group waiting on a
// slow store never delays another group's timers. Callbacks take
// their group's lock and must check that what they were armed for still
// holds (every callback carries a token for that).
type scheduler struct {
	now func() time.Time

	mu   sync.Mutex
	h    timerHeap
	seq  uint64
	wake chan struct{}
}

type timer struct {
	at  time.Time
	seq uint64
	fn  func()
	idx int // index in the heap, -1 once fired or stopped
}

func newScheduler(now func() time.Time) *scheduler {
	return &scheduler{now: now, wake: make(chan struct{}, 1)}
}

// after arms fn to run once d has passed on the scheduler's clock.
func (s *scheduler) after(d time.Duration, fn func()) *timer {
	t := &timer{at: s.now().Add(d), fn: fn}
	s.mu.Lock()
	s.seq++
	t.seq = s.seq
	heap.Push(&s.h, t)
	first := t.idx == 0
	s.mu.Unlock()
	if first {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return t
}

// stop disarms t; it is a no-op for nil, fired or stopped timers.
func (s *scheduler) stop(t *timer) {
	if t == nil {
		return
	}
	s.mu.Lock()
	if t.idx >= 0 {
		heap.Remove(&s.h, t.idx)
	}
	s.mu.Unlock()
}

// due pops every timer whose deadline has passed.
func (s *scheduler) due() []*timer {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var ts []*timer
	for len(s.h) > 0 && !s.h[0].at.After(now) {
		ts = append(ts, heap.Pop(&s.h).(*timer))
	}
	return ts
}

// fireDue runs every due timer synchronously, repeating while callbacks arm
// timers that are already due (a zero initial rebalance delay, say). It
// returns how many ran.
func (s *scheduler) fireDue() int {
	n := 0
	for {
		ts := s.due()
		if len(ts) == 0 {
			return n
		}
		for _, t := range ts {
			t.fn()
		}
		n += len(ts)
	}
}

// next returns the earliest deadline, if any.
func (s *scheduler) next() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.h) == 0 {
		return time.Time{}, false
	}
	return s.h[0].at, true
}

// run fires timers in real time until done is closed.
func (s *scheduler) run(done <-chan struct{}) {
	rt := time.NewTimer(time.Hour)
	defer rt.Stop()
	for {
		wait := time.Minute
		if at, ok := s.next(); ok {
			wait = at.Sub(s.now())
		}
		if wait <= 0 {
			for _, t := range s.due() {
				go t.fn()
			}
			continue
		}
		// A fake clock may never reach the deadline in real time; waking at
		// least every minute keeps the loop honest without busy waiting.
		wait = min(wait, time.Minute)
		rt.Reset(wait)
		select {
		case <-rt.C:
		case <-s.wake:
		case <-done:
			return
		}
	}
}

type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = i
	h[j].idx = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*timer)
	t.idx = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.idx = -1
	return t
}
