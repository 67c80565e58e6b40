package broker_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestAdminAPIsKadm: the admin APIs a single-node Kafka answers, through
// franz-go's kadm: OffsetForLeaderEpoch, DescribeLogDirs (a partition's
// size grows with what is produced), ElectLeaders (not needed),
// AlterPartitionAssignments (to this node: done; elsewhere:
// INVALID_REPLICA_ASSIGNMENT), ListPartitionReassignments (none) and
// AlterReplicaLogDirs (to the data directory: nothing to do; elsewhere:
// LOG_DIR_NOT_FOUND).
func TestAdminAPIsKadm(t *testing.T) {
	const node = 4
	dir := t.TempDir()
	b := rewindtest.Start(t, broker.WithNodeID(node), broker.WithDataDir(dir))
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	ctx := testCtx(t, 30*time.Second)
	createTopic(t, cl, "adm", 2)
	produceStrings(t, cl, "adm", "a", "b", "c")
	ends, err := adm.ListEndOffsets(ctx, "adm")
	if err != nil {
		t.Fatal(err)
	}
	var written int32 = -1 // the partition the records went to
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset == 3 {
			written = o.Partition
		}
	})
	if written < 0 {
		t.Fatalf("no partition holds the 3 records: %+v", ends)
	}

	var ofle kadm.OffsetForLeaderEpochRequest
	ofle.Add("adm", written, 0)
	ofle.Add("adm", 1-written, 3)
	eps, err := adm.OffsetForLeaderEpoch(ctx, ofle)
	if err != nil {
		t.Fatal(err)
	}
	if e := eps["adm"][written]; e.Err != nil || e.LeaderEpoch != 0 || e.EndOffset != 3 || e.NodeID != node {
		t.Errorf("OffsetForLeaderEpoch epoch 0: %+v, want epoch 0 end 3 from node %d", e, node)
	}
	if e := eps["adm"][1-written]; e.Err != nil || e.LeaderEpoch != -1 || e.EndOffset != -1 {
		t.Errorf("OffsetForLeaderEpoch epoch 3: %+v, want -1/-1", e)
	}

	dirs, err := adm.DescribeBrokerLogDirs(ctx, node, kadm.TopicsSet{"adm": {0: {}, 1: {}}})
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	d, ok := dirs[abs]
	if !ok || d.Err != nil || len(dirs) != 1 {
		t.Fatalf("DescribeLogDirs: %+v, want the one directory %s", dirs, abs)
	}
	if d.TotalBytes <= 0 || d.UsableBytes <= 0 || d.UsableBytes > d.TotalBytes {
		t.Errorf("directory total %d usable %d", d.TotalBytes, d.UsableBytes)
	}
	full, empty := d.Topics["adm"][written], d.Topics["adm"][1-written]
	if full.Size <= 61 || empty.Size != 0 { // a batch header alone is 61 bytes
		t.Errorf("sizes: written partition %d, empty %d", full.Size, empty.Size)
	}
	all, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := all[node][abs].Topics["__consumer_offsets"]; !ok {
		t.Errorf("DescribeLogDirs of every topic has no __consumer_offsets: %+v", all)
	}

	el, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"adm": {0: {}}, "nope": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := el["adm"][0]; r.Err != kerr.ElectionNotNeeded {
		t.Errorf("ElectLeaders of a led partition: %v", r.Err)
	}
	if r := el["nope"][0]; r.Err != kerr.UnknownTopicOrPartition {
		t.Errorf("ElectLeaders of an unknown topic: %v", r.Err)
	}

	var assign kadm.AlterPartitionAssignmentsReq
	assign.Assign("adm", 0, []int32{node})
	assign.Assign("adm", 1, []int32{node + 1})
	as, err := adm.AlterPartitionAssignments(ctx, assign)
	if err != nil {
		t.Fatal(err)
	}
	if r := as["adm"][0]; r.Err != nil {
		t.Errorf("assignment to the broker itself: %v", r.Err)
	}
	if r := as["adm"][1]; r.Err != kerr.InvalidReplicaAssignment {
		t.Errorf("assignment to another node: %v", r.Err)
	}
	ls, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"adm": {0: {}, 1: {}}})
	if err != nil || len(ls) != 0 {
		t.Fatalf("ListPartitionReassignments: %v %+v, want none", err, ls)
	}

	var move kadm.AlterReplicaLogDirsReq
	move.Add(abs, kadm.TopicsSet{"adm": {0: {}}})
	move.Add(filepath.Join(abs, "elsewhere"), kadm.TopicsSet{"adm": {1: {}}})
	moved, err := adm.AlterBrokerReplicaLogDirs(ctx, node, move)
	if err != nil {
		t.Fatal(err)
	}
	if r := moved["adm"][0]; r.Err != nil {
		t.Errorf("AlterReplicaLogDirs to the data directory: %v", r.Err)
	}
	if r := moved["adm"][1]; r.Err != kerr.LogDirNotFound {
		t.Errorf("AlterReplicaLogDirs to another directory: %v, want LOG_DIR_NOT_FOUND", r.Err)
	}
}

