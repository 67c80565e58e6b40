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

// TestMigrateGroupAddedLater: a second run with the same state file moves
// a group the first run did not; its offset lies in records the first run
// already copied, and it must resume there, not at the end.
func TestMigrateGroupAddedLater(t *testing.T) {
	ctx := tctx(t, 2*time.Minute)
	src, dst := rewindtest.Start(t).Addr(), rewindtest.Start(t).Addr()
	cl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	produce(t, ctx, cl, "orders", 0, 0, 60)
	// Offsets differ on the target: the source log starts at 10, and an
	// aborted transaction sits in the middle.
	del := kadm.Offsets{}
	del.AddOffset("orders", 0, 10, -1)
	if _, err := adm.DeleteRecords(ctx, del); err != nil {
		t.Fatal(err)
	}
	txntest.Txn(t, src, "later-abort", "orders", 0, 3, txntest.Abort, "", nil)
	produce(t, ctx, cl, "orders", 0, 60, 40)
	commit(t, ctx, src, "first", map[string]map[int32]int64{"orders": {0: 90}})
	commit(t, ctx, src, "second", map[string]map[int32]int64{"orders": {0: 30}})
	commit(t, ctx, src, "third", map[string]map[int32]int64{"orders": {0: 80}})
	want := map[string]map[string]string{}
	for _, g := range []string{"second", "third"} {
		at := map[string]int64{"second": 30, "third": 80}[g]
		want[g] = map[string]string{"orders/0": values(t, ctx, src, "orders", 0, at)[0]}
	}

	m := newMigrator(src, dst)
	statePath := filepath.Join(t.TempDir(), "state.json")
	m.Options.Groups = []string{"first"}
	st, _ := migrate.LoadState(statePath)
	if _, err := m.Execute(ctx, st); err != nil {
		t.Fatal(err)
	}
	m.Options.Groups = []string{"second", "third"}
	st, _ = migrate.LoadState(statePath)
	plan, err := m.Execute(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	checkNext(t, want, nextValues(t, ctx, dst, want))
	for _, g := range plan.Groups {
		for _, o := range g.Offsets {
			// 30 is the 20th record from the log start; 80 follows the 50
			// records 10-59 and 16 after the aborted transaction (60-63).
			if w := map[string]int64{"second": 20, "third": 66}[g.Group]; o.Target != w {
				t.Errorf("group %s: %d translated to %d, want %d", g.Group, o.Source, o.Target, w)
			}
		}
	}
	if rep, err := m.Verify(ctx, plan); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

// TestMigrateLargeRecords: a topic whose max.message.bytes is above the
// producer's default 1 MB batch holds records of 2 MB; they are copied
// (with null keys and values, empty values and null header values kept
// apart), and verified.
func TestMigrateLargeRecords(t *testing.T) {
	ctx := tctx(t, 2*time.Minute)
	src, dst := rewindtest.Start(t).Addr(), rewindtest.Start(t).Addr()
	cl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(4<<20))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{"max.message.bytes": kadm.StringPtr("4194304")}, "blobs"); err != nil {
		t.Fatal(err)
	}
	big := func(b byte) []byte { return []byte(strings.Repeat(string(b), 2<<20)) }
	rs := []*kgo.Record{
		{Topic: "blobs", Key: []byte("a"), Value: []byte("small")},
		{Topic: "blobs", Key: []byte("b"), Value: big('b')},
		{Topic: "blobs", Key: nil, Value: nil}, // a tombstone without a key
		{Topic: "blobs", Key: []byte{}, Value: []byte{}, Headers: []kgo.RecordHeader{{Key: "h", Value: nil}, {Key: "e", Value: []byte{}}}},
		{Topic: "blobs", Key: []byte("c"), Value: big('c')},
		{Topic: "blobs", Key: []byte("d"), Value: []byte("last")},
	}
	for _, r := range rs {
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	commit(t, ctx, src, "reader", map[string]map[int32]int64{"blobs": {0: 4}})
	m := newMigrator(src, dst)
	st, _ := migrate.LoadState(filepath.Join(t.TempDir(), "state.json"))
	plan, err := m.Execute(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := m.Verify(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || len(rep.Partitions) != 1 || rep.Partitions[0].TargetRecords != int64(len(rs)) {
		b, _ := json.MarshalIndent(rep, "", " ")
		t.Fatalf("verification failed:\n%s", b)
	}
	got := client(t, dst, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"blobs": {0: kgo.NewOffset().At(0)}}))
	var n int
	for n < len(rs) {
		fs := got.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			w := rs[n]
			if (r.Key == nil) != (w.Key == nil) || string(r.Key) != string(w.Key) ||
				(r.Value == nil) != (w.Value == nil) || string(r.Value) != string(w.Value) || len(r.Headers) != len(w.Headers) {
				t.Errorf("record %d on the target: key %q (null %v), %d value bytes (null %v), %d headers; want key %q, %d bytes (null %v), %d headers",
					n, r.Key, r.Key == nil, len(r.Value), r.Value == nil, len(r.Headers), w.Key, len(w.Value), w.Value == nil, len(w.Headers))
			}
			for i := range r.Headers {
				if i < len(w.Headers) && (r.Headers[i].Value == nil) != (w.Headers[i].Value == nil) {
					t.Errorf("record %d header %s: null %v on the target", n, r.Headers[i].Key, r.Headers[i].Value == nil)
				}
			}
			n++
		})
	}
}

