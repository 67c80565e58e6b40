package admin

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestHealthAndReadiness(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(e.base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %s %s", path, resp.Status, body)
		}
	}

	// A broker that is not listening yet is alive but not ready.
	b, err := broker.New(broker.WithDataDir(t.TempDir()), broker.WithListen("127.0.0.1:0"),
		broker.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h := New(b.AdminAPI()).Handler()
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 503} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("unstarted broker %s: %d %s, want %d", path, rec.Code, rec.Body, want)
		}
	}
}

func TestConsolePageAndUnknownAPI(t *testing.T) {
	e := newEnv(t)
	for path, want := range map[string]string{"/": "<title>Rewind console</title>", "/app.js": "function route()", "/style.css": ".badge"} {
		resp, err := http.Get(e.base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %s, body without %q", path, resp.Status, want)
		}
	}
	var apiErr apiError
	if code := e.get(t, "/api/v1/nothing", &apiErr); code != 404 || !strings.Contains(apiErr.Error, "no API endpoint") {
		t.Errorf("unknown endpoint: %d %+v", code, apiErr)
	}
}

func TestTopicsAndRecords(t *testing.T) {
	e := newEnv(t)
	e.createTopic(t, "orders", 2)
	cl := e.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var recs []*kgo.Record
	for i := 0; i < 30; i++ {
		recs = append(recs, &kgo.Record{Topic: "orders", Partition: 0, Key: []byte{'k', byte('0' + i%10)},
			Value: []byte(`{"n":` + string(rune('0'+i%10)) + `}`), Timestamp: base.Add(time.Duration(i) * time.Minute),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}})
	}
	recs = append(recs,
		&kgo.Record{Topic: "orders", Partition: 1, Value: []byte{0xff, 0x00, 0xfe}, Timestamp: base},
		&kgo.Record{Topic: "orders", Partition: 1, Key: []byte("gone"), Value: nil, Timestamp: base})
	e.produce(t, cl, recs...)

	var topics []topicRow
	e.get(t, "/api/v1/topics", &topics)
	if len(topics) != 1 || topics[0].Name != "orders" || topics[0].Records != 32 || len(topics[0].Partitions) != 2 || topics[0].SizeBytes <= 0 {
		t.Fatalf("topics: %+v", topics)
	}
	e.get(t, "/api/v1/topics?internal=true", &topics)
	if len(topics) != 2 || topics[0].Name != "__consumer_offsets" || !topics[0].Internal {
		t.Fatalf("topics with internal: %d", len(topics))
	}
	var apiErr apiError
	if code := e.get(t, "/api/v1/topics/nope", &apiErr); code != 404 {
		t.Errorf("unknown topic: %d", code)
	}

	var page recordPage
	e.get(t, "/api/v1/topics/orders/records?partition=0&offset=10&limit=5", &page)
	if len(page.Records) != 5 || page.Records[0].Offset != 10 || page.Next != 15 || page.HighWatermark != 30 {
		t.Fatalf("by offset: %+v", page)
	}
	r := page.Records[0]
	if *r.Key != "k0" || *r.Value != `{"n":0}` || len(r.Headers) != 1 || r.Headers[0].Key != "h" || !r.Timestamp.Equal(base.Add(10*time.Minute)) {
		t.Fatalf("record 10: %+v", r)
	}
	e.get(t, "/api/v1/topics/orders/records?partition=0&from=newest&limit=4", &page)
	if len(page.Records) != 4 || page.Records[0].Offset != 26 {
		t.Fatalf("newest: from %d, %d records", page.From, len(page.Records))
	}
	at := base.Add(20*time.Minute - time.Second).UTC().Format(time.RFC3339Nano)
	e.get(t, "/api/v1/topics/orders/records?partition=0&limit=1&time="+at, &page)
	if len(page.Records) != 1 || page.Records[0].Offset != 20 {
		t.Fatalf("by time %s: %+v", at, page.Records)
	}
	e.get(t, "/api/v1/topics/orders/records?partition=1", &page)
	if len(page.Records) != 2 || page.Records[0].ValueEncoding != "base64" || *page.Records[0].Value != "/wD+" || page.Records[0].Key != nil || page.Records[1].Value != nil {
		t.Fatalf("binary and tombstone: %+v", page.Records)
	}
	for _, q := range []string{"partition=2", "partition=x", "limit=0", "offset=-1", "time=yesterday", "from=middle"} {
		if code := e.get(t, "/api/v1/topics/orders/records?"+q, &apiErr); code != 400 || apiErr.Error == "" {
			t.Errorf("%s: %d %+v", q, code, apiErr)
		}
	}
}

