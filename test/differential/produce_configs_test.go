package differential

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// batchSpec is one uncompressed v2 record batch built with kmsg.
type batchSpec struct {
	pid      int64
	epoch    int16
	seq      int32
	records  int
	valueLen int
	magic    int8 // 2 when 0
	badCRC   bool
	txn      bool // the transactional attribute
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (s batchSpec) bytes() []byte {
	var recs []byte
	for i := range s.records {
		r := kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: int64(i), Key: fmt.Appendf(nil, "k%d", i),
			Value: bytes.Repeat([]byte{'v'}, max(s.valueLen, 1))}
		// Length is the varint length of what follows it: encode once to
		// measure (a zero Length is one byte), then for real.
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(s.records - 1),
		FirstTimestamp:       1000,
		MaxTimestamp:         1000 + int64(s.records-1),
		ProducerID:           s.pid,
		ProducerEpoch:        s.epoch,
		FirstSequence:        s.seq,
		NumRecords:           int32(s.records),
		Records:              recs,
	}
	if s.pid < 0 {
		b.ProducerEpoch, b.FirstSequence = -1, -1
	}
	if s.magic != 0 {
		b.Magic = s.magic
	}
	if s.txn {
		b.Attributes |= 0x10
	}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	// The CRC (Castagnoli) covers everything after it, from attributes.
	crc := crc32.Checksum(out[21:], castagnoli)
	if s.badCRC {
		crc ^= 0xdeadbeef
	}
	binary.BigEndian.PutUint32(out[17:], crc)
	return out
}

