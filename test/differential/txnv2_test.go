package differential

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTransactionsV2 follows a transaction.version 2 client against Kafka
// 4.4: Produce v12+ adding its partition itself, sequences within and
// across transactions (a retried batch, a gap), EndTxn v5 bumping the
// epoch, the previous epoch's producer afterwards, an InitProducerId
// fencing an ongoing transaction, the fenced producer's next requests,
// and the ends of a transaction to which nothing was added.
func TestTransactionsV2(t *testing.T) {
	p := newPair(t)
	tp := name("txnv2")
	p.mustCreate(tp, 1)
	p.findTxnCoordinator(name("txn-probe"))
	_, phi, ok := p.common(kmsg.NewPtrProduceRequest())
	if !ok || phi < 12 {
		t.Skip("no common Produce v12")
	}
	_, ehi, _ := p.common(kmsg.NewPtrEndTxnRequest())
	if ehi < 5 {
		t.Skip("no common EndTxn v5")
	}
	x := newTxnPair(t, p, "tv2", tp)
	produce := func(scenario string, s func(txnSide) txnSide, seq int32) {
		t.Helper()
		x.each(scenario, phi, func(side txnSide) kmsg.Request {
			side = s(side)
			b := batchSpec{pid: side.pid, epoch: side.epoch, seq: seq, records: 2, valueLen: 10, txn: true}
			req := produceBatch(tp, 0, b.bytes())
			req.TransactionID = &x.id
			return req
		})
	}
	cur := func(s txnSide) txnSide { return s }
	x.init("init", 5, 60000, false)
	produce("first batch (implicit add)", cur, 0)
	x.describe("ongoing")
	produce("second batch", cur, 2)
	produce("retry of the first batch", cur, 0)
	produce("sequence gap", cur, 10)
	x.end("commit", ehi, true, 0)
	x.describe("committed")
	old := func(s txnSide) txnSide { s.epoch--; return s }
	produce("previous epoch after the commit", old, 4)
	produce("new epoch, sequence 4", cur, 4)
	produce("new epoch, sequence 0", cur, 0)
	x.describe("second transaction")
	x.init("init during the transaction (epoch fence)", 5, 60000, false)
	x.describe("fenced")
	// The init answered CONCURRENT_TRANSACTIONS: x still holds the
	// fenced producer.
	produce("fenced producer's produce", cur, 2)
	x.each("fenced producer's end", ehi, func(s txnSide) kmsg.Request {
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = x.id, s.pid, s.epoch, true
		return req
	})
	x.init("init after the fence", 5, 60000, false)
	x.describe("after the fence")
	x.end("abort with nothing added", ehi, false, 0)
	x.describe("after the empty abort")
	x.end("commit with nothing added", ehi, true, 0)
	x.describe("after the empty commit")
	// Offsets: TxnOffsetCommit v5 adds the group itself; pending until
	// the end, dropped by an abort, applied by a commit.
	_, chi, _ := p.common(kmsg.NewPtrTxnOffsetCommitRequest())
	if chi >= 5 {
		group := name("txnv2g")
		commitOffsets := func(scenario string) {
			t.Helper()
			x.each(scenario, 5, func(s txnSide) kmsg.Request {
				return txnCommitReq(x.id, group, s.pid, s.epoch, -1, "", tp, 0)
			})
		}
		stable := func(scenario string) {
			t.Helper()
			x.settle()
			p.compare("TransactionsV2/"+scenario, stableFetchReq(group, tp, 0), 7, nil)
		}
		commitOffsets("offsets (implicit add)")
		x.describe("offsets added")
		p.compare("TransactionsV2/offsets pending", stableFetchReq(group, tp, 0), 7, nil)
		x.end("abort the offsets", ehi, false, 0)
		stable("offsets after the abort")
		commitOffsets("offsets again")
		x.end("commit the offsets", ehi, true, 0)
		stable("offsets after the commit")
		x.each("offsets with the previous epoch", 5, func(s txnSide) kmsg.Request {
			return txnCommitReq(x.id, group, s.pid, s.epoch-1, -1, "", tp, 0)
		})
	}
	p.compare("TransactionsV2/end offsets", listReq(tp, 0, -1, -1, 0), -1, nil)
	p.compare("TransactionsV2/last stable offset", listReq(tp, 0, -1, -1, 1), -1, nil)
}

