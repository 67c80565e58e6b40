package monitor

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMonitorConsoleRecords: the console's produce by key, filtered
// message browser, live tail and explain's next fetch work through the
// monitor as through the broker's own listener, since both reach the
// cluster through admin.Broker only.
func TestMonitorConsoleRecords(t *testing.T) {
	ctx := tctx(t, 120*time.Second)
	addr := proctest.FreeAddr(t)
	b := startBroker(t, addr, t.TempDir())
	defer b.Close()
	createTopic(t, ctx, addr, "orders", 3, 1)
	m, srv := watch(t, addr, "")
	defer m.Close()
	defer srv.Close()
	eventually(t, 20*time.Second, func() error {
		if code := getJSON(t, srv.URL+"/api/v1/topics/orders", nil); code != 200 {
			return fmt.Errorf("orders: %d", code)
		}
		return nil
	})

	// Produce by key through the monitor: where franz-go puts the key.
	resp, err := http.Post(srv.URL+"/api/v1/topics/orders/records", "application/json",
		strings.NewReader(`{"records":[{"key":"customer-7","value":"paid"},{"key":"customer-7","value":"refunded"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var produced struct {
		Partition int32 `json:"partition"`
	}
	json.NewDecoder(resp.Body).Decode(&produced)
	resp.Body.Close()
	want := int32(kgo.StickyKeyPartitioner(nil).ForTopic("orders").Partition(&kgo.Record{Key: []byte("customer-7")}, 3))
	if resp.StatusCode != 200 || produced.Partition != want {
		t.Fatalf("produce by key through the monitor: %d, partition %d, want %d", resp.StatusCode, produced.Partition, want)
	}

	// The filter, once the monitor's poll has seen the records.
	type page struct {
		Records []struct {
			Offset int64  `json:"offset"`
			Value  string `json:"value"`
		} `json:"records"`
		Scanned int `json:"scanned"`
	}
	eventually(t, 20*time.Second, func() error {
		var p page
		getJSON(t, fmt.Sprintf("%s/api/v1/topics/orders/records?partition=%d&value=refund", srv.URL, want), &p)
		if len(p.Records) != 1 || p.Records[0].Value != "refunded" || p.Scanned != 2 {
			return fmt.Errorf("filtered page %+v", p)
		}
		return nil
	})

	// The live tail sees a record a Kafka client produces.
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v1/topics/orders/tail?partition=%d&key=customer-", srv.URL, want), nil)
	tail, err := http.DefaultClient.Do(req)
	if err != nil || tail.StatusCode != 200 {
		t.Fatalf("tail: %v %v", err, tail)
	}
	defer tail.Body.Close()
	sc := bufio.NewScanner(tail.Body)
	if !sc.Scan() || sc.Text() != "event: start" {
		t.Fatalf("tail starts with %q", sc.Text())
	}
	cl := client(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for _, k := range []string{"other", "customer-8"} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Partition: want, Key: []byte(k), Value: []byte("live")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	found := false
	for !found && sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "data: ") && strings.Contains(line, `"records":[{`) {
			found = true
			if !strings.Contains(line, `"key": "customer-8"`) && !strings.Contains(line, `"key":"customer-8"`) || strings.Contains(line, `"other"`) {
				t.Errorf("tailed %s", line)
			}
		}
	}
	if !found {
		t.Fatalf("the tail ended without a record: %v", sc.Err())
	}

	// Explain dates the record a restarted consumer fetches first.
	var ex struct {
		Partitions []struct {
			NextFetch string `json:"next_fetch"`
		} `json:"partitions"`
	}
	getJSON(t, fmt.Sprintf("%s/api/v1/groups/fresh/explain?topic=orders:%d&initial=oldest", srv.URL, want), &ex)
	if len(ex.Partitions) != 1 || !strings.HasPrefix(ex.Partitions[0].NextFetch, "next fetch starts at offset 0 (record at ") {
		t.Errorf("explain through the monitor: %+v", ex.Partitions)
	}
}
