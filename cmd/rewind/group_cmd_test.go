package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/offsettool/grouptest"
	"github.com/twmb/franz-go/pkg/kadm"
)

func TestGroupListDescribe(t *testing.T) {
	for _, c := range clusters(t) {
		t.Run(c.name, func(t *testing.T) {
			seedTopic(t, c.addr, "orders", 2, 5)
			commitOffsets(t, c.addr, "idle", "orders", 2, 5)
			activeMember(t, c.addr, "busy", "orders", "busy-consumer")

			out := cli(t, c.addr, "group", "list")
			wantFields(t, tableRow(t, out, "GROUP"), "GROUP", "STATE", "MEMBERS", "PROTOCOL-TYPE", "PROTOCOL")
			wantFields(t, tableRow(t, out, "idle"), "idle", "Empty", "0")
			wantFields(t, tableRow(t, out, "busy"), "busy", "Stable", "1", "consumer", "*")
			var list []map[string]any
			cliJSON(t, c.addr, &list, "group", "list")
			found := false
			for _, g := range list {
				if g["group"] == "busy" {
					found = g["state"] == "Stable" && g["members"] == 1.0 && g["protocol_type"] == "consumer" && g["protocol"] != ""
				}
			}
			if !found {
				t.Fatalf("group list json: %v", list)
			}

			out = cli(t, c.addr, "group", "describe", "idle")
			wantFields(t, tableRow(t, out, "idle"), "idle", "Empty", "-", "0")
			r := tableRow(t, out, "orders", "0")
			wantFields(t, r, "orders", "0", "2", "0", "5", "3")
			if r[6] == "-" || r[6] == "0s" {
				t.Fatalf("lag time of a lagging partition: %q", r)
			}
			wantFields(t, tableRow(t, out, "orders", "1"), "orders", "1", "5", "0", "5", "0", "0s", "-")

			var d struct {
				Group      string `json:"group"`
				State      string `json:"state"`
				Partitions []struct {
					Topic     string `json:"topic"`
					Partition int32  `json:"partition"`
					Committed int64  `json:"committed"`
					LogStart  int64  `json:"log_start"`
					LogEnd    int64  `json:"log_end"`
					Lag       *int64 `json:"lag"`
					LagMillis *int64 `json:"lag_millis"`
				} `json:"partitions"`
			}
			cliJSON(t, c.addr, &d, "group", "describe", "idle")
			if d.Group != "idle" || d.State != "Empty" || len(d.Partitions) != 2 {
				t.Fatalf("describe json: %+v", d)
			}
			p0 := d.Partitions[0]
			if p0.Committed != 2 || p0.LogEnd != 5 || p0.Lag == nil || *p0.Lag != 3 || p0.LagMillis == nil || *p0.LagMillis < 0 {
				t.Fatalf("describe json partition 0: %+v", p0)
			}

			out = cli(t, c.addr, "group", "describe", "busy")
			wantFields(t, tableRow(t, out, "busy"), "busy", "Stable", "*", "1")
			// Member row: MEMBER-ID CLIENT-ID HOST ASSIGNMENT, as Kafka
			// fills them from the JoinGroup request header and connection.
			var member []string
			for _, line := range strings.Split(out, "\n") {
				if f := strings.Fields(line); len(f) == 4 && f[3] == "orders:0,1" {
					member = f
				}
			}
			if member == nil || member[1] != "busy-consumer" || !strings.HasPrefix(member[0], "busy-consumer-") || !strings.Contains(member[2], "127.0.0.1") {
				t.Errorf("member row (id, client id, host, assignment) = %q, want client id busy-consumer on 127.0.0.1:\n%s", member, out)
			}
			wantFields(t, tableRow(t, out, "orders", "0"), "orders", "0", "-", "0", "5", "-", "-", "busy-consumer")

			cliFail(t, c.addr, []string{"group", "describe", "nobody"}, `unknown group "nobody"`, "rewind group list")
		})
	}
}

