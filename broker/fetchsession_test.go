package broker_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch sessions (KIP-227) as Kafka's FetchManager.newContext decides: the
// epoch says whether a request is full (0 = INITIAL, -1 = FINAL, whatever
// the session id) or incremental (any other epoch, which must name a known
// session at its current epoch). A full fetch at epoch 0 creates a
// session; at -1 it creates none and closes the one it names.
func TestFetchSessionIDAndEpoch(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "sessions", 1)
	r := newRaw(t, b.Addr())
	if code, _ := r.produce("sessions", 0, 3); code != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(code))
	}
	cases := []struct {
		id, epoch int32
		session   bool        // a session is created
		want      *kerr.Error // nil: a full fetch, served
	}{
		{0, -1, false, nil},
		{0, 0, true, nil},
		{123, -1, false, nil},
		{123, 0, true, nil},
		{-1, -1, false, nil}, // what some clients send to say "no session"
		{123, 5, false, kerr.FetchSessionIDNotFound},
		{0, 5, false, kerr.FetchSessionIDNotFound},
	}
	for _, v := range []int16{7, 12} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("v%d/id=%d/epoch=%d", v, c.id, c.epoch), func(t *testing.T) {
				req := fetchReq("sessions", 0, 0)
				req.Version, req.SessionID, req.SessionEpoch = v, c.id, c.epoch
				resp := r.do(req).(*kmsg.FetchResponse)
				if got := resp.SessionID != 0; got != c.session {
					t.Errorf("session id %d in the response, want a session: %v", resp.SessionID, c.session)
				}
				if c.want != nil {
					if resp.ErrorCode != c.want.Code || len(resp.Topics) != 0 {
						t.Fatalf("got %v with %d topics, want %v and none", kerr.ErrorForCode(resp.ErrorCode), len(resp.Topics), c.want)
					}
					return
				}
				if resp.ErrorCode != 0 {
					t.Fatalf("full fetch answered %v", kerr.ErrorForCode(resp.ErrorCode))
				}
				if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
					t.Fatalf("full fetch answered %d topics, want the one asked", len(resp.Topics))
				}
				sp := resp.Topics[0].Partitions[0]
				if sp.ErrorCode != 0 {
					t.Fatalf("partition error %v", kerr.ErrorForCode(sp.ErrorCode))
				}
				if _, n := countRecords(t, sp.RecordBatches, 0); n != 3 {
					t.Fatalf("fetched %d records, want 3", n)
				}
			})
		}
	}
}

// sessFetch is a fetch of a session: the partitions named (topic "s",
// partition -> fetch offset), those forgotten, at version v.
func sessFetch(v int16, id, epoch int32, topic string, tid [16]byte, parts map[int32]int64, forget ...int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = v, -1, 10, 1, 1<<20
	req.SessionID, req.SessionEpoch = id, epoch
	if len(parts) > 0 {
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic, ft.TopicID = topic, tid
		for p := int32(0); p < 100; p++ {
			if off, ok := parts[p]; ok {
				fp := kmsg.NewFetchRequestTopicPartition()
				fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes, fp.LogStartOffset = p, off, 1<<20, -1
				ft.Partitions = append(ft.Partitions, fp)
			}
		}
		req.Topics = append(req.Topics, ft)
	}
	if len(forget) > 0 {
		ff := kmsg.NewFetchRequestForgottenTopic()
		ff.Topic, ff.TopicID, ff.Partitions = topic, tid, forget
		req.ForgottenTopics = append(req.ForgottenTopics, ff)
	}
	return req
}

// answered returns partition -> records of a fetch response.
func answered(t *testing.T, resp *kmsg.FetchResponse, from map[int32]int64) map[int32]int {
	t.Helper()
	got := map[int32]int{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			if p.ErrorCode != 0 {
				t.Fatalf("partition %d: %v", p.Partition, kerr.ErrorForCode(p.ErrorCode))
			}
			_, n := countRecords(t, p.RecordBatches, from[p.Partition])
			got[p.Partition] = n
		}
	}
	return got
}

