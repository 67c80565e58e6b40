package catalog

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/storage"
	"github.com/rewindhq/rewind/storage/vfs"
)

func TestTopicNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"orders", true},
		{"a.b_c-D9", true},
		{strings.Repeat("x", 249), true},
		{strings.Repeat("x", 250), false},
		{"", false},
		{".", false},
		{"..", false},
		{"has space", false},
		{"slash/no", false},
		{"ünicode", false},
	} {
		err := ValidateTopicName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateTopicName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("error %v does not wrap ErrInvalidTopic", err)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		ok          bool
	}{
		{RetentionMs, "-1", true},
		{RetentionMs, "1000", true},
		{RetentionMs, "-2", false},
		{RetentionMs, "soon", false},
		{CleanupPolicy, "delete", true},
		{CleanupPolicy, "compact", true},
		{CleanupPolicy, "delete,compact", true},
		{CleanupPolicy, "compact,remove", false},
		{MinCleanableDirtyRatio, "0.1", true},
		{MinCleanableDirtyRatio, "1.5", false},
		{MinCleanableDirtyRatio, "half", false},
		{DeleteRetentionMs, "-1", false},
		{MaxCompactionLagMs, "0", false},
		{MessageTimestampType, "LogAppendTime", true},
		{MessageTimestampType, "Wallclock", false},
		{"no.such.config", "1", false},
		{SegmentBytes, "10", false},
		{SegmentBytes, "4294967296", false}, // Kafka's INT is 32 bits
		// Empty is a list of no policy in Kafka 4.x.
		{CleanupPolicy, "", true},
		// The configs Rewind does not act on, with Kafka 4.4's bounds.
		{"compression.gzip.level", "-1", true},
		{"compression.gzip.level", "0", false},
		{"compression.gzip.level", "9", true},
		{"compression.gzip.level", "10", false},
		{"compression.lz4.level", "17", true},
		{"compression.lz4.level", "0", false},
		{"compression.zstd.level", "-131072", true},
		{"compression.zstd.level", "23", false},
		{"flush.messages", "0", false},
		{"flush.ms", "0", true},
		{"local.retention.ms", "-2", true},
		{"local.retention.ms", "-3", false},
		{"max.decompressed.message.bytes", "0", false},
		{"max.decompressed.message.bytes", "2147483640", false},
		{"preallocate", "TRUE", true},
		{"preallocate", "1", false}, // strconv.ParseBool would take it, Kafka does not
		{"unclean.leader.election.enable", "yes", false},
		{"remote.storage.enable", "false", true},
		{"remote.storage.enable", "true", false},
		{"leader.replication.throttled.replicas", "", true},
		{"leader.replication.throttled.replicas", "*", true},
		{"leader.replication.throttled.replicas", "0:1, 1:1", true},
		{"follower.replication.throttled.replicas", "0-1", false},
		{"follower.replication.throttled.replicas", "*,0:1", false},
		{"segment.index.bytes", "3", false},
		{"segment.jitter.ms", "-1", false},
		// Kafka 4.x: segment.bytes at least 1 MiB; its internal override
		// takes any int (small segments for tests).
		{SegmentBytes, "1048575", false},
		{SegmentBytes, "1048576", true},
		{InternalSegmentBytes, "1024", true},
		{InternalSegmentBytes, "-1", true},
		{InternalSegmentBytes, "abc", false},
		{InternalSegmentBytes, "4294967296", false},
		{MessageTimestampAfterMaxMs, "-1", false},
		{MessageTimestampBeforeMaxMs, "0", true},
	} {
		err := ValidateConfig(tc.name, tc.value)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateConfig(%s=%s) = %v, want ok=%v", tc.name, tc.value, err, tc.ok)
		}
	}
	if err := ValidateConfig(CleanupPolicy, "compaction"); err == nil || !strings.Contains(err.Error(), "delete, compact, both or empty") {
		t.Errorf("a bad policy must be refused with a clear reason, got %v", err)
	}
}

func TestInternalSegmentBytes(t *testing.T) {
	plain := Topic{Name: "plain", Configs: map[string]string{SegmentBytes: "2097152"}}
	if got := plain.StorageConfig().SegmentBytes; got != 2097152 {
		t.Fatalf("segment.bytes alone: segment size %d", got)
	}
	d, ok := Def(InternalSegmentBytes)
	if !ok || !d.Internal {
		t.Fatalf("internal.segment.bytes must be an internal config: %+v %v", d, ok)
	}
	if plain.Listed(d) {
		t.Fatal("an internal config the topic does not set must not be listed")
	}
	small := Topic{Name: "small", Configs: map[string]string{SegmentBytes: "2097152", InternalSegmentBytes: "4096"}}
	if got := small.StorageConfig().SegmentBytes; got != 4096 {
		t.Fatalf("internal.segment.bytes must replace segment.bytes: segment size %d", got)
	}
	if !small.Listed(d) {
		t.Fatal("a set internal config is listed, as Kafka lists it")
	}
	tiny := Topic{Name: "tiny", Configs: map[string]string{InternalSegmentBytes: "-1"}}
	if got := tiny.StorageConfig().SegmentBytes; got != minSegmentBytes {
		t.Fatalf("internal.segment.bytes=-1: segment size %d, want %d (every batch rolls)", got, minSegmentBytes)
	}
}

