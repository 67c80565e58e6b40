package differential

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func writeMarkersReq(topic string, pid int64, epoch int16, coord int32, commit bool, tv int8) *kmsg.WriteTxnMarkersRequest {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Committed, m.TransactionVersion = pid, epoch, coord, commit, tv
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, []int32{0}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	return req
}

// summarizeBatches replaces a fetch response's record bytes (which hold
// each broker's own producer id) by what a consumer reads of them: each
// batch's offsets, attributes and record count.
func summarizeBatches(resp kmsg.Response) {
	for i := range resp.(*kmsg.FetchResponse).Topics {
		t := &resp.(*kmsg.FetchResponse).Topics[i]
		for j := range t.Partitions {
			p := &t.Partitions[j]
			var out []byte
			for raw := p.RecordBatches; len(raw) > 0; {
				var rb kmsg.RecordBatch
				if err := rb.ReadFrom(raw); err != nil {
					out = fmt.Appendf(out, "undecodable(%v)", err)
					break
				}
				out = fmt.Appendf(out, "[%d-%d attrs %#x records %d]", rb.FirstOffset, rb.FirstOffset+int64(rb.LastOffsetDelta), rb.Attributes, rb.NumRecords)
				raw = raw[12+rb.Length:]
			}
			p.RecordBatches = out
			for k := range p.AbortedTransactions {
				p.AbortedTransactions[k].ProducerID = 1
			}
		}
	}
}

