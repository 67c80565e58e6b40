package proctest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ProduceTopicIDs fills the topic id of every topic of req from a Metadata
// request on cl. kgo sends a hand-built ProduceRequest at the newest
// version both sides serve, and from v13 (Kafka 4.x, KIP-516) topics are
// sent by id only: a request naming its topics by name alone reaches the
// broker with no topic and is answered UNKNOWN_TOPIC_ID. A topic the
// broker does not know keeps the zero id (and gets that answer).
func ProduceTopicIDs(ctx context.Context, cl *kgo.Client, req *kmsg.ProduceRequest) error {
	names := make([]string, len(req.Topics))
	for i, rt := range req.Topics {
		names[i] = rt.Topic
	}
	ids, err := topicIDs(ctx, cl, names)
	for i := range req.Topics {
		req.Topics[i].TopicID = ids[req.Topics[i].Topic]
	}
	return err
}

// FetchTopicIDs is ProduceTopicIDs for a hand-built FetchRequest, which
// kgo also sends at the broker's highest version (v13+ names topics by
// id).
func FetchTopicIDs(ctx context.Context, cl *kgo.Client, req *kmsg.FetchRequest) error {
	names := make([]string, len(req.Topics))
	for i, rt := range req.Topics {
		names[i] = rt.Topic
	}
	ids, err := topicIDs(ctx, cl, names)
	for i := range req.Topics {
		req.Topics[i].TopicID = ids[req.Topics[i].Topic]
	}
	return err
}

// OffsetFetchTopicIDs is ProduceTopicIDs for a hand-built
// OffsetFetchRequest, which kgo also sends at the broker's highest version
// (v10 names topics by id).
func OffsetFetchTopicIDs(ctx context.Context, cl *kgo.Client, req *kmsg.OffsetFetchRequest) error {
	var names []string
	for _, g := range req.Groups {
		for _, rt := range g.Topics {
			names = append(names, rt.Topic)
		}
	}
	ids, err := topicIDs(ctx, cl, names)
	for gi := range req.Groups {
		for ti := range req.Groups[gi].Topics {
			req.Groups[gi].Topics[ti].TopicID = ids[req.Groups[gi].Topics[ti].Topic]
		}
	}
	return err
}

// topicIDs asks Metadata for the ids of the named topics.
func topicIDs(ctx context.Context, cl *kgo.Client, names []string) (map[string][16]byte, error) {
	md := kmsg.NewPtrMetadataRequest()
	for _, name := range names {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(name)
		md.Topics = append(md.Topics, mt)
	}
	resp, err := md.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("metadata for the topic ids: %w", err)
	}
	ids := map[string][16]byte{}
	for _, t := range resp.Topics {
		if t.Topic != nil && t.ErrorCode == 0 {
			ids[*t.Topic] = t.TopicID
		}
	}
	return ids, nil
}
