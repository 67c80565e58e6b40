package broker_test

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/rewindhq/rewind/storage/vfs"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A full disk, simulated with vfs.ErrorFS: the broker goes read-only,
// releases its reserve file so that deletions can write the catalog and
// checkpoints, and becomes writable by itself when space returns. The
// same on a real full file system (tmpfs) is test/adversarial/fulldisk_test.go.

const testReserve = 256 << 10

// diskOpts gives a small reserve, checked every 20 ms.
func diskOpts(efs *vfs.ErrorFS) []broker.Option {
	return []broker.Option{broker.WithFS(efs), func(c *broker.Config) {
		c.DiskReserve = testReserve
		c.DiskCheckInterval = 20 * time.Millisecond
	}}
}

// fullDisk arms ENOSPC on every write until the reserve file is removed
// (the space it frees is then available), and on writes to the reserve
// file until the returned function is called (space returns).
func fullDisk(efs *vfs.ErrorFS) (spaceReturns func()) {
	var once sync.Once
	removeAll := efs.Inject(vfs.Fault{Op: vfs.OpWrite | vfs.OpOpen, Match: func(name string) bool {
		return filepath.Base(name) != "disk.reserve"
	}, Err: syscall.ENOSPC})
	removeReserve := efs.Inject(vfs.Fault{Op: vfs.OpWrite, Match: vfs.Base("disk.reserve"), Err: syscall.ENOSPC})
	efs.SetHook(func(op vfs.Op, name string) {
		if op == vfs.OpRemove && filepath.Base(name) == "disk.reserve" {
			once.Do(removeAll)
		}
	})
	return func() { once.Do(removeAll); removeReserve() }
}

