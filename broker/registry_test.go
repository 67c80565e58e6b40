package broker_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/storage/vfs"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The topic registry's changes (create, add partitions, delete, set
// configs) under injected faults and concurrency: a change that fails
// part way leaves memory, the catalog and the directories as they were,
// also across a restart; changes of one topic are serialized without
// holding up the requests of others.

// newPartitionLogs matches the segment files of topic's partitions from
// first on.
func newPartitionLogs(topic string, first int) func(string) bool {
	return func(name string) bool {
		if !strings.HasSuffix(name, ".log") {
			return false
		}
		for p := first; p < first+1000; p++ {
			if strings.Contains(name, fmt.Sprintf("/%s-%d/", topic, p)) {
				return true
			}
		}
		return false
	}
}

// CreatePartitions whose third new partition fails to open: the answer is
// KAFKA_STORAGE_ERROR, the topic keeps its count in Metadata, in the
// admin view and in the catalog (after a restart), the partitions that
// had opened are gone, and the topic keeps serving.
func TestAddPartitionsThirdOpenFails(t *testing.T) {
	dir := t.TempDir()
	efs := vfs.NewErrorFS(nil)
	b := startBrokerAt(t, dir, broker.WithFS(efs))
	r := newRaw(t, b.Addr())
	expectCode(t, "create", first(createOneTopic(r, "grow", 2, false)), nil)
	expectCode(t, "produce before", first(r.produce("grow", 1, 3)), nil)
	remove := efs.Inject(vfs.Fault{Op: vfs.OpOpen, Match: newPartitionLogs("grow", 2), After: 2, Times: 1, Err: syscall.EIO})
	code, msg := createPartitions(r, "grow", 8)
	expectCode(t, "CreatePartitions failing at the third open: "+msg, code, kerr.KafkaStorageError)
	remove()
	check := func(when string, b *broker.Broker, r *rawClient) {
		t.Helper()
		if n, c := topicPartitions(r, "grow"); n != 2 {
			t.Fatalf("%s: Metadata gives %d partitions (code %d), want 2", when, n, c)
		}
		if ti, ok := b.Topic("grow"); !ok || len(ti.Partitions) != 2 {
			t.Fatalf("%s: the admin view has %d partitions, want 2", when, len(ti.Partitions))
		}
		if d := partitionDirs(t, dir, "grow"); len(d) != 2 {
			t.Fatalf("%s: partition directories %v, want 2", when, d)
		}
		if c, n := r.fetchAll("grow", 1); c != 0 || n != 3 {
			t.Fatalf("%s: fetch of an old partition: code %d, %d records, want 3", when, c, n)
		}
	}
	check("after the failure", b, r)
	b.Close()
	b = startBrokerAt(t, dir)
	r = newRaw(t, b.Addr())
	check("after a restart", b, r)
	expectCode(t, "CreatePartitions once the fault is gone", first(createPartitions(r, "grow", 8)), nil)
	expectCode(t, "produce to a new partition", first(r.produce("grow", 7, 2)), nil)
}

