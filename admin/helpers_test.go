package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// env is a broker with its admin listener, both on 127.0.0.1 random ports.
type env struct {
	b    *broker.Broker
	srv  *Server
	base string // http://127.0.0.1:port
}

func newEnv(t *testing.T) *env {
	t.Helper()
	b := rewindtest.Start(t)
	srv := New(b, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), WithVersion("test"))
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &env{b: b, srv: srv, base: "http://" + srv.Addr()}
}

func (e *env) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(e.b.Addr())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (e *env) createTopic(t *testing.T, name string, partitions int32) {
	t.Helper()
	adm := kadm.NewClient(e.client(t))
	r, err := adm.CreateTopic(ctxT(t), partitions, 1, nil, name)
	if err == nil {
		err = r.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
}

// produce appends records to one partition, in order, each with its own
// timestamp.
func (e *env) produce(t *testing.T, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// commitAt commits offsets for group as of time at, with OffsetCommit v1,
// whose per-partition timestamp sets the commit time: a test can lay down a
// history of commits in the past.
func (e *env) commitAt(t *testing.T, group string, at time.Time, topic string, offsets map[int32]int64) {
	t.Helper()
	v := kversion.Stable()
	v.SetMaxKeyVersion(8, 1)
	cl := e.client(t, kgo.MaxVersions(v))
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 1
	req.Group = group
	req.Generation = -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	for p, o := range offsets {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Timestamp = p, o, at.UnixMilli()
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				t.Fatalf("commit %s/%d: error code %d", rt.Topic, rp.Partition, rp.ErrorCode)
			}
		}
	}
}

// commitNow commits offsets for group now (current protocol version).
func (e *env) commitNow(t *testing.T, group, topic string, offsets map[int32]int64) {
	t.Helper()
	os := kadm.Offsets{}
	for p, o := range offsets {
		os.Add(kadm.Offset{Topic: topic, Partition: p, At: o, LeaderEpoch: -1})
	}
	if err := kadm.NewClient(e.client(t)).CommitAllOffsets(ctxT(t), group, os); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

func (e *env) get(t *testing.T, path string, v any) int {
	t.Helper()
	resp, err := http.Get(e.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

func (e *env) post(t *testing.T, path, body string, v any) int {
	t.Helper()
	resp, err := http.Post(e.base+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

// member runs a franz-go consumer of group on topic until the test ends
// and waits until the group is Stable with it.
func (e *env) member(t *testing.T, group, topic, clientID string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.b.Addr()), kgo.ClientID(clientID),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cl.PollFetches(ctx)
		}
	}()
	t.Cleanup(func() { cancel(); <-done; cl.Close() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, g := range e.b.Coordinator().Groups() {
			if g.Name == group && g.State == "Stable" && g.Members == 1 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("group %s never became Stable with %s", group, clientID)
}

// seedScenario lays down 90 minutes of history on a broker: orders (3
// partitions) and payments (1) receive records every minute, and groups
// consume them differently:
//
//   - billing kept up until 40 minutes ago and stopped: lagging, STOP (ERR);
//   - shipping keeps up: OK;
//   - fraud-check moves at half the producers' pace: WARN;
//   - payments-replay was reset back 10 minutes ago: REWIND (ERR).
//
// It returns the log end of each orders partition.
func (e *env) seedScenario(t *testing.T, now time.Time) map[int32]int64 {
	t.Helper()
	e.createTopic(t, "orders", 3)
	e.createTopic(t, "payments", 1)
	cl := e.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const perMinute = 12
	end := map[int32]int64{}
	endAt := map[int]map[int32]int64{} // minute -> partition -> log end after it
	var payEnd int64
	payAt := map[int]int64{}
	for m := -90; m <= 0; m++ {
		var recs []*kgo.Record
		for p := int32(0); p < 3; p++ {
			for i := 0; i < perMinute; i++ {
				ts := now.Add(time.Duration(m)*time.Minute + time.Duration(i)*4*time.Second - 59*time.Second)
				n := end[p]
				recs = append(recs, &kgo.Record{Topic: "orders", Partition: p, Timestamp: ts,
					Key:     []byte(fmt.Sprintf("customer-%d", (n*7+int64(p))%97)),
					Value:   []byte(fmt.Sprintf(`{"order_id":%d,"customer":"customer-%d","amount":%d.%02d,"currency":"EUR","items":%d}`, n+int64(p)*100000, (n*7+int64(p))%97, 10+n%90, n%100, 1+n%4)),
					Headers: []kgo.RecordHeader{{Key: "source", Value: []byte([]string{"web", "app", "pos"}[n%3])}, {Key: "trace-id", Value: []byte(fmt.Sprintf("%016x", n*2654435761+int64(p)))}},
				})
				end[p]++
			}
		}
		if m%3 == 0 {
			ts := now.Add(time.Duration(m)*time.Minute - 30*time.Second)
			recs = append(recs, &kgo.Record{Topic: "payments", Partition: 0, Timestamp: ts, Key: []byte(fmt.Sprintf("pay-%d", payEnd)),
				Value: []byte(fmt.Sprintf(`{"payment":%d,"status":"captured"}`, payEnd))})
			payEnd++
		}
		e.produce(t, cl, recs...)
		endAt[m] = map[int32]int64{0: end[0], 1: end[1], 2: end[2]}
		payAt[m] = payEnd
	}
	for m := -88; m <= 0; m += 2 {
		at := now.Add(time.Duration(m) * time.Minute)
		if m <= -40 {
			// billing: a few records behind the log end, until it stopped.
			e.commitAt(t, "billing", at, "orders", map[int32]int64{0: endAt[m][0] - 3, 1: endAt[m][1], 2: endAt[m][2] - 5})
		}
		if m < 0 {
			e.commitAt(t, "shipping", at, "orders", map[int32]int64{0: endAt[m][0], 1: endAt[m][1] - 2, 2: endAt[m][2]})
		}
		// fraud-check: half the pace, so its lag grows at every commit.
		half := map[int32]int64{}
		for p := int32(0); p < 3; p++ {
			half[p] = endAt[m][p] / 2
		}
		e.commitAt(t, "fraud-check", at, "orders", half)
		// payments-replay: keeps up, then went back 20 records 10 minutes ago.
		switch {
		case m < -10:
			e.commitAt(t, "payments-replay", at, "payments", map[int32]int64{0: payAt[m] - 1})
		default:
			e.commitAt(t, "payments-replay", at, "payments", map[int32]int64{0: payAt[m] - 20 + int64(m+10)/2})
		}
	}
	e.commitNow(t, "shipping", "orders", end)
	return end
}