// TestTransactionsV2Timeout: a transaction.version 2 transaction open
// longer than its timeout, against Kafka 4.4: what the coordinator makes
// of it (its state and epoch once aborted), then what the producer gets
// for its next produce, its end, and InitProducerId.
func TestTransactionsV2Timeout(t *testing.T) {
	p := newPair(t)
	tp := name("txnv2to")
	p.mustCreate(tp, 1)
	p.findTxnCoordinator(name("txn-probe"))
	_, phi, ok := p.common(kmsg.NewPtrProduceRequest())
	if !ok || phi < 12 {
		t.Skip("no common Produce v12")
	}
	_, ehi, _ := p.common(kmsg.NewPtrEndTxnRequest())
	if ehi < 5 {
		t.Skip("no common EndTxn v5")
	}
	x := newTxnPair(t, p, "tv2 timeout", tp)
	produce := func(scenario string, seq int32) {
		t.Helper()
		x.each(scenario, phi, func(s txnSide) kmsg.Request {
			b := batchSpec{pid: s.pid, epoch: s.epoch, seq: seq, records: 1, valueLen: 10, txn: true}
			req := produceBatch(tp, 0, b.bytes())
			req.TransactionID = &x.id
			return req
		})
	}
	x.init("init", 5, 1000, false)
	produce("first batch", 0)
	// A transaction version 1 client's transaction (AddPartitionsToTxn
	// v3, EndTxn v4) timing out alongside.
	y := newTxnPair(t, p, "tv1 timeout", tp)
	y.init("init", 4, 1000, false)
	y.add("add", 3, tp, 0, 0)
	// A transaction version 1 client's transaction fenced by another
	// InitProducerId: what its producer's end gets.
	z := newTxnPair(t, p, "tv1 fenced", tp)
	z.init("init", 4, 60000, false)
	z.add("add", 3, tp, 0, 0)
	z.init("init during the transaction (epoch fence)", 4, 60000, false)
	z.describe("fenced")
	z.end("commit of the fenced producer (v4)", 4, true, 0)
	z.end("abort of the fenced producer (v4)", 4, false, 0)
	z.end("abort of the fenced producer (v5)", 5, false, 0)
	z.describe("after the ends")
	// Both abort the timed-out ones within their cleanup interval (10 s
	// by default).
	waitAborted(t, x)
	waitAborted(t, y)
	y.describe("timed out")
	y.end("commit after the timeout (v4)", 4, true, 0)
	y.end("abort after the timeout (v4)", 4, false, 0)
	y.end("abort after the timeout (v1)", 1, false, 0)
	y.describe("after the end")
	y.init("init after the timeout", 4, 60000, false)
	x.describe("timed out")
	produce("produce after the timeout", 1)
	x.end(fmt.Sprintf("commit after the timeout (v%d)", ehi), ehi, true, 0)
	x.end(fmt.Sprintf("abort after the timeout (v%d)", ehi), ehi, false, 0)
	x.describe("after the end")
	x.init("init after the timeout", 5, 60000, true)
	x.describe("after init")
	p.compare("TransactionsV2/timeout/last stable offset", listReq(tp, 0, -1, -1, 1), -1, nil)
}

// TestIdempotentInitProducerIDWithProducer: InitProducerId without a
// transactional id naming the producer's current id and epoch (v3+,
// KIP-360: an idempotent producer recovering from UNKNOWN_PRODUCER_ID or
// OUT_OF_ORDER_SEQUENCE_NUMBER), against Kafka 4.4: the epoch answered,
// and whether the producer id is the one named.
func TestIdempotentInitProducerIDWithProducer(t *testing.T) {
	p := newPair(t)
	lo, hi, ok := p.common(kmsg.NewPtrInitProducerIDRequest())
	if !ok {
		t.Fatal("InitProducerId: no common version")
	}
	// Kafka answers COORDINATOR_LOAD_IN_PROGRESS until its controller has
	// granted the broker a block of producer ids (clients retry).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		resp, err := p.kafka.send(withVersion(initPIDReq(), hi))
		if err == nil && resp.(*kmsg.InitProducerIDResponse).ErrorCode == 0 || time.Now().After(deadline) {
			break
		}
	}
	for v := max(lo, 3); v <= hi; v++ {
		var side [2]txnSide
		kr, rr, _, _ := p.both(initPIDReq(), v)
		for i, resp := range []kmsg.Response{kr, rr} {
			ir := resp.(*kmsg.InitProducerIDResponse)
			if ir.ErrorCode != 0 {
				t.Fatalf("InitProducerId v%d: error %d", v, ir.ErrorCode)
			}
			side[i] = txnSide{ir.ProducerID, ir.ProducerEpoch}
		}
		for _, c := range []struct {
			what  string
			epoch int16
		}{{"current epoch", 0}, {"epoch 5", 5}, {"exhausted epoch", 32766}} {
			var resp [2]kmsg.Response
			for i, conn := range []*conn{p.kafka, p.rewind} {
				req := initPIDReq()
				req.ProducerID, req.ProducerEpoch = side[i].pid, c.epoch
				req.SetVersion(v)
				r, err := conn.send(req)
				if err != nil {
					t.Fatal(err)
				}
				ir := r.(*kmsg.InitProducerIDResponse)
				// Keep only whether the id is the one named.
				if ir.ProducerID == side[i].pid {
					ir.ProducerID = 0
				} else if ir.ProducerID >= 0 {
					ir.ProducerID = 1
				}
				resp[i] = r
			}
			scenario := fmt.Sprintf("InitProducerId/idempotent with its producer, %s/InitProducerID_v%d", c.what, v)
			if testing.Verbose() {
				t.Logf("%s:\n  kafka  %+v\n  rewind %+v", scenario, resp[0], resp[1])
			}
			p.report(scenario, diff(resp[0], resp[1]))
		}
	}
}

// waitAborted waits until both brokers have aborted x's transaction.
func waitAborted(t *testing.T, x *txnPair) {
	t.Helper()
	for _, c := range []*conn{x.p.kafka, x.p.rewind} {
		deadline := time.Now().Add(40 * time.Second)
		for {
			req := kmsg.NewPtrDescribeTransactionsRequest()
			req.TransactionalIDs = []string{x.id}
			resp, err := c.send(req)
			if err != nil {
				t.Fatal(err)
			}
			st := resp.(*kmsg.DescribeTransactionsResponse).TransactionStates[0].State
			if st == "CompleteAbort" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s stays %s", x.id, st)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}
