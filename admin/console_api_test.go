package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// seedFiltered produces n records to topic/0: key customer-i, a JSON
// value whose status is refunded every tenth record (else paid), and a
// trace-id header.
func (e *env) seedFiltered(t *testing.T, topic string, n int) {
	t.Helper()
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		status := "paid"
		if i%10 == 0 {
			status = "refunded"
		}
		recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Key: []byte(fmt.Sprintf("customer-%d", i)),
			Value:   []byte(fmt.Sprintf(`{"n":%d,"status":%q}`, i, status)),
			Headers: []kgo.RecordHeader{{Key: "trace-id", Value: []byte(fmt.Sprintf("t%04d", i))}}})
	}
	e.produce(t, e.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner())), recs...)
}

// page GETs a page of records into a fresh recordPage.
func (e *env) page(t *testing.T, path string) recordPage {
	t.Helper()
	var p recordPage
	if code := e.get(t, path, &p); code != 200 {
		t.Fatalf("GET %s: %d", path, code)
	}
	return p
}

func offsets(p recordPage) []int64 {
	out := []int64{}
	for _, r := range p.Records {
		out = append(out, r.Offset)
	}
	return out
}

// The message browser filters by key, value and header, by substring or
// regular expression, within offset and time ranges, forwards and from
// the newest backwards.
func TestRecordsFilter(t *testing.T) {
	e := newEnv(t)
	e.createTopic(t, "orders", 1)
	e.seedFiltered(t, "orders", 100)
	cases := []struct {
		query string
		want  string
	}{
		{"key=customer-7", "[7 70 71 72 73 74 75 76 77 78 79]"},
		{"key=customer-7&limit=3", "[7 70 71]"},
		{"value=refunded&limit=4", "[0 10 20 30]"},
		{"value=refunded&from=newest&limit=3", "[70 80 90]"},
		{"value=refunded&offset=15&end_offset=45", "[20 30 40]"},
		{`value=%22n%22:9[0-9],&match=regex`, "[90 91 92 93 94 95 96 97 98 99]"},
		{"header=trace-id=t005", "[50 51 52 53 54 55 56 57 58 59]"},
		{"header=t0042", "[42]"},
		{"key=customer-4&value=refunded", "[40]"},
		{"key=nobody", "[]"},
	}
	for _, c := range cases {
		page := e.page(t, "/api/v1/topics/orders/records?partition=0&"+c.query)
		if got := fmt.Sprint(offsets(page)); got != c.want {
			t.Errorf("%s: offsets %s, want %s", c.query, got, c.want)
		}
		if !page.Filtered || page.Stopped != "" {
			t.Errorf("%s: filtered %v, stopped %q", c.query, page.Filtered, page.Stopped)
		}
	}
	// A key filter never matches a record without a key, and what it
	// matched shows decoded as the browser shows it.
	page := e.page(t, "/api/v1/topics/orders/records?partition=0&key=customer-99")
	if len(page.Records) != 1 || *page.Records[0].Key != "customer-99" || page.Records[0].Headers[0].Value != "t0099" || page.Scanned != 100 {
		t.Errorf("customer-99: %+v scanned %d", page.Records, page.Scanned)
	}
	// end_time ends the range at the first record at or after it.
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	page = e.page(t, "/api/v1/topics/orders/records?partition=0&value=refunded&end_time="+future)
	if len(page.Records) != 10 || page.End != 100 {
		t.Errorf("end_time in the future: %d records, end %d", len(page.Records), page.End)
	}
	page = e.page(t, "/api/v1/topics/orders/records?partition=0&end_time=2001-01-01T00:00:00Z")
	if len(page.Records) != 0 || page.End != 0 {
		t.Errorf("end_time before every record: %d records, end %d", len(page.Records), page.End)
	}
	for _, q := range []string{"match=regex&value=(", "match=glob&value=x", "value=" + strings.Repeat("x", 2000), "end_offset=-1", "end_time=soon"} {
		var ae apiError
		if code := e.get(t, "/api/v1/topics/orders/records?partition=0&"+q, &ae); code != 400 || ae.Error == "" {
			t.Errorf("%.40s: %d %+v", q, code, ae)
		}
	}
}

