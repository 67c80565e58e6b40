package broker

import (
	"errors"

	"github.com/rewindhq/rewind/catalog"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Metadata: v0-13
//
// One broker (--node-id) that leads every partition, is its only replica and
// its whole ISR, and is the controller.
//
// Version notes:
//   - v0: an empty topic list means all topics; v1+: null means all, empty none.
//   - v0-3 always allow auto-creation; v4+ honour AllowAutoTopicCreation.
//     Auto-creation also needs --auto-create-topics; it is synchronous, so
//     the response that creates a topic already describes it.
//   - v10+: topic ids. v12 no longer allows lookups by topic id alone here.
//   - v8+: IncludeTopicAuthorizedOperations, and (v8-10)
//     IncludeClusterAuthorizedOperations, fill the authorized-operations
//     bit fields: with an authorizer the principal's (checkMetadata),
//     without one every operation, as Kafka's AuthHelper answers without
//     an authorizer.
//   - v13: a top-level error code (KIP-1102, REBOOTSTRAP_REQUIRED for a
//     client whose metadata is from another cluster): always 0 here.
//
// A request auto-creates at most autoCreatePerRequest topics: each costs a
// catalog write and its partitions' files, so a request of a few MiB of
// new names would otherwise keep the broker creating topics for hours.
// Further new names get LEADER_NOT_AVAILABLE, Kafka's answer for a topic
// whose auto-creation is under way, which clients retry.
//
// Auto-creation is charged to the client's controller mutation quota
// (quota_mutation.go) strictly, as Kafka's broker forwards it to its
// controller as a CreateTopics of the latest version on the client's
// behalf: a topic met with the quota exhausted is not created and is
// answered UNKNOWN_TOPIC_OR_PARTITION (the client retries), and the
// Metadata response is not throttled for it.
//
// As Kafka (a Set of the names asked, and of the topic ids), each topic is
// answered once however often it is named. The response is reserved in
// --max-response-memory (respmem.go) before it is built; one that alone
// would exceed it closes the connection (the response has no top-level
// error code).

func init() { regKey(3, 0, 13, handleMetadata) }

// autoCreatePerRequest is the most topics one Metadata request creates.
const autoCreatePerRequest = 100

func handleMetadata(r *request) (reply, error) {
	b := r.c.b
	req := r.kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)

	br := kmsg.NewMetadataResponseBroker()
	br.NodeID, br.Host, br.Port = r.c.b.cfg.NodeID, r.c.advHost(), r.c.advPort()
	resp.Brokers = []kmsg.MetadataResponseBroker{br}
	cid := b.reg.cat.ClusterID()
	resp.ClusterID = &cid
	resp.ControllerID = r.c.b.cfg.NodeID

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		topics := b.reg.list()
		var n respSize
		for _, t := range topics {
			n.metadataTopic(t.Name, t.Partitions)
		}
		if err := r.reserveResponse("Metadata", n); err != nil {
			return reply{}, err
		}
		resp.Topics = make([]kmsg.MetadataResponseTopic, 0, len(topics))
		for _, t := range topics {
			resp.Topics = append(resp.Topics, metadataTopic(t, r.c.b.cfg.NodeID))
		}
		openOperations(req, resp, r.c.b.sec.authz == nil)
		return now(resp)
	}
	// Not on a full disk (diskspace.go): the topic is reported unknown.
	autoCreate := b.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation) && b.disk.writable() == nil
	req.Topics = dedupMetadataTopics(req.Topics)
	byID := resolveMetadataTopicIDs(b, req.Topics)
	var n respSize
	n.set(len(req.Topics))
	for _, rt := range req.Topics {
		parts := int32(0)
		if rt.Topic != nil {
			if t, ok := b.topicMeta(*rt.Topic); ok {
				parts = t.Partitions
			} else if autoCreate {
				parts = b.cfg.DefaultPartitions
			}
			n.metadataTopic(*rt.Topic, parts)
		} else {
			n.metadataTopic("", 0)
		}
	}
	if err := r.reserveResponse("Metadata", n); err != nil {
		return reply{}, err
	}
	resp.Topics = make([]kmsg.MetadataResponseTopic, 0, len(req.Topics))
	created := 0
	var mq *mutationQuota
	if autoCreate {
		mq = r.mutationQuota(0)
	}
	for i, rt := range req.Topics {
		if rt.Topic == nil || *rt.Topic == "" {
			mt := kmsg.NewMetadataResponseTopic()
			mt.TopicID = rt.TopicID
			mt.ErrorCode = kerr.UnknownTopicID.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		name := *rt.Topic
		t, ok := b.topicMeta(name)
		code := kerr.UnknownTopicOrPartition.Code
		switch {
		case !ok && byID[i]:
			// Deleted since its id was resolved: still unknown by id, and
			// never auto-created.
			mt := kmsg.NewMetadataResponseTopic()
			mt.TopicID = rt.TopicID
			mt.ErrorCode = kerr.UnknownTopicID.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		case !ok && autoCreate && created == autoCreatePerRequest:
			// Enough creations for one request: the rest are answered as
			// Kafka answers a topic whose creation is under way, and the
			// client's next Metadata creates them.
			if catalog.ValidateTopicName(name) == nil {
				code = kerr.LeaderNotAvailable.Code
			}
		case !ok && autoCreate:
			var err error
			t, err = b.reg.create(name, b.cfg.DefaultPartitions, nil, false, false, mq.admit)
			if err == nil {
				created++
			}
			ok = err == nil || errors.Is(err, catalog.ErrTopicExists)
			switch {
			case errors.Is(err, catalog.ErrTopicExists):
				t, ok = b.topicMeta(name)
			case errors.Is(err, errMutationQuota):
				// Not created, as Kafka's controller refuses it:
				// unknown until the quota allows it.
			case errors.Is(err, errPartitionLimit), errors.Is(err, storage.ErrStorage):
				// As Kafka's Metadata answered an auto-creation its
				// policy refused: with the creation's own error, which
				// the client reports instead of retrying an unknown
				// topic until it times out.
				code, _ = catalogErrorCode(err)
				b.storageErrs.warn("auto-create topic failed", "topic", name, "err", err)
			case err != nil && !errors.Is(err, catalog.ErrInvalidTopic):
				b.log.Error("auto-create topic failed", "topic", name, "err", err)
			}
		}
		if !ok {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = kmsg.StringPtr(name)
			mt.ErrorCode = code
			if catalog.ValidateTopicName(name) != nil {
				mt.ErrorCode = kerr.InvalidTopicException.Code
			}
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, metadataTopic(t, r.c.b.cfg.NodeID))
	}
	openOperations(req, resp, r.c.b.sec.authz == nil)
	return now(resp)
}

