package monitor

import (
	"sort"
	"time"

	"github.com/rewindhq/rewind/group"
	"github.com/rewindhq/rewind/lageval"
	"github.com/rewindhq/rewind/offsetsfmt"
	"github.com/twmb/franz-go/pkg/kgo"
)

// What the monitor keeps of each group, built from __consumer_offsets as
// Burrow builds it: every commit record moves the group's position on its
// partition (the previous position goes to the history), a tombstone
// deletes it, and the commits feed the Burrow windows (lageval.Recorder).

type tpKey struct {
	topic string
	part  int32
}

// position is one position a group held on a partition, in unix ms: from
// its first commit (since) to its last (last), until another position (or a
// deletion) replaced it (0 for the current one).
type position struct {
	offset             int64
	epoch              int32
	since, last, until int64
	txn                bool
}

type current struct {
	position
	meta   string
	expire int64
}

type gstate struct {
	offsets map[tpKey]*current
	history map[tpKey][]position // superseded positions, oldest first
	// From the group's metadata records (classic) or its epoch records
	// (consumer groups): what the last one said.
	consumer   bool
	gone       bool  // its last metadata record is a tombstone: deleted or expired
	generation int32 // a classic group's, from its last metadata record

}

func (m *Monitor) groupLocked(name string) (string, *gstate) {
	name = m.intern(name)
	g := m.groups[name]
	if g == nil {
		g = &gstate{offsets: map[tpKey]*current{}, history: map[tpKey][]position{}}
		m.groups[name] = g
	}
	return name, g
}

// applyLocked applies one record of __consumer_offsets.
func (m *Monitor) applyLocked(r *kgo.Record) {
	if r.Attrs.IsControl() {
		return
	}
	k, err := offsetsfmt.DecodeKey(r.Key)
	if err != nil || k.Group == "" {
		return
	}
	at := r.Timestamp.UnixMilli()
	switch {
	case k.Kind == offsetsfmt.OffsetCommit:
		name, g := m.groupLocked(k.Group)
		tp := tpKey{m.intern(k.Topic), k.Partition}
		if r.Value == nil {
			m.deleteLocked(name, g, tp, at)
			return
		}
		v, err := offsetsfmt.DecodeOffsetCommit(r.Value)
		if err != nil {
			return
		}
		if v.CommitTimestamp > 0 {
			at = v.CommitTimestamp
		}
		m.commitLocked(name, g, tp, position{offset: v.Offset, epoch: v.LeaderEpoch, since: at, last: at,
			txn: r.ProducerID >= 0 && r.Attrs.IsTransactional()}, v.Metadata, v.ExpireTimestamp)
	case k.Kind == offsetsfmt.GroupMetadata:
		_, g := m.groupLocked(k.Group)
		g.gone = r.Value == nil
		if !g.gone {
			if v, err := offsetsfmt.DecodeGroupMetadata(r.Value); err == nil {
				g.generation = v.Generation
			}
		}
		m.dirty = true
	case k.Kind == offsetsfmt.ConsumerGroupMetadata:
		_, g := m.groupLocked(k.Group)
		g.consumer, g.gone = true, r.Value == nil
		m.dirty = true
	}
}

// commitLocked records a commit of p on tp. A commit older than the last
// one known there was seen before (the state file holds it, or a replay
// after a restart reads it again) and changes nothing.
func (m *Monitor) commitLocked(name string, g *gstate, tp tpKey, p position, meta string, expire int64) {
	c := g.offsets[tp]
	same := c != nil && c.offset == p.offset && c.epoch == p.epoch && c.meta == meta
	if c != nil && (p.since < c.last || p.since == c.last && same) {
		return
	}
	g.gone = false
	m.dirty = true
	if same {
		c.last, c.txn, c.expire = p.since, p.txn, expire
	} else {
		if c != nil {
			old := c.position
			old.until = p.since
			m.pushHistoryLocked(g, tp, old)
		}
		g.offsets[tp] = &current{position: p, meta: meta, expire: expire}
	}
	// A commit made now is judged against the log end the last poll saw
	// (as Burrow does with its broker offsets); one replayed from the
	// past gets its lag later, from the time index (estimateLags).
	logEnd := int64(-1)
	if time.Since(time.UnixMilli(p.since)) < 2*m.cfg.Poll {
		if le, ok := m.view.end(tp.topic, tp.part); ok {
			logEnd = max(le, p.offset)
		}
	}
	if logEnd < 0 {
		m.unknownLag = true
	}
	m.rec.Commit(name, lageval.TopicPartition{Topic: tp.topic, Partition: tp.part}, p.offset, time.UnixMilli(p.since), logEnd)
}

