package sarama_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/rewindhq/rewind/internal/kafkaref"
	"github.com/rewindhq/rewind/migrate"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSaramaGroupMovesToKafka: a Sarama group that committed halfway on
// Rewind (through MarkMessage, on a log whose start is not 0) is moved
// with rewind's migrate to a three-node Apache Kafka cluster; Sarama,
// restarted against Kafka, reads exactly the records it had not
// committed, each once.
func TestSaramaGroupMovesToKafka(t *testing.T) {
	k := kafkaref.StartNodes(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	src := rewindtest.Start(t).Addr()
	cl, err := kgo.NewClient(kgo.SeedBrokers(src), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	const topic, parts, per, markTo = "moved", 3, 100, 60
	if _, err := adm.CreateTopic(ctx, parts, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	value := func(p int32, i int) string { return fmt.Sprintf("%d-%03d", p, i) }
	for p := int32(0); p < parts; p++ {
		var rs []*kgo.Record
		for i := 0; i < per; i++ {
			rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(value(p, i))})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Partition 0 starts at 20 on Rewind; on Kafka the same records start
	// at 0, so its committed offset must be translated, not copied.
	del := kadm.Offsets{}
	del.AddOffset(topic, 0, 20, -1)
	if _, err := adm.DeleteRecords(ctx, del); err != nil {
		t.Fatal(err)
	}
	var remaining []string
	visible := 0
	for p := int32(0); p < parts; p++ {
		for i := 0; i < per; i++ {
			if p == 0 && i < 20 {
				continue
			}
			visible++
			if i >= markTo {
				remaining = append(remaining, value(p, i))
			}
		}
	}

	before := startSarama(t, src, "billing", topic, sarama.OffsetOldest, markTo)
	for n := 0; n < visible; n++ {
		select {
		case <-before.msgs:
		case <-ctx.Done():
			t.Fatalf("sarama on Rewind read %d of %d records", n, visible)
		}
	}
	before.close() // commits the marks: offset 60 on every partition

	m := &migrate.Migrator{
		Source:  []kgo.Opt{kgo.SeedBrokers(src)},
		Target:  []kgo.Opt{kgo.SeedBrokers(k.Addrs()...)},
		Options: migrate.Options{ReplicationFactor: 3},
	}
	st, err := migrate.LoadState(filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := m.Execute(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := m.Verify(ctx, plan); err != nil || !rep.OK() {
		t.Fatalf("verification: %v %+v", err, rep)
	}

	after := startSarama(t, k.Addrs()[0], "billing", topic, sarama.OffsetOldest, -1)
	got := vals(after.expectCount(ctx, len(remaining)))
	sort.Strings(got)
	sort.Strings(remaining)
	if fmt.Sprint(got) != fmt.Sprint(remaining) {
		t.Fatalf("sarama on Kafka read %v,\nwant exactly the uncommitted %v", got, remaining)
	}
}

// expectCount receives n records, then checks that nothing more comes.
func (m *saramaMember) expectCount(ctx context.Context, n int) []*sarama.ConsumerMessage {
	m.t.Helper()
	var got []*sarama.ConsumerMessage
	for len(got) < n {
		select {
		case msg := <-m.msgs:
			got = append(got, msg)
		case <-ctx.Done():
			m.t.Fatalf("received %d of %d records: %v", len(got), n, vals(got))
		}
	}
	select {
	case msg := <-m.msgs:
		m.t.Fatalf("unexpected extra record %s at offset %d", msg.Value, msg.Offset)
	case <-time.After(2 * time.Second):
	}
	return got
}