func TestGroupsAPI(t *testing.T) {
	e := newEnv(t)
	e.seedScenario(t, time.Now())
	e.createTopic(t, "audit-log", 1)
	e.commitNow(t, "audit", "audit-log", map[int32]int64{0: 0})
	e.member(t, "audit", "audit-log", "audit-service")

	var groups []groupRow
	e.get(t, "/api/v1/groups", &groups)
	got := map[string]string{}
	for _, g := range groups {
		got[g.Group] = g.Status.String() + "/" + g.State
	}
	want := map[string]string{"billing": "ERR/Empty", "shipping": "OK/Empty", "fraud-check": "WARN/Empty", "payments-replay": "ERR/Empty", "audit": "OK/Stable"}
	for g, w := range want {
		if got[g] != w {
			t.Errorf("group %s: %s, want %s", g, got[g], w)
		}
	}

	var v groupView
	if code := e.get(t, "/api/v1/groups/billing", &v); code != 200 {
		t.Fatalf("group: %d", code)
	}
	if v.State != "Empty" || len(v.Partitions) != 3 || v.Status.Status.String() != "ERR" {
		t.Fatalf("billing: %+v", v)
	}
	p0 := v.Partitions[0]
	if p0.Status.String() != "STOP" || !strings.Contains(p0.StatusReason, "no commit for") || len(p0.Window) != 10 ||
		p0.Lag == nil || *p0.Lag < 480 || p0.LagSeconds == nil || *p0.LagSeconds < 39*60 {
		t.Fatalf("billing orders/0: %+v", p0)
	}
	var apiErr apiError
	if code := e.get(t, "/api/v1/groups/nobody", &apiErr); code != 404 {
		t.Errorf("unknown group: %d %+v", code, apiErr)
	}

	// Lag over the last hour: billing was a few records behind until it
	// stopped 40 minutes ago, then fell behind by 12 records a minute.
	var lh lagHistory
	e.get(t, "/api/v1/groups/billing/lag?range=1h&points=61", &lh)
	if len(lh.Series) != 3 || len(lh.Series[0].Points) != 61 {
		t.Fatalf("lag history: %d series", len(lh.Series))
	}
	pts := lh.Series[0].Points
	if first := *pts[0][1]; first > 20 {
		t.Errorf("lag an hour ago %d, want a few records", first)
	}
	if last := *pts[60][1]; last != *p0.Lag {
		t.Errorf("lag now %d, want the current lag %d", last, *p0.Lag)
	}
	if mid := *pts[40][1]; mid < 12*15 || mid > 12*25 { // 20 minutes before now: stopped 20 minutes earlier
		t.Errorf("lag 20 minutes ago %d, want about %d", mid, 12*20)
	}
	for _, q := range []string{"range=0s", "range=x", "points=1", "points=501"} {
		if code := e.get(t, "/api/v1/groups/billing/lag?"+q, &apiErr); code != 400 {
			t.Errorf("lag %s: %d", q, code)
		}
	}

	var hist []historyEntry
	e.get(t, "/api/v1/groups/billing/history", &hist)
	if len(hist) < 3*20 {
		t.Errorf("history: %d entries", len(hist))
	}

	var ex struct {
		Group      string `json:"group"`
		Partitions []struct {
			Case string `json:"case"`
			Why  string `json:"why"`
		} `json:"partitions"`
	}
	e.get(t, "/api/v1/groups/billing/explain?initial=oldest", &ex)
	if ex.Group != "billing" || len(ex.Partitions) != 3 || ex.Partitions[0].Case != "committed" || ex.Partitions[0].Why == "" {
		t.Fatalf("explain: %+v", ex)
	}
	if code := e.get(t, "/api/v1/groups/billing/explain?initial=sideways", &apiErr); code != 400 {
		t.Errorf("bad policy: %d", code)
	}
}