// TestWriteTxnMarkers writes markers directly (as the coordinator and
// kafka-transactions.sh abort do) for an idempotent producer with no
// transaction, with Kafka's fencing cases, then reads the partition at
// both isolation levels, lists its offsets and describes its producers.
func TestWriteTxnMarkers(t *testing.T) {
	p := newPair(t)
	tp := name("markers")
	p.mustCreate(tp, 1)
	_, hi, ok := p.common(kmsg.NewPtrWriteTxnMarkersRequest())
	if !ok {
		t.Fatal("WriteTxnMarkers: no common version")
	}
	// Kafka answers COORDINATOR_LOAD_IN_PROGRESS until its controller has
	// granted the broker a block of producer ids (clients retry).
	deadline := time.Now().Add(30 * time.Second)
	for {
		probe := initPIDReq()
		_, v, _ := p.common(probe)
		probe.SetVersion(v)
		resp, err := p.kafka.send(probe)
		if err == nil && resp.(*kmsg.InitProducerIDResponse).ErrorCode == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	kr, rr, _, _ := p.both(initPIDReq(), -1)
	kpid, rpid := kr.(*kmsg.InitProducerIDResponse), rr.(*kmsg.InitProducerIDResponse)
	if kpid.ErrorCode != 0 || rpid.ErrorCode != 0 {
		t.Fatalf("InitProducerId: kafka error %d, rewind error %d", kpid.ErrorCode, rpid.ErrorCode)
	}
	kb := batchSpec{pid: kpid.ProducerID, epoch: kpid.ProducerEpoch, records: 3, valueLen: 10}
	rb := kb
	rb.pid, rb.epoch = rpid.ProducerID, rpid.ProducerEpoch
	p.compareEach("WriteTxnMarkers/setup", produceBatch(tp, 0, kb.bytes()), produceBatch(tp, 0, rb.bytes()))

	fixPID := func(k, r kmsg.Response) {
		for _, resp := range []kmsg.Response{k, r} {
			for i := range resp.(*kmsg.WriteTxnMarkersResponse).Markers {
				resp.(*kmsg.WriteTxnMarkersResponse).Markers[i].ProducerID = 1
			}
		}
	}
	marker := func(scenario string, v int16, epoch int16, coord int32, commit bool, tv int8, topic string) {
		t.Helper()
		kreq := writeMarkersReq(topic, kpid.ProducerID, kpid.ProducerEpoch+epoch, coord, commit, tv)
		rreq := writeMarkersReq(topic, rpid.ProducerID, rpid.ProducerEpoch+epoch, coord, commit, tv)
		kreq.SetVersion(v)
		rreq.SetVersion(v)
		k, kerr := p.kafka.send(kreq)
		r, rerr := p.rewind.send(rreq)
		if kerr != nil || rerr != nil {
			t.Fatalf("%s: kafka %v, rewind %v", scenario, kerr, rerr)
		}
		normalize(k, p.kafkaNode)
		normalize(r, p.rewindNode)
		fixPID(k, r)
		p.report(fmt.Sprintf("WriteTxnMarkers/%s/WriteTxnMarkers_v%d", scenario, v), diff(k, r))
	}
	marker("commit with no transaction open", 1, 0, 5, true, 0, tp)
	marker("older coordinator epoch", 1, 0, 4, false, 0, tp)
	marker("unknown topic", 1, 0, 5, true, 0, name("no-such-topic"))
	if hi >= 2 {
		marker("TV2 marker of the current epoch", 2, 0, 5, true, 2, tp)
		marker("TV2 marker of the next epoch", 2, 1, 5, false, 2, tp)
		marker("older epoch after the bump", 1, 0, 5, true, 0, tp)
	}

	for _, iso := range []int8{0, 1} {
		// From 0 the offsets and aborted transactions only: Kafka 4.4
		// answers this fetch with the data batch alone and sends the
		// markers to the next fetch (as observed: the read stops at a
		// byte position its log had before the markers); Rewind sends
		// them at once, which a consumer cannot tell apart.
		req := fetchRecordsReq(tp, 0, 0)
		req.IsolationLevel = iso
		p.compare(fmt.Sprintf("WriteTxnMarkers/fetch from 0 isolation %d", iso), req, -1, func(k, r kmsg.Response) {
			summarizeBatches(k)
			summarizeBatches(r)
			for _, resp := range []kmsg.Response{k, r} {
				for i := range resp.(*kmsg.FetchResponse).Topics {
					for j := range resp.(*kmsg.FetchResponse).Topics[i].Partitions {
						resp.(*kmsg.FetchResponse).Topics[i].Partitions[j].RecordBatches = nil
					}
				}
			}
		})
		req = fetchRecordsReq(tp, 0, 3)
		req.IsolationLevel = iso
		p.compare(fmt.Sprintf("WriteTxnMarkers/fetch the markers isolation %d", iso), req, -1, func(k, r kmsg.Response) {
			summarizeBatches(k)
			summarizeBatches(r)
		})
		p.compare(fmt.Sprintf("WriteTxnMarkers/latest isolation %d", iso), listReq(tp, 0, -1, -1, iso), -1, nil)
	}

	dreq := kmsg.NewPtrDescribeProducersRequest()
	dt := kmsg.NewDescribeProducersRequestTopic()
	dt.Topic, dt.Partitions = tp, []int32{0, 3}
	dreq.Topics = append(dreq.Topics, dt)
	p.compare("WriteTxnMarkers/describe producers", dreq, -1, func(k, r kmsg.Response) {
		for _, resp := range []kmsg.Response{k, r} {
			for i := range resp.(*kmsg.DescribeProducersResponse).Topics {
				t := &resp.(*kmsg.DescribeProducersResponse).Topics[i]
				for j := range t.Partitions {
					for a := range t.Partitions[j].ActiveProducers {
						ap := &t.Partitions[j].ActiveProducers[a]
						ap.ProducerID = 1
						if ap.LastTimestamp > 0 {
							ap.LastTimestamp = 1 // the marker's write time
						}
					}
				}
			}
		}
	})
}

// txnRead is what a read_committed (or read_uncommitted) consumer gets
// from a partition, fetched to its end: each batch's offsets, kind and
// record count, the aborted transactions it was told of (producers
// numbered by first appearance, since each broker gives its own ids), and
// the offsets of the last answer.
type txnRead struct {
	batches, aborted []string
	hw, lso          int64
}

func readPartition(t *testing.T, c *conn, topic string, iso int8) txnRead {
	t.Helper()
	var r txnRead
	pids := map[int64]int{}
	num := func(pid int64) int {
		if _, ok := pids[pid]; !ok {
			pids[pid] = len(pids) + 1
		}
		return pids[pid]
	}
	seen := map[string]bool{}
	for off, tries := int64(0), 0; tries < 20; tries++ {
		req := fetchRecordsReq(topic, 0, off)
		req.IsolationLevel = iso
		req.SetVersion(12)
		resp, err := c.send(req)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			t.Fatalf("fetch %s at %d: error %d", topic, off, p.ErrorCode)
		}
		r.hw, r.lso = p.HighWatermark, p.LastStableOffset
		for raw := p.RecordBatches; len(raw) > 0; {
			var rb kmsg.RecordBatch
			if err := rb.ReadFrom(raw); err != nil {
				t.Fatal(err)
			}
			kind := "plain"
			switch {
			case rb.Attributes&0x20 != 0:
				kind = "marker"
			case rb.Attributes&0x10 != 0:
				kind = "txn"
			}
			r.batches = append(r.batches, fmt.Sprintf("%d-%d %s of producer %d, %d records", rb.FirstOffset, rb.FirstOffset+int64(rb.LastOffsetDelta), kind, num(rb.ProducerID), rb.NumRecords))
			off = rb.FirstOffset + int64(rb.LastOffsetDelta) + 1
			raw = raw[12+rb.Length:]
		}
		for _, a := range p.AbortedTransactions {
			s := fmt.Sprintf("producer %d from %d", num(a.ProducerID), a.FirstOffset)
			if !seen[s] {
				seen[s] = true
				r.aborted = append(r.aborted, s)
			}
		}
		limit := r.hw
		if iso == 1 {
			limit = r.lso
		}
		if off >= limit {
			break
		}
	}
	return r
}