// The catalog failing to record a change after its logs opened (its file
// cannot be written) undoes the change: nothing is published, the opened
// partitions are removed, and a restart sees the topic as it was.
func TestCatalogCommitFailureRollsBack(t *testing.T) {
	dir := t.TempDir()
	efs := vfs.NewErrorFS(nil)
	b := startBrokerAt(t, dir, broker.WithFS(efs))
	r := newRaw(t, b.Addr())
	expectCode(t, "create", first(createOneTopic(r, "kept", 2, false)), nil)
	catalogWrite := vfs.Fault{Op: vfs.OpWrite, Match: vfs.Base("catalog.json.tmp"), Err: syscall.EIO}

	remove := efs.Inject(catalogWrite)
	code, msg := createOneTopic(r, "lost", 4, false)
	expectCode(t, "CreateTopics whose catalog write fails: "+msg, code, kerr.KafkaStorageError)
	code, msg = createPartitions(r, "kept", 5)
	expectCode(t, "CreatePartitions whose catalog write fails: "+msg, code, kerr.KafkaStorageError)
	remove()

	check := func(when string, r *rawClient) {
		t.Helper()
		if n, c := topicPartitions(r, "lost"); c != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("%s: the topic not created has %d partitions (code %d)", when, n, c)
		}
		if n, _ := topicPartitions(r, "kept"); n != 2 {
			t.Fatalf("%s: the topic not grown has %d partitions, want 2", when, n)
		}
		if d := partitionDirs(t, dir, "lost"); len(d) != 0 {
			t.Fatalf("%s: directories of the topic not created: %v", when, d)
		}
		if d := partitionDirs(t, dir, "kept"); len(d) != 2 {
			t.Fatalf("%s: directories of the topic not grown: %v", when, d)
		}
	}
	check("after the failures", r)
	b.Close()
	b = startBrokerAt(t, dir)
	r = newRaw(t, b.Addr())
	check("after a restart", r)
	expectCode(t, "create once the catalog can be written", first(createOneTopic(r, "lost", 4, false)), nil)
	expectCode(t, "grow once the catalog can be written", first(createPartitions(r, "kept", 5)), nil)
}

// A rollback whose directory removals fail says so in the answer (and the
// log) instead of dropping the error; the next start removes the empty
// directories left, and the topic can then be created.
func TestRollbackReportsRemovalFailure(t *testing.T) {
	dir := t.TempDir()
	efs := vfs.NewErrorFS(nil)
	b := startBrokerAt(t, dir, broker.WithFS(efs))
	r := newRaw(t, b.Addr())
	removeOpen := efs.Inject(vfs.Fault{Op: vfs.OpOpen, Match: partitionLog("half", 3), Err: syscall.EMFILE})
	// RemoveAll fails for the directories (the pre-clean of absent ones
	// included, so only after the opens: armed by the failing open).
	var armed sync.Once
	efs.SetHook(func(op vfs.Op, name string) {
		if op == vfs.OpOpen && partitionLog("half", 3)(name) {
			armed.Do(func() {
				efs.Inject(vfs.Fault{Op: vfs.OpRemove, Match: func(n string) bool { return strings.Contains(n, "/half-") }, Err: syscall.EACCES})
			})
		}
	})
	code, msg := createOneTopic(r, "half", 6, false)
	expectCode(t, "CreateTopics with a failing partition", code, kerr.KafkaStorageError)
	if !strings.Contains(msg, "removing its partition directories failed") || !strings.Contains(msg, "permission denied") {
		t.Fatalf("the answer does not report the failed removal: %q", msg)
	}
	if d := partitionDirs(t, dir, "half"); len(d) == 0 {
		t.Fatal("setup: the removal fault left no directory")
	}
	removeOpen()
	b.Close()
	efs.Reset()
	b = startBrokerAt(t, dir)
	if d := partitionDirs(t, dir, "half"); len(d) != 0 {
		t.Fatalf("the restart left the empty directories of the failed creation: %v", d)
	}
	r = newRaw(t, b.Addr())
	expectCode(t, "create after the restart", first(createOneTopic(r, "half", 6, false)), nil)
}

