package broker_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/storage/vfs"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Topic changes are all or nothing, the broker's partitions are bounded by
// --max-broker-partitions (POLICY_VIOLATION), and partition directories no
// topic owns are cleaned at start.

func createTopicsReq(validateOnly bool, topics map[string]int32) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 5
	req.ValidateOnly = validateOnly
	for name, n := range topics {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, n, 1
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// createOneTopic creates one topic and returns the code and message.
func createOneTopic(r *rawClient, name string, n int32, validateOnly bool) (int16, string) {
	r.t.Helper()
	resp := r.do(createTopicsReq(validateOnly, map[string]int32{name: n})).(*kmsg.CreateTopicsResponse)
	return resp.Topics[0].ErrorCode, deref(resp.Topics[0].ErrorMessage)
}

func createPartitions(r *rawClient, name string, total int32) (int16, string) {
	r.t.Helper()
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.Version = 1
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = name, total
	req.Topics = append(req.Topics, rt)
	resp := r.do(req).(*kmsg.CreatePartitionsResponse)
	return resp.Topics[0].ErrorCode, deref(resp.Topics[0].ErrorMessage)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// topicPartitions returns the partition count Metadata gives, or -1 with
// the topic's error code (no auto-creation).
func topicPartitions(r *rawClient, name string) (int, int16) {
	r.t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 9 // v0-3 always auto-create
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(name)
	req.Topics = append(req.Topics, mt)
	resp := r.do(req).(*kmsg.MetadataResponse)
	if c := resp.Topics[0].ErrorCode; c != 0 {
		return -1, c
	}
	return len(resp.Topics[0].Partitions), 0
}

// partitionDirs lists the partition directories of topic under dir/logs.
func partitionDirs(t *testing.T, dir, topic string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "logs", topic+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A creation that fails part way (a partition's segment file cannot be
// created: out of descriptors, an I/O error) answers KAFKA_STORAGE_ERROR
// and leaves no catalog entry and no directory; once the fault is gone the
// same creation succeeds, also after a restart.
func TestCreateTopicFailurePartWayLeavesNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault vfs.Fault
	}{
		{"EMFILE creating a segment", vfs.Fault{Op: vfs.OpOpen, Match: partitionLog("half", 7), Err: syscall.EMFILE}},
		// (ENOSPC would make the whole broker read-only: diskspace.go.)
		{"EIO writing a checkpoint", vfs.Fault{Op: vfs.OpWrite, Match: func(n string) bool {
			return strings.Contains(n, "/half-11/") && strings.Contains(n, "checkpoint")
		}, Err: syscall.EIO}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			efs := vfs.NewErrorFS(nil)
			b := startBrokerAt(t, dir, broker.WithFS(efs))
			r := newRaw(t, b.Addr())
			remove := efs.Inject(tc.fault)
			code, msg := createOneTopic(r, "half", 16, false)
			if code != kerr.KafkaStorageError.Code {
				t.Fatalf("CreateTopics with a failing partition: code %d (%s), want KAFKA_STORAGE_ERROR", code, msg)
			}
			if n, c := topicPartitions(r, "half"); c != kerr.UnknownTopicOrPartition.Code {
				t.Fatalf("after the failed creation Metadata gives %d partitions, code %d", n, c)
			}
			if d := partitionDirs(t, dir, "half"); len(d) != 0 {
				t.Fatalf("the failed creation left %d partition directories: %v", len(d), d)
			}
			remove()
			if code, msg := createOneTopic(r, "half", 16, false); code != 0 {
				t.Fatalf("the same creation once the fault is gone: code %d (%s)", code, msg)
			}
			if c, _ := r.produce("half", 7, 3); c != 0 {
				t.Fatalf("produce to the created topic: code %d", c)
			}
			b.Close()
			b = startBrokerAt(t, dir)
			if n, c := topicPartitions(newRaw(t, b.Addr()), "half"); n != 16 {
				t.Fatalf("after a restart: %d partitions, code %d", n, c)
			}
		})
	}
}

// CreatePartitions failing part way leaves the topic as it was: its old
// count in Metadata and after a restart, none of the new directories.
func TestCreatePartitionsFailurePartWayLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	efs := vfs.NewErrorFS(nil)
	b := startBrokerAt(t, dir, broker.WithFS(efs))
	r := newRaw(t, b.Addr())
	if code, msg := createOneTopic(r, "grow", 2, false); code != 0 {
		t.Fatalf("create: %d %s", code, msg)
	}
	remove := efs.Inject(vfs.Fault{Op: vfs.OpOpen, Match: partitionLog("grow", 5), Err: syscall.EMFILE})
	if code, msg := createPartitions(r, "grow", 8); code != kerr.KafkaStorageError.Code {
		t.Fatalf("CreatePartitions with a failing partition: code %d (%s), want KAFKA_STORAGE_ERROR", code, msg)
	}
	if n, _ := topicPartitions(r, "grow"); n != 2 {
		t.Fatalf("after the failed CreatePartitions Metadata gives %d partitions, want 2", n)
	}
	if d := partitionDirs(t, dir, "grow"); len(d) != 2 {
		t.Fatalf("partition directories after the failure: %v", d)
	}
	remove()
	if code, msg := createPartitions(r, "grow", 8); code != 0 {
		t.Fatalf("CreatePartitions once the fault is gone: %d %s", code, msg)
	}
	if c, _ := r.produce("grow", 7, 2); c != 0 {
		t.Fatalf("produce to a new partition: code %d", c)
	}
	b.Close()
	b = startBrokerAt(t, dir)
	if n, _ := topicPartitions(newRaw(t, b.Addr()), "grow"); n != 8 {
		t.Fatalf("after a restart: %d partitions, want 8", n)
	}
}

