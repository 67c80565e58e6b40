package group

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SyncGroup versions 0-5 (v3+ instance id, v5+ protocol type and name,
// which must then be present), Heartbeat versions 0-4 (v3+ instance id),
// LeaveGroup versions 0-5 (v0-v2 one member, v3+ a batch of members that
// may be named by instance id alone, v5 reasons).

// SyncGroup handles a SyncGroup request. Followers block until the leader's
// assignment is stored, ctx is done, or the coordinator closes.
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	return syncResponse(req, c.syncGroup(ctx, req))
}

// StartSyncGroup runs a SyncGroup through the state machine now and
// returns the wait for its answer (SyncGroup is both): the broker starts
// it while no protocol migration can move the group (its routing lock),
// and waits outside.
func (c *Coordinator) StartSyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) func() *kmsg.SyncGroupResponse {
	ch := c.beginSync(req)
	return func() *kmsg.SyncGroupResponse { return syncResponse(req, c.awaitSync(ctx, ch)) }
}

func syncResponse(req *kmsg.SyncGroupRequest, r syncResult) *kmsg.SyncGroupResponse {
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.Version = req.Version
	resp.ErrorCode = r.err
	if req.Version >= 5 {
		resp.ProtocolType = r.protocolType
		resp.Protocol = r.protocol
	}
	resp.MemberAssignment = r.assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	return resp
}

func (c *Coordinator) syncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) syncResult {
	return c.awaitSync(ctx, c.beginSync(req))
}

func (c *Coordinator) awaitSync(ctx context.Context, ch chan syncResult) syncResult {
	select {
	case r := <-ch:
		return r
	default:
	}
	select {
	case r := <-ch:
		return r
	case <-c.done:
		return errSync(kerr.NotCoordinator.Code)
	case <-ctx.Done():
		// As in Kafka the member still counts as synced; if it never comes
		// back its session expires.
		return errSync(kerr.CoordinatorNotAvailable.Code)
	}
}

// beginSync runs a SyncGroup through the state machine; the answer is on
// the returned channel, now or once the leader's assignment is stored.
func (c *Coordinator) beginSync(req *kmsg.SyncGroupRequest) chan syncResult {
	now := func(r syncResult) chan syncResult {
		ch := make(chan syncResult, 1)
		ch <- r
		return ch
	}
	if c.isClosed() {
		return now(errSync(kerr.CoordinatorNotAvailable.Code))
	}
	if req.Group == "" {
		return now(errSync(kerr.InvalidGroupID.Code))
	}
	if c.fencedGroup(req.Group) {
		return now(errSync(kerr.NotCoordinator.Code))
	}
	var instanceID, protocolType, protocolName *string
	if req.Version >= 3 {
		instanceID = req.InstanceID
	}
	if req.Version >= 5 {
		// v5+ must name the protocol type and protocol (Kafka's
		// areMandatoryProtocolTypeAndNamePresent).
		if req.ProtocolType == nil || req.Protocol == nil {
			return now(errSync(kerr.InconsistentGroupProtocol.Code))
		}
		protocolType, protocolName = req.ProtocolType, req.Protocol
	}
	g := c.lockGroup(req.Group, false)
	if g == nil {
		return now(errSync(kerr.UnknownMemberID.Code))
	}
	defer g.mu.Unlock()
	return g.sync(req, instanceID, protocolType, protocolName)
}

// sync is Kafka's doSyncGroup; g.mu is held. The answer arrives on the
// returned channel, now or once the leader's assignment is stored.
func (g *group) sync(req *kmsg.SyncGroupRequest, instanceID, protocolType, protocolName *string) chan syncResult {
	ch := make(chan syncResult, 1)
	code := g.validateCurrentMember(req.MemberID, instanceID)
	switch {
	case code != 0:
	case req.Generation != g.generation:
		code = kerr.IllegalGeneration.Code
	case protocolType != nil && *protocolType != g.protocolType:
		code = kerr.InconsistentGroupProtocol.Code
	case protocolName != nil && *protocolName != g.protocol:
		code = kerr.InconsistentGroupProtocol.Code
	}
	if code != 0 {
		ch <- errSync(code)
		return ch
	}
	m := g.members[req.MemberID]
	switch g.state {
	case stateEmpty:
		ch <- errSync(kerr.UnknownMemberID.Code)
	case statePreparingRebalance:
		ch <- errSync(kerr.RebalanceInProgress.Code)
	case stateStable:
		g.removePendingSync(m.id)
		ch <- syncResult{protocolType: optString(g.protocolType), protocol: optString(g.protocol), assignment: m.assignment}
		g.heartbeat(m)
	case stateCompletingRebalance:
		if m.syncCh != nil {
			// A repeated SyncGroup: answer the earlier one so its
			// connection is not stuck (Kafka silently replaces it).
			m.syncCh <- errSync(kerr.RebalanceInProgress.Code)
		}
		m.syncCh = ch
		g.removePendingSync(m.id)
		if g.leader != m.id {
			return ch
		}
		assignments := make(map[string][]byte, len(g.members))
		for id := range g.members {
			assignments[id] = []byte{}
		}
		for _, a := range req.GroupAssignment {
			if _, ok := assignments[a.MemberID]; ok {
				assignments[a.MemberID] = a.MemberAssignment
			}
		}
		gen := g.generation
		// Every member's answer waits for the assignment to be durable;
		// the group's lock does not, so heartbeats go on meanwhile.
		g.write([]Record{g.metadataRecord(assignments)}, nil, func(w *write) {
			// A member may have joined, or left, while the record was
			// written: then a new rebalance has begun and this one's
			// assignment is moot (Kafka's callback checks the same).
			if g.removed || g.state != stateCompletingRebalance || g.generation != gen {
				return
			}
			if w.err != nil {
				g.c.log.Warn("failed to store group assignment", "group", g.name, "err", w.err)
				g.resetAndPropagateAssignmentError(storeErrCode(w.err))
				g.maybePrepareRebalance("error storing the group assignment")
				return
			}
			for id, m := range g.members {
				m.assignment = assignments[id]
			}
			g.propagateAssignment(0)
			g.transition(stateStable)
		})
	}
	return ch
}

