package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/admin"
	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/rewindhq/rewind/offsettool"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupHistoryRedoFetched: member a of a classic group reads the 10
// records of a partition, commits 4 and leaves; 5 more are written and b
// takes the partition over. `group history --rebalances` over the Kafka
// protocol alone gives the bound (11) and says the exact count needs the
// broker; with --http, the broker's admin listener, it gives the 6
// records a had fetched past its commit.
func TestGroupHistoryRedoFetched(t *testing.T) {
	b := rewindtest.Start(t)
	srv := admin.New(b.AdminAPI(), admin.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	addr, topic, group := b.Addr(), "rf-orders", "rf-svc"
	seedTopic(t, addr, topic, 1, 10)
	member := func(id string, n int) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(id), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for got := 0; got < n; {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("%s polled %d records of %d", id, got, n)
			}
			got += fs.NumRecords()
		}
		return cl
	}
	a := member("a", 10)
	proctest.CommitAsMember(t, a, topic, 0, 4)
	a.Close()
	if _, errOut, err := cliRun(t, addr, "1\n2\n3\n4\n5\n", "produce", topic, "--partition", "0"); err != nil {
		t.Fatalf("produce: %v %s", err, errOut)
	}
	member("b", 11)

	type move struct {
		FromClient  string `json:"from_client"`
		ToClient    string `json:"to_client"`
		Committed   int64  `json:"committed"`
		Redo        int64  `json:"redo_at_most"`
		RedoFetched int64  `json:"redo_fetched"`
		Note        string `json:"redo_fetched_note"`
	}
	moveAB := func(args ...string) move {
		t.Helper()
		var rbs []struct {
			Moved []move `json:"moved"`
		}
		cliJSON(t, addr, &rbs, append([]string{"group", "history", group, "--rebalances"}, args...)...)
		for _, r := range rbs {
			for _, m := range r.Moved {
				if m.FromClient == "a" && m.ToClient == "b" {
					return m
				}
			}
		}
		t.Fatalf("no move from a to b: %+v", rbs)
		return move{}
	}
	if m := moveAB(); m.Committed != 4 || m.Redo != 11 || m.RedoFetched != -1 || m.Note != offsettool.NoteKafkaFetches {
		t.Errorf("over the Kafka protocol: %+v (want committed 4, redo_at_most 11, redo_fetched -1 and why)", m)
	}
	if out := cli(t, addr, "group", "history", group, "--rebalances"); !strings.Contains(out, "redo≤ 11") || !strings.Contains(out, "fetched -") ||
		!strings.Contains(out, "known only to a Rewind broker") {
		t.Errorf("table over the Kafka protocol:\n%s", out)
	}
	if m := moveAB("--http", srv.Addr()); m.Committed != 4 || m.Redo != 11 || m.RedoFetched != 6 {
		t.Errorf("with --http: %+v (want committed 4, redo_at_most 11, redo_fetched 6)", m)
	}
	out := cli(t, addr, "group", "history", group, "--rebalances", "--http", srv.Addr())
	t.Logf("with --http:\n%s", out)
	if !strings.Contains(out, "redo≤ 11") || !strings.Contains(out, "fetched 6") ||
		strings.Contains(out, "known only to a Rewind broker") {
		t.Errorf("table with --http:\n%s", out)
	}
}