func produceBatch(topic string, partition int32, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// compareEach sends kreq to Kafka and rreq to Rewind (requests that must
// differ, such as the producer id each broker gave) at the newest common
// version and compares the answers.
func (p *pair) compareEach(scenario string, kreq, rreq kmsg.Request) {
	p.t.Helper()
	_, hi, ok := p.common(kreq)
	if !ok {
		p.t.Fatalf("%s: no common version", scenario)
	}
	kreq.SetVersion(hi)
	rreq.SetVersion(hi)
	k, kerr := p.kafka.send(kreq)
	r, rerr := p.rewind.send(rreq)
	scenario = fmt.Sprintf("%s/%s_v%d", scenario, kmsg.NameForKey(kreq.Key()), hi)
	if kerr != nil || rerr != nil {
		var ds []difference
		if kerr != rerr {
			ds = append(ds, difference{path: "(connection)", kafka: describeErr(kerr), rewind: describeErr(rerr)})
		}
		if kerr != nil {
			p.kafka = dial(p.t, p.kafkaAddr)
		}
		if rerr != nil {
			p.rewind = dial(p.t, p.rewindAddr)
		}
		p.report(scenario, ds)
		return
	}
	normalize(k, p.kafkaNode)
	normalize(r, p.rewindNode)
	p.report(scenario, diff(k, r))
}

// TestProduceBadBatches: a batch over max.message.bytes, a corrupt CRC,
// magic 0, 1 and 3 in a v2 layout, and what the log holds after.
func TestProduceBadBatches(t *testing.T) {
	p := newPair(t)
	tp := name("bad")
	k, r, _, _ := p.both(createReq(topic(tp, 1, 1, "max.message.bytes", "1000")), -1)
	for _, resp := range []kmsg.Response{k, r} {
		if c := resp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; c != 0 {
			t.Fatalf("creating %s: error %d", tp, c)
		}
	}
	p.waitTopic(tp, 1)
	lo, hi, _ := p.common(kmsg.NewPtrProduceRequest())
	lo = max(lo, 3) // v2 batches
	cases := []struct {
		scenario string
		spec     batchSpec
	}{
		{"fits max.message.bytes", batchSpec{pid: -1, records: 1, valueLen: 100}},
		{"over max.message.bytes", batchSpec{pid: -1, records: 1, valueLen: 2000}},
		{"many records over max.message.bytes", batchSpec{pid: -1, records: 20, valueLen: 100}},
		{"corrupt CRC", batchSpec{pid: -1, records: 2, valueLen: 10, badCRC: true}},
		{"magic 0", batchSpec{pid: -1, records: 1, valueLen: 10}}, // patched below
		{"magic 1", batchSpec{pid: -1, records: 1, valueLen: 10, magic: 1}},
		{"magic 3", batchSpec{pid: -1, records: 1, valueLen: 10, magic: 3}},
	}
	for _, c := range cases {
		batch := c.spec.bytes()
		if c.scenario == "magic 0" {
			batch[16] = 0 // magic 0 in the spec means 2: patch the byte
		}
		for v := lo; v <= hi; v++ {
			p.compare("Produce/"+c.scenario, produceBatch(tp, 0, batch), v, nil)
		}
	}
	// Two whole batches for one partition: from v3 a partition's records
	// must be exactly one batch (Kafka's ProduceRequest.validateRecords);
	// what follows a batch and cannot be one is dropped or refused.
	two := append(batchSpec{pid: -1, records: 1, valueLen: 10}.bytes(), batchSpec{pid: -1, records: 2, valueLen: 10}.bytes()...)
	for v := lo; v <= hi; v++ {
		p.compare("Produce/two batches for one partition", produceBatch(tp, 0, two), v, nil)
	}
	one := batchSpec{pid: -1, records: 1, valueLen: 10}.bytes()
	for _, c := range []struct {
		scenario string
		records  []byte
	}{
		{"3 bytes after the batch", append(one[:len(one):len(one)], 1, 2, 3)},
		{"a torn second batch", append(one[:len(one):len(one)], two[len(one):len(one)+30]...)},
		{"a second batch's length below a record's", append(one[:len(one):len(one)], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 2)},
		{"a second batch's magic 7", func() []byte {
			b := append(one[:len(one):len(one)], two[len(one):len(one)+30]...)
			b[len(one)+16] = 7
			return b
		}()},
	} {
		for v := lo; v <= hi; v++ {
			p.compare("Produce/"+c.scenario, produceBatch(tp, 0, c.records), v, nil)
		}
	}
	p.compare("Produce/after bad batches", listReq(tp, 0, -1, -1, 0), -1, nil)
}

// TestMaxMessageBytesZero: max.message.bytes=0 is accepted (Kafka's
// atLeast(0)), described as 0, and refuses every batch, even one record of
// one byte, with MESSAGE_TOO_LARGE; nothing is written.
func TestMaxMessageBytesZero(t *testing.T) {
	p := newPair(t)
	tp := name("maxzero")
	p.compare("CreateTopics/max.message.bytes=0", createReq(topic(tp, 1, 1, "max.message.bytes", "0")), -1, nil)
	p.waitTopic(tp, 1)
	p.settled("DescribeConfigs/max.message.bytes=0", describeConfigsReq(true, false, tp, "max.message.bytes"))
	lo, hi, _ := p.common(kmsg.NewPtrProduceRequest())
	lo = max(lo, 3) // v2 batches
	batch := batchSpec{pid: -1, records: 1, valueLen: 1}.bytes()
	for v := lo; v <= hi; v++ {
		p.compare("Produce/max.message.bytes=0 one byte", produceBatch(tp, 0, batch), v, nil)
	}
	p.compare("Produce/after max.message.bytes=0", listReq(tp, 0, -1, -1, 0), -1, nil)
}

func initPIDReq() *kmsg.InitProducerIDRequest {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionTimeoutMillis = 60000
	req.ProducerID, req.ProducerEpoch = -1, -1
	return req
}

// TestIdempotentProduce: InitProducerId without a transactional id, then
// in-order, duplicate, out-of-order and gapped sequences, a new epoch and
// a fenced (older) epoch, and an unknown producer id.
func TestIdempotentProduce(t *testing.T) {
	p := newPair(t)
	tp := name("idem")
	p.mustCreate(tp, 1)

	// Kafka answers COORDINATOR_LOAD_IN_PROGRESS until its controller has
	// granted the broker a block of producer ids (clients retry).
	deadline := time.Now().Add(30 * time.Second)
	for {
		probe := initPIDReq()
		_, hi, _ := p.common(probe)
		probe.SetVersion(hi)
		resp, err := p.kafka.send(probe)
		if err == nil && resp.(*kmsg.InitProducerIDResponse).ErrorCode == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	req := initPIDReq()
	p.compare("InitProducerId/no transactional id", req, -1, func(k, r kmsg.Response) {
		for _, resp := range []*kmsg.InitProducerIDResponse{k.(*kmsg.InitProducerIDResponse), r.(*kmsg.InitProducerIDResponse)} {
			if resp.ProducerID >= 0 {
				resp.ProducerID = 1 // ids are the broker's own: compare that one is set
			}
		}
	})
	// compare normalised the ids: ask again for the real ones.
	kr, rr, _, _ := p.both(initPIDReq(), -1)
	kpid, rpid := kr.(*kmsg.InitProducerIDResponse), rr.(*kmsg.InitProducerIDResponse)
	if kpid.ErrorCode != 0 || rpid.ErrorCode != 0 {
		t.Fatalf("InitProducerId: kafka error %d, rewind error %d", kpid.ErrorCode, rpid.ErrorCode)
	}
	send := func(scenario string, epoch int16, seq int32, records int) {
		t.Helper()
		kb := batchSpec{pid: kpid.ProducerID, epoch: kpid.ProducerEpoch + epoch, seq: seq, records: records, valueLen: 10}
		rb := kb
		rb.pid, rb.epoch = rpid.ProducerID, rpid.ProducerEpoch+epoch
		p.compareEach("Produce/idempotent/"+scenario, produceBatch(tp, 0, kb.bytes()), produceBatch(tp, 0, rb.bytes()))
	}
	send("first batch seq 0", 0, 0, 3)  // offsets 0-2
	send("next batch seq 3", 0, 3, 2)   // offsets 3-4
	send("duplicate of last", 0, 3, 2)  // same answer as the original
	send("duplicate of first", 0, 0, 3) // still among the last five
	send("gap seq 9", 0, 9, 1)          // out of order
	send("seq behind, not a dup", 0, 1, 1)
	send("in order after errors", 0, 5, 1) // offset 5
	send("new epoch seq 0", 1, 0, 1)       // epoch bump resets sequences
	send("fenced older epoch", 0, 6, 1)
	send("new epoch continues", 1, 1, 1)
	send("new epoch nonzero seq on fresh epoch", 2, 4, 1)
	p.compare("Produce/idempotent/after/", listReq(tp, 0, -1, -1, 0), -1, nil)

	// A producer id no broker gave, starting at sequence 0 and above.
	unknown := func(scenario string, seq int32) {
		b := batchSpec{pid: 987654321, epoch: 0, seq: seq, records: 1, valueLen: 10}
		p.compare("Produce/idempotent/"+scenario, produceBatch(tp, 0, b.bytes()), -1, nil)
	}
	unknown("unknown producer seq 0", 0)
	unknown("unknown producer seq 7", 7)
}

func fetchRecordsReq(topic string, partition int32, offset int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 100, 1, 1<<20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = partition, offset, 1<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// TestFetchOutOfRange: a Fetch above the high watermark and below the log
// start offset, at the high watermark (empty, no error), at every version
// that names topics (v13+ names them by id, which differs per broker).
func TestFetchOutOfRange(t *testing.T) {
	p := newPair(t)
	tp := p.fourRecords("foor")
	p.compare("Fetch/delete records to 2", deleteRecordsReq(tp, 0, 2), -1, nil)
	lo, hi, _ := p.common(kmsg.NewPtrFetchRequest())
	hi = min(hi, 12)
	lo = max(lo, 4)
	for v := lo; v <= hi; v++ {
		p.compare("Fetch/above high watermark", fetchRecordsReq(tp, 0, 10), v, nil)
		p.compare("Fetch/below log start", fetchRecordsReq(tp, 0, 0), v, nil)
		p.compare("Fetch/at high watermark", fetchRecordsReq(tp, 0, 4), v, nil)
		p.compare("Fetch/negative offset", fetchRecordsReq(tp, 0, -5), v, nil)
	}
}

func describeConfigsReq(synonyms, docs bool, topic string, names ...string) *kmsg.DescribeConfigsRequest {
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms, req.IncludeDocumentation = synonyms, docs
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	if names != nil {
		rr.ConfigNames = names
	}
	req.Resources = append(req.Resources, rr)
	return req
}

// docSet keeps only whether a config has documentation: its text is the
// broker's own prose.
func docSet(k, r kmsg.Response) {
	for _, resp := range []kmsg.Response{k, r} {
		for i := range resp.(*kmsg.DescribeConfigsResponse).Resources {
			res := &resp.(*kmsg.DescribeConfigsResponse).Resources[i]
			for j := range res.Configs {
				if d := res.Configs[j].Documentation; d != nil && *d != "" {
					res.Configs[j].Documentation = kmsg.StringPtr("(set)")
				}
			}
		}
	}
}

// TestDescribeTopicConfigs: every topic config of a topic with defaults
// and of one with dynamic configs, with and without synonyms and
// documentation, at every version both serve; named configs, an unknown
// config name and an unknown topic.
func TestDescribeTopicConfigs(t *testing.T) {
	p := newPair(t)
	plain, dyn := name("dcplain"), name("dcdyn")
	p.mustCreate(plain, 1)
	k, r, _, _ := p.both(createReq(topic(dyn, 1, 1, "cleanup.policy", "compact,delete", "retention.ms", "3600000",
		"max.message.bytes", "2000000", "segment.bytes", "1048576")), -1)
	for _, resp := range []kmsg.Response{k, r} {
		if c := resp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; c != 0 {
			t.Fatalf("creating %s: error %d", dyn, c)
		}
	}
	p.waitTopic(dyn, 1)
	lo, hi, _ := p.common(kmsg.NewPtrDescribeConfigsRequest())
	for v := lo; v <= hi; v++ {
		for _, tc := range []struct {
			name  string
			topic string
		}{{"defaults", plain}, {"dynamic", dyn}} {
			p.compare("DescribeConfigs/"+tc.name, describeConfigsReq(false, false, tc.topic), v, docSet)
			if v >= 1 {
				p.compare("DescribeConfigs/"+tc.name+" synonyms", describeConfigsReq(true, false, tc.topic), v, docSet)
			}
			if v >= 3 {
				p.compare("DescribeConfigs/"+tc.name+" synonyms documentation", describeConfigsReq(true, true, tc.topic), v, docSet)
			}
		}
	}
	p.compare("DescribeConfigs/named configs", describeConfigsReq(true, false, dyn, "retention.ms", "cleanup.policy", "min.insync.replicas"), -1, docSet)
	p.compare("DescribeConfigs/unknown config name", describeConfigsReq(true, false, dyn, "no.such.config"), -1, docSet)
	p.compare("DescribeConfigs/unknown topic", describeConfigsReq(true, false, name("nope")), -1, docSet)
	p.compare("DescribeConfigs/invalid topic name", describeConfigsReq(true, false, "bad topic!"), -1, docSet)
}

func incAlterReq(validate bool, topic string, ops ...any) *kmsg.IncrementalAlterConfigsRequest {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.ValidateOnly = validate
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	for i := 0; i+2 < len(ops)+1; i += 3 {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op = ops[i].(string), ops[i+1].(kmsg.IncrementalAlterConfigOp)
		if v, ok := ops[i+2].(string); ok {
			c.Value = kmsg.StringPtr(v)
		}
		rr.Configs = append(rr.Configs, c)
	}
	req.Resources = append(req.Resources, rr)
	return req
}

// settled compares a DescribeConfigs after an alter: Kafka applies a
// config change once its broker has read it from the metadata log, a
// moment after answering, so the comparison is retried for up to 5 s
// until the two agree (the last answer is the one reported).
func (p *pair) settled(scenario string, req *kmsg.DescribeConfigsRequest) {
	p.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		k, r, kerr, rerr := p.both(req, -1)
		if kerr == nil && rerr == nil {
			normalize(k, p.kafkaNode)
			normalize(r, p.rewindNode)
			docSet(k, r)
			if len(diff(k, r)) == 0 {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.compare(scenario, req, -1, docSet)
}

// TestIncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT on a
// list config (cleanup.policy) and on a plain one, validate only, unknown
// and invalid configs, and what DescribeConfigs says after each.
func TestIncrementalAlterConfigs(t *testing.T) {
	p := newPair(t)
	tp := name("iac")
	p.mustCreate(tp, 1)
	set, del, app, sub := kmsg.IncrementalAlterConfigOpSet, kmsg.IncrementalAlterConfigOpDelete,
		kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract
	after := func(scenario string) {
		p.settled("IncrementalAlterConfigs/"+scenario+"/describe",
			describeConfigsReq(true, false, tp, "retention.ms", "cleanup.policy", "segment.ms"))
	}
	steps := []struct {
		scenario string
		validate bool
		ops      []any
	}{
		{"SET retention.ms validate only", true, []any{"retention.ms", set, "7200000"}},
		{"SET retention.ms", false, []any{"retention.ms", set, "7200000"}},
		{"SET two configs", false, []any{"segment.ms", set, "600000", "retention.ms", set, "3600000"}},
		{"DELETE retention.ms", false, []any{"retention.ms", del, nil}},
		{"DELETE unset config", false, []any{"retention.ms", del, nil}},
		{"APPEND cleanup.policy compact", false, []any{"cleanup.policy", app, "compact"}},
		{"APPEND cleanup.policy present value", false, []any{"cleanup.policy", app, "compact"}},
		{"SUBTRACT cleanup.policy delete", false, []any{"cleanup.policy", sub, "delete"}},
		{"SUBTRACT cleanup.policy absent value", false, []any{"cleanup.policy", sub, "delete"}},
		{"SUBTRACT cleanup.policy last value", false, []any{"cleanup.policy", sub, "compact"}},
		{"SET cleanup.policy delete again", false, []any{"cleanup.policy", set, "delete"}},
		{"APPEND to a non-list config", false, []any{"retention.ms", app, "5"}},
		{"SUBTRACT from a non-list config", false, []any{"retention.ms", sub, "5"}},
		{"SET invalid value", false, []any{"retention.ms", set, "soon"}},
		{"SET invalid cleanup.policy", false, []any{"cleanup.policy", set, "forever"}},
		{"SET unknown config", false, []any{"no.such.config", set, "1"}},
		{"SET null value", false, []any{"retention.ms", set, nil}},
		{"same config twice", false, []any{"retention.ms", set, "1000", "retention.ms", del, nil}},
		{"invalid op", false, []any{"retention.ms", kmsg.IncrementalAlterConfigOp(7), "1000"}},
	}
	for _, s := range steps {
		p.compare("IncrementalAlterConfigs/"+s.scenario, incAlterReq(s.validate, tp, s.ops...), -1, nil)
		after(s.scenario)
	}
	p.compare("IncrementalAlterConfigs/unknown topic", incAlterReq(false, name("nope"), "retention.ms", set, "1000"), -1, nil)
}

func alterReq(validate bool, topic string, kv ...string) *kmsg.AlterConfigsRequest {
	req := kmsg.NewPtrAlterConfigsRequest()
	req.ValidateOnly = validate
	rr := kmsg.NewAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	for i := 0; i+1 < len(kv); i += 2 {
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = kv[i], kmsg.StringPtr(kv[i+1])
		rr.Configs = append(rr.Configs, c)
	}
	req.Resources = append(req.Resources, rr)
	return req
}

// TestAlterConfigs: the legacy AlterConfigs replaces a topic's dynamic
// configs as a whole: validate only, set two, set one (the other returns
// to its default), invalid and unknown configs, unknown topic.
func TestAlterConfigs(t *testing.T) {
	p := newPair(t)
	tp := name("ac")
	p.mustCreate(tp, 1)
	describe := func(scenario string) {
		p.settled("AlterConfigs/"+scenario+"/describe", describeConfigsReq(true, false, tp, "retention.ms", "cleanup.policy", "segment.ms"))
	}
	steps := []struct {
		scenario string
		validate bool
		kv       []string
	}{
		{"validate only", true, []string{"retention.ms", "7200000"}},
		{"set two", false, []string{"retention.ms", "7200000", "cleanup.policy", "compact"}},
		{"set one replaces all", false, []string{"segment.ms", "600000"}},
		{"invalid value", false, []string{"retention.ms", "soon"}},
		{"unknown config", false, []string{"no.such.config", "1"}},
		{"empty set clears all", false, nil},
	}
	for _, s := range steps {
		p.compare("AlterConfigs/"+s.scenario, alterReq(s.validate, tp, s.kv...), -1, nil)
		describe(s.scenario)
	}
	p.compare("AlterConfigs/unknown topic", alterReq(false, name("nope"), "retention.ms", "1000"), -1, nil)
}

// TestCreateTopicsValidateOnly: validate_only with configs, with each
// kind of invalid input, and for an existing topic; none creates a topic.
func TestCreateTopicsValidateOnly(t *testing.T) {
	p := newPair(t)
	exists := name("vexists")
	p.mustCreate(exists, 1)
	cases := []struct {
		scenario string
		t        kmsg.CreateTopicsRequestTopic
	}{
		{"with configs", topic(name("vcfg"), 2, 1, "cleanup.policy", "compact", "retention.ms", "1000")},
		{"default partitions", topic(name("vdef"), -1, -1)},
		{"existing topic", topic(exists, 1, 1)},
		{"invalid config value", topic(name("vbadval"), 1, 1, "retention.ms", "soon")},
		{"unknown config", topic(name("vunknown"), 1, 1, "no.such.config", "1")},
		{"zero partitions", topic(name("vzero"), 0, 1)},
		{"replication factor 3", topic(name("vrf"), 1, 3)},
		{"invalid name", topic("bad name!", 1, 1)},
	}
	lo, hi, _ := p.common(kmsg.NewPtrCreateTopicsRequest())
	for _, c := range cases {
		for v := max(lo, 1); v <= hi; v++ { // validate_only is v1+
			req := createReq(c.t)
			req.ValidateOnly = true
			p.compare("CreateTopics/validate only "+c.scenario, req, v, nil)
		}
	}
	p.compare("CreateTopics/after validate only cases", metaReq(false, name("vcfg"), name("vdef")), -1, nil)
}

// TestTopicConfigBounds: each topic config at and past the bounds of its
// Kafka 4.4 definition (type, range, list syntax), as a validate-only
// IncrementalAlterConfigs; then a dynamic value of each config Rewind
// accepts without acting on it, and how DescribeConfigs lists them.
func TestTopicConfigBounds(t *testing.T) {
	p := newPair(t)
	tp := name("bounds")
	p.mustCreate(tp, 1)
	set := kmsg.IncrementalAlterConfigOpSet
	for _, c := range []struct{ config, value string }{
		{"cleanup.policy", ""},
		{"cleanup.policy", "delete,delete"},
		{"cleanup.policy", " compact , delete "},
		{"segment.bytes", "4294967296"},
		{"segment.bytes", "1048575"},
		{"segment.bytes", "1048576"},
		{"retention.bytes", "-5"},
		{"max.message.bytes", "0"},
		{"max.message.bytes", "-1"},
		{"retention.ms", "-2"},
		{"compression.type", "gzip"},
		{"compression.type", "uncompressed"},
		{"compression.type", "brotli"},
		{"compression.gzip.level", "-1"},
		{"compression.gzip.level", "0"},
		{"compression.gzip.level", "9"},
		{"compression.gzip.level", "10"},
		{"compression.lz4.level", "0"},
		{"compression.lz4.level", "17"},
		{"compression.lz4.level", "18"},
		{"compression.zstd.level", "-131072"},
		{"compression.zstd.level", "-131073"},
		{"compression.zstd.level", "22"},
		{"compression.zstd.level", "23"},
		{"errors.deadletterqueue.group.enable", "true"},
		{"errors.deadletterqueue.group.enable", "yes"},
		{"file.delete.delay.ms", "-1"},
		{"file.delete.delay.ms", "0"},
		{"flush.messages", "0"},
		{"flush.messages", "1"},
		{"flush.ms", "-1"},
		{"flush.ms", "0"},
		{"leader.replication.throttled.replicas", "*"},
		{"leader.replication.throttled.replicas", "0:1,1:1"},
		{"leader.replication.throttled.replicas", "0-1"},
		{"follower.replication.throttled.replicas", "*,0:1"},
		{"follower.replication.throttled.replicas", " 0:1 , 1:1 "},
		{"local.retention.bytes", "-2"},
		{"local.retention.bytes", "-3"},
		{"local.retention.ms", "-3"},
		{"max.decompressed.message.bytes", "0"},
		{"max.decompressed.message.bytes", "2147483639"},
		{"max.decompressed.message.bytes", "2147483640"},
		{"message.timestamp.after.max.ms", "-1"},
		{"message.timestamp.before.max.ms", "0"},
		{"preallocate", "TRUE"},
		{"preallocate", "1"},
		{"remote.copy.lag.bytes", "-2"},
		{"remote.copy.lag.ms", "-1"},
		{"remote.copy.lag.ms", "-2"},
		{"remote.log.copy.disable", "true"},
		{"remote.log.delete.on.disable", "true"},
		{"remote.storage.enable", "true"},
		{"remote.storage.enable", "false"},
		{"segment.index.bytes", "3"},
		{"segment.index.bytes", "4"},
		{"segment.jitter.ms", "-1"},
		{"unclean.leader.election.enable", "true"},
		{"unclean.leader.election.enable", "maybe"},
	} {
		p.compare(fmt.Sprintf("TopicConfigBounds/%s=%q", c.config, c.value), incAlterReq(true, tp, c.config, set, c.value), -1, nil)
	}
	// Dynamic values of the configs Rewind accepts without acting on them.
	inert := []any{
		"compression.gzip.level", set, "5", "compression.lz4.level", set, "4", "compression.zstd.level", set, "10",
		"errors.deadletterqueue.group.enable", set, "true", "file.delete.delay.ms", set, "1000",
		"flush.messages", set, "10", "flush.ms", set, "1000",
		"leader.replication.throttled.replicas", set, "*", "follower.replication.throttled.replicas", set, "0:1",
		"local.retention.bytes", set, "-1", "local.retention.ms", set, "-1",
		"max.decompressed.message.bytes", set, "10485760", "preallocate", set, "true",
		"remote.copy.lag.bytes", set, "100", "remote.copy.lag.ms", set, "100",
		"remote.log.copy.disable", set, "true", "remote.log.delete.on.disable", set, "true",
		"segment.index.bytes", set, "4096", "segment.jitter.ms", set, "100", "unclean.leader.election.enable", set, "true",
	}
	p.compare("TopicConfigBounds/set every inert config", incAlterReq(false, tp, inert...), -1, nil)
	var names []string
	for i := 0; i < len(inert); i += 3 {
		names = append(names, inert[i].(string))
	}
	p.settled("TopicConfigBounds/describe every inert config", describeConfigsReq(true, false, tp, names...))

	// internal.segment.bytes: an internal config, unlisted until a topic
	// sets it, then listed as a dynamic value, and gone again once deleted.
	p.settled("TopicConfigBounds/internal.segment.bytes unset", describeConfigsReq(true, false, tp, "internal.segment.bytes", "segment.bytes"))
	for _, v := range []string{"1024", "-1", "abc"} {
		p.compare(fmt.Sprintf("TopicConfigBounds/internal.segment.bytes=%q", v), incAlterReq(true, tp, "internal.segment.bytes", set, v), -1, nil)
	}
	p.compare("TopicConfigBounds/set internal.segment.bytes", incAlterReq(false, tp, "internal.segment.bytes", set, "4096"), -1, nil)
	p.settled("TopicConfigBounds/internal.segment.bytes set", describeConfigsReq(true, false, tp, "internal.segment.bytes", "segment.bytes"))
	p.settled("TopicConfigBounds/every config with internal.segment.bytes set", describeConfigsReq(true, false, tp))
	p.compare("TopicConfigBounds/delete internal.segment.bytes", incAlterReq(false, tp, "internal.segment.bytes", kmsg.IncrementalAlterConfigOpDelete, ""), -1, nil)
	p.settled("TopicConfigBounds/internal.segment.bytes deleted", describeConfigsReq(true, false, tp, "internal.segment.bytes"))
	p.compare("CreateTopics/with internal.segment.bytes", createReq(topic(name("smallseg"), 1, 1, "internal.segment.bytes", "2048")), -1, nil)
}
