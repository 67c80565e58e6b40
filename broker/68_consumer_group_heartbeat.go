package broker

import (
	"hash/fnv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/catalog"
	"github.com/rewindhq/rewind/group"
	"github.com/rewindhq/rewind/group/assign"
	"github.com/rewindhq/rewind/group/consumer"
	"github.com/rewindhq/rewind/offsetsfmt"
)

// ConsumerGroupHeartbeat: v0-1 (KIP-848, Kafka 4's consumer group
// protocol; v1: the client makes its member id and may subscribe by
// regex). Served by package group/consumer, which answers as Kafka 4.4's
// group coordinator: epochs, server-side assignment (uniform, range),
// reconciliation, static membership and Kafka's error codes. Every change
// is written to __consumer_offsets in Kafka's consumer-group records and
// answered once durable (consumer_groups.go). Their offsets are committed
// and fetched at member epochs through the classic coordinator's offsets
// store (08_offset_commit_consumer.go).

func init() { regKey(68, 0, 1, handleConsumerGroupHeartbeat) }

func handleConsumerGroupHeartbeat(r *request) (reply, error) {
	req := r.kreq.(*kmsg.ConsumerGroupHeartbeatRequest)
	if r.c.b.isShareGroup(req.Group) {
		resp := heartbeatError(req, kerr.GroupIDNotFound)
		resp.ErrorMessage = kmsg.StringPtr("Group " + req.Group + " is not a consumer group.")
		return now(resp)
	}
	ct := newConsumerTopics(r.c.b.reg.list())
	var topics consumer.Topics = ct
	if a := r.c.b.sec.authz; a != nil {
		topics = &describableTopics{consumerTopics: ct, r: r, gen: a.Generation()}
	}
	cg := &r.c.b.cgroups
	// Exclusive: this heartbeat may convert the group between the
	// protocols (consumer_groups_classic.go).
	cg.migrate.Lock()
	defer cg.migrate.Unlock()
	from := cg.upgradeSource(req.Group)
	cg.mu.Lock()
	c := cg.coordinator()
	if cg.unavailable(cg.partition(req.Group)) {
		cg.mu.Unlock()
		return now(heartbeatError(req, kerr.NotCoordinator))
	}
	at := time.Now()
	cg.tickLocked(req.Group, at)
	var resp *kmsg.ConsumerGroupHeartbeatResponse
	var downgraded *consumer.ClassicGroup
	var pend group.Pending
	var err error
	if g := c.Group(req.Group); g != nil && req.MemberEpoch == consumer.LeaveEpoch && c.DowngradeDue(req.Group, req.MemberID) {
		// The last consumer-protocol member leaves a group of classic
		// members: instead of the leave, the group goes back to the
		// classic protocol at its epoch (Kafka's consumerGroupFenceMember).
		if m := g.Member(req.MemberID); m != nil && (req.InstanceID == nil || *req.InstanceID == m.InstanceID) &&
			c.Config().Validate(req) == nil {
			if downgraded, pend = cg.downgradeLocked(req.Group, []string{req.MemberID}, topics); downgraded != nil {
				resp = kmsg.NewPtrConsumerGroupHeartbeatResponse()
				resp.Version, resp.MemberID, resp.MemberEpoch = req.Version, kmsg.StringPtr(req.MemberID), req.MemberEpoch
			}
		}
	}
	upgraded := false
	if downgraded == nil {
		pend, err = cg.change(req.Group, func() ([]consumer.Record, bool) {
			var recs []consumer.Record
			resp, recs = c.HeartbeatFrom(at, clientOf(r), req, topics, from)
			if resp.ErrorCode != 0 {
				return nil, true
			}
			if from != nil && c.Group(req.Group) != nil {
				// The classic group ends in the same batch as the consumer
				// group begins.
				upgraded = true
				t := group.GroupTombstone(req.Group, at)
				recs = append([]consumer.Record{{Key: t.Key}}, recs...)
			}
			return recs, false
		})
	}
	cg.mu.Unlock()
	if err != nil {
		return now(heartbeatError(req, offsetsfmt.AppendError(err)))
	}
	if upgraded {
		cg.b.grp.DropMembers(req.Group)
		cg.b.log.Info("classic group upgraded to the consumer protocol", "group", req.Group, "generation", from.Generation, "classic_members", len(from.Members))
	}
	if downgraded != nil {
		cg.b.grp.InstallMembers(downgraded)
	}
	if pend == nil {
		return now(resp)
	}
	ctx := r.c.ctx
	return reply{later: func() (kmsg.Response, error) {
		if err := cg.wait(ctx, req.Group, pend); err != nil {
			return heartbeatError(req, offsetsfmt.AppendError(err)), nil
		}
		return resp, nil
	}}, nil
}

// heartbeatError is a heartbeat answered with a coordinator error.
func heartbeatError(req *kmsg.ConsumerGroupHeartbeatRequest, e *kerr.Error) *kmsg.ConsumerGroupHeartbeatResponse {
	resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	resp.Version = req.Version
	resp.ErrorCode = e.Code
	return resp
}

// consumerTopics is the topics a consumer group can subscribe to: the
// published topics but the internal ones, as Kafka's regex resolution
// skips them.
type consumerTopics struct {
	byName  map[string]catalog.Topic
	names   []string
	version int64
}

func newConsumerTopics(list []catalog.Topic) *consumerTopics {
	t := &consumerTopics{byName: make(map[string]catalog.Topic, len(list))}
	h := fnv.New64a()
	for _, m := range list { // sorted by name
		if m.Internal {
			continue
		}
		t.byName[m.Name] = m
		t.names = append(t.names, m.Name)
		h.Write([]byte(m.Name))
		h.Write(m.ID[:])
		h.Write([]byte{byte(m.Partitions >> 24), byte(m.Partitions >> 16), byte(m.Partitions >> 8), byte(m.Partitions), 0})
	}
	// The version only has to change when a topic appears, goes or grows.
	t.version = int64(h.Sum64())
	return t
}

func (t *consumerTopics) Lookup(name string) (assign.TopicID, int32, bool) {
	m, ok := t.byName[name]
	return assign.TopicID(m.ID), m.Partitions, ok
}

func (t *consumerTopics) Names() []string { return t.names }
func (t *consumerTopics) Version() int64  { return t.version }

// describableTopics resolves regex subscriptions to the topics the
// heartbeat's principal may DESCRIBE (consumer.DescribeFilter), and
// resolves them again when the ACLs change.
type describableTopics struct {
	*consumerTopics
	r   *request
	gen uint64
}

func (t *describableTopics) Describable(name string) bool {
	return t.r.allowedTopic(kmsg.ACLOperationDescribe, name)
}

func (t *describableTopics) Version() int64 {
	return t.consumerTopics.version ^ int64(t.gen*0x9e3779b97f4a7c15)
}
