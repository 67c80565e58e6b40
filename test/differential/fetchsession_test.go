package differential

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchSessions: an incremental fetch session (KIP-227) walked the
// same way on both brokers, at v12 (topics by name) and the newest common
// version (by id): the full fetch that opens it, an incremental fetch with
// nothing new, one answered only the partition that got records, the same
// epoch again (INVALID_FETCH_SESSION_EPOCH), a forgotten partition's
// records not answered, an unknown session (FETCH_SESSION_ID_NOT_FOUND), a
// fetch of the other naming (FETCH_SESSION_TOPIC_ID_ERROR), forgetting
// every partition (the session closes: id 0), and a FINAL fetch. Session
// ids are random on each broker: only whether one is given is compared.
func TestFetchSessions(t *testing.T) {
	p := newPair(t)
	_, hi, ok := p.common(kmsg.NewPtrFetchRequest())
	if !ok || hi < 13 {
		t.Fatalf("Fetch: newest common version %d", hi)
	}
	for _, v := range []int16{12, hi} {
		tp := name(fmt.Sprintf("fsess%d", v))
		p.mustCreate(tp, 3)
		p.mustProduce(tp, 0, 1000, 2000, 3000)
		ids := p.topicIDs(tp)
		s := &sessionPair{p: p, v: v, topic: tp, ids: [2][16]byte{ids[0][tp], ids[1][tp]}}
		scen := func(what string) string { return fmt.Sprintf("Fetch session/%s", what) }

		all := map[int32]int64{0: 0, 1: 0, 2: 0}
		s.ready(all)
		s.step(scen("full, epoch 0"), 0, all, nil)
		s.step(scen("incremental, nothing new"), 1, map[int32]int64{0: 3}, nil)
		p.mustProduce(tp, 1, 4000, 5000)
		s.step(scen("incremental, records on 1"), 2, nil, nil)
		s.step(scen("incremental, epoch again"), 2, nil, nil)
		s.step(scen("incremental, forget 2"), 3, map[int32]int64{1: 2}, []int32{2})
		p.mustProduce(tp, 2, 6000)
		p.mustProduce(tp, 0, 7000)
		s.step(scen("incremental, records on 0 and forgotten 2"), 4, nil, nil)
		s.other(scen("other naming"), 5)
		s.unknown(scen("unknown session"), 5)
		s.step(scen("incremental, forget all"), 5, nil, []int32{0, 1})
		s.step(scen("closed session"), 6, nil, nil)
		s.step(scen("full again"), 0, all, nil)
		s.final(scen("final"), all)
	}
}

// sessionPair is one session on each broker.
type sessionPair struct {
	p     *pair
	v     int16
	topic string
	ids   [2][16]byte // the topic's id on Kafka, on Rewind
	sess  [2]int32
}

func (s *sessionPair) req(who int, sess, epoch int32, parts map[int32]int64, forget []int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = s.v, -1, 10, 1, 1<<20
	req.SessionID, req.SessionEpoch = sess, epoch
	tid := [16]byte{}
	if s.v >= 13 {
		tid = s.ids[who]
	}
	if len(parts) > 0 {
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic, ft.TopicID = s.topic, tid
		for pn := int32(0); pn < 3; pn++ {
			if off, ok := parts[pn]; ok {
				fp := kmsg.NewFetchRequestTopicPartition()
				fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes, fp.LogStartOffset, fp.CurrentLeaderEpoch = pn, off, 1<<20, -1, -1
				ft.Partitions = append(ft.Partitions, fp)
			}
		}
		req.Topics = append(req.Topics, ft)
	}
	if len(forget) > 0 {
		ff := kmsg.NewFetchRequestForgottenTopic()
		ff.Topic, ff.TopicID, ff.Partitions = s.topic, tid, forget
		req.ForgottenTopics = append(req.ForgottenTopics, ff)
	}
	return req
}

// send sends each broker its request and compares the answers, session
// ids compared only as given or not. It returns both responses.
func (s *sessionPair) send(scenario string, kreq, rreq *kmsg.FetchRequest) [2]*kmsg.FetchResponse {
	p := s.p
	p.t.Helper()
	k, kerr := p.kafka.send(kreq)
	r, rerr := p.rewind.send(rreq)
	if kerr != nil || rerr != nil {
		p.t.Fatalf("%s: kafka %v, rewind %v", scenario, kerr, rerr)
	}
	kr, rr := k.(*kmsg.FetchResponse), r.(*kmsg.FetchResponse)
	out := [2]*kmsg.FetchResponse{kr, rr}
	kc, rc := *kr, *rr
	for _, c := range []*kmsg.FetchResponse{&kc, &rc} {
		if c.SessionID != 0 {
			c.SessionID = 1
		}
	}
	normalize(&kc, p.kafkaNode)
	normalize(&rc, p.rewindNode)
	p.report(fmt.Sprintf("%s/Fetch_v%d", scenario, s.v), diff(&kc, &rc))
	return out
}

