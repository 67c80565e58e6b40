package adversarial

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A real full file system: a 64 MiB tmpfs holds the data directory.
// Produce fills it until the broker refuses with KAFKA_STORAGE_ERROR; the
// broker is then read-only (reads, metadata, DeleteRecords and
// DeleteTopics work, commits are refused at once), it restarts on the
// disk made completely full by another file (read-only, reads served),
// and when space is freed (the other file removed, a topic deleted) it
// takes writes again by itself.
//
// Bounds: other clients are answered within a second throughout; a
// refused commit fails within 5 s (NOT_COORDINATOR was retried by kgo for
// 30 s); the broker is writable within 10 s of space returning.

const (
	tmpfsSize   = 64 << 20
	diskReserve = 4 << 20
)

// mountTmpfs mounts a tmpfs of size bytes in a new temporary directory,
// or skips the test saying why it cannot.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: mounting a tmpfs needs root (run as root to test a real full disk)")
	}
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("skipped: cannot mount a tmpfs on %s: %v", dir, err)
	}
	// Registered before the broker starts, so it runs after the broker
	// is killed (cleanups run last in, first out).
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// rawProduce sends one uncompressed batch with acks=all and returns the
// partition's error code.
func rawProduce(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, recs []storage.Record) int16 {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = storage.BuildBatch(time.Now().UnixMilli(), recs)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	if err := proctest.ProduceTopicIDs(ctx, cl, req); err != nil {
		t.Fatal(err)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

func records(n, size int) []storage.Record {
	recs := make([]storage.Record, n)
	for i := range recs {
		recs[i] = storage.Record{Value: make([]byte, size)}
	}
	return recs
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// expectReadOnly checks what the admin listener and the log say.
func expectReadOnly(t *testing.T, p *proctest.Proc, httpAddr string, readOnly bool) {
	t.Helper()
	code, body := httpGet(t, "http://"+httpAddr+"/readyz")
	if code != 200 || strings.Contains(body, "read-only") != readOnly {
		t.Fatalf("/readyz: %d %q (read-only expected: %v)", code, body, readOnly)
	}
	_, metrics := httpGet(t, "http://"+httpAddr+"/metrics")
	want := "\nrewind_disk_full 0\n"
	if readOnly {
		want = "\nrewind_disk_full 1\n"
	}
	if !strings.Contains(metrics, want) {
		t.Fatalf("/metrics lacks %q", strings.TrimSpace(want))
	}
}

// expectAnswered checks that a new client gets Metadata within a second.
func expectAnswered(t *testing.T, addr, when string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := proctest.MetadataLatency(ctx, addr)
	if err != nil || d > time.Second {
		t.Fatalf("Metadata %s: %v after %s, want an answer within 1s", when, err, d)
	}
}

func consumeAll(t *testing.T, addr, topic string, want int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	got := 0
	for got < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s: %v", got, want, topic, ctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch %s: %v", topic, err) })
		got += fs.NumRecords()
	}
}

func commit(t *testing.T, adm *kadm.Client, topic string, at int64) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	o := kadm.Offsets{}
	o.Add(kadm.Offset{Topic: topic, Partition: 0, At: at, LeaderEpoch: -1})
	resp, err := adm.CommitOffsets(ctx, "g", o)
	if err != nil {
		return err
	}
	return resp.Error()
}

func committed(t *testing.T, adm *kadm.Client, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	o, _ := offs.Lookup(topic, 0)
	return o.At
}

