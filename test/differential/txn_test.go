package differential

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The transaction coordinator against Kafka 4.4: InitProducerId with a
// transactional id (bumps, KIP-360 recovery, fencing, bad timeouts),
// AddPartitionsToTxn (v0-3 and the v4+ verify form), AddOffsetsToTxn and
// EndTxn at every version both serve, on their error paths. Producer ids
// are each broker's own: each request is built for the broker it goes to,
// and the ids in the answers are compared as "set" or not.

// txnSide is one broker's producer of a transactional id.
type txnSide struct {
	pid   int64
	epoch int16
}

type txnPair struct {
	p      *pair
	t      *testing.T
	id     string
	k, r   txnSide
	topic  string
	prefix string
}

func sameIDs(k, r kmsg.Response) {
	for _, resp := range []kmsg.Response{k, r} {
		switch v := resp.(type) {
		case *kmsg.InitProducerIDResponse:
			if v.ProducerID >= 0 {
				v.ProducerID = 1
			}
		case *kmsg.EndTxnResponse:
			if v.ProducerID >= 0 {
				v.ProducerID = 1
			}
		case *kmsg.DescribeTransactionsResponse:
			for i := range v.TransactionStates {
				s := &v.TransactionStates[i]
				if s.ProducerID >= 0 {
					s.ProducerID = 1
				}
				if s.StartTimestamp > 0 {
					s.StartTimestamp = 1 // each broker's clock
				}
			}
		}
	}
}

// each sends build(k) to Kafka and build(r) to Rewind at version v and
// compares the answers (ids normalised); keep, when set, sees them first.
func (x *txnPair) each(scenario string, v int16, build func(s txnSide) kmsg.Request, keep ...func(k, r kmsg.Response)) {
	x.t.Helper()
	kreq, rreq := build(x.k), build(x.r)
	kreq.SetVersion(v)
	rreq.SetVersion(v)
	k, kerr := x.p.kafka.send(kreq)
	r, rerr := x.p.rewind.send(rreq)
	scenario = fmt.Sprintf("%s/%s/%s_v%d", x.prefix, scenario, kmsg.NameForKey(kreq.Key()), v)
	if kerr != nil || rerr != nil {
		x.t.Fatalf("%s: kafka %v, rewind %v", scenario, kerr, rerr)
	}
	for _, f := range keep {
		f(k, r)
	}
	normalize(k, x.p.kafkaNode)
	normalize(r, x.p.rewindNode)
	if testing.Verbose() {
		x.t.Logf("%s:\n  kafka  %+v\n  rewind %+v", scenario, k, r)
	}
	sameIDs(k, r)
	x.p.report(scenario, diff(k, r))
}

func initTxnReq(id string, timeout int32, pid int64, epoch int16) *kmsg.InitProducerIDRequest {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis = &id, timeout
	req.ProducerID, req.ProducerEpoch = pid, epoch
	return req
}

// init runs InitProducerId on both and keeps each one's producer.
func (x *txnPair) init(scenario string, v int16, timeout int32, expected bool) {
	x.t.Helper()
	x.each(scenario, v, func(s txnSide) kmsg.Request {
		if expected {
			return initTxnReq(x.id, timeout, s.pid, s.epoch)
		}
		return initTxnReq(x.id, timeout, -1, -1)
	}, func(k, r kmsg.Response) {
		if kr := k.(*kmsg.InitProducerIDResponse); kr.ErrorCode == 0 {
			x.k = txnSide{kr.ProducerID, kr.ProducerEpoch}
		}
		if rr := r.(*kmsg.InitProducerIDResponse); rr.ErrorCode == 0 {
			x.r = txnSide{rr.ProducerID, rr.ProducerEpoch}
		}
	})
}

func (x *txnPair) add(scenario string, v int16, topic string, epochDelta int16, pidDelta int64) {
	x.t.Helper()
	x.each(scenario, v, func(s txnSide) kmsg.Request {
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = x.id, s.pid+pidDelta, s.epoch+epochDelta
		req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: topic, Partitions: []int32{0}}}
		return req
	})
}

