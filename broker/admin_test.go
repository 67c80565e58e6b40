package broker_test

import (
	"errors"
	"testing"
	"time"

	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestAdminTopicsAndConfigs(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)

	resp, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, "admin")
	if err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "admin"); !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("second create: %v, want TOPIC_ALREADY_EXISTS", err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, "replicated"); !errors.Is(err, kerr.InvalidReplicationFactor) {
		t.Fatalf("rf=3: %v, want INVALID_REPLICATION_FACTOR", err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "bad/name"); !errors.Is(err, kerr.InvalidTopicException) {
		t.Fatalf("bad name: %v, want INVALID_TOPIC_EXCEPTION", err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("shred")}, "shredded"); !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("cleanup.policy=shred: %v, want INVALID_CONFIG", err)
	}

	details, err := adm.ListTopics(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if d := details["admin"]; len(d.Partitions) != 3 || d.Partitions[0].Leader != 0 {
		t.Fatalf("topic details = %+v", d)
	}

	rcs, err := adm.DescribeTopicConfigs(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("admin", nil)
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]string{}
	srcs := map[string]kmsg.ConfigSource{}
	for _, c := range rc.Configs {
		vals[c.Key] = c.MaybeValue()
		srcs[c.Key] = c.Source
	}
	if vals["retention.ms"] != "3600000" || srcs["retention.ms"] != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms = %q from %v", vals["retention.ms"], srcs["retention.ms"])
	}
	if vals["segment.bytes"] != "1073741824" || srcs["segment.bytes"] != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("segment.bytes = %q from %v", vals["segment.bytes"], srcs["segment.bytes"])
	}

	alt, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "max.message.bytes", Value: kadm.StringPtr("2000")},
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
	}, "admin")
	if err != nil || alt[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, alt)
	}
	rcs, _ = adm.DescribeTopicConfigs(ctx, "admin")
	rc, _ = rcs.On("admin", nil)
	for _, c := range rc.Configs {
		vals[c.Key] = c.MaybeValue()
	}
	if vals["max.message.bytes"] != "2000" || vals["retention.ms"] != "604800000" {
		t.Fatalf("after alter: max.message.bytes=%s retention.ms=%s", vals["max.message.bytes"], vals["retention.ms"])
	}
	// The new max.message.bytes applies to produce at once.
	big := make([]byte, 4000)
	err = newClient(t, b.Addr(), kgo.ProducerBatchCompression(kgo.NoCompression())).
		ProduceSync(ctx, &kgo.Record{Topic: "admin", Value: big}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("produce over max.message.bytes: %v, want MESSAGE_TOO_LARGE", err)
	}
	alt, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "no.such.config", Value: kadm.StringPtr("1")}}, "admin")
	if !errors.Is(alt[0].Err, kerr.InvalidConfig) {
		t.Fatalf("unknown config: %v, want INVALID_CONFIG", alt[0].Err)
	}

	cp, err := adm.CreatePartitions(ctx, 2, "admin")
	if err != nil || cp["admin"].Err != nil {
		t.Fatalf("add partitions: %v %+v", err, cp)
	}
	details, _ = adm.ListTopics(ctx, "admin")
	if n := len(details["admin"].Partitions); n != 5 {
		t.Fatalf("partitions after adding 2: %d", n)
	}

	dc := kmsg.NewPtrDescribeClusterRequest()
	dc.Version, dc.EndpointType = 1, 1
	cluster, err := dc.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(cluster.Brokers) != 1 || cluster.ControllerID != 0 || cluster.ClusterID == "" || cluster.ErrorCode != 0 {
		t.Fatalf("cluster = %+v", cluster)
	}

	dr, err := adm.DeleteTopics(ctx, "admin")
	if err != nil || dr["admin"].Err != nil {
		t.Fatalf("delete: %v %+v", err, dr)
	}
	dr, _ = adm.DeleteTopics(ctx, "__consumer_offsets")
	if dr["__consumer_offsets"].Err == nil {
		t.Fatal("deleting the internal offsets topic must fail")
	}
	details, _ = adm.ListTopics(ctx)
	if _, ok := details["admin"]; ok {
		t.Fatal("deleted topic still listed")
	}
}

