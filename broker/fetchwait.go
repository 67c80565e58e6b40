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
// Each log that somebody waits on has one watch (storage.Log.Watch), run
// by whatever changed the log (its syncer advancing the high watermark,
// retention moving the log start, a fence, a close): it tells that log's
// subscribers, with no goroutine of its own to wake in between. There is
// at most one per open log (bounded by --max-broker-partitions), however
// many fetches wait.
//
// A subscriber is a fetchWaiter: a fetch session holds one for its life
// (subscribed once per partition it caches, not per request; evicted or
// closed while a fetch of it waits, until that fetch ends), a sessionless
// fetch one for the time it waits.

// fetchWaiter collects the logs that changed since it was last drained.
// Every fetch waiting on it is woken by a change (a session's waiter may
// have two: one superseded by the next of the session, which answers
// INVALID_FETCH_SESSION_EPOCH when woken, as Kafka's does); the one that
// drains it takes the logs.
type fetchWaiter struct {
	mu      sync.Mutex
	changed map[*storage.Log]struct{}
	ch      chan struct{} // closed at the next change; nil until somebody waits
}

func newFetchWaiter() *fetchWaiter { return &fetchWaiter{} }

func (w *fetchWaiter) notify(l *storage.Log) {
	w.mu.Lock()
	if w.changed == nil {
		w.changed = make(map[*storage.Log]struct{})
	}
	w.changed[l] = struct{}{}
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
	w.mu.Unlock()
}

// wait returns a channel closed once something changed that is not
// drained yet: closed already if something is.
func (w *fetchWaiter) wait() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.changed) > 0 {
		return closedChan
	}
	if w.ch == nil {
		w.ch = make(chan struct{})
	}
	return w.ch
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// drain returns the logs that changed since the last drain (nil if none).
func (w *fetchWaiter) drain() map[*storage.Log]struct{} {
	w.mu.Lock()
	c := w.changed
	w.changed = nil
	w.mu.Unlock()
	return c
}

// fetchWatchers is the broker's set of log watchers. Lock order: mu,
// then a log's lock (Watch, stop), which a watch callback holds while it
// takes its logWatcher's mu and then a waiter's.
type fetchWatchers struct {
	mu   sync.Mutex
	logs map[*storage.Log]*logWatcher
}

type logWatcher struct {
	stop func() // ends the log's watch

	mu   sync.Mutex
	subs map[*fetchWaiter]int // subscriptions of each waiter (a waiter may name a log twice)
}

// subscribe makes w hear of every change of l from now on: the log's
// watch is in place before subscribe returns, so a caller that reads l
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
		lw.subs[w]++
		lw.stop = l.Watch(func() { lw.notify(l) })
		return
	}
	lw.mu.Lock()
	lw.subs[w]++
	lw.mu.Unlock()
}

// notify tells every subscriber of the log that it changed. It runs in
// the log's watch, under the log's lock: the waiters' notify only records
// the log and wakes who waits.
func (lw *logWatcher) notify(l *storage.Log) {
	lw.mu.Lock()
	for w := range lw.subs {
		w.notify(l)
	}
	lw.mu.Unlock()
}

// unsubscribe undoes one subscribe; the log's watch ends with its last
// subscriber.
func (fw *fetchWatchers) unsubscribe(l *storage.Log, w *fetchWaiter) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	lw := fw.logs[l]
	if lw == nil {
		return
	}
	lw.mu.Lock()
	if lw.subs[w]--; lw.subs[w] <= 0 {
		delete(lw.subs, w)
	}
	last := len(lw.subs) == 0
	lw.mu.Unlock()
	if last {
		delete(fw.logs, l)
		lw.stop() // the log's lock, not lw.mu, which its watch takes under it
	}
}

// watching reports how many logs are watched (tests).
func (fw *fetchWatchers) watching() int {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	return len(fw.logs)
}