func sameAnswer(a, b map[int32]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestFetchSessionIncremental walks a session through Kafka's rules, by
// name (v12) and by topic id (v13, v18): only changed partitions are
// answered, forgotten ones never, a stale epoch is
// INVALID_FETCH_SESSION_EPOCH and leaves the session as it was, an
// unknown id FETCH_SESSION_ID_NOT_FOUND, a session of the other naming
// FETCH_SESSION_TOPIC_ID_ERROR, and FINAL or forgetting everything closes
// it.
func TestFetchSessionIncremental(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	r := newRaw(t, b.Addr())
	for _, v := range []int16{12, 13, 18} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			topic := fmt.Sprintf("incr%d", v)
			createTopic(t, cl, topic, 3)
			tid := topicIDOf(t, cl, topic)
			if v < 13 {
				tid = [16]byte{}
			}
			produce := func(p int32, n int) {
				t.Helper()
				if code, _ := r.produce(topic, p, n); code != 0 {
					t.Fatalf("produce: %v", kerr.ErrorForCode(code))
				}
			}
			do := func(req *kmsg.FetchRequest) *kmsg.FetchResponse {
				t.Helper()
				return r.do(req).(*kmsg.FetchResponse)
			}
			expect := func(what string, resp *kmsg.FetchResponse, from map[int32]int64, want map[int32]int) {
				t.Helper()
				if resp.ErrorCode != 0 {
					t.Fatalf("%s: %v", what, kerr.ErrorForCode(resp.ErrorCode))
				}
				if got := answered(t, resp, from); !sameAnswer(got, want) {
					t.Fatalf("%s: answered partition:records %v, want %v", what, got, want)
				}
			}
			produce(0, 3)
			offs := map[int32]int64{0: 0, 1: 0, 2: 0}
			full := do(sessFetch(v, 0, 0, topic, tid, offs))
			expect("full fetch", full, offs, map[int32]int{0: 3, 1: 0, 2: 0})
			id := full.SessionID
			if id == 0 {
				t.Fatal("full fetch at epoch 0 created no session")
			}
			if v >= 13 && full.Topics[0].TopicID != tid {
				t.Fatalf("response topic id %x, want %x", full.Topics[0].TopicID, tid)
			}

			// The consumed partition moves on; nothing else changed.
			resp := do(sessFetch(v, id, 1, topic, tid, map[int32]int64{0: 3}))
			if resp.SessionID != id {
				t.Fatalf("incremental fetch answered session %d, want %d", resp.SessionID, id)
			}
			expect("nothing new", resp, offs, map[int32]int{})

			// Records on partition 1 only: only it is answered, without
			// being named.
			produce(1, 2)
			resp = do(sessFetch(v, id, 2, topic, tid, nil))
			expect("records on 1", resp, offs, map[int32]int{1: 2})
			if hw := resp.Topics[0].Partitions[0].HighWatermark; hw != 2 {
				t.Fatalf("high watermark %d, want 2", hw)
			}

			// The same epoch again: the request is refused and the
			// session stays at epoch 3.
			resp = do(sessFetch(v, id, 2, topic, tid, nil))
			if resp.ErrorCode != kerr.InvalidFetchSessionEpoch.Code || len(resp.Topics) != 0 || resp.SessionID != 0 {
				t.Fatalf("stale epoch: %v, %d topics, session %d; want INVALID_FETCH_SESSION_EPOCH, none, 0", kerr.ErrorForCode(resp.ErrorCode), len(resp.Topics), resp.SessionID)
			}

			// Partition 2 forgotten: its records are not answered.
			resp = do(sessFetch(v, id, 3, topic, tid, map[int32]int64{1: 2}, 2))
			expect("forget 2", resp, offs, map[int32]int{})
			produce(2, 4)
			produce(0, 1)
			resp = do(sessFetch(v, id, 4, topic, tid, nil))
			expect("records on 0 and forgotten 2", resp, map[int32]int64{0: 3}, map[int32]int{0: 1})

			// A session of the other naming.
			other := int16(12)
			if v < 13 {
				other = 13
			}
			resp = do(sessFetch(other, id, 5, topic, tid, nil))
			if resp.ErrorCode != kerr.FetchSessionTopicIDError.Code {
				t.Fatalf("v%d fetch of a v%d session: %v, want FETCH_SESSION_TOPIC_ID_ERROR", other, v, kerr.ErrorForCode(resp.ErrorCode))
			}

			// Unknown session id.
			resp = do(sessFetch(v, id+1, 5, topic, tid, nil))
			if resp.ErrorCode != kerr.FetchSessionIDNotFound.Code || len(resp.Topics) != 0 {
				t.Fatalf("unknown session: %v, want FETCH_SESSION_ID_NOT_FOUND", kerr.ErrorForCode(resp.ErrorCode))
			}

			// Forgetting every partition closes the session.
			resp = do(sessFetch(v, id, 5, topic, tid, nil, 0, 1))
			if resp.ErrorCode != 0 || resp.SessionID != 0 {
				t.Fatalf("forget all: %v, session %d; want no error and session 0", kerr.ErrorForCode(resp.ErrorCode), resp.SessionID)
			}
			resp = do(sessFetch(v, id, 6, topic, tid, nil))
			if resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
				t.Fatalf("closed session: %v, want FETCH_SESSION_ID_NOT_FOUND", kerr.ErrorForCode(resp.ErrorCode))
			}

			// A FINAL full fetch closes the session it names and opens none.
			full = do(sessFetch(v, 0, 0, topic, tid, offs))
			resp = do(sessFetch(v, full.SessionID, -1, topic, tid, offs))
			if resp.ErrorCode != 0 || resp.SessionID != 0 || len(resp.Topics) != 1 {
				t.Fatalf("final fetch: %v, session %d, %d topics; want a full answer and no session", kerr.ErrorForCode(resp.ErrorCode), resp.SessionID, len(resp.Topics))
			}
			resp = do(sessFetch(v, full.SessionID, 1, topic, tid, nil))
			if resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
				t.Fatalf("session after FINAL: %v, want FETCH_SESSION_ID_NOT_FOUND", kerr.ErrorForCode(resp.ErrorCode))
			}
		})
	}
}

