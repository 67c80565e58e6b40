package admin

import (
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
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
// through a Kafka client on loopback before), the broker accepts no Kafka
// connection.
func TestConsoleOpensNoKafkaConnection(t *testing.T) {
	e, ln := newCountedEnv(t)
	end := e.seedScenario(t, time.Now())
	// The set-up's clients are closed: nothing but the console may
	// connect from here on.
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

	if got := e.b.Coordinator().Committed("billing")["orders"][0].Offset; got != end[0] {
		t.Errorf("the executed reset left billing orders/0 at %d, want %d", got, end[0])
	}
	if n := ln.accepted.Load() - before; n != 0 {
		t.Errorf("the broker accepted %d Kafka connection(s) while the console served its API", n)
	}
}