// A deleted topic whose directories could not be removed leaves records
// on disk. A new topic of the same name must never serve them: if they
// still cannot be removed the creation fails, and once they can it starts
// empty.
func TestCreateOverUnremovableDirectoriesFails(t *testing.T) {
	dir := t.TempDir()
	efs := vfs.NewErrorFS(nil)
	b := startBrokerAt(t, dir, broker.WithFS(efs))
	r := newRaw(t, b.Addr())
	expectCode(t, "create", first(createOneTopic(r, "reborn", 1, false)), nil)
	expectCode(t, "produce", first(r.produce("reborn", 0, 5)), nil)
	remove := efs.Inject(vfs.Fault{Op: vfs.OpRemove, Match: func(n string) bool { return strings.HasSuffix(n, "/reborn-0") }, Err: syscall.EACCES})
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.Version = 4
	del.TopicNames = []string{"reborn"}
	resp := r.do(del).(*kmsg.DeleteTopicsResponse)
	if c := resp.Topics[0].ErrorCode; c != kerr.KafkaStorageError.Code {
		t.Fatalf("delete whose directory cannot be removed: %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(c))
	}
	if d := partitionDirs(t, dir, "reborn"); len(d) != 1 {
		t.Fatalf("setup: the failed removal left %v", d)
	}
	code, msg := createOneTopic(r, "reborn", 1, false)
	expectCode(t, "create over a directory that cannot be removed: "+msg, code, kerr.KafkaStorageError)
	if n, c := topicPartitions(r, "reborn"); c != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("the failed creation is served: %d partitions", n)
	}
	remove()
	expectCode(t, "create once the directory can be removed", first(createOneTopic(r, "reborn", 1, false)), nil)
	if c, end := r.listEnd("reborn", 0); c != 0 || end != 0 {
		t.Fatalf("the new topic: code %d, log end %d, want an empty log (the deleted topic's records served again)", c, end)
	}
}

// While a creation waits on the disk (its partition's first file held
// open), other topics are produced to, fetched and listed within a
// second, and the topic being created is not listed before it serves.
func TestCreateDoesNotBlockOtherTopics(t *testing.T) {
	dir := t.TempDir()
	efs := vfs.NewErrorFS(nil)
	b := startBrokerAt(t, dir, broker.WithFS(efs))
	r := newRaw(t, b.Addr())
	expectCode(t, "create", first(createOneTopic(r, "busy", 1, false)), nil)
	held, release := make(chan struct{}), make(chan struct{})
	var once, released sync.Once
	unblock := func() { released.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the broker's Close, should the test fail
	efs.SetHook(func(op vfs.Op, name string) {
		if op == vfs.OpOpen && strings.Contains(name, "/slow-") {
			once.Do(func() { close(held) })
			<-release
		}
	})
	done := make(chan int16, 1)
	go func() {
		code, _ := createOneTopic(newRaw(t, b.Addr()), "slow", 4, false)
		done <- code
	}()
	<-held
	for i := 0; i < 5; i++ {
		start := time.Now()
		expectCode(t, "produce to another topic", first(r.produce("busy", 0, 1)), nil)
		if c, _ := r.fetchAll("busy", 0); c != 0 {
			t.Fatalf("fetch of another topic: %v", kerr.ErrorForCode(c))
		}
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 9
		resp := r.do(md).(*kmsg.MetadataResponse)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("produce, fetch and metadata of another topic took %v while a creation waits on the disk", d)
		}
		for _, mt := range resp.Topics {
			if deref(mt.Topic) == "slow" {
				t.Fatal("Metadata lists the topic whose partitions are still being opened")
			}
		}
	}
	select {
	case c := <-done:
		t.Fatalf("the held creation answered %d before its open was released", c)
	default:
	}
	unblock()
	if c := <-done; c != 0 {
		t.Fatalf("the held creation: %v", kerr.ErrorForCode(c))
	}
	if n, _ := topicPartitions(r, "slow"); n != 4 {
		t.Fatalf("the created topic has %d partitions, want 4", n)
	}
}

// Concurrent creations, deletions, partition additions and config
// changes of the same few topics, beside produces to them, end with
// Metadata, the catalog (read back by a restart) and the partition
// directories agreeing on every topic; also when every fifth segment file
// the changes create fails with EIO, so that creations and additions roll
// back while the others go on. Run with -race.
func TestConcurrentTopicChanges(t *testing.T) {
	t.Run("no faults", func(t *testing.T) { concurrentTopicChanges(t, false) })
	t.Run("EIO on every fifth new segment", func(t *testing.T) { concurrentTopicChanges(t, true) })
}