// --max-broker-partitions counts every topic, __consumer_offsets included,
// and is checked by CreateTopics (validate-only too), CreatePartitions and
// auto-creation, which get POLICY_VIOLATION with the limit in the message;
// deleting a topic gives its partitions back; a restart counts what exists.
func TestBrokerPartitionLimit(t *testing.T) {
	dir := t.TempDir()
	opts := []broker.Option{
		broker.WithMaxBrokerPartitions(12),
		func(c *broker.Config) { c.OffsetsTopicPartitions = 2 },
	}
	b := startBrokerAt(t, dir, opts...)
	r := newRaw(t, b.Addr())
	over := func(what string, code int16, msg string) {
		t.Helper()
		if code != kerr.PolicyViolation.Code || !strings.Contains(msg, "--max-broker-partitions 12") {
			t.Fatalf("%s: code %d (%q), want POLICY_VIOLATION naming the limit", what, code, msg)
		}
	}
	if code, msg := createOneTopic(r, "a", 6, false); code != 0 { // 2 + 6
		t.Fatalf("create a: %d %s", code, msg)
	}
	code, msg := createOneTopic(r, "b", 5, false)
	over("CreateTopics past the limit", code, msg)
	if d := partitionDirs(t, dir, "b"); len(d) != 0 {
		t.Fatalf("a refused creation left directories: %v", d)
	}
	if _, c := topicPartitions(r, "b"); c != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("a refused topic exists (code %d)", c)
	}
	if code, msg := createOneTopic(r, "c", 4, true); code != 0 {
		t.Fatalf("validate-only within the limit: %d %s", code, msg)
	}
	code, msg = createOneTopic(r, "c", 5, true)
	over("validate-only CreateTopics past the limit", code, msg)
	code, msg = createPartitions(r, "a", 11)
	over("CreatePartitions past the limit", code, msg)
	if code, msg := createPartitions(r, "a", 10); code != 0 { // 2 + 10 = 12
		t.Fatalf("CreatePartitions up to the limit: %d %s", code, msg)
	}
	// Auto-creation (Metadata v4+ allowing it) is refused the same way.
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 9
	req.AllowAutoTopicCreation = true
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("auto")
	req.Topics = append(req.Topics, mt)
	if c := r.do(req).(*kmsg.MetadataResponse).Topics[0].ErrorCode; c != kerr.PolicyViolation.Code {
		t.Fatalf("auto-creation past the limit: code %d, want POLICY_VIOLATION", c)
	}
	if d := partitionDirs(t, dir, "auto"); len(d) != 0 {
		t.Fatalf("a refused auto-creation left directories: %v", d)
	}
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.Version = 6
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr("a")
	del.Topics = append(del.Topics, dt)
	if c := r.do(del).(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode; c != 0 {
		t.Fatalf("delete a: code %d", c)
	}
	if code, msg := createOneTopic(r, "b", 5, false); code != 0 { // 2 + 5
		t.Fatalf("create b after deleting a: %d %s", code, msg)
	}
	b.Close()
	b = startBrokerAt(t, dir, opts...)
	r = newRaw(t, b.Addr())
	code, msg = createOneTopic(r, "d", 6, false)
	over("CreateTopics past the limit after a restart", code, msg)
	if code, msg := createOneTopic(r, "d", 5, false); code != 0 {
		t.Fatalf("create d up to the limit after a restart: %d %s", code, msg)
	}
	mfs, err := b.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if m := mf.GetMetric(); len(m) == 1 && m[0].GetGauge() != nil {
			got[mf.GetName()] = m[0].GetGauge().GetValue()
		}
	}
	if got["rewind_partitions"] != 12 || got["rewind_partitions_max"] != 12 || got["rewind_segment_files_max"] < 1 {
		t.Fatalf("partition metrics: %v", got)
	}
}

