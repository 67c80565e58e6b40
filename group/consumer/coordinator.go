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
	resp, recs, err := c.heartbeat(now, client, req, topics)
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

func (c *Coordinator) heartbeat(now time.Time, client Client, req *kmsg.ConsumerGroupHeartbeatRequest, topics Topics) (*kmsg.ConsumerGroupHeartbeatResponse, []Record, error) {
	if err := c.cfg.Validate(req); err != nil {
		return nil, nil, err
	}
	g := c.groups[req.Group]
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
	return resp, recs, err
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