// waitWritable waits until the broker has left read-only mode.
func waitWritable(t *testing.T, b *broker.Broker) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.ReadOnly() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("still read-only 10 s after space returned: %v", b.ReadOnly())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gauge reads one unlabelled gauge from the broker's metrics.
func gauge(t *testing.T, b *broker.Broker, name string) float64 {
	t.Helper()
	mfs, err := b.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func reserveSize(dir string) int64 {
	fi, err := os.Stat(filepath.Join(dir, "disk.reserve"))
	if err != nil {
		return -1
	}
	return fi.Size()
}

func commitCode(t *testing.T, r *rawClient, topic string, at int64) int16 {
	t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 8
	req.Group = "g"
	req.Generation = -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset = at
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return r.do(req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
}

func TestFullDiskReadOnly(t *testing.T) {
	efs := vfs.NewErrorFS(nil)
	dir := t.TempDir()
	var logBuf proctest.SyncBuffer
	b := startBrokerAt(t, dir, append(diskOpts(efs), broker.WithLogger(slog.New(slog.NewTextHandler(&logBuf, nil))))...)
	if got := reserveSize(dir); got != testReserve {
		t.Fatalf("reserve file of %d bytes, want %d", got, testReserve)
	}
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "big", 1)
	createTopic(t, cl, "keep", 1)
	r := newRaw(t, b.Addr())
	for _, topic := range []string{"big", "keep"} {
		for i := 0; i < 4; i++ {
			code, _ := r.produce(topic, 0, 5)
			expectCode(t, "produce before the disk fills", code, nil)
		}
	}
	expectCode(t, "commit before the disk fills", commitCode(t, r, "keep", 3), nil)
	if g := gauge(t, b, "rewind_disk_full"); g != 0 {
		t.Fatalf("rewind_disk_full %v before the disk fills", g)
	}

	spaceReturns := fullDisk(efs)
	code, _ := r.produce("big", 0, 5)
	expectCode(t, "the produce that fills the disk", code, kerr.KafkaStorageError)
	if b.ReadOnly() == nil {
		t.Fatal("not read-only after ENOSPC")
	}
	// The guard tries to make its reserve again every DiskCheckInterval
	// (its free-space check sees this test's real disk, which has room);
	// each try leaves an empty file for a moment.
	if got := reserveSize(dir); got == testReserve {
		t.Fatalf("reserve file still there (%d bytes) on a full disk", got)
	}
	if !strings.Contains(logBuf.String(), "the broker is read-only") {
		t.Fatalf("no log line says the broker is read-only:\n%s", logBuf.String())
	}
	if g := gauge(t, b, "rewind_disk_full"); g != 1 {
		t.Fatalf("rewind_disk_full %v on a full disk", g)
	}
	if err := b.Ready(); err != nil {
		t.Fatalf("not ready while read-only: %v", err)
	}

	// Writes are refused before they are tried, so the reserve's space
	// stays for the deletions. The guard's own attempts to make its
	// reserve again are not counted: its free-space check sees this
	// test's real disk, which has room, so every DiskCheckInterval it
	// tries (and fails, the write being refused by fullDisk) while these
	// requests run. The hook of fullDisk has done its work: the reserve
	// is gone (checked above).
	var writes atomic.Int64
	efs.SetHook(func(op vfs.Op, name string) {
		if op == vfs.OpWrite && filepath.Base(name) != "disk.reserve" {
			writes.Add(1)
		}
	})
	code, _ = r.produce("keep", 0, 5)
	expectCode(t, "produce to another partition while read-only", code, kerr.KafkaStorageError)
	expectCode(t, "commit while read-only", commitCode(t, r, "keep", 9), kerr.NotCoordinator)
	cr := r.do(createReq("new", 1, 1))
	expectCode(t, "create topic while read-only", createCode(cr), kerr.KafkaStorageError)
	if n := writes.Load(); n != 0 {
		t.Fatalf("%d writes tried while read-only", n)
	}
	efs.SetHook(nil)

	// Reads work.
	code, n := r.fetchAll("keep", 0)
	expectCode(t, "fetch while read-only", code, nil)
	if n != 20 {
		t.Fatalf("fetched %d records while read-only, want 20", n)
	}
	adm := kadm.NewClient(cl)
	ctx := testCtx(t, 30*time.Second)
	offs, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup("keep", 0); o.At != 3 {
		t.Fatalf("committed offset %d, want 3 (the refused commit must not apply)", o.At)
	}

	// DeleteRecords and DeleteTopics free space without needing any.
	dr, err := adm.DeleteRecords(ctx, kadm.Offsets{"keep": {0: {Topic: "keep", Partition: 0, At: 10}}})
	if err != nil || dr.Error() != nil {
		t.Fatalf("DeleteRecords while read-only: %v %v", err, dr.Error())
	}
	dt, err := adm.DeleteTopics(ctx, "big")
	if err != nil || dt.Error() != nil {
		t.Fatalf("DeleteTopics while read-only: %v %v", err, dt.Error())
	}
	if _, err := os.Stat(filepath.Join(dir, "logs", "big-0")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("deleted topic's directory: %v", err)
	}

	// Space returns: the broker makes its reserve again and takes writes.
	spaceReturns()
	waitWritable(t, b)
	if got := reserveSize(dir); got != testReserve {
		t.Fatalf("reserve file of %d bytes after space returned, want %d", got, testReserve)
	}
	code, base := r.produce("keep", 0, 5)
	expectCode(t, "produce after space returned", code, nil)
	if base != 20 {
		t.Fatalf("produce after space returned at offset %d, want 20", base)
	}
	expectCode(t, "commit after space returned", commitCode(t, r, "keep", 12), nil)
	if g := gauge(t, b, "rewind_disk_full"); g != 0 {
		t.Fatalf("rewind_disk_full %v after space returned", g)
	}
	if !strings.Contains(logBuf.String(), "the broker is writable") {
		t.Fatal("no log line says the broker is writable again")
	}
}

// The issue as reported: the disk is full when DeleteTopics comes, and
// writing catalog.json.tmp failed with ENOSPC. Now the failure releases
// the reserve and the catalog write is tried again.
func TestDeleteTopicsOnFullDisk(t *testing.T) {
	efs := vfs.NewErrorFS(nil)
	dir := t.TempDir()
	b := startBrokerAt(t, dir, diskOpts(efs)...)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "big", 2)
	fullDisk(efs)
	dt, err := kadm.NewClient(cl).DeleteTopics(testCtx(t, 10*time.Second), "big")
	if err != nil || dt.Error() != nil {
		t.Fatalf("DeleteTopics on a full disk: %v %v", err, dt.Error())
	}
	if b.ReadOnly() == nil {
		t.Fatal("not read-only after the catalog write failed with ENOSPC")
	}
	if _, err := os.Stat(filepath.Join(dir, "logs", "big-0")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("deleted topic's directory: %v", err)
	}
	// The deletion is durable: a restart does not bring the topic back.
	b.Close()
	b = startBrokerAt(t, dir, broker.WithFS(vfs.NewErrorFS(nil)), func(c *broker.Config) { c.DiskReserve = testReserve })
	md, err := kadm.NewClient(newClient(t, b.Addr())).ListTopics(testCtx(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if md.Has("big") {
		t.Fatal("the deleted topic is back after a restart")
	}
}

// A start on a full disk: no reserve can be made and no temporary file
// written. The broker starts read-only, serves what it has, and becomes
// writable when space returns.
func TestStartReadOnlyOnFullDisk(t *testing.T) {
	dir := t.TempDir()
	b := startBrokerAt(t, dir, diskOpts(vfs.NewErrorFS(nil))...)
	createTopic(t, newClient(t, b.Addr()), "data", 1)
	r := newRaw(t, b.Addr())
	for i := 0; i < 4; i++ {
		code, _ := r.produce("data", 0, 5)
		expectCode(t, "produce", code, nil)
	}
	b.Close()
	// The last run released its reserve and the disk filled up since.
	if err := os.Remove(filepath.Join(dir, "disk.reserve")); err != nil {
		t.Fatal(err)
	}

	efs := vfs.NewErrorFS(nil)
	removeTmp := efs.Inject(vfs.Fault{Op: vfs.OpWrite, Match: vfs.Suffix(".tmp"), Err: syscall.ENOSPC})
	removeReserve := efs.Inject(vfs.Fault{Op: vfs.OpWrite, Match: vfs.Base("disk.reserve"), Err: syscall.ENOSPC})
	var logBuf proctest.SyncBuffer
	b = startBrokerAt(t, dir, append(diskOpts(efs), broker.WithLogger(slog.New(slog.NewTextHandler(&logBuf, nil))))...)
	if b.ReadOnly() == nil {
		t.Fatal("started writable on a full disk")
	}
	if !strings.Contains(logBuf.String(), "starting read-only") {
		t.Fatalf("the start does not say it is read-only:\n%s", logBuf.String())
	}
	r = newRaw(t, b.Addr())
	code, n := r.fetchAll("data", 0)
	expectCode(t, "fetch after a read-only start", code, nil)
	if n != 20 {
		t.Fatalf("%d records after a read-only start, want 20", n)
	}
	if err := b.Ready(); err != nil {
		t.Fatalf("not ready after a read-only start: %v", err)
	}
	code, _ = r.produce("data", 0, 5)
	expectCode(t, "produce after a read-only start", code, kerr.KafkaStorageError)

	removeTmp()
	removeReserve()
	waitWritable(t, b)
	code, base := r.produce("data", 0, 5)
	expectCode(t, "produce after space returned", code, nil)
	if base != 20 {
		t.Fatalf("produce at %d, want 20", base)
	}
}

// A commit whose append hits ENOSPC (the broker not yet read-only) is
// answered NOT_COORDINATOR, as Kafka 4.x answers the storage error of its
// log (clients retry it: TestCommitOnFullDisk), and the broker goes
// read-only.
func TestCommitHittingENOSPC(t *testing.T) {
	efs := vfs.NewErrorFS(nil)
	b := startBrokerAt(t, t.TempDir(), diskOpts(efs)...)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "c", 1)
	fullDisk(efs)
	r := newRaw(t, b.Addr())
	expectCode(t, "commit on a full disk", commitCode(t, r, "c", 1), kerr.NotCoordinator)
	if b.ReadOnly() == nil {
		t.Fatal("not read-only after a commit hit ENOSPC")
	}
}

// Making the reserve again writes and fsyncs --disk-reserve bytes, which
// can take long on a slow disk; requests asking whether the broker is
// read-only (every Produce, Metadata that may create a topic) are
// answered meanwhile, and do not wait for that fsync.
func TestReadOnlyCheckDoesNotWaitForReserve(t *testing.T) {
	efs := vfs.NewErrorFS(nil)
	dir := t.TempDir()
	b := startBrokerAt(t, dir, diskOpts(efs)...)
	createTopic(t, newClient(t, b.Addr()), "p", 1)
	r := newRaw(t, b.Addr())
	spaceReturns := fullDisk(efs)
	code, _ := r.produce("p", 0, 5)
	expectCode(t, "the produce that fills the disk", code, kerr.KafkaStorageError)
	if reserveSize(dir) == testReserve { // see TestFullDiskReadOnly
		t.Fatal("the reserve was not released")
	}

	// Space returns, and the fsync of the new reserve is held in flight.
	inSync, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	efs.SetHook(func(op vfs.Op, name string) {
		if op == vfs.OpSync && filepath.Base(name) == "disk.reserve" {
			once.Do(func() { close(inSync) })
			<-release
		}
	})
	defer efs.SetHook(nil)
	releaseOnce := sync.OnceFunc(func() { close(release) })
	defer releaseOnce()
	spaceReturns()
	select {
	case <-inSync:
	case <-time.After(10 * time.Second):
		t.Fatal("the reserve was not made again after space returned")
	}

	answered := make(chan error, 1)
	go func() {
		c, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
		if err != nil {
			answered <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(frame(produceReq("p", 0, -1, goodBatch(1)), 1)); err != nil {
			answered <- err
			return
		}
		var size [4]byte
		_, err = io.ReadFull(c, size[:])
		answered <- err
	}()
	select {
	case err := <-answered:
		if err != nil {
			t.Fatalf("produce while the reserve is being made: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a produce was not answered within 2 s while the reserve's fsync was in flight: it waits for the disk guard's lock")
	}
	releaseOnce()
	waitWritable(t, b)
}
