package differential

import (
	"fmt"
	"testing"
	"time"

	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceReq is one Produce of one uncompressed batch of records with
// the given timestamps (CreateTime) to topic/partition.
func produceReq(topic string, partition int32, acks int16, timestamps ...int64) *kmsg.ProduceRequest {
	recs := make([]storage.Record, len(timestamps))
	for i, ts := range timestamps {
		recs[i] = storage.Record{Timestamp: ts, Key: fmt.Appendf(nil, "k%d", ts), Value: fmt.Appendf(nil, "v%d", ts)}
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = acks, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	if len(recs) > 0 {
		rp.Records = storage.BuildBatch(timestamps[0], recs)
	}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// mustProduce produces one batch to both brokers with acks=all. Kafka's
// broker may answer a retriable error (NOT_LEADER_OR_FOLLOWER) for a
// moment after its metadata lists a new topic's leader, before it has
// become that leader; the produce is retried there, as clients retry it.
func (p *pair) mustProduce(topic string, partition int32, timestamps ...int64) {
	p.t.Helper()
	_, v, ok := p.common(kmsg.NewPtrProduceRequest())
	if !ok {
		p.t.Fatal("Produce: no version both brokers serve")
	}
	send := func(who string, c *conn) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			req := produceReq(topic, partition, -1, timestamps...)
			req.SetVersion(v)
			resp, err := c.send(req)
			if err != nil {
				p.t.Fatalf("%s: produce to %s/%d: %v", who, topic, partition, err)
			}
			code := int16(0)
			for _, tt := range resp.(*kmsg.ProduceResponse).Topics {
				for _, pp := range tt.Partitions {
					if code == 0 {
						code = pp.ErrorCode
					}
				}
			}
			if code == 0 {
				return
			}
			if e := kerr.ErrorForCode(code); !kerr.IsRetriable(e) || time.Now().After(deadline) {
				p.t.Fatalf("%s: produce to %s/%d: error %d", who, topic, partition, code)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	send("kafka", p.kafka)
	send("rewind", p.rewind)
}

// fourRecords creates the one-partition topic base (named for this run)
// on both brokers and produces four records to it, one batch each, with
// timestamps 1000, 2000, 3000 and 4000 (offsets 0-3); it returns the
// topic's name.
func (p *pair) fourRecords(base string) string {
	p.t.Helper()
	tp := name(base)
	p.mustCreate(tp, 1)
	for ts := int64(1000); ts <= 4000; ts += 1000 {
		p.mustProduce(tp, 0, ts)
	}
	return tp
}

func listReq(topic string, partition int32, ts int64, epoch int32, isolation int8) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	req.IsolationLevel = isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = partition, ts, epoch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// TestListOffsets: earliest, latest, max timestamp and by time (before
// the first, exact hits, between, after the last), on an empty partition,
// an unknown partition and topic, read_committed, and leader epochs, at
// every version both serve where the answer is defined.
func TestListOffsets(t *testing.T) {
	p := newPair(t)
	tp := name("lo")
	p.mustCreate(tp, 2)
	p.mustProduce(tp, 0, 1000)       // offset 0
	p.mustProduce(tp, 0, 2000, 2001) // offsets 1, 2
	p.mustProduce(tp, 0, 3000)       // offset 3
	p.mustProduce(tp, 0, 5000, 4000) // offsets 4 (max timestamp), 5
	lo, hi, _ := p.common(kmsg.NewPtrListOffsetsRequest())
	cases := []struct {
		scenario  string
		partition int32
		ts        int64
		minV      int16
	}{
		{"earliest", 0, -2, 0},
		{"latest", 0, -1, 0},
		{"max timestamp", 0, -3, 7},
		{"earliest local", 0, -4, 8},
		{"before the first", 0, 500, 0},
		{"exact first", 0, 1000, 0},
		{"between", 0, 1500, 0},
		{"exact inside batch", 0, 2001, 0},
		{"after 3000", 0, 3500, 0},
		{"out of order batch", 0, 4500, 0},
		{"after the last", 0, 6000, 0},
		{"empty partition earliest", 1, -2, 0},
		{"empty partition latest", 1, -1, 0},
		{"empty partition max timestamp", 1, -3, 7},
		{"empty partition by time", 1, 1000, 0},
		{"unknown partition", 7, -1, 0},
	}
	for _, c := range cases {
		for v := max(lo, c.minV); v <= hi; v++ {
			p.compare("ListOffsets/"+c.scenario, listReq(tp, c.partition, c.ts, -1, 0), v, nil)
		}
	}
	p.compare("ListOffsets/unknown topic", listReq(name("nope"), 0, -1, -1, 0), -1, nil)
	p.compare("ListOffsets/read_committed latest", listReq(tp, 0, -1, -1, 1), -1, nil)
	p.compare("ListOffsets/current leader epoch 0", listReq(tp, 0, -1, 0, 0), -1, nil)
	p.compare("ListOffsets/future leader epoch", listReq(tp, 0, -1, 5, 0), -1, nil)
}

func deleteRecordsReq(topic string, partition int32, offset int64) *kmsg.DeleteRecordsRequest {
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = partition, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// TestDeleteRecords: beyond the high watermark, to an offset, below the
// log start offset already reached, -1 (to the high watermark), unknown
// partition and topic; and what ListOffsets says after.
func TestDeleteRecords(t *testing.T) {
	p := newPair(t)
	tp := p.fourRecords("dr")
	p.compare("DeleteRecords/beyond high watermark", deleteRecordsReq(tp, 0, 10), -1, nil)
	p.compare("DeleteRecords/to offset 2", deleteRecordsReq(tp, 0, 2), -1, nil)
	p.compare("DeleteRecords/below log start", deleteRecordsReq(tp, 0, 1), -1, nil)
	p.compare("DeleteRecords/earliest after", listReq(tp, 0, -2, -1, 0), -1, nil)
	p.compare("DeleteRecords/by time before log start", listReq(tp, 0, 1000, -1, 0), -1, nil)
	p.compare("DeleteRecords/-1 to high watermark", deleteRecordsReq(tp, 0, -1), -1, nil)
	p.compare("DeleteRecords/offset -2", deleteRecordsReq(tp, 0, -2), -1, nil)
	p.compare("DeleteRecords/unknown partition", deleteRecordsReq(tp, 3, 0), -1, nil)
	p.compare("DeleteRecords/unknown topic", deleteRecordsReq(name("nope"), 0, 0), -1, nil)
}

// TestProduce: acks=-1, 1 and 0 to an unknown topic (Produce never
// auto-creates), to an unknown partition, invalid acks, and a successful
// produce's offsets.
func TestProduce(t *testing.T) {
	p := newPair(t)
	tp := name("pr")
	p.mustCreate(tp, 1)
	for _, acks := range []int16{-1, 1} {
		p.compare(fmt.Sprintf("Produce/unknown topic acks=%d", acks), produceReq(name("nope"), 0, acks, 1000), -1, nil)
		p.compare(fmt.Sprintf("Produce/unknown partition acks=%d", acks), produceReq(tp, 4, acks, 1000), -1, nil)
		p.compare(fmt.Sprintf("Produce/ok acks=%d", acks), produceReq(tp, 0, acks, 1000, 1001), -1, nil)
	}
	p.compare("Produce/acks=2", produceReq(tp, 0, 2, 1000), -1, nil)
	// Kafka 4.4 leaves a Produce of null records unanswered (its request
	// handler fails with a NullPointerException); 5 s is enough to tell.
	p.kafka.timeout, p.rewind.timeout = 5*time.Second, 5*time.Second
	p.compare("Produce/null records", produceReq(tp, 0, -1), -1, nil)
	p.kafka.timeout, p.rewind.timeout = 0, 0
	empty := produceReq(tp, 0, -1)
	empty.Topics[0].Partitions[0].Records = []byte{}
	p.compare("Produce/empty records", empty, -1, nil)

	// acks=0 has no response; Kafka closes the connection when the
	// produce failed so that the client learns of it.
	for _, c := range []struct {
		scenario  string
		topic     string
		partition int32
	}{
		{"unknown topic", name("nope"), 0},
		{"unknown partition", tp, 4},
		{"ok", tp, 0},
	} {
		req := produceReq(c.topic, c.partition, 0, 1000)
		_, hi, _ := p.common(req)
		req.SetVersion(hi)
		closed := map[string]bool{}
		for who, cn := range map[string]*conn{"kafka": p.kafka, "rewind": p.rewind} {
			cn.corr++
			if err := cn.write(req); err != nil {
				t.Fatalf("%s: %v", who, err)
			}
			closed[who] = cn.closed(2 * time.Second)
		}
		p.kafka, p.rewind = dial(t, p.kafkaAddr), dial(t, p.rewindAddr)
		var ds []difference
		if closed["kafka"] != closed["rewind"] {
			ds = append(ds, difference{"connection closed", fmt.Sprint(closed["kafka"]), fmt.Sprint(closed["rewind"])})
		}
		p.report(fmt.Sprintf("Produce/%s acks=0/Produce_v%d", c.scenario, hi), ds)
	}
	// What acks=0 wrote: the log end offsets must agree.
	p.compare("Produce/after acks=0", listReq(tp, 0, -1, -1, 0), -1, nil)
}

// TestProduceTimestampBounds: message.timestamp.after.max.ms (Kafka's
// default: an hour) and message.timestamp.before.max.ms refuse a CreateTime
// batch holding a record too far from the broker's clock, whole, with
// INVALID_TIMESTAMP and the index of each such record; a record without a
// timestamp (-1) and a LogAppendTime topic are not checked.
func TestProduceTimestampBounds(t *testing.T) {
	p := newPair(t)
	plain, before, appendTime := name("tsplain"), name("tsbefore"), name("tsappend")
	p.mustCreate(plain, 1)
	for _, c := range []kmsg.CreateTopicsRequestTopic{
		topic(before, 1, 1, "message.timestamp.before.max.ms", "60000"),
		topic(appendTime, 1, 1, "message.timestamp.type", "LogAppendTime"),
	} {
		k, r, _, _ := p.both(createReq(c), -1)
		for _, resp := range []kmsg.Response{k, r} {
			if code := resp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; code != 0 {
				t.Fatalf("creating %s: error %d", c.Topic, code)
			}
		}
		p.waitTopic(c.Topic, 1)
	}
	p.mustProduce(plain, 0, 1000) // a leader on Kafka's side before the cases
	p.mustProduce(before, 0, time.Now().UnixMilli())
	p.mustProduce(appendTime, 0, time.Now().UnixMilli())
	// Well inside the bounds whatever the clocks do while the test runs.
	now := time.Now().UnixMilli()
	future, past := now+3*3600*1000, now-3600*1000
	for _, c := range []struct {
		scenario   string
		topic      string
		timestamps []int64
	}{
		{"after the bound", plain, []int64{future}},
		{"one record of three after the bound", plain, []int64{now, future, now}},
		{"two records after the bound", plain, []int64{future, now, future + 1}},
		{"long ago without a before bound", plain, []int64{1000}},
		{"before the bound", before, []int64{past}},
		{"before and after the bounds", before, []int64{past, now, future}},
		{"inside the bounds", before, []int64{now}},
		{"no timestamp", plain, []int64{-1, -1}},
		{"LogAppendTime topic", appendTime, []int64{future, past}},
	} {
		p.compare("Produce/timestamp "+c.scenario, produceReq(c.topic, 0, -1, c.timestamps...), -1, sameAppendTime)
	}
	p.compare("Produce/timestamp bounds after the cases", listReq(plain, 0, -1, -1, 0), -1, nil)
}

// sameAppendTime keeps of a Produce response's log-append times only
// whether they are set: each broker stamps its own clock.
func sameAppendTime(k, r kmsg.Response) {
	for _, resp := range []kmsg.Response{k, r} {
		for i := range resp.(*kmsg.ProduceResponse).Topics {
			for j := range resp.(*kmsg.ProduceResponse).Topics[i].Partitions {
				if pp := &resp.(*kmsg.ProduceResponse).Topics[i].Partitions[j]; pp.LogAppendTime > 0 {
					pp.LogAppendTime = 1
				}
			}
		}
	}
}
