package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A group seeded by `reset --execute` a moment ago has one commit per
// partition: its window spans no time, and Burrow's rules would call it
// STOP as soon as a millisecond passes. It is NEW, not an error.
func TestDescribeSeededGroupIsNew(t *testing.T) {
	addr := rewindtest.Start(t).Addr()
	seedTopic(t, addr, "orders", 1, 10)
	cli(t, addr, "group", "reset", "seeded", "--topic", "orders", "--to-offset", "3", "--execute")
	time.Sleep(50 * time.Millisecond)
	var d struct {
		Status     string `json:"status"`
		Partitions []struct {
			Status       string `json:"status"`
			StatusReason string `json:"status_reason"`
		} `json:"partitions"`
	}
	cliJSON(t, addr, &d, "group", "describe", "seeded")
	if d.Status != "NEW" || len(d.Partitions) != 1 || d.Partitions[0].Status != "NEW" ||
		!strings.Contains(d.Partitions[0].StatusReason, "one commit so far") {
		t.Fatalf("describe of a group seeded 50ms ago: %+v, want NEW", d)
	}
	out := cli(t, addr, "group", "describe", "seeded")
	if strings.Contains(out, "ERR") || strings.Contains(out, "STOP") {
		t.Fatalf("describe calls a freshly seeded group an error:\n%s", out)
	}
	wantFields(t, tableRow(t, out, "seeded"), "seeded", "Empty", "-", "0", "NEW")
}

// A group whose member consumed and left without committing (the README's
// MarkMessage mistake) is not a dead end: explain says what happened and
// explains the topics the member subscribed to, from the generation
// __consumer_offsets kept; describe says so too. An unknown group's hint
// says when Kafka and Rewind remove a group without offsets.
func TestExplainGroupThatNeverCommitted(t *testing.T) {
	addr := rewindtest.Start(t).Addr()
	seedTopic(t, addr, "orders", 2, 5)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("nomark"), kgo.ConsumeTopics("orders"),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for n := 0; n < 10 && ctx.Err() == nil; {
		n += cl.PollFetches(ctx).NumRecords()
	}
	cl.Close() // leaves the group, nothing committed
	waitGroupState(t, addr, "nomark", "Empty", 0)

	out := cli(t, addr, "group", "explain", "nomark")
	for _, want := range []string{"never committed an offset", "subscribed to orders", "generation 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
	wantFields(t, tableRow(t, out, "orders", "0"), "orders", "0", "-", "0", "5", "5", "0", "5", "no-commit-newest")
	wantFields(t, tableRow(t, out, "orders", "1"), "orders", "1", "-", "0", "5", "5", "0", "5", "no-commit-newest")

	out = cli(t, addr, "group", "describe", "nomark")
	if strings.Contains(out, "NOTFOUND") || !strings.Contains(out, "never committed an offset") ||
		!strings.Contains(out, "rewind group explain nomark") {
		t.Errorf("describe of a group that never committed:\n%s", out)
	}

	cliFail(t, addr, []string{"group", "describe", "nobody"}, `unknown group "nobody"`,
		"stays listed as Empty", "offsets.retention.check.interval.ms")
}

// Explain says what the broker knows of the records before a commit: the
// group read them or skipped them by its initial policy, not "consumed".
func TestExplainRecordsBeforeTheCommit(t *testing.T) {
	addr := rewindtest.Start(t).Addr()
	seedTopic(t, addr, "orders", 1, 23)
	commitOffsets(t, addr, "svc", "orders", 22)
	out := cli(t, addr, "group", "explain", "svc")
	if strings.Contains(out, "consumed already") || !strings.Contains(out, "(offsets 0-21) are behind the committed offset: the group read them, or skipped them") {
		t.Fatalf("explain of records before the commit:\n%s", out)
	}
}
