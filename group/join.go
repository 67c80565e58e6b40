package group

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup versions 0-9.
//
//   - v0 has no rebalance timeout: the session timeout serves as both.
//   - v4+ (KIP-394): a dynamic member joining with an empty member id gets
//     MEMBER_ID_REQUIRED and a generated id, and must join again with it.
//   - v5+ carries the group instance id (KIP-345 static membership).
//   - v7+ answers the protocol type and a nullable protocol name.
//   - v9 (KIP-814): a static leader rejoining a Stable group is told it is
//     the leader with SkipAssignment set, instead of being told an old
//     leader id.

// joinResult is the coordinator's answer to one JoinGroup (Kafka's
// JoinGroupResult); JoinGroup turns it into the versioned response.
type joinResult struct {
	err          int16
	memberID     string
	generation   int32
	protocolType *string
	protocol     *string
	leader       string
	skip         bool
	members      []kmsg.JoinGroupResponseMember
}

func errJoin(memberID string, code int16) joinResult {
	return joinResult{err: code, memberID: memberID, generation: -1}
}

type syncResult struct {
	err          int16
	protocolType *string
	protocol     *string
	assignment   []byte
}

func errSync(code int16) syncResult { return syncResult{err: code} }

// JoinGroup handles a JoinGroup request. It blocks until the rebalance the
// member joins completes, ctx is done (the client went away), or the
// coordinator closes.
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	r := c.joinGroup(ctx, req)
	return joinResponse(req.Version, r)
}

func joinResponse(version int16, r joinResult) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Version = version
	resp.ErrorCode = r.err
	resp.Generation = r.generation
	if version >= 7 {
		resp.ProtocolType = r.protocolType
		resp.Protocol = r.protocol
	} else {
		// Before v7 the protocol name is not nullable: Kafka sends "".
		p := ""
		if r.protocol != nil {
			p = *r.protocol
		}
		resp.Protocol = &p
	}
	resp.LeaderID = r.leader
	resp.SkipAssignment = r.skip && version >= 9
	resp.MemberID = r.memberID
	resp.Members = r.members
	if resp.Members == nil {
		resp.Members = []kmsg.JoinGroupResponseMember{}
	}
	return resp
}

// StartJoinGroup runs a JoinGroup through the state machine now and
// returns the wait for its answer (JoinGroup is both): the broker starts
// it while no protocol migration can move the group (its routing lock),
// and waits outside.
func (c *Coordinator) StartJoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) func() *kmsg.JoinGroupResponse {
	j, g := c.beginJoin(ctx, req)
	return func() *kmsg.JoinGroupResponse { return joinResponse(req.Version, c.awaitJoin(ctx, req, j, g)) }
}

func (c *Coordinator) joinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) joinResult {
	j, g := c.beginJoin(ctx, req)
	return c.awaitJoin(ctx, req, j, g)
}

func (c *Coordinator) awaitJoin(ctx context.Context, req *kmsg.JoinGroupRequest, j *joinCall, g *group) joinResult {
	select {
	case r := <-j.ch:
		return r
	default:
	}
	select {
	case r := <-j.ch:
		return r
	case <-c.done:
		return errJoin(req.MemberID, kerr.NotCoordinator.Code)
	case <-ctx.Done():
		c.abandonJoin(g, j)
		return errJoin(req.MemberID, kerr.CoordinatorNotAvailable.Code)
	}
}