// TestFetchSessionLongPoll: an incremental fetch that waits is woken by a
// record on one of its session's partitions (named in no request since
// the full fetch), long before MaxWaitMillis.
func TestFetchSessionLongPoll(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "poll", 50)
	r := newRaw(t, b.Addr())
	offs := map[int32]int64{}
	for p := int32(0); p < 50; p++ {
		offs[p] = 0
	}
	full := r.do(sessFetch(12, 0, 0, "poll", [16]byte{}, offs)).(*kmsg.FetchResponse)
	if full.SessionID == 0 {
		t.Fatal("no session")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(200 * time.Millisecond)
		p := newRaw(t, b.Addr())
		if code, _ := p.produce("poll", 37, 1); code != 0 {
			t.Errorf("produce: %v", kerr.ErrorForCode(code))
		}
	}()
	req := sessFetch(12, full.SessionID, 1, "poll", [16]byte{}, nil)
	req.MaxWaitMillis = 8000
	start := time.Now()
	resp := r.do(req).(*kmsg.FetchResponse)
	took := time.Since(start)
	<-done
	if got := answered(t, resp, offs); !sameAnswer(got, map[int32]int{37: 1}) {
		t.Fatalf("answered %v after %v (%+v), want the record of partition 37", got, took, resp)
	}
	if took > 5*time.Second {
		t.Fatalf("woken after %v: the produce did not wake the fetch", took)
	}
}