// TestReadCommittedTransactions writes, with franz-go transactional
// producers on each broker, an aborted, a committed and an open
// transaction interleaved with plain records, then reads the partition
// at both isolation levels and lists its offsets: the batches returned,
// the aborted transactions, the high watermark and the LSO must be
// Kafka's.
func TestReadCommittedTransactions(t *testing.T) {
	p := newPair(t)
	if _, ok := p.rewindVersions[26]; !ok {
		t.Skip("Rewind does not serve EndTxn yet: no transactions to compare")
	}
	tp := name("readcommitted")
	p.mustCreate(tp, 1)
	write := func(addr string) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		plain, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(tp), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		// end: 0 abort, 1 commit, -1 leave open.
		txn := func(id string, end int, vals ...string) *kgo.Client {
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(tp), kgo.RecordPartitioner(kgo.ManualPartitioner()),
				kgo.TransactionalID(id+suffix), kgo.TransactionTimeout(60*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if err := cl.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
					t.Fatalf("%s: %v", addr, err)
				}
			}
			if end >= 0 {
				if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(end == 1)); err != nil {
					t.Fatalf("%s: end: %v", addr, err)
				}
			}
			return cl
		}
		mustPlain := func(v string) {
			if err := plain.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		txn("aborted", 0, "a1", "a2").Close()
		mustPlain("p1")
		txn("committed", 1, "c1").Close()
		open := txn("open", -1, "o1") // left open
		t.Cleanup(open.Close)
		mustPlain("p2")
	}
	write(p.kafkaAddr)
	write(p.rewindAddr)
	for _, iso := range []int8{0, 1} {
		k, r := readPartition(t, p.kafka, tp, iso), readPartition(t, p.rewind, tp, iso)
		scenario := fmt.Sprintf("ReadCommitted/transactions/fetch to the end isolation %d", iso)
		var ds []difference
		if fmt.Sprint(k.batches) != fmt.Sprint(r.batches) {
			ds = append(ds, difference{"batches", fmt.Sprint(k.batches), fmt.Sprint(r.batches)})
		}
		if fmt.Sprint(k.aborted) != fmt.Sprint(r.aborted) {
			ds = append(ds, difference{"AbortedTransactions", fmt.Sprint(k.aborted), fmt.Sprint(r.aborted)})
		}
		if k.hw != r.hw || k.lso != r.lso {
			ds = append(ds, difference{"HighWatermark/LastStableOffset", fmt.Sprint(k.hw, k.lso), fmt.Sprint(r.hw, r.lso)})
		}
		p.report(scenario, ds)
		p.compare(fmt.Sprintf("ReadCommitted/transactions/latest isolation %d", iso), listReq(tp, 0, -1, -1, iso), -1, nil)
	}
}
