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

// routeClassic routes a classic-protocol request (JoinGroup, SyncGroup,
// Heartbeat, LeaveGroup) for group id, holding migrate shared until it
// is routed and started: to the consumer group of that id if it serves
// one (classicTarget; del deletes an empty one, for a JoinGroup), where
// served answers it with mu held; otherwise, mu released, to classic
// (the classic coordinator).
func (cg *consumerGroups) routeClassic(id string, del bool, served func(at time.Time) reply, classic func() reply) reply {
	cg.migrate.RLock()
	defer cg.migrate.RUnlock()
	cg.mu.Lock()
	at := time.Now()
	if cg.classicTarget(id, at, del) == nil {
		cg.mu.Unlock()
		return classic()
	}
	defer cg.mu.Unlock()
	return served(at)
}

// afterAppend is the reply to a request a consumer group served: resp,
// sent once pend is durable (waited for outside mu, off the read loop),
// or fail's answer to the append's error (err) or to the wait's.
func (cg *consumerGroups) afterAppend(r *request, id string, resp kmsg.Response, pend group.Pending, err error, fail func(error) kmsg.Response) reply {
	if err != nil {
		return reply{resp: fail(err)}
	}
	return reply{later: func() (kmsg.Response, error) {
		if err := cg.wait(r.c.ctx, id, pend); err != nil {
			return fail(err), nil
		}
		return resp, nil
	}}
}

// classicLater answers a request the classic coordinator started, once
// it is done.
func classicLater[R kmsg.Response](wait func() R) reply {
	return reply{later: func() (kmsg.Response, error) { return wait(), nil }}
}

func handleJoinGroup(r *request) (reply, error) {
	b, req, ctx := r.c.b, r.kreq.(*kmsg.JoinGroupRequest), r.groupCtx()
	if b.isShareGroup(req.Group) {
		// A group id names one group: a share group's is not joined as a
		// classic group.
		resp := kmsg.NewPtrJoinGroupResponse()
		resp.Version, resp.ErrorCode, resp.MemberID, resp.Generation = req.Version, kerr.GroupIDNotFound.Code, req.MemberID, -1
		if req.Version < 7 {
			resp.Protocol = kmsg.StringPtr("")
		}
		return now(resp)
	}
	cg := &b.cgroups
	rep := cg.routeClassic(req.Group, true, func(at time.Time) reply {
		if cg.unavailable(cg.partition(req.Group)) {
			resp := kmsg.NewPtrJoinGroupResponse()
			resp.Version, resp.ErrorCode, resp.MemberID, resp.Generation = req.Version, kerr.NotCoordinator.Code, req.MemberID, -1
			return reply{resp: resp}
		}
		c := cg.coordinator()
		topics := newConsumerTopics(b.reg.list())
		var resp *kmsg.JoinGroupResponse
		pend, err := cg.change(req.Group, func() ([]consumer.Record, bool) {
			var recs []consumer.Record
			resp, recs = c.ClassicJoin(at, clientOf(r), req, topics, c.NewMemberID())
			return recs, resp.ErrorCode != 0
		})
		return cg.afterAppend(r, req.Group, resp, pend, err, func(err error) kmsg.Response {
			e := kmsg.NewPtrJoinGroupResponse()
			e.Version, e.ErrorCode, e.MemberID, e.Generation = req.Version, offsetsfmt.AppendError(err).Code, req.MemberID, -1
			return e
		})
	}, func() reply { return classicLater(b.grp.StartJoinGroup(ctx, req)) })
	return rep, nil
}

func handleSyncGroup(r *request) (reply, error) {
	b, req, ctx := r.c.b, r.kreq.(*kmsg.SyncGroupRequest), r.groupCtx()
	cg := &b.cgroups
	rep := cg.routeClassic(req.Group, false, func(at time.Time) reply {
		resp := cg.coordinator().ClassicSync(at, req, newConsumerTopics(b.reg.list()))
		cg.rearm(req.Group)
		// Answered once what was written before it is durable: the
		// assignment it tells may come from a write not yet synced.
		pend, err := cg.append(req.Group, nil)
		if err != nil || resp.ErrorCode != 0 {
			return reply{resp: resp}
		}
		return cg.afterAppend(r, req.Group, resp, pend, nil, func(err error) kmsg.Response {
			resp.ErrorCode, resp.MemberAssignment = offsetsfmt.AppendError(err).Code, []byte{}
			return resp
		})
	}, func() reply { return classicLater(b.grp.StartSyncGroup(ctx, req)) })
	return rep, nil
}

func handleHeartbeat(r *request) (reply, error) {
	b, req := r.c.b, r.kreq.(*kmsg.HeartbeatRequest)
	cg := &b.cgroups
	rep := cg.routeClassic(req.Group, false, func(at time.Time) reply {
		resp := cg.coordinator().ClassicHeartbeat(at, req)
		cg.rearm(req.Group)
		return reply{resp: resp}
	}, func() reply { return reply{resp: b.grp.Heartbeat(r.groupCtx(), req)} })
	return rep, nil
}

// leaveConsumerGroup answers a LeaveGroup: a consumer group with members
// serves it, else the classic coordinator, started while migrate is held
// as for the other classic requests, so that no conversion of the group
// comes between routing the leave and applying it.
func leaveConsumerGroup(r *request, req *kmsg.LeaveGroupRequest) reply {
	cg := &r.c.b.cgroups
	rep := cg.routeClassic(req.Group, false, func(time.Time) reply {
		var resp *kmsg.LeaveGroupResponse
		pend, err := cg.change(req.Group, func() ([]consumer.Record, bool) {
			var recs []consumer.Record
			resp, recs = cg.coordinator().ClassicLeave(req)
			return recs, len(recs) == 0
		})
		return cg.afterAppend(r, req.Group, resp, pend, err, func(err error) kmsg.Response {
			e := kmsg.NewPtrLeaveGroupResponse()
			e.Version, e.ErrorCode = req.Version, offsetsfmt.AppendError(err).Code
			return e
		})
	}, func() reply { return reply{resp: r.c.b.grp.LeaveGroup(r.groupCtx(), req)} })
	return rep
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