// TestFetchSessionLogStartOnIdlePartition: records deleted below a
// caught-up session's position on a partition nobody writes to reach the
// session's next answer, as Kafka's incremental fetch answers a partition
// whose log start offset moved (the long poll is not woken for it, as in
// Kafka: it answers at its max wait).
func TestFetchSessionLogStartOnIdlePartition(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "idle", 4)
	r := newRaw(t, b.Addr())
	if code, _ := r.produce("idle", 2, 3); code != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(code))
	}
	offs := map[int32]int64{0: 0, 1: 0, 2: 3, 3: 0}
	full := r.do(sessFetch(12, 0, 0, "idle", [16]byte{}, offs)).(*kmsg.FetchResponse)
	if full.SessionID == 0 {
		t.Fatal("no session")
	}
	done := make(chan error, 1)
	go func() {
		time.Sleep(200 * time.Millisecond)
		os := kadm.Offsets{}
		os.Add(kadm.Offset{Topic: "idle", Partition: 2, At: 2})
		resp, err := kadm.NewClient(cl).DeleteRecords(testCtx(t, 10*time.Second), os)
		if err == nil {
			err = resp.Error()
		}
		done <- err
	}()
	req := sessFetch(12, full.SessionID, 1, "idle", [16]byte{}, nil)
	req.MaxWaitMillis = 2000
	resp := r.do(req).(*kmsg.FetchResponse)
	if err := <-done; err != nil {
		t.Fatalf("delete records: %v", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].Partition != 2 || resp.Topics[0].Partitions[0].LogStartOffset != 2 {
		t.Fatalf("%+v, want partition 2 with log start 2", resp.Topics)
	}
}

// TestFetchSessionCacheBounds: --fetch-session-cache-slots is split in 8
// shards as in Kafka (8 slots: one session per shard, the ninth full
// fetch gets none while no session is evictable), and
// --fetch-session-partitions bounds what all sessions cache: a full fetch
// past it gets no session, an incremental one that would pass it loses
// its session (FETCH_SESSION_ID_NOT_FOUND).
func TestFetchSessionCacheBounds(t *testing.T) {
	b := rewindtest.Start(t, broker.WithFetchSessionCache(8, 20))
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "bounds", 10)
	r := newRaw(t, b.Addr())
	one := map[int32]int64{0: 0}
	var ids []int32
	for i := 0; i < 9; i++ {
		resp := r.do(sessFetch(12, 0, 0, "bounds", [16]byte{}, one)).(*kmsg.FetchResponse)
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 {
			t.Fatalf("full fetch %d: %v", i, kerr.ErrorForCode(resp.ErrorCode))
		}
		ids = append(ids, resp.SessionID)
	}
	for i, id := range ids[:8] {
		if id == 0 {
			t.Fatalf("full fetch %d got no session with 8 slots", i)
		}
	}
	if ids[8] != 0 {
		t.Fatalf("a ninth session %d with 8 slots in use", ids[8])
	}
	if st := b.FetchSessions(); st.Sessions != 8 || st.Partitions != 8 {
		t.Fatalf("%+v; want 8 sessions and 8 partitions cached", st)
	}
	// 8 cached, 20 allowed: a session growing by 13 passes the bound.
	grow := map[int32]int64{}
	for p := int32(0); p < 10; p++ {
		grow[p] = 0
	}
	resp := r.do(sessFetch(12, ids[0], 1, "bounds", [16]byte{}, grow)).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("growing to 17 of 20: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	resp = r.do(sessFetch(12, ids[1], 1, "bounds", [16]byte{}, grow)).(*kmsg.FetchResponse)
	if resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("growing past 20: %v, want FETCH_SESSION_ID_NOT_FOUND", kerr.ErrorForCode(resp.ErrorCode))
	}
	if st := b.FetchSessions(); st.Sessions != 7 || st.Partitions != 16 {
		t.Fatalf("%+v; want 7 sessions and 16 partitions cached", st)
	}
	// A full fetch of 10 partitions would pass 20: served, no session.
	resp = r.do(sessFetch(12, 0, 0, "bounds", [16]byte{}, grow)).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || resp.SessionID != 0 || len(resp.Topics[0].Partitions) != 10 {
		t.Fatalf("full fetch past the bound: %v, session %d", kerr.ErrorForCode(resp.ErrorCode), resp.SessionID)
	}
}

// topicIDOf returns the topic id Metadata gives the topic.
func topicIDOf(t *testing.T, cl *kgo.Client, topic string) [16]byte {
	t.Helper()
	tds, err := kadm.NewClient(cl).ListTopics(testCtx(t, 10*time.Second), topic)
	if err != nil || tds[topic].Err != nil {
		t.Fatalf("metadata of %s: %v %v", topic, err, tds[topic].Err)
	}
	return tds[topic].ID
}

