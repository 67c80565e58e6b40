package broker_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// offsetsLogBytes is the size of __consumer_offsets' segment files.
func offsetsLogBytes(t *testing.T, dir string) int64 {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "logs", broker.OffsetsTopic+"-*", "*.log"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no %s segments under %s: %v", broker.OffsetsTopic, dir, err)
	}
	var n int64
	for _, p := range m {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// The retention loop compacts __consumer_offsets: superseded commits go
// once they leave the history window, every group's latest commit stays,
// through a restart and for a client reading the topic directly.
func TestConsumerOffsetsCompacted(t *testing.T) {
	dir := t.TempDir()
	opts := []broker.Option{
		broker.WithDataDir(dir),
		func(c *broker.Config) {
			c.RetentionCheckInterval = 50 * time.Millisecond
			c.OffsetsHistoryRetention = 300 * time.Millisecond
			c.OffsetsTopicPartitions = 4
		},
	}
	b := rewindtest.Start(t, opts...)
	ctx := testCtx(t, 60*time.Second)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "compacted", 3)
	adm := kadm.NewClient(cl)
	commit := func(group string, at int64) {
		t.Helper()
		o := kadm.Offsets{}
		for p := int32(0); p < 3; p++ {
			o.Add(kadm.Offset{Topic: "compacted", Partition: p, At: at + int64(p), Metadata: fmt.Sprintf("m-%d", at)})
		}
		if r, err := adm.CommitOffsets(ctx, group, o); err != nil || r.Error() != nil {
			t.Fatalf("commit %s at %d: %v %v", group, at, err, r.Error())
		}
	}
	commit("g-once", 1000) // committed once, long before the rest: must stay
	const n = 300
	for i := range int64(n) {
		commit("g-busy", i)
	}

	ends, err := adm.ListEndOffsets(ctx, broker.OffsetsTopic)
	if err != nil {
		t.Fatal(err)
	}
	var records int64
	ends.Each(func(o kadm.ListedOffset) { records += o.Offset })
	if records < 3*(n+1) {
		t.Fatalf("%d records written to %s", records, broker.OffsetsTopic)
	}
	// Uncompacted, that is well over 40 bytes a record.
	limit := records * 40 / 10
	deadline := time.Now().Add(20 * time.Second)
	for offsetsLogBytes(t, dir) > limit {
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d bytes for %d records written: not compacted", broker.OffsetsTopic, offsetsLogBytes(t, dir), records)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	// The latest commits survive the restart (replayed from the compacted
	// log) ...
	b2 := rewindtest.Start(t, opts...)
	cl2 := newClient(t, b2.Addr())
	adm2 := kadm.NewClient(cl2)
	for group, at := range map[string]int64{"g-once": 1000, "g-busy": n - 1} {
		offs, err := adm2.FetchOffsets(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		for p := int32(0); p < 3; p++ {
			if o, ok := offs.Lookup("compacted", p); !ok || o.At != at+int64(p) || o.Metadata != fmt.Sprintf("m-%d", at) {
				t.Fatalf("%s partition %d after restart: %+v", group, p, o)
			}
		}
	}

	// ... and a client reading the topic from its start, across the gaps
	// compaction left, decodes them with Kafka's schemas.
	raw := newClient(t, b2.Addr(), kgo.ConsumeTopics(broker.OffsetsTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	latest := map[string]int64{}
	want := map[string]int64{}
	for p := int64(0); p < 3; p++ {
		want[fmt.Sprintf("g-once/%d", p)] = 1000 + p
		want[fmt.Sprintf("g-busy/%d", p)] = n - 1 + p
	}
	for !maps.Equal(latest, want) {
		fs := raw.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %v from %s, want %v", latest, broker.OffsetsTopic, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var k kmsg.OffsetCommitKey
			if err := k.ReadFrom(r.Key); err != nil || k.Version > 1 || r.Value == nil {
				return // group metadata, or a tombstone
			}
			var v kmsg.OffsetCommitValue
			if err := v.ReadFrom(r.Value); err != nil {
				t.Fatalf("offset commit value at %d does not decode: %v", r.Offset, err)
			}
			if k.Topic == "compacted" {
				latest[fmt.Sprintf("%s/%d", k.Group, k.Partition)] = v.Offset
			}
		})
	}
}

// A user topic with cleanup.policy=compact: the retention loop keeps the
// latest record of every key, and a consumer reading from the start gets
// the table.
func TestCompactedTopic(t *testing.T) {
	dir := t.TempDir()
	b := rewindtest.Start(t, broker.WithDataDir(dir), func(c *broker.Config) { c.RetentionCheckInterval = 20 * time.Millisecond })
	ctx := testCtx(t, 60*time.Second)
	cl := newClient(t, b.Addr(), kgo.ProducerLinger(0))
	adm := kadm.NewClient(cl)
	cfg := map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"internal.segment.bytes":    kadm.StringPtr("4096"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.1"),
		"retention.ms":              kadm.StringPtr("1"), // ignored: compacted only
	}
	if r, err := adm.CreateTopic(ctx, 1, 1, cfg, "table"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	const keys, rounds = 10, 60
	for i := range rounds {
		var recs []*kgo.Record
		for k := range keys {
			v := []byte(fmt.Sprintf("%d", i))
			if k == 0 && i == rounds-1 {
				v = nil // key 0 is deleted at the end
			}
			recs = append(recs, &kgo.Record{Topic: "table", Key: []byte(fmt.Sprintf("key-%d", k)), Value: v})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	segments := func() int {
		m, _ := filepath.Glob(filepath.Join(dir, "logs", "table-0", "*.log"))
		return len(m)
	}
	ends, err := adm.ListEndOffsets(ctx, "table")
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup("table", 0)
	if end.Offset != keys*rounds {
		t.Fatalf("end offset %d", end.Offset)
	}
	// Wait for the closed segments to be compacted into one. The files
	// change before the log switches to the cleaned segment in memory
	// (readers see the old segments until then), so a read may still
	// see every record just after the files say it is done: read again
	// until the read is compacted.
	read := func() (int, map[string]string) {
		cons := newClient(t, b.Addr(), kgo.ConsumeTopics("table"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		defer cons.Close()
		table := map[string]string{}
		n := 0
		for last := int64(-1); last < end.Offset-1; {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("read up to %d of %d", last, end.Offset)
			}
			fs.EachRecord(func(r *kgo.Record) {
				n++
				last = r.Offset
				if r.Value == nil {
					delete(table, string(r.Key))
				} else {
					table[string(r.Key)] = string(r.Value)
				}
			})
		}
		return n, table
	}
	deadline := time.Now().Add(20 * time.Second)
	var table map[string]string
	for {
		var n int
		if segments() <= 2 {
			if n, table = read(); n < keys*rounds/2 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d segments left, read %d of %d records: not compacted", segments(), n, keys*rounds)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ok := table["key-0"]; ok || len(table) != keys-1 {
		t.Fatalf("table %v", table)
	}
	for k := 1; k < keys; k++ {
		if v := table[fmt.Sprintf("key-%d", k)]; v != fmt.Sprint(rounds-1) {
			t.Fatalf("key-%d = %q", k, v)
		}
	}
}
