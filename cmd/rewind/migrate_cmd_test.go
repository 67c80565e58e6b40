package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

	out = cli(t, src, "migrate", "--to", dst, "--state", state, "--execute", "--output", "json")
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

	if _, _, err := cliRun(t, src, "", "migrate"); err == nil || !strings.Contains(err.Error(), "--to is required") {
		t.Fatalf("without --to: %v", err)
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
