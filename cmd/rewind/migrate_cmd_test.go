package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/migrate"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMigrateCLI: the dry run prints the plan and writes nothing;
// --execute copies, commits the translated offsets and verifies, and a
// second --execute finds nothing left to do.
func TestMigrateCLI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src, dst := rewindtest.Start(t).Addr(), rewindtest.Start(t).Addr()
	cl, err := kgo.NewClient(kgo.SeedBrokers(src), kgo.DefaultProduceTopic("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, "orders"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte('a' + i%26)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// The log starts at 10 on the source: the group's 25 becomes 15.
	del := kadm.Offsets{}
	del.AddOffset("orders", 0, 10, -1)
	if _, err := adm.DeleteRecords(ctx, del); err != nil {
		t.Fatal(err)
	}
	off := kadm.Offsets{}
	off.AddOffset("orders", 0, 25, -1)
	if _, err := adm.CommitOffsets(ctx, "billing", off); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "state.json")

	out := cli(t, src, "migrate", "--to", dst, "--state", state)
	for _, want := range []string{"topic orders: 1 partitions, 20 records, target create, configs retention.ms=3600000", "group billing (Empty)", "orders/0: 25 -> 15 (estimated)", "dry run: nothing was written"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if l, _ := kadm.NewClient(mustClient(t, dst)).ListTopics(ctx); len(l) != 0 {
		t.Fatalf("the dry run created %v", l.Names())
	}

	out, progress, err := cliRun(t, src, "", "migrate", "--to", dst, "--state", state, "--execute", "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	checkProgressEvents(t, progress, 20)
	var res struct {
		Executed     bool `json:"executed"`
		Verification struct {
			Partitions []struct {
				TargetRecords int64 `json:"target_records"`
				OK            bool  `json:"ok"`
			} `json:"partitions"`
			Groups []struct {
				Target int64 `json:"target_offset"`
				OK     bool  `json:"ok"`
			} `json:"groups"`
		} `json:"verification"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	v := res.Verification
	if !res.Executed || len(v.Partitions) != 1 || !v.Partitions[0].OK || v.Partitions[0].TargetRecords != 20 ||
		len(v.Groups) != 1 || !v.Groups[0].OK || v.Groups[0].Target != 15 {
		t.Fatalf("execute: %s", out)
	}
	fetched, err := kadm.NewClient(mustClient(t, dst)).FetchOffsets(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := fetched.Lookup("orders", 0); o.At != 15 {
		t.Fatalf("billing on the target at %d, want 15", o.At)
	}
	out = cli(t, src, "migrate", "--to", dst, "--state", state, "--execute")
	if !strings.Contains(out, "verified: every partition and every group's next record match") {
		t.Fatalf("second run:\n%s", out)
	}

	// Catch-up: 7 records produced since are all a records-only run
	// copies, while a consumer of billing is active on the source.
	for i := 0; i < 7; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("late")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	member, err := kgo.NewClient(kgo.SeedBrokers(src), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	for {
		if d, err := adm.DescribeGroups(ctx, "billing"); err == nil && d["billing"].State == "Stable" {
			break
		}
		member.PollRecords(ctx, 1)
	}
	cliFail(t, src, []string{"migrate", "--to", dst, "--state", state, "--execute"}, "groups are active on the source", "billing")
	out = cli(t, src, "migrate", "--to", dst, "--state", state, "--records-only")
	for _, want := range []string{"topic orders: 1 partitions, 27 records, target resume (20 copied by earlier runs, 7 to copy)", "records only: no group moves"} {
		if !strings.Contains(out, want) {
			t.Errorf("records-only dry run lacks %q:\n%s", want, out)
		}
	}
	out, progress, err = cliRun(t, src, "", "migrate", "--to", dst, "--state", state, "--execute", "--records-only", "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	checkProgressEvents(t, progress, 7)
	member.Close()
	out = cli(t, src, "migrate", "--to", dst, "--state", state, "--execute")
	if !strings.Contains(out, "verified: every partition and every group's next record match") {
		t.Fatalf("run after the records-only one:\n%s", out)
	}

	if _, _, err := cliRun(t, src, "", "migrate"); err == nil || !strings.Contains(err.Error(), "--to is required") {
		t.Fatalf("without --to: %v", err)
	}
}

// checkProgressEvents checks --output json progress on stderr: one JSON
// object per line, the last one the end of a copy of copied records.
func checkProgressEvents(t *testing.T, stderr string, copied int64) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	var last progressEvent
	for _, l := range lines {
		if err := json.Unmarshal([]byte(l), &last); err != nil {
			t.Fatalf("progress line %q is not JSON: %v\n%s", l, err, stderr)
		}
	}
	if last.Event != "copied" || last.Copied != copied || last.Percent != 100 || last.Bytes <= 0 {
		t.Fatalf("last progress event %+v, want copied with %d records:\n%s", last, copied, stderr)
	}
}

func mustClient(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestMigrateProgressRendering: a bar with the rates on a terminal, a
// plain line at most every plainEvery otherwise (and always at the end).
func TestMigrateProgressRendering(t *testing.T) {
	clock := time.Unix(1000, 0)
	now := func() time.Time { return clock }
	var tty strings.Builder
	mp := newMigrateProgress(&tty, true, false)
	mp.now, mp.start = now, clock
	clock = clock.Add(2 * time.Second)
	mp.Report(migrate.Progress{Copied: 500, Total: 1000, Bytes: 2 << 20})
	want := "\r\033[K[###############...............]  50.0%  500 of 1000 records, 2.0 MiB, 250 records/s, 1.0 MiB/s, about 2s left"
	if tty.String() != want {
		t.Errorf("terminal:\n%q\nwant\n%q", tty.String(), want)
	}

	var plain strings.Builder
	mp = newMigrateProgress(&plain, false, false)
	mp.now, mp.start = now, clock
	for i := 1; i <= 30; i++ {
		clock = clock.Add(time.Second)
		mp.Report(migrate.Progress{Copied: int64(i) * 100, Total: 3000, Bytes: int64(i) * 1000})
	}
	mp.Report(migrate.Progress{Copied: 3000, Total: 3000, Bytes: 30000, Done: true})
	got := strings.Split(strings.TrimRight(plain.String(), "\n"), "\n")
	if len(got) != 4 || !strings.HasPrefix(got[0], "  3.3%  100 of 3000 records") ||
		!strings.HasPrefix(got[3], "100.0%  3000 of 3000 records, 29.3 KiB, 100 records/s, 1000 B/s, copied in 30s") {
		t.Errorf("plain lines (one every 10 s and the last):\n%s", plain.String())
	}
}