func TestListOffsetsAndDeleteRecords(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("times"), kgo.ProducerLinger(0), kgo.AllowAutoTopicCreation())
	adm := kadm.NewClient(cl)
	base := time.UnixMilli(1_700_000_000_000)
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Value: []byte{byte(i)}, Timestamp: base.Add(time.Duration(i) * time.Second)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	start, _ := adm.ListStartOffsets(ctx, "times")
	end, _ := adm.ListEndOffsets(ctx, "times")
	if o, _ := start.Lookup("times", 0); o.Offset != 0 {
		t.Fatalf("start = %d", o.Offset)
	}
	if o, _ := end.Lookup("times", 0); o.Offset != 10 {
		t.Fatalf("end = %d", o.Offset)
	}
	after, err := adm.ListOffsetsAfterMilli(ctx, base.Add(3500*time.Millisecond).UnixMilli(), "times")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := after.Lookup("times", 0); o.Offset != 4 || o.Timestamp != base.Add(4*time.Second).UnixMilli() {
		t.Fatalf("offset for t+3.5s = %d at %d, want 4", o.Offset, o.Timestamp)
	}
	after, _ = adm.ListOffsetsAfterMilli(ctx, base.Add(time.Hour).UnixMilli(), "times")
	if o, _ := after.Lookup("times", 0); o.Offset != 10 {
		// kadm maps "no such record" (-1) to the end offset.
		t.Fatalf("offset for a future time = %d, want the end (10)", o.Offset)
	}

	del, err := adm.DeleteRecords(ctx, kadm.Offsets{"times": {0: {Topic: "times", Partition: 0, At: 6}}})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := del.Lookup("times", 0); d.Err != nil || d.LowWatermark != 6 {
		t.Fatalf("delete records = %+v", d)
	}
	start, _ = adm.ListStartOffsets(ctx, "times")
	if o, _ := start.Lookup("times", 0); o.Offset != 6 {
		t.Fatalf("start after delete = %d, want 6", o.Offset)
	}
	// Reading below the log start is OFFSET_OUT_OF_RANGE.
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MaxBytes = 10, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "times"
	// kgo sends the broker's highest Fetch version, which names topics
	// by id (v13+).
	tds, err := adm.ListTopics(ctx, "times")
	if err != nil {
		t.Fatal(err)
	}
	ft.TopicID = tds["times"].ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.FetchOffset, fp.PartitionMaxBytes = 2, 1<<20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch below log start: error %d, want OFFSET_OUT_OF_RANGE", code)
	}
	// As Kafka 4.4 answers it (test/differential): an error carries no
	// offsets, the client asks ListOffsets for the new start.
	if p := resp.Topics[0].Partitions[0]; p.LogStartOffset != -1 || p.HighWatermark != -1 || p.LastStableOffset != -1 {
		t.Fatalf("offsets in an OFFSET_OUT_OF_RANGE fetch: log start %d, high watermark %d, last stable %d, want -1 each",
			p.LogStartOffset, p.HighWatermark, p.LastStableOffset)
	}
}

// TestDeleteTopicDropsCommittedOffsets: as in Kafka, deleting a topic
// removes the groups' committed offsets for it, so a new topic of the same
// name starts without stale positions.
func TestDeleteTopicDropsCommittedOffsets(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 20*time.Second)
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	createTopic(t, cl, "doomed", 1)
	createTopic(t, cl, "kept", 1)
	o := kadm.Offsets{}
	o.Add(kadm.Offset{Topic: "doomed", Partition: 0, At: 3})
	o.Add(kadm.Offset{Topic: "kept", Partition: 0, At: 4})
	if r, err := adm.CommitOffsets(ctx, "g-doomed", o); err != nil || r.Error() != nil {
		t.Fatalf("commit: %v %v", err, r.Error())
	}
	if _, err := adm.DeleteTopics(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	createTopic(t, cl, "doomed", 1)
	offs, err := adm.FetchOffsets(ctx, "g-doomed")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := offs.Lookup("doomed", 0); ok {
		t.Fatalf("offset of the deleted topic survived: %+v", got)
	}
	if got, ok := offs.Lookup("kept", 0); !ok || got.At != 4 {
		t.Fatalf("offset of the other topic: %+v", got)
	}
}

// TestMaxMessageBytesZero: max.message.bytes=0 is a value Kafka accepts
// (atLeast(0)) and keeps; it then refuses every batch, however small, with
// MESSAGE_TOO_LARGE. Rewind used to take 0 for unset and accept batches up
// to the default.
func TestMaxMessageBytesZero(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 30*time.Second)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	resp, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"max.message.bytes": kadm.StringPtr("0")}, "zero-max")
	if err != nil || resp.Err != nil {
		t.Fatalf("create with max.message.bytes=0: %v %v", err, resp.Err)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, "zero-max")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("zero-max", nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range rc.Configs {
		if c.Key == "max.message.bytes" {
			found = true
			if c.MaybeValue() != "0" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
				t.Fatalf("max.message.bytes = %q from %v, want 0 from DYNAMIC_TOPIC_CONFIG", c.MaybeValue(), c.Source)
			}
		}
	}
	if !found {
		t.Fatal("max.message.bytes not described")
	}
	err = newClient(t, b.Addr()).ProduceSync(ctx, &kgo.Record{Topic: "zero-max", Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("produce with max.message.bytes=0: %v, want MESSAGE_TOO_LARGE", err)
	}
	ends, err := adm.ListEndOffsets(ctx, "zero-max")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("zero-max", 0); o.Err != nil || o.Offset != 0 {
		t.Fatalf("end offset after a refused batch: %+v, want 0", o)
	}
}
