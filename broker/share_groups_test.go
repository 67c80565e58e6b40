package broker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/rewindtest"
)

// describeShare returns a share group's description.
func describeShare(ctx context.Context, t *testing.T, cl *kgo.Client, group string) kmsg.ShareGroupDescribeResponseGroup {
	t.Helper()
	req := kmsg.NewPtrShareGroupDescribeRequest()
	req.GroupIDs = []string{group}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Groups) != 1 {
		t.Fatalf("described %d groups", len(resp.Groups))
	}
	return resp.Groups[0]
}

// Two franz-go share consumers of one share group split a topic's records:
// every record is accepted exactly once, and the records released at their
// first delivery (every tenth) come back with delivery count 2.
// Then the group is listed with type share, described Empty once both
// left, and deleted.
func TestShareGroupFranzGo(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 90*time.Second)
	admCl := newClient(t, b.Addr())
	adm := kadm.NewClient(admCl)
	const topic, group, n = "queue", "workers", 400
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	accepted := map[string]int{}
	redelivered := map[string]int32{}
	released := map[string]bool{}
	warmed := map[string]bool{}
	consume := func(name string, release bool) *kgo.Client {
		cl := newClient(t, b.Addr(), kgo.ShareGroup(group), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(200*time.Millisecond))
		go func() {
			for ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				if fs.IsClientClosed() {
					return
				}
				fs.EachRecord(func(r *kgo.Record) {
					v := string(r.Value)
					mu.Lock()
					defer mu.Unlock()
					if v == "warm" {
						warmed[name] = true
						r.Ack(kgo.AckAccept)
						return
					}
					var i int
					fmt.Sscanf(v, "v%d", &i)
					if release && i%10 == 0 && r.DeliveryCount() == 1 {
						released[v] = true
						r.Ack(kgo.AckRelease)
						return
					}
					if r.DeliveryCount() > 1 {
						redelivered[v] = r.DeliveryCount()
					}
					accepted[v]++
					r.Ack(kgo.AckAccept)
				})
			}
		}()
		return cl
	}
	c1 := consume("c1", true)
	c2 := consume("c2", true)

	// Records produced before a member was assigned its partitions are
	// not delivered (share.auto.offset.reset=latest): wait for both.
	for {
		g := describeShare(ctx, t, admCl, group)
		assigned := 0
		for _, m := range g.Members {
			for _, tp := range m.Assignment.TopicPartitions {
				assigned += len(tp.Partitions)
			}
		}
		if g.ErrorCode == 0 && len(g.Members) == 2 && assigned == 3 {
			if g.GroupState != "Stable" || g.Assignor != "simple" {
				t.Fatalf("described %+v", g)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("group never had two members with all partitions: %+v", g)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A share partition starts at the log's end when it is first fetched
	// (share.auto.offset.reset=latest, as in Kafka): warm-up records until
	// both consumers got one, so that every partition has been fetched.
	prod := newClient(t, b.Addr(), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	for {
		mu.Lock()
		warm := len(warmed)
		mu.Unlock()
		if warm == 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d consumers got a warm-up record", warm)
		}
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("warm")}, &kgo.Record{Value: []byte("warm")}, &kgo.Record{Value: []byte("warm")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := 0; i < n; i++ {
		prod.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("v%04d", i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		mu.Lock()
		got := len(accepted)
		mu.Unlock()
		if got == n {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("accepted %d of %d records", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Let the last acknowledgements reach the broker, then leave.
	for _, cl := range []*kgo.Client{c1, c2} {
		if err := cl.FlushAcks(ctx); err != nil {
			t.Fatal(err)
		}
	}
	c1.Close()
	c2.Close()
	mu.Lock()
	for v, k := range accepted {
		if k != 1 {
			t.Errorf("%s accepted %d times", v, k)
		}
	}
	if len(released) == 0 {
		t.Error("c1 released no record")
	}
	for v := range released {
		if redelivered[v] != 2 {
			t.Errorf("%s released, then delivered with count %d", v, redelivered[v])
		}
	}
	for v, dc := range redelivered {
		var i int
		fmt.Sscanf(v, "v%d", &i)
		if i%10 != 0 || dc != 2 {
			t.Errorf("%s redelivered with delivery count %d", v, dc)
		}
	}
	mu.Unlock()

	// Once both left, the group is Empty, listed as a share group, and
	// can be deleted; DescribeGroups does not describe it.
	for describeShare(ctx, t, admCl, group).GroupState != "Empty" {
		if ctx.Err() != nil {
			t.Fatal("the group never became Empty")
		}
		time.Sleep(50 * time.Millisecond)
	}
	lg := kmsg.NewPtrListGroupsRequest()
	lresp, err := lg.RequestWith(ctx, admCl)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range lresp.Groups {
		if g.Group == group {
			found = g.GroupType == "share" && g.ProtocolType == "share" && g.GroupState == "Empty"
		}
	}
	if !found {
		t.Fatalf("ListGroups: %+v", lresp.Groups)
	}
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{group}
	dresp, err := dg.RequestWith(ctx, admCl)
	if err != nil {
		t.Fatal(err)
	}
	if g := dresp.Groups[0]; g.ErrorCode != kerr.GroupIDNotFound.Code || g.ErrorMessage == nil || *g.ErrorMessage != "Group workers is not a classic group." {
		t.Fatalf("DescribeGroups of a share group: %+v", g)
	}
	del, err := adm.DeleteGroup(ctx, group)
	if err != nil || del.Err != nil {
		t.Fatalf("delete: %v %v", err, del.Err)
	}
	if g := describeShare(ctx, t, admCl, group); g.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("after delete: %+v", g)
	}
}

// The share session and acknowledgement error paths, in the codes Kafka
// 4.4 answers (asked on loopback with the same requests).
func TestShareSessionsRaw(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("rq"))
	adm := kadm.NewClient(cl)
	ct, err := adm.CreateTopic(ctx, 1, 1, nil, "rq")
	if err != nil {
		t.Fatal(err)
	}
	tid := [16]byte(ct.ID)
	hb := kmsg.NewPtrShareGroupHeartbeatRequest()
	hb.GroupID, hb.MemberID, hb.SubscribedTopicNames = "raw", "m", []string{"rq"}
	if resp, err := hb.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 || resp.Assignment == nil || len(resp.Assignment.TopicPartitions) != 1 {
		t.Fatalf("join: %v %+v", err, resp)
	}
	type ack struct {
		first, last int64
		types       []int8
	}
	fetch := func(member string, epoch int32, wait int32, acks ...ack) *kmsg.ShareFetchResponse {
		t.Helper()
		req := kmsg.NewPtrShareFetchRequest()
		req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr("raw"), kmsg.StringPtr(member), epoch
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.MaxRecords, req.BatchSize = wait, 1, 1<<20, 100, 100
		ft := kmsg.NewShareFetchRequestTopic()
		ft.TopicID = tid
		fp := kmsg.NewShareFetchRequestTopicPartition()
		for _, a := range acks {
			ab := kmsg.NewShareFetchRequestTopicPartitionAcknowledgementBatch()
			ab.FirstOffset, ab.LastOffset, ab.AcknowledgeTypes = a.first, a.last, a.types
			fp.AcknowledgementBatches = append(fp.AcknowledgementBatches, ab)
		}
		ft.Partitions = append(ft.Partitions, fp)
		req.Topics = append(req.Topics, ft)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	acknowledge := func(member string, epoch int32, renew bool, a ack) (top, part int16) {
		t.Helper()
		req := kmsg.NewPtrShareAcknowledgeRequest()
		req.GroupID, req.MemberID, req.ShareSessionEpoch, req.IsRenewAck = kmsg.StringPtr("raw"), kmsg.StringPtr(member), epoch, renew
		at := kmsg.NewShareAcknowledgeRequestTopic()
		at.TopicID = tid
		ap := kmsg.NewShareAcknowledgeRequestTopicPartition()
		ab := kmsg.NewShareAcknowledgeRequestTopicPartitionAcknowledgementBatch()
		ab.FirstOffset, ab.LastOffset, ab.AcknowledgeTypes = a.first, a.last, a.types
		ap.AcknowledgementBatches = append(ap.AcknowledgementBatches, ab)
		at.Partitions = append(at.Partitions, ap)
		req.Topics = append(req.Topics, at)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != 0 {
			return resp.ErrorCode, 0
		}
		return 0, resp.Topics[0].Partitions[0].ErrorCode
	}
	acquired := func(resp *kmsg.ShareFetchResponse) string {
		var s string
		for _, tp := range resp.Topics {
			for _, p := range tp.Partitions {
				for _, a := range p.AcquiredRecords {
					s += fmt.Sprintf("[%d,%d]x%d", a.FirstOffset, a.LastOffset, a.DeliveryCount)
				}
			}
		}
		return s
	}
	if r := fetch("m", 0, 0, ack{0, 0, []int8{1}}); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("acknowledgements opening a session: %d", r.ErrorCode)
	}
	// The share partition starts at the log's end when first fetched.
	if r := fetch("m", 0, 0); r.ErrorCode != 0 || acquired(r) != "" || len(r.Topics) != 1 {
		t.Fatalf("opening: %+v", r)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("a")}, &kgo.Record{Value: []byte("b")}, &kgo.Record{Value: []byte("c")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r := fetch("m", 1, 5000)
	if r.ErrorCode != 0 || acquired(r) != "[0,2]x1" || r.AcquisitionLockTimeoutMillis != 30000 || len(r.Topics[0].Partitions[0].Records) == 0 {
		t.Fatalf("first fetch: %d %q %d", r.ErrorCode, acquired(r), r.AcquisitionLockTimeoutMillis)
	}
	if r := fetch("m", 1, 0); r.ErrorCode != kerr.InvalidShareSessionEpoch.Code {
		t.Fatalf("epoch 1 again: %d", r.ErrorCode)
	}
	if top, _ := acknowledge("m", 0, false, ack{0, 0, []int8{1}}); top != kerr.InvalidShareSessionEpoch.Code {
		t.Fatalf("ShareAcknowledge at epoch 0: %d", top)
	}
	if top, _ := acknowledge("nobody", 1, false, ack{0, 0, []int8{1}}); top != kerr.ShareSessionNotFound.Code {
		t.Fatalf("ShareAcknowledge without a session: %d", top)
	}
	if top, part := acknowledge("m", 2, false, ack{0, 2, []int8{2}}); top != 0 || part != 0 {
		t.Fatalf("release: %d %d", top, part)
	}
	if _, part := acknowledge("m", 3, false, ack{1, 1, []int8{1}}); part != kerr.InvalidRecordState.Code {
		t.Fatalf("accepting a released record: %d", part)
	}
	if r := fetch("m", 4, 5000); acquired(r) != "[0,2]x2" {
		t.Fatalf("after the release: %q", acquired(r))
	}
	if _, part := acknowledge("m", 5, false, ack{0, 2, []int8{1, 1}}); part != kerr.InvalidRequest.Code {
		t.Fatalf("two types for three records: %d", part)
	}
	if _, part := acknowledge("m", 6, false, ack{0, 2, []int8{4}}); part != kerr.InvalidRequest.Code {
		t.Fatalf("renewal without IsRenewAck: %d", part)
	}
	if _, part := acknowledge("m", 7, true, ack{0, 2, []int8{4}}); part != 0 {
		t.Fatalf("renewal: %d", part)
	}
	r = fetch("m", -1, 0, ack{0, 2, []int8{1}})
	if r.ErrorCode != 0 || r.Topics[0].Partitions[0].AcknowledgeErrorCode != 0 {
		t.Fatalf("closing with an accept: %+v", r)
	}
	if r := fetch("m", 8, 0); r.ErrorCode != kerr.ShareSessionNotFound.Code {
		t.Fatalf("after close: %d", r.ErrorCode)
	}
	// A new session lists its partition, with nothing left to acquire.
	r = fetch("m2", 0, 100)
	if r.ErrorCode != 0 || len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 || acquired(r) != "" {
		t.Fatalf("new session after every record was accepted: %+v", r)
	}
	if r := fetch("m2", -1, 0); r.ErrorCode != 0 {
		t.Fatalf("closing m2: %d", r.ErrorCode)
	}

	// The group's start offsets: described, refused while m is in the
	// group, altered and deleted once it left.
	describe := func() (start, lag int64) {
		t.Helper()
		req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
		rg := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
		rg.GroupID = "raw"
		rt := kmsg.NewDescribeShareGroupOffsetsRequestGroupTopic()
		rt.Topic, rt.Partitions = "rq", []int32{0}
		rg.Topics = append(rg.Topics, rt)
		req.Groups = append(req.Groups, rg)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || len(resp.Groups) != 1 || len(resp.Groups[0].Topics) != 1 {
			t.Fatalf("DescribeShareGroupOffsets: %v %+v", err, resp)
		}
		p := resp.Groups[0].Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			t.Fatalf("DescribeShareGroupOffsets: partition error %d", p.ErrorCode)
		}
		return p.StartOffset, p.Lag
	}
	if start, lag := describe(); start != 3 || lag != 0 {
		t.Fatalf("every record accepted: start %d lag %d, want 3 0", start, lag)
	}
	alter := func(offset int64) int16 {
		t.Helper()
		req := kmsg.NewPtrAlterShareGroupOffsetsRequest()
		req.GroupID = "raw"
		rt := kmsg.NewAlterShareGroupOffsetsRequestTopic()
		rt.Topic = "rq"
		rp := kmsg.NewAlterShareGroupOffsetsRequestTopicPartition()
		rp.Partition, rp.StartOffset = 0, offset
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != 0 {
			return resp.ErrorCode
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := alter(1); code != kerr.NonEmptyGroup.Code {
		t.Fatalf("altering a group with a member: %d", code)
	}
	hb.MemberEpoch, hb.SubscribedTopicNames = -1, nil
	if resp, err := hb.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("leave: %v %+v", err, resp)
	}
	if code := alter(1); code != 0 {
		t.Fatalf("altering the Empty group: %d", code)
	}
	if start, lag := describe(); start != 1 || lag != 2 {
		t.Fatalf("after the reset to 1: start %d lag %d, want 1 2", start, lag)
	}
	if r := fetch("m3", 0, 5000); acquired(r) != "[1,2]x1" {
		t.Fatalf("after the reset: acquired %q", acquired(r))
	}
	if r := fetch("m3", -1, 0); r.ErrorCode != 0 {
		t.Fatalf("closing m3: %d", r.ErrorCode)
	}
	del := kmsg.NewPtrDeleteShareGroupOffsetsRequest()
	del.GroupID = "raw"
	dt := kmsg.NewDeleteShareGroupOffsetsRequestTopic()
	dt.Topic = "rq"
	del.Topics = append(del.Topics, dt)
	if resp, err := del.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("DeleteShareGroupOffsets: %v %+v", err, resp)
	}
	if start, lag := describe(); start != -1 || lag != -1 {
		t.Fatalf("after the delete: start %d lag %d, want -1 -1", start, lag)
	}
}

// A share group's id is no other group's: an OffsetCommit or a JoinGroup
// under it is refused and the share group carries on. A request that
// fails on another connection does not take the member's share session
// over: closing that connection releases nothing.
func TestShareGroupIsolation(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("iso"))
	ct, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "iso")
	if err != nil {
		t.Fatal(err)
	}
	tid := [16]byte(ct.ID)
	hb := kmsg.NewPtrShareGroupHeartbeatRequest()
	hb.GroupID, hb.MemberID, hb.SubscribedTopicNames = "iso-g", "m", []string{"iso"}
	resp, err := hb.RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("join: %v %+v", err, resp)
	}
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Group, oc.Generation, oc.MemberID = "iso-g", -1, ""
	ot := kmsg.NewOffsetCommitRequestTopic()
	ot.Topic, ot.TopicID = "iso", tid
	op := kmsg.NewOffsetCommitRequestTopicPartition()
	op.Partition, op.Offset = 0, 1
	ot.Partitions = append(ot.Partitions, op)
	oc.Topics = append(oc.Topics, ot)
	if ocr, err := oc.RequestWith(ctx, cl); err != nil || ocr.Topics[0].Partitions[0].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("OffsetCommit under a share group's id: %v %+v", err, ocr)
	}
	jg := kmsg.NewPtrJoinGroupRequest()
	jg.Group, jg.ProtocolType, jg.SessionTimeoutMillis, jg.RebalanceTimeoutMillis = "iso-g", "consumer", 30000, 30000
	jg.Protocols = append(jg.Protocols, kmsg.JoinGroupRequestProtocol{Name: "range", Metadata: []byte{}})
	if jr, err := jg.RequestWith(ctx, cl); err != nil || jr.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("JoinGroup under a share group's id: %v %+v", err, jr)
	}
	hb.MemberEpoch, hb.SubscribedTopicNames = resp.MemberEpoch, nil
	if resp, err := hb.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("the share group after both: %v %+v", err, resp)
	}

	fetch := func(c *kgo.Client, epoch int32) *kmsg.ShareFetchResponse {
		t.Helper()
		req := kmsg.NewPtrShareFetchRequest()
		req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr("iso-g"), kmsg.StringPtr("m"), epoch
		req.MaxWaitMillis, req.MaxBytes, req.MaxRecords = 3000, 1<<20, 10
		ft := kmsg.NewShareFetchRequestTopic()
		ft.TopicID = tid
		ft.Partitions = append(ft.Partitions, kmsg.NewShareFetchRequestTopicPartition())
		req.Topics = append(req.Topics, ft)
		r, err := req.RequestWith(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := fetch(cl, 0); r.ErrorCode != 0 {
		t.Fatalf("open: %d", r.ErrorCode)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if r := fetch(cl, 1); r.ErrorCode != 0 || len(r.Topics) != 1 || len(r.Topics[0].Partitions[0].AcquiredRecords) != 1 {
		t.Fatalf("acquire: %+v", r)
	}
	other := newClient(t, b.Addr())
	if r := fetch(other, 77); r.ErrorCode != kerr.InvalidShareSessionEpoch.Code {
		t.Fatalf("a wrong epoch from another connection: %d", r.ErrorCode)
	}
	other.Close()
	time.Sleep(200 * time.Millisecond) // the broker sees the connection close
	// The session is still m's, and offset 0 still acquired: a new member
	// gets nothing.
	if r := fetch(cl, 2); r.ErrorCode != 0 {
		t.Fatalf("m's next request: %d", r.ErrorCode)
	}
	hb2 := kmsg.NewPtrShareGroupHeartbeatRequest()
	hb2.GroupID, hb2.MemberID, hb2.SubscribedTopicNames = "iso-g", "n", []string{"iso"}
	if resp, err := hb2.RequestWith(ctx, newClient(t, b.Addr())); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("n joins: %v %+v", err, resp)
	}
	req := kmsg.NewPtrShareFetchRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr("iso-g"), kmsg.StringPtr("n"), 0
	req.MaxWaitMillis, req.MaxBytes, req.MaxRecords = 300, 1<<20, 10
	ft := kmsg.NewShareFetchRequestTopic()
	ft.TopicID = tid
	ft.Partitions = append(ft.Partitions, kmsg.NewShareFetchRequestTopicPartition())
	req.Topics = append(req.Topics, ft)
	r, err := req.RequestWith(ctx, cl)
	if err != nil || r.ErrorCode != 0 || len(r.Topics) != 1 || len(r.Topics[0].Partitions[0].AcquiredRecords) != 0 {
		t.Fatalf("n fetching m's acquired record: %v %+v", err, r)
	}
}

// setGroupConfigs SETs configs (name, value, ...) on a GROUP resource and
// returns the resource's error.
func setGroupConfigs(ctx context.Context, cl *kgo.Client, group string, kv ...string) error {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	for i := 0; i+1 < len(kv); i += 2 {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = kv[i], kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(kv[i+1])
		rr.Configs = append(rr.Configs, c)
	}
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.Resources[0].ErrorCode)
}

