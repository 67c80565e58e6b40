package differential

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func txnCommitReq(txnID, group string, pid int64, epoch int16, gen int32, member, topic string, partitions ...int32) *kmsg.TxnOffsetCommitRequest {
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = txnID, group, pid, epoch
	req.Generation, req.MemberID = gen, member
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = topic
	for _, p := range partitions {
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = p, int64(10+p), -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

func stableFetchReq(group, topic string, partitions ...int32) *kmsg.OffsetFetchRequest {
	req := fetchReq(group, topic, partitions...)
	req.RequireStable = true
	return req
}

// TestTxnOffsetCommitErrors: TxnOffsetCommit refused before the group
// coordinator looks at the transaction (an unknown topic or partition, an
// empty group id), at every version both brokers serve below v6 (which
// names topics by id); then, where Rewind serves transactions, a
// transaction's offsets against Kafka 4.4: written (AddOffsetsToTxn, the
// transaction version 1 way), pending for RequireStable fetches
// (UNSTABLE_OFFSET_COMMIT) and invisible to plain ones, an unknown member
// and a wrong generation of an Empty group, a stale producer epoch, then
// committed by EndTxn and visible.
func TestTxnOffsetCommitErrors(t *testing.T) {
	p := newPair(t)
	tp := name("txnoc")
	p.mustCreate(tp, 2)
	lo, hi, ok := p.common(kmsg.NewPtrTxnOffsetCommitRequest())
	if !ok {
		t.Fatal("TxnOffsetCommit: no common version")
	}
	for v := lo; v <= min(hi, 5); v++ {
		p.compare("TxnOffsetCommit/unknown topic", txnCommitReq("tx", name("g"), 1, 0, -1, "", name("nope"), 0), v, nil)
		p.compare("TxnOffsetCommit/unknown partition", txnCommitReq("tx", name("g"), 1, 0, -1, "", tp, 7), v, nil)
		p.compare("TxnOffsetCommit/empty group id", txnCommitReq("tx", "", 1, 0, -1, "", tp, 0), v, nil)
	}

	if !p.servesTxn() {
		t.Log("Rewind does not serve EndTxn yet: the transaction scenarios run once it does")
		return
	}
	group, txnID := name("txng"), name("txnid")
	// InitProducerId with the transactional id, AddOffsetsToTxn: each
	// broker's own producer id and epoch.
	type producer struct {
		pid   int64
		epoch int16
	}
	prod := map[string]producer{}
	for who, c := range map[string]*conn{"kafka": p.kafka, "rewind": p.rewind} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			// Kafka makes __transaction_state when a client first looks
			// for a transaction coordinator.
			fc := findCoordinatorReq(1, txnID)
			_, fv, _ := p.common(fc)
			fc.SetVersion(fv)
			if _, err := c.send(fc); err != nil {
				t.Fatalf("%s FindCoordinator: %v", who, err)
			}
			req := initPIDReq()
			req.TransactionalID = &txnID
			_, v, _ := p.common(req)
			req.SetVersion(v)
			resp, err := c.send(req)
			if err != nil {
				t.Fatalf("%s InitProducerId: %v", who, err)
			}
			r := resp.(*kmsg.InitProducerIDResponse)
			if r.ErrorCode == 0 {
				prod[who] = producer{r.ProducerID, r.ProducerEpoch}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s InitProducerId: error %d", who, r.ErrorCode)
			}
			time.Sleep(250 * time.Millisecond) // the coordinator is loading
		}
	}
	// each sends what build makes of the broker's producer to both, at
	// version v, and compares the answers.
	each := func(scenario string, v int16, build func(pr producer) kmsg.Request) {
		t.Helper()
		kr, rr := build(prod["kafka"]), build(prod["rewind"])
		kr.SetVersion(v)
		rr.SetVersion(v)
		kResp, err := p.kafka.send(kr)
		if err != nil {
			t.Fatalf("kafka %s: %v", scenario, err)
		}
		rResp, err := p.rewind.send(rr)
		if err != nil {
			t.Fatalf("rewind %s: %v", scenario, err)
		}
		normalize(kResp, p.kafkaNode)
		normalize(rResp, p.rewindNode)
		p.report(scenario, diff(kResp, rResp))
	}
	// Transaction version 1 requests: AddOffsetsToTxn, then TxnOffsetCommit
	// v4 and EndTxn v4 (v5 of either would ask for version 2).
	_, addHi, _ := p.common(kmsg.NewPtrAddOffsetsToTxnRequest())
	each("AddOffsetsToTxn/group", addHi, func(pr producer) kmsg.Request {
		req := kmsg.NewPtrAddOffsetsToTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = txnID, pr.pid, pr.epoch, group
		return req
	})
	commitV := min(hi, 4)
	each("TxnOffsetCommit/in a transaction", commitV, func(pr producer) kmsg.Request {
		return txnCommitReq(txnID, group, pr.pid, pr.epoch, -1, "", tp, 0, 1)
	})
	p.compare("OffsetFetch/RequireStable with pending transactional offsets", stableFetchReq(group, tp, 0, 1), 7, nil)
	p.compare("OffsetFetch/plain with pending transactional offsets", fetchReq(group, tp, 0, 1), 7, nil)
	each("TxnOffsetCommit/unknown member of an Empty group", commitV, func(pr producer) kmsg.Request {
		return txnCommitReq(txnID, group, pr.pid, pr.epoch, 1, "nobody", tp, 0)
	})
	each("TxnOffsetCommit/generation -1 with a member id", commitV, func(pr producer) kmsg.Request {
		return txnCommitReq(txnID, group, pr.pid, pr.epoch, -1, "nobody", tp, 0)
	})
	each("TxnOffsetCommit/unknown group with a generation", commitV, func(pr producer) kmsg.Request {
		return txnCommitReq(txnID, name("nogroup"), pr.pid, pr.epoch, 3, "m", tp, 0)
	})
	each("TxnOffsetCommit/stale producer epoch", commitV, func(pr producer) kmsg.Request {
		return txnCommitReq(txnID, group, pr.pid, pr.epoch-1, -1, "", tp, 0)
	})
	_, endHi, _ := p.common(kmsg.NewPtrEndTxnRequest())
	each("EndTxn/commit", min(endHi, 4), func(pr producer) kmsg.Request {
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = txnID, pr.pid, pr.epoch, true
		return req
	})
	// The markers are written after EndTxn is answered (Kafka) or before
	// (Rewind): wait until the offsets are stable on both.
	deadline := time.Now().Add(20 * time.Second)
	for _, c := range []*conn{p.kafka, p.rewind} {
		for {
			req := stableFetchReq(group, tp, 0, 1)
			req.SetVersion(7)
			resp, err := c.send(req)
			if err != nil {
				t.Fatal(err)
			}
			unstable := false
			for _, rt := range resp.(*kmsg.OffsetFetchResponse).Topics {
				for _, rp := range rt.Partitions {
					unstable = unstable || rp.ErrorCode != 0
				}
			}
			if !unstable || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	p.compare("OffsetFetch/RequireStable after the commit", stableFetchReq(group, tp, 0, 1), 7, nil)
}

// servesTxn says whether Rewind serves EndTxn.
func (p *pair) servesTxn() bool {
	_, ok := p.rewindVersions[26]
	return ok
}
