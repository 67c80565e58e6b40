package consumer

import (
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/rewindhq/rewind/group/assign"
)

// MemberState is a member's reconciliation state, with Kafka's values
// (MemberState, stored in ConsumerGroupCurrentMemberAssignmentValue.State).
type MemberState int8

const (
	// Stable: the member owns its whole assignment at its epoch.
	Stable MemberState = 0
	// UnrevokedPartitions: the member must revoke partitions (acknowledged
	// by leaving them out of a heartbeat) before it gets new ones.
	UnrevokedPartitions MemberState = 1
	// UnreleasedPartitions: partitions of its target are still owned by
	// other members that have not revoked them yet.
	UnreleasedPartitions MemberState = 2
	// Unknown is a state written by a newer coordinator.
	Unknown MemberState = 127
)

func (s MemberState) String() string {
	switch s {
	case Stable:
		return "stable"
	case UnrevokedPartitions:
		return "unrevoked_partitions"
	case UnreleasedPartitions:
		return "unreleased_partitions"
	}
	return "unknown"
}

// Special member epochs of ConsumerGroupHeartbeat.
const (
	LeaveEpoch       = -1 // a member leaves the group
	StaticLeaveEpoch = -2 // a static member leaves, temporarily: its instance id stays reserved
)

// Epochs maps partitions to the epoch at which each was assigned to the
// member (ConsumerGroupCurrentMemberAssignmentValue's AssignmentEpochs):
// topic → partition → epoch.
type Epochs map[assign.TopicID]map[int32]int32

func (e Epochs) clone() Epochs {
	out := make(Epochs, len(e))
	for t, ps := range e {
		out[t] = maps.Clone(ps)
	}
	return out
}

// partitions returns the partitions of e, sorted.
func (e Epochs) partitions() assign.Partitions {
	out := make(assign.Partitions, len(e))
	for t, ps := range e {
		if len(ps) == 0 {
			continue
		}
		out[t] = slices.Sorted(maps.Keys(ps))
	}
	return out
}

func (e Epochs) has(t assign.TopicID, p int32) bool {
	_, ok := e[t][p]
	return ok
}

func (e Epochs) add(t assign.TopicID, p, epoch int32) {
	if e[t] == nil {
		e[t] = map[int32]int32{}
	}
	e[t][p] = epoch
}

func (e Epochs) count() int {
	n := 0
	for _, ps := range e {
		n += len(ps)
	}
	return n
}

// Member is a consumer-protocol group member as the coordinator knows it.
type Member struct {
	ID         string
	InstanceID string // "" for a dynamic member
	RackID     string
	ClientID   string
	ClientHost string
	// SubscribedTopicNames and SubscribedTopicRegex are the subscription
	// as the member sent it ("" for no regex).
	SubscribedTopicNames []string
	SubscribedTopicRegex string
	ServerAssignor       string // "" for the group's default
	RebalanceTimeout     time.Duration

	Epoch, PreviousEpoch int32
	State                MemberState
	// Assigned are the partitions the member owns or is being given;
	// PendingRevocation those it must give up first.
	Assigned, PendingRevocation Epochs

	// Classic is set for a member on the classic protocol (JoinGroup,
	// SyncGroup, Heartbeat; classic.go), nil for a consumer-protocol one.
	Classic *ClassicMetadata

	sessionDeadline   time.Time
	rebalanceDeadline time.Time // zero unless State is UnrevokedPartitions
	rebalanceEpoch    int32     // the epoch the rebalance timeout was set at
	// A classic member told to rejoin must join by joinDeadline; one that
	// joined must sync by syncDeadline (zero: no such timer).
	joinDeadline, syncDeadline time.Time
}

func (m *Member) clone() *Member {
	c := *m
	c.SubscribedTopicNames = slices.Clone(m.SubscribedTopicNames)
	c.Assigned = m.Assigned.clone()
	c.PendingRevocation = m.PendingRevocation.clone()
	return &c
}

// reconciledTo reports whether the member owns the target of epoch e.
func (m *Member) reconciledTo(e int32) bool { return m.State == Stable && m.Epoch == e }

// State is a consumer group's state as ListGroups and
// ConsumerGroupDescribe name it.
type State string

const (
	StateEmpty       State = "Empty"
	StateAssigning   State = "Assigning"
	StateReconciling State = "Reconciling"
	StateStable      State = "Stable"
	StateDead        State = "Dead"
)

