package offsettool

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// A rebalance timeline, read from __consumer_offsets, for both protocols:
// a classic group writes its members and their assignments at every
// generation (GroupMetadata); a consumer group (KIP-848) writes every
// member's joining, subscription and leaving (ConsumerGroupMemberMetadata),
// each new group epoch (ConsumerGroupMetadata) and every member's owned
// partitions as it reconciles (ConsumerGroupCurrentMemberAssignment). So
// the timeline says who joined and left at each generation or epoch, and
// which partitions moved from whom to whom, on Kafka as on Rewind.
//
// For each moved partition it gives the group's committed offset when the
// partition moved, where its new owner starts, and how many records the
// log held past that commit then: the most the previous owner can have
// fetched (and processed) past its last commit, which the new owner
// processes again. The records say nothing of fetch positions, so that is
// a bound; a consumer that commits on revocation (franz-go, the Java
// client, librdkafka's default) leaves none of it to repeat.
//
// A Rewind broker sees every Fetch with its client id and host, which the
// group records give for each member: its console (admin) fills
// RedoFetched, the records the previous owner really had fetched past the
// commit, when that client id and host name one reader of the partition
// (broker.FetchedBy). Against Kafka the tools cannot see fetches:
// RedoFetched stays -1 and RedoFetchedNote says so.

// Why a member left or joined, as the records tell it.
const (
	ReasonJoined             = "joined"
	ReasonNewSubscription    = "new subscription"
	ReasonLeft               = "left (LeaveGroup or a session or rebalance timeout: the records do not say which)"
	ReasonStaticReplaced     = "static replacement"
	ReasonStaticLeave        = "static member left to restart (epoch -2; its partitions stay reserved)"
	ReasonGenerationLeft     = "not in the new generation (left, or did not rejoin in time)"
	ReasonGenerationJoined   = "joined the generation"
	ReasonGroupEmptied       = "the group emptied"
	reasonStaticReplacedFrom = "static replacement of member %s (instance %s)"
)

// MemberChange is a member joining, leaving or changing its subscription.
type MemberChange struct {
	MemberRecord
	Reason string `json:"reason"`
}

// PartitionMove is one partition changing owner.
type PartitionMove struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// From and To are member ids ("" when no member held it before).
	From       string    `json:"from"`
	FromClient string    `json:"from_client,omitempty"`
	To         string    `json:"to"`
	ToClient   string    `json:"to_client,omitempty"`
	At         time.Time `json:"at"`
	// Committed is the group's committed offset when it moved (NoOffset
	// if none): where To starts.
	Committed int64 `json:"committed"`
	// LogEndAt is the partition's log end when it moved, from the time
	// index (-1 when unknown), and Redo = LogEndAt - Committed: the most
	// records From can have fetched past its last commit, which To
	// processes again (-1 when unknown).
	LogEndAt int64 `json:"log_end_at_move"`
	Redo     int64 `json:"redo_at_most"`
	// FetchedEnd is the offset after the records From's client had been
	// returned when it moved (-1 when unknown or none), and RedoFetched
	// = FetchedEnd - Committed (at least 0): the records From had
	// fetched past its last commit, which To processes again, exact; -1
	// when unknown, RedoFetchedNote saying why (then only Redo, the
	// bound, is known).
	FetchedEnd      int64  `json:"fetched_end"`
	RedoFetched     int64  `json:"redo_fetched"`
	RedoFetchedNote string `json:"redo_fetched_note"`
	// FromHost is From's client host ("/1.2.3.4"), FromSince when the
	// partition moved to From (zero when the records do not tell).
	FromHost  string    `json:"from_host,omitempty"`
	FromSince time.Time `json:"-"`
}

// NoteNoPreviousOwner is RedoFetchedNote for a partition no member held
// before, as far as the records tell.
const NoteNoPreviousOwner = "no previous owner in the records"

// NoteKafkaFetches is RedoFetchedNote where the tools read the records
// only (against Kafka, or Rewind without its admin listener).
const NoteKafkaFetches = "unknown: read over the Kafka protocol, which shows no consumer's fetch positions (on Kafka only the bound redo_at_most is known; a Rewind broker's admin listener, --http, gives the exact count)"