// A filtered page examines at most maxScan records per request and says
// where to go on: a match past them is found by following requests, each
// examining exactly maxScan records, never by one unbounded scan,
// forwards and backwards.
func TestRecordsFilterBoundedScan(t *testing.T) {
	e := newEnv(t)
	e.createTopic(t, "big", 1)
	const n = 25_000
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		v := "hay"
		if i == 24_500 || i == 100 {
			v = "needle"
		}
		recs = append(recs, &kgo.Record{Topic: "big", Value: []byte(v)})
	}
	e.produce(t, e.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner())), recs...)

	// Forwards from 200: two bounded requests, then the needle.
	next, calls := int64(200), 0
	for {
		calls++
		page := e.page(t, fmt.Sprintf("/api/v1/topics/big/records?partition=0&value=needle&offset=%d", next))
		if len(page.Records) > 0 {
			if fmt.Sprint(offsets(page)) != "[24500]" || page.Stopped != "" || calls != 3 {
				t.Fatalf("request %d found %v, stopped %q", calls, offsets(page), page.Stopped)
			}
			break
		}
		if page.Scanned != maxScan || page.Next != next+maxScan || page.Stopped != stopRecords || calls > 3 {
			t.Fatalf("request %d from %d: scanned %d, next %d, stopped %q", calls, next, page.Scanned, page.Next, page.Stopped)
		}
		next = page.Next
	}

	// Backwards from the end: the needle at 24,500 at once, then the one
	// at 100 after bounded requests that say where they stopped.
	page := e.page(t, "/api/v1/topics/big/records?partition=0&value=needle&from=newest&limit=1")
	if fmt.Sprint(offsets(page)) != "[24500]" || page.From > 24_500 {
		t.Fatalf("newest needle: %v from %d", offsets(page), page.From)
	}
	before := page.From
	for calls = 1; ; calls++ {
		page = e.page(t, fmt.Sprintf("/api/v1/topics/big/records?partition=0&value=needle&from=newest&end_offset=%d", before))
		if len(page.Records) > 0 {
			if fmt.Sprint(offsets(page)) != "[100]" || page.Stopped != "" || page.From != 0 || calls < 3 {
				t.Fatalf("request %d back from %d: %v, from %d, stopped %q", calls, before, offsets(page), page.From, page.Stopped)
			}
			break
		}
		if page.Stopped != stopRecords || page.Scanned != maxScan || page.From != before-maxScan || calls > 3 {
			t.Fatalf("request %d back from %d: scanned %d, from %d, stopped %q", calls, before, page.Scanned, page.From, page.Stopped)
		}
		before = page.From
	}
}