// step sends the session's request at epoch on both (epoch 0: a new
// session) and keeps the session ids answered.
func (s *sessionPair) step(scenario string, epoch int32, parts map[int32]int64, forget []int32) {
	s.p.t.Helper()
	sess := s.sess
	if epoch == 0 {
		sess = [2]int32{}
	}
	out := s.send(scenario, s.req(0, sess[0], epoch, parts, forget), s.req(1, sess[1], epoch, parts, forget))
	if epoch == 0 {
		s.sess = [2]int32{out[0].SessionID, out[1].SessionID}
	}
}

// other sends the session's next fetch at the other naming (v12 for a
// session by id, v13 for one by name).
func (s *sessionPair) other(scenario string, epoch int32) {
	kreq, rreq := s.req(0, s.sess[0], epoch, nil, nil), s.req(1, s.sess[1], epoch, nil, nil)
	v := int16(13)
	if s.v >= 13 {
		v = 12
	}
	kreq.Version, rreq.Version = v, v
	s.send(scenario, kreq, rreq)
}

func (s *sessionPair) unknown(scenario string, epoch int32) {
	kreq, rreq := s.req(0, s.sess[0]^0x5a5a5a, epoch, nil, nil), s.req(1, s.sess[1]^0x5a5a5a, epoch, nil, nil)
	if kreq.SessionID <= 0 || rreq.SessionID <= 0 {
		kreq.SessionID, rreq.SessionID = math.MaxInt32-1, math.MaxInt32-1
	}
	s.send(scenario, kreq, rreq)
}

