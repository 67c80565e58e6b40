package broker

import (
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/group"
	"github.com/rewindhq/rewind/group/consumer"
	"github.com/rewindhq/rewind/offsetsfmt"
)

// Routing between the classic and the consumer-protocol coordinator, and
// the online migration between them (group.consumer.migration.policy;
// group/consumer's migrate.go has the rules).
//
// A group id belongs to one coordinator at a time. JoinGroup, SyncGroup,
// Heartbeat and LeaveGroup go to the consumer-protocol group of that id
// if it has members (its classic members; group/consumer's classic.go),
// to the classic coordinator otherwise; an empty consumer group a classic
// member joins is deleted first, as Kafka replaces it with a classic one.
// A ConsumerGroupHeartbeat to a classic group with members converts it
// (upgrade); the last consumer-protocol member leaving a group whose
// other members are classic converts it back (downgrade), from the
// heartbeat or from the timer that fences it.
//
// A conversion writes, in one batch, the tombstones of the group it ends
// and the records of the group it makes, and only then changes the other
// coordinator in memory. cg.migrate keeps the routing still meanwhile:
// the classic requests hold it shared while they are routed and started
// (the waiting is outside), and everything that may convert a group (the
// ConsumerGroupHeartbeat, the timer) holds it exclusively. Lock order:
// migrate, then either cg.mu or the classic coordinator's locks, never
// both at once (the classic coordinator asks cg.mu under its own).

// clientOf is who sent r, as the consumer groups record it.
func clientOf(r *request) consumer.Client {
	host := r.c.nc.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return consumer.Client{ID: r.clientID, Host: "/" + host}
}

// classicTarget returns the consumer group of id if it should serve a
// classic request (mu held): it exists and has members. An existing
// empty consumer group is deleted when del is set (a JoinGroup), so that
// the classic coordinator takes the id.
func (cg *consumerGroups) classicTarget(id string, now time.Time, del bool) *consumer.Group {
	c := cg.coordinator()
	g := c.Group(id)
	if g == nil {
		return nil
	}
	cg.tickLocked(id, now)
	if g = c.Group(id); g == nil {
		return nil
	}
	if g.State() != consumer.StateEmpty {
		return g
	}
	if del {
		if _, err := cg.change(id, func() ([]consumer.Record, bool) {
			recs, ok := c.DeleteRecords(id)
			return recs, !ok
		}); err != nil {
			cg.b.log.Warn("empty consumer group not deleted for a classic member", "group", id, "err", err)
		}
	}
	return nil
}

func handleJoinGroup(r *request) (reply, error) {
	b, req, ctx := r.c.b, r.kreq.(*kmsg.JoinGroupRequest), r.groupCtx()
	cg := &b.cgroups
	cg.migrate.RLock()
	defer cg.migrate.RUnlock()
	cg.mu.Lock()
	at := time.Now()
	if g := cg.classicTarget(req.Group, at, true); g != nil {
		if cg.unavailable(cg.partition(req.Group)) {
			cg.mu.Unlock()
			resp := kmsg.NewPtrJoinGroupResponse()
			resp.Version, resp.ErrorCode, resp.MemberID, resp.Generation = req.Version, kerr.NotCoordinator.Code, req.MemberID, -1
			return now(resp)
		}
		c := cg.coordinator()
		topics := newConsumerTopics(b.reg.list())
		var resp *kmsg.JoinGroupResponse
		pend, err := cg.change(req.Group, func() ([]consumer.Record, bool) {
			var recs []consumer.Record
			resp, recs = c.ClassicJoin(at, clientOf(r), req, topics, c.NewMemberID())
			return recs, resp.ErrorCode != 0
		})
		cg.mu.Unlock()
		fail := func(err error) *kmsg.JoinGroupResponse {
			e := kmsg.NewPtrJoinGroupResponse()
			e.Version, e.ErrorCode, e.MemberID, e.Generation = req.Version, offsetsfmt.AppendError(err).Code, req.MemberID, -1
			return e
		}
		if err != nil {
			return now(fail(err))
		}
		return reply{later: func() (kmsg.Response, error) {
			if err := cg.wait(r.c.ctx, req.Group, pend); err != nil {
				return fail(err), nil
			}
			return resp, nil
		}}, nil
	}
	cg.mu.Unlock()
	wait := b.grp.StartJoinGroup(ctx, req)
	return reply{later: func() (kmsg.Response, error) { return wait(), nil }}, nil
}