// Without a partition, the console partitions as a Kafka client does:
// each keyed record goes where franz-go's default partitioner (murmur2,
// Java's) sends the same key, and the keyless ones of a request to one
// partition.
func TestProduceByKey(t *testing.T) {
	e := newEnv(t)
	e.createTopic(t, "console", 6)
	e.createTopic(t, "client", 6)
	var body []string
	var recs []*kgo.Record
	for i := 0; i < 24; i++ {
		k := fmt.Sprintf("customer-%d", i)
		body = append(body, fmt.Sprintf(`{"key":%q,"value":"v"}`, k))
		recs = append(recs, &kgo.Record{Topic: "client", Key: []byte(k), Value: []byte("v")})
	}
	var resp produceResponse
	if code := e.post(t, "/api/v1/topics/console/records", `{"records":[`+strings.Join(body, ",")+`]}`, &resp); code != 200 {
		t.Fatalf("produce by key: %d", code)
	}
	e.produce(t, e.client(t), recs...)
	where := func(topic string) map[string]int32 {
		out := map[string]int32{}
		for p := int32(0); p < 6; p++ {
			var page recordPage
			e.get(t, fmt.Sprintf("/api/v1/topics/%s/records?partition=%d&limit=100", topic, p), &page)
			for _, r := range page.Records {
				out[*r.Key] = p
			}
		}
		return out
	}
	console, client := where("console"), where("client")
	if len(console) != 24 || fmt.Sprint(console) != fmt.Sprint(client) {
		t.Fatalf("by key, the console put records in\n%v\nfranz-go in\n%v", console, client)
	}
	total := int64(0)
	for _, b := range resp.Batches {
		total += b.LastOffset - b.BaseOffset + 1
	}
	if len(resp.Batches) < 2 || total != 24 || resp.Partition != resp.Batches[0].Partition {
		t.Errorf("batches: %+v", resp)
	}

	if code := e.post(t, "/api/v1/topics/console/records", `{"records":[{"value":"a"},{"value":"b"},{"value":"c"}]}`, &resp); code != 200 {
		t.Fatalf("keyless: %d", code)
	}
	if len(resp.Batches) != 1 || resp.LastOffset-resp.BaseOffset != 2 {
		t.Errorf("keyless records: %+v, want one batch of 3", resp)
	}
	// An explicit partition still wins over the key.
	if code := e.post(t, "/api/v1/topics/console/records", `{"partition":5,"records":[{"key":"customer-0","value":"x"}]}`, &resp); code != 200 || resp.Partition != 5 {
		t.Errorf("explicit partition: %d %+v", code, resp)
	}
}

// sse reads server-sent events from a live tail.
type sse struct {
	resp *http.Response
	sc   *bufio.Scanner
}

func (e *env) openTail(t *testing.T, ctx context.Context, query string) (*sse, int) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.base+"/api/v1/topics/orders/tail?"+query, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		return nil, resp.StatusCode
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &sse{resp: resp, sc: bufio.NewScanner(resp.Body)}, 200
}

// next returns the next event's name and data (pings skipped).
func (s *sse) next(t *testing.T) (string, string) {
	t.Helper()
	var ev, data string
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			ev = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		case line == "" && ev != "":
			return ev, data
		}
	}
	t.Fatalf("tail ended: %v", s.sc.Err())
	return "", ""
}

func waitTails(t *testing.T, srv *Server, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Tails() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d live tails, want %d", srv.Tails(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The live tail streams the records appended after it starts, through
// the filter; it ends when its client goes away, at most maxTails run at
// once, and closing the server ends them at once.
func TestTail(t *testing.T) {
	e := newEnv(t)
	e.createTopic(t, "orders", 1)
	e.seedFiltered(t, "orders", 5) // before the tail: not sent
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tail, _ := e.openTail(t, ctx, "partition=0&value=refunded")
	if ev, data := tail.next(t); ev != "start" || !strings.Contains(data, `"next":5`) {
		t.Fatalf("first event %s %s", ev, data)
	}
	cl := e.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var got []string
	for _, v := range []string{"paid", "refunded 1", "paid", "refunded 2"} {
		e.produce(t, cl, &kgo.Record{Topic: "orders", Value: []byte(v)})
	}
	for len(got) < 2 {
		ev, data := tail.next(t)
		if ev != "records" {
			t.Fatalf("event %s %s", ev, data)
		}
		var te tailEvent
		if err := json.Unmarshal([]byte(data), &te); err != nil {
			t.Fatal(err)
		}
		for _, r := range te.Records {
			got = append(got, fmt.Sprintf("%d:%s", r.Offset, *r.Value))
		}
	}
	if fmt.Sprint(got) != "[6:refunded 1 8:refunded 2]" {
		t.Errorf("tailed %v", got)
	}

	// The client goes away: the tail ends.
	waitTails(t, e.srv, 1)
	cancel()
	waitTails(t, e.srv, 0)

	// A reconnection (EventSource sends the last event's id back) goes on
	// from there: the record produced while it was away comes first.
	e.produce(t, cl, &kgo.Record{Topic: "orders", Value: []byte("refunded while away")})
	req, _ := http.NewRequest("GET", e.base+"/api/v1/topics/orders/tail?partition=0&value=refunded", nil)
	req.Header.Set("Last-Event-ID", "9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("reconnect: %v %v", err, resp)
	}
	again := &sse{resp: resp, sc: bufio.NewScanner(resp.Body)}
	if ev, data := again.next(t); ev != "start" || !strings.Contains(data, `"next":9`) {
		t.Fatalf("reconnected tail starts with %s %s", ev, data)
	}
	if ev, data := again.next(t); ev != "records" || !strings.Contains(data, "refunded while away") || !strings.Contains(data, `"offset": 9`) && !strings.Contains(data, `"offset":9`) {
		t.Fatalf("reconnected tail: %s %s", ev, data)
	}
	resp.Body.Close()
	waitTails(t, e.srv, 0)

	// At most maxTails at once.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	var tails []*sse
	for i := 0; i < maxTails; i++ {
		tl, code := e.openTail(t, ctx2, "partition=0")
		if code != 200 {
			t.Fatalf("tail %d: %d", i, code)
		}
		tails = append(tails, tl)
	}
	if _, code := e.openTail(t, ctx2, "partition=0"); code != http.StatusServiceUnavailable {
		t.Errorf("tail past %d: %d, want 503", maxTails, code)
	}
	// Closing the server ends every tail with a reason, without waiting
	// for Shutdown's deadline.
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- e.srv.Close() }()
	for _, tl := range tails {
		for {
			ev, data := tl.next(t)
			if ev == "end" {
				if !strings.Contains(data, "shutting down") {
					t.Errorf("end: %s", data)
				}
				break
			}
		}
	}
	if err := <-done; err != nil || time.Since(start) > 3*time.Second {
		t.Errorf("Close with %d tails: %v after %v", maxTails, err, time.Since(start))
	}
}