func TestGroupExplain(t *testing.T) {
	for _, c := range clusters(t) {
		t.Run(c.name, func(t *testing.T) {
			seedTopic(t, c.addr, "orders", 1, 10)

			// No commit, Sarama's default OffsetNewest: the existing
			// records are never read, and the way out is printed.
			out := cli(t, c.addr, "group", "explain", "fresh", "--topic", "orders")
			for _, w := range []string{
				"Group fresh (unknown), initial offset policy newest",
				"no record of group \"fresh\"",
				"the 10 existing record(s) (offsets 0-9) will not be read",
				"rewind group reset fresh --topic orders --to-earliest --execute",
				"sarama.OffsetOldest",
			} {
				if !strings.Contains(out, w) {
					t.Errorf("explain fresh lacks %q:\n%s", w, out)
				}
			}
			wantFields(t, tableRow(t, out, "orders", "0"), "orders", "0", "-", "0", "10", "10", "0", "10", "no-commit-newest")

			out = cli(t, c.addr, "group", "explain", "fresh", "--topic", "orders", "--initial", "oldest")
			wantFields(t, tableRow(t, out, "orders", "0"), "orders", "0", "-", "0", "10", "0", "10", "0", "no-commit-oldest")

			commitOffsets(t, c.addr, "done", "orders", 6)
			out = cli(t, c.addr, "group", "explain", "done")
			wantFields(t, tableRow(t, out, "orders", "0"), "orders", "0", "6", "0", "10", "6", "4", "6", "committed")
			if !strings.Contains(out, "Committed offset 6 wins over the initial policy") || !strings.Contains(out, "no active members") {
				t.Errorf("explain done:\n%s", out)
			}

			commitOffsets(t, c.addr, "ahead", "orders", 50)
			out = cli(t, c.addr, "group", "explain", "ahead")
			wantFields(t, tableRow(t, out, "orders", "0"), "orders", "0", "50", "0", "10", "10", "0", "10", "committed-above-log-end")

			commitOffsets(t, c.addr, "behind", "orders", 1)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			dr, err := adminFor(t, c.addr).DeleteRecords(ctx, kadm.Offsets{"orders": {0: {Topic: "orders", At: 4}}})
			if err != nil || dr.Error() != nil {
				t.Fatalf("delete records: %v %v", err, dr.Error())
			}
			out = cli(t, c.addr, "group", "explain", "behind")
			wantFields(t, tableRow(t, out, "orders", "0"), "orders", "0", "1", "4", "10", "10", "0", "6", "committed-below-log-start")
			for _, w := range []string{"below the log start 4", "retention", "OFFSET_OUT_OF_RANGE", "auto.offset.reset"} {
				if !strings.Contains(out, w) {
					t.Errorf("explain behind lacks %q:\n%s", w, out)
				}
			}
			var ex struct {
				Group   string `json:"group"`
				Initial string `json:"initial"`
				Notes   []struct {
					Kind string `json:"kind"`
					Text string `json:"text"`
				} `json:"notes"`
				Partitions []struct {
					Case      string `json:"case"`
					Start     int64  `json:"start"`
					Reads     int64  `json:"reads"`
					Skips     int64  `json:"skips"`
					Committed int64  `json:"committed"`
					Why       string `json:"why"`
					Replay    string `json:"replay"`
				} `json:"partitions"`
			}
			cliJSON(t, c.addr, &ex, "group", "explain", "behind", "--initial", "oldest")
			if ex.Group != "behind" || ex.Initial != "oldest" || len(ex.Partitions) != 1 || ex.Notes[0].Kind != "empty" {
				t.Fatalf("explain json: %+v", ex)
			}
			if p := ex.Partitions[0]; p.Case != "committed-below-log-start" || p.Start != 4 || p.Reads != 6 || p.Committed != 1 || p.Why == "" {
				t.Fatalf("explain json partition: %+v", p)
			}

			activeMember(t, c.addr, "live", "orders", "live-consumer")
			out = cli(t, c.addr, "group", "explain", "live")
			if !strings.Contains(out, "1 active member(s) consuming now (live-consumer on") {
				t.Errorf("explain live:\n%s", out)
			}

			grouptest.HoldRebalance(t, c.addr, "stuck", "orders")
			out = cli(t, c.addr, "group", "explain", "stuck")
			if !strings.Contains(out, "mid-rebalance (PreparingRebalance)") && !strings.Contains(out, "mid-rebalance (CompletingRebalance)") {
				t.Errorf("explain stuck:\n%s", out)
			}
			cliJSON(t, c.addr, &ex, "group", "explain", "stuck")
			if ex.Notes[0].Kind != "rebalancing" {
				t.Errorf("explain stuck json notes: %+v", ex.Notes)
			}

			cliFail(t, c.addr, []string{"group", "explain", "nobody"}, `unknown group "nobody"`, "--topic")
			cliFail(t, c.addr, []string{"group", "explain", "done", "--initial", "middle"}, `--initial "middle"`)
			cliFail(t, c.addr, []string{"group", "explain", "done", "--topic", "nope"}, `unknown topic "nope"`)
		})
	}
}

func TestGroupDelete(t *testing.T) {
	for _, c := range clusters(t) {
		t.Run(c.name, func(t *testing.T) {
			seedTopic(t, c.addr, "orders", 2, 3)
			seedTopic(t, c.addr, "audit", 1, 3)
			commitOffsets(t, c.addr, "twotopics", "orders", 1, 2)
			commitOffsets(t, c.addr, "twotopics", "audit", 3)

			out := cli(t, c.addr, "group", "delete-offsets", "twotopics", "--topic", "orders")
			wantFields(t, tableRow(t, out, "orders", "0"), "orders", "0", "offset", "deleted")
			wantFields(t, tableRow(t, out, "orders", "1"), "orders", "1", "offset", "deleted")
			if o := committedOffset(t, c.addr, "twotopics", "orders", 0); o != -1 {
				t.Fatalf("orders/0 still committed at %d", o)
			}
			if o := committedOffset(t, c.addr, "twotopics", "audit", 0); o != 3 {
				t.Fatalf("audit/0 committed %d, want 3 (untouched)", o)
			}
			cliFail(t, c.addr, []string{"group", "delete-offsets", "twotopics"}, "--topic")
			cliFail(t, c.addr, []string{"group", "delete-offsets", "twotopics", "--topic", "nope"}, `unknown topic "nope"`)

			out = cli(t, c.addr, "group", "delete", "twotopics")
			if !strings.Contains(out, "deleted group twotopics") {
				t.Fatalf("delete: %q", out)
			}
			if strings.Contains(cli(t, c.addr, "group", "list"), "twotopics") {
				t.Fatal("deleted group still listed")
			}
			cliFail(t, c.addr, []string{"group", "delete", "twotopics"}, `unknown group "twotopics"`)

			activeMember(t, c.addr, "busy", "orders", "busy-consumer")
			cliFail(t, c.addr, []string{"group", "delete", "busy"}, `group "busy" still has members`, "stop its consumers")
			cliFail(t, c.addr, []string{"group", "delete-offsets", "busy", "--topic", "orders"}, `"busy" is consuming "orders"`)
		})
	}
}