// beginJoin runs a JoinGroup through the state machine; the answer is on
// j.ch, now or when the rebalance completes. g is nil if the request was
// answered without reaching a group.
func (c *Coordinator) beginJoin(ctx context.Context, req *kmsg.JoinGroupRequest) (*joinCall, *group) {
	j := &joinCall{ch: make(chan joinResult, 1)}
	if c.isClosed() {
		j.respond(errJoin(req.MemberID, kerr.CoordinatorNotAvailable.Code))
		return j, nil
	}
	if req.Group == "" {
		j.respond(errJoin(req.MemberID, kerr.InvalidGroupID.Code))
		return j, nil
	}
	if c.fencedGroup(req.Group) {
		j.respond(errJoin(req.MemberID, kerr.NotCoordinator.Code))
		return j, nil
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	rebalance := time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if req.Version == 0 || req.RebalanceTimeoutMillis <= 0 {
		rebalance = session
	}
	if session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout {
		j.respond(errJoin(req.MemberID, kerr.InvalidSessionTimeout.Code))
		return j, nil
	}
	var instanceID *string
	if req.Version >= 5 {
		instanceID = req.InstanceID
	}
	protos := make([]protocol, 0, len(req.Protocols))
	seen := make(map[string]bool, len(req.Protocols))
	for _, p := range req.Protocols {
		if !seen[p.Name] {
			seen[p.Name] = true
			protos = append(protos, protocol{p.Name, p.Metadata})
		}
	}
	ci := clientFrom(ctx)
	*j = joinCall{
		memberID:     req.MemberID,
		instanceID:   instanceID,
		requireKnown: req.Version >= 4 && instanceID == nil,
		skipOK:       req.Version >= 9,
		clientID:     ci.id,
		host:         ci.host,
		rebalance:    rebalance,
		session:      session,
		protocolType: req.ProtocolType,
		protos:       protos,
		ch:           j.ch,
	}
	g := c.lockGroup(req.Group, req.MemberID == "")
	if g == nil {
		j.respond(errJoin(req.MemberID, kerr.UnknownMemberID.Code))
		return j, nil
	}
	g.join(j)
	g.mu.Unlock()
	return j, g
}

// abandonJoin runs when the client of a waiting JoinGroup went away. As in
// Kafka the member stays in the rebalance, with one exception: a member
// whose id was generated by this very request (JoinGroup v0-v3 with an
// empty member id) can never learn its id, so it is dropped now instead of
// being assigned partitions until NewMemberJoinTimeout (Kafka cannot see the
// disconnect; we can).
func (c *Coordinator) abandonJoin(g *group, j *joinCall) {
	if g == nil || j.generatedID == "" {
		return
	}
	g.locked(func() {
		if m := g.members[j.generatedID]; m != nil && m.joinCh == j.ch {
			g.removeMemberAndUpdateGroup(m, "client went away before learning its member id")
		}
	})
}

// joinCall carries one JoinGroup through the state machine.
type joinCall struct {
	memberID     string
	instanceID   *string
	requireKnown bool // v4+ dynamic member: KIP-394
	skipOK       bool // v9+: SkipAssignment supported
	clientID     string
	host         string
	rebalance    time.Duration
	session      time.Duration
	protocolType string
	protos       []protocol
	ch           chan joinResult

	generatedID string // set when this request added a member under a fresh id
}

func (j *joinCall) respond(r joinResult) { j.ch <- r }

// join is Kafka's handleJoinGroup once the group is found; g.mu is held.
// Every path answers on j.ch, now or when the rebalance completes.
func (g *group) join(j *joinCall) {
	switch {
	case !g.acceptJoiningMember(j.memberID):
		if m := g.members[j.memberID]; m != nil {
			g.maybeInvokeJoin(m, errJoin("", kerr.GroupMaxSizeReached.Code))
			g.remove(j.memberID, "group is full (group.max.size)")
		}
		j.respond(errJoin("", kerr.GroupMaxSizeReached.Code))
	case j.memberID == "":
		g.doNewMemberJoin(j)
	default:
		g.doCurrentMemberJoin(j)
	}
	if g.state == statePreparingRebalance {
		g.tryCompleteJoin()
	}
}

// acceptJoiningMember enforces group.max.size as Kafka does.
func (g *group) acceptJoiningMember(id string) bool {
	maxSize := g.c.cfg.MaxGroupSize
	if maxSize <= 0 {
		return true
	}
	m, has := g.members[id]
	switch g.state {
	case stateEmpty, stateDead:
		return true
	case statePreparingRebalance:
		return (has && m.joinCh != nil) || g.numAwaiting < maxSize
	default:
		return has || len(g.members) < maxSize
	}
}

func (g *group) doNewMemberJoin(j *joinCall) {
	if !g.supportsProtocols(j.protocolType, j.protos) {
		j.respond(errJoin("", kerr.InconsistentGroupProtocol.Code))
		return
	}
	newID := newMemberID(j.clientID, j.instanceID)
	if j.instanceID != nil {
		if oldID, ok := g.static[*j.instanceID]; ok {
			g.updateStaticMemberAndRebalance(j, oldID, newID)
			return
		}
		g.addMemberAndRebalance(j, newID)
		return
	}
	if j.requireKnown {
		g.addPending(newID, j.session)
		j.respond(errJoin(newID, kerr.MemberIDRequired.Code))
		return
	}
	j.generatedID = newID
	g.addMemberAndRebalance(j, newID)
}

func (g *group) doCurrentMemberJoin(j *joinCall) {
	if !g.supportsProtocols(j.protocolType, j.protos) {
		j.respond(errJoin(j.memberID, kerr.InconsistentGroupProtocol.Code))
		return
	}
	if _, ok := g.pending[j.memberID]; ok {
		if j.instanceID != nil {
			// Static members never become pending; Kafka treats this as
			// an internal error.
			j.respond(errJoin(j.memberID, kerr.UnknownMemberID.Code))
			return
		}
		g.addMemberAndRebalance(j, j.memberID)
		return
	}
	if code := g.validateCurrentMember(j.memberID, j.instanceID); code != 0 {
		j.respond(errJoin(j.memberID, code))
		return
	}
	m := g.members[j.memberID]
	switch g.state {
	case statePreparingRebalance:
		g.updateMemberAndRebalance(m, j, "member joining during PreparingRebalance")
	case stateCompletingRebalance:
		if m.matches(j.protos) {
			// The member lost its JoinGroup answer: repeat it.
			j.respond(g.currentJoinResult(m.id, g.leader == m.id, false, g.leader))
		} else {
			g.updateMemberAndRebalance(m, j, "member metadata changed during CompletingRebalance")
		}
	case stateStable:
		if g.leader == m.id {
			// A leader rejoining forces a rebalance: that is how it asks
			// for one after metadata changes its members cannot see.
			g.updateMemberAndRebalance(m, j, "leader rejoining")
		} else if !m.matches(j.protos) {
			g.updateMemberAndRebalance(m, j, "member metadata changed")
		} else {
			j.respond(g.currentJoinResult(m.id, false, false, g.leader))
		}
	default:
		j.respond(errJoin(j.memberID, kerr.UnknownMemberID.Code))
	}
}

func (g *group) addMemberAndRebalance(j *joinCall, id string) {
	m := &member{
		id:               id,
		instanceID:       j.instanceID,
		clientID:         j.clientID,
		host:             j.host,
		rebalanceTimeout: j.rebalance,
		sessionTimeout:   j.session,
		protocolType:     j.protocolType,
		protocols:        j.protos,
		isNew:            true,
	}
	if g.state == statePreparingRebalance && g.generation == 0 {
		g.newMemberAdded = true
	}
	g.add(m, j.ch)
	g.publishJoined(m, "JoinGroup")
	// A new member cannot heartbeat before it knows its id; its JoinGroup
	// is bounded by NewMemberJoinTimeout instead.
	g.armExpiry(m, g.c.cfg.NewMemberJoinTimeout)
	g.maybePrepareRebalance("adding member " + id)
}

func (g *group) updateMemberAndRebalance(m *member, j *joinCall, reason string) {
	g.updateMember(m, j.protos, j.rebalance, j.session, j.ch)
	g.maybePrepareRebalance(reason + ": " + m.id)
}

// updateStaticMemberAndRebalance handles a known static member joining with
// an empty member id (a restart): the new member id replaces the old one,
// and a Stable group whose selected protocol stays the same gives the
// member its current assignment back without a rebalance (KIP-345).
func (g *group) updateStaticMemberAndRebalance(j *joinCall, oldID, newID string) {
	currentLeader := g.leader
	m := g.replaceStatic(*j.instanceID, oldID, newID)
	g.heartbeat(m)
	oldProtos, oldRebalance, oldSession := m.protocols, m.rebalanceTimeout, m.sessionTimeout
	m.clientID, m.host = j.clientID, j.host
	g.publishJoined(m, "static member rejoined under a new member id")
	g.updateMember(m, j.protos, j.rebalance, j.session, j.ch)

	switch g.state {
	case stateStable:
		if g.protocol != g.selectProtocol() {
			g.maybePrepareRebalance("static member " + newID + " changed the group's protocol")
			return
		}
		assignments := make(map[string][]byte, len(g.members))
		for id, mm := range g.members {
			assignments[id] = mm.assignment
		}
		ch := m.joinCh
		g.write([]Record{g.metadataRecord(assignments)}, nil, func(w *write) {
			// While the record was written a rebalance may have answered
			// the member already, or the member may have gone: there is
			// nothing left to answer or undo then.
			if g.removed || g.members[newID] != m || m.joinCh != ch {
				return
			}
			if w.err != nil {
				g.c.log.Warn("failed to persist static member replacement", "group", g.name, "err", w.err)
				g.updateMember(m, oldProtos, oldRebalance, oldSession, nil)
				old := g.replaceStatic(*j.instanceID, newID, oldID)
				g.publishJoined(old, "restored: its replacement could not be stored")
				g.heartbeat(old)
				r := g.currentJoinResult("", false, false, currentLeader)
				r.err = storeErrCode(w.err)
				ch <- r
				return
			}
			if j.skipOK {
				isLeader := g.leader == newID
				g.maybeInvokeJoin(m, g.currentJoinResult(newID, isLeader, isLeader, g.leader))
			} else {
				// Before v9 the old leader id is returned so that a
				// rejoining leader does not run a pointless assignment.
				g.maybeInvokeJoin(m, g.currentJoinResult(newID, false, false, currentLeader))
			}
		})
	case stateCompletingRebalance:
		// The leader may have been given the old member id to assign to.
		g.prepareRebalance("static member " + newID + " rejoined during CompletingRebalance")
	case statePreparingRebalance:
		// The member now waits for the join phase like everyone else.
	}
}

// replaceStatic moves a static member to a new member id, fencing whoever
// still waits under the old id.
func (g *group) replaceStatic(instanceID, oldID, newID string) *member {
	m := g.members[oldID]
	g.publishLeft(m, "replaced by a static member with the same instance id")
	delete(g.members, oldID)
	g.maybeInvokeJoin(m, errJoin(oldID, kerr.FencedInstanceID.Code))
	g.maybeInvokeSync(m, errSync(kerr.FencedInstanceID.Code))
	m.id = newID
	g.members[newID] = m
	if g.leader == oldID {
		g.leader = newID
	}
	g.static[instanceID] = newID
	if _, ok := g.pendingSync[oldID]; ok {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = struct{}{}
	}
	return m
}
