package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
)

func TestLag(t *testing.T) {
	for _, c := range clusters(t) {
		t.Run(c.name, func(t *testing.T) {
			seedTopic(t, c.addr, "orders", 2, 5)
			commitOffsets(t, c.addr, "g1", "orders", 2, 5)
			commitOffsets(t, c.addr, "g2", "orders", 0, 0)

			out := cli(t, c.addr, "lag")
			wantFields(t, tableRow(t, out, "GROUP"), "GROUP", "TOPIC", "STATE", "MEMBERS", "PARTITIONS", "UNCOMMITTED", "LAG")
			wantFields(t, tableRow(t, out, "g1"), "g1", "orders", "Empty", "0", "2", "0", "3")
			wantFields(t, tableRow(t, out, "g2"), "g2", "orders", "Empty", "0", "2", "0", "10")

			var rows []map[string]any
			cliJSON(t, c.addr, &rows, "lag", "--group", "g1")
			if len(rows) != 1 || rows[0]["group"] != "g1" || rows[0]["topic"] != "orders" || rows[0]["lag"] != 3.0 ||
				rows[0]["partitions"] != 2.0 || rows[0]["trend"] != nil {
				t.Fatalf("lag json: %v", rows)
			}
			cliFail(t, c.addr, []string{"lag", "--group", "nobody"}, `unknown group "nobody"`)
			cliFail(t, c.addr, []string{"lag", "--iterations", "2"}, "--iterations needs --watch")
			cliFail(t, c.addr, []string{"lag", "--watch", "--interval", "0s"}, "--interval")

			// Watch: new records arrive between two refreshes; the trend
			// shows the lag growing by exactly that many.
			var wout, werr proctest.SyncBuffer
			done := make(chan error, 1)
			go func() {
				done <- cliRunTo(t, c.addr, "", &wout, &werr, "lag", "--group", "g1", "--watch", "--interval", "1s", "--iterations", "2")
			}()
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(wout.String(), "g1") {
				if time.Now().After(deadline) {
					t.Fatalf("no first refresh: %q %q", wout.String(), werr.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if _, e, err := cliRun(t, c.addr, "a\nb\nc\nd\n", "produce", "orders", "-p", "0"); err != nil {
				t.Fatalf("produce: %v %s", err, e)
			}
			if err := <-done; err != nil {
				t.Fatalf("watch: %v %s", err, werr.String())
			}
			tables := strings.Split(strings.TrimSpace(wout.String()), "\n\n")
			if len(tables) != 2 {
				t.Fatalf("want 2 refreshes, got:\n%s", wout.String())
			}
			wantFields(t, tableRow(t, tables[0], "GROUP"), "GROUP", "TOPIC", "STATE", "MEMBERS", "PARTITIONS", "UNCOMMITTED", "LAG", "TREND")
			wantFields(t, tableRow(t, tables[0], "g1"), "g1", "orders", "Empty", "0", "2", "0", "3", "-")
			wantFields(t, tableRow(t, tables[1], "g1"), "g1", "orders", "Empty", "0", "2", "0", "7", "+4")

			out = cli(t, c.addr, "lag", "--watch", "--interval", "10ms", "--iterations", "2", "--output", "json")
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 {
				t.Fatalf("watch json lines: %q", out)
			}
			var snap struct {
				Time   time.Time `json:"time"`
				Groups []struct {
					Group string `json:"group"`
					Lag   int64  `json:"lag"`
					Trend *int64 `json:"trend"`
				} `json:"groups"`
			}
			if err := json.Unmarshal([]byte(lines[1]), &snap); err != nil || snap.Time.IsZero() || len(snap.Groups) != 2 {
				t.Fatalf("watch json: %v %q", err, lines[1])
			}
			for _, g := range snap.Groups {
				if g.Trend == nil || *g.Trend != 0 {
					t.Fatalf("second refresh without new records: trend %v for %s", g.Trend, g.Group)
				}
			}
		})
	}
}