// waitLog waits until the broker's log contains s.
func waitLog(t *testing.T, p *proctest.Proc, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Log(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("the broker's log does not say %q", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestFullDisk(t *testing.T) {
	disk := mountTmpfs(t, tmpfsSize)
	data := filepath.Join(disk, "data")
	httpAddr := proctest.FreeAddr(t)
	args := []string{"--disk-reserve", fmt.Sprint(diskReserve), "--http", httpAddr}
	p := proctest.Start(t, proctest.Config{Binary: binary, DataDir: data, Args: args})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	cl := p.Client(t)
	adm := kadm.NewClient(cl)
	// fill rolls segments as it goes, so that a restart meets sealed
	// segments as well as an active one.
	segBytes := fmt.Sprint(8 << 20)
	for topic, cfgs := range map[string]map[string]*string{"keep": nil, "fill": {"segment.bytes": &segBytes}} {
		if _, err := adm.CreateTopic(ctx, 1, 1, cfgs, topic); err != nil {
			t.Fatal(err)
		}
	}
	if c := rawProduce(ctx, t, cl, "keep", records(100, 100)); c != 0 {
		t.Fatalf("produce to keep: %v", kerr.ErrorForCode(c))
	}
	if err := commit(t, adm, "keep", 50); err != nil {
		t.Fatal(err)
	}
	expectReadOnly(t, p, httpAddr, false)

	// Fill the disk with 1 MiB batches until the broker refuses one.
	var filled int64
	batch := records(15, 64<<10) // just under max.message.bytes
	for i := 0; ; i++ {
		if i == 2*tmpfsSize>>20 {
			t.Fatalf("%d MiB accepted on a %d MiB file system", filled>>20, tmpfsSize>>20)
		}
		c := rawProduce(ctx, t, cl, "fill", batch)
		if c == 0 {
			filled += 15 << 16
			continue
		}
		if c != kerr.KafkaStorageError.Code {
			t.Fatalf("produce on a full disk: %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(c))
		}
		break
	}
	free := freeBytes(t, disk)
	t.Logf("filled %d MiB before KAFKA_STORAGE_ERROR; %d KiB free after the reserve was released", filled>>20, free>>10)
	if filled < tmpfsSize/2 || free >= 2*diskReserve {
		t.Fatalf("refused after %d MiB with %d bytes free: the disk was not full", filled>>20, free)
	}
	if _, err := os.Stat(filepath.Join(data, "disk.reserve")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the reserve file is still there: %v", err)
	}
	waitLog(t, p, "the broker is read-only")
	expectReadOnly(t, p, httpAddr, true)
	expectAnswered(t, p.Addr, "while read-only")

	// Read-only: writes refused, reads served, commits answered
	// NOT_COORDINATOR as Kafka 4.x answers a storage error of
	// __consumer_offsets (clients retry it: the one here for a second).
	if c := rawProduce(ctx, t, cl, "keep", records(1, 10)); c != kerr.KafkaStorageError.Code {
		t.Fatalf("produce to another topic while read-only: %v", kerr.ErrorForCode(c))
	}
	brief := kadm.NewClient(p.Client(t, kgo.RetryTimeout(time.Second)))
	if err := commit(t, brief, "keep", 60); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("commit while read-only: %v, want NOT_COORDINATOR", err)
	}
	consumeAll(t, p.Addr, "keep", 100)
	if at := committed(t, adm, "keep"); at != 50 {
		t.Fatalf("committed offset %d, want 50", at)
	}

	// Another program takes the last bytes; the broker is killed and
	// started again on a disk with no space at all.
	filler, err := os.Create(filepath.Join(disk, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := filler.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	filler.Close()
	p.Kill()
	p = proctest.Start(t, proctest.Config{Binary: binary, DataDir: data, Args: args})
	waitLog(t, p, "starting read-only")
	expectReadOnly(t, p, httpAddr, true)
	expectAnswered(t, p.Addr, "after a start on a full disk")
	consumeAll(t, p.Addr, "keep", 100)
	cl = p.Client(t)
	adm = kadm.NewClient(cl)
	if at := committed(t, adm, "keep"); at != 50 {
		t.Fatalf("committed offset %d after the restart, want 50", at)
	}

	// A shutdown with no space at all cannot write the indexes and
	// producer snapshots of a clean stop: it says so (exit status 1) and
	// the next start recovers the logs as after a crash.
	t.Logf("shutdown on a disk with no space left: %v", p.Stop())
	p = proctest.Start(t, proctest.Config{Binary: binary, DataDir: data, Args: args})
	waitLog(t, p, "starting read-only")
	consumeAll(t, p.Addr, "keep", 100)
	cl = p.Client(t)
	adm = kadm.NewClient(cl)

	// The other program frees its file; DeleteRecords and DeleteTopics
	// free the broker's, and it takes writes again by itself.
	if err := os.Remove(filepath.Join(disk, "filler")); err != nil {
		t.Fatal(err)
	}
	dr, err := adm.DeleteRecords(ctx, kadm.Offsets{"keep": {0: {Topic: "keep", Partition: 0, At: 10}}})
	if err == nil {
		err = dr.Error()
	}
	if err != nil {
		t.Fatalf("DeleteRecords on a full disk: %v", err)
	}
	dt, err := adm.DeleteTopics(ctx, "fill")
	if err == nil {
		err = dt.Error()
	}
	if err != nil {
		t.Fatalf("DeleteTopics on a full disk: %v", err)
	}
	if f := freeBytes(t, disk); f < tmpfsSize/2 {
		t.Fatalf("%d MiB free after deleting the topic that filled the disk", f>>20)
	}
	waitLog(t, p, "the broker is writable")
	expectReadOnly(t, p, httpAddr, false)
	if fi, err := os.Stat(filepath.Join(data, "disk.reserve")); err != nil || fi.Size() != diskReserve {
		t.Fatalf("the reserve file was not made again: %v", err)
	}
	if c := rawProduce(ctx, t, cl, "keep", records(5, 10)); c != 0 {
		t.Fatalf("produce after space returned: %v", kerr.ErrorForCode(c))
	}
	if err := commit(t, adm, "keep", 70); err != nil {
		t.Fatalf("commit after space returned: %v", err)
	}
	if at := committed(t, adm, "keep"); at != 70 {
		t.Fatalf("committed offset %d, want 70", at)
	}
	// The deletion survives a restart.
	if err := p.Stop(); err != nil {
		t.Fatalf("clean shutdown: %v", err)
	}
	p = proctest.Start(t, proctest.Config{Binary: binary, DataDir: data, Args: args})
	topics, err := kadm.NewClient(p.Client(t)).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has("fill") || !topics.Has("keep") {
		t.Fatalf("topics after restart: %v", topics.Names())
	}
}

// A restart with another --disk-reserve, on a disk that filled up while
// the broker was down: the reserve file the last run made has the old
// size. Its space is what deletions need, so the start releases it
// rather than keeping it beside a read-only broker that has nothing left
// to release; DeleteTopics then frees the disk. A start with
// --disk-reserve 0 removes a reserve left by an earlier run too.
func TestFullDiskReserveResized(t *testing.T) {
	disk := mountTmpfs(t, 32<<20)
	data := filepath.Join(disk, "data")
	reservePath := filepath.Join(data, "disk.reserve")
	args := func(reserve int64) []string { return []string{"--disk-reserve", fmt.Sprint(reserve)} }
	p := proctest.Start(t, proctest.Config{Binary: binary, DataDir: data, Args: args(diskReserve)})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := p.Client(t)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "fill"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ {
		if c := rawProduce(ctx, t, cl, "fill", records(15, 64<<10)); c != 0 {
			t.Fatalf("produce to fill: %v", kerr.ErrorForCode(c))
		}
	}
	p.Kill()
	if fi, err := os.Stat(reservePath); err != nil || fi.Size() != diskReserve {
		t.Fatalf("reserve file of the first run: %v", err)
	}

	// Another program takes every byte left.
	filler, err := os.Create(filepath.Join(disk, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for chunk := make([]byte, 64<<10); ; {
		if _, err := filler.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	filler.Close()

	p = proctest.Start(t, proctest.Config{Binary: binary, DataDir: data, Args: args(2 * diskReserve)})
	waitLog(t, p, "starting read-only")
	if fi, err := os.Stat(reservePath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a read-only start kept the reserve file of another --disk-reserve (%v, %v): its space is not available to deletions", fi.Size(), err)
	}
	cl = p.Client(t)
	dt, err := kadm.NewClient(cl).DeleteTopics(ctx, "fill")
	if err == nil {
		err = dt.Error()
	}
	if err != nil {
		t.Fatalf("DeleteTopics on a full disk after a restart with another --disk-reserve: %v", err)
	}
	if err := os.Remove(filepath.Join(disk, "filler")); err != nil {
		t.Fatal(err)
	}
	waitLog(t, p, "the broker is writable")
	if fi, err := os.Stat(reservePath); err != nil || fi.Size() != 2*diskReserve {
		t.Fatalf("reserve file after space returned: %v", err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("clean shutdown: %v", err)
	}

	// The reserve turned off: the file of the last run goes.
	p = proctest.Start(t, proctest.Config{Binary: binary, DataDir: data, Args: args(0)})
	if c := rawProduce(ctx, t, p.Client(t), "keep", records(1, 10)); c != 0 && c != kerr.UnknownTopicOrPartition.Code && c != kerr.UnknownTopicID.Code {
		t.Fatalf("produce with --disk-reserve 0: %v", kerr.ErrorForCode(c))
	}
	if _, err := os.Stat(reservePath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a start with --disk-reserve 0 kept the reserve file of an earlier run: %v", err)
	}
}

// rebalance runs one round of the classic protocol for a lone member of
// group: JoinGroup (twice, the first to learn its member id) and the
// leader's SyncGroup, with meta bytes of protocol metadata and as many of
// assignment, and says whether it worked. Each completed round writes the
// group's metadata record to __consumer_offsets. A refused write answers
// NOT_COORDINATOR, which kgo retries: a round that takes more than 5 s
// did not work.
func rebalance(ctx context.Context, t *testing.T, cl *kgo.Client, group string, meta []byte) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	join := func(member string) *kmsg.JoinGroupResponse {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version = 5
		req.Group, req.MemberID, req.ProtocolType = group, member, "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 30000, 30000
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", meta
		req.Protocols = append(req.Protocols, p)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Logf("JoinGroup: %v", err)
			return nil
		}
		return resp
	}
	jr := join("")
	if jr != nil && jr.ErrorCode == kerr.MemberIDRequired.Code {
		jr = join(jr.MemberID)
	}
	if jr == nil || jr.ErrorCode != 0 {
		if jr != nil {
			t.Logf("JoinGroup: %v", kerr.ErrorForCode(jr.ErrorCode))
		}
		return false
	}
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation = group, jr.MemberID, jr.Generation
	req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	a := kmsg.NewSyncGroupRequestGroupAssignment()
	a.MemberID, a.MemberAssignment = jr.MemberID, meta
	req.GroupAssignment = append(req.GroupAssignment, a)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Logf("SyncGroup: %v", err)
		return false
	}
	if resp.ErrorCode != 0 {
		t.Logf("SyncGroup: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.ErrorCode == 0
}

// On a full disk, group records (members' metadata and assignments) are
// still written, so that rebalances keep working, but their size is the
// clients' choice: groups rebalancing with large metadata would fill the
// reserve's space, and DeleteTopics then failed for want of room for the
// catalog, as before the reserve existed. They may take a quarter of the
// reserve; beyond it, rebalances are refused until space returns.
func TestFullDiskGroupRecordsBounded(t *testing.T) {
	disk := mountTmpfs(t, 32<<20)
	data := filepath.Join(disk, "data")
	args := []string{"--disk-reserve", fmt.Sprint(diskReserve), "--group-initial-rebalance-delay", "0s"}
	p := proctest.Start(t, proctest.Config{Binary: binary, DataDir: data, Args: args})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := p.Client(t)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "fill"); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if i == 64 {
			t.Fatal("64 MiB accepted on a 32 MiB file system")
		}
		c := rawProduce(ctx, t, cl, "fill", records(15, 64<<10))
		if c == kerr.KafkaStorageError.Code {
			break
		}
		if c != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(c))
		}
	}
	waitLog(t, p, "the broker is read-only")
	free := freeBytes(t, disk)

	// Rounds of 256 KiB of group records, until one is refused (or
	// twice the free space was asked for).
	meta := make([]byte, 128<<10)
	ok := 0
	for i := 0; i < int(2*free/(256<<10)); i++ {
		if !rebalance(ctx, t, cl, fmt.Sprintf("big-%d", i), meta) {
			break
		}
		ok++
	}
	// Then small ones, for the last bytes.
	for i := 0; i < 64; i++ {
		if !rebalance(ctx, t, cl, fmt.Sprintf("small-%d", i), meta[:4<<10]) {
			break
		}
		ok++
	}
	used := free - freeBytes(t, disk)
	t.Logf("%d rebalances written; %d KiB of the %d KiB free taken", ok, used>>10, free>>10)
	if ok == 0 {
		t.Error("no rebalance worked on a full disk")
	}
	if used > diskReserve/4+(256<<10) {
		t.Errorf("group records took %d KiB of a full disk, more than a quarter of the %d KiB reserve", used>>10, diskReserve>>10)
	}
	dt, err := kadm.NewClient(cl).DeleteTopics(ctx, "fill")
	if err == nil {
		err = dt.Error()
	}
	if err != nil {
		t.Fatalf("DeleteTopics after rebalances on a full disk: %v", err)
	}
	waitLog(t, p, "the broker is writable")
	if !rebalance(ctx, t, cl, "after", meta) {
		t.Fatal("rebalance after space returned failed")
	}
}
