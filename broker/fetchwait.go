package broker

import (
	"sync"

	"github.com/rewindhq/rewind/storage"
)

// Fetch long polls are woken by partition, as Kafka's delayed-fetch
// purgatory keys its waiters by partition: a waiter is told which
// partitions changed, so a wake-up costs what changed, not what the fetch
// follows.
//
// The storage log offers one thing to wait on, its Changed channel, closed
// when the high watermark moves (or the log is fenced, truncated or
// closed). A watcher goroutine per log that somebody waits on holds that
// channel and, when it closes, tells that log's subscribers. Idle, a
// watcher costs its stack and nothing else; there is at most one per open
// log (bounded by --max-broker-partitions), however many fetches wait.
//
// A subscriber is a fetchWaiter: a fetch session holds one for its life
// (subscribed once per partition it caches, not per request; evicted or
// closed while a fetch of it waits, until that fetch ends), a sessionless
// fetch one for the time it waits.

// fetchWaiter collects the logs that changed since it was last drained.
type fetchWaiter struct {
	mu      sync.Mutex
	changed map[*storage.Log]struct{}
	wake    chan struct{} // one token: something changed
}

func newFetchWaiter() *fetchWaiter {
	return &fetchWaiter{wake: make(chan struct{}, 1)}
}

func (w *fetchWaiter) notify(l *storage.Log) {
	w.mu.Lock()
	if w.changed == nil {
		w.changed = make(map[*storage.Log]struct{})
	}
	w.changed[l] = struct{}{}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// drain returns the logs that changed since the last drain (nil if none)
// and consumes the wake token.
func (w *fetchWaiter) drain() map[*storage.Log]struct{} {
	select {
	case <-w.wake:
	default:
	}
	w.mu.Lock()
	c := w.changed
	w.changed = nil
	w.mu.Unlock()
	return c
}

// fetchWatchers is the broker's set of log watchers.
type fetchWatchers struct {
	mu   sync.Mutex
	logs map[*storage.Log]*logWatcher
	done <-chan struct{} // the broker's context: every watcher stops
}

type logWatcher struct {
	subs map[*fetchWaiter]int // subscriptions of each waiter (a waiter may name a log twice)
}

// subscribe makes w hear of every change of l from now on: the watcher's
// channel is taken before subscribe returns, so a caller that reads l
// after subscribing misses no change.
func (fw *fetchWatchers) subscribe(l *storage.Log, w *fetchWaiter) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.logs == nil {
		fw.logs = make(map[*storage.Log]*logWatcher)
	}
	lw := fw.logs[l]
	if lw == nil {
		lw = &logWatcher{subs: make(map[*fetchWaiter]int)}
		fw.logs[l] = lw
		go fw.watch(l, lw, l.Changed())
	}
	lw.subs[w]++
}

// unsubscribe undoes one subscribe. The watcher stops at the next change
// once nobody is left (it cannot be woken early without a channel of its
// own, and an idle goroutine costs nothing but its stack).
func (fw *fetchWatchers) unsubscribe(l *storage.Log, w *fetchWaiter) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	lw := fw.logs[l]
	if lw == nil {
		return
	}
	if lw.subs[w]--; lw.subs[w] <= 0 {
		delete(lw.subs, w)
	}
}

func (fw *fetchWatchers) watch(l *storage.Log, lw *logWatcher, ch <-chan struct{}) {
	var subs []*fetchWaiter
	for {
		select {
		case <-ch:
		case <-fw.done:
			fw.mu.Lock()
			delete(fw.logs, l)
			fw.mu.Unlock()
			return
		}
		// The next channel is taken before anyone is told, so a change
		// after a subscriber's read is never lost. The same channel again
		// is the closed one of a closed or fenced log: it will never
		// change again, so the watcher ends (subscribers that read it
		// again see the error, or find the topic gone).
		next := l.Changed()
		fw.mu.Lock()
		subs = subs[:0]
		for w := range lw.subs {
			subs = append(subs, w)
		}
		end := len(subs) == 0 || next == ch
		if end {
			delete(fw.logs, l)
		}
		fw.mu.Unlock()
		for _, w := range subs {
			w.notify(l)
		}
		if end {
			return
		}
		ch = next
	}
}

// watching reports how many logs have a watcher (tests, metrics).
func (fw *fetchWatchers) watching() int {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	return len(fw.logs)
}
