package differential

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestOffsetCommitFetchV10: OffsetCommit and OffsetFetch v10 name topics
// by id (each broker's own): a known topic's partitions, one it does not
// have, and an id no topic has; then OffsetFetch of those ids and of all
// the group's offsets.
func TestOffsetCommitFetchV10(t *testing.T) {
	p := newPair(t)
	tp := name("ov10")
	p.mustCreate(tp, 2)
	ids := p.topicIDs(tp)
	group := name("g-ov10")
	unknown := [16]byte{0xde, 0xad, 0xbe, 0xef}
	if _, hi, ok := p.common(kmsg.NewPtrOffsetCommitRequest()); !ok || hi < 10 {
		t.Skipf("OffsetCommit v10 is not served by both (up to v%d)", hi)
	}
	commit := func(i int) kmsg.Request {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = group, -1
		for _, tt := range []struct {
			id    [16]byte
			parts []int32
		}{{ids[i][tp], []int32{0, 1, 5}}, {unknown, []int32{0}}} {
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.TopicID = tt.id
			for _, part := range tt.parts {
				rp := kmsg.NewOffsetCommitRequestTopicPartition()
				rp.Partition, rp.Offset = part, int64(3+part)
				rp.Metadata = kmsg.StringPtr("m")
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		return req
	}
	p.compareEach("OffsetCommit/v10 by topic id", commit(0), commit(1))
	fetch := func(i int, all bool) kmsg.Request {
		req := kmsg.NewPtrOffsetFetchRequest()
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group = group
		if !all {
			g.Topics = []kmsg.OffsetFetchRequestGroupTopic{{TopicID: ids[i][tp], Partitions: []int32{0, 1}}, {TopicID: unknown, Partitions: []int32{0}}}
		}
		req.Groups = []kmsg.OffsetFetchRequestGroup{g}
		return req
	}
	p.compareEach("OffsetFetch/v10 by topic id", fetch(0, false), fetch(1, false))
	p.compareEach("OffsetFetch/v10 all topics", fetch(0, true), fetch(1, true))
}
