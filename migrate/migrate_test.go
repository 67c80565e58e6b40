package migrate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/kafkaref"
	"github.com/rewindhq/rewind/migrate"
	"github.com/rewindhq/rewind/offsettool/txntest"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMain stops the Apache Kafka cluster the tests started.
func TestMain(m *testing.M) { os.Exit(kafkaref.Main(m)) }

func tctx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func client(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(strings.Split(addr, ",")...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

var tsBase = time.Now().Add(-time.Hour).Truncate(time.Millisecond)

// produce writes n records to topic/partition with keys, headers and
// timestamps a copy must keep.
func produce(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, part int32, from, n int) {
	t.Helper()
	var rs []*kgo.Record
	for i := from; i < from+n; i++ {
		rs = append(rs, &kgo.Record{
			Topic: topic, Partition: part,
			Key:     []byte(fmt.Sprintf("k%d", i%7)),
			Value:   []byte(fmt.Sprintf("%s-%d-%d", topic, part, i)),
			Headers: []kgo.RecordHeader{{Key: "i", Value: []byte(fmt.Sprint(i))}},
			// Recent: records older than retention.ms (7 days by
			// default) are deleted by Kafka's retention on the target,
			// its active segment included.
			Timestamp: tsBase.Add(time.Duration(i) * time.Millisecond),
		})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// values reads a partition from offset to its end (read_committed) and
// returns the values.
func values(t *testing.T, ctx context.Context, addr, topic string, part int32, from int64) []string {
	t.Helper()
	adm := kadm.NewClient(client(t, addr))
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, part)
	if from >= end.Offset {
		return nil
	}
	cl := client(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {part: kgo.NewOffset().At(from)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	var out []string
	for {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("read %s/%d: %v", topic, part, err)
		}
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				out = append(out, string(r.Value))
			}
			if r.Offset+1 >= end.Offset {
				done = true
			}
		})
		if done {
			return out
		}
	}
}

func commit(t *testing.T, ctx context.Context, addr, group string, offs map[string]map[int32]int64) {
	t.Helper()
	adm := kadm.NewClient(client(t, addr))
	o := kadm.Offsets{}
	for topic, ps := range offs {
		for p, at := range ps {
			o.Add(kadm.Offset{Topic: topic, Partition: p, At: at, LeaderEpoch: -1, Metadata: "m-" + group})
		}
	}
	r, err := adm.CommitOffsets(ctx, group, o)
	if err == nil {
		err = r.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
}

func newMigrator(src, dst string) *migrate.Migrator {
	return &migrate.Migrator{
		Source: []kgo.Opt{kgo.SeedBrokers(strings.Split(src, ",")...)},
		Target: []kgo.Opt{kgo.SeedBrokers(strings.Split(dst, ",")...)},
	}
}

// seed fills src with the cases a translation must get right and returns
// each group's expected next value per partition ("" at the end).
func seed(t *testing.T, ctx context.Context, src string) map[string]map[string]string {
	cl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(cl)
	for _, tc := range []struct {
		topic string
		parts int32
		cfg   map[string]*string
	}{
		{"plain", 3, map[string]*string{"retention.ms": kadm.StringPtr("86400000")}},
		{"trimmed", 1, nil},
		{"txns", 1, nil},
	} {
		if _, err := adm.CreateTopic(ctx, tc.parts, 1, tc.cfg, tc.topic); err != nil {
			t.Fatal(err)
		}
	}
	for p := int32(0); p < 3; p++ {
		produce(t, ctx, cl, "plain", p, 0, 50+int(p)*10)
	}
	// trimmed: the log starts at 20 on the source, at 0 on the target.
	produce(t, ctx, cl, "trimmed", 0, 0, 40)
	del := kadm.Offsets{}
	del.AddOffset("trimmed", 0, 20, -1)
	if _, err := adm.DeleteRecords(ctx, del); err != nil {
		t.Fatal(err)
	}
	// txns: plain records, a committed transaction, an aborted one, more
	// plain records; markers and the aborted records shift every offset
	// after them.
	produce(t, ctx, cl, "txns", 0, 0, 5)
	txntest.Txn(t, src, "mig-commit", "txns", 0, 4, txntest.Commit, "", nil)
	txntest.Txn(t, src, "mig-abort", "txns", 0, 3, txntest.Abort, "", nil)
	produce(t, ctx, cl, "txns", 0, 100, 6)

	commit(t, ctx, src, "middle", map[string]map[int32]int64{"plain": {0: 10, 1: 25, 2: 70}})
	commit(t, ctx, src, "behind", map[string]map[int32]int64{"trimmed": {0: 5}})
	commit(t, ctx, src, "trimmed-mid", map[string]map[int32]int64{"trimmed": {0: 30}})
	// 5 plain + 4 committed + marker at 9, 3 aborted at 10-12 and their
	// marker at 13: offset 11 is inside the aborted transaction, so the
	// group's next record is the first plain one after it (offset 14).
	commit(t, ctx, src, "in-abort", map[string]map[int32]int64{"txns": {0: 11}})
	commit(t, ctx, src, "after-commit", map[string]map[int32]int64{"txns": {0: 9}})
	commit(t, ctx, src, "at-end", map[string]map[int32]int64{"plain": {0: 50}, "txns": {0: 20}})

	want := map[string]map[string]string{}
	for _, g := range []string{"middle", "behind", "trimmed-mid", "in-abort", "after-commit", "at-end"} {
		want[g] = map[string]string{}
		fetched, err := adm.FetchOffsets(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		fetched.Each(func(o kadm.OffsetResponse) {
			vs := values(t, ctx, src, o.Topic, o.Partition, o.At)
			if o.At < 20 && o.Topic == "trimmed" {
				vs = values(t, ctx, src, o.Topic, o.Partition, 20)
			}
			next := ""
			if len(vs) > 0 {
				next = vs[0]
			}
			want[g][fmt.Sprintf("%s/%d", o.Topic, o.Partition)] = next
		})
	}
	return want
}

// nextValues returns, per partition of each group on addr, the value at
// its committed offset ("" at the end).
func nextValues(t *testing.T, ctx context.Context, addr string, groups map[string]map[string]string) map[string]map[string]string {
	adm := kadm.NewClient(client(t, addr))
	got := map[string]map[string]string{}
	for g := range groups {
		got[g] = map[string]string{}
		fetched, err := adm.FetchOffsets(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		fetched.Each(func(o kadm.OffsetResponse) {
			vs := values(t, ctx, addr, o.Topic, o.Partition, o.At)
			next := ""
			if len(vs) > 0 {
				next = vs[0]
			}
			got[g][fmt.Sprintf("%s/%d", o.Topic, o.Partition)] = next
		})
	}
	return got
}

func checkNext(t *testing.T, want, got map[string]map[string]string) {
	t.Helper()
	for g, ps := range want {
		for p, v := range ps {
			if got[g][p] != v {
				t.Errorf("group %s %s: next record on the target %q, on the source %q", g, p, got[g][p], v)
			}
		}
	}
}

func TestMigrateTranslatesEveryGroup(t *testing.T) {
	ctx := tctx(t, 2*time.Minute)
	src, dst := rewindtest.Start(t).Addr(), rewindtest.Start(t).Addr()
	want := seed(t, ctx, src)
	m := newMigrator(src, dst)

	plan, err := m.Plan(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Topics) != 3 || len(plan.Groups) != 6 {
		t.Fatalf("plan: %d topics, %d groups:\n%s", len(plan.Topics), len(plan.Groups), plan)
	}
	// A plan writes nothing.
	if l, err := kadm.NewClient(client(t, dst)).ListTopics(ctx); err != nil || len(l) != 0 {
		t.Fatalf("the dry run created topics on the target: %v %v", l.Names(), err)
	}

	st, err := migrate.LoadState(filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	plan, err = m.Execute(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	exact := map[string]int64{}
	for _, g := range plan.Groups {
		for _, o := range g.Offsets {
			if !o.Exact {
				t.Errorf("group %s %s/%d: translation not exact after Execute", g.Group, o.Topic, o.Partition)
			}
			exact[fmt.Sprintf("%s %s/%d", g.Group, o.Topic, o.Partition)] = o.Target
		}
	}
	// Offsets a reader can check by hand: the trimmed log starts at 20 on
	// the source and at 0 on the target; in txns the committed
	// transaction's marker (9) and the aborted transaction (10-13) are
	// not copied.
	for k, v := range map[string]int64{
		"middle plain/0": 10, "behind trimmed/0": 0, "trimmed-mid trimmed/0": 10,
		"after-commit txns/0": 9, "in-abort txns/0": 9, "at-end txns/0": 15,
	} {
		if exact[k] != v {
			t.Errorf("%s translated to %d, want %d", k, exact[k], v)
		}
	}
	rep, err := m.Verify(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		b, _ := json.MarshalIndent(rep, "", " ")
		t.Fatalf("verification failed:\n%s", b)
	}
	checkNext(t, want, nextValues(t, ctx, dst, want))

	// The same run again changes nothing: everything is done.
	if _, err := m.Execute(ctx, st); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if rep, err := m.Verify(ctx, plan); err != nil || !rep.OK() {
		t.Fatalf("after a second run: %v %+v", err, rep)
	}
}

// TestMigrateResumes interrupts a copy, then loses the last saved state
// as a crash between a write and its save would, and resumes: every
// record is on the target exactly once.
func TestMigrateResumes(t *testing.T) {
	ctx := tctx(t, 2*time.Minute)
	src, dst := rewindtest.Start(t).Addr(), rewindtest.Start(t).Addr()
	cl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "big"); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 2; p++ {
		for i := 0; i < 20; i++ {
			produce(t, ctx, cl, "big", p, i*500, 500)
		}
	}
	commit(t, ctx, src, "reader", map[string]map[int32]int64{"big": {0: 7000, 1: 9999}})
	statePath := filepath.Join(t.TempDir(), "state.json")
	m := newMigrator(src, dst)
	stop, cancel := context.WithCancel(ctx)
	m.Progress = func(p migrate.Progress) {
		if p.Copied > 2000 {
			cancel()
		}
	}
	st, _ := migrate.LoadState(statePath)
	if _, err := m.Execute(stop, st); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	m.Progress = nil

	// As if the process died after writing records but before saving
	// that it did: the saved state says less was copied than the target
	// holds.
	st, err := migrate.LoadState(statePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, ps := range st.Partitions {
		ps.Done = false
		back := min(ps.TargetNext, 300)
		ps.SourceNext -= back
		ps.TargetNext -= back
		ps.Copied -= back
	}
	if err := st.Save(); err != nil {
		t.Fatal(err)
	}
	st, _ = migrate.LoadState(statePath)
	plan, err := m.Execute(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := m.Verify(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		b, _ := json.MarshalIndent(rep, "", " ")
		t.Fatalf("verification after resuming failed:\n%s", b)
	}
	for _, p := range rep.Partitions {
		if p.TargetRecords != 10000 {
			t.Errorf("%s/%d: %d records on the target, want 10000 (none twice)", p.Topic, p.Partition, p.TargetRecords)
		}
	}
}

func TestMigrateRefuses(t *testing.T) {
	ctx := tctx(t, time.Minute)
	src, dst := rewindtest.Start(t).Addr(), rewindtest.Start(t).Addr()
	cl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	produce(t, ctx, cl, "orders", 0, 0, 10)

	// A group with a live member on the source.
	member := client(t, src, kgo.ConsumerGroup("live"), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for n := 0; n < 10; {
		fs := member.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		n += fs.NumRecords()
	}
	if err := member.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	m := newMigrator(src, dst)
	st, _ := migrate.LoadState("")
	if _, err := m.Execute(ctx, st); !errors.Is(err, migrate.ErrActiveGroups) || !strings.Contains(err.Error(), "live") {
		t.Fatalf("migration with a live group: %v, want ErrActiveGroups naming it", err)
	}
	if l, _ := kadm.NewClient(client(t, dst)).ListTopics(ctx); len(l) != 0 {
		t.Fatalf("a refused migration created %v", l.Names())
	}
	member.Close()

	// A target topic that already has records.
	dcl := client(t, dst, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if _, err := kadm.NewClient(dcl).CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	produce(t, ctx, dcl, "orders", 0, 0, 1)
	if _, err := m.Execute(ctx, st); !errors.Is(err, migrate.ErrTargetNotEmpty) {
		t.Fatalf("migration into a topic with records: %v, want ErrTargetNotEmpty", err)
	}
}

// consumeGroup reads n records as a member of group (franz-go, cooperative
// sticky), commits exactly those it returns, and leaves.
func consumeGroup(t *testing.T, ctx context.Context, addr, group, topic string, n int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(addr, ",")...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []string
	for len(out) < n {
		fs := cl.PollRecords(ctx, n-len(out))
		if err := fs.Err0(); err != nil {
			t.Fatalf("group %s on %s: %v (after %d of %d records)", group, addr, err, len(out), n)
		}
		rs := fs.Records()
		for _, r := range rs {
			out = append(out, string(r.Value))
		}
		if err := cl.CommitRecords(ctx, rs...); err != nil {
			t.Fatalf("group %s on %s: commit: %v", group, addr, err)
		}
	}
	return out
}

// TestMigrateToKafkaCluster moves a topic with a franz-go group stopped
// halfway from Rewind to a three-node Apache Kafka cluster; restarted
// against Kafka the group reads exactly the records it had not read.
func TestMigrateToKafkaCluster(t *testing.T) {
	k := kafkaref.StartNodes(t, 3)
	ctx := tctx(t, 3*time.Minute)
	src := rewindtest.Start(t).Addr()
	cl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const parts, per = 6, 400
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, parts, 1, nil, "events"); err != nil {
		t.Fatal(err)
	}
	all := map[string]bool{}
	for p := int32(0); p < parts; p++ {
		produce(t, ctx, cl, "events", p, 0, per)
		for i := 0; i < per; i++ {
			all[fmt.Sprintf("events-%d-%d", p, i)] = true
		}
	}
	// A committed and an aborted transaction in partition 0 shift its
	// offsets on the way.
	txntest.Txn(t, src, "mig-c", "events", 0, 5, txntest.Commit, "", nil)
	txntest.Txn(t, src, "mig-a", "events", 0, 5, txntest.Abort, "", nil)
	for i := 0; i < 5; i++ {
		all[fmt.Sprintf("mig-c-%d", i)] = true
	}
	produce(t, ctx, cl, "events", 0, per, 20)
	for i := per; i < per+20; i++ {
		all[fmt.Sprintf("events-0-%d", i)] = true
	}

	before := consumeGroup(t, ctx, src, "app", "events", len(all)/2)

	m := newMigrator(src, k.Bootstrap())
	m.Options.ReplicationFactor = 3
	st, _ := migrate.LoadState(filepath.Join(t.TempDir(), "state.json"))
	plan, err := m.Execute(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := m.Verify(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		b, _ := json.MarshalIndent(rep, "", " ")
		t.Fatalf("verification failed:\n%s", b)
	}

	after := consumeGroup(t, ctx, k.Bootstrap(), "app", "events", len(all)-len(before))
	seen := map[string]int{}
	for _, v := range append(before, after...) {
		seen[v]++
	}
	for v := range all {
		if seen[v] != 1 {
			t.Errorf("record %s read %d times across the move", v, seen[v])
		}
	}
	for v, n := range seen {
		if !all[v] {
			t.Errorf("record %s (read %d times) was never produced as committed", v, n)
		}
	}
	// And nothing more waits on Kafka for the group.
	lag, err := kadm.NewClient(client(t, k.Bootstrap())).Lag(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if tot := lag["app"].Lag.Total(); tot != 0 {
		t.Errorf("group app has lag %d on Kafka after reading everything", tot)
	}
}