// The console's explain states where a restarted consumer's first fetch
// goes, with the record's timestamp read from the broker's log, as
// `rewind group explain` does.
func TestExplainNextFetch(t *testing.T) {
	e := newEnv(t)
	e.createTopic(t, "orders", 1)
	base := time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)
	var recs []*kgo.Record
	for i := 0; i < 10; i++ {
		recs = append(recs, &kgo.Record{Topic: "orders", Value: []byte("v"), Timestamp: base.Add(time.Duration(i) * time.Minute)})
	}
	e.produce(t, e.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner())), recs...)
	e.commitNow(t, "done", "orders", map[int32]int64{0: 6})
	for _, c := range []struct{ path, want string }{
		{"/api/v1/groups/done/explain", "next fetch starts at offset 6 (record at 2026-01-02T09:06:00.000Z)"},
		{"/api/v1/groups/fresh/explain?topic=orders&initial=oldest", "next fetch starts at offset 0 (record at 2026-01-02T09:00:00.000Z)"},
		{"/api/v1/groups/fresh/explain?topic=orders", "next fetch starts at offset 10, the log end: it returns the next record produced"},
		{"/api/v1/groups/fresh/explain?topic=orders&initial=none", "no fetch: no committed offset, and auto.offset.reset=none makes the consumer fail (NoOffsetForPartitionException)"},
		// now minus the duration between records 3 and 4
		{fmt.Sprintf("/api/v1/groups/fresh/explain?topic=orders&initial=by_duration:%ds", int(time.Since(base.Add(3*time.Minute+30*time.Second)).Seconds())),
			"next fetch starts at offset 4 (record at 2026-01-02T09:04:00.000Z)"},
		{"/api/v1/groups/fresh/explain?topic=orders&initial=by_duration:PT1H", "next fetch starts at offset 10, the log end: it returns the next record produced"},
	} {
		var ex struct {
			Partitions []struct {
				NextFetch string `json:"next_fetch"`
				Start     int64  `json:"start"`
			} `json:"partitions"`
		}
		if code := e.get(t, c.path, &ex); code != 200 || len(ex.Partitions) != 1 || ex.Partitions[0].NextFetch != c.want {
			t.Errorf("%s: %d %+v, want %q", c.path, code, ex.Partitions, c.want)
		}
	}
}