func TestCompactionConfig(t *testing.T) {
	plain := Topic{Name: "plain"}
	if _, ok := plain.Compaction(); ok {
		t.Fatal("a delete topic is not compacted")
	}
	if c := plain.StorageConfig(); c.RetentionMs != 604800000 {
		t.Fatalf("retention.ms %d", c.RetentionMs)
	}

	compact := Topic{Name: "c", Configs: map[string]string{CleanupPolicy: "compact", RetentionMs: "1000", RetentionBytes: "1000"}}
	p, ok := compact.Compaction()
	want := storage.CompactPolicy{DeleteRetention: 24 * time.Hour, MinCleanableDirtyRatio: 0.5}
	if !ok || p != want {
		t.Fatalf("defaults: %+v %v", p, ok)
	}
	// Compacted only: retention deletes nothing.
	if c := compact.StorageConfig(); c.RetentionMs != -1 || c.RetentionBytes != -1 {
		t.Fatalf("compact-only retention %d/%d", c.RetentionMs, c.RetentionBytes)
	}

	// Neither policy: nothing deleted, nothing compacted.
	none := Topic{Name: "n", Configs: map[string]string{CleanupPolicy: "", RetentionMs: "1000", RetentionBytes: "1000"}}
	if _, ok := none.Compaction(); ok {
		t.Fatal("an empty cleanup.policy compacts")
	}
	if c := none.StorageConfig(); c.RetentionMs != -1 || c.RetentionBytes != -1 {
		t.Fatalf("empty cleanup.policy retention %d/%d, want -1/-1", c.RetentionMs, c.RetentionBytes)
	}

	both := Topic{Name: "b", Configs: map[string]string{
		CleanupPolicy: "compact, delete", RetentionMs: "1000",
		DeleteRetentionMs: "60000", MinCompactionLagMs: "5000", MaxCompactionLagMs: "3600000", MinCleanableDirtyRatio: "0.25",
	}}
	p, ok = both.Compaction()
	want = storage.CompactPolicy{HistoryRetention: 5 * time.Second, DeleteRetention: time.Minute, MinCleanableDirtyRatio: 0.25, MaxCompactionLag: time.Hour}
	if !ok || p != want {
		t.Fatalf("overrides: %+v %v", p, ok)
	}
	if c := both.StorageConfig(); c.RetentionMs != 1000 {
		t.Fatalf("compact,delete retention.ms %d", c.RetentionMs)
	}
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	id := c.ClusterID()
	if len(id) != 22 {
		t.Fatalf("cluster id %q is not a 22-character base64 uuid", id)
	}
	orders, err := c.Create("orders", 3, map[string]string{RetentionMs: "1000"}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create("orders", 1, nil, false, false); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("second create: %v, want ErrTopicExists", err)
	}
	if _, err := c.Create("bad", 1, map[string]string{CleanupPolicy: "shred"}, false, false); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("bad cleanup.policy: %v, want ErrInvalidConfig", err)
	}
	if _, err := c.Create("dry", 1, nil, false, true); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get("dry"); ok {
		t.Fatal("validate-only create must not create the topic")
	}
	if _, err := c.SetPartitions("orders", 2, false); !errors.Is(err, ErrInvalidPartitions) {
		t.Fatalf("shrinking: %v, want ErrInvalidPartitions", err)
	}
	if _, err := c.SetPartitions("orders", 5, false); err != nil {
		t.Fatal(err)
	}
	pid1, err := c.ReserveProducerIDs(10)
	if err != nil {
		t.Fatal(err)
	}

	c2, err := Open(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	if c2.ClusterID() != id {
		t.Fatalf("cluster id changed across reopen: %s -> %s", id, c2.ClusterID())
	}
	got, ok := c2.Get("orders")
	if !ok || got.Partitions != 5 || got.ID != orders.ID || got.Config(RetentionMs) != "1000" || got.Config(SegmentBytes) != "1073741824" {
		t.Fatalf("reopened topic = %+v", got)
	}
	if sc := got.StorageConfig(); sc.RetentionMs != 1000 || sc.SegmentBytes != 1<<30 {
		t.Fatalf("storage config = %+v", sc)
	}
	pid2, err := c2.ReserveProducerIDs(10)
	if err != nil {
		t.Fatal(err)
	}
	if pid2 < pid1+10 {
		t.Fatalf("producer ids reused after reopen: %d then %d", pid1, pid2)
	}
	if err := c2.Delete("orders"); err != nil {
		t.Fatal(err)
	}
	if len(c2.List()) != 0 {
		t.Fatalf("topics left: %+v", c2.List())
	}
}

// TestCreateCollidingName: as Kafka, a name that differs from an existing
// topic's only by '.' against '_' is refused (metrics would merge them),
// also with validateOnly, and is free again once the other is deleted.
func TestCreateCollidingName(t *testing.T) {
	c, err := Open(nil, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create("a.b", 1, nil, false, false); err != nil {
		t.Fatal(err)
	}
	for _, validateOnly := range []bool{false, true} {
		if _, err := c.Create("a_b", 1, nil, false, validateOnly); !errors.Is(err, ErrInvalidTopic) {
			t.Fatalf("validateOnly %v: creating a_b beside a.b: %v, want ErrInvalidTopic", validateOnly, err)
		}
	}
	if _, err := c.Create("a-b", 1, nil, false, false); err != nil {
		t.Fatalf("a-b does not collide with a.b: %v", err)
	}
	// A catalog opened from disk knows its topics' names too.
	c2, err := Open(nil, c.dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Create("a_b", 1, nil, false, false); !errors.Is(err, ErrInvalidTopic) {
		t.Fatalf("after reopening: %v, want ErrInvalidTopic", err)
	}
	if err := c2.Delete("a.b"); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Create("a_b", 1, nil, false, false); err != nil {
		t.Fatalf("after deleting a.b: %v", err)
	}
	if _, err := c2.Create("a.b", 1, nil, false, false); !errors.Is(err, ErrInvalidTopic) {
		t.Fatalf("a.b beside a_b: %v, want ErrInvalidTopic", err)
	}
}
