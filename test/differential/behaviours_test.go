package differential

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/rewindhq/rewind/storage"
)

// gzipped is batch (uncompressed, from storage.BuildBatch) with its records
// gzip-compressed.
func gzipped(t *testing.T, batch []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(batch[61:])
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	out := append(append([]byte(nil), batch[:61]...), buf.Bytes()...)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	attrs := binary.BigEndian.Uint16(out[21:]) | 1
	binary.BigEndian.PutUint16(out[21:], attrs)
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli)))
	return out
}

// TestCompactedKeyless: a compacted topic refuses a batch holding a record
// without a key (INVALID_RECORD, each such record named), compressed or
// not, and writes nothing of it; keyed records and a topic with
// cleanup.policy=compact,delete behave the same; delete alone accepts it.
func TestCompactedKeyless(t *testing.T) {
	p := newPair(t)
	compact, both, del := name("keyless-c"), name("keyless-cd"), name("keyless-d")
	p.compare("CreateTopics/compacted", createReq(topic(compact, 1, 1, "cleanup.policy", "compact"),
		topic(both, 1, 1, "cleanup.policy", "compact,delete"), topic(del, 1, 1)), -1, nil)
	p.waitTopic(compact, 1)
	p.waitTopic(both, 1)
	p.waitTopic(del, 1)
	keyless := storage.BuildBatch(1000, []storage.Record{{Timestamp: 1000, Value: []byte("a")}})
	mixed := storage.BuildBatch(1000, []storage.Record{
		{Timestamp: 1000, Key: []byte("k"), Value: []byte("a")},
		{Timestamp: 1000, Value: []byte("b")},
		{Timestamp: 1000, Key: []byte("k2"), Value: []byte("c")},
		{Timestamp: 1000, Value: []byte("d")},
	})
	keyed := storage.BuildBatch(1000, []storage.Record{{Timestamp: 1000, Key: []byte("k"), Value: []byte("a")}})
	tombstone := storage.BuildBatch(1000, []storage.Record{{Timestamp: 1000, Key: []byte("k")}})
	for _, tp := range []string{compact, both, del} {
		p.compare("Produce/keyless to "+tp[:len(tp)-len(suffix)], produceBatch(tp, 0, keyless), -1, nil)
		p.compare("Produce/mixed keys to "+tp[:len(tp)-len(suffix)], produceBatch(tp, 0, mixed), -1, nil)
		p.compare("Produce/gzip mixed keys to "+tp[:len(tp)-len(suffix)], produceBatch(tp, 0, gzipped(t, mixed)), -1, nil)
		p.compare("Produce/keyed to "+tp[:len(tp)-len(suffix)], produceBatch(tp, 0, keyed), -1, nil)
		p.compare("Produce/tombstone to "+tp[:len(tp)-len(suffix)], produceBatch(tp, 0, tombstone), -1, nil)
		p.compare("Produce/after keyless to "+tp[:len(tp)-len(suffix)], listReq(tp, 0, -1, -1, 0), -1, nil)
	}
}

// TestMetadataAfterDelete: a topic deleted and at once named in a
// Metadata request with auto-creation. Kafka 4.4 answers that request
// UNKNOWN_TOPIC_OR_PARTITION (not LEADER_NOT_AVAILABLE) while its
// controller creates the topic again, as for any auto-creation; Rewind
// creates it before answering (a kept difference, as for the first
// auto-creation). Once both have it, it is the same new topic: new id,
// empty.
func TestMetadataAfterDelete(t *testing.T) {
	p := newPair(t)
	tp := name("redel")
	p.mustCreate(tp, 2)
	p.waitTopic(tp, 2)
	p.mustProduce(tp, 0, 1000)
	p.compare("DeleteTopics/before auto-creation", deleteTopicsReq(tp), -1, nil)
	p.compare("Metadata/auto-create after delete", metaReq(true, tp), -1, nil)
	p.waitTopic(tp, -1)
	p.compare("Metadata/recreated after delete", metaReq(false, tp), -1, nil)
	p.compare("ListOffsets/recreated after delete", listReq(tp, 0, -1, -1, 0), -1, nil)
}

// TestCompressionTypeProduce: topics with each compression.type take an
// uncompressed and a gzip batch alike (what is stored, recompressed or
// not, is compared by the broker tests: the bytes differ between codec
// implementations), and the offsets that follow agree.
func TestCompressionTypeProduce(t *testing.T) {
	p := newPair(t)
	batch := storage.BuildBatch(1000, []storage.Record{
		{Timestamp: 1000, Key: []byte("a"), Value: bytes.Repeat([]byte("x"), 300)},
		{Timestamp: 1001, Key: []byte("b"), Value: bytes.Repeat([]byte("y"), 300)},
	})
	for _, ct := range []string{"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"} {
		tp := name("ct-" + ct)
		p.compare("CreateTopics/compression.type="+ct, createReq(topic(tp, 1, 1, "compression.type", ct)), -1, nil)
		p.waitTopic(tp, 1)
		p.compare("Produce/uncompressed to compression.type="+ct, produceBatch(tp, 0, append([]byte(nil), batch...)), -1, nil)
		p.compare("Produce/gzip to compression.type="+ct, produceBatch(tp, 0, gzipped(t, batch)), -1, nil)
		p.compare("ListOffsets/after compression.type="+ct, listReq(tp, 0, -1, -1, 0), -1, nil)
	}
}
