package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit v10 and OffsetFetch v10 (Kafka 4.2+, KIP-848) name topics
// by id instead of name. As Kafka 4.4's KafkaApis does, the broker
// resolves the ids to names before the coordinator sees the request (the
// offsets are stored under the topic name, in OffsetCommitKey, as
// before), and gives every response topic its id:
//
//   - a topic id that names no topic is UNKNOWN_TOPIC_ID for each of its
//     partitions (OffsetFetch: committed offset -1, metadata ""), in its
//     place in the request's order, as Kafka 4.4 answers (test/differential
//     TestOffsetCommitFetchV10);
//   - an OffsetFetch v10 of all a group's offsets leaves out the topics
//     that no longer exist (they have no id to be named by).

// unknownTopics are the response topics of a request's unknown topic
// ids, each with how many known topics came before it in the request.
type unknownTopics[T any] struct {
	topics []T
	before []int
}

func (u *unknownTopics[T]) add(t T, known int) {
	u.topics = append(u.topics, t)
	u.before = append(u.before, known)
}

// merge puts the unknown topics among the known ones' answers, in the
// request's order.
func (u *unknownTopics[T]) merge(known []T) []T {
	if u == nil || len(u.topics) == 0 {
		return known
	}
	out := make([]T, 0, len(known)+len(u.topics))
	k := 0
	for i, t := range u.topics {
		for k < u.before[i] && k < len(known) {
			out = append(out, known[k])
			k++
		}
		out = append(out, t)
	}
	return append(out, known[k:]...)
}

// resolveCommitTopicIDs fills in the names of a v10 OffsetCommit's
// topics and takes out those whose id is unknown, returning their
// response topics.
func (b *Broker) resolveCommitTopicIDs(req *kmsg.OffsetCommitRequest) *unknownTopics[kmsg.OffsetCommitResponseTopic] {
	if req.Version < 10 {
		return nil
	}
	unknown := &unknownTopics[kmsg.OffsetCommitResponseTopic]{}
	kept := req.Topics[:0]
	for _, t := range req.Topics {
		name, ok := b.reg.byID(t.TopicID)
		if !ok {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, kerr.UnknownTopicID.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			unknown.add(rt, len(kept))
			continue
		}
		t.Topic = name
		kept = append(kept, t)
	}
	req.Topics = kept
	return unknown
}

// commitTopicIDs gives a v10 OffsetCommit response's topics their ids,
// the unknown ones in their places.
func (b *Broker) commitTopicIDs(resp *kmsg.OffsetCommitResponse, unknown *unknownTopics[kmsg.OffsetCommitResponseTopic]) {
	if resp.Version < 10 {
		return
	}
	for i := range resp.Topics {
		if m, ok := b.topicMeta(resp.Topics[i].Topic); ok {
			resp.Topics[i].TopicID = m.ID
		}
	}
	resp.Topics = unknown.merge(resp.Topics)
}

// resolveFetchTopicIDs fills in the names of a v10 OffsetFetch's topics
// and takes out those whose id is unknown, returning their response
// topics by group name.
func (b *Broker) resolveFetchTopicIDs(req *kmsg.OffsetFetchRequest) map[string]*unknownTopics[kmsg.OffsetFetchResponseGroupTopic] {
	if req.Version < 10 {
		return nil
	}
	var unknown map[string]*unknownTopics[kmsg.OffsetFetchResponseGroupTopic]
	for gi := range req.Groups {
		g := &req.Groups[gi]
		if g.Topics == nil {
			continue // all the group's offsets
		}
		kept := g.Topics[:0]
		for _, t := range g.Topics {
			name, ok := b.reg.byID(t.TopicID)
			if !ok {
				rt := kmsg.NewOffsetFetchResponseGroupTopic()
				rt.TopicID = t.TopicID
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					rp.Partition, rp.Offset, rp.ErrorCode = p, -1, kerr.UnknownTopicID.Code
					rp.Metadata = kmsg.StringPtr("") // Kafka's default, not null
					rt.Partitions = append(rt.Partitions, rp)
				}
				if unknown == nil {
					unknown = map[string]*unknownTopics[kmsg.OffsetFetchResponseGroupTopic]{}
				}
				if unknown[g.Group] == nil {
					unknown[g.Group] = &unknownTopics[kmsg.OffsetFetchResponseGroupTopic]{}
				}
				unknown[g.Group].add(rt, len(kept))
				continue
			}
			t.Topic = name
			kept = append(kept, t)
		}
		g.Topics = kept
	}
	return unknown
}

// fetchTopicIDs gives a v10 OffsetFetch response's topics their ids,
// drops those of deleted topics, and puts the unknown ones in their
// places, for each group answered without a group error.
func (b *Broker) fetchTopicIDs(resp *kmsg.OffsetFetchResponse, unknown map[string]*unknownTopics[kmsg.OffsetFetchResponseGroupTopic]) {
	if resp.Version < 10 {
		return
	}
	for gi := range resp.Groups {
		g := &resp.Groups[gi]
		if g.ErrorCode != 0 {
			continue
		}
		kept := g.Topics[:0]
		for _, t := range g.Topics {
			m, ok := b.topicMeta(t.Topic)
			if !ok {
				continue // committed for a topic that is gone: it has no id
			}
			t.TopicID = m.ID
			kept = append(kept, t)
		}
		g.Topics = unknown[g.Group].merge(kept)
	}
}
