package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/group/share"
)

// ShareGroupHeartbeat: v1 (KIP-932; v0 was Kafka 4.0's early access,
// which Kafka 4.1 removed). Served by package group/share, which answers
// as Kafka 4.4's coordinator (share_groups.go): member epochs, the simple
// assignor, leaves and session timeouts. A group id names one group of
// one type: a heartbeat for a classic or consumer group's id is
// GROUP_ID_NOT_FOUND, as Kafka answers.
//
// The assignment is computed within the heartbeat, where Kafka first
// initializes the group's share partitions and answers the first
// heartbeats with an empty assignment meanwhile. A share partition starts
// when it is first fetched, at the log's end
// (share.auto.offset.reset=latest), as in Kafka.

func init() { regKey(76, 1, 1, handleShareGroupHeartbeat) }

func handleShareGroupHeartbeat(r *request) (reply, error) {
	req := r.kreq.(*kmsg.ShareGroupHeartbeatRequest)
	b := r.c.b
	if req.GroupID != "" && b.otherGroupType(req.GroupID) {
		resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		resp.ErrorMessage = kmsg.StringPtr("Group " + req.GroupID + " is not a share group.")
		return now(resp)
	}
	topics := newShareTopics(b)
	s := &b.shares
	s.mu.Lock()
	defer s.mu.Unlock()
	at := time.Now()
	s.tickLocked(at)
	resp, gone := s.c.Heartbeat(at, share.Client{ID: r.clientID, Host: r.c.groupHost}, req, topics)
	s.departLocked(gone)
	if resp.ErrorCode == 0 && resp.MemberEpoch > 0 {
		session, _ := s.c.Timeouts(req.GroupID)
		s.dueLocked(at, at.Add(session))
	}
	return now(resp)
}

// otherGroupType tells whether id is a classic or consumer group's.
func (b *Broker) otherGroupType(id string) bool {
	if b.grp.Exists(id) {
		return true
	}
	cg := &b.cgroups
	cg.mu.Lock()
	defer cg.mu.Unlock()
	return cg.c != nil && cg.c.Group(id) != nil
}

// isShareGroup tells whether id is a share group's.
func (b *Broker) isShareGroup(id string) bool {
	s := &b.shares
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c != nil && s.c.Group(id) != nil
}
