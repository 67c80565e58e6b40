package broker_test

import (
	"fmt"
	"testing"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Requests that name something more than once are answered as Kafka's
// handlers answer them, once per distinct thing, and a request whose
// response would exceed --max-response-memory is refused instead of built.

func TestRepeatedNamesAnsweredOnce(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "rep", 2)
	r := newRaw(t, b.Addr())

	t.Run("DescribeGroups", func(t *testing.T) {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Version, req.Groups = 5, []string{"g", "", "g", "", "h", "g"}
		got := r.do(req).(*kmsg.DescribeGroupsResponse).Groups
		if len(got) != 3 || got[0].Group != "g" || got[1].Group != "" || got[2].Group != "h" {
			t.Fatalf("answered %v, want g, \"\", h once each in order", groupNames(got))
		}
	})
	t.Run("FindCoordinator", func(t *testing.T) {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.Version, req.CoordinatorKeys = 4, []string{"a", "a", "b", "a"}
		got := r.do(req).(*kmsg.FindCoordinatorResponse).Coordinators
		if len(got) != 2 || got[0].Key != "a" || got[1].Key != "b" || got[0].NodeID != 0 {
			t.Fatalf("answered %+v, want a and b once each", got)
		}
	})
	t.Run("Metadata", func(t *testing.T) {
		req := metadataReq("rep", "rep", "rep")
		req.AllowAutoTopicCreation = false
		got := r.do(req).(*kmsg.MetadataResponse).Topics
		if len(got) != 1 || *got[0].Topic != "rep" || len(got[0].Partitions) != 2 {
			t.Fatalf("answered %d topics, want rep once with its 2 partitions", len(got))
		}
	})
	t.Run("DescribeConfigs", func(t *testing.T) {
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.Version = 4
		for _, names := range [][]string{{"retention.ms"}, {"cleanup.policy"}} {
			rr := kmsg.NewDescribeConfigsRequestResource()
			rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeTopic, "rep", names
			req.Resources = append(req.Resources, rr)
		}
		got := r.do(req).(*kmsg.DescribeConfigsResponse).Resources
		if len(got) != 1 || got[0].ErrorCode != 0 {
			t.Fatalf("answered %d resources, want rep once", len(got))
		}
		var names []string
		for _, c := range got[0].Configs {
			names = append(names, c.Name)
		}
		if len(names) != 2 {
			t.Fatalf("configs %v, want the two asked across both repetitions", names)
		}
	})
	t.Run("OffsetFetch", func(t *testing.T) {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 8
		for range 3 {
			g := kmsg.NewOffsetFetchRequestGroup()
			g.Group = "of"
			ft := kmsg.NewOffsetFetchRequestGroupTopic()
			ft.Topic, ft.Partitions = "rep", []int32{0}
			g.Topics = append(g.Topics, ft)
			req.Groups = append(req.Groups, g)
		}
		got := r.do(req).(*kmsg.OffsetFetchResponse).Groups
		if len(got) != 1 || got[0].Group != "of" {
			t.Fatalf("answered %d groups, want of once", len(got))
		}
	})
}

func groupNames(gs []kmsg.DescribeGroupsResponseGroup) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.Group)
	}
	return out
}

