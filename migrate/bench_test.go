package migrate_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/kafkaref"
	"github.com/rewindhq/rewind/migrate"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkMigrateToKafka copies a topic of 6 partitions and 100,000
// records of 1 KiB (a 16-byte key, one header) from a Rewind broker in
// this process to the three-node Kafka (replication factor 3, acks=all),
// each iteration a new topic; the copy and the verification are timed
// apart (records/s of each).
//
//	go test -run '^$' -bench BenchmarkMigrateToKafka -benchtime 1x ./migrate
func BenchmarkMigrateToKafka(b *testing.B) {
	const parts, records, size = 6, 100_000, 1024
	k := kafkaref.StartNodes(b, 3)
	src := rewindtest.Start(b).Addr()
	cl, err := kgo.NewClient(kgo.SeedBrokers(src), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	value := []byte(strings.Repeat("v", size))
	b.ReportAllocs()
	b.SetBytes(records * size)
	b.ResetTimer() // not the cluster's start
	var copyTime, verifyTime time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		topic := fmt.Sprintf("bench-%x-%d", time.Now().UnixNano(), i)
		if _, err := kadm.NewClient(cl).CreateTopic(ctx, parts, 1, nil, topic); err != nil {
			b.Fatal(err)
		}
		for j := 0; j < records; j++ {
			cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("key-%012d", j)), Value: value,
				Headers: []kgo.RecordHeader{{Key: "n", Value: []byte("1")}}}, func(_ *kgo.Record, err error) {
				if err != nil {
					b.Error(err)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		m := &migrate.Migrator{
			Source:  []kgo.Opt{kgo.SeedBrokers(src)},
			Target:  []kgo.Opt{kgo.SeedBrokers(strings.Split(k.Bootstrap(), ",")...)},
			Options: migrate.Options{Topics: []string{topic}, ReplicationFactor: 3},
		}
		st, _ := migrate.LoadState("")
		b.StartTimer()
		start := time.Now()
		plan, err := m.Execute(ctx, st)
		if err != nil {
			b.Fatal(err)
		}
		copyTime += time.Since(start)
		start = time.Now()
		rep, err := m.Verify(ctx, plan)
		if err != nil || !rep.OK() {
			b.Fatalf("verify: %v %+v", err, rep)
		}
		verifyTime += time.Since(start)
	}
	b.ReportMetric(float64(b.N*records)/copyTime.Seconds(), "copied-records/s")
	b.ReportMetric(float64(b.N*records*size)/copyTime.Seconds()/(1<<20), "copied-MiB/s")
	b.ReportMetric(float64(b.N*records)/verifyTime.Seconds(), "verified-records/s")
}
