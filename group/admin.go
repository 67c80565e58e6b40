package group

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups versions 0-6 (v3+ authorized operations on request, v4+
// instance ids, v6 GROUP_ID_NOT_FOUND for an unknown group), ListGroups
// versions 0-5 (v4 state filter, matched without regard to case as Kafka
// does, v5 group type filter and type, KIP-1043), DeleteGroups versions
// 0-3. Consumer-protocol groups (Config.Modern, modern.go) are listed with
// type "consumer", described as Kafka 4.4 describes them (not a classic
// group: Dead, GROUP_ID_NOT_FOUND from v6) and deleted when Empty.

// groupAuthorizedOperations is the bitfield Kafka answers for a group when
// no authorizer is configured: READ (3), DELETE (6) and DESCRIBE (8).
const groupAuthorizedOperations = 1<<3 | 1<<6 | 1<<8

// DescribeGroups handles a DescribeGroups request. An unknown group is
// described as Dead with no error, as Kafka does before v6. Member metadata
// and assignments are shown only while the group is Stable (Kafka's
// GroupMetadata.summary).
func (c *Coordinator) DescribeGroups(_ context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := kmsg.NewPtrDescribeGroupsResponse()
	resp.Version = req.Version
	for _, name := range req.Groups {
		dg := c.describe(name, req.Version)
		if req.Version >= 3 && req.IncludeAuthorizedOperations && dg.ErrorCode == 0 {
			dg.AuthorizedOperations = groupAuthorizedOperations
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) describe(name string, v int16) kmsg.DescribeGroupsResponseGroup {
	dg := kmsg.NewDescribeGroupsResponseGroup()
	dg.Group = name
	if c.isClosed() {
		dg.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return dg
	}
	if c.fencedGroup(name) {
		dg.ErrorCode = kerr.NotCoordinator.Code
		return dg
	}
	// Kafka 4.4 describes only classic groups: any other is Dead, with
	// GROUP_ID_NOT_FOUND and why from v6 on.
	dead := func(msg string) kmsg.DescribeGroupsResponseGroup {
		dg.State = stateDead.String()
		if v >= 6 {
			dg.ErrorCode = kerr.GroupIDNotFound.Code
			dg.ErrorMessage = &msg
		}
		return dg
	}
	if l := c.lister(); l != nil && l.IsModern(name) {
		return dead("Group " + name + " is not a classic group.")
	}
	g := c.lockGroup(name, false)
	if g == nil {
		return dead("Group " + name + " not found.")
	}
	defer g.mu.Unlock()
	dg.State = g.state.String()
	dg.ProtocolType = g.protocolType
	stable := g.state == stateStable
	if stable {
		dg.Protocol = g.protocol
	}
	for _, m := range g.orderedMembers() {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID = m.id
		dm.InstanceID = m.instanceID
		dm.ClientID = m.clientID
		dm.ClientHost = m.host
		dm.ProtocolMetadata = []byte{}
		dm.MemberAssignment = []byte{}
		// Kafka's describeNoMetadata: the assignment whatever the state,
		// the metadata only once Stable.
		if m.assignment != nil {
			dm.MemberAssignment = m.assignment
		}
		if stable {
			if md := m.metadata(g.protocol); md != nil {
				dm.ProtocolMetadata = md
			}
		}
		dg.Members = append(dg.Members, dm)
	}
	return dg
}

// ListGroups handles a ListGroups request; groups are sorted by name.
func (c *Coordinator) ListGroups(_ context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := kmsg.NewPtrListGroupsResponse()
	resp.Version = req.Version
	if c.isClosed() {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	var states map[string]bool
	if req.Version >= 4 && len(req.StatesFilter) > 0 {
		states = make(map[string]bool)
		for _, s := range req.StatesFilter {
			states[strings.ToLower(s)] = true
		}
	}
	var types map[string]bool
	if req.Version >= 5 && len(req.TypesFilter) > 0 {
		types = make(map[string]bool)
		for _, t := range req.TypesFilter {
			types[strings.ToLower(t)] = true
		}
	}
	add := func(name, protocolType, state, typ string) {
		if states != nil && !states[strings.ToLower(state)] || types != nil && !types[typ] {
			return
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = name, protocolType, state, typ
		resp.Groups = append(resp.Groups, lg)
	}
	var modern []ModernGroupInfo
	l := c.lister()
	if l != nil {
		modern = l.ModernGroups()
		slices.SortFunc(modern, func(a, b ModernGroupInfo) int { return strings.Compare(a.Name, b.Name) })
	}
	for _, s := range c.Groups() {
		// A consumer group's offsets live in an offsets-only group of its
		// name here: the consumer group is listed instead, in name order.
		for len(modern) > 0 && modern[0].Name <= s.Name {
			add(modern[0].Name, modern[0].typ(), modern[0].State, modern[0].typ())
			modern = modern[1:]
		}
		if l != nil && l.IsModern(s.Name) {
			continue
		}
		add(s.Name, s.ProtocolType, s.State, "classic")
	}
	for _, m := range modern {
		add(m.Name, m.typ(), m.State, m.typ())
	}
	return resp
}

// DeleteGroups handles a DeleteGroups request: only Empty groups can be
// deleted (NON_EMPTY_GROUP otherwise, GROUP_ID_NOT_FOUND for unknown ones).
// Deletion tombstones every committed offset (and every commit still
// pending) and the group metadata; the group is removed, and the answer
// given, once the tombstones are durable. As in Kafka 4.x, whose
// coordinator applies a deletion to what readers see when its write
// commits and undoes it when the write fails, a group whose tombstones
// fail to be written stays, with its offsets, and is answered with the
// error (Kafka's mapping: NOT_COORDINATOR for a storage error, so clients
// retry).
//
// Every group's tombstones are appended before any is waited for, so one
// fsync serves them all, and each group is answered on its own. Kafka
// writes the groups of one __consumer_offsets partition as one batch, so
// a failed write answers its error for each of them, also for one that
// was refused (unknown, not Empty): so does Rewind, but a group whose own
// tombstones were durable before the failure is deleted and answered so.
func (c *Coordinator) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	return c.BeginDeleteGroups(ctx, req)()
}

// BeginDeleteGroups validates and appends every deletion of req, in the
// order of the caller's other appends (the broker calls it on the
// connection's read loop), and returns the function that waits for them
// to be durable and answers (called off the read loop).
func (c *Coordinator) BeginDeleteGroups(_ context.Context, req *kmsg.DeleteGroupsRequest) func() *kmsg.DeleteGroupsResponse {
	resp := kmsg.NewPtrDeleteGroupsResponse()
	resp.Version = req.Version
	seen := make(map[string]bool)
	var writes []*write
	var modern []int // the consumer groups' indexes in resp.Groups
	for _, name := range req.Groups {
		if seen[name] {
			continue
		}
		seen[name] = true
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = name
		var w *write
		if l := c.lister(); l != nil && l.IsModern(name) {
			// A consumer group: Empty, it goes with the offsets-only group
			// holding its offsets, if it committed any.
			if dg.ErrorCode = l.CheckDelete(name); dg.ErrorCode == 0 {
				if dg.ErrorCode, w = c.beginDeleteGroup(name); dg.ErrorCode == kerr.GroupIDNotFound.Code {
					dg.ErrorCode = 0
				}
				modern = append(modern, len(resp.Groups))
			}
		} else {
			dg.ErrorCode, w = c.beginDeleteGroup(name)
		}
		resp.Groups = append(resp.Groups, dg)
		writes = append(writes, w)
	}
	return func() *kmsg.DeleteGroupsResponse { return c.finishDeleteGroups(resp, writes, modern) }
}

func (c *Coordinator) finishDeleteGroups(resp *kmsg.DeleteGroupsResponse, writes []*write, modern []int) *kmsg.DeleteGroupsResponse {
	failed := make(map[int32]int16) // __consumer_offsets partition -> its failed write's code
	for i, w := range writes {
		if w == nil {
			continue
		}
		<-w.applied
		if w.err != nil {
			code := storeErrCode(w.err)
			resp.Groups[i].ErrorCode = code
			p := c.PartitionFor(resp.Groups[i].Group)
			if _, ok := failed[p]; !ok {
				failed[p] = code
			}
		}
	}
	for i, w := range writes {
		if code, ok := failed[c.PartitionFor(resp.Groups[i].Group)]; ok && w == nil {
			resp.Groups[i].ErrorCode = code
		}
	}
	for _, i := range modern {
		if resp.Groups[i].ErrorCode == 0 {
			resp.Groups[i].ErrorCode = c.lister().Delete(resp.Groups[i].Group)
		}
	}
	return resp
}

// beginDeleteGroup validates and appends the deletion of one group; the
// write (nil when refused) removes it once durable.
func (c *Coordinator) beginDeleteGroup(name string) (int16, *write) {
	for {
		if c.isClosed() {
			return kerr.CoordinatorNotAvailable.Code, nil
		}
		if c.fencedGroup(name) {
			return kerr.NotCoordinator.Code, nil
		}
		g := c.lockGroup(name, false)
		if g == nil {
			return kerr.GroupIDNotFound.Code, nil
		}
		if prev := g.deleting; prev != nil {
			// Another DeleteGroups of this group waits for its tombstones:
			// this one answers as that one's outcome leaves the group (in
			// Kafka it sees the deletion already written, and fails with it).
			g.mu.Unlock()
			<-prev.applied
			continue
		}
		code, w := g.deleteGroup()
		g.mu.Unlock()
		return code, w
	}
}

// deleteGroup appends the group's deletion; g.mu is held.
func (g *group) deleteGroup() (int16, *write) {
	if g.state != stateEmpty {
		return kerr.NonEmptyGroup.Code, nil
	}
	now := g.c.now()
	var keys []tp
	for k := range g.offsets {
		keys = append(keys, k)
	}
	pending := g.pendingKeys()
	for k := range g.txnKeys() {
		if pending == nil {
			pending = make(map[tp]bool)
		}
		pending[k] = true // Kafka's deleteAllOffsets tombstones them too
	}
	for k := range pending {
		if _, ok := g.offsets[k]; !ok {
			keys = append(keys, k)
		}
	}
	sortTPs(keys)
	var recs []Record
	for _, k := range keys {
		recs = append(recs, offsetTombstone(g.name, k, now))
	}
	if g.generation > 0 {
		recs = append(recs, groupTombstone(g.name, now))
	}
	w := g.writeDeletion(recs, keys, DeletedWithGroup, now, func(w *write) {
		g.deleting = nil
		if w.err != nil {
			g.c.log.Warn("failed to write group deletion tombstones: the group stays", "group", g.name, "err", w.err)
			return
		}
		g.c.log.Info("deleted group", "group", g.name, "offsets", len(keys))
		// A member that joined meanwhile, or a write appended after the
		// tombstones (a commit of the same group), keeps the group: its
		// records follow them in the log, so a replay has the group too.
		if !g.removed && g.state == stateEmpty && len(g.writes) == 0 {
			g.c.removeGroup(g)
		}
	})
	select {
	case <-w.applied: // no store, or the append failed: decided already
	default:
		g.deleting = w
	}
	return 0, w
}
