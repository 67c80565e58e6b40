package broker

import (
	"encoding/binary"
	"github.com/rewindhq/rewind/groupconfig"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/rewindhq/rewind/group"
	"github.com/rewindhq/rewind/group/share"
	"github.com/rewindhq/rewind/storage"
)

// Share groups (KIP-932): membership in package group/share's
// Coordinator, the delivery state of each share partition in a
// share.Partition, and the share sessions of ShareFetch and
// ShareAcknowledge here. One mutex guards the three; a share fetch holds
// it while it reads the log of its partitions (reads of the page cache,
// bounded by the fetch's byte budget).
//
// The state lives in memory: a restart forgets the share groups, their
// members and what was delivered (Kafka keeps the delivery state in
// __share_group_state, which Rewind does not write yet).

// Kafka's defaults: group.share.max.share.sessions (2000 sessions per
// broker) and share.fetch.max.records? ShareFetch v1+ carries MaxRecords;
// a request without a positive one gets shareDefaultMaxRecords.
const (
	shareMaxSessions        = 2000
	shareDefaultMaxRecords  = 500
	shareMaxSessionParts    = 10000
	shareMaxWait            = 30 * time.Second
	shareRecordBatchHdrSize = 61
)

type shareTP struct {
	id        [16]byte
	partition int32
}

type sharePartKey struct {
	group string
	tp    shareTP
}

type shareSessionKey struct{ group, member string }

// shareSession is one member's share session: the partitions it fetches
// and the epoch its next request must carry.
type shareSession struct {
	conn  uint64 // the connection that opened it
	epoch int32
	parts []shareTP
	in    map[shareTP]bool
}

func (s *shareSession) add(tp shareTP) bool {
	if s.in[tp] {
		return false
	}
	s.in[tp] = true
	s.parts = append(s.parts, tp)
	return true
}

func (s *shareSession) forget(tp shareTP) {
	if !s.in[tp] {
		return
	}
	delete(s.in, tp)
	for i, p := range s.parts {
		if p == tp {
			s.parts = append(s.parts[:i], s.parts[i+1:]...)
			break
		}
	}
}

type shareGroups struct {
	mu       sync.Mutex
	b        *Broker
	c        *share.Coordinator
	parts    map[sharePartKey]*share.Partition
	sessions map[shareSessionKey]*shareSession
	// changed is closed (and replaced) whenever records may have become
	// available again: released, expired or a member gone.
	changed chan struct{}
	timer   *time.Timer
	// due is when a member's session or a record's lock may end first
	// (zero: none); nothing is scanned before. A new deadline earlier
	// than it (a group with a shorter lock) brings it forward
	// (dueLocked); otherwise due only moves when it passes (tickLocked).
	due time.Time
}

func (s *shareGroups) init(b *Broker) {
	s.b = b
	s.c = share.NewCoordinator(share.Config{PerGroup: func(group string) (session, heartbeat time.Duration) {
		v := b.gcfg.Values(group) // opened by New, before the groups start
		if v.IsSet("share.session.timeout.ms") {
			session = v.Millis("share.session.timeout.ms")
		}
		if v.IsSet("share.heartbeat.interval.ms") {
			heartbeat = v.Millis("share.heartbeat.interval.ms")
		}
		return session, heartbeat
	}})
	s.parts = map[sharePartKey]*share.Partition{}
	s.sessions = map[shareSessionKey]*shareSession{}
	s.changed = make(chan struct{})
}

func (s *shareGroups) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// shareSettings are a share group's settings from its GROUP configs
// (configs_group.go), else the broker's: read once per request.
type shareSettings struct {
	part      share.PartitionConfig
	reset     string // share.auto.offset.reset
	committed bool   // share.isolation.level=read_committed
}

func (s *shareGroups) settings(group string) shareSettings {
	v := s.b.gcfg.Values(group) // opened by New, before the groups start
	return shareSettings{
		part: share.PartitionConfig{
			LockDuration:  v.Millis(groupconfig.ShareRecordLock),
			DeliveryLimit: int16(v.Int(groupconfig.ShareDeliveryCount)),
			MaxInFlight:   v.Int(groupconfig.SharePartitionMaxLocks),
		}.WithDefaults(),
		reset:     v.Get(groupconfig.ShareAutoOffsetReset),
		committed: v.Get(groupconfig.ShareIsolationLevel) == "read_committed",
	}
}

// partLocked returns the share partition of group, initialized, when it
// is first read, where the group's share.auto.offset.reset says: latest
// (Kafka's default) the log's high watermark, earliest its start, and
// by_duration:D the first record at most D old (the high watermark when
// none is). A partition already made takes the group's current lock
// duration and delivery limit.
func (s *shareGroups) partLocked(group string, tp shareTP, l *storage.Log, st shareSettings) *share.Partition {
	k := sharePartKey{group, tp}
	p := s.parts[k]
	if p != nil {
		p.SetLimits(st.part.LockDuration, st.part.DeliveryLimit)
		return p
	}
	p = share.NewPartition(st.part, shareStart(st.reset, l, time.Now()))
	s.parts[k] = p
	return p
}