// openOperations fills the authorized-operations bit fields asked for
// when no authorizer runs: everything is allowed. With one, checkMetadata
// fills them with the principal's.
func openOperations(req *kmsg.MetadataRequest, resp *kmsg.MetadataResponse, open bool) {
	if !open || req.Version < 8 {
		return
	}
	if req.IncludeTopicAuthorizedOperations {
		var all int32
		for _, op := range topicOperations {
			all |= 1 << op
		}
		for i := range resp.Topics {
			resp.Topics[i].AuthorizedOperations = all
		}
	}
	if req.Version <= 10 && req.IncludeClusterAuthorizedOperations {
		var all int32
		for _, op := range clusterOperations {
			all |= 1 << op
		}
		resp.AuthorizedOperations = all
	}
}

func metadataTopic(t catalog.Topic, node int32) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = kmsg.StringPtr(t.Name)
	mt.TopicID = t.ID
	mt.IsInternal = t.Internal
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, t.Partitions)
	// Every partition has the same single replica: one slice, only read
	// by the encoder, serves them all.
	only := []int32{node}
	for p := range mt.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = int32(p)
		mp.Leader = node
		mp.LeaderEpoch = 0
		mp.Replicas = only
		mp.ISR = only
		mp.OfflineReplicas = []int32{}
		mt.Partitions[p] = mp
	}
	return mt
}

// metadataTopic adds a topic of parts partitions to a Metadata response's
// size.
func (s *respSize) metadataTopic(name string, parts int32) {
	s.elems(1, sizeOf[kmsg.MetadataResponseTopic](), 40) // error, id, flags, lengths, tags
	s.str(len(name))
	s.elems(int(parts), sizeOf[kmsg.MetadataResponseTopicPartition](), 48)
}

// resolveMetadataTopicIDs names the topics asked for by id only (Metadata
// v12+: AdminClient.describeTopics(TopicCollection.ofTopicIds(...))), as
// Kafka resolves them from its metadata cache, and reports which entries it
// named. An unknown id keeps no name and is answered UNKNOWN_TOPIC_ID.
func resolveMetadataTopicIDs(b *Broker, ts []kmsg.MetadataRequestTopic) map[int]bool {
	var byID map[int]bool
	var idName map[[16]byte]string
	for i := range ts {
		if (ts[i].Topic != nil && *ts[i].Topic != "") || ts[i].TopicID == ([16]byte{}) {
			continue
		}
		if idName == nil {
			idName = make(map[[16]byte]string)
			for _, t := range b.reg.list() {
				idName[t.ID] = t.Name
			}
			byID = make(map[int]bool)
		}
		if name, ok := idName[ts[i].TopicID]; ok {
			ts[i].Topic = kmsg.StringPtr(name)
			byID[i] = true
		}
	}
	return byID
}

// dedupMetadataTopics keeps the first request of each topic, by name, or
// by id for entries without a name.
func dedupMetadataTopics(ts []kmsg.MetadataRequestTopic) []kmsg.MetadataRequestTopic {
	if len(ts) < 2 {
		return ts
	}
	names := make(map[string]struct{}, min(len(ts), 1024))
	ids := make(map[[16]byte]struct{})
	out := ts[:0]
	for _, t := range ts {
		if t.Topic != nil && *t.Topic != "" {
			if _, dup := names[*t.Topic]; dup {
				continue
			}
			names[*t.Topic] = struct{}{}
		} else {
			if _, dup := ids[t.TopicID]; dup {
				continue
			}
			ids[t.TopicID] = struct{}{}
		}
		out = append(out, t)
	}
	clear(ts[len(out):])
	return out
}