// Group is one consumer-protocol group: its epochs, members, target
// assignment and timers. Not safe for concurrent use: the coordinator
// drives each group from one goroutine (or under one lock).
type Group struct {
	ID              string
	Epoch           int32 // the group epoch: bumped by every membership or subscription change
	AssignmentEpoch int32 // the epoch of the current target assignment
	// MetadataHash identifies the partition counts of the subscribed
	// topics the target was computed for (ConsumerGroupMetadataValue's
	// MetadataHash); a change bumps the epoch.
	MetadataHash int64
	// AssignmentTime is when the current target was computed (zero before
	// the first): the next one waits for cfg.AssignmentInterval after it.
	AssignmentTime time.Time

	cfg Config
	// topicsVersion is the Topics.Version the subscriptions were last
	// resolved at (a heartbeat that changes nothing skips resolving).
	topicsVersion int64
	members       map[string]*Member
	static        map[string]string // instance id → member id
	target        map[string]assign.Partitions
	owners        map[tp]string // partition → the member that has it in Assigned or PendingRevocation
	regexes       map[string]resolvedRegex
}

type tp struct {
	topic assign.TopicID
	part  int32
}

type resolvedRegex struct {
	topics  []string
	version int64 // Topics.Version it was resolved at
}

// conf is the group's configuration: the broker's, with the group's own
// timeouts and intervals (Config.PerGroup).
func (g *Group) conf() Config {
	if g.cfg.PerGroup == nil {
		return g.cfg
	}
	c := g.cfg.PerGroup(g.ID, g.cfg)
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = g.cfg.SessionTimeout
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = g.cfg.HeartbeatInterval
	}
	if c.AssignmentInterval == 0 {
		c.AssignmentInterval = g.cfg.AssignmentInterval
	}
	return c
}

// NewGroup returns an empty group.
func NewGroup(id string, cfg Config) *Group {
	// Kafka starts a group at epoch 1 (ModernGroup), so its first member
	// joins at epoch 2 and 0 is never a group epoch.
	return &Group{ID: id, Epoch: 1, cfg: cfg.withDefaults(), members: map[string]*Member{}, static: map[string]string{},
		target: map[string]assign.Partitions{}, owners: map[tp]string{}, regexes: map[string]resolvedRegex{}}
}

// Member returns a copy of the member, or nil.
func (g *Group) Member(id string) *Member {
	if m := g.members[id]; m != nil {
		return m.clone()
	}
	return nil
}

// MemberIDs returns the member ids, sorted.
func (g *Group) MemberIDs() []string { return slices.Sorted(maps.Keys(g.members)) }

// Target returns a member's partitions in the target assignment.
func (g *Group) Target(id string) assign.Partitions { return g.target[id] }

// State is the group state, as Kafka's ConsumerGroup computes it.
func (g *Group) State() State {
	switch {
	case len(g.members) == 0:
		return StateEmpty
	case g.Epoch > g.AssignmentEpoch:
		return StateAssigning
	}
	for _, m := range g.members {
		if !m.reconciledTo(g.AssignmentEpoch) {
			return StateReconciling
		}
	}
	return StateStable
}

// owner returns who holds partition p of t (Assigned or revoking), or "".
func (g *Group) owner(t assign.TopicID, p int32) string { return g.owners[tp{t, p}] }

// setAssignment replaces m's assigned and revoking partitions, keeping
// the owners index in step.
func (g *Group) setAssignment(m *Member, assigned, pending Epochs) {
	for _, e := range []Epochs{m.Assigned, m.PendingRevocation} {
		for t, ps := range e {
			for p := range ps {
				if g.owners[tp{t, p}] == m.ID {
					delete(g.owners, tp{t, p})
				}
			}
		}
	}
	m.Assigned, m.PendingRevocation = assigned, pending
	for _, e := range []Epochs{assigned, pending} {
		for t, ps := range e {
			for p := range ps {
				g.owners[tp{t, p}] = m.ID
			}
		}
	}
}

// NextDeadline is the earliest session or rebalance deadline of a member,
// zero when there is none: when the owner must call Tick.
func (g *Group) NextDeadline() time.Time {
	var next time.Time
	for _, m := range g.members {
		for _, d := range []time.Time{m.sessionDeadline, m.rebalanceDeadline, m.joinDeadline, m.syncDeadline} {
			if !d.IsZero() && (next.IsZero() || d.Before(next)) {
				next = d
			}
		}
	}
	return next
}

// FenceReason says why Tick removed a member.
type FenceReason string

const (
	SessionExpired   FenceReason = "session timeout"
	RebalanceExpired FenceReason = "rebalance timeout"
)

// Fenced is a member that Tick removed.
type Fenced struct {
	Member string
	Reason FenceReason
}