// shareStart is where share.auto.offset.reset reset starts a partition.
func shareStart(reset string, l *storage.Log, now time.Time) int64 {
	reset = strings.ToLower(reset)
	switch {
	case reset == "earliest":
		return l.LogStartOffset()
	case strings.HasPrefix(reset, "by_duration:"):
		d, ok := groupconfig.ParseDuration(strings.TrimSpace(strings.TrimPrefix(reset, "by_duration:")))
		if !ok {
			break
		}
		if off, _, err := l.OffsetForTimestamp(now.Add(-d).UnixMilli()); err == nil && off >= 0 {
			return off
		}
	}
	return l.HighWatermark()
}

// departLocked releases what departed members held and closes their
// sessions.
func (s *shareGroups) departLocked(gone []share.Departed) {
	if len(gone) == 0 {
		return
	}
	released := 0
	for _, d := range gone {
		delete(s.sessions, shareSessionKey{d.Group, d.Member})
		released += s.releaseMemberLocked(d.Group, d.Member)
	}
	if released > 0 {
		s.notifyLocked()
	}
}

func (s *shareGroups) releaseMemberLocked(group, member string) int {
	n := 0
	for k, p := range s.parts {
		if k.group == group {
			n += p.ReleaseMember(member)
		}
	}
	return n
}

// tickLocked expires the sessions and locks due by now, if any is: the
// whole state is scanned only then, and the next deadline found.
func (s *shareGroups) tickLocked(now time.Time) {
	if s.due.IsZero() || now.Before(s.due) {
		return
	}
	s.departLocked(s.c.Expire(now, newShareTopics(s.b)))
	released := 0
	next := s.c.NextDeadline()
	for _, p := range s.parts {
		released += p.Expire(now)
		if d := p.NextDeadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	if released > 0 {
		s.notifyLocked()
	}
	s.due = time.Time{}
	s.dueLocked(now, next)
}

// dueLocked notes a deadline (a lock taken, a session begun or renewed):
// the timer fires by then.
func (s *shareGroups) dueLocked(now, at time.Time) {
	if at.IsZero() || (!s.due.IsZero() && !at.Before(s.due)) {
		return
	}
	s.due = at
	d := max(at.Sub(now), time.Millisecond)
	if s.timer == nil {
		s.timer = time.AfterFunc(d, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.tickLocked(time.Now())
		})
		return
	}
	s.timer.Reset(d)
}

// topicDeleted forgets the share partitions of topics that are gone and
// takes them out of the share sessions.
func (s *shareGroups) topicDeleted() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.parts {
		if _, ok := s.b.reg.byID(k.tp.id); !ok {
			delete(s.parts, k)
		}
	}
	for _, sess := range s.sessions {
		for _, tp := range append([]shareTP(nil), sess.parts...) {
			if _, ok := s.b.reg.byID(tp.id); !ok {
				sess.forget(tp)
			}
		}
	}
}

func (s *shareGroups) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
	}
}

// shareTopics is the share coordinator's view of the topics.
type shareTopics struct{ t *consumerTopics }

func newShareTopics(b *Broker) shareTopics { return shareTopics{newConsumerTopics(b.reg.list())} }

func (t shareTopics) Lookup(name string) (share.TopicID, int32, bool) {
	m, ok := t.t.byName[name]
	return m.ID, m.Partitions, ok
}

// ackCode maps an acknowledgement's failure to Kafka's code.
func ackCode(err error) int16 {
	switch err {
	case nil:
		return 0
	case share.ErrInvalidRequest:
		return kerr.InvalidRequest.Code
	default:
		return kerr.InvalidRecordState.Code
	}
}

// ackBatch is one acknowledgement batch of ShareFetch or ShareAcknowledge.
type ackBatch struct {
	first, last int64
	types       []int8
}

// acknowledgeLocked applies a partition's batches in order; the first
// failure is the partition's code (the batches before it stand, as in
// Kafka, which applies each batch on its own).
func (s *shareGroups) acknowledgeLocked(now time.Time, group, member string, tp shareTP, batches []ackBatch, renewAllowed bool) (code int16, msg *string) {
	name, ok := s.b.reg.byID(tp.id)
	if !ok {
		return kerr.UnknownTopicID.Code, nil
	}
	l := s.b.partition(name, tp.partition)
	if l == nil {
		return kerr.UnknownTopicOrPartition.Code, nil
	}
	p := s.parts[sharePartKey{group, tp}]
	released := false
	defer func() {
		if released {
			s.notifyLocked() // a batch before a failing one stands
		}
	}()
	for _, b := range batches {
		types := make([]share.AckType, len(b.types))
		for i, t := range b.types {
			types[i] = share.AckType(t)
			if types[i] == share.AckRenew && !renewAllowed {
				return kerr.InvalidRequest.Code, nil
			}
		}
		if p == nil {
			return kerr.InvalidRecordState.Code, strp("Batch record not found. The request batch offsets are not found in the cache.")
		}
		if err := p.Acknowledge(now, member, b.first, b.last, types); err != nil {
			if err == share.ErrInvalidRecordState {
				return ackCode(err), strp("Batch record not found. The request batch offsets are not found in the cache.")
			}
			return ackCode(err), nil
		}
		for _, t := range types {
			released = released || t == share.AckRelease
		}
	}
	return 0, nil
}