func TestResetAPI(t *testing.T) {
	e := newEnv(t)
	end := e.seedScenario(t, time.Now())
	e.createTopic(t, "audit-log", 1)
	e.commitNow(t, "audit", "audit-log", map[int32]int64{0: 0})
	e.member(t, "audit", "audit-log", "audit-service")
	committed := func(group, topic string, p int32) int64 {
		return e.b.Coordinator().Committed(group)[topic][p].Offset
	}
	before := committed("billing", "orders", 0)

	var res resetResponse
	if code := e.post(t, "/api/v1/groups/billing/reset", `{"target":"shift-by","shift":-100,"topics":["orders:0"]}`, &res); code != 200 {
		t.Fatalf("dry run: %d", code)
	}
	if res.Plan.Executed || len(res.Plan.Rows) != 1 || res.Plan.Rows[0].New != before-100 || res.Plan.Rows[0].Replays != 100 {
		t.Fatalf("dry run plan: %+v", res.Plan)
	}
	if committed("billing", "orders", 0) != before {
		t.Fatal("the dry run changed the offset")
	}
	if code := e.post(t, "/api/v1/groups/billing/reset", `{"target":"to-latest","execute":true}`, &res); code != 200 || !res.Plan.Executed {
		t.Fatalf("execute: %d %+v", code, res.Plan)
	}
	for p := int32(0); p < 3; p++ {
		if got := committed("billing", "orders", p); got != end[p] {
			t.Errorf("billing orders/%d at %d after to-latest, want %d", p, got, end[p])
		}
	}
	if code := e.post(t, "/api/v1/groups/billing/reset", `{"target":"by-duration","duration":"30m","topics":["orders"]}`, &res); code != 200 {
		t.Fatalf("by-duration: %d", code)
	}
	// 30 minutes ago: 12 records a minute fewer than the end, give or take a minute.
	if n := res.Plan.Rows[0].New; n < end[0]-31*12 || n > end[0]-29*12 {
		t.Errorf("by-duration 30m plans %d, log end %d", n, end[0])
	}
	if code := e.post(t, "/api/v1/groups/billing/reset", `{"target":"to-committed-at","time":"45m","topics":["orders"]}`, &res); code != 200 {
		t.Fatalf("to-committed-at: %d", code)
	}
	if n := res.Plan.Rows[0].New; n >= end[0]-40*12 || n < end[0]-47*12 {
		t.Errorf("to-committed-at 45m ago plans %d (log end %d)", n, end[0])
	}

	// Refusals.
	var apiErr apiError
	if code := e.post(t, "/api/v1/groups/audit/reset", `{"target":"to-earliest","execute":true}`, &apiErr); code != 409 ||
		len(apiErr.Members) != 1 || apiErr.Members[0].ClientID != "audit-service" || !strings.Contains(apiErr.Error, "active member") {
		t.Errorf("active group: %d %+v", code, apiErr)
	}
	for body, want := range map[string]int{
		`{"target":"to-offset","offset":999999,"topics":["orders"]}`: 422,
		`{"target":"sideways"}`:              400,
		`{}`:                                 400,
		`{"target":"to-earliest","bogus":1}`: 400,
		`{"target":"by-duration","duration":"-1h"}`:  400,
		`{"target":"to-earliest","topics":["nope"]}`: 404,
	} {
		if code := e.post(t, "/api/v1/groups/billing/reset", body, &apiErr); code != want {
			t.Errorf("%s: %d %q, want %d", body, code, apiErr.Error, want)
		}
	}
	if code := e.post(t, "/api/v1/groups/nobody/reset", `{"target":"to-earliest"}`, &apiErr); code != 404 {
		t.Errorf("unknown group without topics: %d %q", code, apiErr.Error)
	}

	// A page of another site cannot post a form or a JSON fetch here.
	resp, err := http.Post(e.base+"/api/v1/groups/billing/reset", "text/plain", strings.NewReader(`{"target":"to-earliest","execute":true}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain post: %s", resp.Status)
	}
	req, _ := http.NewRequest("POST", e.base+"/api/v1/groups/billing/reset", strings.NewReader(`{"target":"to-earliest","execute":true}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://evil.example")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin post: %s", resp.Status)
	}
	if got := committed("billing", "orders", 0); got != end[0] {
		t.Errorf("a refused request moved billing orders/0 to %d", got)
	}
}

// TestLoopbackHostGuard: on a loopback listener, a request naming another
// host (a DNS-rebinding page) is refused; loopback names pass.
func TestLoopbackHostGuard(t *testing.T) {
	e := newEnv(t)
	for host, want := range map[string]int{
		"": 200, "localhost": 200, "127.0.0.1": 200, "[::1]:9644": 200, "rewind.localhost:1": 200,
		"evil.example": 403, "evil.example:9644": 403, "10.0.0.1": 403,
	} {
		req, _ := http.NewRequest("GET", e.base+"/api/v1/overview", nil)
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %q: %s, want %d", host, resp.Status, want)
		}
	}
}
