package broker_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// As Apache Kafka 4.4 (found by test/differential): a batch refused for
// its sequence or its producer epoch is answered with the partition's log
// start offset, not -1.
func TestProduceSequenceErrorLogStart(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "seqls", 1)
	idem := func(epoch int16, seq int32) []byte {
		return mutBatch(func(b []byte) {
			binary.BigEndian.PutUint64(b[43:], 4242) // producer id
			binary.BigEndian.PutUint16(b[51:], uint16(epoch))
			binary.BigEndian.PutUint32(b[53:], uint32(seq))
		})
	}
	produce := func(batch []byte) kmsg.ProduceResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "seqls"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		if err := proctest.ProduceTopicIDs(ctx, cl, req); err != nil {
			t.Fatal(err)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0]
	}
	if p := produce(idem(1, 0)); p.ErrorCode != 0 {
		t.Fatalf("first batch: error %d", p.ErrorCode)
	}
	for _, c := range []struct {
		what  string
		epoch int16
		seq   int32
		code  int16
	}{
		{"gap in sequence", 1, 9, kerr.OutOfOrderSequenceNumber.Code},
		{"older epoch", 0, 3, kerr.InvalidProducerEpoch.Code},
	} {
		p := produce(idem(c.epoch, c.seq))
		if p.ErrorCode != c.code || p.LogStartOffset != 0 || p.BaseOffset != -1 {
			t.Errorf("%s: error %d, log start %d, base offset %d; want error %d, log start 0, base offset -1",
				c.what, p.ErrorCode, p.LogStartOffset, p.BaseOffset, c.code)
		}
	}
}