// Rebalance is one generation (classic) or group epoch (consumer).
type Rebalance struct {
	Type  string    `json:"type"` // TypeClassic or TypeConsumer
	Epoch int32     `json:"epoch"`
	Time  time.Time `json:"time"`
	// Members counts the members after it.
	Members int             `json:"members"`
	Joined  []MemberChange  `json:"joined"`
	Left    []MemberChange  `json:"left"`
	Changed []MemberChange  `json:"changed"`
	Moved   []PartitionMove `json:"moved"`
}

// Rebalances builds the timeline from a group's history (History, in
// time order). The moves' LogEndAt and Redo are -1: Client.Rebalances
// fills them.
func Rebalances(h []HistoryEntry) []Rebalance {
	b := timeline{members: map[string]MemberRecord{}, owner: map[TopicPartition]string{}, last: map[TopicPartition]string{},
		committed: map[TopicPartition]int64{}, since: map[TopicPartition]time.Time{}, byEpoch: map[[2]int64]int{}, static: map[string]bool{}, gone: map[string]MemberRecord{}}
	for _, e := range h {
		switch e.Kind {
		case EventCommit:
			if e.Transaction != TxnAborted && e.Transaction != TxnPending {
				b.committed[TopicPartition{e.Topic, e.Partition}] = e.Offset
			}
		case EventDelete:
			delete(b.committed, TopicPartition{e.Topic, e.Partition})
		case EventGroup:
			b.generation(e)
		case EventGroupEpoch:
			b.epoch(e)
		case EventMember:
			b.member(e)
		case EventMemberGone:
			b.left(e)
		case EventAssignment:
			b.assignment(e)
		}
	}
	for i := range b.out {
		r := &b.out[i]
		for _, l := range [][]MemberChange{r.Joined, r.Left, r.Changed} {
			sort.Slice(l, func(i, j int) bool { return l[i].ID < l[j].ID })
		}
		sort.SliceStable(r.Moved, func(i, j int) bool {
			a, b := r.Moved[i], r.Moved[j]
			if a.Topic != b.Topic {
				return a.Topic < b.Topic
			}
			return a.Partition < b.Partition
		})
		for _, l := range []*[]MemberChange{&r.Joined, &r.Left, &r.Changed} {
			if *l == nil {
				*l = []MemberChange{}
			}
		}
		if r.Moved == nil {
			r.Moved = []PartitionMove{}
		}
	}
	return b.out
}

type timeline struct {
	out       []Rebalance
	byEpoch   map[[2]int64]int // (type, epoch) -> index in out
	members   map[string]MemberRecord
	owner     map[TopicPartition]string // the member assigned it now ("" none)
	last      map[TopicPartition]string // the last member assigned it
	committed map[TopicPartition]int64
	since     map[TopicPartition]time.Time // when the last member assigned it got it
	static    map[string]bool              // members that left for a restart (epoch -2)
	gone      map[string]MemberRecord
	// pending are a consumer group's member changes since the last group
	// epoch record: Kafka writes them before the epoch they bump.
	pendJoined, pendLeft, pendChanged []MemberChange
	prevGen                           []MemberRecord // the classic group's previous generation
}

func typeKey(typ string, epoch int32) [2]int64 {
	k := int64(0)
	if typ == TypeConsumer {
		k = 1
	}
	return [2]int64{k, int64(epoch)}
}

func (b *timeline) at(typ string, epoch int32, t time.Time) *Rebalance {
	k := typeKey(typ, epoch)
	if i, ok := b.byEpoch[k]; ok {
		return &b.out[i]
	}
	b.out = append(b.out, Rebalance{Type: typ, Epoch: epoch, Time: t})
	b.byEpoch[k] = len(b.out) - 1
	return &b.out[len(b.out)-1]
}

// current is the newest consumer rebalance, made if there is none.
func (b *timeline) current(t time.Time) *Rebalance {
	for i := len(b.out) - 1; i >= 0; i-- {
		if b.out[i].Type == TypeConsumer {
			return &b.out[i]
		}
	}
	return b.at(TypeConsumer, 0, t)
}