// TestFetchTopicIDs: from v13 a topic is named by its id (Metadata's): an
// unknown id is UNKNOWN_TOPIC_ID for each of its partitions, with the id
// echoed; a session over a topic that is deleted answers
// UNKNOWN_TOPIC_OR_PARTITION, and once a topic of that name is created
// again (another id) INCONSISTENT_TOPIC_ID, as Kafka's fetch session
// keeps the name it resolved.
func TestFetchTopicIDs(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	r := newRaw(t, b.Addr())
	createTopic(t, cl, "byid", 1)
	tid := topicIDOf(t, cl, "byid")
	if code, _ := r.produce("byid", 0, 2); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	unknown := tid
	unknown[0] ^= 0xff
	for _, v := range []int16{13, 15, 17, 18} {
		resp := r.do(sessFetch(v, 0, -1, "", unknown, map[int32]int64{0: 0, 1: 0})).(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 || resp.Topics[0].TopicID != unknown || len(resp.Topics[0].Partitions) != 2 {
			t.Fatalf("v%d unknown id: %+v", v, resp.Topics)
		}
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != kerr.UnknownTopicID.Code {
				t.Fatalf("v%d unknown id, partition %d: %v, want UNKNOWN_TOPIC_ID", v, p.Partition, kerr.ErrorForCode(p.ErrorCode))
			}
		}
		resp = r.do(sessFetch(v, 0, -1, "", tid, map[int32]int64{0: 0})).(*kmsg.FetchResponse)
		if got := answered(t, resp, map[int32]int64{0: 0}); !sameAnswer(got, map[int32]int{0: 2}) {
			t.Fatalf("v%d by id: %v", v, got)
		}
	}

	full := r.do(sessFetch(13, 0, 0, "", tid, map[int32]int64{0: 2})).(*kmsg.FetchResponse)
	if full.SessionID == 0 {
		t.Fatal("no session")
	}
	adm := kadm.NewClient(cl)
	if _, err := adm.DeleteTopics(testCtx(t, 10*time.Second), "byid"); err != nil {
		t.Fatal(err)
	}
	partErr := func(epoch int32) int16 {
		t.Helper()
		resp := r.do(sessFetch(13, full.SessionID, epoch, "", tid, nil)).(*kmsg.FetchResponse)
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("epoch %d: %v, %+v", epoch, kerr.ErrorForCode(resp.ErrorCode), resp.Topics)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := partErr(1); code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("deleted topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(code))
	}
	waitFor(t, 10*time.Second, func() bool {
		_, err := adm.CreateTopic(testCtx(t, 10*time.Second), 1, 1, nil, "byid")
		return err == nil
	})
	if code := partErr(2); code != kerr.InconsistentTopicID.Code {
		t.Fatalf("topic created again: %v, want INCONSISTENT_TOPIC_ID", kerr.ErrorForCode(code))
	}
}

// TestFetchPrecheckedErrors: the partitions Kafka's handleFetchRequest
// answers with an error before reading (an unknown topic or partition,
// UNKNOWN_TOPIC_ID) come after the others in the response, and in the
// session, and do not end the long poll of the partitions read: the fetch
// waits its MaxWaitMillis as on Kafka
// (test/differential/fetchsession_test.go, TestFetchSessionErrors), where
// it used to be answered at once, every time (a client busy polling).
func TestFetchPrecheckedErrors(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "ok", 2)
	tid := topicIDOf(t, cl, "ok")
	r := newRaw(t, b.Addr())
	const wait = 400 * time.Millisecond
	order := func(resp *kmsg.FetchResponse) []string {
		var out []string
		for _, rt := range resp.Topics {
			for _, p := range rt.Partitions {
				n := rt.Topic
				switch rt.TopicID {
				case [16]byte{}:
				case tid:
					n = "ok"
				default:
					n = "unknown-id"
				}
				code := "<nil>"
				if p.ErrorCode != 0 {
					code = kerr.ErrorForCode(p.ErrorCode).(*kerr.Error).Message
				}
				out = append(out, fmt.Sprintf("%s/%d/%s", n, p.Partition, code))
			}
		}
		return out
	}
	check := func(what string, req *kmsg.FetchRequest, want ...string) *kmsg.FetchResponse {
		t.Helper()
		req.MaxWaitMillis = int32(wait / time.Millisecond)
		start := time.Now()
		resp := r.do(req).(*kmsg.FetchResponse)
		if took := time.Since(start); took < wait {
			t.Errorf("%s: answered after %v, before MaxWaitMillis %v", what, took, wait)
		}
		if got := order(resp); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: answered %v, want %v", what, got, want)
		}
		return resp
	}
	topic := func(name string, id [16]byte, parts ...int32) kmsg.FetchRequestTopic {
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic, ft.TopicID = name, id
		for _, p := range parts {
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.Partition, fp.PartitionMaxBytes, fp.LogStartOffset = p, 1<<20, -1
			ft.Partitions = append(ft.Partitions, fp)
		}
		return ft
	}

	// By name: a topic that does not exist and a partition that does not.
	req := sessFetch(12, 0, 0, "", [16]byte{}, nil)
	req.Topics = []kmsg.FetchRequestTopic{topic("nope", [16]byte{}, 0), topic("ok", [16]byte{}, 5, 1, 0)}
	full := check("full fetch by name", req,
		"ok/1/<nil>", "ok/0/<nil>", "nope/0/UNKNOWN_TOPIC_OR_PARTITION", "ok/5/UNKNOWN_TOPIC_OR_PARTITION")
	if full.SessionID == 0 {
		t.Fatal("no session")
	}
	check("incremental by name", sessFetch(12, full.SessionID, 1, "", [16]byte{}, nil),
		"nope/0/UNKNOWN_TOPIC_OR_PARTITION", "ok/5/UNKNOWN_TOPIC_OR_PARTITION")

	// By id: an id no topic has.
	unknown := tid
	unknown[0] ^= 0xff
	req = sessFetch(13, 0, 0, "", [16]byte{}, nil)
	req.Topics = []kmsg.FetchRequestTopic{topic("", unknown, 0), topic("", tid, 7, 0)}
	full = check("full fetch by id", req,
		"ok/0/<nil>", "unknown-id/0/UNKNOWN_TOPIC_ID", "ok/7/UNKNOWN_TOPIC_OR_PARTITION")
	check("incremental by id", sessFetch(13, full.SessionID, 1, "", [16]byte{}, nil),
		"unknown-id/0/UNKNOWN_TOPIC_ID", "ok/7/UNKNOWN_TOPIC_OR_PARTITION")
}

