package broker_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The bad-input matrix: every malformed or hostile input a client can send
// over TCP, each answered with the Kafka error a real broker gives or with
// a closed connection, and never hurting anyone else: after every case a
// fresh connection is served, and at the end a real client produces and
// reads back.

// Record batch helpers (magic v2, Kafka's layout).
const (
	offLength      = 8
	offMagic       = 16
	offCRC         = 17
	offAttributes  = 21
	offLastDelta   = 23
	offNumRecords  = 57
	batchHeaderLen = 61
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func goodBatch(n int) []byte {
	recs := make([]storage.Record, n)
	for i := range recs {
		recs[i] = storage.Record{Timestamp: 1000, Key: []byte(fmt.Sprint(i)), Value: []byte(strings.Repeat("v", 40))}
	}
	return storage.BuildBatch(1000, recs)
}

// fixBatch sets the length field and recomputes the CRC, so that only the
// intended damage remains.
func fixBatch(b []byte) []byte {
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return b
}

// mutBatch returns a good batch changed by f, with its CRC fixed after.
func mutBatch(f func(b []byte)) []byte {
	b := goodBatch(3)
	f(b)
	return fixBatch(b)
}

// compressed returns a good batch compressed with codec (1 gzip, 2 snappy,
// 3 lz4, 4 zstd), optionally with its compressed payload damaged.
func compressed(t *testing.T, codec int, damage bool) []byte {
	t.Helper()
	b := goodBatch(3)
	body := b[batchHeaderLen:]
	var out []byte
	switch codec {
	case 1:
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(body)
		w.Close()
		out = buf.Bytes()
	case 2:
		out = s2.EncodeSnappy(nil, body)
	case 3:
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf)
		w.Write(body)
		w.Close()
		out = buf.Bytes()
	case 4:
		w, _ := zstd.NewWriter(nil)
		out = w.EncodeAll(body, nil)
	}
	if damage {
		for i := len(out) / 3; i < len(out); i++ {
			out[i] ^= 0xa5
		}
	}
	nb := append(bytes.Clone(b[:batchHeaderLen]), out...)
	attrs := binary.BigEndian.Uint16(nb[offAttributes:])
	binary.BigEndian.PutUint16(nb[offAttributes:], attrs&^7|uint16(codec))
	return fixBatch(nb)
}

func produceReq(topic string, partition int32, acks int16, records []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, acks, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func createReq(name string, partitions int32, rf int16) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version, req.TimeoutMillis = 5, 5000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
	req.Topics = append(req.Topics, rt)
	return req
}

func createPartitionsReq(name string, count int32) *kmsg.CreatePartitionsRequest {
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.Version, req.TimeoutMillis = 2, 5000
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = name, count
	req.Topics = append(req.Topics, rt)
	return req
}

func metadataReq(topics ...string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.Version, req.AllowAutoTopicCreation = 9, true
	for _, n := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(n)
		req.Topics = append(req.Topics, rt)
	}
	return req
}

func fetchReq(topic string, partition int32, offset int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.MaxWaitMillis, req.MaxBytes = 11, 10, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes, fp.LogStartOffset = partition, offset, 1<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	return req
}

// header builds a request header v1 (size filled in by frameOf).
func header(key, version int16, corr int32) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	return append(b, 0xff, 0xff) // null client id
}

func frameOf(body ...[]byte) []byte {
	all := bytes.Join(body, nil)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(all))), all...)
}