// TestAlterReplicaLogDirsErrors: raw requests for what kadm does not send:
// an unknown partition and topic in the data directory
// (UNKNOWN_TOPIC_OR_PARTITION) and elsewhere (LOG_DIR_NOT_FOUND first),
// the directory with a trailing slash or relative, a partition under two
// directories (the last one counts, one answer), and a topic name too long
// for a future directory (INVALID_TOPIC_EXCEPTION, before the directory).
func TestAlterReplicaLogDirsErrors(t *testing.T) {
	dir := t.TempDir()
	b := rewindtest.Start(t, broker.WithDataDir(dir))
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "ard", 2)
	abs, _ := filepath.Abs(dir)
	long := strings.Repeat("x", 240)
	type move struct {
		dir, topic string
		p          int32
	}
	cases := []struct {
		name  string
		moves []move
		want  map[string]map[int32]int16
	}{
		{"in place", []move{{abs, "ard", 0}, {abs, "ard", 1}}, map[string]map[int32]int16{"ard": {0: 0, 1: 0}}},
		{"unknown here", []move{{abs, "ard", 7}, {abs, "nope", 0}}, map[string]map[int32]int16{"ard": {7: kerr.UnknownTopicOrPartition.Code}, "nope": {0: kerr.UnknownTopicOrPartition.Code}}},
		{"unknown elsewhere", []move{{"/elsewhere", "nope", 0}}, map[string]map[int32]int16{"nope": {0: kerr.LogDirNotFound.Code}}},
		{"trailing slash, relative, empty", []move{{abs + "/", "ard", 0}, {filepath.Base(abs), "ard", 1}, {"", "nope", 1}}, map[string]map[int32]int16{"ard": {0: kerr.LogDirNotFound.Code, 1: kerr.LogDirNotFound.Code}, "nope": {1: kerr.LogDirNotFound.Code}}},
		{"last directory wins", []move{{abs, "ard", 1}, {"/elsewhere", "ard", 1}, {"/elsewhere", "ard", 0}, {abs, "ard", 0}}, map[string]map[int32]int16{"ard": {0: 0, 1: kerr.LogDirNotFound.Code}}},
		{"name too long", []move{{abs, long, 0}, {"/elsewhere", long, 0}, {abs, long[:200], 0}}, map[string]map[int32]int16{long: {0: kerr.InvalidTopicException.Code}, long[:200]: {0: kerr.UnknownTopicOrPartition.Code}}},
	}
	c := dial(t, b.Addr())
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := kmsg.NewPtrAlterReplicaLogDirsRequest()
			req.Version = 2
			for _, m := range tc.moves {
				d := kmsg.NewAlterReplicaLogDirsRequestDir()
				d.Dir = m.dir
				rt := kmsg.NewAlterReplicaLogDirsRequestDirTopic()
				rt.Topic, rt.Partitions = m.topic, []int32{m.p}
				d.Topics = append(d.Topics, rt)
				req.Dirs = append(req.Dirs, d)
			}
			c.Write(frame(req, int32(i)))
			resp := answer(t, c, req, int32(i)).(*kmsg.AlterReplicaLogDirsResponse)
			got := map[string]map[int32]int16{}
			n := 0
			for _, rt := range resp.Topics {
				if got[rt.Topic] == nil {
					got[rt.Topic] = map[int32]int16{}
				}
				for _, p := range rt.Partitions {
					got[rt.Topic][p.Partition] = p.ErrorCode
					n++
				}
			}
			want := 0
			for _, ps := range tc.want {
				want += len(ps)
			}
			if n != want || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("answered %d partitions %v, want %v", n, got, tc.want)
			}
		})
	}
}

