package consumer

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/offsetsfmt"
)

// Online migration between the classic and the consumer protocol (KIP-848
// "upgrade and downgrade", Kafka 4's group.consumer.migration.policy).
//
// Upgrade: the first ConsumerGroupHeartbeat (epoch 0) to a classic group
// that has members converts it: the classic members become members of a
// consumer group at the classic generation, Stable, owning the partitions
// their last SyncGroup gave them, which are also their target; the
// joining member then joins as any new member would, bumping the epoch,
// so the classic members learn from REBALANCE_IN_PROGRESS that they must
// rejoin, and reconciliation moves partitions to the new member only once
// they are revoked. Committed offsets are not touched: they are the
// offsets store's, under the same group id, whatever the protocol.
//
// Downgrade: when the last consumer-protocol member leaves or is fenced
// and members remain, all on the classic protocol, the group becomes a
// classic group again at its group epoch, each member with its current
// assignment, and a rebalance starts (the classic coordinator's part).

// MigrationPolicy is group.consumer.migration.policy.
type MigrationPolicy string

const (
	Bidirectional MigrationPolicy = "bidirectional" // Kafka's default
	UpgradeOnly   MigrationPolicy = "upgrade"
	DowngradeOnly MigrationPolicy = "downgrade"
	Disabled      MigrationPolicy = "disabled"
)

// ParseMigrationPolicy reads a policy name, case-insensitive as Kafka's
// ConsumerGroupMigrationPolicy.parse (which, unlike this, reads a name it
// does not know as disabled: Kafka's config validator refuses it first).
func ParseMigrationPolicy(s string) (MigrationPolicy, error) {
	switch p := MigrationPolicy(strings.ToLower(strings.TrimSpace(s))); p {
	case Bidirectional, UpgradeOnly, DowngradeOnly, Disabled:
		return p, nil
	case "":
		return Bidirectional, nil
	}
	return "", fmt.Errorf("unknown group.consumer.migration.policy %q: one of bidirectional, upgrade, downgrade, disabled", s)
}

func (p MigrationPolicy) upgrade() bool   { return p == Bidirectional || p == UpgradeOnly }
func (p MigrationPolicy) downgrade() bool { return p == Bidirectional || p == DowngradeOnly }

// ClassicMember is a member of a classic group, as the migration carries
// it between the coordinators.
type ClassicMember struct {
	ID, InstanceID       string // InstanceID "" for a dynamic member
	ClientID, ClientHost string
	RebalanceTimeout     time.Duration
	SessionTimeout       time.Duration
	Protocols            []ClassicProtocol // in the member's order of preference
	Assignment           []byte            // ConsumerProtocolAssignment, empty if none yet
}

// ClassicGroup is a classic group with members, as the migration carries
// it: converted from on an upgrade, converted to on a downgrade.
type ClassicGroup struct {
	ID           string
	Generation   int32
	ProtocolType string
	Protocol     string // the selected protocol
	Leader       string
	Members      []ClassicMember
}

