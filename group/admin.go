package group

import (
	"context"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups versions 0-5 (v3+ authorized operations on request, v4+
// instance ids), ListGroups versions 0-4 (v4 state filter, matched without
// regard to case as Kafka does), DeleteGroups versions 0-2.

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
		dg := c.describe(name)
		if req.Version >= 3 && req.IncludeAuthorizedOperations && dg.ErrorCode == 0 {
			dg.AuthorizedOperations = groupAuthorizedOperations
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) describe(name string) kmsg.DescribeGroupsResponseGroup {
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
	g := c.lockGroup(name, false)
	if g == nil {
		dg.State = stateDead.String()
		return dg
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
		if stable {
			if md := m.metadata(g.protocol); md != nil {
				dm.ProtocolMetadata = md
			}
			if m.assignment != nil {
				dm.MemberAssignment = m.assignment
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
	for _, s := range c.Groups() {
		if states != nil && !states[strings.ToLower(s.State)] {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group = s.Name
		lg.ProtocolType = s.ProtocolType
		lg.GroupState = s.State
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

// DeleteGroups handles a DeleteGroups request: only Empty groups can be
// deleted (NON_EMPTY_GROUP otherwise, GROUP_ID_NOT_FOUND for unknown ones).
// Deletion tombstones every committed offset (and every commit still
// pending) and the group metadata, and removes the group once the
// tombstones are appended; the answer waits until they are durable. Unlike
// Kafka, which answers success even if writing the tombstones fails, a
// failed write answers the error, and one that could not even be appended
// (a full disk) leaves the group in place, so that a deleted group cannot
// come back at the next start.
func (c *Coordinator) DeleteGroups(_ context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := kmsg.NewPtrDeleteGroupsResponse()
	resp.Version = req.Version
	seen := make(map[string]bool)
	for _, name := range req.Groups {
		if seen[name] {
			continue
		}
		seen[name] = true
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = name
		dg.ErrorCode = c.deleteGroup(name)
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) deleteGroup(name string) int16 {
	if c.isClosed() {
		return kerr.CoordinatorNotAvailable.Code
	}
	if c.fencedGroup(name) {
		return kerr.NotCoordinator.Code
	}
	g := c.lockGroup(name, false)
	if g == nil {
		return kerr.GroupIDNotFound.Code
	}
	if g.state != stateEmpty {
		g.mu.Unlock()
		return kerr.NonEmptyGroup.Code
	}
	now := c.now()
	var keys []tp
	for k := range g.offsets {
		keys = append(keys, k)
	}
	for k := range g.pendingKeys() {
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
	var code int16
	w := g.write(recs, nil, func(w *write) {
		if w.err != nil {
			c.log.Warn("failed to write group deletion tombstones", "group", name, "err", w.err)
			code = storeErrCode(w.err)
		}
	})
	if !w.appendFailed() {
		// Removed now, not once durable: a request arriving meanwhile
		// finds no group, and what it writes follows the tombstones.
		for _, k := range keys {
			g.dropPending(k)
		}
		c.log.Info("deleted group", "group", name, "offsets", len(keys))
		g.publishDeleted(keys, DeletedWithGroup, now)
		c.removeGroup(g)
	}
	g.mu.Unlock()
	<-w.applied
	return code
}
