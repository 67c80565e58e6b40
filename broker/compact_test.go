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
