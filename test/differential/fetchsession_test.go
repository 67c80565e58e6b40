package differential

import (
	"fmt"
	"math"
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
