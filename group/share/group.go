package share

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config holds the broker settings of share groups, under Kafka's names.
type Config struct {
	// SessionTimeout is group.share.session.timeout.ms (45 s): a member
	// that does not heartbeat for that long leaves the group, and the
	// records it holds are released.
	SessionTimeout time.Duration
	// HeartbeatInterval is group.share.heartbeat.interval.ms (5 s).
	HeartbeatInterval time.Duration
	// MaxSize is group.share.max.size (200).
	MaxSize int
	// PerGroup, when set, gives a group its own session timeout and
	// heartbeat interval (the GROUP configs share.session.timeout.ms and
	// share.heartbeat.interval.ms), read at each heartbeat; zero keeps
	// the broker's.
	PerGroup func(group string) (session, heartbeat time.Duration)
}

// Timeouts are group's session timeout and heartbeat interval.
func (c *Coordinator) Timeouts(group string) (session, heartbeat time.Duration) {
	session, heartbeat = c.cfg.SessionTimeout, c.cfg.HeartbeatInterval
	if c.cfg.PerGroup != nil {
		s, h := c.cfg.PerGroup(group)
		if s > 0 {
			session = s
		}
		if h > 0 {
			heartbeat = h
		}
	}
	return session, heartbeat
}

func (c Config) withDefaults() Config {
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 45 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 5 * time.Second
	}
	if c.MaxSize <= 0 {
		c.MaxSize = 200
	}
	return c
}

// TopicID is a topic's UUID.
type TopicID = [16]byte

// Topics resolves subscribed topic names.
type Topics interface {
	// Lookup returns a topic's id and partition count.
	Lookup(name string) (id TopicID, partitions int32, ok bool)
}

// Client identifies the connection a heartbeat came on.
type Client struct {
	ID, Host string
}

// Member is one member of a share group.
type Member struct {
	ID         string
	RackID     *string
	Epoch      int32
	prevEpoch  int32
	Client     Client
	Subscribed []string
	// Assigned maps topic names to the partitions the member fetches;
	// several members may share a partition.
	Assigned map[string][]int32
	// pending: Assigned changed since the member was last told.
	pending  bool
	deadline time.Time
}

// AssignedTopics returns the names of the topics the member is assigned
// partitions of, sorted.
func (m *Member) AssignedTopics() []string {
	names := make([]string, 0, len(m.Assigned))
	for t := range m.Assigned {
		names = append(names, t)
	}
	sort.Strings(names)
	return names
}

// Group is one share group.
type Group struct {
	ID              string
	Epoch           int32
	AssignmentEpoch int32
	members         map[string]*Member
	// sizes is the partition count of each subscribed topic when the
	// assignment was computed: a topic that grows, appears or goes
	// bumps the epoch.
	sizes map[string]int32
}

// State is the group's state as ShareGroupDescribe and ListGroups report
// it: Empty or Stable.
func (g *Group) State() string {
	if len(g.members) == 0 {
		return "Empty"
	}
	return "Stable"
}

