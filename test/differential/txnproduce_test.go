package differential

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTransactionalProduceErrors: Produce of transactional batches that no
// transaction of theirs covers, against Kafka 4.4, at the first version,
// the last before transaction version 2 (v11) and the newest both serve:
// without a transactional id in the request (Kafka refuses the request
// before looking at a partition), with the transactional id of another
// producer, with an unknown transactional id, by the id's own producer
// before AddPartitionsToTxn (v12+ adds the partition itself), and an
// idempotent (not transactional) batch sent with a transactional id; then
// the end offset of the partition that only plain batches went to.
func TestTransactionalProduceErrors(t *testing.T) {
	p := newPair(t)
	tp := name("txnprod")
	p.mustCreate(tp, 2)
	p.findTxnCoordinator(name("txn-probe"))
	lo, hi, ok := p.common(kmsg.NewPtrProduceRequest())
	if !ok {
		t.Fatal("Produce: no common version")
	}
	for _, v := range []int16{max(lo, 3), 11, hi} {
		if v < lo || v > hi {
			continue
		}
		x := newTxnPair(t, p, fmt.Sprintf("produce v%d", v), tp)
		x.init("init", 4, 60000, false)
		// An idempotent producer of each broker, not in any transaction.
		var idem [2]txnSide
		kr, rr, _, _ := p.both(initPIDReq(), -1)
		for i, resp := range []kmsg.Response{kr, rr} {
			ir := resp.(*kmsg.InitProducerIDResponse)
			if ir.ErrorCode != 0 {
				t.Fatalf("InitProducerId without a transactional id: error %d", ir.ErrorCode)
			}
			idem[i] = txnSide{ir.ProducerID, ir.ProducerEpoch}
		}
		// plain, when set, adds a plain batch to partition 1 and one to a
		// topic that does not exist.
		produce := func(scenario string, txnID *string, who func(side int) txnSide, transactional, plain bool) {
			t.Helper()
			var reqs [2]*kmsg.ProduceRequest
			for i := range reqs {
				s := who(i)
				b := batchSpec{pid: s.pid, epoch: s.epoch, seq: 0, records: 1, valueLen: 10, txn: transactional}
				reqs[i] = produceBatch(tp, 0, b.bytes())
				reqs[i].TransactionID = txnID
				reqs[i].SetVersion(v)
				if plain {
					pb := batchSpec{pid: -1, records: 2, valueLen: 10}.bytes()
					rp := kmsg.NewProduceRequestTopicPartition()
					rp.Partition, rp.Records = 1, pb
					reqs[i].Topics[0].Partitions = append(reqs[i].Topics[0].Partitions, rp)
					other := produceBatch(name("nosuchtopic"), 0, pb)
					reqs[i].Topics = append(reqs[i].Topics, other.Topics...)
				}
			}
			k, kerr := p.kafka.send(reqs[0])
			r, rerr := p.rewind.send(reqs[1])
			scenario = fmt.Sprintf("Produce/transactional/%s/Produce_v%d", scenario, v)
			if kerr != nil || rerr != nil {
				t.Fatalf("%s: kafka %v, rewind %v", scenario, kerr, rerr)
			}
			normalize(k, p.kafkaNode)
			normalize(r, p.rewindNode)
			if testing.Verbose() {
				t.Logf("%s:\n  kafka  %+v\n  rewind %+v", scenario, k, r)
			}
			p.report(scenario, diff(k, r))
		}
		idemSide := func(i int) txnSide { return idem[i] }
		txnSide := func(i int) txnSide {
			if i == 0 {
				return x.k
			}
			return x.r
		}
		unknown := name("nosuchtxn")
		produce("no transactional id, idempotent producer", nil, idemSide, true, false)
		produce("no transactional id, the id's producer", nil, txnSide, true, false)
		produce("no transactional id, with plain batches and an unknown topic", nil, idemSide, true, true)
		produce("another producer's transactional id", &x.id, idemSide, true, false)
		produce("unknown transactional id", &unknown, idemSide, true, false)
		produce("not an idempotent batch's transactional id", &x.id, idemSide, false, false)
		produce("partition not added", &x.id, txnSide, true, false)
		x.describe("after")
		p.compare(fmt.Sprintf("Produce/transactional/after/v%d", v), listReq(tp, 1, -1, -1, 0), -1, nil)
	}
}