// TestFetchByteLimits: as Kafka's handleFetchRequest bounds them, a fetch
// of MaxBytes 0 gets its first batch and no more (not everything), and
// MinBytes is at most MaxBytes: a fetch that can never get MinBytes is
// answered with what it can get, not after MaxWaitMillis (which here
// outlasts the client's 10 s deadline).
func TestFetchByteLimits(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "limits", 1)
	r := newRaw(t, b.Addr())
	for range 3 {
		if code, _ := r.produce("limits", 0, 2); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
	}
	fetch := func(maxBytes, minBytes int32) int {
		t.Helper()
		req := sessFetch(12, 0, -1, "limits", [16]byte{}, map[int32]int64{0: 0})
		req.MaxBytes, req.MinBytes, req.MaxWaitMillis = maxBytes, minBytes, 60000
		resp := r.do(req).(*kmsg.FetchResponse)
		_, n := countRecords(t, resp.Topics[0].Partitions[0].RecordBatches, 0)
		return n
	}
	if n := fetch(0, 1); n != 2 {
		t.Errorf("MaxBytes 0: %d records, want the first batch's 2", n)
	}
	if n := fetch(1, 1<<20); n != 2 {
		t.Errorf("MaxBytes 1, MinBytes 1 MiB: %d records, want the first batch's 2", n)
	}
	if n := fetch(1<<20, 1); n != 6 {
		t.Errorf("MaxBytes 1 MiB: %d records, want 6", n)
	}
}