// Members returns the members sorted by id.
func (g *Group) Members() []*Member {
	ms := make([]*Member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	return ms
}

// Member returns the member with id, or nil.
func (g *Group) Member(id string) *Member { return g.members[id] }

// Coordinator holds the share groups and answers their heartbeats as
// Kafka 4.4's group coordinator does, with two simplifications that a
// client cannot tell from a slow Kafka: share partitions are initialized
// and the target assignment is computed within the heartbeat that needs
// them, so a joining member gets its partitions in its first response.
type Coordinator struct {
	cfg    Config
	groups map[string]*Group
}

// NewCoordinator returns an empty coordinator.
func NewCoordinator(cfg Config) *Coordinator {
	return &Coordinator{cfg: cfg.withDefaults(), groups: map[string]*Group{}}
}

// Config returns the settings with defaults applied.
func (c *Coordinator) Config() Config { return c.cfg }

// Group returns the group with id, or nil.
func (c *Coordinator) Group(id string) *Group { return c.groups[id] }

// Groups returns the group ids, sorted.
func (c *Coordinator) Groups() []string {
	ids := make([]string, 0, len(c.groups))
	for id := range c.groups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Ensure returns the group named id, creating it empty if there is none
// (AlterShareGroupOffsets of a group that has no member yet, as Kafka).
func (c *Coordinator) Ensure(id string) *Group {
	g := c.groups[id]
	if g == nil {
		g = &Group{ID: id, members: map[string]*Member{}}
		c.groups[id] = g
	}
	return g
}

// Delete removes an empty group: GROUP_ID_NOT_FOUND if there is none,
// NON_EMPTY_GROUP if it has members.
func (c *Coordinator) Delete(id string) error {
	g := c.groups[id]
	if g == nil {
		return kerr.GroupIDNotFound
	}
	if len(g.members) > 0 {
		return kerr.NonEmptyGroup
	}
	delete(c.groups, id)
	return nil
}

// Departed is a member that left or was removed, whose records are to be
// released.
type Departed struct {
	Group, Member string
}

// LeaveEpoch is the member epoch of a leaving heartbeat.
const LeaveEpoch = -1

func errResp(req *kmsg.ShareGroupHeartbeatRequest, err *kerr.Error, msg string) *kmsg.ShareGroupHeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
	resp.ErrorCode = err.Code
	if msg != "" {
		resp.ErrorMessage = &msg
	}
	return resp
}

// Heartbeat answers a ShareGroupHeartbeat. The returned departures are the
// members the heartbeat removed (a leave).
func (c *Coordinator) Heartbeat(now time.Time, client Client, req *kmsg.ShareGroupHeartbeatRequest, topics Topics) (*kmsg.ShareGroupHeartbeatResponse, []Departed) {
	switch {
	case req.GroupID == "":
		return errResp(req, kerr.InvalidRequest, "GroupId can't be empty."), nil
	case req.MemberID == "":
		// Kafka 4.4 sends no message for this one.
		return errResp(req, kerr.InvalidRequest, ""), nil
	case req.MemberEpoch < LeaveEpoch:
		return errResp(req, kerr.InvalidRequest, "MemberEpoch is invalid."), nil
	case req.MemberEpoch == 0 && len(req.SubscribedTopicNames) == 0:
		return errResp(req, kerr.InvalidRequest, "SubscribedTopicNames must be set in first request."), nil
	case req.RackID != nil && *req.RackID == "":
		return errResp(req, kerr.InvalidRequest, "RackId can't be empty."), nil
	}
	g := c.groups[req.GroupID]
	notMember := func() (*kmsg.ShareGroupHeartbeatResponse, []Departed) {
		return errResp(req, kerr.UnknownMemberID, fmt.Sprintf("Member %s is not a member of group %s.", req.MemberID, req.GroupID)), nil
	}
	var m *Member
	if g != nil {
		m = g.members[req.MemberID]
	}
	if req.MemberEpoch == LeaveEpoch {
		if g == nil {
			return errResp(req, kerr.GroupIDNotFound, fmt.Sprintf("Group %s not found.", req.GroupID)), nil
		}
		if m == nil {
			return notMember()
		}
		c.remove(g, m.ID, topics)
		resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
		resp.MemberID, resp.MemberEpoch = &m.ID, LeaveEpoch
		return resp, []Departed{{g.ID, m.ID}}
	}
	joining := req.MemberEpoch == 0
	if g == nil && !joining {
		return errResp(req, kerr.GroupIDNotFound, fmt.Sprintf("Group %s not found.", req.GroupID)), nil
	}
	if m == nil && !joining {
		return notMember()
	}
	if m != nil && !joining && req.MemberEpoch != m.Epoch && req.MemberEpoch != m.prevEpoch {
		var msg string
		if req.MemberEpoch > m.Epoch {
			msg = fmt.Sprintf("The share group member has a greater member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", req.MemberEpoch, m.Epoch)
		} else {
			msg = fmt.Sprintf("The share group member has a smaller member epoch (%d) than the one known by the group coordinator (%d), and it does not match the previous member epoch (%d). The member must abandon all its partitions and rejoin.", req.MemberEpoch, m.Epoch, m.prevEpoch)
		}
		return errResp(req, kerr.FencedMemberEpoch, msg), nil
	}
	if g == nil {
		g = &Group{ID: req.GroupID, members: map[string]*Member{}}
		c.groups[g.ID] = g
	}
	bump := false
	if m == nil {
		if len(g.members) >= c.cfg.MaxSize {
			return errResp(req, kerr.GroupMaxSizeReached, fmt.Sprintf("The share group has reached its maximum capacity of %d members.", c.cfg.MaxSize)), nil
		}
		m = &Member{ID: req.MemberID, Assigned: map[string][]int32{}}
		g.members[m.ID] = m
		bump = true
	}
	m.Client = client
	if req.RackID != nil {
		m.RackID = req.RackID
	}
	if req.SubscribedTopicNames != nil {
		subs := slices.Clone(req.SubscribedTopicNames)
		sort.Strings(subs)
		subs = slices.Compact(subs)
		if !slices.Equal(subs, m.Subscribed) {
			m.Subscribed = subs
			bump = true
		}
	}
	session, heartbeat := c.Timeouts(g.ID)
	m.deadline = now.Add(session)
	if bump || c.metadataChanged(g, topics) {
		g.Epoch++
		c.assign(g, topics)
	}
	resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
	resp.MemberID = &m.ID
	resp.HeartbeatIntervalMillis = int32(heartbeat / time.Millisecond)
	changed := joining || m.pending
	if m.Epoch != g.AssignmentEpoch {
		m.prevEpoch, m.Epoch = m.Epoch, g.AssignmentEpoch
	}
	m.pending = false
	resp.MemberEpoch = m.Epoch
	if changed {
		resp.Assignment = assignmentOf(m, topics)
	}
	return resp, nil
}

// assignmentOf is the member's assignment in the heartbeat's form.
func assignmentOf(m *Member, topics Topics) *kmsg.ShareGroupHeartbeatResponseAssignment {
	a := &kmsg.ShareGroupHeartbeatResponseAssignment{}
	for _, t := range m.AssignedTopics() {
		id, _, ok := topics.Lookup(t)
		if !ok {
			continue
		}
		tp := kmsg.NewShareGroupHeartbeatResponseAssignmentTopicPartition()
		tp.TopicID, tp.Partitions = id, slices.Clone(m.Assigned[t])
		a.TopicPartitions = append(a.TopicPartitions, tp)
	}
	return a
}

// metadataChanged reports whether a subscribed topic appeared, went or
// changed its partition count since the last assignment.
func (c *Coordinator) metadataChanged(g *Group, topics Topics) bool {
	for _, m := range g.members {
		for _, t := range m.Subscribed {
			_, n, ok := topics.Lookup(t)
			if !ok {
				n = 0
			}
			was, had := g.sizes[t]
			if !had {
				was = 0
			}
			if n != was {
				return true
			}
		}
	}
	return false
}

// remove takes a member out of g and recomputes the assignment.
func (c *Coordinator) remove(g *Group, id string, topics Topics) {
	delete(g.members, id)
	g.Epoch++
	c.assign(g, topics)
}

// assign computes the target assignment at the group's epoch with Kafka's
// simple assignor's rule: per topic, among the members subscribed to it,
// each partition goes to one member while there are at least as many
// partitions as members; with more members, each partition goes to
// ceil(members / partitions) of them, so that every member has one.
// Members whose assignment changed take the new epoch at their next
// heartbeat and are sent the assignment.
func (c *Coordinator) assign(g *Group, topics Topics) {
	g.AssignmentEpoch = g.Epoch
	g.sizes = map[string]int32{}
	subs := map[string][]string{}
	for _, m := range g.Members() {
		for _, t := range m.Subscribed {
			subs[t] = append(subs[t], m.ID)
		}
	}
	target := map[string]map[string][]int32{}
	for t, ms := range subs {
		_, n, ok := topics.Lookup(t)
		if !ok || n <= 0 {
			continue
		}
		g.sizes[t] = n
		per := 1
		if len(ms) > int(n) {
			per = (len(ms) + int(n) - 1) / int(n)
		}
		for k := 0; k < int(n)*per; k++ {
			mid, p := ms[k%len(ms)], int32(k%int(n))
			if target[mid] == nil {
				target[mid] = map[string][]int32{}
			}
			if !slices.Contains(target[mid][t], p) {
				target[mid][t] = append(target[mid][t], p)
			}
		}
	}
	for _, m := range g.members {
		next := target[m.ID]
		if next == nil {
			next = map[string][]int32{}
		}
		for _, ps := range next {
			slices.Sort(ps)
		}
		if !sameAssignment(m.Assigned, next) {
			m.Assigned = next
			m.pending = true
		}
	}
}

func sameAssignment(a, b map[string][]int32) bool {
	if len(a) != len(b) {
		return false
	}
	for t, ps := range a {
		if !slices.Equal(ps, b[t]) {
			return false
		}
	}
	return true
}

// Expire removes the members whose session timed out by now and returns
// them.
func (c *Coordinator) Expire(now time.Time, topics Topics) []Departed {
	var out []Departed
	for _, id := range c.Groups() {
		g := c.groups[id]
		for _, m := range g.Members() {
			if !m.deadline.After(now) {
				c.remove(g, m.ID, topics)
				out = append(out, Departed{g.ID, m.ID})
			}
		}
	}
	return out
}

// NextDeadline is the earliest session to time out (zero if no member).
func (c *Coordinator) NextDeadline() time.Time {
	var d time.Time
	for _, g := range c.groups {
		for _, m := range g.members {
			if d.IsZero() || m.deadline.Before(d) {
				d = m.deadline
			}
		}
	}
	return d
}

// Assigned reports whether member of group is assigned topic's partition.
func (c *Coordinator) Assigned(group, member, topic string, partition int32) bool {
	g := c.groups[group]
	if g == nil {
		return false
	}
	m := g.members[member]
	return m != nil && slices.Contains(m.Assigned[topic], partition)
}