// upgradeFrom builds the consumer group a classic group becomes (Kafka's
// ConsumerGroup.fromClassicGroup and createConsumerGroupRecords), or
// refuses with GROUP_ID_NOT_FOUND as Kafka does when the policy forbids
// upgrades, the group does not use the consumer protocol or is larger
// than group.consumer.max.size.
func (c *Coordinator) upgradeFrom(now time.Time, from *ClassicGroup, topics Topics) (*Group, []Record, error) {
	notConsumer := &Error{kerr.GroupIDNotFound, fmt.Sprintf("Group %s is not a consumer group", from.ID)}
	if !c.cfg.MigrationPolicy.upgrade() || from.ProtocolType != "consumer" || len(from.Members) > c.cfg.MaxSize {
		return nil, nil, notConsumer
	}
	g := NewGroup(from.ID, c.cfg)
	g.Epoch, g.AssignmentEpoch = from.Generation, from.Generation
	for _, cm := range from.Members {
		var sub kmsg.ConsumerMemberMetadata
		var meta []byte
		for _, p := range cm.Protocols {
			if p.Name == from.Protocol {
				meta = p.Metadata
			}
		}
		if err := sub.ReadFrom(meta); err != nil {
			return nil, nil, &Error{kerr.GroupIDNotFound, fmt.Sprintf("Cannot upgrade the classic group %s to consumer group because the embedded consumer protocol is malformed.", from.ID)}
		}
		assigned := Epochs{}
		if len(cm.Assignment) > 0 {
			var a kmsg.ConsumerMemberAssignment
			if err := a.ReadFrom(cm.Assignment); err != nil {
				return nil, nil, &Error{kerr.GroupIDNotFound, fmt.Sprintf("Cannot upgrade the classic group %s to consumer group because the embedded consumer protocol is malformed.", from.ID)}
			}
			for _, t := range a.Topics {
				if id, n, ok := topics.Lookup(t.Topic); ok {
					for _, p := range t.Partitions {
						if p >= 0 && p < n {
							assigned.add(id, p, from.Generation)
						}
					}
				}
			}
		}
		m := &Member{ID: cm.ID, InstanceID: cm.InstanceID, ClientID: cm.ClientID, ClientHost: cm.ClientHost,
			SubscribedTopicNames: slices.Clone(sub.Topics), RebalanceTimeout: cm.RebalanceTimeout,
			Epoch: from.Generation, PreviousEpoch: from.Generation, State: Stable, Assigned: Epochs{}, PendingRevocation: Epochs{},
			Classic: &ClassicMetadata{SessionTimeout: cm.SessionTimeout, Protocols: slices.Clone(cm.Protocols)}}
		if sub.Rack != nil {
			m.RackID = *sub.Rack
		}
		g.members[m.ID] = m
		g.setAssignment(m, assigned, Epochs{})
		g.target[m.ID] = assigned.partitions()
		if m.InstanceID != "" {
			g.static[m.InstanceID] = m.ID
		}
		m.sessionDeadline = now.Add(cm.SessionTimeout)
	}
	sub := g.subscribedTopics(topics)
	// AssignmentTime stays zero: the joining member's bump is assigned at
	// once, as Kafka assigns a converted group (it has no last assignment
	// time).
	g.MetadataHash, g.topicsVersion = metadataHash(sub, topics), topics.Version()
	var recs []Record
	ids := g.MemberIDs()
	for _, id := range ids {
		recs = append(recs, memberRecord(g.ID, g.members[id]))
	}
	recs = append(recs, epochRecord(g))
	for _, id := range ids {
		recs = append(recs, targetRecord(g.ID, id, g.target[id]))
	}
	recs = append(recs, targetEpochRecord(g, now.UnixMilli()))
	for _, id := range ids {
		recs = append(recs, currentRecord(g.ID, g.members[id]))
	}
	return g, recs, nil
}