// TestFetchMinBytesPartialBatch: Kafka reads up to a fetch's byte limit,
// not up to a batch, and counts toward MinBytes what it would send, the
// start of a batch cut at the limit included. With MinBytes = MaxBytes
// between one batch and two, three batches ready answer at once (with
// the one whole batch), not after MaxWaitMillis; so does a partition
// whose data passes its PartitionMaxBytes. A fetch that waits counts a
// partition's new data up to its PartitionMaxBytes, as Kafka's
// DelayedFetch, not the whole of a larger first batch.
func TestFetchMinBytesPartialBatch(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "partial", 1)
	r := newRaw(t, b.Addr())
	for range 3 {
		if code, _ := r.produce("partial", 0, 1); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
	}
	one := r.do(sessFetch(12, 0, -1, "partial", [16]byte{}, map[int32]int64{0: 0})).(*kmsg.FetchResponse)
	size := int32(len(one.Topics[0].Partitions[0].RecordBatches) / 3)
	limit := size + size/3
	for _, c := range []struct {
		what                string
		maxBytes, partBytes int32
	}{
		{"MaxBytes", limit, 1 << 20},
		{"PartitionMaxBytes", 1 << 20, limit},
	} {
		req := sessFetch(12, 0, -1, "partial", [16]byte{}, map[int32]int64{0: 0})
		req.MaxBytes, req.MinBytes, req.MaxWaitMillis = c.maxBytes, limit, 8000
		req.Topics[0].Partitions[0].PartitionMaxBytes = c.partBytes
		start := time.Now()
		resp := r.do(req).(*kmsg.FetchResponse)
		took := time.Since(start)
		if _, n := countRecords(t, resp.Topics[0].Partitions[0].RecordBatches, 0); n != 1 {
			t.Errorf("%s %d: %d records, want the first batch's 1", c.what, limit, n)
		}
		if took > 4*time.Second {
			t.Errorf("%s %d = MinBytes, batches of %d: answered after %v, want at once", c.what, limit, size, took)
		}
	}
	// Waiting at the end: two batches produced meanwhile are more than
	// the partition's limit, which MinBytes asks.
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(200 * time.Millisecond)
		p := newRaw(t, b.Addr())
		for range 2 {
			if code, _ := p.produce("partial", 0, 1); code != 0 {
				t.Errorf("produce: %v", kerr.ErrorForCode(code))
			}
		}
	}()
	req := sessFetch(12, 0, -1, "partial", [16]byte{}, map[int32]int64{0: 3})
	req.MaxBytes, req.MinBytes, req.MaxWaitMillis = 1<<20, limit, 8000
	req.Topics[0].Partitions[0].PartitionMaxBytes = limit
	start := time.Now()
	resp := r.do(req).(*kmsg.FetchResponse)
	took := time.Since(start)
	<-done
	if _, n := countRecords(t, resp.Topics[0].Partitions[0].RecordBatches, 3); n != 1 {
		t.Errorf("waiting: %d records, want the first batch's 1", n)
	}
	if took > 4*time.Second {
		t.Errorf("waiting, PartitionMaxBytes %d = MinBytes: answered after %v, want once the batches came", limit, took)
	}
	// A batch larger than PartitionMaxBytes counts that much only: under
	// MinBytes = the batch's size, the fetch waits its MaxWaitMillis.
	done = make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(200 * time.Millisecond)
		p := newRaw(t, b.Addr())
		if code, _ := p.produce("partial", 0, 1); code != 0 {
			t.Errorf("produce: %v", kerr.ErrorForCode(code))
		}
	}()
	req = sessFetch(12, 0, -1, "partial", [16]byte{}, map[int32]int64{0: 5})
	req.MaxBytes, req.MinBytes, req.MaxWaitMillis = 1<<20, size, 2000
	req.Topics[0].Partitions[0].PartitionMaxBytes = size / 2
	start = time.Now()
	resp = r.do(req).(*kmsg.FetchResponse)
	took = time.Since(start)
	<-done
	if _, n := countRecords(t, resp.Topics[0].Partitions[0].RecordBatches, 5); n != 1 {
		t.Errorf("a batch over PartitionMaxBytes: %d records, want 1", n)
	}
	if took < 1500*time.Millisecond {
		t.Errorf("a batch of %d, PartitionMaxBytes %d, MinBytes %d: answered after %v, want MaxWaitMillis", size, size/2, size, took)
	}
}

