package broker_test

import (
	"errors"
	"testing"
	"time"

	"github.com/rewindhq/rewind/rewindtest"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCompactedTopicRefusesKeyless: a record without a key produced to a
// cleanup.policy=compact topic is INVALID_RECORD, as Kafka's LogValidator
// answers (it could never be compacted): a franz-go producer gets the
// error, a raw produce sees each keyless record named with the log start
// offset, nothing of the batch is written, and keyed records and
// tombstones go in. Switching the topic to delete accepts keyless ones.
func TestCompactedTopicRefusesKeyless(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	ctx := testCtx(t, 30*time.Second)
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kmsg.StringPtr("compact")}, "kv"); err != nil {
		t.Fatal(err)
	}
	err := cl.ProduceSync(ctx, &kgo.Record{Topic: "kv", Value: []byte("no key")}).FirstErr()
	if !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless record: %v, want INVALID_RECORD", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "kv", Key: []byte("k"), Value: []byte("v")}, &kgo.Record{Topic: "kv", Key: []byte("k")}).FirstErr(); err != nil {
		t.Fatalf("keyed record and tombstone: %v", err)
	}

	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "kv"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = storage.BuildBatch(1000, []storage.Record{
		{Timestamp: 1000, Key: []byte("a"), Value: []byte("1")},
		{Timestamp: 1000, Value: []byte("2")},
		{Timestamp: 1000, Key: []byte("b"), Value: []byte("3")},
		{Timestamp: 1000, Value: []byte("4")},
	})
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	req.Version = 12
	c := dial(t, b.Addr())
	c.Write(frame(req, 1))
	p := answer(t, c, req, 1).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	if p.ErrorCode != kerr.InvalidRecord.Code || p.BaseOffset != -1 || p.LogStartOffset != 0 || len(p.ErrorRecords) != 2 ||
		p.ErrorRecords[0].RelativeOffset != 1 || p.ErrorRecords[1].RelativeOffset != 3 {
		t.Fatalf("mixed batch: %v, base %d, log start %d, records %+v; want INVALID_RECORD naming records 1 and 3",
			kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, p.LogStartOffset, p.ErrorRecords)
	}
	if ends, err := adm.ListEndOffsets(ctx, "kv"); err != nil || ends["kv"][0].Offset != 2 {
		t.Fatalf("end offset %+v (%v), want 2: the refused batches wrote nothing", ends, err)
	}

	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "cleanup.policy", Value: kmsg.StringPtr("delete")}}, "kv"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "kv", Value: []byte("no key")}).FirstErr(); err != nil {
		t.Fatalf("keyless record after cleanup.policy=delete: %v", err)
	}
}
