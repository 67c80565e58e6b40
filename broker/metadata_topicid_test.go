package broker_test

import (
	"testing"
	"time"

	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Java's AdminClient.describeTopics(TopicCollection.ofTopicIds(...)) sends
// Metadata v12+ with topic ids and null names; Kafka answers each known id
// with the topic by name and an unknown one with UNKNOWN_TOPIC_ID.
func TestMetadataByTopicID(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "by-id", 3)

	all := kmsg.NewPtrMetadataRequest()
	resp, err := all.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	var id [16]byte
	for _, mt := range resp.Topics {
		if deref(mt.Topic) == "by-id" {
			id = mt.TopicID
		}
	}
	if id == ([16]byte{}) {
		t.Fatalf("no topic id for by-id in %+v", resp.Topics)
	}

	unknown := [16]byte{1, 2, 3}
	req := kmsg.NewPtrMetadataRequest()
	for _, want := range [][16]byte{id, unknown} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.TopicID = want
		req.Topics = append(req.Topics, rt)
	}
	req.AllowAutoTopicCreation = true
	resp, err = req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Version < 12 {
		t.Fatalf("Metadata v%d: topic ids need v12+", resp.Version)
	}
	if len(resp.Topics) != 2 {
		t.Fatalf("%d topics in the response, want 2: %+v", len(resp.Topics), resp.Topics)
	}
	for _, mt := range resp.Topics {
		switch mt.TopicID {
		case id:
			if err := kerr.ErrorForCode(mt.ErrorCode); err != nil || deref(mt.Topic) != "by-id" || len(mt.Partitions) != 3 {
				t.Fatalf("by id: error %v, name %q, %d partitions; want by-id with 3 partitions", err, deref(mt.Topic), len(mt.Partitions))
			}
		case unknown:
			if mt.ErrorCode != kerr.UnknownTopicID.Code || mt.Topic != nil {
				t.Fatalf("unknown id: error %v, name %v; want UNKNOWN_TOPIC_ID and no name", kerr.ErrorForCode(mt.ErrorCode), mt.Topic)
			}
		default:
			t.Fatalf("topic id %x in the response was not asked for", mt.TopicID)
		}
	}
}