// Tick fences every member whose session timeout passed (it stopped
// heartbeating) or whose rebalance timeout passed (it did not revoke its
// partitions in time), in member id order, as Kafka's timers do; it
// returns them and the records to write.
func (g *Group) Tick(now time.Time) ([]Fenced, []Record) {
	var fenced []Fenced
	var recs []Record
	for _, id := range g.MemberIDs() {
		m := g.members[id]
		switch {
		case !m.sessionDeadline.IsZero() && !now.Before(m.sessionDeadline):
			fenced = append(fenced, Fenced{id, SessionExpired})
		case !m.rebalanceDeadline.IsZero() && !now.Before(m.rebalanceDeadline) && m.Epoch == m.rebalanceEpoch:
			fenced = append(fenced, Fenced{id, RebalanceExpired})
		case !m.joinDeadline.IsZero() && !now.Before(m.joinDeadline):
			fenced = append(fenced, Fenced{id, JoinTimeout})
		case !m.syncDeadline.IsZero() && !now.Before(m.syncDeadline):
			fenced = append(fenced, Fenced{id, SyncTimeout})
		default:
			if !m.rebalanceDeadline.IsZero() && !now.Before(m.rebalanceDeadline) {
				// Set at an epoch the member has moved on from: done with.
				m.rebalanceDeadline = time.Time{}
			}
			continue
		}
		recs = append(recs, g.fence(m)...)
	}
	return fenced, recs
}

// fence removes m from the group, frees its partitions and bumps the group
// epoch (Kafka's consumerGroupFenceMember).
func (g *Group) fence(m *Member) []Record {
	g.setAssignment(m, nil, nil)
	delete(g.members, m.ID)
	if m.InstanceID != "" && g.static[m.InstanceID] == m.ID {
		delete(g.static, m.InstanceID)
	}
	delete(g.target, m.ID)
	recs := memberTombstones(g.ID, m.ID)
	g.Epoch++
	recs = append(recs, epochRecord(g))
	return recs
}

// subscribedTopics resolves the group's subscriptions to topic ids and
// partition counts: every member's subscribed names and regex matches
// that exist.
func (g *Group) subscribedTopics(topics Topics) map[string]assign.TopicID {
	out := map[string]assign.TopicID{}
	for _, m := range g.members {
		for _, name := range g.memberTopicNames(m) {
			if id, _, ok := topics.Lookup(name); ok {
				out[name] = id
			}
		}
	}
	return out
}

// memberTopicNames are the topic names m subscribes to: its names and the
// topics its regex resolved to.
func (g *Group) memberTopicNames(m *Member) []string {
	names := slices.Clone(m.SubscribedTopicNames)
	if m.SubscribedTopicRegex != "" {
		names = append(names, g.regexes[m.SubscribedTopicRegex].topics...)
	}
	sort.Strings(names)
	return slices.Compact(names)
}

// metadataHash hashes the subscribed topics' names, ids and partition
// counts (FNV-1a; Kafka hashes with xxhash and racks, but only equality
// matters: the hash is compared with the group's own previous one).
func metadataHash(sub map[string]assign.TopicID, topics Topics) int64 {
	h := uint64(14695981039346656037)
	mix := func(b byte) { h ^= uint64(b); h *= 1099511628211 }
	for _, name := range slices.Sorted(maps.Keys(sub)) {
		for i := 0; i < len(name); i++ {
			mix(name[i])
		}
		mix(0)
		id := sub[name]
		for _, b := range id {
			mix(b)
		}
		_, n, _ := topics.Lookup(name)
		for i := 0; i < 4; i++ {
			mix(byte(n >> (8 * i)))
		}
	}
	if len(sub) == 0 {
		return 0
	}
	return int64(h)
}

// SubscribedTo tells whether a member subscribes to topic, by name or
// through its regex (Kafka's ModernGroup.isSubscribedToTopic): the
// group's offsets of such a topic do not expire.
func (g *Group) SubscribedTo(topic string) bool {
	for _, m := range g.members {
		if slices.Contains(m.SubscribedTopicNames, topic) {
			return true
		}
		if m.SubscribedTopicRegex != "" && slices.Contains(g.regexes[m.SubscribedTopicRegex].topics, topic) {
			return true
		}
	}
	return false
}

// Assignor is the name of the assignor the group uses now.
func (g *Group) Assignor() string { return g.preferredAssignor() }

// OwnedPartitions are the member's assigned partitions and those it is
// still revoking, sorted.
func (m *Member) OwnedPartitions() assign.Partitions {
	all := m.Assigned.clone()
	for t, ps := range m.PendingRevocation {
		for p, e := range ps {
			all.add(t, p, e)
		}
	}
	return all.partitions()
}