// Partition-keyed APIs answer each partition once, as Kafka's handlers,
// which key the request by partition.
func TestRepeatedPartitionsAsKafka(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "dup", 2)
	r := newRaw(t, b.Addr())

	t.Run("Produce", func(t *testing.T) {
		// The same partition twice (and its topic twice): one append, of
		// the last repetition's records, one answer.
		req := produceReq("dup", 0, -1, goodBatch(2))
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "dup"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = 0, goodBatch(5)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := r.do(req).(*kmsg.ProduceResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("answered %+v, want dup/0 once, appended", resp.Topics)
		}
		if code, n := r.fetchAll("dup", 0); code != 0 || n != 5 {
			t.Fatalf("partition holds %d records (%v), want the last repetition's 5", n, kerr.ErrorForCode(code))
		}
	})
	t.Run("Fetch", func(t *testing.T) {
		req := fetchReq("dup", 0, 0)
		req.Topics = append(req.Topics, req.Topics[0])
		resp := r.do(req).(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("answered %d topics, want dup/0 once", len(resp.Topics))
		}
		if _, n := countRecords(t, resp.Topics[0].Partitions[0].RecordBatches, 0); n != 5 {
			t.Fatalf("fetched %d records, want 5", n)
		}
	})
	t.Run("ListOffsets", func(t *testing.T) {
		// Kafka: a repeated partition gets INVALID_REQUEST, once; the
		// others are answered.
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version = 7
		for _, p := range []int32{0, 1, 0} {
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = "dup"
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp = p, -1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		resp := r.do(req).(*kmsg.ListOffsetsResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
			t.Fatalf("answered %+v, want one topic with partitions 0 and 1", resp.Topics)
		}
		p0, p1 := resp.Topics[0].Partitions[0], resp.Topics[0].Partitions[1]
		if p0.Partition != 0 || p0.ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("repeated partition 0: %v, want INVALID_REQUEST", kerr.ErrorForCode(p0.ErrorCode))
		}
		if p1.Partition != 1 || p1.ErrorCode != 0 || p1.Offset != 0 {
			t.Errorf("partition 1: %v offset %d, want its end offset 0", kerr.ErrorForCode(p1.ErrorCode), p1.Offset)
		}
	})
	t.Run("DeleteRecords", func(t *testing.T) {
		req := kmsg.NewPtrDeleteRecordsRequest()
		req.Version = 2
		for _, off := range []int64{1, 3} {
			rt := kmsg.NewDeleteRecordsRequestTopic()
			rt.Topic = "dup"
			rp := kmsg.NewDeleteRecordsRequestTopicPartition()
			rp.Partition, rp.Offset = 0, off
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		resp := r.do(req).(*kmsg.DeleteRecordsResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("answered %+v, want dup/0 once", resp.Topics)
		}
		if sp := resp.Topics[0].Partitions[0]; sp.ErrorCode != 0 || sp.LowWatermark != 3 {
			t.Fatalf("low watermark %d (%v), want 3: the last repetition", sp.LowWatermark, kerr.ErrorForCode(sp.ErrorCode))
		}
	})
}

