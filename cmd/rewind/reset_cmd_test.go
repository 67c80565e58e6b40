package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestGroupReset(t *testing.T) {
	for _, c := range clusters(t) {
		t.Run(c.name, func(t *testing.T) {
			seedTopic(t, c.addr, "orders", 2, 10)
			commitOffsets(t, c.addr, "svc", "orders", 5, 5)
			committed := func() [2]int64 {
				return [2]int64{committedOffset(t, c.addr, "svc", "orders", 0), committedOffset(t, c.addr, "svc", "orders", 1)}
			}
			unchanged := func(want [2]int64) {
				t.Helper()
				if got := committed(); got != want {
					t.Fatalf("committed offsets %v, want %v", got, want)
				}
			}

			// Dry run: a plan, nothing changed.
			out := cli(t, c.addr, "group", "reset", "svc", "--topic", "orders", "--to-earliest")
			if !strings.Contains(out, "Dry run for group svc: nothing changed. Add --execute to apply.") {
				t.Fatalf("dry run:\n%s", out)
			}
			wantFields(t, tableRow(t, out, "TOPIC"), "TOPIC", "PARTITION", "CURRENT", "NEW", "LOG-START", "LOG-END", "EFFECT")
			wantFields(t, tableRow(t, out, "orders", "0"), "orders", "0", "5", "0", "0", "10", "replays", "5")
			wantFields(t, tableRow(t, out, "orders", "1"), "orders", "1", "5", "0", "0", "10", "replays", "5")
			unchanged([2]int64{5, 5})
			var plan struct {
				Group    string `json:"group"`
				Target   string `json:"target"`
				Executed bool   `json:"executed"`
				Rows     []struct {
					Topic     string `json:"topic"`
					Partition int32  `json:"partition"`
					Current   int64  `json:"current"`
					New       int64  `json:"new"`
					LogStart  int64  `json:"log_start"`
					LogEnd    int64  `json:"log_end"`
					Replays   int64  `json:"replays"`
					Skips     int64  `json:"skips"`
					Effect    string `json:"effect"`
					Clamped   bool   `json:"clamped"`
				} `json:"partitions"`
			}
			cliJSON(t, c.addr, &plan, "group", "reset", "svc", "--topic", "orders:1", "--to-latest")
			if plan.Group != "svc" || plan.Target != "to-latest" || plan.Executed || len(plan.Rows) != 1 ||
				plan.Rows[0].Partition != 1 || plan.Rows[0].New != 10 || plan.Rows[0].Skips != 5 || plan.Rows[0].Effect != "skips 5" {
				t.Fatalf("plan json: %+v", plan)
			}

			// Bad input: one line, non-zero, nothing changed.
			bad := []struct {
				args []string
				want []string
			}{
				{[]string{"--topic", "orders", "--to-earliest", "--to-latest"}, []string{"--to-earliest and --to-latest conflict", "exactly one"}},
				{[]string{"--topic", "orders", "--to-offset", "3", "--shift-by", "-1", "--execute"}, []string{"--to-offset and --shift-by conflict"}},
				{[]string{"--topic", "orders", "--execute"}, []string{"choose one reset target"}},
				{[]string{"--to-earliest", "--execute"}, []string{"--topic T[:p,p] or --all-topics"}},
				{[]string{"--topic", "orders", "--all-topics", "--to-earliest", "--execute"}, []string{"--topic and --all-topics conflict"}},
				{[]string{"--topic", "orders", "--to-offset", "50", "--execute"}, []string{"--to-offset 50 is outside the log of orders/0 [0, 10]"}},
				{[]string{"--topic", "orders", "--to-offset", "-2", "--execute"}, []string{"--to-offset -2"}},
				{[]string{"--topic", "nope", "--to-earliest", "--execute"}, []string{`unknown topic "nope"`}},
				{[]string{"--topic", "orders:7", "--to-earliest", "--execute"}, []string{`topic "orders" has no partition 7`}},
				{[]string{"--topic", "orders", "--to-datetime", "yesterday", "--execute"}, []string{`--to-datetime "yesterday"`, "RFC 3339"}},
				{[]string{"--topic", "orders", "--to-earliest", "--dry-run", "--execute"}, []string{"--dry-run and --execute conflict"}},
				{[]string{"--topic", "orders", "--from-file", "/nonexistent.csv", "--execute"}, []string{"--from-file and --topic"}},
			}
			for _, b := range bad {
				cliFail(t, c.addr, append([]string{"group", "reset", "svc"}, b.args...), b.want...)
			}
			cliFail(t, c.addr, []string{"group", "reset", "svc", "--from-file", "/nonexistent.csv", "--execute"}, "--from-file", "no such file")
			unchanged([2]int64{5, 5})

			// Each target, executed.
			out = cli(t, c.addr, "group", "reset", "svc", "--topic", "orders", "--to-offset", "7", "--execute")
			if !strings.Contains(out, "Reset group svc: the new offsets are committed.") {
				t.Fatalf("execute:\n%s", out)
			}
			wantFields(t, tableRow(t, out, "orders", "0"), "orders", "0", "5", "7", "0", "10", "skips", "2")
			unchanged([2]int64{7, 7})

			out = cli(t, c.addr, "group", "reset", "svc", "--topic", "orders:0", "--shift-by", "-100", "--execute")
			wantFields(t, tableRow(t, out, "orders", "0"), "orders", "0", "7", "0", "0", "10", "replays", "7", "(clamped", "to", "log", "start", "0)")
			unchanged([2]int64{0, 7})

			out = cli(t, c.addr, "group", "reset", "svc", "--all-topics", "--to-datetime", time.Now().Add(time.Hour).Format(time.RFC3339), "--execute")
			wantFields(t, tableRow(t, out, "orders", "0"), "orders", "0", "0", "10", "0", "10", "skips", "10")
			unchanged([2]int64{10, 10})

			out = cli(t, c.addr, "group", "reset", "svc", "--all-topics", "--by-duration", "1h", "--execute")
			wantFields(t, tableRow(t, out, "orders", "1"), "orders", "1", "10", "0", "0", "10", "replays", "10")
			unchanged([2]int64{0, 0})

			csv := filepath.Join(t.TempDir(), "offsets.csv")
			os.WriteFile(csv, []byte("orders,0,2\norders,1,3\n"), 0o644)
			out = cli(t, c.addr, "group", "reset", "svc", "--from-file", csv, "--execute")
			wantFields(t, tableRow(t, out, "orders", "1"), "orders", "1", "0", "3", "0", "10", "skips", "3")
			unchanged([2]int64{2, 3})
			os.WriteFile(csv, []byte("orders,0,99\n"), 0o644)
			cliFail(t, c.addr, []string{"group", "reset", "svc", "--from-file", csv, "--execute"}, "--from-file offset 99 is outside the log of orders/0 [0, 10]")
			unchanged([2]int64{2, 3})

			// A group that does not exist yet can be given a start.
			out = cli(t, c.addr, "group", "reset", "newgroup", "--topic", "orders", "--to-earliest", "--execute")
			if !strings.Contains(out, "Group newgroup did not exist: it now does, with these offsets.") {
				t.Fatalf("new group:\n%s", out)
			}
			wantFields(t, tableRow(t, out, "orders", "0"), "orders", "0", "-", "0", "0", "10", "no", "commit", "yet;", "reads", "10")
			if o := committedOffset(t, c.addr, "newgroup", "orders", 1); o != 0 {
				t.Fatalf("newgroup committed %d", o)
			}
			cliFail(t, c.addr, []string{"group", "reset", "nobody", "--all-topics", "--to-earliest"}, `unknown group "nobody"`, "--topic")

			// Refused while members are active, naming them.
			activeMember(t, c.addr, "svc", "orders", "live-consumer")
			out = cli(t, c.addr, "group", "reset", "svc", "--topic", "orders", "--to-earliest")
			if !strings.Contains(out, "1 active member(s); --execute is refused until they stop") {
				t.Errorf("dry run with members:\n%s", out)
			}
			cliFail(t, c.addr, []string{"group", "reset", "svc", "--topic", "orders", "--to-earliest", "--execute"},
				`group "svc" is Stable with 1 active member(s) (live-consumer on`, "stop these consumers")
			unchanged([2]int64{2, 3})
		})
	}
}
