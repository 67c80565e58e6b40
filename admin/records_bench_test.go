package admin

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkRecordsFilterScan is one filtered page that matches nothing:
// the bounded scan's whole work, maxScan records of about 100 bytes,
// through the HTTP API.
func BenchmarkRecordsFilterScan(b *testing.B) {
	br := rewindtest.Start(b)
	srv := New(br.AdminAPI(), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err := srv.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(b.Context(), 1, 1, nil, "orders"); err != nil {
		b.Fatal(err)
	}
	var recs []*kgo.Record
	var size int64
	for i := 0; i < maxScan; i++ {
		r := &kgo.Record{Topic: "orders", Key: []byte(fmt.Sprintf("customer-%d", i)),
			Value: []byte(fmt.Sprintf(`{"order_id":%d,"status":"paid","amount":%d.%02d,"currency":"EUR","items":3}`, i, i%500, i%100))}
		recs = append(recs, r)
		size += int64(len(r.Key) + len(r.Value))
	}
	if err := cl.ProduceSync(b.Context(), recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := http.Get("http://" + srv.Addr() + "/api/v1/topics/orders/records?partition=0&value=refunded")
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("%v %v", err, resp)
		}
		resp.Body.Close()
	}
}