// TestFetchSessionConcurrentWaits: a fetch of a session waits (epoch 1)
// when the next comes on another connection (epoch 2, which Kafka's
// newContext takes as the session's next). A record then wakes both, as
// Kafka's purgatory wakes every fetch waiting on the partition: the first
// answers INVALID_FETCH_SESSION_EPOCH, the second the record; neither
// waits out its MaxWaitMillis (measured against Kafka in
// test/differential's TestFetchSessionConcurrentWaits).
func TestFetchSessionConcurrentWaits(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "twowaits", 20)
	offs := map[int32]int64{}
	for p := int32(0); p < 20; p++ {
		offs[p] = 0
	}
	full := newRaw(t, b.Addr()).do(sessFetch(12, 0, 0, "twowaits", [16]byte{}, offs)).(*kmsg.FetchResponse)
	if full.SessionID == 0 {
		t.Fatal("no session")
	}
	type answer struct {
		got  map[int32]int
		took time.Duration
		code int16
	}
	var answers [2]answer
	var wg sync.WaitGroup
	for i, epoch := range []int32{1, 2} {
		r := newRaw(t, b.Addr())
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 200 * time.Millisecond) // epoch 1 first
			req := sessFetch(12, full.SessionID, epoch, "twowaits", [16]byte{}, nil)
			req.MaxWaitMillis = 10000
			start := time.Now()
			resp := r.do(req).(*kmsg.FetchResponse)
			answers[i] = answer{answered(t, resp, offs), time.Since(start), resp.ErrorCode}
		}()
	}
	time.Sleep(600 * time.Millisecond)
	if code, _ := newRaw(t, b.Addr()).produce("twowaits", 11, 1); code != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(code))
	}
	wg.Wait()
	if a := answers[0]; a.code != kerr.InvalidFetchSessionEpoch.Code || len(a.got) > 0 {
		t.Errorf("epoch 1: error %d, records %v; want INVALID_FETCH_SESSION_EPOCH, none", a.code, a.got)
	}
	if a := answers[1]; a.code != 0 || !sameAnswer(a.got, map[int32]int{11: 1}) {
		t.Errorf("epoch 2: error %d, records %v; want the record of partition 11", a.code, a.got)
	}
	for i, a := range answers {
		if a.took > 6*time.Second {
			t.Errorf("epoch %d answered after %v: the record did not wake it", i+1, a.took)
		}
	}
}

// TestFollowerFetch: a fetch with a replica id gets NOT_LEADER_OR_FOLLOWER
// for every partition and no records, as from Kafka's leader, which knows
// no such replica; from v16 it names this node as the leader (measured in
// test/differential's TestFollowerFetchFromNonReplica).
func TestFollowerFetch(t *testing.T) {
	b := rewindtest.Start(t, broker.WithNodeID(3))
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "follow", 1)
	r := newRaw(t, b.Addr())
	if code, _ := r.produce("follow", 0, 1); code != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(code))
	}
	id := topicIDOf(t, cl, "follow")
	for _, v := range []int16{12, 16} {
		for _, replica := range []int32{3, 7} {
			req := sessFetch(v, 0, -1, "follow", id, map[int32]int64{0: 0})
			req.ReplicaID, req.ReplicaState.ID = replica, replica
			resp := r.do(req).(*kmsg.FetchResponse)
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				t.Fatalf("v%d replica %d: %+v", v, replica, resp)
			}
			p := resp.Topics[0].Partitions[0]
			if p.ErrorCode != kerr.NotLeaderForPartition.Code || len(p.RecordBatches) != 0 || p.HighWatermark != -1 {
				t.Errorf("v%d replica %d: %v, %d bytes, HW %d; want NOT_LEADER_OR_FOLLOWER, none, -1", v, replica, kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches), p.HighWatermark)
			}
			if want := map[bool]int32{true: 3, false: -1}[v >= 16]; p.CurrentLeader.LeaderID != want {
				t.Errorf("v%d replica %d: current leader %d, want %d", v, replica, p.CurrentLeader.LeaderID, want)
			}
		}
	}
}