// answer decodes the response to req read from c.
func answer(t *testing.T, c net.Conn, req kmsg.Request, corr int32) kmsg.Response {
	t.Helper()
	got, body := readResponse(t, c)
	if got != corr {
		t.Fatalf("correlation id %d, want %d", got, corr)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != 18 {
		body = body[1:] // response header tags (empty); ApiVersions has none
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("decode %s response: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

func produceCode(r kmsg.Response) int16 {
	return r.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
}
func createCode(r kmsg.Response) int16 { return r.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode }
func createPartitionsCode(r kmsg.Response) int16 {
	return r.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode
}
func metadataCode(r kmsg.Response) int16 { return r.(*kmsg.MetadataResponse).Topics[0].ErrorCode }
func fetchCode(r kmsg.Response) int16 {
	return r.(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode
}

// servedOnFreshConn checks that a new connection gets a correct answer.
func servedOnFreshConn(t *testing.T, addr string) {
	t.Helper()
	c := dial(t, addr)
	req := metadataReq("bad-input")
	c.Write(frame(req, 9))
	if code := metadataCode(answer(t, c, req, 9)); code != 0 {
		t.Fatalf("metadata on a fresh connection: %v", kerr.ErrorForCode(code))
	}
	c.Close()
}

func TestBadInputMatrix(t *testing.T) {
	b := rewindtest.Start(t)
	addr := b.Addr()
	ctx := testCtx(t, 60*time.Second)
	cl := newClient(t, addr)
	createTopic(t, cl, "bad-input", 2)

	long := strings.Repeat("x", 250)

	// Inputs that break the framing or the request header: Kafka cannot
	// answer them and closes the connection.
	closes := []struct {
		name string
		data []byte
		half bool // then close our write side, as a client dying mid-frame
	}{
		{"oversized length prefix", binary.BigEndian.AppendUint32(nil, 200<<20), false},
		{"max int32 length prefix", binary.BigEndian.AppendUint32(nil, 0x7fffffff), false},
		{"negative length", binary.BigEndian.AppendUint32(nil, 0xfffffff0), false},
		{"length -1", binary.BigEndian.AppendUint32(nil, 0xffffffff), false},
		{"zero length", binary.BigEndian.AppendUint32(nil, 0), false},
		{"length shorter than a header", []byte{0, 0, 0, 3, 0, 0, 0}, false},
		{"truncated frame", append(binary.BigEndian.AppendUint32(nil, 100), 0, 18, 0, 0), true},
		{"truncated length", []byte{0, 0}, true},
		{"header without client id", frameOf([]byte{0, 18, 0, 0, 0, 0, 0, 1}), false},
		{"client id longer than the frame", frameOf([]byte{0, 18, 0, 0, 0, 0, 0, 1, 0x7f, 0xff}), false},
		{"unknown API key", frameOf(header(0x7f00, 0, 1)), false},
		{"negative API key", frameOf(header(-1, 0, 1)), false},
		{"API key just past the last kmsg knows", frameOf(header(95, 0, 1)), false},
		{"Produce v0 (not served)", frame(func() kmsg.Request { r := kmsg.NewPtrProduceRequest(); r.Version = 0; return r }(), 1), false},
		// Versions Kafka 4.0 removed (KIP-896): Kafka closes the connection.
		{"CreateTopics v1 (removed)", frame(func() kmsg.Request { r := kmsg.NewPtrCreateTopicsRequest(); r.Version = 1; return r }(), 1), false},
		{"DeleteTopics v0 (removed)", frame(func() kmsg.Request { r := kmsg.NewPtrDeleteTopicsRequest(); r.Version = 0; return r }(), 1), false},
		{"DescribeConfigs v0 (removed)", frame(func() kmsg.Request { r := kmsg.NewPtrDescribeConfigsRequest(); r.Version = 0; return r }(), 1), false},
		{"OffsetCommit v0 (removed)", frame(func() kmsg.Request { r := kmsg.NewPtrOffsetCommitRequest(); r.Version = 0; return r }(), 1), false},
		{"OffsetCommit v1 (removed)", frame(func() kmsg.Request { r := kmsg.NewPtrOffsetCommitRequest(); r.Version = 1; return r }(), 1), false},
		{"OffsetFetch v0 (removed)", frame(func() kmsg.Request { r := kmsg.NewPtrOffsetFetchRequest(); r.Version = 0; return r }(), 1), false},
		{"unknown Produce version", frameOf(header(0, 99, 1)), false},
		{"unknown Fetch version", frameOf(header(1, 999, 1)), false},
		{"negative version", frameOf(header(3, -1, 1)), false},
		{"garbage after a valid header", frameOf(header(3, 5, 1), bytes.Repeat([]byte{0xff}, 4)), false},
		{"garbage body of a flexible request", frameOf(header(3, 9, 1), []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80}), false},
		{"array count beyond the frame", frameOf(header(3, 1, 1), []byte{0x7f, 0xff, 0xff, 0xff}), false},
		{"negative string length", frameOf(header(19, 2, 1), []byte{0, 0, 0, 1, 0x80, 0x00}), false},
		{"Produce with records longer than the frame", frameOf(header(0, 3, 1), []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 3, 0xe8, 0, 0, 0, 1, 0, 1, 'x', 0, 0, 0, 1, 0, 0, 0, 0, 0x7f, 0, 0, 0}), false},
	}
	for _, tc := range closes {
		t.Run("closes/"+tc.name, func(t *testing.T) {
			c := dial(t, addr)
			if _, err := c.Write(tc.data); err != nil {
				t.Fatal(err)
			}
			if tc.half {
				c.(*net.TCPConn).CloseWrite()
			}
			expectClosed(t, c, tc.name)
			servedOnFreshConn(t, addr)
		})
	}

	// Well-framed requests with bad content: the Kafka error, and the
	// connection goes on serving.
	bigBatch := goodBatch(1)
	bigBatch = fixBatch(append(bigBatch[:len(bigBatch):len(bigBatch)], make([]byte, 2<<20)...))
	answers := []struct {
		name string
		req  kmsg.Request
		code func(kmsg.Response) int16
		want *kerr.Error
	}{
		{"wrong CRC", produceReq("bad-input", 0, -1, func() []byte { b := goodBatch(3); b[len(b)-1] ^= 1; return b }()), produceCode, kerr.CorruptMessage},
		{"wrong CRC field", produceReq("bad-input", 0, -1, func() []byte { b := goodBatch(3); b[offCRC] ^= 0xff; return b }()), produceCode, kerr.CorruptMessage},
		{"magic 1 (old format)", produceReq("bad-input", 0, -1, mutBatch(func(b []byte) { b[offMagic] = 1 })), produceCode, kerr.InvalidRecord},
		{"magic 0 (old format)", produceReq("bad-input", 0, -1, mutBatch(func(b []byte) { b[offMagic] = 0 })), produceCode, kerr.InvalidRecord},
		{"magic 3 (no such format)", produceReq("bad-input", 0, -1, mutBatch(func(b []byte) { b[offMagic] = 3 })), produceCode, kerr.CorruptMessage},
		{"magic -1", produceReq("bad-input", 0, -1, mutBatch(func(b []byte) { b[offMagic] = 0xff })), produceCode, kerr.CorruptMessage},
		{"negative record count", produceReq("bad-input", 0, -1, mutBatch(func(b []byte) {
			binary.BigEndian.PutUint32(b[offNumRecords:], 0xfffffffe)
			binary.BigEndian.PutUint32(b[offLastDelta:], 0xfffffffd)
		})), produceCode, kerr.CorruptMessage},
		{"zero record count", produceReq("bad-input", 0, -1, mutBatch(func(b []byte) {
			binary.BigEndian.PutUint32(b[offNumRecords:], 0)
			binary.BigEndian.PutUint32(b[offLastDelta:], 0xffffffff)
		})), produceCode, kerr.CorruptMessage},
		{"record count above the records", produceReq("bad-input", 0, -1, mutBatch(func(b []byte) {
			binary.BigEndian.PutUint32(b[offNumRecords:], 1000)
			binary.BigEndian.PutUint32(b[offLastDelta:], 999)
		})), produceCode, kerr.CorruptMessage},
		{"record count below the last offset delta", produceReq("bad-input", 0, -1, mutBatch(func(b []byte) { binary.BigEndian.PutUint32(b[offNumRecords:], 2) })), produceCode, kerr.CorruptMessage},
		{"batch length beyond the records", produceReq("bad-input", 0, -1, func() []byte {
			b := goodBatch(3)
			binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)))
			return b
		}()), produceCode, kerr.CorruptMessage},
		{"batch length below a header", produceReq("bad-input", 0, -1, func() []byte {
			b := goodBatch(3)
			binary.BigEndian.PutUint32(b[offLength:], 10)
			return b
		}()), produceCode, kerr.CorruptMessage},
		{"negative batch length", produceReq("bad-input", 0, -1, func() []byte {
			b := goodBatch(3)
			binary.BigEndian.PutUint32(b[offLength:], 0x80000000)
			return b
		}()), produceCode, kerr.CorruptMessage},
		{"records shorter than a batch header", produceReq("bad-input", 0, -1, goodBatch(3)[:40]), produceCode, kerr.CorruptMessage},
		{"a second batch's length below a record's", produceReq("bad-input", 0, -1, append(goodBatch(3), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 2)), produceCode, kerr.CorruptMessage},
		{"two batches for one partition", produceReq("bad-input", 0, -1, append(goodBatch(3), goodBatch(1)...)), produceCode, kerr.InvalidRecord},
		{"record with a bad length", produceReq("bad-input", 0, -1, mutBatch(func(b []byte) { b[batchHeaderLen] = 0x7f })), produceCode, kerr.CorruptMessage},
		{"unknown compression codec", produceReq("bad-input", 0, -1, mutBatch(func(b []byte) { b[offAttributes+1] |= 6 })), produceCode, kerr.InvalidRecord},
		{"control batch", produceReq("bad-input", 0, -1, mutBatch(func(b []byte) { b[offAttributes+1] |= 0x20 })), produceCode, kerr.InvalidRecord},
		{"gzip batch with corrupt payload", produceReq("bad-input", 0, -1, compressed(t, 1, true)), produceCode, kerr.CorruptMessage},
		{"snappy batch with corrupt payload", produceReq("bad-input", 0, -1, compressed(t, 2, true)), produceCode, kerr.CorruptMessage},
		{"lz4 batch with corrupt payload", produceReq("bad-input", 0, -1, compressed(t, 3, true)), produceCode, kerr.CorruptMessage},
		{"zstd batch with corrupt payload", produceReq("bad-input", 0, -1, compressed(t, 4, true)), produceCode, kerr.CorruptMessage},
		{"batch over max.message.bytes", produceReq("bad-input", 0, -1, bigBatch), produceCode, kerr.MessageTooLarge},
		{"no records", produceReq("bad-input", 0, -1, []byte{}), produceCode, kerr.InvalidRecord},
		{"acks 2", produceReq("bad-input", 0, 2, goodBatch(1)), produceCode, kerr.InvalidRequiredAcks},
		{"produce to a negative partition", produceReq("bad-input", -1, -1, goodBatch(1)), produceCode, kerr.UnknownTopicOrPartition},
		{"produce to a partition past the last", produceReq("bad-input", 1<<30, -1, goodBatch(1)), produceCode, kerr.UnknownTopicOrPartition},
		{"produce to an illegal topic name", produceReq("bad/name", 0, -1, goodBatch(1)), produceCode, kerr.UnknownTopicOrPartition},
		{"produce to __consumer_offsets", produceReq("__consumer_offsets", 0, -1, goodBatch(1)), produceCode, kerr.InvalidTopicException},
		{"topic name with a slash", createReq("a/b", 1, 1), createCode, kerr.InvalidTopicException},
		{"topic name with a space", createReq("a b", 1, 1), createCode, kerr.InvalidTopicException},
		{"topic name with a NUL", createReq("a\x00b", 1, 1), createCode, kerr.InvalidTopicException},
		{"topic name with non-ASCII", createReq("café", 1, 1), createCode, kerr.InvalidTopicException},
		{"topic name ..", createReq("..", 1, 1), createCode, kerr.InvalidTopicException},
		{"empty topic name", createReq("", 1, 1), createCode, kerr.InvalidTopicException},
		{"topic name of 250 chars", createReq(long, 1, 1), createCode, kerr.InvalidTopicException},
		{"auto-create a 250-char name", metadataReq(long), metadataCode, kerr.InvalidTopicException},
		{"auto-create a name with illegal chars", metadataReq("no*stars"), metadataCode, kerr.InvalidTopicException},
		{"huge partition count", createReq("huge", 1<<31-1, 1), createCode, kerr.InvalidPartitions},
		{"partition count over --max-partitions", createReq("huge", 10001, 1), createCode, kerr.InvalidPartitions},
		{"zero partitions", createReq("zero", 0, 1), createCode, kerr.InvalidPartitions},
		{"negative partitions", createReq("neg", -5, 1), createCode, kerr.InvalidPartitions},
		{"replication factor 3 on one node", createReq("rf3", 1, 3), createCode, kerr.InvalidReplicationFactor},
		{"grow to a huge partition count", createPartitionsReq("bad-input", 1<<31-1), createPartitionsCode, kerr.InvalidPartitions},
		{"shrink partitions", createPartitionsReq("bad-input", 1), createPartitionsCode, kerr.InvalidPartitions},
		{"fetch a negative offset", fetchReq("bad-input", 0, -5), fetchCode, kerr.OffsetOutOfRange},
		{"fetch past the end", fetchReq("bad-input", 0, 1<<40), fetchCode, kerr.OffsetOutOfRange},
		{"fetch a negative partition", fetchReq("bad-input", -1, 0), fetchCode, kerr.UnknownTopicOrPartition},
		{"fetch an unknown topic", fetchReq("no-such-topic", 0, 0), fetchCode, kerr.UnknownTopicOrPartition},
	}
	c := dial(t, addr)
	for i, tc := range answers {
		t.Run("answers/"+tc.name, func(t *testing.T) {
			corr := int32(100 + i)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(frame(tc.req, corr)); err != nil {
				t.Fatal(err)
			}
			if got := tc.code(answer(t, c, tc.req, corr)); got != tc.want.Code {
				t.Fatalf("error %v, want %v", kerr.ErrorForCode(got), tc.want)
			}
		})
	}

	// The topic with a 249-character name is legal.
	ok := strings.Repeat("y", 249)
	req := createReq(ok, 1, 1)
	c.Write(frame(req, 1))
	if code := createCode(answer(t, c, req, 1)); code != 0 {
		t.Fatalf("creating a 249-character topic: %v", kerr.ErrorForCode(code))
	}

	// Nothing the bad produces sent was stored: the log is empty.
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "bad-input")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset != 0 {
			t.Errorf("partition %d has %d records after refused produces", o.Partition, o.Offset)
		}
	})

	// A well-formed client on another connection is served normally.
	prod := newClient(t, addr, kgo.DefaultProduceTopic("bad-input"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := int32(0); p < 2; p++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("ok")}, kgo.StringRecord("ok")).FirstErr(); err != nil {
			t.Fatalf("produce after bad input: %v", err)
		}
	}
	cons := newClient(t, addr, kgo.ConsumeTopics("bad-input"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := 0
	for seen < 2 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("consuming after bad input timed out")
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch %d: %v", p, err) })
		seen += fs.NumRecords()
	}
}