// At start, partition directories no topic owns are removed when they hold
// no record (a creation that never completed) and moved to logs/.orphans
// when they do (they may be a topic the catalog lost); the topics' own
// directories and anything that is not a partition directory stay.
func TestOrphanPartitionDirectoriesAtStart(t *testing.T) {
	dir := t.TempDir()
	b := startBrokerAt(t, dir)
	r := newRaw(t, b.Addr())
	if code, msg := createOneTopic(r, "keep", 2, false); code != 0 {
		t.Fatalf("create: %d %s", code, msg)
	}
	if c, _ := r.produce("keep", 0, 5); c != 0 {
		t.Fatalf("produce: %d", c)
	}
	b.Close()
	logs := filepath.Join(dir, "logs")
	seg := "00000000000000000000.log"
	data, err := os.ReadFile(filepath.Join(logs, "keep-0", seg))
	if err != nil || len(data) == 0 {
		t.Fatalf("setup: %d bytes, %v", len(data), err)
	}
	mk := func(name string, content []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(logs, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(logs, name, seg), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk("failed-0", nil)         // a creation that never completed
	mk("failed-1", nil)         //
	mk("keep-2", nil)           // past the topic's partition count, empty
	mk("lost-3", data)          // records no topic owns
	mk("not-a-partition", data) // not a partition directory name
	mk("keep-07", data)         // not canonical: not ours either
	b = startBrokerAt(t, dir)
	for _, gone := range []string{"failed-0", "failed-1", "keep-2", "lost-3"} {
		if _, err := os.Stat(filepath.Join(logs, gone)); !os.IsNotExist(err) {
			t.Errorf("orphan %s still in logs/ (%v)", gone, err)
		}
	}
	for _, kept := range []string{"keep-0", "keep-1", "not-a-partition", "keep-07"} {
		if _, err := os.Stat(filepath.Join(logs, kept)); err != nil {
			t.Errorf("%s was touched: %v", kept, err)
		}
	}
	moved, err := os.ReadFile(filepath.Join(logs, ".orphans", "lost-3", seg))
	if err != nil || string(moved) != string(data) {
		t.Fatalf("the orphan holding records was not moved intact to logs/.orphans: %v", err)
	}
	r = newRaw(t, b.Addr())
	if n, _ := topicPartitions(r, "keep"); n != 2 {
		t.Fatalf("keep has %d partitions after the cleanup", n)
	}
	// A new topic of the orphan's name starts empty, and the moved data
	// stays where it is.
	if code, msg := createOneTopic(r, "lost", 4, false); code != 0 {
		t.Fatalf("create lost: %d %s", code, msg)
	}
	if _, err := os.Stat(filepath.Join(logs, ".orphans", "lost-3", seg)); err != nil {
		t.Fatalf("creating a topic of the same name touched the moved orphan: %v", err)
	}
}
