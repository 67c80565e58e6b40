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
//     partitions (OffsetFetch: committed offset -1, metadata ""), those
//     topics first in the response, as Kafka's builder adds them before
//     the coordinator's answer;
//   - an OffsetFetch v10 of all a group's offsets leaves out the topics
//     that no longer exist (they have no id to be named by).

// resolveCommitTopicIDs fills in the names of a v10 OffsetCommit's
// topics and takes out those whose id is unknown, returning their
// response topics.
func (b *Broker) resolveCommitTopicIDs(req *kmsg.OffsetCommitRequest) []kmsg.OffsetCommitResponseTopic {
	if req.Version < 10 {
		return nil
	}
	var unknown []kmsg.OffsetCommitResponseTopic
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
			unknown = append(unknown, rt)
			continue
		}
		t.Topic = name
		kept = append(kept, t)
	}
	req.Topics = kept
	return unknown
}

// commitTopicIDs gives a v10 OffsetCommit response's topics their ids,
// after the unknown ones.
func (b *Broker) commitTopicIDs(resp *kmsg.OffsetCommitResponse, unknown []kmsg.OffsetCommitResponseTopic) {
	if resp.Version < 10 {
		return
	}
	for i := range resp.Topics {
		if m, ok := b.topicMeta(resp.Topics[i].Topic); ok {
			resp.Topics[i].TopicID = m.ID
		}
	}
	if len(unknown) > 0 {
		resp.Topics = append(unknown, resp.Topics...)
	}
}

// resolveFetchTopicIDs fills in the names of a v10 OffsetFetch's topics
// and takes out those whose id is unknown, returning their response
// topics by group name.
func (b *Broker) resolveFetchTopicIDs(req *kmsg.OffsetFetchRequest) map[string][]kmsg.OffsetFetchResponseGroupTopic {
	if req.Version < 10 {
		return nil
	}
	var unknown map[string][]kmsg.OffsetFetchResponseGroupTopic
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
					unknown = map[string][]kmsg.OffsetFetchResponseGroupTopic{}
				}
				unknown[g.Group] = append(unknown[g.Group], rt)
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
// drops those of deleted topics, and puts the unknown ones first, for
// each group answered without a group error.
func (b *Broker) fetchTopicIDs(resp *kmsg.OffsetFetchResponse, unknown map[string][]kmsg.OffsetFetchResponseGroupTopic) {
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
		g.Topics = kept
		if u := unknown[g.Group]; len(u) > 0 {
			g.Topics = append(u, g.Topics...)
		}
	}
}
