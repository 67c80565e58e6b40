package group

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/group/consumer"
)

// The classic coordinator's part of the online migration between the
// classic and the consumer protocol (group/consumer's migrate.go has the
// rules). The broker, which holds both coordinators, reads a classic
// group's members (ClassicMembers), writes the conversion's records in
// one batch, its GroupMetadata record or tombstone among them (built
// here: MetadataRecord, GroupTombstone), and then changes the classic
// group in memory (DropMembers after an upgrade, InstallMembers after a
// downgrade). Offsets are never touched: a group id's committed offsets
// live here whichever protocol its members speak.

// ClassicMembers returns the classic group name with its members, for an
// upgrade to the consumer protocol; ok is false if there is no such group
// or it has no members.
func (c *Coordinator) ClassicMembers(name string) (cg *consumer.ClassicGroup, ok bool) {
	g := c.lockGroup(name, false)
	if g == nil {
		return nil, false
	}
	defer g.mu.Unlock()
	if len(g.members) == 0 || g.state == stateDead {
		return nil, false
	}
	cg = &consumer.ClassicGroup{ID: name, Generation: g.generation, ProtocolType: g.protocolType, Protocol: g.protocol, Leader: g.leader}
	for _, m := range g.orderedMembers() {
		cm := consumer.ClassicMember{ID: m.id, ClientID: m.clientID, ClientHost: m.host,
			RebalanceTimeout: m.rebalanceTimeout, SessionTimeout: m.sessionTimeout, Assignment: slices.Clone(m.assignment)}
		if m.instanceID != nil {
			cm.InstanceID = *m.instanceID
		}
		for _, p := range m.protocols {
			cm.Protocols = append(cm.Protocols, consumer.ClassicProtocol{Name: p.name, Metadata: slices.Clone(p.metadata)})
		}
		cg.Members = append(cg.Members, cm)
	}
	return cg, true
}

// DropMembers empties classic group name after its upgrade to a consumer
// group was written (its GroupMetadata tombstone among the records): as
// Kafka's convertToConsumerGroup, a member waiting for its JoinGroup or
// SyncGroup answer gets REBALANCE_IN_PROGRESS and joins the consumer group
// instead; timers stop; the offsets stay. The group is left as replaying
// the tombstone leaves it: Empty, with no protocol or generation.
func (c *Coordinator) DropMembers(name string) {
	g := c.lockGroup(name, false)
	if g == nil {
		return
	}
	defer g.mu.Unlock()
	for _, m := range g.orderedMembers() {
		g.maybeInvokeJoin(m, errJoin(m.id, kerr.RebalanceInProgress.Code))
		g.maybeInvokeSync(m, errSync(kerr.RebalanceInProgress.Code))
		g.remove(m.id, "the group moved to the consumer protocol")
	}
	for id := range g.pending {
		g.removePending(id)
	}
	g.disarmJoin()
	g.c.sched.stop(g.syncTimer)
	g.syncTimer = nil
	g.clearPendingSync()
	g.protocolType, g.protocol, g.leader, g.generation = "", "", "", 0
	g.subscribed, g.subscribedKnown = nil, false
	if g.state != stateEmpty {
		g.transition(stateEmpty)
	}
}

// InstallMembers makes name a classic group again after a downgrade from
// the consumer protocol was written (MetadataRecord of cg among the
// records): its members as cg has them, each with its assignment and a
// session timer, at cg's generation; then a rebalance starts, as Kafka's
// convertToClassicGroup prepares one, so every member rejoins and the
// group's leader assigns with the classic protocol again. The group's
// offsets are kept.
func (c *Coordinator) InstallMembers(cg *consumer.ClassicGroup) {
	g := c.lockGroup(cg.ID, true)
	defer g.mu.Unlock()
	for _, m := range g.orderedMembers() { // none, unless a join raced the downgrade
		g.maybeInvokeJoin(m, errJoin(m.id, kerr.RebalanceInProgress.Code))
		g.maybeInvokeSync(m, errSync(kerr.RebalanceInProgress.Code))
		g.remove(m.id, "replaced by the downgraded group")
	}
	g.generation = cg.Generation
	g.protocolType, g.protocol = cg.ProtocolType, cg.Protocol
	g.leader = ""
	for _, cm := range cg.Members {
		m := &member{id: cm.ID, clientID: cm.ClientID, host: cm.ClientHost, rebalanceTimeout: cm.RebalanceTimeout,
			sessionTimeout: cm.SessionTimeout, protocolType: cg.ProtocolType, assignment: slices.Clone(cm.Assignment)}
		if cm.InstanceID != "" {
			id := cm.InstanceID
			m.instanceID = &id
		}
		for _, p := range cm.Protocols {
			m.protocols = append(m.protocols, protocol{p.Name, slices.Clone(p.Metadata)})
		}
		g.add(m, nil)
		g.heartbeat(m)
	}
	if cg.Leader != "" && g.members[cg.Leader] != nil {
		g.leader = cg.Leader
	}
	g.computeSubscribed()
	g.transition(stateStable)
	g.prepareRebalance("Downgrade group " + cg.ID + " from consumer to classic.")
}

// GroupTombstone is the GroupMetadata tombstone of a classic group, as the
// upgrade writes it (Kafka's ClassicGroup.createGroupTombstoneRecords).
func GroupTombstone(name string, now time.Time) Record { return groupTombstone(name, now) }

// MetadataRecord is the GroupMetadata record of classic group cg as a
// downgrade writes it (Kafka's createClassicGroupRecords): Stable at its
// generation, every member with its subscription for the selected
// protocol and its assignment.
func MetadataRecord(cg *consumer.ClassicGroup, now time.Time) Record {
	v := kmsg.NewGroupMetadataValue()
	v.Version = 3
	v.ProtocolType = cg.ProtocolType
	v.Generation = cg.Generation
	v.Protocol = optString(cg.Protocol)
	v.Leader = optString(cg.Leader)
	v.CurrentStateTimestamp = now.UnixMilli()
	for _, cm := range cg.Members {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.ClientID, vm.ClientHost = cm.ID, cm.ClientID, cm.ClientHost
		if cm.InstanceID != "" {
			vm.InstanceID = kmsg.StringPtr(cm.InstanceID)
		}
		vm.RebalanceTimeoutMillis = int32(cm.RebalanceTimeout / time.Millisecond)
		vm.SessionTimeoutMillis = int32(cm.SessionTimeout / time.Millisecond)
		vm.Subscription = []byte{}
		for _, p := range cm.Protocols {
			if p.Name == cg.Protocol {
				vm.Subscription = slices.Clone(p.Metadata)
			}
		}
		vm.Assignment = slices.Clone(cm.Assignment)
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	return Record{Key: groupKey(cg.ID), Value: v.AppendTo(nil), Timestamp: now.UnixMilli()}
}
