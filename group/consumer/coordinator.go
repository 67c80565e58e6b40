package consumer

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Coordinator holds the consumer-protocol groups of a broker and routes
// heartbeats to them. Like Group it is pure and not safe for concurrent
// use: time comes in as arguments and results go out as responses and
// records, so the broker decides where to lock, append and wait.
type Coordinator struct {
	cfg    Config
	groups map[string]*Group
}

// NewCoordinator returns a coordinator with no groups.
func NewCoordinator(cfg Config) *Coordinator {
	return &Coordinator{cfg: cfg.withDefaults(), groups: map[string]*Group{}}
}

// Config is the coordinator's configuration, defaults applied.
func (c *Coordinator) Config() Config { return c.cfg }

// NewMemberID makes a member id (Config.NewMemberID).
func (c *Coordinator) NewMemberID() string { return c.cfg.NewMemberID() }

// Group returns a group, or nil.
func (c *Coordinator) Group(id string) *Group { return c.groups[id] }

// GroupIDs returns the ids of the groups, sorted.
func (c *Coordinator) GroupIDs() []string { return slices.Sorted(maps.Keys(c.groups)) }

// Heartbeat answers a ConsumerGroupHeartbeat (any version): the request
// is validated, its group found (created by a join), then joined, kept or
// left. The response carries the error code and message of a refusal;
// the records are those to append to __consumer_offsets, in order,
// before the response is sent.
func (c *Coordinator) Heartbeat(now time.Time, client Client, req *kmsg.ConsumerGroupHeartbeatRequest, topics Topics) (*kmsg.ConsumerGroupHeartbeatResponse, []Record) {
	return c.HeartbeatFrom(now, client, req, topics, nil)
}

// HeartbeatFrom is Heartbeat to a group id that the classic coordinator
// holds with members (from; nil if it does not): a join converts it to a
// consumer group if the migration policy allows (migrate.go), its records
// first; anything else is GROUP_ID_NOT_FOUND, as Kafka answers.
func (c *Coordinator) HeartbeatFrom(now time.Time, client Client, req *kmsg.ConsumerGroupHeartbeatRequest, topics Topics, from *ClassicGroup) (*kmsg.ConsumerGroupHeartbeatResponse, []Record) {
	resp, recs, err := c.heartbeat(now, client, req, topics, from)
	if err != nil {
		resp = kmsg.NewPtrConsumerGroupHeartbeatResponse()
		resp.Version = req.Version
		e, ok := err.(*Error)
		if !ok {
			e = &Error{kerr.UnknownServerError, err.Error()}
		}
		resp.ErrorCode, resp.ErrorMessage = e.Err.Code, kmsg.StringPtr(e.Message)
		return resp, nil
	}
	return resp, recs
}

func (c *Coordinator) heartbeat(now time.Time, client Client, req *kmsg.ConsumerGroupHeartbeatRequest, topics Topics, from *ClassicGroup) (*kmsg.ConsumerGroupHeartbeatResponse, []Record, error) {
	if err := c.cfg.Validate(req); err != nil {
		return nil, nil, err
	}
	g := c.groups[req.Group]
	var pre []Record
	if g == nil && from != nil && len(from.Members) > 0 {
		if req.MemberEpoch != 0 {
			return nil, nil, &Error{kerr.GroupIDNotFound, fmt.Sprintf("Group %s is not a consumer group", req.Group)}
		}
		var err error
		if g, pre, err = c.upgradeFrom(now, from, topics); err != nil {
			return nil, nil, err
		}
	}
	if g == nil {
		if req.MemberEpoch != 0 {
			return nil, nil, &Error{kerr.GroupIDNotFound, fmt.Sprintf("Consumer group %s not found.", req.Group)}
		}
		g = NewGroup(req.Group, c.cfg)
	}
	var resp *kmsg.ConsumerGroupHeartbeatResponse
	var recs []Record
	var err error
	if req.MemberEpoch == LeaveEpoch || req.MemberEpoch == StaticLeaveEpoch {
		resp, recs, err = g.Leave(now, req)
	} else {
		resp, recs, err = g.Heartbeat(now, client, req, topics)
	}
	if err == nil && c.groups[req.Group] == nil {
		c.groups[req.Group] = g // its first member's join wrote its epoch
	}
	return resp, append(pre, recs...), err
}

// NextDeadline is the earliest timer of any group (zero for none).
func (c *Coordinator) NextDeadline() time.Time {
	var next time.Time
	for _, g := range c.groups {
		if d := g.NextDeadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	return next
}

// Tick fires the timers that are due in every group, in group id order.
func (c *Coordinator) Tick(now time.Time) (map[string][]Fenced, []Record) {
	fenced := map[string][]Fenced{}
	var recs []Record
	for _, id := range c.GroupIDs() {
		f, r := c.groups[id].Tick(now)
		if len(f) > 0 {
			fenced[id] = f
			recs = append(recs, r...)
		}
	}
	return fenced, recs
}

// errorOf is err as a Kafka error and message.
func errorOf(err error) *Error {
	e, ok := err.(*Error)
	if !ok {
		e = &Error{kerr.UnknownServerError, err.Error()}
	}
	return e
}

// ClassicJoin answers a classic member's JoinGroup to group id, which must
// exist with members (Group.ClassicJoin; newID is the id for a member
// joining without one).
func (c *Coordinator) ClassicJoin(now time.Time, client Client, req *kmsg.JoinGroupRequest, topics Topics, newID string) (*kmsg.JoinGroupResponse, []Record) {
	resp, recs, err := c.groups[req.Group].ClassicJoin(now, client, req, topics, newID)
	if err != nil {
		resp = kmsg.NewPtrJoinGroupResponse()
		resp.Version = req.Version
		resp.ErrorCode, resp.MemberID, resp.Generation = errorOf(err).Err.Code, req.MemberID, -1
		recs = nil
	}
	if req.Version < 7 && resp.Protocol == nil {
		resp.Protocol = kmsg.StringPtr("")
	}
	if req.Version < 7 {
		resp.ProtocolType = nil
	}
	return resp, recs
}

// ClassicSync answers a classic member's SyncGroup to group id.
func (c *Coordinator) ClassicSync(now time.Time, req *kmsg.SyncGroupRequest, topics Topics) *kmsg.SyncGroupResponse {
	resp, err := c.groups[req.Group].ClassicSync(now, req, topics)
	if err != nil {
		resp = kmsg.NewPtrSyncGroupResponse()
		resp.Version = req.Version
		resp.ErrorCode = errorOf(err).Err.Code
		resp.MemberAssignment = []byte{}
	}
	if req.Version < 5 {
		resp.ProtocolType, resp.Protocol = nil, nil
	}
	return resp
}

// ClassicHeartbeat answers a classic member's Heartbeat to group id.
func (c *Coordinator) ClassicHeartbeat(now time.Time, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := kmsg.NewPtrHeartbeatResponse()
	resp.Version = req.Version
	if err := c.groups[req.Group].ClassicHeartbeat(now, req); err != nil {
		resp.ErrorCode = errorOf(err).Err.Code
	}
	return resp
}

// ClassicLeave answers a LeaveGroup to group id.
func (c *Coordinator) ClassicLeave(req *kmsg.LeaveGroupRequest) (*kmsg.LeaveGroupResponse, []Record) {
	return c.groups[req.Group].ClassicLeave(req)
}