// TestShareGroupConfigs: a share group's GROUP configs, set with kadm as
// kafka-configs --entity-type groups sets them, decide where it starts
// reading and how long its records stay locked: with
// share.auto.offset.reset=earliest a consumer that joins after the
// records were produced gets every one of them, and the acknowledgement
// names the group's lock duration; a second group without configs starts
// at the end and gets none of them.
func TestShareGroupConfigs(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	admCl := newClient(t, b.Addr())
	adm := kadm.NewClient(admCl)
	const topic, n = "cfg-queue", 50
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := admCl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprint("old", i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	set := func(group string, kv ...string) error { return setGroupConfigs(ctx, admCl, group, kv...) }
	if err := set("early", "share.auto.offset.reset", "earliest", "share.record.lock.duration.ms", "20000"); err != nil {
		t.Fatal(err)
	}
	if err := set("early", "share.record.lock.duration.ms", "1000"); !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("a lock below the broker's minimum: %v", err)
	}
	dreq := kmsg.NewPtrDescribeConfigsRequest()
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType, dr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, "early"
	dreq.Resources = append(dreq.Resources, dr)
	dresp, err := dreq.RequestWith(ctx, admCl)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range dresp.Resources[0].Configs {
		if c.Source == kmsg.ConfigSourceGroupConfig {
			got[c.Name] = *c.Value
		}
	}
	if fmt.Sprint(got) != "map[share.auto.offset.reset:earliest share.record.lock.duration.ms:20000]" {
		t.Fatalf("described group configs %v", got)
	}

	read := func(group string, d time.Duration) map[string]bool {
		cl := newClient(t, b.Addr(), kgo.ShareGroup(group), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(200*time.Millisecond))
		defer cl.Close()
		seen := map[string]bool{}
		pctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		for pctx.Err() == nil && len(seen) < n {
			cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
				seen[string(r.Value)] = true
				r.Ack(kgo.AckAccept)
			})
		}
		return seen
	}
	if seen := read("early", 30*time.Second); len(seen) != n {
		t.Fatalf("share.auto.offset.reset=earliest: %d of %d records", len(seen), n)
	}
	if seen := read("late", 3*time.Second); len(seen) != 0 {
		t.Fatalf("a group without configs (latest) read %d old records", len(seen))
	}

	// The lock duration and heartbeat interval the broker tells the
	// members are the group's.
	if err := set("early", "share.heartbeat.interval.ms", "6000"); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.GroupID, req.MemberID, req.MemberEpoch, req.SubscribedTopicNames = "early", "m-raw-0000000000000", 0, []string{topic}
	hb, err := req.RequestWith(ctx, admCl)
	if err != nil {
		t.Fatal(err)
	}
	if hb.ErrorCode != 0 || hb.HeartbeatIntervalMillis != 6000 {
		t.Errorf("ShareGroupHeartbeat: error %d, interval %d, want the group's 6000", hb.ErrorCode, hb.HeartbeatIntervalMillis)
	}
	fetch := kmsg.NewPtrShareFetchRequest()
	fetch.Version = 2
	fetch.GroupID, fetch.MemberID, fetch.ShareSessionEpoch = kmsg.StringPtr("early"), kmsg.StringPtr("m-raw-0000000000000"), 0
	fetch.MaxWaitMillis, fetch.MinBytes, fetch.MaxBytes, fetch.MaxRecords, fetch.BatchSize = 0, 1, 1<<20, 10, 10
	fresp, err := fetch.RequestWith(ctx, admCl)
	if err != nil {
		t.Fatal(err)
	}
	if fresp.ErrorCode != 0 || fresp.AcquisitionLockTimeoutMillis != 20000 {
		t.Errorf("ShareFetch: error %d, AcquisitionLockTimeoutMillis %d, want the group's 20000", fresp.ErrorCode, fresp.AcquisitionLockTimeoutMillis)
	}
}

