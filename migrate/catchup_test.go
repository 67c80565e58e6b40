package migrate_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/kafkaref"
	"github.com/rewindhq/rewind/migrate"
	"github.com/rewindhq/rewind/offsettool/txntest"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMigrateCatchUpToKafka migrates in runs while the source is in use:
// a records-only run while a group is active, records produced after it,
// a run that copies only those and moves the group, more records and
// group progress on the source, and a last run that copies the rest and
// commits the group's new position. On the three-node Kafka every record
// is there once, and the franz-go group reads exactly what it had not
// read on the source.
func TestMigrateCatchUpToKafka(t *testing.T) {
	k := kafkaref.StartNodes(t, 3)
	ctx := tctx(t, 4*time.Minute)
	src := rewindtest.Start(t).Addr()
	cl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const parts = 3
	topic := fmt.Sprintf("catchup-%x", time.Now().UnixNano())
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, parts, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	all := map[string]bool{}
	next := make([]int, parts)
	produceMore := func(n int) {
		for p := int32(0); p < parts; p++ {
			produce(t, ctx, cl, topic, p, next[p], n)
			for i := next[p]; i < next[p]+n; i++ {
				all[fmt.Sprintf("%s-%d-%d", topic, p, i)] = true
			}
			next[p] += n
		}
	}
	produceMore(300)
	var read []string
	read = append(read, consumeGroup(t, ctx, src, "app", topic, 200)...)

	m := newMigrator(src, k.Bootstrap())
	m.Options.ReplicationFactor = 3
	statePath := filepath.Join(t.TempDir(), "state.json")

	// Run 1, records only, while a member of app is in the group on the
	// source and a transaction is open there.
	member := client(t, src, kgo.ConsumerGroup("app"), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit())
	for {
		if l, err := kadm.NewClient(cl).DescribeGroups(ctx, "app"); err == nil && l["app"].State == "Stable" {
			break
		}
		member.PollRecords(ctx, 1) // joins; nothing is committed
	}
	open := txntest.Txn(t, src, "catchup-open", topic, 1, 4, txntest.Open, "", nil)
	st, _ := migrate.LoadState(statePath)
	if _, err := m.Execute(ctx, st); !errors.Is(err, migrate.ErrActiveGroups) {
		t.Fatalf("a run that moves groups while app is active: %v, want ErrActiveGroups", err)
	}
	m.Options.RecordsOnly = true
	st, _ = migrate.LoadState(statePath)
	plan, err := m.Execute(ctx, st)
	if err != nil {
		t.Fatalf("records-only run: %v", err)
	}
	if len(plan.Groups) != 0 {
		t.Fatalf("a records-only run planned groups: %+v", plan.Groups)
	}
	if l, err := kadm.NewClient(client(t, k.Bootstrap())).FetchOffsets(ctx, "app"); err == nil && len(l) > 0 {
		t.Fatalf("a records-only run committed app on the target: %v", l)
	}
	if err := open.Client.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		all[fmt.Sprintf("catchup-open-%d", i)] = true
	}
	member.Close()

	// Run 2: only what came since is copied, and app moves.
	produceMore(100)
	read = append(read, consumeGroup(t, ctx, src, "app", topic, 250)...)
	m.Options.RecordsOnly = false
	st, _ = migrate.LoadState(statePath)
	before := copiedSoFar(st)
	if plan, err = m.Plan(ctx, st); err != nil {
		t.Fatal(err)
	}
	// 100 per partition, the 4 committed records and the marker.
	if n := plan.Topics[0].ToCopy(); n != parts*100+5 {
		t.Errorf("run 2 plans to copy %d offsets, want %d (only what came since)\n%s", n, parts*100+5, plan)
	}
	if plan, err = m.Execute(ctx, st); err != nil {
		t.Fatalf("run 2: %v", err)
	}
	if got := copiedSoFar(st) - before; got != parts*100+4 {
		t.Errorf("run 2 copied %d records, want %d", got, parts*100+4)
	}
	verify(t, m, plan)

	// Run 3, after app read more on the source: its new position moves.
	produceMore(50)
	read = append(read, consumeGroup(t, ctx, src, "app", topic, 120)...)
	st, _ = migrate.LoadState(statePath)
	if plan, err = m.Execute(ctx, st); err != nil {
		t.Fatalf("run 3: %v", err)
	}
	rep := verify(t, m, plan)
	for _, p := range rep.Partitions {
		if p.TargetRecords != p.SourceRecords {
			t.Errorf("%s/%d: %d records on the target, %d on the source", p.Topic, p.Partition, p.TargetRecords, p.SourceRecords)
		}
	}

	after := consumeGroup(t, ctx, k.Bootstrap(), "app", topic, len(all)-len(read))
	seen := map[string]int{}
	for _, v := range append(read, after...) {
		seen[v]++
	}
	for v := range all {
		if seen[v] != 1 {
			t.Errorf("record %s read %d times across the move", v, seen[v])
		}
	}
	lag, err := kadm.NewClient(client(t, k.Bootstrap())).Lag(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if tot := lag["app"].Lag.Total(); tot != 0 {
		t.Errorf("group app has lag %d on Kafka after reading everything", tot)
	}

	// app consumes on Kafka now: a run that would commit its (changed)
	// source position again refuses to move it back.
	commit(t, ctx, src, "app", map[string]map[int32]int64{topic: {0: 10}})
	st, _ = migrate.LoadState(statePath)
	if _, err := m.Execute(ctx, st); !errors.Is(err, migrate.ErrGroupMovedOnTarget) {
		t.Fatalf("a run after app consumed on the target: %v, want ErrGroupMovedOnTarget", err)
	}
}

func copiedSoFar(st *migrate.State) int64 {
	var n int64
	for _, ps := range st.Partitions {
		n += ps.Copied
	}
	return n
}

func verify(t *testing.T, m *migrate.Migrator, plan *migrate.Plan) *migrate.Report {
	t.Helper()
	rep, err := m.Verify(tctx(t, time.Minute), plan)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		b, _ := json.MarshalIndent(rep, "", " ")
		t.Fatalf("verification failed:\n%s", b)
	}
	return rep
}