// Topic and config changes refuse repeated names with INVALID_REQUEST and
// change nothing, as Kafka's controller and ConfigAdminManager do.
func TestRepeatedNamesRefusedAsKafka(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "keep", 1)
	r := newRaw(t, b.Addr())
	exists := func(name string) bool {
		req := metadataReq(name)
		req.AllowAutoTopicCreation = false
		return metadataCode(r.do(req)) == 0
	}

	t.Run("CreateTopics", func(t *testing.T) {
		req := createReq("twice", 1, 1)
		req.Topics = append(req.Topics, req.Topics[0], createReq("once", 1, 1).Topics[0], req.Topics[0])
		got := r.do(req).(*kmsg.CreateTopicsResponse).Topics
		if len(got) != 2 || got[0].Topic != "twice" || got[0].ErrorCode != kerr.InvalidRequest.Code || got[1].Topic != "once" || got[1].ErrorCode != 0 {
			t.Fatalf("answered %+v, want twice once with INVALID_REQUEST, then once created", got)
		}
		if exists("twice") {
			t.Fatal("a topic named twice was created")
		}
	})
	t.Run("DeleteTopics", func(t *testing.T) {
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.Version, req.TopicNames = 5, []string{"keep", "keep", "keep"}
		got := r.do(req).(*kmsg.DeleteTopicsResponse).Topics
		if len(got) != 1 || *got[0].Topic != "keep" || got[0].ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("answered %+v, want keep once with INVALID_REQUEST", got)
		}
		if !exists("keep") {
			t.Fatal("a topic named twice was deleted")
		}
		// v6: by id, repeated, and an entry with neither name nor id.
		req = kmsg.NewPtrDeleteTopicsRequest()
		req.Version = 6
		mreq := metadataReq("keep")
		mreq.Version = 12 // with topic ids
		id := r.do(mreq).(*kmsg.MetadataResponse).Topics[0].TopicID
		for range 2 {
			dt := kmsg.NewDeleteTopicsRequestTopic()
			dt.TopicID = id
			req.Topics = append(req.Topics, dt)
		}
		req.Topics = append(req.Topics, kmsg.NewDeleteTopicsRequestTopic())
		got = r.do(req).(*kmsg.DeleteTopicsResponse).Topics
		if len(got) != 2 || got[0].TopicID != id || got[0].ErrorCode != kerr.InvalidRequest.Code || got[1].ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("answered %+v, want the repeated id once and the empty entry, both INVALID_REQUEST", got)
		}
		if !exists("keep") {
			t.Fatal("a topic named twice by id was deleted")
		}
	})
	t.Run("CreatePartitions", func(t *testing.T) {
		req := createPartitionsReq("keep", 3)
		req.Topics = append(req.Topics, req.Topics[0])
		got := r.do(req).(*kmsg.CreatePartitionsResponse).Topics
		if len(got) != 1 || got[0].ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("answered %+v, want keep once with INVALID_REQUEST", got)
		}
		meta := r.do(metadataReq("keep")).(*kmsg.MetadataResponse)
		if n := len(meta.Topics[0].Partitions); n != 1 {
			t.Fatalf("keep has %d partitions, want 1 (unchanged)", n)
		}
	})
	t.Run("AlterConfigs", func(t *testing.T) {
		req := kmsg.NewPtrAlterConfigsRequest()
		for range 2 {
			rr := kmsg.NewAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "keep"
			c := kmsg.NewAlterConfigsRequestResourceConfig()
			c.Name, c.Value = "retention.ms", kmsg.StringPtr("1234")
			rr.Configs = append(rr.Configs, c)
			req.Resources = append(req.Resources, rr)
		}
		got := r.do(req).(*kmsg.AlterConfigsResponse).Resources
		if len(got) != 2 || got[0].ErrorCode != kerr.InvalidRequest.Code || got[1].ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("answered %+v, want both occurrences INVALID_REQUEST", got)
		}
		// One resource naming a config twice.
		req.Resources = req.Resources[:1]
		req.Resources[0].Configs = append(req.Resources[0].Configs, req.Resources[0].Configs[0])
		got = r.do(req).(*kmsg.AlterConfigsResponse).Resources
		if len(got) != 1 || got[0].ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("answered %+v, want INVALID_REQUEST for a config named twice", got)
		}
	})
	t.Run("IncrementalAlterConfigs", func(t *testing.T) {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		for range 2 {
			rr := kmsg.NewIncrementalAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "keep"
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name, c.Value, c.Op = "retention.ms", kmsg.StringPtr("1234"), kmsg.IncrementalAlterConfigOpSet
			rr.Configs = append(rr.Configs, c)
			req.Resources = append(req.Resources, rr)
		}
		got := r.do(req).(*kmsg.IncrementalAlterConfigsResponse).Resources
		if len(got) != 2 || got[0].ErrorCode != kerr.InvalidRequest.Code || got[1].ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("answered %+v, want both occurrences INVALID_REQUEST", got)
		}
	})
	// Nothing above changed the topic's config.
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version = 4
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeTopic, "keep", []string{"retention.ms"}
	req.Resources = append(req.Resources, rr)
	cfg := r.do(req).(*kmsg.DescribeConfigsResponse).Resources[0].Configs[0]
	if *cfg.Value == "1234" {
		t.Fatal("retention.ms was changed by a request that named the topic twice")
	}
}