func (b *timeline) move(r *Rebalance, tp TopicPartition, to string, at time.Time) {
	from := b.last[tp]
	b.owner[tp], b.last[tp] = to, to
	if from == to {
		return
	}
	// A static member restarting comes back under a new member id with
	// its instance id and keeps its partitions: the same consumer owns
	// them, nothing is processed again, so it is no move.
	if i := b.instance(from); i != "" && i == b.instance(to) {
		return
	}
	mv := PartitionMove{Topic: tp.Topic, Partition: tp.Partition, From: from, To: to, At: at, Committed: NoOffset, LogEndAt: -1, Redo: -1,
		FetchedEnd: -1, RedoFetched: -1, RedoFetchedNote: NoteKafkaFetches, FromSince: b.since[tp]}
	if from == "" {
		mv.RedoFetchedNote = NoteNoPreviousOwner
	}
	b.since[tp] = at
	mv.FromClient, mv.ToClient = b.client(from), b.client(to)
	mv.FromHost = b.host(from)
	if o, ok := b.committed[tp]; ok {
		mv.Committed = o
	}
	r.Moved = append(r.Moved, mv)
}

// instance is the instance id of member id ("" for a dynamic member).
func (b *timeline) instance(id string) string {
	if m, ok := b.members[id]; ok {
		return m.InstanceID
	}
	return b.gone[id].InstanceID
}

func (b *timeline) host(id string) string {
	if m, ok := b.members[id]; ok {
		return m.Host
	}
	return b.gone[id].Host
}

func (b *timeline) client(id string) string {
	if m, ok := b.members[id]; ok {
		return m.ClientID
	}
	return b.gone[id].ClientID
}

// generation: a classic group's members and assignments at a generation.
func (b *timeline) generation(e HistoryEntry) {
	r := b.at(TypeClassic, e.Generation, e.Time)
	r.Members = len(e.GroupMembers)
	prev := map[string]MemberRecord{}
	for _, m := range b.prevGen {
		prev[m.ID] = m
	}
	now := map[string]bool{}
	instances := map[string]string{} // instance id -> member id now
	for _, m := range e.GroupMembers {
		now[m.ID] = true
		if m.InstanceID != "" {
			instances[m.InstanceID] = m.ID
		}
	}
	for _, m := range e.GroupMembers {
		b.members[m.ID] = m
		if _, ok := prev[m.ID]; ok {
			continue
		}
		c := MemberChange{MemberRecord: m, Reason: ReasonGenerationJoined}
		for _, p := range b.prevGen {
			if p.InstanceID != "" && p.InstanceID == m.InstanceID {
				c.Reason = fmt.Sprintf(reasonStaticReplacedFrom, p.ID, p.InstanceID)
			}
		}
		r.Joined = append(r.Joined, c)
	}
	for _, p := range b.prevGen {
		if now[p.ID] {
			continue
		}
		why := ReasonGenerationLeft
		if id, ok := instances[p.InstanceID]; ok && p.InstanceID != "" && id != p.ID {
			why = ReasonStaticReplaced
		} else if len(e.GroupMembers) == 0 {
			why = ReasonGroupEmptied
		}
		r.Left = append(r.Left, MemberChange{MemberRecord: p, Reason: why})
	}
	held := map[TopicPartition]bool{}
	for _, m := range e.GroupMembers {
		for _, tp := range m.Assigned {
			held[tp] = true
			b.move(r, tp, m.ID, e.Time)
		}
	}
	for tp, o := range b.owner {
		if o != "" && !held[tp] {
			b.owner[tp] = ""
		}
	}
	b.prevGen = e.GroupMembers
}

// epoch: a consumer group's new group epoch; the member changes written
// before it are its cause.
func (b *timeline) epoch(e HistoryEntry) {
	r := b.at(TypeConsumer, e.Generation, e.Time)
	r.Joined = append(r.Joined, b.pendJoined...)
	r.Left = append(r.Left, b.pendLeft...)
	r.Changed = append(r.Changed, b.pendChanged...)
	b.pendJoined, b.pendLeft, b.pendChanged = nil, nil, nil
	r.Members = len(b.members)
}

