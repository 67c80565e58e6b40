package differential

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConsumerGroupOffsets: OffsetCommit and OffsetFetch v9 of a
// consumer-protocol group's member (unknown member, newer and older
// member epochs, v8 from such a member, an unknown group), and the
// classic group APIs on that group (DescribeGroups v5-6, DeleteGroups
// with a member and once Empty), compared answer by answer.
func TestConsumerGroupOffsets(t *testing.T) {
	p := newPair(t)
	if _, hi, ok := p.common(kmsg.NewPtrOffsetCommitRequest()); !ok || hi < 9 {
		t.Fatal("OffsetCommit v9 is not served by both brokers")
	}
	topic := "cgo" + suffix
	p.mustCreate(topic, 1)
	p.waitGroupsSee(topic)
	g := "cgo-g" + suffix
	sc := "ConsumerGroupOffsets"
	join := cgStep{"join", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
		return joinReq(g, "a", topic)
	}}
	r := p.heartbeatBoth(sc, [2]map[string][16]byte{}, join)
	epoch := r[0].MemberEpoch
	if r[1].MemberEpoch != epoch {
		t.Fatalf("the brokers joined a at epochs %d and %d", epoch, r[1].MemberEpoch)
	}

	commit := func(group, member string, epoch int32) *kmsg.OffsetCommitRequest {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.MemberID, req.Generation = group, member, epoch
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset = 3
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return req
	}
	for _, c := range []struct {
		name string
		req  *kmsg.OffsetCommitRequest
		v    int16
	}{
		{"unknown member", commit(g, "nobody", epoch), 9},
		{"newer epoch", commit(g, "a", epoch+1), 9},
		{"older epoch", commit(g, "a", epoch-1), 9},
		{"no member, epoch -1", commit(g, "", -1), 9},
		{"v8 from a member", commit(g, "a", epoch), 8},
		{"unknown group", commit("cgo-none"+suffix, "a", 3), 9},
		{"unknown group v8", commit("cgo-none"+suffix, "a", 3), 8},
		{"member at its epoch", commit(g, "a", epoch), 9},
	} {
		p.compare(sc+"/"+c.name, c.req, c.v, nil)
	}

	fetch := func(member *string, epoch int32) *kmsg.OffsetFetchRequest {
		req := kmsg.NewPtrOffsetFetchRequest()
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group, rg.MemberID, rg.MemberEpoch = g, member, epoch
		rt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic, rt.Partitions = topic, []int32{0}
		rg.Topics = append(rg.Topics, rt)
		req.Groups = append(req.Groups, rg)
		return req
	}
	for _, c := range []struct {
		name   string
		member *string
		epoch  int32
	}{
		{"fetch unknown member", strp("nobody"), epoch},
		{"fetch newer epoch", strp("a"), epoch + 1},
		{"fetch older epoch", strp("a"), epoch - 1},
		{"fetch member", strp("a"), epoch},
		{"fetch admin", nil, -1},
	} {
		p.compare(sc+"/"+c.name, fetch(c.member, c.epoch), 9, nil)
	}

	for _, v := range []int16{5, 6} {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Groups = []string{g}
		p.compare(sc+"/describe", req, v, nil)
	}
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{g}
	p.compare(sc+"/delete with a member", del, -1, nil)
	p.heartbeatBoth(sc, [2]map[string][16]byte{}, cgStep{"leave", func(_ [2]map[string][16]byte, _ int) *kmsg.ConsumerGroupHeartbeatRequest {
		return cgReq(g, "a", -1)
	}})
	p.compare(sc+"/delete Empty", del, -1, nil)
	p.compare(sc+"/fetch after delete", fetch(nil, -1), 9, nil)
}