// sessionLocked finds or opens the share session a request names at
// epoch, as Kafka's ShareSessionCache: 0 opens one (replacing the
// member's previous session, whose records stay acquired), -1 is the
// last request of one, any other epoch must be the session's next.
func (s *shareGroups) sessionLocked(conn uint64, group, member string, epoch int32) (*shareSession, int16) {
	k := shareSessionKey{group, member}
	sess := s.sessions[k]
	switch {
	case epoch == 0:
		if sess == nil && len(s.sessions) >= shareMaxSessions {
			return nil, kerr.ShareSessionLimitReached.Code
		}
		sess = &shareSession{conn: conn, epoch: 1, in: map[shareTP]bool{}}
		s.sessions[k] = sess
		return sess, 0
	case sess == nil:
		return nil, kerr.ShareSessionNotFound.Code
	case epoch == -1:
		return sess, 0
	case epoch != sess.epoch:
		return nil, kerr.InvalidShareSessionEpoch.Code
	}
	if sess.epoch == 1<<31-1 {
		sess.epoch = 1
	} else {
		sess.epoch++
	}
	return sess, 0
}

// closeSessionLocked ends a member's session (epoch -1): its acquired
// records are released.
func (s *shareGroups) closeSessionLocked(group, member string) {
	delete(s.sessions, shareSessionKey{group, member})
	if s.releaseMemberLocked(group, member) > 0 {
		s.notifyLocked()
	}
}

// connClosed closes the share sessions opened on a connection that
// closed, releasing their members' records, as Kafka's share session
// cache does when a client's connection goes.
func (s *shareGroups) connClosed(conn uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, sess := range s.sessions {
		if sess.conn == conn {
			s.closeSessionLocked(k.group, k.member)
		}
	}
}

// batchBounds lists the batches in buf (whole record batches as the log
// returns them): their first and last offsets and where each ends in buf.
func batchBounds(buf []byte) (bs []share.Batch, ends []int) {
	pos := 0
	for len(buf)-pos >= shareRecordBatchHdrSize {
		base := int64(binary.BigEndian.Uint64(buf[pos:]))
		length := int(int32(binary.BigEndian.Uint32(buf[pos+8:])))
		end := pos + 12 + length
		if length < shareRecordBatchHdrSize-12 || end > len(buf) {
			break
		}
		delta := int64(int32(binary.BigEndian.Uint32(buf[pos+23:])))
		bs = append(bs, share.Batch{First: base, Last: base + delta})
		ends = append(ends, end)
		pos = end
	}
	return bs, ends
}

// shareGroupInfos lists the share groups for ListGroups.
func (b *Broker) shareGroupInfos() []group.ModernGroupInfo {
	s := &b.shares
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		return nil
	}
	s.tickLocked(time.Now())
	var out []group.ModernGroupInfo
	for _, id := range s.c.Groups() {
		out = append(out, group.ModernGroupInfo{Name: id, State: s.c.Group(id).State(), Type: "share"})
	}
	return out
}

// deleteShareGroup deletes an Empty share group and its delivery state
// (DeleteGroups); with check it only tells whether it may.
func (b *Broker) deleteShareGroup(id string, check bool) int16 {
	s := &b.shares
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tickLocked(time.Now())
	g := s.c.Group(id)
	switch {
	case g == nil:
		return kerr.GroupIDNotFound.Code
	case g.State() != "Empty":
		return kerr.NonEmptyGroup.Code
	case check:
		return 0
	}
	if err := s.c.Delete(id); err != nil {
		return kerr.NonEmptyGroup.Code
	}
	for k := range s.parts {
		if k.group == id {
			delete(s.parts, k)
		}
	}
	for k := range s.sessions {
		if k.group == id {
			delete(s.sessions, k)
		}
	}
	return 0
}

// skipAborted marks the batches a read_committed share group never gets:
// transaction markers, and the batches of aborted transactions (a
// transactional batch of producer P at offset o when an aborted
// transaction of P spans o), as a read_committed consumer drops them.
// buf holds the batches, ending at ends, as batchBounds read them.
func skipAborted(bs []share.Batch, ends []int, buf []byte, aborted []storage.AbortedTxn) {
	for i := range bs {
		hdr := buf
		if i > 0 {
			hdr = buf[ends[i-1]:]
		}
		attrs := binary.BigEndian.Uint16(hdr[21:])
		if attrs&0x20 != 0 { // a control batch: the transaction's marker
			bs[i].Skip = true
			continue
		}
		if attrs&0x10 == 0 {
			continue // not transactional
		}
		pid := int64(binary.BigEndian.Uint64(hdr[43:]))
		for _, t := range aborted {
			if t.ProducerID == pid && t.FirstOffset <= bs[i].First && bs[i].First <= t.LastOffset {
				bs[i].Skip = true
				break
			}
		}
	}
}