// Heartbeat handles a Heartbeat request.
func (c *Coordinator) Heartbeat(_ context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := kmsg.NewPtrHeartbeatResponse()
	resp.Version = req.Version
	resp.ErrorCode = c.heartbeat(req)
	return resp
}

func (c *Coordinator) heartbeat(req *kmsg.HeartbeatRequest) int16 {
	if c.isClosed() {
		return kerr.CoordinatorNotAvailable.Code
	}
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	if c.fencedGroup(req.Group) {
		return kerr.NotCoordinator.Code
	}
	var instanceID *string
	if req.Version >= 3 {
		instanceID = req.InstanceID
	}
	g := c.lockGroup(req.Group, false)
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	defer g.mu.Unlock()
	if code := g.validateCurrentMember(req.MemberID, instanceID); code != 0 {
		return code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	m := g.members[req.MemberID]
	switch g.state {
	case stateEmpty:
		return kerr.UnknownMemberID.Code
	case statePreparingRebalance:
		g.heartbeat(m)
		return kerr.RebalanceInProgress.Code
	default: // CompletingRebalance, Stable
		g.heartbeat(m)
		return 0
	}
}

// LeaveGroup handles a LeaveGroup request.
func (c *Coordinator) LeaveGroup(_ context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := kmsg.NewPtrLeaveGroupResponse()
	resp.Version = req.Version
	leaving := req.Members
	if req.Version < 3 {
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = req.MemberID
		leaving = []kmsg.LeaveGroupRequestMember{lm}
	}
	top, codes := c.leaveGroup(req.Group, leaving)
	if req.Version >= 3 {
		resp.ErrorCode = top
		if top == 0 {
			for i, lm := range leaving {
				rm := kmsg.NewLeaveGroupResponseMember()
				rm.MemberID = lm.MemberID
				rm.InstanceID = lm.InstanceID
				rm.ErrorCode = codes[i]
				resp.Members = append(resp.Members, rm)
			}
		}
		return resp
	}
	// v0-v2 have only the top-level error: the member's own error.
	resp.ErrorCode = top
	if top == 0 && len(codes) > 0 {
		resp.ErrorCode = codes[0]
	}
	return resp
}

func (c *Coordinator) leaveGroup(name string, leaving []kmsg.LeaveGroupRequestMember) (int16, []int16) {
	if c.isClosed() {
		return kerr.CoordinatorNotAvailable.Code, nil
	}
	if name == "" {
		return kerr.InvalidGroupID.Code, nil
	}
	if c.fencedGroup(name) {
		return kerr.NotCoordinator.Code, nil
	}
	codes := make([]int16, len(leaving))
	g := c.lockGroup(name, false)
	if g == nil {
		for i := range codes {
			codes[i] = kerr.UnknownMemberID.Code
		}
		return 0, codes
	}
	defer g.mu.Unlock()
	for i, lm := range leaving {
		codes[i] = g.leave(lm.MemberID, lm.InstanceID)
	}
	return 0, codes
}

// leave removes one member; g.mu is held.
func (g *group) leave(memberID string, instanceID *string) int16 {
	if memberID == "" {
		// Administrative removal by instance id (KIP-345).
		if instanceID != nil {
			if cur, ok := g.static[*instanceID]; ok {
				g.removeMemberAndUpdateGroup(g.members[cur], "removed by instance id")
				return 0
			}
		}
		return kerr.UnknownMemberID.Code
	}
	if _, ok := g.pending[memberID]; ok {
		g.removePendingMemberAndUpdateGroup(memberID)
		return 0
	}
	if code := g.validateCurrentMember(memberID, instanceID); code != 0 {
		return code
	}
	g.c.log.Info("member left group", "group", g.name, "member", memberID)
	g.removeMemberAndUpdateGroup(g.members[memberID], "LeaveGroup")
	return 0
}