// TestProduceDropsTornTail: what follows a partition's batch and cannot
// begin another (a few bytes, a second batch cut short) is dropped and the
// batch appended, as Kafka does: its batch iterator stops before such a
// tail and its log trims what was not validated. Every record of the
// batches is then read back, and nothing else.
func TestProduceDropsTornTail(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "tail", 1)
	c := dial(t, b.Addr())
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for i, records := range [][]byte{
		append(goodBatch(3), 1, 2, 3),
		append(goodBatch(3), goodBatch(1)[:30]...),
	} {
		req := produceReq("tail", 0, -1, records)
		corr := int32(1 + i)
		if _, err := c.Write(frame(req, corr)); err != nil {
			t.Fatal(err)
		}
		p := answer(t, c, req, corr).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.BaseOffset != int64(3*i) {
			t.Fatalf("produce %d: %v at offset %d, want offset %d", i, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, 3*i)
		}
	}
	cons := newClient(t, b.Addr(), kgo.ConsumeTopics("tail"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var keys []string
	for len(keys) < 6 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %v, want 6 records", keys)
		}
		fs.EachRecord(func(r *kgo.Record) { keys = append(keys, string(r.Key)) })
	}
	if got := strings.Join(keys, ","); got != "0,1,2,0,1,2" {
		t.Fatalf("records %s, want 0,1,2,0,1,2", got)
	}
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "tail")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("tail", 0); o.Offset != 6 {
		t.Fatalf("end offset %d, want 6", o.Offset)
	}
}