func (b *timeline) member(e HistoryEntry) {
	m := *e.Member
	old, known := b.members[m.ID]
	b.members[m.ID] = m
	switch {
	case !known:
		c := MemberChange{MemberRecord: m, Reason: ReasonJoined}
		// A static member coming back under a new member id replaces the
		// one that left with its instance id. That bumps no epoch: the
		// replacement belongs to the current one, where it is told.
		for i, l := range b.pendLeft {
			if m.InstanceID != "" && l.InstanceID == m.InstanceID {
				c.Reason = fmt.Sprintf(reasonStaticReplacedFrom, l.ID, l.InstanceID)
				l.Reason = ReasonStaticReplaced
				r := b.current(e.Time)
				r.Joined, r.Left = append(r.Joined, c), append(r.Left, l)
				b.pendLeft = slices.Delete(b.pendLeft, i, i+1)
				return
			}
		}
		b.pendJoined = append(b.pendJoined, c)
	case !slices.Equal(old.Subscribed, m.Subscribed) || old.Regex != m.Regex:
		b.pendChanged = append(b.pendChanged, MemberChange{MemberRecord: m, Reason: ReasonNewSubscription})
	}
}

func (b *timeline) left(e HistoryEntry) {
	id := e.Member.ID
	m, ok := b.members[id]
	if !ok {
		m = MemberRecord{ID: id}
	}
	why := ReasonLeft
	if b.static[id] {
		why = ReasonStaticLeave
	}
	// The member that took its instance id over may have been written
	// first: the replacement is told in the current epoch (see member).
	replaced := false
	for i, j := range b.pendJoined {
		if m.InstanceID != "" && j.InstanceID == m.InstanceID && j.ID != id {
			why, replaced = ReasonStaticReplaced, true
			j.Reason = fmt.Sprintf(reasonStaticReplacedFrom, id, m.InstanceID)
			r := b.current(e.Time)
			r.Joined, r.Left = append(r.Joined, j), append(r.Left, MemberChange{MemberRecord: m, Reason: why})
			b.pendJoined = slices.Delete(b.pendJoined, i, i+1)
			break
		}
	}
	if !replaced {
		b.pendLeft = append(b.pendLeft, MemberChange{MemberRecord: m, Reason: why})
	}
	delete(b.members, id)
	delete(b.static, id)
	for tp, o := range b.owner {
		if o == id {
			b.owner[tp] = ""
		}
	}
	b.gone[id] = m // for the client id of the moves away from it
}

// assignment: a consumer group member's owned partitions changed; those it
// gained moved to it, at its member epoch.
func (b *timeline) assignment(e HistoryEntry) {
	id := e.Member.ID
	if e.MemberEpoch == -2 {
		b.static[id] = true
		return
	}
	r := b.current(e.Time)
	if i, ok := b.byEpoch[typeKey(TypeConsumer, e.MemberEpoch)]; ok {
		r = &b.out[i]
	}
	has := map[TopicPartition]bool{}
	for _, tp := range e.Member.Assigned {
		has[tp] = true
		if b.owner[tp] != id {
			b.move(r, tp, id, e.Time)
		}
	}
	for tp, o := range b.owner {
		if o == id && !has[tp] {
			b.owner[tp] = "" // revoked (or pending revocation): no longer assigned to it
		}
	}
}

// Rebalances reads the group's history and builds its rebalance timeline,
// with each move's log end at the time it moved (ListOffsets by
// timestamp: the first offset written after it) and so the records the
// new owner may process again.
func (c *Client) Rebalances(ctx context.Context, group string, progress Progress) ([]Rebalance, error) {
	h, err := c.History(ctx, group, nil, progress)
	if err != nil {
		return nil, err
	}
	rs := Rebalances(h)
	return rs, c.MoveBounds(ctx, rs)
}

// MoveBounds fills each move's LogEndAt and Redo: the partition's log end
// when it moved (ListOffsets by timestamp: the first offset written after
// it) and the records past the group's commit then.
func (c *Client) MoveBounds(ctx context.Context, rs []Rebalance) error {
	for i := range rs {
		for j := range rs[i].Moved {
			mv := &rs[i].Moved[j]
			if strings.HasPrefix(mv.Topic, topicIDPrefix) {
				continue // deleted since
			}
			l, err := c.adm.ListOffsetsAfterMilli(ctx, mv.At.UnixMilli()+1, mv.Topic)
			if err != nil {
				return fmt.Errorf("list offsets by time: %s", oneLine(err))
			}
			o, ok := l.Lookup(mv.Topic, mv.Partition)
			if !ok || o.Err != nil {
				continue
			}
			mv.LogEndAt = o.Offset
			if mv.Committed >= 0 {
				mv.Redo = max(0, o.Offset-mv.Committed)
			}
		}
	}
	return nil
}