// TestConsumerGroupConfigs: a consumer group's (KIP-848) GROUP configs
// set its members' heartbeat interval; another group keeps the broker's.
func TestConsumerGroupConfigs(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b.Addr())
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "cg-topic"); err != nil {
		t.Fatal(err)
	}
	if err := setGroupConfigs(ctx, cl, "tuned", "consumer.heartbeat.interval.ms", "7000"); err != nil {
		t.Fatal(err)
	}
	for group, want := range map[string]int32{"tuned": 7000, "plain": 5000} {
		hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		hb.Group, hb.MemberID, hb.MemberEpoch, hb.RebalanceTimeoutMillis = group, "m-"+group+"-000000000000000", 0, 30000
		hb.SubscribedTopicNames = []string{"cg-topic"}
		hb.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		r, err := hb.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if r.ErrorCode != 0 || r.HeartbeatIntervalMillis != want {
			t.Errorf("%s: error %d, heartbeat interval %d, want %d", group, r.ErrorCode, r.HeartbeatIntervalMillis, want)
		}
	}
}

// TestShareGroupReadCommitted: with share.isolation.level=read_committed
// a share group is delivered the committed transaction's records and
// none of the aborted one's; with read_uncommitted (the default) it is
// delivered both. Both groups read from the start.
func TestShareGroupReadCommitted(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	admCl := newClient(t, b.Addr())
	const topic = "txn-queue"
	if _, err := kadm.NewClient(admCl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	prod := newClient(t, b.Addr(), kgo.TransactionalID("share-txn"), kgo.DefaultProduceTopic(topic))
	for _, commit := range []bool{true, false, true} {
		if err := prod.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			v := fmt.Sprint("aborted", i)
			if commit {
				v = fmt.Sprint("committed", i)
			}
			if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := prod.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	set := func(group string, kv ...string) {
		if err := setGroupConfigs(ctx, admCl, group, kv...); err != nil {
			t.Fatalf("%s: %v", group, err)
		}
	}
	set("rc", "share.auto.offset.reset", "earliest", "share.isolation.level", "read_committed")
	set("ru", "share.auto.offset.reset", "earliest")
	read := func(group string, want int) map[string]int {
		cl := newClient(t, b.Addr(), kgo.ShareGroup(group), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(200*time.Millisecond))
		defer cl.Close()
		seen := map[string]int{}
		total := 0
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		for pctx.Err() == nil {
			cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
				seen[string(r.Value)[:len(r.Value)-1]]++
				total++
				r.Ack(kgo.AckAccept)
			})
			if total >= want {
				// Wait a moment more for anything that should not come.
				mctx, mcancel := context.WithTimeout(ctx, time.Second)
				cl.PollFetches(mctx).EachRecord(func(r *kgo.Record) { seen[string(r.Value)[:len(r.Value)-1]]++ })
				mcancel()
				break
			}
		}
		return seen
	}
	if got := read("rc", 10); fmt.Sprint(got) != "map[committed:10]" {
		t.Errorf("read_committed delivered %v, want the 10 committed records only", got)
	}
	if got := read("ru", 15); fmt.Sprint(got) != "map[aborted:5 committed:10]" {
		t.Errorf("read_uncommitted delivered %v, want all 15", got)
	}
}
