package admin

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/internal/scenario"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// env is a broker with its admin listener, both on 127.0.0.1 random ports.
type env struct {
	b    *broker.Broker
	srv  *Server
	base string // http://127.0.0.1:port
	// closers close the Kafka clients of the test (closeClients).
	closers []func()
}

// closeClients closes every Kafka client the test made so far.
func (e *env) closeClients() {
	for _, c := range e.closers {
		c()
	}
	e.closers = nil
}

func newEnv(t *testing.T, opts ...broker.Option) *env {
	t.Helper()
	b := rewindtest.Start(t, opts...)
	return newEnvWith(t, b, b.AdminAPI())
}

// newEnvWith serves api, which is b's AdminAPI or a wrapper of it.
func newEnvWith(t *testing.T, b *broker.Broker, api Broker) *env {
	t.Helper()
	srv := New(api, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), WithVersion("test"))
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
	closeOnce := sync.OnceFunc(cl.Close)
	e.closers = append(e.closers, closeOnce)
	t.Cleanup(closeOnce)
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

// seedScenario lays down the console's 90-minute scenario (package
// internal/scenario) and returns the log end of each orders partition.
func (e *env) seedScenario(t *testing.T, now time.Time) map[int32]int64 {
	t.Helper()
	return scenario.Seed(t, e.b.Addr(), e.b.Coordinator(), now)
}