// ready waits until Kafka serves a fetch of every partition: its
// Metadata lists the leaders a moment before its replica manager leads
// them (NOT_LEADER_OR_FOLLOWER until then).
func (s *sessionPair) ready(parts map[int32]int64) {
	s.p.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := s.p.kafka.send(s.req(0, 0, -1, parts, nil))
		if err != nil {
			s.p.t.Fatal(err)
		}
		errs := 0
		for _, t := range resp.(*kmsg.FetchResponse).Topics {
			for _, pp := range t.Partitions {
				if pp.ErrorCode != 0 {
					errs++
				}
			}
		}
		if errs == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.p.t.Fatalf("%s: Kafka does not serve every partition after 20 s", s.topic)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// final closes the session with a FINAL (-1) full fetch naming it.
func (s *sessionPair) final(scenario string, parts map[int32]int64) {
	s.send(scenario, s.req(0, s.sess[0], -1, parts, nil), s.req(1, s.sess[1], -1, parts, nil))
	s.step(scenario+", session gone", 1, nil, nil)
}

// TestFetchSessionErrors: the partitions Kafka answers with an error
// before reading them (a topic or partition that does not exist, an
// unknown topic id) come after the others, in the full fetch that opens a
// session and in its incremental fetches, and do not end the long poll of
// the partitions that are read; a fetch of nothing but such partitions is
// answered at once. The order of the partitions (which the comparison of
// responses leaves aside) and whether each fetch waited its MaxWaitMillis
// are compared.
func TestFetchSessionErrors(t *testing.T) {
	p := newPair(t)
	_, hi, ok := p.common(kmsg.NewPtrFetchRequest())
	if !ok || hi < 13 {
		t.Fatalf("Fetch: newest common version %d", hi)
	}
	tp, nope := name("fserr"), name("fserr-none")
	p.mustCreate(tp, 2)
	ids := p.topicIDs(tp)
	(&sessionPair{p: p, v: 12, topic: tp}).ready(map[int32]int64{0: 0, 1: 0})
	const wait = 1000
	// part is one partition asked: topic (by name, or id, "" for an
	// unknown id), partition.
	type part struct {
		topic string
		p     int32
	}
	req := func(who int, v int16, sess, epoch int32, parts ...part) *kmsg.FetchRequest {
		r := kmsg.NewPtrFetchRequest()
		r.Version, r.ReplicaID, r.MaxWaitMillis, r.MinBytes, r.MaxBytes = v, -1, wait, 1, 1<<20
		r.SessionID, r.SessionEpoch = sess, epoch
		for _, pp := range parts {
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic = pp.topic
			if v >= 13 {
				ft.Topic = ""
				if pp.topic == tp {
					ft.TopicID = ids[who][tp]
				} else {
					ft.TopicID = [16]byte{0xde, 0xad, 1}
				}
			}
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.Partition, fp.PartitionMaxBytes, fp.LogStartOffset, fp.CurrentLeaderEpoch = pp.p, 1<<20, -1, -1
			ft.Partitions = append(ft.Partitions, fp)
			r.Topics = append(r.Topics, ft)
		}
		return r
	}
	// outcome is what is compared: the partitions answered, in order,
	// with their errors, and whether the fetch waited.
	type outcome struct {
		ErrorCode int16
		Session   bool
		Answered  []string
		Waited    bool
	}
	var sess [2]int32
	do := func(scenario string, v int16, epoch int32, parts ...part) {
		t.Helper()
		var out [2]outcome
		for who, c := range []*conn{p.kafka, p.rewind} {
			s := sess[who]
			if epoch <= 0 {
				s = 0
			}
			start := time.Now()
			resp, err := c.send(req(who, v, s, epoch, parts...))
			if err != nil {
				t.Fatalf("%s: %v", scenario, err)
			}
			fr := resp.(*kmsg.FetchResponse)
			o := outcome{ErrorCode: fr.ErrorCode, Session: fr.SessionID != 0, Waited: time.Since(start) >= wait/2*time.Millisecond}
			for _, rt := range fr.Topics {
				n := strings.TrimSuffix(rt.Topic, suffix)
				if v >= 13 {
					n = "unknown id"
					if rt.TopicID == ids[who][tp] {
						n = strings.TrimSuffix(tp, suffix)
					}
				}
				for _, pp := range rt.Partitions {
					o.Answered = append(o.Answered, fmt.Sprintf("%s/%d error %d", n, pp.Partition, pp.ErrorCode))
				}
			}
			out[who] = o
			if epoch == 0 {
				sess[who] = fr.SessionID
			}
		}
		p.report(fmt.Sprintf("Fetch session errors/%s/Fetch_v%d", scenario, v), diff(&out[0], &out[1]))
	}
	for _, v := range []int16{12, hi} {
		do("full fetch", v, 0, part{nope, 0}, part{tp, 1}, part{tp, 7}, part{tp, 0})
		do("incremental", v, 1)
		do("incremental naming an error", v, 2, part{nope, 1})
		do("sessionless, errors only", v, -1, part{nope, 0}, part{tp, 9})
	}
}

// TestFetchByteLimits: Kafka bounds a fetch's MaxBytes and its MinBytes
// by MaxBytes. MaxBytes 0 gets the first batch only; MinBytes above
// MaxBytes does not make the fetch wait. Compared: the whole batches
// answered (Kafka also sends the part of the next one that fits, which
// clients drop) and whether the fetch waited its MaxWaitMillis.
func TestFetchByteLimits(t *testing.T) {
	p := newPair(t)
	tp := name("fbytes")
	p.mustCreate(tp, 1)
	(&sessionPair{p: p, v: 12, topic: tp}).ready(map[int32]int64{0: 0})
	p.mustProduce(tp, 0, 1000)
	p.mustProduce(tp, 0, 2000)
	p.mustProduce(tp, 0, 3000)
	const wait = 1000
	type outcome struct {
		ErrorCode, PartitionError int16
		Batches                   int
		Waited                    bool
	}
	for _, c := range []struct{ maxBytes, minBytes int32 }{{0, 1}, {1, 1 << 20}, {1 << 20, 1}, {1 << 20, 1 << 20}} {
		var out [2]outcome
		for who, cn := range []*conn{p.kafka, p.rewind} {
			req := kmsg.NewPtrFetchRequest()
			req.Version, req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 12, -1, wait, c.minBytes, c.maxBytes
			req.SessionEpoch = -1
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic = tp
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.PartitionMaxBytes, fp.LogStartOffset, fp.CurrentLeaderEpoch = 1<<20, -1, -1
			ft.Partitions = append(ft.Partitions, fp)
			req.Topics = append(req.Topics, ft)
			start := time.Now()
			resp, err := cn.send(req)
			if err != nil {
				t.Fatal(err)
			}
			fr := resp.(*kmsg.FetchResponse)
			o := outcome{ErrorCode: fr.ErrorCode, Waited: time.Since(start) >= wait/2*time.Millisecond}
			if len(fr.Topics) == 1 && len(fr.Topics[0].Partitions) == 1 {
				pp := fr.Topics[0].Partitions[0]
				o.PartitionError = pp.ErrorCode
				// Whole batches: base offset (8 bytes), length (4), then
				// length bytes.
				for b := pp.RecordBatches; len(b) >= 12; {
					n := 12 + int(binary.BigEndian.Uint32(b[8:12]))
					if n > len(b) {
						break
					}
					o.Batches++
					b = b[n:]
				}
			}
			out[who] = o
		}
		p.report(fmt.Sprintf("Fetch byte limits/MaxBytes %d MinBytes %d/Fetch_v12", c.maxBytes, c.minBytes), diff(&out[0], &out[1]))
	}
}

// TestFetchMinBytesPartial: Kafka reads a partition up to the fetch's
// byte limit, not up to a batch, and counts toward MinBytes the bytes it
// would send, the start of the batch cut at the limit included: with
// MinBytes = MaxBytes (or PartitionMaxBytes) between one batch and two,
// batches ready answer at once. A fetch that waits counts a partition's
// new data up to its PartitionMaxBytes, never more, however large the
// first batch is. Compared: the whole batches answered and whether the
// fetch waited its MaxWaitMillis.
func TestFetchMinBytesPartial(t *testing.T) {
	p := newPair(t)
	tp := name("fpartial")
	p.mustCreate(tp, 1)
	(&sessionPair{p: p, v: 12, topic: tp}).ready(map[int32]int64{0: 0})
	for _, ts := range []int64{1000, 2000, 3000} {
		p.mustProduce(tp, 0, ts)
	}
	const wait = 2000
	type outcome struct {
		ErrorCode, PartitionError int16
		Batches                   int
		Waited                    bool
	}
	fetch := func(c *conn, offset int64, maxBytes, partBytes, minBytes int32) (*kmsg.FetchResponse, time.Duration) {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 12, -1, wait, minBytes, maxBytes
		req.SessionEpoch = -1
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = tp
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.FetchOffset, fp.PartitionMaxBytes, fp.LogStartOffset, fp.CurrentLeaderEpoch = offset, partBytes, -1, -1
		ft.Partitions = append(ft.Partitions, fp)
		req.Topics = append(req.Topics, ft)
		start := time.Now()
		resp, err := c.send(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.FetchResponse), time.Since(start)
	}
	// The size of one batch (the three are alike), on each broker.
	var size [2]int32
	for who, c := range []*conn{p.kafka, p.rewind} {
		fr, _ := fetch(c, 0, 1<<20, 1<<20, 1)
		size[who] = int32(len(fr.Topics[0].Partitions[0].RecordBatches) / 3)
	}
	if size[0] != size[1] {
		t.Fatalf("batches of %d bytes on Kafka, %d on Rewind", size[0], size[1])
	}
	one := size[0]
	_, pv, ok := p.common(kmsg.NewPtrProduceRequest())
	if !ok {
		t.Fatal("Produce: no version both brokers serve")
	}
	limit := one + one/3
	end := int64(3)
	for _, c := range []struct {
		scenario                      string
		maxBytes, partBytes, minBytes int32
		produce                       int // batches produced while the fetch waits at the end
	}{
		{"MaxBytes cuts a batch", limit, 1 << 20, limit, 0},
		{"PartitionMaxBytes cuts a batch", 1 << 20, limit, limit, 0},
		{"waiting, PartitionMaxBytes cuts a batch", 1 << 20, limit, limit, 2},
		{"waiting, a batch over PartitionMaxBytes", 1 << 20, one / 2, one, 1},
	} {
		var out [2]outcome
		for who, addr := range []string{p.kafkaAddr, p.rewindAddr} {
			cn := []*conn{p.kafka, p.rewind}[who]
			offset := int64(0)
			done := make(chan struct{})
			if c.produce > 0 {
				offset = end
				pc := dial(t, addr)
				go func() {
					defer close(done)
					time.Sleep(300 * time.Millisecond)
					for i := range c.produce {
						req := produceReq(tp, 0, -1, 10000+end+int64(i))
						req.SetVersion(pv)
						resp, err := pc.send(req)
						if err != nil || resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode != 0 {
							t.Errorf("produce: %v %+v", err, resp)
						}
					}
				}()
			} else {
				close(done)
			}
			fr, took := fetch(cn, offset, c.maxBytes, c.partBytes, c.minBytes)
			<-done
			o := outcome{ErrorCode: fr.ErrorCode, Waited: took >= wait*3/4*time.Millisecond}
			if len(fr.Topics) == 1 && len(fr.Topics[0].Partitions) == 1 {
				pp := fr.Topics[0].Partitions[0]
				o.PartitionError = pp.ErrorCode
				for b := pp.RecordBatches; len(b) >= 12; {
					n := 12 + int(binary.BigEndian.Uint32(b[8:12]))
					if n > len(b) {
						break
					}
					o.Batches++
					b = b[n:]
				}
			}
			out[who] = o
		}
		end += int64(c.produce)
		p.report(fmt.Sprintf("Fetch MinBytes partial/%s/Fetch_v12", c.scenario), diff(&out[0], &out[1]))
	}
}

// TestFetchQuotaResponseSize: consumer_byte_rate is charged the size of
// the Fetch response (Kafka's getResponseSize), the fields of empty
// partitions included, and for an incremental fetch that of the
// partitions it answers. The charge is read back from the throttle time
// of a fetch over a quota of 1 B/s, from a client id not used before:
// (charge / 10 s - 1) × 10 s.
func TestFetchQuotaResponseSize(t *testing.T) {
	p := newPair(t)
	tp := name("fquota")
	const parts = 40
	p.mustCreate(tp, parts)
	all := map[int32]int64{}
	for pn := int32(0); pn < parts; pn++ {
		all[pn] = 0
	}
	(&sessionPair{p: p, v: 12, topic: tp}).ready(map[int32]int64{0: 0, 1: 0, 2: 0})
	req := func(sess, epoch int32, offsets map[int32]int64) *kmsg.FetchRequest {
		r := kmsg.NewPtrFetchRequest()
		r.Version, r.ReplicaID, r.MaxWaitMillis, r.MinBytes, r.MaxBytes = 12, -1, 10, 1, 1<<20
		r.SessionID, r.SessionEpoch = sess, epoch
		if len(offsets) > 0 {
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic = tp
			for pn := int32(0); pn < parts; pn++ {
				if off, ok := offsets[pn]; ok {
					fp := kmsg.NewFetchRequestTopicPartition()
					fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes, fp.LogStartOffset, fp.CurrentLeaderEpoch = pn, off, 1<<20, -1, -1
					ft.Partitions = append(ft.Partitions, fp)
				}
			}
			r.Topics = append(r.Topics, ft)
		}
		return r
	}
	// The sessions, opened on the usual client id.
	var sess [2]int32
	for who, c := range []*conn{p.kafka, p.rewind} {
		resp, err := c.send(req(0, 0, all))
		if err != nil {
			t.Fatal(err)
		}
		if sess[who] = resp.(*kmsg.FetchResponse).SessionID; sess[who] == 0 {
			t.Fatalf("broker %d: no session", who)
		}
	}
	// A current timestamp: a record of 1970 is past retention.ms, and a
	// retention check of either broker while the quota is applied would
	// delete it (Kafka's first comes 30 s after it starts).
	p.mustProduce(tp, 7, time.Now().UnixMilli())
	// A client id per fetch, each 1 B/s.
	ids := map[string]string{}
	var ents []kmsg.AlterClientQuotasRequestEntry
	for _, k := range []string{"poll", "sessionless", "incremental"} {
		ids[k] = name("fquota-" + k)
		ents = append(ents, quotaEnt([]string{"client-id", ids[k]}, "consumer_byte_rate=1"))
	}
	if _, _, kerr, rerr := p.both(alterQuotasReq(false, ents...), -1); kerr != nil || rerr != nil {
		t.Fatalf("AlterClientQuotas: %v %v", kerr, rerr)
	}
	t.Cleanup(func() {
		var rm []kmsg.AlterClientQuotasRequestEntry
		for _, id := range ids {
			rm = append(rm, quotaEnt([]string{"client-id", id}, "consumer_byte_rate=remove"))
		}
		p.both(alterQuotasReq(false, rm...), -1)
	})
	as := func(addr, id string) *conn {
		c := dial(t, addr)
		c.f = kmsg.NewRequestFormatter(kmsg.FormatterClientID(id))
		return c
	}
	// Kafka applies quotas from its metadata log: wait until a fetch of
	// the poll client id is throttled.
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := as(p.kafkaAddr, ids["poll"]).send(req(0, -1, map[int32]int64{0: 0}))
		if err != nil {
			t.Fatal(err)
		}
		if resp.(*kmsg.FetchResponse).ThrottleMillis > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Kafka: consumer_byte_rate not applied after 20 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	type outcome struct {
		Throttled bool
		Charged   int64 // bytes
	}
	for _, c := range []struct {
		scenario string
		req      func(who int) *kmsg.FetchRequest
	}{
		{"sessionless", func(int) *kmsg.FetchRequest { return req(0, -1, all) }},
		{"incremental", func(who int) *kmsg.FetchRequest { return req(sess[who], 1, nil) }},
	} {
		var out [2]outcome
		for who, addr := range []string{p.kafkaAddr, p.rewindAddr} {
			resp, err := as(addr, ids[c.scenario]).send(c.req(who))
			if err != nil {
				t.Fatal(err)
			}
			ms := resp.(*kmsg.FetchResponse).ThrottleMillis
			out[who] = outcome{Throttled: ms > 0, Charged: int64(math.Round((float64(ms) + 10000) / 1000))}
		}
		t.Logf("%s: kafka %+v, rewind %+v", c.scenario, out[0], out[1])
		p.report(fmt.Sprintf("Fetch quota response size/%s/Fetch_v12", c.scenario), diff(&out[0], &out[1]))
	}
}

// waitingSession creates a topic of one partition on both brokers and
// opens a fetch session of it on each (the full fetch compared as
// scenario/full); it returns the Produce version both serve.
func waitingSession(t *testing.T, prefix, scenario string) (*pair, *sessionPair, string, int16) {
	t.Helper()
	p := newPair(t)
	tp := name(prefix)
	p.mustCreate(tp, 1)
	s := &sessionPair{p: p, v: 12, topic: tp}
	s.ready(map[int32]int64{0: 0})
	s.step(scenario+"/full", 0, map[int32]int64{0: 0}, nil)
	_, pv, ok := p.common(kmsg.NewPtrProduceRequest())
	if !ok {
		t.Fatal("Produce: no version both brokers serve")
	}
	return p, s, tp, pv
}

// waitOutcome is what the tests of waiting fetches compare: the error,
// how many partitions came with records, and whether the fetch waited out
// (half of) its MaxWaitMillis.
type waitOutcome struct {
	ErrorCode int16
	Records   int
	Waited    bool
}

func newWaitOutcome(fr *kmsg.FetchResponse, took time.Duration, waitMillis int) waitOutcome {
	o := waitOutcome{ErrorCode: fr.ErrorCode, Waited: took >= time.Duration(waitMillis)*time.Millisecond/2}
	for _, rt := range fr.Topics {
		for _, pp := range rt.Partitions {
			if len(pp.RecordBatches) > 0 {
				o.Records++
			}
		}
	}
	return o
}

// TestFetchSessionClosedWhileWaiting: an incremental fetch waiting while
// its session is closed (a FINAL fetch naming it, on another connection)
// is still answered when a record comes, not at MaxWaitMillis: Kafka's
// delayed fetch waits on its partitions whatever becomes of the session.
// Compared: whether it waited its MaxWaitMillis and the records answered.
func TestFetchSessionClosedWhileWaiting(t *testing.T) {
	p, s, tp, pv := waitingSession(t, "fclosed", "Fetch session closed while waiting")
	const wait = 8000
	var out [2]waitOutcome
	for who, addr := range []string{p.kafkaAddr, p.rewindAddr} {
		other := dial(t, addr)
		done := make(chan struct{})
		go func() {
			defer close(done)
			time.Sleep(300 * time.Millisecond)
			final := s.req(who, s.sess[who], -1, map[int32]int64{0: 0}, nil)
			if _, err := other.send(final); err != nil {
				t.Errorf("final fetch: %v", err)
				return
			}
			req := produceReq(tp, 0, -1, 1000)
			req.SetVersion(pv)
			if resp, err := other.send(req); err != nil || resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode != 0 {
				t.Errorf("produce: %v %+v", err, resp)
			}
		}()
		req := s.req(who, s.sess[who], 1, nil, nil)
		req.MaxWaitMillis = wait
		start := time.Now()
		resp, err := []*conn{p.kafka, p.rewind}[who].send(req)
		took := time.Since(start)
		<-done
		if err != nil {
			t.Fatal(err)
		}
		out[who] = newWaitOutcome(resp.(*kmsg.FetchResponse), took, wait)
	}
	t.Logf("kafka %+v, rewind %+v", out[0], out[1])
	p.report("Fetch session closed while waiting/incremental/Fetch_v12", diff(&out[0], &out[1]))
}

// TestFetchMaxBytesAcrossPartitions: a read cut by the fetch's MaxBytes
// uses up the rest of MaxBytes, the partial batch included, as Kafka's
// readFromLog takes each read's size (up to the limit, not to a batch)
// from what is left: a later partition whose batch would have fitted in
// what the whole batches left gets nothing. Partition 0 holds two batches
// of six records, partition 1 one batch of one; MaxBytes is partition 0's
// first batch plus partition 1's batch and a few bytes.
func TestFetchMaxBytesAcrossPartitions(t *testing.T) {
	p := newPair(t)
	tp := name("fmaxparts")
	p.mustCreate(tp, 2)
	(&sessionPair{p: p, v: 12, topic: tp}).ready(map[int32]int64{0: 0, 1: 0})
	p.mustProduce(tp, 0, 1001, 1002, 1003, 1004, 1005, 1006)
	p.mustProduce(tp, 0, 2001, 2002, 2003, 2004, 2005, 2006)
	p.mustProduce(tp, 1, 3001)
	fetch := func(c *conn, maxBytes int32) *kmsg.FetchResponse {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 12, -1, 0, 1, maxBytes
		req.SessionEpoch = -1
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = tp
		for part := int32(0); part < 2; part++ {
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.Partition, fp.PartitionMaxBytes, fp.LogStartOffset, fp.CurrentLeaderEpoch = part, 1<<20, -1, -1
			ft.Partitions = append(ft.Partitions, fp)
		}
		req.Topics = append(req.Topics, ft)
		resp, err := c.send(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.FetchResponse)
	}
	// The batches' sizes, alike on both brokers.
	var sizes [2][2]int // [broker][partition]: the first batch's size
	for who, c := range []*conn{p.kafka, p.rewind} {
		fr := fetch(c, 1<<20)
		for _, pp := range fr.Topics[0].Partitions {
			if b := pp.RecordBatches; len(b) >= 12 {
				sizes[who][pp.Partition] = 12 + int(binary.BigEndian.Uint32(b[8:12]))
			}
		}
	}
	if sizes[0] != sizes[1] || sizes[0][0] <= sizes[0][1]+8 {
		t.Fatalf("first batches of %v bytes on Kafka, %v on Rewind: want alike, partition 0's larger", sizes[0], sizes[1])
	}
	type outcome struct{ Batches [2]int }
	var out [2]outcome
	for who, c := range []*conn{p.kafka, p.rewind} {
		fr := fetch(c, int32(sizes[0][0]+sizes[0][1]+8))
		for _, pp := range fr.Topics[0].Partitions {
			for b := pp.RecordBatches; len(b) >= 12; {
				n := 12 + int(binary.BigEndian.Uint32(b[8:12]))
				if n > len(b) {
					break // a partial batch: clients drop it
				}
				out[who].Batches[pp.Partition]++
				b = b[n:]
			}
		}
	}
	p.report("Fetch MaxBytes across partitions/Fetch_v12", diff(&out[0], &out[1]))
}

// TestFetchSessionConcurrentWaits: a fetch of a session (epoch 1) waits on
// one connection while the next (epoch 2) comes on another; then a record
// comes. Compared: each fetch's error, whether it waited out its
// MaxWaitMillis, and the partitions it answered with records.
func TestFetchSessionConcurrentWaits(t *testing.T) {
	p, s, tp, pv := waitingSession(t, "ftwowaits", "Fetch session concurrent waits")
	const wait = 8000
	var out [2][2]waitOutcome // [broker][epoch-1]
	for who, addr := range []string{p.kafkaAddr, p.rewindAddr} {
		var wg sync.WaitGroup
		for i, epoch := range []int32{1, 2} {
			c := dial(t, addr)
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(i) * 300 * time.Millisecond) // epoch 1 first
				req := s.req(who, s.sess[who], epoch, nil, nil)
				req.MaxWaitMillis = wait
				start := time.Now()
				resp, err := c.send(req)
				if err != nil {
					t.Errorf("fetch epoch %d: %v", epoch, err)
					return
				}
				out[who][i] = newWaitOutcome(resp.(*kmsg.FetchResponse), time.Since(start), wait)
			}()
		}
		time.Sleep(900 * time.Millisecond)
		req := produceReq(tp, 0, -1, time.Now().UnixMilli())
		req.SetVersion(pv)
		if resp, err := dial(t, addr).send(req); err != nil || resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("produce: %v %+v", err, resp)
		}
		wg.Wait()
	}
	for i := range 2 {
		t.Logf("epoch %d: kafka %+v, rewind %+v", i+1, out[0][i], out[1][i])
		p.report(fmt.Sprintf("Fetch session concurrent waits/epoch %d/Fetch_v12", i+1), diff(&out[0][i], &out[1][i]))
	}
}