// Downgrade converts group id back to a classic group if it should be one
// once the members named leaving are gone (Kafka's
// validateOnlineDowngradeWithFencedMember and convertToClassicGroup): the
// others, at least one, are all on the classic protocol, the policy allows
// downgrades and they fit in classicMax (group.max.size, 0: unlimited).
// The leaving members are not fenced first: the classic group takes the
// group epoch as it stands, as Kafka converts instead of removing the
// member. It removes the group and returns what the classic group is to
// be and the tombstones of every record of the consumer group, in Kafka's
// order; ok is false and nothing changes otherwise.
func (c *Coordinator) Downgrade(id string, leaving []string, classicMax int, topics Topics) (cg *ClassicGroup, recs []Record, ok bool) {
	g := c.groups[id]
	if !c.downgradeDue(g, leaving) {
		return nil, nil, false
	}
	if classicMax <= 0 {
		classicMax = math.MaxInt
	}
	var ids []string
	for _, mid := range g.MemberIDs() {
		if !slices.Contains(leaving, mid) {
			ids = append(ids, mid)
		}
	}
	if len(ids) > classicMax {
		return nil, nil, false
	}
	cg = &ClassicGroup{ID: id, Generation: g.Epoch, ProtocolType: "consumer"}
	// The selected protocol: one every remaining member supports, the
	// first member's first such preference (Kafka's
	// ClassicGroup.selectProtocol votes; members converted from one
	// classic group support the same protocols).
	first := g.members[ids[0]]
	for _, p := range first.Classic.Protocols {
		supported := true
		for _, mid := range ids {
			if !slices.ContainsFunc(g.members[mid].Classic.Protocols, func(q ClassicProtocol) bool { return q.Name == p.Name }) {
				supported = false
			}
		}
		if supported {
			cg.Protocol = p.Name
			break
		}
	}
	if cg.Protocol == "" {
		return nil, nil, false
	}
	cg.Leader = first.ID
	for _, mid := range ids {
		m := g.members[mid]
		cg.Members = append(cg.Members, ClassicMember{ID: m.ID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost,
			RebalanceTimeout: m.RebalanceTimeout, SessionTimeout: m.Classic.SessionTimeout, Protocols: slices.Clone(m.Classic.Protocols),
			Assignment: classicAssignment(m, topics)})
	}
	recs = groupTombstones(g)
	delete(c.groups, id)
	return cg, recs, true
}

// DowngradeDue tells whether Downgrade of group id with leaving gone
// would convert it (the members all classic, the policy allowing it),
// without changing it.
func (c *Coordinator) DowngradeDue(id string, leaving ...string) bool {
	return c.downgradeDue(c.groups[id], leaving)
}

func (c *Coordinator) downgradeDue(g *Group, leaving []string) bool {
	if g == nil || !c.cfg.MigrationPolicy.downgrade() {
		return false
	}
	left := 0
	for _, m := range g.members {
		if slices.Contains(leaving, m.ID) {
			continue
		}
		if m.Classic == nil || len(m.Classic.Protocols) == 0 {
			return false
		}
		left++
	}
	return left > 0
}

// DueFences lists the members of group id that Tick would fence now.
func (c *Coordinator) DueFences(id string, now time.Time) []string {
	g := c.groups[id]
	if g == nil {
		return nil
	}
	var out []string
	for _, mid := range g.MemberIDs() {
		m := g.members[mid]
		expired := func(d time.Time) bool { return !d.IsZero() && !now.Before(d) }
		if expired(m.sessionDeadline) || (expired(m.rebalanceDeadline) && m.Epoch == m.rebalanceEpoch) || expired(m.joinDeadline) || expired(m.syncDeadline) {
			out = append(out, mid)
		}
	}
	return out
}

// groupTombstones are the tombstones of every record of g, in Kafka 4.4's
// order (ConsumerGroup.createGroupTombstoneRecords).
func groupTombstones(g *Group) []Record {
	var recs []Record
	ids := g.MemberIDs()
	for _, m := range ids {
		recs = append(recs, record(offsetsfmt.ConsumerGroupCurrentMemberAssignment, g.ID, m, "", nil))
	}
	for _, m := range ids {
		recs = append(recs, record(offsetsfmt.ConsumerGroupTargetAssignmentMember, g.ID, m, "", nil))
	}
	recs = append(recs, record(offsetsfmt.ConsumerGroupTargetAssignmentMetadata, g.ID, "", "", nil))
	for _, m := range ids {
		recs = append(recs, record(offsetsfmt.ConsumerGroupMemberMetadata, g.ID, m, "", nil))
	}
	for _, re := range slices.Sorted(maps.Keys(g.regexes)) {
		recs = append(recs, regexRecord(g.ID, re, nil, 0))
	}
	recs = append(recs, record(offsetsfmt.ConsumerGroupPartitionMetadata, g.ID, "", "", nil))
	recs = append(recs, record(offsetsfmt.ConsumerGroupMetadata, g.ID, "", "", nil))
	return recs
}
