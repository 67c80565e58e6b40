package group

import (
	"sort"
	"time"
)

// Commit history. Every group keeps, per partition, its current offset and
// the positions it committed before, each with the time it was first
// committed and the time it was replaced, so that "where did the group
// stand at time T" has an answer for T within HistoryRetention. The same
// functions serve live commits and Replay, so a restart rebuilds the same
// history from __consumer_offsets (as far as the topic still holds the
// superseded records).

// histEntry is a superseded position, kept compact (times in Unix
// milliseconds): a busy consumer commits every few seconds.
type histEntry struct {
	offset int64
	epoch  int32
	meta   string
	since  int64 // first commit of this position
	last   int64 // last commit of this position
	until  int64 // when another position (or a deletion) replaced it
	txn    bool  // the position's last commit was transactional
}

func samePosition(a, b *offset) bool {
	return a.offset == b.offset && a.epoch == b.epoch && a.meta == b.meta
}

// putOffset makes o the current offset of k, moving the previous position
// into the history unless o only repeats it.
func putOffset(cur map[tp]*offset, hist map[tp][]histEntry, k tp, o offset, maxHist int) {
	o.since = o.commit
	if old, ok := cur[k]; ok {
		if samePosition(old, &o) {
			o.since = old.since
		} else {
			until := max(o.commit.UnixMilli(), old.commit.UnixMilli())
			hist[k] = appendHist(hist[k], histEntry{old.offset, old.epoch, old.meta, old.since.UnixMilli(), old.commit.UnixMilli(), until, old.txn}, maxHist)
		}
	}
	cur[k] = &o
}

// dropOffset removes k's offset at time at, keeping it in the history.
func dropOffset(cur map[tp]*offset, hist map[tp][]histEntry, k tp, at time.Time) {
	if old, ok := cur[k]; ok {
		until := max(at.UnixMilli(), old.commit.UnixMilli())
		hist[k] = append(hist[k], histEntry{old.offset, old.epoch, old.meta, old.since.UnixMilli(), old.commit.UnixMilli(), until, old.txn})
		delete(cur, k)
	}
}

// appendHist appends e, thinning the older half of hs when it exceeds
// maxHist: every other entry there is dropped and its predecessor stretched
// over its time, so a lookup in that range returns an earlier position.
func appendHist(hs []histEntry, e histEntry, maxHist int) []histEntry {
	hs = append(hs, e)
	if maxHist <= 0 || len(hs) <= maxHist {
		return hs
	}
	half := len(hs) / 2
	out := hs[:0]
	for i := 0; i < half; i += 2 {
		kept := hs[i]
		if i+1 < half {
			kept.until = hs[i+1].until
		}
		out = append(out, kept)
	}
	out = append(out, hs[half:]...)
	return out
}

// pruneHistory drops positions replaced before cutoff.
func pruneHistory(hist map[tp][]histEntry, cutoff time.Time) {
	c := cutoff.UnixMilli()
	for k, hs := range hist {
		i := 0
		for i < len(hs) && hs[i].until < c {
			i++
		}
		switch {
		case i == len(hs):
			delete(hist, k)
		case i > 0:
			hist[k] = append([]histEntry(nil), hs[i:]...)
		}
	}
}

// History returns the positions the group committed that are still within
// HistoryRetention: every current one, and every one replaced less than
// HistoryRetention ago, sorted by commit time (then topic, partition). nil
// if the group does not exist.
func (c *Coordinator) History(group string) []Commit {
	g := c.lockGroup(group, false)
	if g == nil {
		return nil
	}
	defer g.mu.Unlock()
	g.pruneHistory(c.now())
	out := []Commit{}
	for k, hs := range g.history {
		for _, h := range hs {
			out = append(out, Commit{
				Topic:          k.topic,
				Partition:      k.partition,
				Offset:         h.offset,
				LeaderEpoch:    h.epoch,
				Metadata:       h.meta,
				CommitTime:     time.UnixMilli(h.since),
				LastCommitTime: time.UnixMilli(h.last),
				SupersededAt:   time.UnixMilli(h.until),
				Transactional:  h.txn,
			})
		}
	}
	for k, o := range g.offsets {
		out = append(out, Commit{
			Topic:          k.topic,
			Partition:      k.partition,
			Offset:         o.offset,
			LeaderEpoch:    o.epoch,
			Metadata:       o.meta,
			CommitTime:     o.since,
			LastCommitTime: o.commit,
			Transactional:  o.txn,
		})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.CommitTime.Equal(b.CommitTime) {
			return a.CommitTime.Before(b.CommitTime)
		}
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return a.SupersededAt.Before(b.SupersededAt)
	})
	return out
}

// CommittedAt returns the offsets the group had committed at time t: for
// each partition, the position committed at or before t that had not been
// replaced or deleted by t. Exact for t within HistoryRetention (coarser
// where HistoryMaxPerPartition thinned the history). nil if the group does
// not exist; OffsetInfo.ExpireTime is not set.
func (c *Coordinator) CommittedAt(group string, t time.Time) map[string]map[int32]OffsetInfo {
	h := c.History(group)
	if h == nil {
		return nil
	}
	out := make(map[string]map[int32]OffsetInfo)
	for _, cm := range h {
		if cm.CommitTime.After(t) || (!cm.SupersededAt.IsZero() && !cm.SupersededAt.After(t)) {
			continue
		}
		if out[cm.Topic] == nil {
			out[cm.Topic] = make(map[int32]OffsetInfo)
		}
		out[cm.Topic][cm.Partition] = OffsetInfo{Offset: cm.Offset, LeaderEpoch: cm.LeaderEpoch, Metadata: cm.Metadata, CommitTime: cm.CommitTime}
	}
	return out
}
