package main

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestGroupHistory reads the commit history from __consumer_offsets on
// Rewind and rewinds a group to where it stood at a past time; kfake keeps
// offsets in memory, so both commands must say that topic is not readable.
func TestGroupHistory(t *testing.T) {
	for _, c := range clusters(t) {
		t.Run(c.name, func(t *testing.T) {
			seedTopic(t, c.addr, "orders", 2, 10)
			seedTopic(t, c.addr, "audit", 1, 10)
			commitOffsets(t, c.addr, "hist", "orders", 1, 2)
			commitOffsets(t, c.addr, "other", "orders", 9, 9)
			// Commit times are broker milliseconds: leave a few between
			// the two commits and the moment we rewind to.
			time.Sleep(5 * time.Millisecond)
			mid := time.Now()
			time.Sleep(5 * time.Millisecond)
			commitOffsets(t, c.addr, "hist", "orders", 4, 8)
			commitOffsets(t, c.addr, "hist", "audit", 6)

			if !c.rewind {
				msg := "__consumer_offsets is not readable on this cluster"
				cliFail(t, c.addr, []string{"group", "history", "hist"}, msg, "rewind group describe hist")
				cliFail(t, c.addr, []string{"group", "reset", "hist", "--all-topics", "--to-committed-at", mid.Format(time.RFC3339Nano), "--execute"}, msg)
				if o := committedOffset(t, c.addr, "hist", "orders", 0); o != 4 {
					t.Fatalf("failed reset changed orders/0 to %d", o)
				}
				return
			}

			out, errOut, err := cliRun(t, c.addr, "", "group", "history", "hist")
			if err != nil || errOut != "" {
				t.Fatalf("history: %v; stderr (must be quiet when not a terminal): %q", err, errOut)
			}
			wantFields(t, tableRow(t, out, "TIME"), "TIME", "KIND", "TOPIC", "PARTITION", "OFFSET", "DELTA", "DETAIL")
			commits := map[string][]string{}
			for _, line := range strings.Split(out, "\n") {
				f := strings.Fields(line)
				if len(f) >= 6 && f[1] == "commit" {
					commits[f[2]] = append(commits[f[2]], strings.Join(f[2:6], " "))
				}
			}
			want := map[string][]string{
				"orders": {"orders 0 1 -", "orders 1 2 -", "orders 0 4 +3", "orders 1 8 +6"},
				"audit":  {"audit 0 6 -"},
			}
			if !reflect.DeepEqual(commits, want) {
				t.Fatalf("history commits %q, want %q\n%s", commits, want, out)
			}
			if strings.Contains(out, " 9 ") {
				t.Fatalf("history shows another group's commit:\n%s", out)
			}
			var h []struct {
				Time      time.Time `json:"time"`
				Kind      string    `json:"kind"`
				Topic     string    `json:"topic"`
				Partition int32     `json:"partition"`
				Offset    int64     `json:"offset"`
				Delta     *int64    `json:"delta"`
			}
			cliJSON(t, c.addr, &h, "group", "history", "hist", "--topic", "audit")
			if len(h) != 1 || h[0].Kind != "commit" || h[0].Topic != "audit" || h[0].Offset != 6 || h[0].Delta != nil || h[0].Time.IsZero() {
				t.Fatalf("history --topic audit json: %+v", h)
			}
			cliFail(t, c.addr, []string{"group", "history", "nobody"}, `unknown group "nobody"`)

			// Back to where the group stood at mid: orders at 1 and 2;
			// audit had no commit then and is left alone.
			out = cli(t, c.addr, "group", "reset", "hist", "--all-topics", "--to-committed-at", mid.Format(time.RFC3339Nano), "--execute")
			wantFields(t, tableRow(t, out, "orders", "0"), "orders", "0", "4", "1", "0", "10", "replays", "3")
			wantFields(t, tableRow(t, out, "orders", "1"), "orders", "1", "8", "2", "0", "10", "replays", "6")
			wantFields(t, tableRow(t, out, "audit", "0"), "audit", "0", "6", "6", "0", "10", "no", "commit", "at", "that", "time;", "unchanged")
			for p, want := range []int64{1, 2} {
				if o := committedOffset(t, c.addr, "hist", "orders", int32(p)); o != want {
					t.Fatalf("orders/%d committed %d, want %d", p, o, want)
				}
			}
			if o := committedOffset(t, c.addr, "hist", "audit", 0); o != 6 {
				t.Fatalf("audit/0 committed %d, want 6", o)
			}
			// The reset is itself history now.
			out = cli(t, c.addr, "group", "history", "hist", "--topic", "orders")
			wantFields(t, tableRow(t, out, "*", "commit", "orders", "0", "1", "-3"), "*", "commit", "orders", "0", "1", "-3")
		})
	}
}