func (x *txnPair) end(scenario string, v int16, commit bool, epochDelta int16) {
	x.t.Helper()
	x.each(scenario, v, func(s txnSide) kmsg.Request {
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = x.id, s.pid, s.epoch+epochDelta, commit
		return req
	}, func(k, r kmsg.Response) {
		if v < 5 {
			return // the epoch does not change below TV2
		}
		if kr := k.(*kmsg.EndTxnResponse); kr.ErrorCode == 0 {
			x.k = txnSide{kr.ProducerID, kr.ProducerEpoch}
		}
		if rr := r.(*kmsg.EndTxnResponse); rr.ErrorCode == 0 {
			x.r = txnSide{rr.ProducerID, rr.ProducerEpoch}
		}
	})
	x.settle()
}

// settle waits until neither broker has the transaction between its
// prepare and complete records (the markers are written after EndTxn's
// answer), so that the next step sees the same state on both.
func (x *txnPair) settle() {
	x.t.Helper()
	for _, c := range []**conn{&x.p.kafka, &x.p.rewind} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			req := kmsg.NewPtrDescribeTransactionsRequest()
			req.TransactionalIDs = []string{x.id}
			resp, err := (*c).send(req)
			if err != nil {
				x.t.Fatal(err)
			}
			st := resp.(*kmsg.DescribeTransactionsResponse).TransactionStates[0].State
			if st != "PrepareCommit" && st != "PrepareAbort" && st != "PrepareEpochFence" {
				break
			}
			if time.Now().After(deadline) {
				x.t.Fatalf("%s stays %s", x.id, st)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func (x *txnPair) describe(scenario string) {
	x.t.Helper()
	x.settle()
	x.each(scenario, 0, func(txnSide) kmsg.Request {
		req := kmsg.NewPtrDescribeTransactionsRequest()
		req.TransactionalIDs = []string{x.id}
		return req
	})
}

// findTxnCoordinator waits until Kafka has created __transaction_state and
// names a coordinator for id (it answers COORDINATOR_NOT_AVAILABLE until
// then; clients retry).
func (p *pair) findTxnCoordinator(id string) {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		req := findCoordinatorReq(1, id)
		req.SetVersion(3)
		resp, err := p.kafka.send(req)
		if err != nil {
			p.t.Fatal(err)
		}
		if resp.(*kmsg.FindCoordinatorResponse).ErrorCode == 0 {
			break
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("Kafka names no transaction coordinator for %s", id)
		}
		time.Sleep(250 * time.Millisecond)
	}
	// The first InitProducerId may also wait for the partition to load.
	for {
		resp, err := p.kafka.send(withVersion(initTxnReq(name("warmup"), 60000, -1, -1), 4))
		if err != nil {
			p.t.Fatal(err)
		}
		if resp.(*kmsg.InitProducerIDResponse).ErrorCode == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func withVersion[R kmsg.Request](r R, v int16) R { r.SetVersion(v); return r }

func newTxnPair(t *testing.T, p *pair, prefix, topic string) *txnPair {
	id := name("txn-" + prefix)
	for _, c := range []*conn{p.kafka, p.rewind} {
		req := findCoordinatorReq(1, id)
		req.SetVersion(3)
		if _, err := c.send(req); err != nil {
			t.Fatal(err)
		}
	}
	return &txnPair{p: p, t: t, id: id, topic: topic, prefix: prefix}
}

func TestTransactionCoordinator(t *testing.T) {
	p := newPair(t)
	tp := name("txntopic")
	p.mustCreate(tp, 1)
	p.findTxnCoordinator(name("txn-probe"))

	lo, hi, ok := p.common(kmsg.NewPtrInitProducerIDRequest())
	if !ok {
		t.Fatal("no InitProducerId version in common")
	}
	for v := lo; v <= hi; v++ {
		x := newTxnPair(t, p, fmt.Sprintf("init v%d", v), tp)
		x.init("new id", v, 60000, false)
		x.init("again", v, 60000, false)
		x.init("timeout 0", v, 0, false)
		x.init("timeout above max", v, 15*60*1000+1, false)
		x.init("timeout at max", v, 15*60*1000, false)
		if v >= 3 {
			x.init("expected current epoch", v, 60000, true)
			x.k.epoch--
			x.r.epoch--
			x.init("expected previous epoch (a retry)", v, 60000, true)
			x.k.epoch -= 5
			x.r.epoch -= 5
			x.init("expected stale epoch", v, 60000, true)
		}
		x.describe("after")
	}
	p.compare("InitProducerId/empty transactional id", initTxnReq("", 60000, -1, -1), -1, sameIDs)

	for _, v := range []int16{0, 1, 2, 3} {
		x := newTxnPair(t, p, fmt.Sprintf("add v%d", v), tp)
		x.init("init", 4, 60000, false)
		x.add("unknown topic", v, name("nosuchtopic"), 0, 0)
		x.add("other producer id", v, tp, 0, 1000)
		x.add("stale epoch", v, tp, -1, 0)
		x.add("ok", v, tp, 0, 0)
		x.add("again", v, tp, 0, 0)
		x.describe("ongoing")
		x.init("init during the transaction (epoch fence)", 4, 60000, false)
		x.describe("fenced")
		x.init("init after the fence", 4, 60000, false)
		x.describe("after")
	}

	elo, ehi, _ := p.common(kmsg.NewPtrEndTxnRequest())
	for v := elo; v <= ehi; v++ {
		x := newTxnPair(t, p, fmt.Sprintf("end v%d", v), tp)
		x.init("init", 4, 60000, false)
		x.end("commit with nothing added", v, true, 0)
		x.add("add", 3, tp, 0, 0)
		x.end("stale epoch", v, true, -1)
		x.end("commit", v, true, 0)
		x.describe("committed")
		x.end("abort after the commit", v, false, 0)
		x.add("add again", 3, tp, 0, 0)
		x.end("abort", v, false, 0)
		x.describe("aborted")
		x.each("unknown id", v, func(s txnSide) kmsg.Request {
			req := kmsg.NewPtrEndTxnRequest()
			req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = name("nosuchid"), s.pid, s.epoch, true
			return req
		})
		x.each("other producer id", v, func(s txnSide) kmsg.Request {
			req := kmsg.NewPtrEndTxnRequest()
			req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = x.id, s.pid+1000, s.epoch, true
			return req
		})
	}

	// AddOffsetsToTxn, and the batched broker form of AddPartitionsToTxn
	// verifying a partition in and out of the transaction.
	alo, ahi, _ := p.common(kmsg.NewPtrAddOffsetsToTxnRequest())
	for v := alo; v <= ahi; v++ {
		x := newTxnPair(t, p, fmt.Sprintf("offsets v%d", v), tp)
		x.init("init", 4, 60000, false)
		for _, c := range []struct {
			what     string
			pidDelta int64
			epDelta  int16
		}{{"other producer id", 1000, 0}, {"stale epoch", 0, -1}, {"ok", 0, 0}} {
			x.each(c.what, v, func(s txnSide) kmsg.Request {
				req := kmsg.NewPtrAddOffsetsToTxnRequest()
				req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = x.id, s.pid+c.pidDelta, s.epoch+c.epDelta, name("txngroup")
				return req
			})
		}
	}
	verify := func(x *txnPair, what string, v int16, pidDelta int64, epDelta int16) {
		x.each(what, v, func(s txnSide) kmsg.Request {
			req := kmsg.NewPtrAddPartitionsToTxnRequest()
			tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
			tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = x.id, s.pid+pidDelta, s.epoch+epDelta, true
			tx.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: tp, Partitions: []int32{0}}}
			req.Transactions = append(req.Transactions, tx)
			return req
		})
	}
	for _, v := range []int16{4, 5} {
		x := newTxnPair(t, p, fmt.Sprintf("verify v%d", v), tp)
		x.init("init", 4, 60000, false)
		verify(x, "not added", v, 0, 0)
		x.add("add", 3, tp, 0, 0)
		verify(x, "added", v, 0, 0)
		verify(x, "other epoch", v, 0, 1)
		verify(x, "other producer id", v, 1000, 0)
	}

	// DescribeTransactions of an unknown and an empty id, and
	// ListTransactions' unknown state filter and bad pattern.
	p.compare("DescribeTransactions/unknown and empty", withVersion(func() *kmsg.DescribeTransactionsRequest {
		req := kmsg.NewPtrDescribeTransactionsRequest()
		req.TransactionalIDs = []string{name("nosuchid"), ""}
		return req
	}(), 0), 0, sameIDs)
	llo, lhi, _ := p.common(kmsg.NewPtrListTransactionsRequest())
	for v := llo; v <= lhi; v++ {
		req := kmsg.NewPtrListTransactionsRequest()
		req.StateFilters = []string{"Ongoing", "Bogus"}
		req.ProducerIDFilters = []int64{-42} // no id: the list is empty on both
		p.compare("ListTransactions/unknown state", req, v, nil)
		if v >= 2 {
			bad := "(["
			req.TransactionalIDPattern = &bad
			p.compare("ListTransactions/invalid pattern", req, v, nil)
		}
	}
}
