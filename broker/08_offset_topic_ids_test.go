package broker_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/rewindtest"
)

// TestOffsetCommitFetchV10TopicIDs: OffsetCommit and OffsetFetch v10 name
// topics by id, as Kafka 4.4 serves them: a known id commits and fetches
// the topic's offsets (stored under its name: v9 by name reads them), an
// unknown id is UNKNOWN_TOPIC_ID for each of its partitions (in its place
// in the request's order, as Kafka), a partition the topic does not have UNKNOWN_TOPIC_OR_PARTITION,
// and every response topic carries its id, also in a fetch of all the
// group's offsets.
func TestOffsetCommitFetchV10TopicIDs(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "v10a", 2)
	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("v10a")
	md.Topics = []kmsg.MetadataRequestTopic{mt}
	mresp, err := md.RequestWith(ctx, cl)
	if err != nil || len(mresp.Topics) != 1 || mresp.Topics[0].ErrorCode != 0 {
		t.Fatalf("metadata: %v %+v", err, mresp)
	}
	id := mresp.Topics[0].TopicID
	unknown := [16]byte{0xde, 0xad, 0xbe, 0xef}

	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.Generation = "g-v10", -1
	for _, tt := range []struct {
		id    [16]byte
		parts []int32
	}{{id, []int32{0, 1, 9}}, {unknown, []int32{0}}} {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.TopicID = tt.id
		for _, p := range tt.parts {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = p, int64(5+p)
			rt.Partitions = append(rt.Partitions, rp)
		}
		commit.Topics = append(commit.Topics, rt)
	}
	cresp, err := commit.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if cresp.Version != 10 || len(cresp.Topics) != 2 {
		t.Fatalf("commit: v%d with %d topics, want v10 with 2", cresp.Version, len(cresp.Topics))
	}
	if u := cresp.Topics[1]; u.TopicID != unknown || len(u.Partitions) != 1 || u.Partitions[0].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("commit of an unknown topic id: %+v, want UNKNOWN_TOPIC_ID, second as in the request", u)
	}
	k := cresp.Topics[0]
	want := map[int32]int16{0: 0, 1: 0, 9: kerr.UnknownTopicOrPartition.Code}
	if k.TopicID != id || len(k.Partitions) != 3 {
		t.Fatalf("commit of v10a: %+v", k)
	}
	for _, p := range k.Partitions {
		if p.ErrorCode != want[p.Partition] {
			t.Errorf("commit of v10a/%d: %v, want %v", p.Partition, kerr.ErrorForCode(p.ErrorCode), kerr.ErrorForCode(want[p.Partition]))
		}
	}

	fetch := func(topics []kmsg.OffsetFetchRequestGroupTopic) kmsg.OffsetFetchResponseGroup {
		t.Helper()
		req := kmsg.NewPtrOffsetFetchRequest()
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group, g.Topics = "g-v10", topics
		req.Groups = []kmsg.OffsetFetchRequestGroup{g}
		resp, err := cl.Broker(0).Request(ctx, req) // as sent: kgo's sharder would fill in names
		if err != nil {
			t.Fatal(err)
		}
		fr := resp.(*kmsg.OffsetFetchResponse)
		if fr.Version != 10 || len(fr.Groups) != 1 || fr.Groups[0].ErrorCode != 0 {
			t.Fatalf("fetch: %+v", fr)
		}
		return fr.Groups[0]
	}
	g := fetch([]kmsg.OffsetFetchRequestGroupTopic{{TopicID: unknown, Partitions: []int32{0}}, {TopicID: id, Partitions: []int32{0, 1}}})
	if len(g.Topics) != 2 || g.Topics[0].TopicID != unknown || g.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code ||
		g.Topics[0].Partitions[0].Offset != -1 || g.Topics[0].Partitions[0].Metadata == nil || *g.Topics[0].Partitions[0].Metadata != "" {
		t.Fatalf("fetch by ids: %+v, want the unknown id first (as asked), UNKNOWN_TOPIC_ID at -1 with metadata \"\" (Kafka's, not null)", g.Topics)
	}
	checkKnown := func(what string, rt kmsg.OffsetFetchResponseGroupTopic) {
		t.Helper()
		if rt.TopicID != id || len(rt.Partitions) != 2 {
			t.Fatalf("%s: %+v", what, rt)
		}
		for _, p := range rt.Partitions {
			if p.ErrorCode != 0 || p.Offset != int64(5+p.Partition) {
				t.Errorf("%s: v10a/%d at %d (%v), want %d", what, p.Partition, p.Offset, kerr.ErrorForCode(p.ErrorCode), 5+p.Partition)
			}
		}
	}
	checkKnown("fetch by id", g.Topics[1])
	all := fetch(nil)
	if len(all.Topics) != 1 {
		t.Fatalf("fetch of all offsets: %+v", all.Topics)
	}
	checkKnown("fetch of all offsets", all.Topics[0])

	// Stored under the topic's name: v9 reads them by name.
	v9 := newClient(t, b.Addr(), kgo.MaxVersions(max9()))
	req := kmsg.NewPtrOffsetFetchRequest()
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = "g-v10"
	rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "v10a", Partitions: []int32{0, 1}}}
	req.Groups = []kmsg.OffsetFetchRequestGroup{rg}
	resp, err := req.RequestWith(ctx, v9)
	if err != nil || resp.Version != 9 || len(resp.Groups[0].Topics) != 1 {
		t.Fatalf("v9 fetch by name: %v %+v", err, resp)
	}
	for _, p := range resp.Groups[0].Topics[0].Partitions {
		if p.Offset != int64(5+p.Partition) {
			t.Errorf("v9 fetch of v10a/%d: %d, want %d", p.Partition, p.Offset, 5+p.Partition)
		}
	}
}