func handleSyncGroup(r *request) (reply, error) {
	b, req, ctx := r.c.b, r.kreq.(*kmsg.SyncGroupRequest), r.groupCtx()
	cg := &b.cgroups
	cg.migrate.RLock()
	defer cg.migrate.RUnlock()
	cg.mu.Lock()
	at := time.Now()
	if g := cg.classicTarget(req.Group, at, false); g != nil {
		resp := cg.coordinator().ClassicSync(at, req, newConsumerTopics(b.reg.list()))
		cg.rearm(req.Group)
		// Answered once what was written before it is durable: the
		// assignment it tells may come from a write not yet synced.
		pend, err := cg.append(req.Group, nil)
		cg.mu.Unlock()
		if err != nil || resp.ErrorCode != 0 {
			return now(resp)
		}
		return reply{later: func() (kmsg.Response, error) {
			if err := cg.wait(r.c.ctx, req.Group, pend); err != nil {
				resp.ErrorCode, resp.MemberAssignment = offsetsfmt.AppendError(err).Code, []byte{}
			}
			return resp, nil
		}}, nil
	}
	cg.mu.Unlock()
	wait := b.grp.StartSyncGroup(ctx, req)
	return reply{later: func() (kmsg.Response, error) { return wait(), nil }}, nil
}

func handleHeartbeat(r *request) (reply, error) {
	b, req := r.c.b, r.kreq.(*kmsg.HeartbeatRequest)
	cg := &b.cgroups
	cg.migrate.RLock()
	defer cg.migrate.RUnlock()
	cg.mu.Lock()
	at := time.Now()
	if g := cg.classicTarget(req.Group, at, false); g != nil {
		resp := cg.coordinator().ClassicHeartbeat(at, req)
		cg.rearm(req.Group)
		cg.mu.Unlock()
		return now(resp)
	}
	cg.mu.Unlock()
	return now(b.grp.Heartbeat(r.groupCtx(), req))
}

// leaveConsumerGroup answers a LeaveGroup to a consumer group with
// members (ok false: the classic coordinator answers it).
func leaveConsumerGroup(r *request, req *kmsg.LeaveGroupRequest) (reply, bool) {
	cg := &r.c.b.cgroups
	cg.migrate.RLock()
	defer cg.migrate.RUnlock()
	cg.mu.Lock()
	if cg.classicTarget(req.Group, time.Now(), false) == nil {
		cg.mu.Unlock()
		return reply{}, false
	}
	var resp *kmsg.LeaveGroupResponse
	pend, err := cg.change(req.Group, func() ([]consumer.Record, bool) {
		var recs []consumer.Record
		resp, recs = cg.coordinator().ClassicLeave(req)
		return recs, len(recs) == 0
	})
	cg.mu.Unlock()
	fail := func(err error) *kmsg.LeaveGroupResponse {
		e := kmsg.NewPtrLeaveGroupResponse()
		e.Version, e.ErrorCode = req.Version, offsetsfmt.AppendError(err).Code
		return e
	}
	if err != nil {
		return reply{resp: fail(err)}, true
	}
	return reply{later: func() (kmsg.Response, error) {
		if err := cg.wait(r.c.ctx, req.Group, pend); err != nil {
			return fail(err), nil
		}
		return resp, nil
	}}, true
}

// upgradeSource is the classic group a ConsumerGroupHeartbeat to id may
// convert: the classic group with members, if there is no consumer group
// of that id (migrate held exclusively, mu not held).
func (cg *consumerGroups) upgradeSource(id string) *consumer.ClassicGroup {
	cg.mu.Lock()
	exists := cg.coordinator().Group(id) != nil
	cg.mu.Unlock()
	if exists {
		return nil
	}
	from, _ := cg.b.grp.ClassicMembers(id)
	return from
}

// downgradeLocked converts group id back to a classic group if it should
// be one once the members leaving are gone (consumer.Coordinator.
// Downgrade), writing the consumer group's tombstones and the classic
// group's metadata in one batch (mu held). The caller installs the
// returned group in the classic coordinator once mu is released.
func (cg *consumerGroups) downgradeLocked(id string, leaving []string, topics consumer.Topics) (*consumer.ClassicGroup, group.Pending) {
	var to *consumer.ClassicGroup
	pend, err := cg.change(id, func() ([]consumer.Record, bool) {
		g, recs, ok := cg.c.Downgrade(id, leaving, 0, topics)
		if !ok {
			return nil, true
		}
		to = g
		meta := group.MetadataRecord(g, time.Now())
		return append(recs, consumer.Record{Key: meta.Key, Value: meta.Value}), false
	})
	if err != nil || to == nil {
		return nil, nil
	}
	cg.b.log.Info("consumer group downgraded to the classic protocol: its last consumer-protocol member left", "group", id,
		"left", leaving, "generation", to.Generation, "members", len(to.Members))
	return to, pend
}