// TestFollowerFetchFromNonReplica: a fetch with a replica id (a
// follower's, v12 ReplicaID and v15+ ReplicaState) from a node that is not
// a replica of the partition: Kafka's leader refuses to record the
// position of a replica it does not know. Compared: the top-level and
// partition error codes, whether records came back, the offsets and the
// current leader answered.
func TestFollowerFetchFromNonReplica(t *testing.T) {
	p := newPair(t)
	tp := name("ffollower")
	p.mustCreate(tp, 1)
	(&sessionPair{p: p, v: 12, topic: tp}).ready(map[int32]int64{0: 0})
	p.mustProduce(tp, 0, time.Now().UnixMilli())
	type outcome struct {
		ErrorCode, PartitionError int16
		Records                   bool
		HW, LSO, LogStart         int64
		Leader                    string // CurrentLeader: none, or the broker itself
		LeaderEpoch               int32
		Nodes                     int
	}
	var self [2]int32 // each broker's node id
	km, rm, _, _ := p.both(metaReq(false), -1)
	for who, resp := range []kmsg.Response{km, rm} {
		if bs := resp.(*kmsg.MetadataResponse).Brokers; len(bs) == 1 {
			self[who] = bs[0].NodeID
		} else {
			t.Fatalf("broker %d: %d brokers in Metadata", who, len(bs))
		}
	}
	ids := p.topicIDs(tp)
	for _, v := range []int16{12, 15, 16} {
		for _, replica := range []int32{5, 1} {
			var out [2]outcome
			for who, c := range []*conn{p.kafka, p.rewind} {
				req := kmsg.NewPtrFetchRequest()
				req.Version, req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = v, 0, 1, 1<<20, -1
				if v >= 15 {
					req.ReplicaID = -1
					req.ReplicaState.ID, req.ReplicaState.Epoch = replica, 1
				} else {
					req.ReplicaID = replica
				}
				ft := kmsg.NewFetchRequestTopic()
				ft.Topic = tp
				if v >= 13 {
					ft.TopicID = ids[who][tp]
				}
				fp := kmsg.NewFetchRequestTopicPartition()
				fp.Partition, fp.PartitionMaxBytes, fp.LogStartOffset, fp.CurrentLeaderEpoch = 0, 1<<20, -1, -1
				ft.Partitions = append(ft.Partitions, fp)
				req.Topics = append(req.Topics, ft)
				resp, err := c.send(req)
				if err != nil {
					t.Fatalf("v%d replica %d: %v", v, replica, err)
				}
				fr := resp.(*kmsg.FetchResponse)
				out[who].ErrorCode, out[who].Nodes = fr.ErrorCode, len(fr.Brokers)
				for _, rt := range fr.Topics {
					for _, pp := range rt.Partitions {
						out[who].PartitionError = pp.ErrorCode
						out[who].Records = len(pp.RecordBatches) > 0
						out[who].HW, out[who].LSO, out[who].LogStart = pp.HighWatermark, pp.LastStableOffset, pp.LogStartOffset
						out[who].Leader, out[who].LeaderEpoch = fmt.Sprint(pp.CurrentLeader.LeaderID), pp.CurrentLeader.LeaderEpoch
						if pp.CurrentLeader.LeaderID == self[who] {
							out[who].Leader = "self"
						}
					}
				}
			}
			t.Logf("v%d replica %d: kafka %+v, rewind %+v", v, replica, out[0], out[1])
			p.report(fmt.Sprintf("Follower fetch from a non-replica/replica %d/Fetch_v%d", replica, v), diff(&out[0], &out[1]))
		}
	}
}
