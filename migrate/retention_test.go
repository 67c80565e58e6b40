package migrate_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/internal/kafkaref"
	"github.com/rewindhq/rewind/migrate"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// aged writes n records stamped 8 days ago, then n stamped an hour ago,
// in two batches: Rewind keeps them all (one segment whose newest record
// is recent), but Kafka rolls a segment when a batch's timestamp is more
// than segment.ms (7 days) past the segment's first, and then deletes
// the first segment, every record older than retention.ms (7 days).
func aged(t *testing.T, cl *kgo.Client, topic string, n int) {
	t.Helper()
	ctx := tctx(t, 30*time.Second)
	for _, age := range []time.Duration{8 * 24 * time.Hour, time.Hour} {
		var rs []*kgo.Record
		for i := 0; i < n; i++ {
			rs = append(rs, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("%s-%d", age, i)), Timestamp: time.Now().Add(-age)})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrateRetentionRefused: the plan says what the target keeps, and a
// migration whose copied records Kafka's retention would delete at once
// is refused; that Kafka really deletes them is checked on Kafka itself;
// a target topic created beforehand with a longer retention takes them.
func TestMigrateRetentionRefused(t *testing.T) {
	k := kafkaref.StartNodes(t, 3)
	ctx := tctx(t, 3*time.Minute)
	src := rewindtest.Start(t).Addr()
	cl := client(t, src, kgo.DefaultProduceTopic("aged"))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "aged"); err != nil {
		t.Fatal(err)
	}
	aged(t, cl, "aged", 40)
	commit(t, ctx, src, "reader", map[string]map[int32]int64{"aged": {0: 10}})

	m := newMigrator(src, k.Bootstrap())
	m.Options.ReplicationFactor = 3
	plan, err := m.Plan(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := plan.Topics[0].Retention
	if r == nil || r.MS != 7*24*3600*1000 || r.Bytes != -1 || r.From != "source" || len(r.Lost) != 1 || !strings.Contains(r.Lost[0], "aged/0: 40 records with timestamps before") {
		t.Fatalf("retention in the plan: %+v\n%s", r, plan)
	}
	if s := plan.String(); !strings.Contains(s, "target retention.ms=604800000 retention.bytes=-1 (source)") || !strings.Contains(s, "WOULD DELETE AT ONCE aged/0: 40 records") {
		t.Errorf("dry run lacks what the target keeps:\n%s", s)
	}
	st, _ := migrate.LoadState(filepath.Join(t.TempDir(), "state.json"))
	if _, err := m.Execute(ctx, st); !errors.Is(err, migrate.ErrRetention) || !strings.Contains(err.Error(), "aged/0") {
		t.Fatalf("migration into a retention that deletes the copy: %v, want ErrRetention", err)
	}
	kadmin := kadm.NewClient(client(t, k.Bootstrap()))
	if l, _ := kadmin.ListTopics(ctx, "aged"); l.Has("aged") {
		t.Fatal("a refused migration created the topic on the target")
	}
}

// TestKafkaDeletesAgedCopy is what the refusal above prevents, on Kafka:
// the same records written with the same retention are deleted, the
// active segment's recent ones kept. It runs on a cluster of its own,
// whose first retention check comes 30 s after it starts (then every
// 5 minutes).
func TestKafkaDeletesAgedCopy(t *testing.T) {
	k := kafkaref.Start(t)
	ctx := tctx(t, 7*time.Minute)
	topic := fmt.Sprintf("aged-proof-%x", time.Now().UnixNano())
	cl := client(t, k.Bootstrap(), kgo.DefaultProduceTopic(topic))
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("604800000")}, topic); err != nil {
		t.Fatal(err)
	}
	aged(t, cl, topic, 40)
	for {
		s, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		o, _ := s.Lookup(topic, 0)
		if o.Offset == 40 {
			return // the 40 old records are gone, the 40 recent ones kept
		}
		if o.Offset != 0 {
			t.Fatalf("Kafka's log starts at %d, want 40 (the old segment deleted)", o.Offset)
		}
		select {
		case <-ctx.Done():
			t.Fatal("Kafka kept the records older than retention.ms for 7 minutes")
		case <-time.After(2 * time.Second):
		}
	}
}