// TestOffsetForLeaderEpochErrors: raw requests for what kadm does not
// send: a client that saw a newer leader (UNKNOWN_LEADER_EPOCH), unknown
// partitions, a partition named twice (answered twice), and removed v1.
func TestOffsetForLeaderEpochErrors(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "ofle", 1)
	produceStrings(t, cl, "ofle", "x")
	c := dial(t, b.Addr())
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.Version, req.ReplicaID = 4, -1
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = "ofle"
	for _, x := range []struct{ p, cur, e int32 }{{0, 1, 0}, {0, 0, 0}, {0, 0, 0}, {5, -1, 0}} {
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = x.p, x.cur, x.e
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	c.Write(frame(req, 1))
	ps := answer(t, c, req, 1).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions
	want := []struct {
		code int16
		end  int64
	}{{kerr.UnknownLeaderEpoch.Code, -1}, {0, 1}, {0, 1}, {kerr.UnknownTopicOrPartition.Code, -1}}
	if len(ps) != len(want) {
		t.Fatalf("%d partitions answered, want %d", len(ps), len(want))
	}
	for i, w := range want {
		if ps[i].ErrorCode != w.code || ps[i].EndOffset != w.end {
			t.Errorf("partition %d: %v end %d, want %v end %d", i, kerr.ErrorForCode(ps[i].ErrorCode), ps[i].EndOffset, kerr.ErrorForCode(w.code), w.end)
		}
	}
	req.Version = 1 // removed in Kafka 4.0: the connection closes
	c.Write(frame(req, 2))
	expectClosed(t, c, "OffsetForLeaderEpoch v1")
}

// TestDescribeTopicPartitionsPaging: the all-topics form pages through
// every topic with a partition limit and the cursor, each partition once,
// and a cursor naming a topic the list does not hold is INVALID_REQUEST.
func TestDescribeTopicPartitionsPaging(t *testing.T) {
	b := rewindtest.Start(t, broker.WithNodeID(2))
	cl := newClient(t, b.Addr())
	ctx := testCtx(t, 30*time.Second)
	createTopic(t, cl, "p-a", 3)
	createTopic(t, cl, "p-b", 1)
	createTopic(t, cl, "p-c", 4)
	seen := map[string]int{}
	var cursor *kmsg.DescribeTopicPartitionsRequestCursor
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("paging never ended")
		}
		req := kmsg.NewPtrDescribeTopicPartitionsRequest()
		req.ResponsePartitionLimit, req.Cursor = 3, cursor
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, rt := range resp.Topics {
			if rt.ErrorCode != 0 {
				t.Fatalf("topic %s: %v", *rt.Topic, kerr.ErrorForCode(rt.ErrorCode))
			}
			for _, p := range rt.Partitions {
				if p.LeaderID != 2 || len(p.Replicas) != 1 || p.Replicas[0] != 2 {
					t.Fatalf("%s/%d: leader %d replicas %v, want node 2", *rt.Topic, p.Partition, p.LeaderID, p.Replicas)
				}
				seen[*rt.Topic]++
				n++
			}
		}
		if n > 3 {
			t.Fatalf("page of %d partitions over the limit 3", n)
		}
		if resp.NextCursor == nil {
			break
		}
		cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: resp.NextCursor.Topic, Partition: resp.NextCursor.Partition}
	}
	if seen["p-a"] != 3 || seen["p-b"] != 1 || seen["p-c"] != 4 || seen["__consumer_offsets"] != 50 {
		t.Fatalf("partitions seen: %v", seen)
	}

	req := kmsg.NewPtrDescribeTopicPartitionsRequest()
	rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
	rt.Topic = "p-a"
	req.Topics = append(req.Topics, rt)
	req.Cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: "p-z"}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("cursor outside the list: %v %+v", err, resp)
	}
}

