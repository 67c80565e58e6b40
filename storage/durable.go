package storage

import (
	"context"
	"errors"
	"time"
)

// fence makes the log unusable after an I/O error or corruption: every
// later read, append and WaitDurable returns err. It is never undone; an
// fsync failure in particular is never retried as a success.
func (l *Log) fence(err error) {
	l.mu.Lock()
	l.fenceLocked(err)
	l.mu.Unlock()
}

func (l *Log) fenceLocked(err error) {
	if l.fenced != nil {
		return
	}
	l.fenced = err
	l.log.Error("partition log fenced", "err", err)
	l.notifyLocked()
}

// Err returns the error that fenced the log, or nil.
func (l *Log) Err() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.fenced
}

// usableLocked returns the error a data method must return, if any.
func (l *Log) usableLocked() error {
	if l.closed {
		return ErrClosed
	}
	return l.fenced
}

var closedCh = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// notifyLocked wakes everyone waiting on Changed (and WaitDurable) and
// calls the OnDurable callbacks now due.
func (l *Log) notifyLocked() {
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	if len(l.durable) > 0 {
		l.fireDurableLocked()
	}
	for w := range l.watchers {
		w.fn()
	}
}

// watch is a Watch callback.
type watch struct{ fn func() }

// Watch calls fn every time Changed's channel would close: the high
// watermark advances, the log start moves, the log is fenced, truncated
// or closed. fn runs on the goroutine that changed the log, with the
// log's lock held: it must neither call the log nor block. A change after
// Watch returns is never missed. stop ends the calls (fn is not called
// once stop has returned); calling it more than once is harmless. On a
// log closed or fenced already, fn is called once before Watch returns,
// on the caller's goroutine, as Changed returns a closed channel then.
// Unlike waiting on Changed, it needs no goroutine per log to hear of
// changes.
func (l *Log) Watch(fn func()) (stop func()) {
	w := &watch{fn}
	l.mu.Lock()
	if l.watchers == nil {
		l.watchers = make(map[*watch]struct{})
	}
	l.watchers[w] = struct{}{}
	unusable := l.usableLocked() != nil
	l.mu.Unlock()
	if unusable {
		fn()
	}
	return func() {
		l.mu.Lock()
		delete(l.watchers, w)
		l.mu.Unlock()
	}
}

// durableWaiter is an OnDurable callback and the end it waits for.
type durableWaiter struct {
	end int64
	fn  func(error)
}

// OnDurable calls fn once every offset below end is durable, as
// WaitDurable returns, with the error WaitDurable would return (nil when
// durable); fn is called exactly once. It runs fn at once, on the
// caller's goroutine, if end is durable already or the log is unusable;
// otherwise on the goroutine that makes it durable (the syncer), fences
// or closes the log, with the log's lock held: fn must neither call the
// log nor block. It spares a caller that only answers once its append is
// durable a goroutine of its own, and the two wake-ups of parking one.
func (l *Log) OnDurable(end int64, fn func(error)) {
	l.mu.Lock()
	if l.hw >= end {
		l.mu.Unlock()
		fn(nil)
		return
	}
	if err := l.usableLocked(); err != nil {
		l.mu.Unlock()
		fn(err)
		return
	}
	l.durable = append(l.durable, durableWaiter{end, fn})
	l.mu.Unlock()
}

// fireDurableLocked calls the OnDurable callbacks whose end the HW has
// reached, or all of them with the error once the log is unusable.
func (l *Log) fireDurableLocked() {
	err := l.usableLocked()
	keep := l.durable[:0]
	for _, w := range l.durable {
		switch {
		case err != nil:
			w.fn(err)
		case l.hw >= w.end:
			w.fn(nil)
		default:
			keep = append(keep, w)
		}
	}
	clear(l.durable[len(keep):])
	l.durable = keep
}

// Changed returns a channel closed the next time the high watermark
// advances or the log start moves, or the log is fenced, truncated or
// closed. Fetch long-polls
// grab the channel, check the HW, then wait on it.
func (l *Log) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.fenced != nil {
		return closedCh
	}
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	return l.changed
}

// WaitDurable blocks until every offset below end is durable per the fsync
// policy: fsynced under FsyncAlways (one fsync of the background syncer
// covers every append waiting, group commit), written under FsyncInterval
// and FsyncNever. It returns an error matching ErrStorage (and wrapping the
// cause) if the fsync failed; the log is then fenced and the failure is
// never turned into a success by a later fsync. It returns ctx.Err() if ctx
// ends first, and ErrClosed if the log is closed before end is durable.
func (l *Log) WaitDurable(ctx context.Context, end int64) error {
	for {
		l.mu.Lock()
		if l.hw >= end {
			l.mu.Unlock()
			return nil
		}
		if err := l.usableLocked(); err != nil {
			l.mu.Unlock()
			return err
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// intervalLoop fsyncs every FsyncInterval (FsyncInterval policy).
func (l *Log) intervalLoop() {
	defer l.wg.Done()
	t := time.NewTicker(l.opts.FsyncInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.syncRound(false)
		}
	}
}

// syncLoop is the group-commit syncer (FsyncAlways): each round fsyncs
// everything appended so far, however many appends that covers, then
// advances the high watermark.
func (l *Log) syncLoop() {
	defer l.wg.Done()
	for {
		select {
		case <-l.stop:
			return
		case <-l.kick:
			l.syncRound(false)
		}
	}
}

// syncRound fsyncs the segments written since the last round and, under
// FsyncAlways, advances the HW to what was written when the round started.
// final (Close) also syncs the active segment and advances the HW under
// every policy.
func (l *Log) syncRound(final bool) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed // a journal checkpoint after Close
	}
	if l.fenced != nil {
		err := l.fenced
		l.mu.Unlock()
		return err
	}
	active := l.segs[len(l.segs)-1]
	target, tBase, tPos := l.leo, active.base, active.size
	segs := l.dirty
	marked := len(segs) // Append marked their files dirty
	l.dirty, l.spare = l.spare[:0], nil
	if final && (len(segs) == 0 || segs[len(segs)-1] != active) {
		active.incRef()
		segs = append(segs, active)
	}
	l.mu.Unlock()

	var err error
	retry := -1 // first segment whose file could not be reopened
	for i, s := range segs {
		if err == nil {
			if serr := s.f.Sync(); serr != nil {
				err = ioErr("fsync "+s.path, serr)
				if errors.Is(serr, errReopen) && i < marked {
					retry = i
					break
				}
			}
		}
		if i < marked {
			s.f.dirty.Add(-1)
		}
		s.decRef()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if retry >= 0 {
		// Out of descriptors, not an fsync failure: the unsynced
		// segments go back (still marked and referenced) and the round
		// is tried again shortly; the HW waits for it.
		back := append([]*segment(nil), segs[retry:marked]...)
		l.dirty = append(back, l.dirty...)
		for _, s := range segs[marked:] {
			s.decRef()
		}
		l.spare = nil
		l.retryLater()
		return err
	}
	l.spare = segs[:0]
	if err != nil {
		l.fenceLocked(err)
		return err
	}
	if (l.opts.Fsync == FsyncAlways || final) && target > l.hw {
		l.hw, l.hwBase, l.hwPos = target, tBase, tPos
		l.notifyLocked()
	}
	return nil
}

// retryLater runs the syncer again soon after a round that could not
// reopen a file (FsyncInterval retries at its next tick anyway).
func (l *Log) retryLater() {
	if l.opts.Fsync != FsyncAlways {
		return
	}
	time.AfterFunc(20*time.Millisecond, func() {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	})
}
