package broker_test

import (
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestApiVersionsV5: the cluster and node id a v5 client believes it talks
// to (KIP-1242): this broker's are answered in full, another's are
// REBOOTSTRAP_REQUIRED with no keys, one without the other
// INVALID_REQUEST; v4 and v5 are advertised.
func TestApiVersionsV5(t *testing.T) {
	b := rewindtest.Start(t, broker.WithNodeID(3))
	c := dial(t, b.Addr())
	cl := newClient(t, b.Addr())
	md, err := kadm.NewClient(cl).BrokerMetadata(testCtx(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	cid := md.Cluster
	corr := int32(0)
	ask := func(cluster *string, node int32) *kmsg.ApiVersionsResponse {
		corr++
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 5
		req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1"
		req.ClusterID, req.NodeID = cluster, node
		c.Write(frame(req, corr))
		return answer(t, c, req, corr).(*kmsg.ApiVersionsResponse)
	}
	resp := ask(&cid, 3)
	if resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("this cluster and node: %v, %d keys", kerr.ErrorForCode(resp.ErrorCode), len(resp.ApiKeys))
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == 18 && k.MaxVersion != 5 {
			t.Fatalf("ApiVersions advertised up to v%d, want 5", k.MaxVersion)
		}
	}
	if resp := ask(nil, -1); resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("bootstrapping client: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	other := "AAAAAAAAAAAAAAAAAAAAAA"
	for name, tc := range map[string]struct {
		cluster *string
		node    int32
		want    *kerr.Error
	}{
		"another cluster": {&other, 3, kerr.RebootstrapRequired},
		"another node":    {&cid, 0, kerr.RebootstrapRequired},
		"cluster only":    {&cid, -1, kerr.InvalidRequest},
		"node only":       {nil, 3, kerr.InvalidRequest},
	} {
		resp := ask(tc.cluster, tc.node)
		if resp.ErrorCode != tc.want.Code || len(resp.ApiKeys) != 0 || resp.FinalizedFeaturesEpoch != -1 {
			t.Errorf("%s: %v with %d keys, epoch %d; want %v and nothing else", name, kerr.ErrorForCode(resp.ErrorCode), len(resp.ApiKeys), resp.FinalizedFeaturesEpoch, tc.want)
		}
	}
}

// TestVersionBumps: the newest versions of ListOffsets, DescribeCluster,
// FindCoordinator and Metadata with what they add, through raw requests
// and kadm (which sends the newest version both sides have).
func TestVersionBumps(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	ctx := testCtx(t, 30*time.Second)
	createTopic(t, cl, "bumps", 1)
	produceStrings(t, cl, "bumps", "a", "b")

	// ListOffsets v11: -5 (v9+) and -6 (v11+) are no offset without tiered
	// storage; below their version, and any other negative timestamp,
	// UNSUPPORTED_VERSION. A raw connection, since kgo sends the newest
	// version whatever the request says.
	c := dial(t, b.Addr())
	corr := int32(0)
	list := func(v int16, ts int64) kmsg.ListOffsetsResponseTopicPartition {
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version = v
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "bumps"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = ts
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		corr++
		c.Write(frame(req, corr))
		return answer(t, c, req, corr).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	}
	for _, tc := range []struct {
		v    int16
		ts   int64
		code int16
		off  int64
	}{
		{11, -1, 0, 2}, {11, -2, 0, 0}, {11, -5, 0, -1}, {11, -6, 0, -1}, {9, -5, 0, -1},
		{10, -6, kerr.UnsupportedVersion.Code, -1}, {8, -5, kerr.UnsupportedVersion.Code, -1},
		{6, -3, kerr.UnsupportedVersion.Code, -1}, {7, -4, kerr.UnsupportedVersion.Code, -1},
		{11, -7, kerr.UnsupportedVersion.Code, -1}, {1, -100, kerr.UnsupportedVersion.Code, -1},
	} {
		if p := list(tc.v, tc.ts); p.ErrorCode != tc.code || p.Offset != tc.off {
			t.Errorf("ListOffsets v%d timestamp %d: %v offset %d, want %v offset %d", tc.v, tc.ts,
				kerr.ErrorForCode(p.ErrorCode), p.Offset, kerr.ErrorForCode(tc.code), tc.off)
		}
	}
	if ends, err := adm.ListEndOffsets(ctx, "bumps"); err != nil || ends["bumps"][0].Offset != 2 {
		t.Fatalf("kadm ListEndOffsets: %v %+v", err, ends)
	}

	// DescribeCluster v2.
	for et, want := range map[int8]int16{1: 0, 2: kerr.MismatchedEndpointType.Code, 3: kerr.UnsupportedEndpointType.Code} {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.Version, req.EndpointType, req.IncludeFencedBrokers = 2, et, true
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != want || (want == 0 && (len(resp.Brokers) != 1 || resp.Brokers[0].IsFenced)) {
			t.Errorf("DescribeCluster v2 endpoint type %d: %v %+v", et, kerr.ErrorForCode(resp.ErrorCode), resp.Brokers)
		}
	}

	// FindCoordinator v6: no share coordinator is available (share group
	// state is kept in memory); a malformed share key is INVALID_REQUEST.
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.Version, fc.CoordinatorType, fc.CoordinatorKeys = 6, 2, []string{"sg:AAAAAAAAAAAAAAAAAAAAAA:0", "sg:0:0", "sg"}
	fcr, err := fc.RequestWith(ctx, cl)
	if err != nil || len(fcr.Coordinators) != 3 {
		t.Fatalf("FindCoordinator v6 share keys: %v %+v", err, fcr)
	}
	for _, c := range fcr.Coordinators {
		want := kerr.InvalidRequest.Code
		if c.Key == "sg:AAAAAAAAAAAAAAAAAAAAAA:0" {
			want = kerr.CoordinatorNotAvailable.Code
		}
		if c.ErrorCode != want {
			t.Errorf("FindCoordinator v6 share key %q: %d, want %d", c.Key, c.ErrorCode, want)
		}
	}
	fc.CoordinatorType, fc.CoordinatorKeys = 0, []string{"g"}
	if fcr, err := fc.RequestWith(ctx, cl); err != nil || fcr.Coordinators[0].ErrorCode != 0 {
		t.Fatalf("FindCoordinator v6 group: %v %+v", err, fcr)
	}

	// Metadata v13.
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 13
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("bumps")
	md.Topics = append(md.Topics, mt)
	mdr, err := md.RequestWith(ctx, cl)
	if err != nil || mdr.ErrorCode != 0 || len(mdr.Topics) != 1 || mdr.Topics[0].ErrorCode != 0 || mdr.Topics[0].TopicID == ([16]byte{}) {
		t.Fatalf("Metadata v13: %v %+v", err, mdr)
	}
}

// TestProduceV13: topics by id (KIP-516). A franz-go producer (v13 with
// the ids from Metadata) and a raw request with the id both append; an id
// no topic has is UNKNOWN_TOPIC_ID, and with acks=0 closes the connection
// as any failed acks=0 produce does; a topic deleted and recreated under
// the same name has a new id, and its old id is unknown.
func TestProduceV13(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	ctx := testCtx(t, 30*time.Second)
	createTopic(t, cl, "v13", 1)
	produceStrings(t, cl, "v13", "by-franz")
	td, err := adm.ListTopics(ctx, "v13")
	if err != nil {
		t.Fatal(err)
	}
	id := td["v13"].ID

	c := dial(t, b.Addr())
	corr := int32(0)
	produce := func(acks int16, ids ...[16]byte) *kmsg.ProduceResponse {
		corr++
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 13, acks, 5000
		for _, id := range ids {
			rt := kmsg.NewProduceRequestTopic()
			rt.TopicID = id
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Records = goodBatch(2)
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		c.Write(frame(req, corr))
		if acks == 0 {
			return nil
		}
		return answer(t, c, req, corr).(*kmsg.ProduceResponse)
	}
	unknown := [16]byte{7, 7, 7}
	resp := produce(1, id, unknown)
	if len(resp.Topics) != 2 {
		t.Fatalf("%d topics answered, want 2", len(resp.Topics))
	}
	if rt := resp.Topics[0]; rt.TopicID != id || rt.Partitions[0].ErrorCode != 0 || rt.Partitions[0].BaseOffset != 1 {
		t.Fatalf("by its id: %+v", rt)
	}
	if rt := resp.Topics[1]; rt.TopicID != unknown || rt.Partitions[0].ErrorCode != kerr.UnknownTopicID.Code || rt.Partitions[0].BaseOffset != -1 {
		t.Fatalf("unknown id: %+v", rt)
	}
	if ends, err := adm.ListEndOffsets(ctx, "v13"); err != nil || ends["v13"][0].Offset != 3 {
		t.Fatalf("end offset after the v13 produce: %v %+v, want 3", err, ends)
	}

	if _, err := adm.DeleteTopics(ctx, "v13"); err != nil {
		t.Fatal(err)
	}
	createTopic(t, cl, "v13", 1)
	if resp := produce(-1, id); resp.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("old id of a recreated topic: %v", kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode))
	}

	produce(0, unknown)
	expectClosed(t, c, "acks=0 produce to an unknown topic id")
}

// TestApiVersionsList: ApiVersions advertises the newest versions of Kafka
// 4.x that kmsg knows for the APIs of the protocol issue.
func TestApiVersionsList(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(testCtx(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int16][2]int16{}
	for _, k := range resp.ApiKeys {
		got[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	for key, want := range map[int16][2]int16{
		0: {0, 13}, 2: {0, 11}, 3: {0, 13}, 10: {0, 6}, 18: {0, 5}, 22: {0, 5}, 23: {2, 4}, 35: {1, 5},
		43: {0, 2}, 45: {0, 1}, 46: {0, 0}, 60: {0, 2}, 75: {0, 0},
	} {
		if got[key] != want {
			t.Errorf("%s: advertised %v, want %v", kmsg.NameForKey(key), got[key], want)
		}
		if r := kmsg.RequestForKey(key); r.MaxVersion() != want[1] {
			t.Errorf("%s: kmsg knows up to v%d, the list says v%d", kmsg.NameForKey(key), r.MaxVersion(), want[1])
		}
	}
}
