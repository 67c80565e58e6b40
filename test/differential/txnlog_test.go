package differential

import (
	"fmt"
	"testing"
	"time"

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