func (m *Monitor) deleteLocked(name string, g *gstate, tp tpKey, at int64) {
	c := g.offsets[tp]
	if c == nil || at < c.last {
		return
	}
	old := c.position
	old.until = at
	m.pushHistoryLocked(g, tp, old)
	delete(g.offsets, tp)
	m.rec.Forget(name, lageval.TopicPartition{Topic: tp.topic, Partition: tp.part})
	m.dirty = true
}

// pushHistoryLocked appends a superseded position, keeping at most
// HistoryPerPartition of them and none superseded before HistoryRetention.
func (m *Monitor) pushHistoryLocked(g *gstate, tp tpKey, p position) {
	h := append(g.history[tp], p)
	if n := len(h) - m.cfg.HistoryPerPartition; n > 0 {
		h = append(h[:0], h[n:]...)
	}
	g.history[tp] = pruneHistory(h, time.Now().Add(-m.cfg.HistoryRetention).UnixMilli())
}

func pruneHistory(h []position, before int64) []position {
	i := 0
	for i < len(h) && h[i].until < before {
		i++
	}
	if i == 0 {
		return h
	}
	return append(h[:0], h[i:]...)
}

// committedLocked is the group's current offsets (nil: unknown group).
func (m *Monitor) committedLocked(name string) map[string]map[int32]group.OffsetInfo {
	g := m.groups[name]
	if g == nil {
		if _, listed := m.view.groups[name]; listed {
			return map[string]map[int32]group.OffsetInfo{}
		}
		return nil
	}
	out := make(map[string]map[int32]group.OffsetInfo, 4)
	for tp, c := range g.offsets {
		ps := out[tp.topic]
		if ps == nil {
			ps = map[int32]group.OffsetInfo{}
			out[tp.topic] = ps
		}
		o := group.OffsetInfo{Offset: c.offset, LeaderEpoch: c.epoch, Metadata: c.meta, CommitTime: time.UnixMilli(c.since)}
		if c.expire > 0 {
			o.ExpireTime = time.UnixMilli(c.expire)
		}
		ps[tp.part] = o
	}
	return out
}

func (m *Monitor) historyLocked(name string) []group.Commit {
	g := m.groups[name]
	if g == nil {
		return nil
	}
	out := []group.Commit{}
	before := time.Now().Add(-m.cfg.HistoryRetention).UnixMilli()
	for tp, h := range g.history {
		for _, p := range pruneHistory(h, before) {
			out = append(out, group.Commit{Topic: tp.topic, Partition: tp.part, Offset: p.offset, LeaderEpoch: p.epoch,
				CommitTime: time.UnixMilli(p.since), LastCommitTime: time.UnixMilli(p.last), SupersededAt: time.UnixMilli(p.until), Transactional: p.txn})
		}
	}
	for tp, c := range g.offsets {
		out = append(out, group.Commit{Topic: tp.topic, Partition: tp.part, Offset: c.offset, LeaderEpoch: c.epoch, Metadata: c.meta,
			CommitTime: time.UnixMilli(c.since), LastCommitTime: time.UnixMilli(c.last), Transactional: c.txn})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.CommitTime.Equal(b.CommitTime) {
			return a.CommitTime.Before(b.CommitTime)
		}
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		return a.Partition < b.Partition
	})
	return out
}

// committedAt is what the group had committed at t, from its history.
func committedAt(h []group.Commit, t time.Time) map[string]map[int32]group.OffsetInfo {
	out := map[string]map[int32]group.OffsetInfo{}
	for _, cm := range h {
		if cm.CommitTime.After(t) || (!cm.SupersededAt.IsZero() && !cm.SupersededAt.After(t)) {
			continue
		}
		if out[cm.Topic] == nil {
			out[cm.Topic] = map[int32]group.OffsetInfo{}
		}
		out[cm.Topic][cm.Partition] = group.OffsetInfo{Offset: cm.Offset, LeaderEpoch: cm.LeaderEpoch, Metadata: cm.Metadata, CommitTime: cm.CommitTime}
	}
	return out
}
