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

// TestTopicCompressionType: compression.type accepts Kafka's values; a
// topic with zstd stores a franz-go gzip batch rewritten in zstd (what a
// raw Fetch returns), a topic with producer stores it as produced, and a
// consumer reads the same records from both; an unknown value is
// INVALID_CONFIG.
func TestTopicCompressionType(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr(), kgo.ProducerBatchCompression(kgo.GzipCompression()))
	adm := kadm.NewClient(cl)
	ctx := testCtx(t, 30*time.Second)
	for _, ct := range []string{"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"compression.type": kmsg.StringPtr(ct)}, "ct-"+ct); err != nil {
			t.Fatalf("compression.type=%s: %v", ct, err)
		}
	}
	if resp, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"compression.type": kmsg.StringPtr("brotli")}, "ct-bad"); !errors.Is(err, kerr.InvalidConfig) && !errors.Is(resp.Err, kerr.InvalidConfig) {
		t.Fatalf("compression.type=brotli: %v %v, want INVALID_CONFIG", err, resp.Err)
	}
	for _, ct := range []string{"producer", "uncompressed", "zstd"} {
		var recs []*kgo.Record
		for i := range 20 {
			recs = append(recs, &kgo.Record{Topic: "ct-" + ct, Key: []byte{byte(i)}, Value: []byte("value-value-value-value")})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	codecOf := func(topic string) int {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.MaxBytes, req.SessionEpoch = 12, 1<<20, -1
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = topic
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes = 1 << 20
		ft.Partitions = append(ft.Partitions, fp)
		req.Topics = append(req.Topics, ft)
		c := dial(t, b.Addr())
		c.Write(frame(req, 1))
		p := answer(t, c, req, 1).(*kmsg.FetchResponse).Topics[0].Partitions[0]
		h, err := storage.ParseBatchHeader(p.RecordBatches)
		if err != nil {
			t.Fatalf("%s: %v", topic, err)
		}
		recs, err := storage.DecodeRecords(p.RecordBatches[:h.Size()])
		if err != nil || len(recs) != 20 || string(recs[19].Value) != "value-value-value-value" {
			t.Fatalf("%s: %d records (%v)", topic, len(recs), err)
		}
		return h.Compression()
	}
	if c := codecOf("ct-producer"); c != storage.CodecGzip {
		t.Errorf("producer: stored codec %d, want gzip as produced", c)
	}
	if c := codecOf("ct-uncompressed"); c != storage.CodecNone {
		t.Errorf("uncompressed: stored codec %d", c)
	}
	if c := codecOf("ct-zstd"); c != storage.CodecZstd {
		t.Errorf("zstd: stored codec %d", c)
	}
}
