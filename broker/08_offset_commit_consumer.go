package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/rewindhq/rewind/group"
	"github.com/rewindhq/rewind/group/assign"
	"github.com/rewindhq/rewind/group/consumer"
)

// OffsetCommit v9+ and OffsetFetch v9+ from the members of a
// consumer-protocol group (KIP-848): the classic coordinator stores and
// serves the offsets (groups.go, package group), and asks the consumer
// groups, through modernGroups, whether a group id is theirs and whether
// the member id and member epoch may commit or fetch, as Kafka 4.4's
// ConsumerGroup.validateOffsetCommit and validateOffsetFetch decide.

// modernGroups is the broker's group.ModernGroups (and ModernLister and
// ModernExpiry).
type modernGroups struct{ b *Broker }

var (
	_ group.ModernLister = modernGroups{}
	_ group.ModernExpiry = modernGroups{}
)

func (m modernGroups) CommitCheck(group, memberID string, instanceID *string, epoch int32, v int16, txn bool) (bool, int16, func(string, int32) int16) {
	if m.b.isShareGroup(group) {
		// A share group's id is not a classic group's: no offsets-only
		// group is made under it.
		return true, kerr.GroupIDNotFound.Code, nil
	}
	cg := &m.b.cgroups
	cg.mu.Lock()
	defer cg.mu.Unlock()
	if cg.c == nil {
		return false, 0, nil
	}
	cg.tickLocked(group, time.Now()) // a member whose session ended is gone
	g := cg.c.Group(group)
	if g == nil {
		return false, 0, nil
	}
	code, check := g.ValidateOffsetCommit(memberID, instanceID, epoch, v, txn)
	if code != 0 || check == nil {
		return true, code, nil
	}
	// The check reads the member as it is now; it runs at once, on the
	// caller's goroutine, before the commit is appended.
	return true, 0, func(topic string, p int32) int16 {
		meta, _ := m.b.topicMeta(topic) // an unknown topic was refused before
		cg.mu.Lock()
		defer cg.mu.Unlock()
		return check(assign.TopicID(meta.ID), p)
	}
}

func (m modernGroups) FetchCheck(group string, memberID *string, epoch int32) (bool, int16) {
	cg := &m.b.cgroups
	cg.mu.Lock()
	defer cg.mu.Unlock()
	if cg.c == nil {
		return false, 0
	}
	cg.tickLocked(group, time.Now())
	g := cg.c.Group(group)
	if g == nil {
		return false, 0
	}
	return true, g.ValidateOffsetFetch(memberID, epoch)
}

// SubscribedTo keeps a consumer group's offsets of the topics its members
// subscribe to from expiring (group.ModernExpiry).
func (m modernGroups) SubscribedTo(group, topic string) bool {
	cg := &m.b.cgroups
	cg.mu.Lock()
	defer cg.mu.Unlock()
	if cg.c == nil {
		return false
	}
	g := cg.c.Group(group)
	return g != nil && g.SubscribedTo(topic)
}

// ListGroups, DescribeGroups and DeleteGroups of consumer-protocol
// groups (group.ModernLister).

func (m modernGroups) ModernGroups() []group.ModernGroupInfo {
	cg := &m.b.cgroups
	cg.mu.Lock()
	defer cg.mu.Unlock()
	if cg.c == nil {
		return nil
	}
	now := time.Now()
	var out []group.ModernGroupInfo
	for _, id := range cg.c.GroupIDs() {
		cg.tickLocked(id, now)
		if cg.c.Group(id) == nil {
			continue
		}
		out = append(out, group.ModernGroupInfo{Name: id, State: string(cg.c.Group(id).State())})
	}
	return append(out, m.b.shareGroupInfos()...)
}

func (m modernGroups) IsModern(id string) bool {
	if m.b.isShareGroup(id) {
		return true
	}
	cg := &m.b.cgroups
	cg.mu.Lock()
	defer cg.mu.Unlock()
	return cg.c != nil && cg.c.Group(id) != nil
}

func (m modernGroups) CheckDelete(id string) int16 {
	if m.b.isShareGroup(id) {
		return m.b.deleteShareGroup(id, true)
	}
	cg := &m.b.cgroups
	cg.mu.Lock()
	defer cg.mu.Unlock()
	if cg.c == nil || cg.c.Group(id) == nil {
		return kerr.GroupIDNotFound.Code
	}
	cg.tickLocked(id, time.Now())
	if g := cg.c.Group(id); g != nil && g.State() != consumer.StateEmpty {
		return kerr.NonEmptyGroup.Code
	}
	return 0
}
