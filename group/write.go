package group

import "time"

// A group's writes to __consumer_offsets are appended under the group's
// lock, so its records are in the log in the order its state changed, and
// waited for without it: a heartbeat, a join or another commit of the
// group never waits behind an fsync (Kafka's GroupMetadataManager appends
// and completes the request in the append callback the same way). What a
// write changes in memory once durable (a commit's offsets, a leader's
// assignment) is done by its callback, which runs under the lock, after
// the callbacks of every earlier write of the group (append order), once
// the write is durable or has failed. Callbacks find the group as other
// requests left it meanwhile and check what they depend on, as Kafka's do.
//
// Commits are pending until their callback (Kafka's pendingOffsetCommits):
// OffsetFetch does not see them before they are durable, except
// OffsetFetch v7+ with RequireStable, which waits for the group's writes
// in flight first (Kafka 4's coordinator serves it as a write operation
// for that reason).
//
// A deletion (OffsetDelete, DeleteGroups, expiry) is applied the same way:
// by its callback, once its tombstones are durable, and not at all if
// their write fails (Kafka 4's coordinator reads offsets and groups at the
// last committed offset of __consumer_offsets and reverts the state of a
// write that fails), so a group or offset whose deletion failed stays, as
// it may still be on disk. Commits pending at the append are applied
// before it and deleted with it; commits appended after it are applied
// after it, in the log's order, so memory and a replay agree. A deleted
// topic's offsets (TopicDeleted) go at once, its pending commits are not
// applied: the topic is gone whatever its tombstones become.

// write is one Store append of a group whose callback has not run yet.
type write struct {
	p    Pending // nil when there is nothing to wait for (err says why)
	err  error   // the Append's or Wait's error, once done
	done bool    // err is final

	then    func(w *write) // under g.mu, in append order, w.err final; may be nil
	commits []staged       // a commit's offsets, applied by then
	txn     *txnOffsets    // a transaction marker's: the offsets it ends (txn.go)
	applied chan struct{}  // closed once then has run
}

// staged is one offset of a pending commit.
type staged struct {
	k       tp
	o       offset
	dropped bool // the partition's offsets were deleted after the commit was appended
}

// write appends recs to g's partition of __consumer_offsets (g.mu held)
// and arranges for then to run under g.mu once they are durable or
// failed, after the callbacks of the group's earlier writes. With no
// store, no records or a failed Append, then may run before write
// returns, when no earlier write is pending.
func (g *group) write(recs []Record, commits []staged, then func(*write)) *write {
	w := g.appendWrite(recs, commits, then)
	if !w.done {
		go g.await(w)
	}
	return w
}

// appendWrite is write without the wait: unless the write is done, the
// caller must call g.await(w), holding no lock (a commit's own request
// goroutine does, which spares it waking another goroutine).
func (g *group) appendWrite(recs []Record, commits []staged, then func(*write)) *write {
	w := &write{then: then, commits: commits, applied: make(chan struct{})}
	if s := g.c.store; s != nil && len(recs) > 0 {
		w.p, w.err = s.Append(g.c.PartitionFor(g.name), recs)
	}
	w.done = w.p == nil
	g.writes = append(g.writes, w)
	if w.done {
		g.drain()
	}
	return w
}

// await waits, holding no lock, for w to be durable, then runs every
// callback that is due.
func (g *group) await(w *write) {
	err := w.p.Wait(g.c.ctx)
	g.mu.Lock()
	w.done, w.err = true, err
	g.drain()
	g.mu.Unlock()
}

// drain runs the callbacks of the done writes at the head of the queue,
// in append order; g.mu is held.
func (g *group) drain() {
	for len(g.writes) > 0 && g.writes[0].done {
		w := g.writes[0]
		g.writes[0] = nil
		g.writes = g.writes[1:]
		if w.then != nil {
			w.then(w)
		}
		close(w.applied)
	}
	if len(g.writes) == 0 {
		g.writes = nil // do not keep a burst's backing array
	}
}

// lastWrite returns the group's latest write still pending, or nil.
func (g *group) lastWrite() *write {
	if len(g.writes) == 0 {
		return nil
	}
	return g.writes[len(g.writes)-1]
}

// dropPending keeps pending commits of k from being applied (k's offset
// was just deleted after them).
func (g *group) dropPending(k tp) {
	for _, w := range g.writes {
		for i := range w.commits {
			if w.commits[i].k == k {
				w.commits[i].dropped = true
			}
		}
	}
}

// pendingKeys returns the partitions with a commit pending, not dropped.
func (g *group) pendingKeys() map[tp]bool {
	var out map[tp]bool
	for _, w := range g.writes {
		for _, s := range w.commits {
			if !s.dropped {
				if out == nil {
					out = make(map[tp]bool)
				}
				out[s.k] = true
			}
		}
	}
	return out
}

// hasOffsets is Kafka's GroupMetadata.hasOffsets: committed or pending,
// transactional offsets included.
func (g *group) hasOffsets() bool {
	return len(g.offsets) > 0 || len(g.pendingKeys()) > 0 || len(g.txnKeys()) > 0
}

// writeDeletion appends recs, the tombstones of keys (and of the group, if
// it is deleted), and once they are durable deletes keys' offsets in memory
// and tells the observers; then, if not nil, runs after that in the same
// callback (w.err final), and also when the write failed, which deletes
// nothing.
func (g *group) writeDeletion(recs []Record, keys []tp, why DeleteReason, at time.Time, then func(*write)) *write {
	seq := g.c.nextSeq() // under g.mu, as the append
	return g.write(recs, nil, func(w *write) {
		if w.err == nil && !g.removed {
			for _, k := range keys {
				if _, ok := g.offsets[k]; ok {
					g.deleteOffset(k, at)
				}
				// Transactional offsets written before the tombstones go
				// with them, as a replayed tombstone drops them in Kafka;
				// those written since stay pending.
				g.dropTxn(k, seq)
			}
			g.publishDeleted(keys, why, at)
		}
		if then != nil {
			then(w)
		}
	})
}