// TestMigrateResumeChecksHeldRecords: an earlier run's write of source
// record 50 failed while the next ones of the partition were acknowledged
// (a record the target refused, a timeout), and its state file says 50
// records were copied. The records the target holds past that point are
// not the source's next ones: resuming must refuse, not skip 50 as copied
// and write 59 twice.
func TestMigrateResumeChecksHeldRecords(t *testing.T) {
	ctx := tctx(t, 2*time.Minute)
	src, dst := rewindtest.Start(t).Addr(), rewindtest.Start(t).Addr()
	for _, addr := range []string{src, dst} {
		if _, err := kadm.NewClient(client(t, addr)).CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
			t.Fatal(err)
		}
	}
	produce(t, ctx, client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())), "orders", 0, 0, 100)
	dcl := client(t, dst, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce(t, ctx, dcl, "orders", 0, 0, 50)
	produce(t, ctx, dcl, "orders", 0, 51, 9) // 50 is missing
	statePath := filepath.Join(t.TempDir(), "state.json")
	st, _ := migrate.LoadState(statePath)
	st.Created["orders"] = true
	st.Partitions["orders/0"] = &migrate.PartState{SourceNext: 50, TargetNext: 50, Copied: 50}
	if err := st.Save(); err != nil {
		t.Fatal(err)
	}
	st, _ = migrate.LoadState(statePath)
	m := newMigrator(src, dst)
	if _, err := m.Execute(ctx, st); !errors.Is(err, migrate.ErrTargetNotEmpty) {
		t.Fatalf("resume over a gap on the target: %v, want ErrTargetNotEmpty", err)
	}
	ends, err := kadm.NewClient(client(t, dst)).ListEndOffsets(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := ends.Lookup("orders", 0); e.Offset != 59 {
		t.Errorf("target ends at %d after the refused resume, want 59 (nothing written)", e.Offset)
	}

	// Where the held records are the source's next ones, they are
	// skipped and the copy completes.
	src2, dst2 := rewindtest.Start(t).Addr(), rewindtest.Start(t).Addr()
	for _, addr := range []string{src2, dst2} {
		if _, err := kadm.NewClient(client(t, addr)).CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
			t.Fatal(err)
		}
	}
	produce(t, ctx, client(t, src2, kgo.RecordPartitioner(kgo.ManualPartitioner())), "orders", 0, 0, 100)
	produce(t, ctx, client(t, dst2, kgo.RecordPartitioner(kgo.ManualPartitioner())), "orders", 0, 0, 60)
	st, _ = migrate.LoadState("")
	st.Created["orders"] = true
	st.Partitions["orders/0"] = &migrate.PartState{SourceNext: 50, TargetNext: 50, Copied: 50}
	m = newMigrator(src2, dst2)
	plan, err := m.Execute(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := m.Verify(ctx, plan); err != nil || !rep.OK() || rep.Partitions[0].TargetRecords != 100 {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

// TestMigrateRefusesOpenTransaction: with a transaction open on the source
// (a hanging one, or a producer still writing) read_committed stops at
// it, and the records after it, committed ones of other producers too,
// would be left out of a copy that verifies clean. Execute refuses and
// names the partition; once the transaction ends every record moves.
func TestMigrateRefusesOpenTransaction(t *testing.T) {
	ctx := tctx(t, 2*time.Minute)
	src, dst := rewindtest.Start(t).Addr(), rewindtest.Start(t).Addr()
	cl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	produce(t, ctx, cl, "orders", 0, 0, 10)
	open := txntest.Txn(t, src, "mig-open", "orders", 0, 3, txntest.Open, "", nil)
	produce(t, ctx, cl, "orders", 0, 10, 10)
	m := newMigrator(src, dst)
	st, _ := migrate.LoadState(filepath.Join(t.TempDir(), "state.json"))
	_, err := m.Execute(ctx, st)
	if !errors.Is(err, migrate.ErrOpenTransactions) || !strings.Contains(err.Error(), "orders/0 (last stable offset 10, end 23)") {
		t.Fatalf("migration with an open transaction: %v, want ErrOpenTransactions naming orders/0", err)
	}
	if l, _ := kadm.NewClient(client(t, dst)).ListTopics(ctx); len(l) != 0 {
		t.Fatalf("a refused migration created %v", l.Names())
	}

	if err := open.Client.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		plan, err := m.Plan(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.OpenTransactions()) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("transaction still open after its abort: %v", plan.OpenTransactions())
		}
		time.Sleep(100 * time.Millisecond)
	}
	plan, err := m.Execute(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := m.Verify(ctx, plan)
	if err != nil || !rep.OK() || rep.Partitions[0].TargetRecords != 20 {
		t.Fatalf("after the abort: %v %+v, want 20 records verified", err, rep)
	}
}