// TestUpdateFeatures: through kadm (v2, and v1 with the version capped)
// an update to the levels running is done; a downgrade Kafka would make,
// a level out of range, a feature Rewind does not have and a downgrade
// without its upgrade type are INVALID_UPDATE_VERSION, and the levels in
// ApiVersions stay as they were.
func TestUpdateFeatures(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 30*time.Second)
	for _, maxV := range []int16{2, 1} {
		vs := kversion.Stable()
		vs.SetMaxKeyVersion(57, maxV)
		cl := newClient(t, b.Addr(), kgo.MaxVersions(vs))
		adm := kadm.NewClient(cl)
		res, err := adm.UpdateFeatures(ctx, false, kadm.FeatureUpdate{Feature: "transaction.version", MaxVersionLevel: 2, UpgradeType: 1},
			kadm.FeatureUpdate{Feature: "group.version", MaxVersionLevel: 1, UpgradeType: 1})
		if err != nil || res.Error() != nil || len(res) != 2 {
			t.Fatalf("v%d: the levels running: %v %+v", maxV, err, res)
		}
		for _, u := range []kadm.FeatureUpdate{
			{Feature: "transaction.version", MaxVersionLevel: 1, UpgradeType: 2},
			{Feature: "group.version", MaxVersionLevel: 0, UpgradeType: 3},
			{Feature: "transaction.version", MaxVersionLevel: 3, UpgradeType: 1},
			{Feature: "share.version", MaxVersionLevel: 1, UpgradeType: 1},
			{Feature: "transaction.version", MaxVersionLevel: 1, UpgradeType: 1},
		} {
			for _, validate := range []bool{true, false} {
				res, err := adm.UpdateFeatures(ctx, validate, u)
				if err == nil {
					err = res.Error()
				}
				if !errors.Is(err, kerr.InvalidUpdateVersion) {
					t.Errorf("v%d: %+v (validate %v): %v, want INVALID_UPDATE_VERSION", maxV, u, validate, err)
				}
			}
		}
	}
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, newClient(t, b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int16{}
	for _, f := range resp.FinalizedFeatures {
		got[f.Name] = f.MaxVersionLevel
	}
	if got["transaction.version"] != 2 || got["group.version"] != 1 || resp.FinalizedFeaturesEpoch != 1 {
		t.Fatalf("finalized features after the updates: %v epoch %d", got, resp.FinalizedFeaturesEpoch)
	}
}

// TestUnregister: UnregisterBroker and UnregisterController of another id
// are not registered (Kafka's codes and messages); of the node itself,
// refused with INVALID_REQUEST, and the node still serves Metadata.
func TestUnregister(t *testing.T) {
	const node = 3
	b := rewindtest.Start(t, broker.WithNodeID(node))
	c := dial(t, b.Addr())
	for i, id := range []int32{9, -1, node} {
		ub := kmsg.NewPtrUnregisterBrokerRequest()
		ub.BrokerID = id
		c.Write(frame(ub, int32(2*i)))
		br := answer(t, c, ub, int32(2*i)).(*kmsg.UnregisterBrokerResponse)
		uc := kmsg.NewPtrUnregisterControllerRequest()
		uc.ControllerID = id
		c.Write(frame(uc, int32(2*i+1)))
		cr := answer(t, c, uc, int32(2*i+1)).(*kmsg.UnregisterControllerResponse)
		wantB, wantC := kerr.BrokerIDNotRegistered.Code, kerr.ControllerIDNotRegistered.Code
		msgB, msgC := fmt.Sprintf("Broker ID %d is not currently registered", id), fmt.Sprintf("Controller ID %d is not currently registered.", id)
		if id == node {
			wantB, wantC = kerr.InvalidRequest.Code, kerr.InvalidRequest.Code
			msgB, msgC = "", ""
		}
		if br.ErrorCode != wantB || (msgB != "" && deref(br.ErrorMessage) != msgB) {
			t.Errorf("UnregisterBroker %d: %v %q", id, kerr.ErrorForCode(br.ErrorCode), deref(br.ErrorMessage))
		}
		if cr.ErrorCode != wantC || (msgC != "" && deref(cr.ErrorMessage) != msgC) {
			t.Errorf("UnregisterController %d: %v %q", id, kerr.ErrorForCode(cr.ErrorCode), deref(cr.ErrorMessage))
		}
	}
	md := metadataReq()
	c.Write(frame(md, 99))
	if resp := answer(t, c, md, 99).(*kmsg.MetadataResponse); len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != node {
		t.Fatalf("Metadata after unregistering the node: %+v", resp.Brokers)
	}
}