// TestMigrateRetentionOfTargetTopic: a target topic made beforehand with
// retention.ms=-1 keeps the aged records; the plan says so and the
// migration goes through.
func TestMigrateRetentionOfTargetTopic(t *testing.T) {
	k := kafkaref.StartNodes(t, 3)
	ctx := tctx(t, 3*time.Minute)
	src := rewindtest.Start(t).Addr()
	topic := fmt.Sprintf("aged-kept-%x", time.Now().UnixNano())
	cl := client(t, src, kgo.DefaultProduceTopic(topic))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	aged(t, cl, topic, 40)
	kadmin := kadm.NewClient(client(t, k.Bootstrap()))
	if _, err := kadmin.CreateTopic(ctx, 1, 3, map[string]*string{"retention.ms": kadm.StringPtr("-1")}, topic); err != nil {
		t.Fatal(err)
	}
	m := newMigrator(src, k.Bootstrap())
	m.Options.Topics = []string{topic}
	// A plan asks any broker, whose metadata may not have the new topic
	// yet (it would plan to create it): plan until it is seen.
	st, _ := migrate.LoadState(filepath.Join(t.TempDir(), "state.json"))
	var plan *migrate.Plan
	var err error
	for i := 0; ; i++ {
		plan, err = m.Plan(ctx, st)
		if err == nil && plan.Topics[0].Target == "empty" || i == 50 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if r := plan.Topics[0].Retention; r == nil || r.MS != -1 || r.From != "target topic" || len(r.Lost) != 0 {
		t.Fatalf("retention in the plan: %+v", r)
	}
	if !strings.Contains(plan.String(), "(target topic): keeps forever") {
		t.Errorf("dry run:\n%s", plan)
	}
	if plan, err = m.Execute(ctx, st); err != nil {
		t.Fatal(err)
	}
	if rep := verify(t, m, plan); rep.Partitions[0].TargetRecords != 80 {
		t.Fatalf("target holds %d records, want 80", rep.Partitions[0].TargetRecords)
	}
}

// TestMigrateRetentionCompacted: retention deletes nothing in a topic
// whose cleanup.policy is compact, so its old records do not stop the
// migration (a delete,compact one is checked like a delete one).
func TestMigrateRetentionCompacted(t *testing.T) {
	ctx := tctx(t, time.Minute)
	// The source checks retention once an hour, so that its own does not
	// delete the delete,compact topic's old records under the test.
	src := rewindtest.Start(t, func(c *broker.Config) { c.RetentionCheckInterval = time.Hour }).Addr()
	dst := rewindtest.Start(t).Addr()
	cl := client(t, src)
	adm := kadm.NewClient(cl)
	for topic, policy := range map[string]string{"compacted": "compact", "both": "delete,compact"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr(policy)}, topic); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-30 * 24 * time.Hour)
	for _, topic := range []string{"compacted", "both"} {
		for i := 0; i < 10; i++ {
			r := &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: []byte("v"), Timestamp: old}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	m := newMigrator(src, dst)
	plan, err := m.Plan(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range plan.Topics {
		r := tp.Retention
		switch tp.Topic {
		case "compacted":
			if !r.Compacted || len(r.Lost) != 0 || !strings.Contains(r.String(), "keeps every key's last record") {
				t.Errorf("compacted: %+v %s", r, r)
			}
		case "both":
			if r.Compacted || len(r.Lost) != 1 {
				t.Errorf("delete,compact: %+v", r)
			}
		}
	}
	m.Options.Topics = []string{"compacted"}
	st, _ := migrate.LoadState("")
	if plan, err = m.Execute(ctx, st); err != nil {
		t.Fatal(err)
	}
	verify(t, m, plan)
}