func concurrentTopicChanges(t *testing.T, faults bool) {
	dir := t.TempDir()
	efs := vfs.NewErrorFS(nil)
	b := startBrokerAt(t, dir, broker.WithMaxBrokerPartitions(0), broker.WithFS(efs))
	names := []string{"churn-a", "churn-b", "churn-c"}
	rounds := 60
	if testing.Short() {
		rounds = 20
	}
	allowed := map[int16]bool{0: true, kerr.TopicAlreadyExists.Code: true, kerr.UnknownTopicOrPartition.Code: true,
		kerr.InvalidPartitions.Code: true, kerr.NotLeaderForPartition.Code: true}
	var failed atomic.Int64
	if faults {
		allowed[kerr.KafkaStorageError.Code] = true
		var n atomic.Int64
		efs.Inject(vfs.Fault{Op: vfs.OpOpen, Err: syscall.EIO, Match: func(name string) bool {
			if strings.Contains(name, "/churn-") && strings.HasSuffix(name, ".log") && n.Add(1)%5 == 0 {
				failed.Add(1)
				return true
			}
			return false
		}})
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := newRaw(t, b.Addr())
			for i := 0; i < rounds; i++ {
				name := names[(w+i)%len(names)]
				var code int16
				var what string
				switch (w*7 + i) % 5 {
				case 0:
					what = "create"
					code, _ = createOneTopic(r, name, int32(1+i%3), false)
				case 1:
					what = "delete"
					del := kmsg.NewPtrDeleteTopicsRequest()
					del.Version = 4
					del.TopicNames = []string{name}
					code = r.do(del).(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode
				case 2:
					what = "add partitions"
					n, _ := topicPartitions(r, name)
					code, _ = createPartitions(r, name, int32(max(n, 0)+1+i%2))
				case 3:
					what = "alter configs"
					req := kmsg.NewPtrIncrementalAlterConfigsRequest()
					rr := kmsg.NewIncrementalAlterConfigsRequestResource()
					rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, name
					c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
					c.Name, c.Value = "retention.ms", kmsg.StringPtr(fmt.Sprint(60000+i))
					rr.Configs = append(rr.Configs, c)
					req.Resources = append(req.Resources, rr)
					code = r.do(req).(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode
				default:
					what = "produce"
					code, _ = r.produce(name, int32(i%2), 1)
				}
				if !allowed[code] {
					select {
					case errs <- fmt.Sprintf("%s %s: %v", what, name, kerr.ErrorForCode(code)):
					default:
					}
				}
			}
		}()
	}
	wg.Wait()
	efs.Reset()
	if faults {
		if failed.Load() == 0 {
			t.Fatal("setup: no segment creation failed")
		}
		t.Logf("%d segment creations failed", failed.Load())
	}
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	consistent := func(when string, b *broker.Broker) {
		t.Helper()
		r := newRaw(t, b.Addr())
		for _, name := range names {
			n, c := topicPartitions(r, name)
			if c != 0 {
				n = 0
			}
			ti, ok := b.Topic(name)
			if ok != (n > 0) || len(ti.Partitions) != n {
				t.Errorf("%s: %s: Metadata gives %d partitions, the admin view %d (exists %v)", when, name, n, len(ti.Partitions), ok)
			}
			if d := partitionDirs(t, dir, name); len(d) != n {
				t.Errorf("%s: %s: %d partitions served, %d directories: %v", when, name, n, len(d), d)
			}
			for p := 0; p < n; p++ {
				if _, err := os.Stat(filepath.Join(dir, "logs", fmt.Sprintf("%s-%d", name, p))); err != nil {
					t.Errorf("%s: %s-%d served without its directory: %v", when, name, p, err)
				}
			}
		}
	}
	consistent("after the churn", b)
	before := map[string]int{}
	for _, name := range names {
		ti, _ := b.Topic(name)
		before[name] = len(ti.Partitions)
	}
	b.Close()
	b = startBrokerAt(t, dir, broker.WithMaxBrokerPartitions(0))
	consistent("after a restart", b)
	for _, name := range names {
		if ti, _ := b.Topic(name); len(ti.Partitions) != before[name] {
			t.Errorf("%s: %d partitions before the restart, %d after: the catalog and memory disagreed", name, before[name], len(ti.Partitions))
		}
	}
}

func first[A, B any](a A, _ B) A { return a }
