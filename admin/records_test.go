package admin

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// getWith GETs path with the given request headers and returns the status.
func (e *env) getWith(t *testing.T, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", e.base+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// A page of the message browser carries at most 16 KiB of a value, with
// its whole size, streamed from the compressed batch.
func TestRecordsPageCutsValues(t *testing.T) {
	e := newEnv(t)
	e.createTopic(t, "big", 1)
	cl := e.client(t, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	value := bytes.Repeat([]byte("0123456789"), 10_000)
	e.produce(t, cl, &kgo.Record{Topic: "big", Key: []byte("k"), Value: value,
		Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}})
	var page recordPage
	e.get(t, "/api/v1/topics/big/records?partition=0", &page)
	if len(page.Records) != 1 {
		t.Fatalf("page: %+v", page)
	}
	r := page.Records[0]
	if !r.Truncated || r.ValueBytes != len(value) || len(*r.Value) != maxShown || *r.Value != string(value[:maxShown]) || *r.Key != "k" || len(r.Headers) != 1 {
		t.Fatalf("record: truncated %v, value_bytes %d, %d bytes shown, key %v, headers %+v", r.Truncated, r.ValueBytes, len(*r.Value), r.Key, r.Headers)
	}
}

// A page reads at most 64 MiB of records: a batch larger than that once
// decompressed (allowed by a topic with a larger max.message.bytes) is
// answered 422 with what to do, and the records after it still show.
func TestRecordsPageDecodeLimit(t *testing.T) {
	e := newEnv(t)
	adm := kadm.NewClient(e.client(t))
	mmb := "4194304"
	if _, err := adm.CreateTopic(ctxT(t), 1, 1, map[string]*string{"max.message.bytes": &mmb}, "huge"); err != nil {
		t.Fatal(err)
	}
	cl := e.client(t, kgo.ProducerBatchCompression(kgo.ZstdCompression()), kgo.ProducerBatchMaxBytes(96<<20), kgo.BrokerMaxWriteBytes(256<<20), kgo.MaxBufferedBytes(256<<20))
	e.produce(t, cl, &kgo.Record{Topic: "huge", Value: make([]byte, 70<<20)})
	e.produce(t, cl, &kgo.Record{Topic: "huge", Value: []byte("after")})
	var apiErr apiError
	if code := e.get(t, "/api/v1/topics/huge/records?partition=0", &apiErr); code != http.StatusUnprocessableEntity || !strings.Contains(apiErr.Error, "64 MiB") {
		t.Fatalf("huge batch: %d %+v", code, apiErr)
	}
	var page recordPage
	e.get(t, "/api/v1/topics/huge/records?partition=0&offset=1", &page)
	if len(page.Records) != 1 || *page.Records[0].Value != "after" {
		t.Fatalf("after the huge batch: %+v", page.Records)
	}
}

// API reads that the browser marks as coming from another site are
// refused (a page elsewhere could make the broker decode records for it);
// the console's own requests, a typed-in URL and curl are served.
func TestCrossSiteReadsRefused(t *testing.T) {
	e := newEnv(t)
	e.createTopic(t, "orders", 1)
	for _, path := range []string{"/api/v1/topics/orders/records?partition=0", "/api/v1/overview"} {
		for _, c := range []struct {
			hdr  map[string]string
			want int
		}{
			{nil, 200},
			{map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
			{map[string]string{"Sec-Fetch-Site": "none"}, 200},
			{map[string]string{"Origin": e.base}, 200},
			{map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
			{map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
			{map[string]string{"Origin": "http://evil.example"}, 403},
			{map[string]string{"Origin": "null"}, 403},
		} {
			if resp := e.getWith(t, path, c.hdr); resp.StatusCode != c.want {
				t.Errorf("GET %s with %v: %s, want %d", path, c.hdr, resp.Status, c.want)
			}
		}
	}
	// The console page itself may be opened from a link on another site.
	if resp := e.getWith(t, "/", map[string]string{"Sec-Fetch-Site": "cross-site"}); resp.StatusCode != 200 {
		t.Errorf("console from a link: %s", resp.Status)
	}
}

// At most maxBrowsing pages are read at once; one more waits, then is
// answered 503 with Retry-After.
func TestRecordsBusy(t *testing.T) {
	e := newEnv(t)
	e.createTopic(t, "orders", 1)
	for i := 0; i < maxBrowsing; i++ {
		e.srv.browsing <- struct{}{}
	}
	resp := e.getWith(t, "/api/v1/topics/orders/records?partition=0", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("busy browser: %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
	<-e.srv.browsing
	if resp := e.getWith(t, "/api/v1/topics/orders/records?partition=0", nil); resp.StatusCode != 200 {
		t.Errorf("with a free slot: %s", resp.Status)
	}
}
