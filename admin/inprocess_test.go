package admin

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// countingListener counts the Kafka connections the broker accepts.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// newCountedEnv is newEnv with a broker whose accepted Kafka connections
// are counted.
func newCountedEnv(t *testing.T, opts ...broker.Option) (*env, *countingListener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	return newEnv(t, append(opts, broker.WithListener(cl))...), cl
}

// The console reaches the broker in process only: while it serves every
// API, including the group view, explain and a reset executed (which went
// through a Kafka client on loopback before) and every change it can make,
// the broker accepts no Kafka connection.
func TestConsoleOpensNoKafkaConnection(t *testing.T) {
	e, ln := newCountedEnv(t)
	var end map[int32]int64
	// The set-up's clients are closed with its subtest: nothing but the
	// console may connect from here on.
	t.Run("seed", func(t *testing.T) { end = e.seedScenario(t, time.Now()) })
	e.closeClients()
	before := ln.accepted.Load()
	if before == 0 {
		t.Fatal("the set-up's clients were not counted")
	}

	get := func(path string, want int) {
		t.Helper()
		var v any
		if code := e.get(t, path, &v); code != want {
			t.Errorf("GET %s: %d, want %d: %v", path, code, want, v)
		}
	}
	post := func(path, body string, want int) {
		t.Helper()
		var v any
		if code := e.post(t, path, body, &v); code != want {
			t.Errorf("POST %s %s: %d, want %d: %v", path, body, code, want, v)
		}
	}
	for _, p := range []string{"/api/v1/overview", "/api/v1/topics", "/api/v1/topics?internal=true", "/api/v1/topics/orders",
		"/api/v1/topics/orders/records?partition=1&offset=5&limit=3", "/api/v1/topics/orders/records?from=newest",
		"/api/v1/topics/orders/records?time=30m", "/api/v1/groups", "/api/v1/groups/billing",
		"/api/v1/groups/billing/lag?range=1h&points=10", "/api/v1/groups/billing/history",
		"/api/v1/groups/billing/explain", "/api/v1/groups/fraud-check/explain?initial=oldest&topic=orders:0"} {
		get(p, 200)
	}
	get("/api/v1/groups/nobody", 404)
	post("/api/v1/groups/billing/reset", `{"target":"to-committed-at","time":"45m","topics":["orders"]}`, 200)
	post("/api/v1/groups/billing/reset", `{"target":"to-datetime","time":"20m"}`, 200)
	post("/api/v1/groups/billing/reset", `{"target":"to-latest","execute":true}`, 200)
	post("/api/v1/topics/orders/partitions/0/repair", `{"dry_run":true}`, 409) // not fenced
	for _, p := range []string{"/metrics", "/readyz", "/healthz"} {
		resp, err := http.Get(e.base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	// Every change the console makes.
	send := func(method, path, body string, want int, v any) {
		t.Helper()
		if code := e.send(t, method, path, body, v); code != want {
			t.Errorf("%s %s %s: %d, want %d", method, path, body, code, want)
		}
	}
	var ti broker.TopicInfo
	send("POST", "/api/v1/topics", `{"name":"console-made","partitions":2,"configs":{"retention.ms":"3600000"}}`, 201, &ti)
	if ti.Name != "console-made" || len(ti.Partitions) != 2 || ti.Configs["retention.ms"] != "3600000" {
		t.Errorf("created topic: %+v", ti)
	}
	send("POST", "/api/v1/topics/console-made/partitions", `{"count":3}`, 200, &ti)
	if len(ti.Partitions) != 3 {
		t.Errorf("after adding partitions: %d", len(ti.Partitions))
	}
	var produced broker.Produced
	send("POST", "/api/v1/topics/console-made/records", `{"partition":2,"records":[
		{"key":"k1","value":"v1","headers":[{"key":"h","value":"x"}],"timestamp":"2026-01-02T09:00:00Z"},
		{"key":null,"value":"//8=","value_encoding":"base64"}]}`, 200, &produced)
	if produced.BaseOffset != 0 || produced.LastOffset != 1 {
		t.Errorf("produced: %+v", produced)
	}
	var page recordPage
	send("GET", "/api/v1/topics/console-made/records?partition=2", "", 200, &page)
	if len(page.Records) != 2 || *page.Records[0].Key != "k1" || *page.Records[0].Value != "v1" || page.Records[0].Headers[0].Value != "x" ||
		!page.Records[0].Timestamp.Equal(time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)) ||
		page.Records[1].Key != nil || page.Records[1].ValueEncoding != "base64" || *page.Records[1].Value != "//8=" {
		t.Errorf("the produced records read back as %+v", page.Records)
	}
	// Compacted only now: a compacted topic refuses records without a key
	// (INVALID_RECORD, as Kafka), and the one above has none.
	var cfgs []broker.TopicConfig
	send("POST", "/api/v1/topics/console-made/configs", `{"set":{"cleanup.policy":"compact"},"delete":["retention.ms"]}`, 200, &cfgs)
	send("GET", "/api/v1/topics/console-made/configs", "", 200, &cfgs)
	for _, c := range cfgs {
		if (c.Name == "cleanup.policy" && (c.Value != "compact" || c.Default)) || (c.Name == "retention.ms" && !c.Default) {
			t.Errorf("config after the change: %+v", c)
		}
	}
	send("DELETE", "/api/v1/groups/shipping/offsets?topic=orders:0", "", 200, nil)
	if _, ok := e.b.Coordinator().Committed("shipping")["orders"][0]; ok {
		t.Error("shipping's offset of orders/0 is still there")
	}
	send("DELETE", "/api/v1/groups/fraud-check", "", 200, nil)
	if e.b.Coordinator().Committed("fraud-check") != nil {
		t.Error("fraud-check still exists")
	}
	send("DELETE", "/api/v1/topics/console-made", "", 200, nil)
	if _, ok := e.b.Topic("console-made"); ok {
		t.Error("console-made still exists")
	}

	if got := e.b.Coordinator().Committed("billing")["orders"][0].Offset; got != end[0] {
		t.Errorf("the executed reset left billing orders/0 at %d, want %d", got, end[0])
	}
	if n := ln.accepted.Load() - before; n != 0 {
		t.Errorf("the broker accepted %d Kafka connection(s) while the console served its API", n)
	}
}

// slowGroup holds DescribeGroup of one group until released, as a
// coordinator busy with that group would.
type slowGroup struct {
	*broker.AdminAPI
	group   string
	entered chan struct{}
	release chan struct{}
}

func (s *slowGroup) DescribeGroup(ctx context.Context, name string) (broker.GroupDescription, error) {
	if name == s.group {
		s.entered <- struct{}{}
		<-s.release
	}
	return s.AdminAPI.DescribeGroup(ctx, name)
}

// Admin requests do not wait for one another: while one request's group
// is held up, the view, explain and an executed reset of another group
// are answered (before, one Kafka client behind a mutex served them all,
// one at a time).
func TestConcurrentRequestsDoNotWait(t *testing.T) {
	b := rewindtest.Start(t)
	slow := &slowGroup{AdminAPI: b.AdminAPI(), group: "held", entered: make(chan struct{}), release: make(chan struct{})}
	e := newEnvWith(t, b, slow)
	e.createTopic(t, "orders", 1)
	e.produce(t, e.client(t), &kgo.Record{Topic: "orders", Value: []byte("a")}, &kgo.Record{Topic: "orders", Value: []byte("b")})
	e.commitNow(t, "held", "orders", map[int32]int64{0: 1})
	e.commitNow(t, "other", "orders", map[int32]int64{0: 2})

	heldDone := make(chan int, 1)
	go func() {
		resp, err := http.Get(e.base + "/api/v1/groups/held/explain")
		if err != nil {
			heldDone <- -1
			return
		}
		resp.Body.Close()
		heldDone <- resp.StatusCode
	}()
	<-slow.entered
	released := false
	defer func() {
		if !released {
			close(slow.release)
		}
	}()
	// A bound for the test to fail instead of hanging: the answers come
	// in milliseconds, but before they never came while "held" was held.
	hc := &http.Client{Timeout: 10 * time.Second}
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/api/v1/groups/other", ""},
		{"GET", "/api/v1/groups/other/explain", ""},
		{"POST", "/api/v1/groups/other/reset", `{"target":"to-earliest","execute":true}`},
	} {
		req, _ := http.NewRequest(r.method, e.base+r.path, strings.NewReader(r.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s while another group's request is held: %v", r.method, r.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s %s: %d", r.method, r.path, resp.StatusCode)
		}
	}
	select {
	case code := <-heldDone:
		t.Fatalf("the held request finished (%d) before it was released", code)
	default:
	}
	if got := b.Coordinator().Committed("other")["orders"][0].Offset; got != 0 {
		t.Errorf("other's reset left orders/0 at %d, want 0", got)
	}
	close(slow.release)
	released = true
	if code := <-heldDone; code != 200 {
		t.Errorf("the held request: %d", code)
	}
}