// With a small --max-response-memory, requests whose answers would exceed
// it are refused: INVALID_REQUEST where the response has a top-level error
// code, a closed connection otherwise. Ordinary requests are still served.
func TestResponseMemoryLimit(t *testing.T) {
	b := rewindtest.Start(t, func(c *broker.Config) { c.MaxResponseMemory = 1 << 20 })
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "small", 1)
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprint("name-", i)
		}
		return out
	}

	t.Run("Fetch", func(t *testing.T) {
		req := fetchReq("small", 0, 0)
		ps := req.Topics[0].Partitions
		for p := int32(1); p < 20000; p++ {
			fp := ps[0]
			fp.Partition = p
			req.Topics[0].Partitions = append(req.Topics[0].Partitions, fp)
		}
		resp := newRaw(t, b.Addr()).do(req).(*kmsg.FetchResponse)
		if resp.ErrorCode != kerr.InvalidRequest.Code || len(resp.Topics) != 0 {
			t.Fatalf("%v with %d topics, want INVALID_REQUEST and none", kerr.ErrorForCode(resp.ErrorCode), len(resp.Topics))
		}
	})
	t.Run("OffsetFetch", func(t *testing.T) {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version, req.Group = 7, "g"
		for _, name := range many(20000) {
			ft := kmsg.NewOffsetFetchRequestTopic()
			ft.Topic, ft.Partitions = name, []int32{0}
			req.Topics = append(req.Topics, ft)
		}
		resp := newRaw(t, b.Addr()).do(req).(*kmsg.OffsetFetchResponse)
		if resp.ErrorCode != kerr.InvalidRequest.Code || len(resp.Topics) != 0 {
			t.Fatalf("%v with %d topics, want INVALID_REQUEST and none", kerr.ErrorForCode(resp.ErrorCode), len(resp.Topics))
		}
	})
	t.Run("OffsetDelete", func(t *testing.T) {
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = "g"
		for _, name := range many(20000) {
			dt := kmsg.NewOffsetDeleteRequestTopic()
			dt.Topic = name
			dp := kmsg.NewOffsetDeleteRequestTopicPartition()
			dt.Partitions = append(dt.Partitions, dp)
			req.Topics = append(req.Topics, dt)
		}
		resp := newRaw(t, b.Addr()).do(req).(*kmsg.OffsetDeleteResponse)
		if resp.ErrorCode != kerr.InvalidRequest.Code || len(resp.Topics) != 0 {
			t.Fatalf("%v with %d topics, want INVALID_REQUEST and none", kerr.ErrorForCode(resp.ErrorCode), len(resp.Topics))
		}
	})
	closes := map[string]kmsg.Request{
		"DescribeGroups":  &kmsg.DescribeGroupsRequest{Version: 5, Groups: many(20000)},
		"FindCoordinator": &kmsg.FindCoordinatorRequest{Version: 4, CoordinatorKeys: many(20000)},
		"Metadata":        metadataReq(many(20000)...),
		"CreateTopics": func() kmsg.Request {
			req := createReq("x", 1, 1)
			for _, name := range many(5000) {
				req.Topics = append(req.Topics, createReq(name, 1, 1).Topics[0])
			}
			return req
		}(),
	}
	for name, req := range closes {
		t.Run(name, func(t *testing.T) {
			c := dial(t, b.Addr())
			c.Write(frame(req, 1))
			expectClosed(t, c, name+" whose response exceeds --max-response-memory")
		})
	}
	// Nothing was created by the refused requests, and others are served.
	servedOnFreshConn(t, b.Addr())
	req := metadataReq("x", "name-1")
	req.AllowAutoTopicCreation = false
	for _, mt := range newRaw(t, b.Addr()).do(req).(*kmsg.MetadataResponse).Topics {
		if mt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("topic %s: %v, want UNKNOWN_TOPIC_OR_PARTITION: a refused request created it", *mt.Topic, kerr.ErrorForCode(mt.ErrorCode))
		}
	}
}

// One Metadata request auto-creates at most 100 topics; the other new
// names get LEADER_NOT_AVAILABLE, as Kafka answers a topic being created,
// and the client's next Metadata creates them.
func TestMetadataAutoCreatesAtMostAHundred(t *testing.T) {
	b := rewindtest.Start(t)
	r := newRaw(t, b.Addr())
	names := make([]string, 150)
	for i := range names {
		names[i] = fmt.Sprint("auto-", i)
	}
	count := func(resp kmsg.Response) (created, pending int) {
		for _, mt := range resp.(*kmsg.MetadataResponse).Topics {
			switch mt.ErrorCode {
			case 0:
				created++
			case kerr.LeaderNotAvailable.Code:
				pending++
			default:
				t.Fatalf("topic %s: %v", *mt.Topic, kerr.ErrorForCode(mt.ErrorCode))
			}
		}
		return created, pending
	}
	if c, p := count(r.do(metadataReq(names...))); c != 100 || p != 50 {
		t.Fatalf("first request: %d created, %d LEADER_NOT_AVAILABLE; want 100 and 50", c, p)
	}
	if c, p := count(r.do(metadataReq(names...))); c != 150 || p != 0 {
		t.Fatalf("second request: %d existing, %d LEADER_NOT_AVAILABLE; want all 150", c, p)
	}
}
