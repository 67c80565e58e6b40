package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestProduceConsume(t *testing.T) {
	for _, c := range clusters(t) {
		t.Run(c.name, func(t *testing.T) {
			cli(t, c.addr, "topic", "create", "events", "--partitions", "2")
			out, errOut, err := cliRun(t, c.addr, "k1:hello\nk2:wor:ld\nnokey\n", "produce", "events", "-k", ":", "-H", "src=test", "-H", "n=1", "-p", "0")
			if err != nil || !strings.Contains(out, "produced 3 record(s) to events") {
				t.Fatalf("produce: %v %q %q", err, out, errOut)
			}
			out, _, err = cliRun(t, c.addr, "x\ny\n", "produce", "events", "-p", "1", "--output", "json")
			var pr struct {
				Topic      string           `json:"topic"`
				Records    int64            `json:"records"`
				Partitions map[string]int64 `json:"partitions"`
			}
			if err != nil || json.Unmarshal([]byte(out), &pr) != nil || pr.Records != 2 || pr.Partitions["1"] != 2 {
				t.Fatalf("produce json: %v %q", err, out)
			}

			out = cli(t, c.addr, "consume", "events", "-p", "0", "--end", "--format", `%p/%o %k=%v [%h]\n`)
			want := "0/0 k1=hello [src=test,n=1]\n0/1 k2=wor:ld [src=test,n=1]\n0/2 =nokey [src=test,n=1]\n"
			if out != want {
				t.Fatalf("consume:\n%s\nwant:\n%s", out, want)
			}
			out, errOut, err = cliRun(t, c.addr, "", "consume", "events", "--end", "--output", "json")
			if err != nil || errOut != "" {
				t.Fatalf("consume: %v; stderr (must be quiet when not a terminal): %q", err, errOut)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 5 {
				t.Fatalf("consume json: %d lines\n%s", len(lines), out)
			}
			var rec map[string]any
			for _, l := range lines {
				if err := json.Unmarshal([]byte(l), &rec); err != nil {
					t.Fatalf("line %q: %v", l, err)
				}
				if rec["partition"] == 0.0 && rec["offset"] == 2.0 {
					break
				}
			}
			if rec["key"] != nil || rec["value"] != "nokey" || rec["topic"] != "events" || rec["headers"].(map[string]any)["src"] != "test" || rec["timestamp"] == nil {
				t.Fatalf("record json: %v", rec)
			}

			out = cli(t, c.addr, "consume", "events", "-p", "0", "--from", "1", "--count", "1", "--format", `%o:%v\n`)
			if out != "1:wor:ld\n" {
				t.Fatalf("consume --from 1: %q", out)
			}
			if out = cli(t, c.addr, "consume", "events", "--from", "newest", "--end"); out != "" {
				t.Fatalf("consume --from newest --end: %q", out)
			}
			if out = cli(t, c.addr, "consume", "events", "--from", "1h", "--end", "--format", `%v\n`); strings.Count(out, "\n") != 5 {
				t.Fatalf("consume --from 1h: %q", out)
			}
			cliFail(t, c.addr, []string{"consume", "events", "-p", "0", "--from", "9", "--end"}, "--from 9 is outside events/0 [0, 3]")
			cliFail(t, c.addr, []string{"consume", "events", "--from", "yesterday"}, `--from "yesterday"`)
			cliFail(t, c.addr, []string{"consume", "nope", "--end"}, `unknown topic "nope"`)
			cliFail(t, c.addr, []string{"produce", "nope"}, `unknown topic "nope"`)
			cliFail(t, c.addr, []string{"produce", "events", "-H", "novalue"}, `--header "novalue"`)
			cliFail(t, c.addr, []string{"consume", "events", "-g", "g", "-p", "0"}, "--partition and --group cannot be combined")

			// As a group member: prints and commits what it printed, and a
			// second run resumes from the commit even with --from oldest.
			out = cli(t, c.addr, "consume", "events", "-g", "reader", "--from", "oldest", "--count", "2", "--format", `%p/%o\n`)
			if strings.Count(out, "\n") != 2 {
				t.Fatalf("group consume: %q", out)
			}
			total := committedOffset(t, c.addr, "reader", "events", 0) + committedOffset(t, c.addr, "reader", "events", 1)
			if total < 1 {
				t.Fatalf("group consume committed nothing")
			}
			out = cli(t, c.addr, "consume", "events", "-g", "reader", "--from", "oldest", "--end", "--format", `%p/%o\n`)
			if n := strings.Count(out, "\n"); n != 3 {
				t.Fatalf("second group consume read %d records, want the 3 left:\n%s", n, out)
			}
		})
	}
}
