package adversarial

import (
	"bytes"
	"context"
	bin "encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Damaged files: a flipped byte in __consumer_offsets, a deleted segment,
// a truncated catalog. The broker must start, serve everything else, say
// what is damaged, and `rewind repair` must make the damaged partition
// serve again (offline on a stopped broker's data directory, or online
// while the other partitions keep serving).

// repairOut is the JSON `rewind repair --output json` prints.
type repairOut struct {
	Topic          string   `json:"topic"`
	Partition      int32    `json:"partition"`
	Online         bool     `json:"online"`
	Problems       []string `json:"problems"`
	KeptEnd        int64    `json:"kept_end_offset"`
	DroppedFrom    int64    `json:"dropped_from_offset"`
	DroppedTo      int64    `json:"dropped_to_offset"`
	DroppedBytes   int64    `json:"dropped_bytes"`
	DroppedBatches int      `json:"dropped_readable_batches"`
	NextOffset     int64    `json:"next_offset"`
	Changed        bool     `json:"changed"`
	GroupsLost     []string `json:"groups_with_commits_dropped"`
	Serving        bool     `json:"serving"`
}

func runRepair(t *testing.T, args ...string) (repairOut, string, error) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"repair", "--output", "json"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var out repairOut
	if err == nil {
		if jerr := json.Unmarshal(stdout.Bytes(), &out); jerr != nil {
			t.Fatalf("rewind repair output %q: %v", stdout.String(), jerr)
		}
	}
	return out, stdout.String() + stderr.String(), err
}

// segmentBatches returns the .log files of a partition directory, oldest
// first, and the batch positions of the last one.
func segmentBatches(t *testing.T, dir string) ([]string, []int64) {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	slices.Sort(segs)
	if len(segs) == 0 {
		t.Fatalf("no segment in %s", dir)
	}
	b, err := os.ReadFile(segs[len(segs)-1])
	if err != nil {
		t.Fatal(err)
	}
	var pos []int64
	for off := 0; off+61 <= len(b); off += 12 + int(bin.BigEndian.Uint32(b[off+8:])) {
		pos = append(pos, int64(off))
	}
	return segs, pos
}

func flip(t *testing.T, path string, at int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0x5a
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// offsetFetch asks broker 0 directly (no coordinator lookup, no retry)
// for group's committed offset of topic/0.
func offsetFetch(t *testing.T, ctx context.Context, cl *kgo.Client, group, topic string) (int16, int64) {
	t.Helper()
	// kgo sends the highest version both sides support (v10: topics by
	// id as well), groups batched.
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	rg.Topics = append(rg.Topics, rt)
	req.Groups = append(req.Groups, rg)
	if err := proctest.OffsetFetchTopicIDs(ctx, cl, req); err != nil {
		t.Fatal(err)
	}
	resp, err := req.RequestWith(ctx, cl.Broker(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Groups) != 1 {
		t.Fatalf("OffsetFetch of %s: %+v", group, resp)
	}
	g := resp.Groups[0]
	if g.ErrorCode != 0 {
		return g.ErrorCode, -1
	}
	if len(g.Topics) == 0 || len(g.Topics[0].Partitions) == 0 {
		t.Fatalf("OffsetFetch of %s answered no partition: %+v", group, resp)
	}
	p := g.Topics[0].Partitions[0]
	return p.ErrorCode, p.Offset
}

func findCoordinator(t *testing.T, ctx context.Context, cl *kgo.Client, group string) int16 {
	t.Helper()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version = 4 // what kgo sends: batched keys
	req.CoordinatorKeys = []string{group}
	resp, err := req.RequestWith(ctx, cl.Broker(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Coordinators) != 1 {
		t.Fatalf("FindCoordinator for %s: %+v", group, resp)
	}
	return resp.Coordinators[0].ErrorCode
}

func commitAt(t *testing.T, ctx context.Context, adm *kadm.Client, group, topic string, offset int64) {
	t.Helper()
	var o kadm.Offsets
	o.AddOffset(topic, 0, offset, -1)
	resp, err := adm.CommitOffsets(ctx, group, o)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("commit %s at %d: %v", group, offset, err)
	}
}

func expectLogLine(t *testing.T, log string, parts ...string) {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return
		}
	}
	t.Errorf("no line of the broker's log holds all of %q; its log:\n%s", parts, log)
}

// One flipped byte in a __consumer_offsets segment: the broker starts,
// the other groups are served, the damaged partition's group answers
// COORDINATOR_NOT_AVAILABLE to FindCoordinator and NOT_COORDINATOR to
// group requests (Kafka's answers for an offsets partition that failed to
// load), the log names the partition and the group; `rewind repair`
// (offline, the broker stopped) truncates to the last valid batch and
// reports the group whose commits were dropped; after a restart the group
// is served from its last commit before the damage.
func TestDamagedOffsetsPartition(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := start(t)
	dataDir := p.DataDir
	cl := p.Client(t)
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	// With 50 offsets partitions "abc" is on partition 4, "hello" on 22.
	for _, off := range []int64{10, 20, 30} {
		commitAt(t, ctx, adm, "abc", "t", off)
	}
	commitAt(t, ctx, adm, "hello", "t", 5)
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}

	// The byte is in a record of the second commit's batch, with a valid
	// batch after it: corruption, not a torn tail.
	partDir := filepath.Join(dataDir, "logs", "__consumer_offsets-4")
	segs, pos := segmentBatches(t, partDir)
	if len(pos) != 3 {
		t.Fatalf("__consumer_offsets-4 holds %d batches, want 3", len(pos))
	}
	flip(t, segs[len(segs)-1], pos[1]+70)
	origSize := size(t, segs[len(segs)-1])

	p = startOn(t, dataDir)
	cl = p.Client(t)
	adm = kadm.NewClient(cl)
	if code, off := offsetFetch(t, ctx, cl, "hello", "t"); code != 0 || off != 5 {
		t.Fatalf("another group: %v, offset %d; want 5", kerr.ErrorForCode(code), off)
	}
	if code := findCoordinator(t, ctx, cl, "abc"); code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("FindCoordinator for the damaged partition's group: %v, want COORDINATOR_NOT_AVAILABLE", kerr.ErrorForCode(code))
	}
	if code, _ := offsetFetch(t, ctx, cl, "abc", "t"); code != kerr.NotCoordinator.Code {
		t.Fatalf("OffsetFetch of the damaged partition's group: %v, want NOT_COORDINATOR", kerr.ErrorForCode(code))
	}
	// A new group on a healthy partition can commit.
	commitAt(t, ctx, adm, "hello", "t", 6)
	expectLogLine(t, p.Log(), "consumer groups unavailable", "__consumer_offsets-4", "abc")

	// The repair needs the data directory to itself.
	if _, out, err := runRepair(t, "--data-dir", dataDir, "__consumer_offsets", "4"); err == nil || !strings.Contains(out, "in use") {
		t.Fatalf("offline repair with the broker running: %v\n%s", err, out)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	dry, out, err := runRepair(t, "--data-dir", dataDir, "--dry-run", "__consumer_offsets", "4")
	if err != nil || dry.Changed || len(dry.Problems) == 0 {
		t.Fatalf("dry run: %+v, %v\n%s", dry, err, out)
	}
	rep, out, err := runRepair(t, "--data-dir", dataDir, "__consumer_offsets", "4")
	if err != nil {
		t.Fatalf("rewind repair: %v\n%s", err, out)
	}
	t.Logf("repair: %s", out)
	if !rep.Changed || rep.KeptEnd != 1 || rep.DroppedFrom != 1 || rep.DroppedTo != 3 || rep.NextOffset != 3 ||
		rep.DroppedBatches != 2 || rep.DroppedBytes != origSize-pos[1] || !slices.Equal(rep.GroupsLost, []string{"abc"}) {
		t.Fatalf("repair report %+v: want offsets [1, 3) of abc dropped", rep)
	}

	p = startOn(t, dataDir)
	cl = p.Client(t)
	adm = kadm.NewClient(cl)
	if code, off := offsetFetch(t, ctx, cl, "abc", "t"); code != 0 || off != 10 {
		t.Fatalf("repaired group: %v, offset %d; want its first commit, 10", kerr.ErrorForCode(code), off)
	}
	if code, off := offsetFetch(t, ctx, cl, "hello", "t"); code != 0 || off != 6 {
		t.Fatalf("other group after the repair: %v, offset %d; want 6", kerr.ErrorForCode(code), off)
	}
	commitAt(t, ctx, adm, "abc", "t", 40)
	if code, off := offsetFetch(t, ctx, cl, "abc", "t"); code != 0 || off != 40 {
		t.Fatalf("commit after the repair: %v, offset %d", kerr.ErrorForCode(code), off)
	}
}

// fetchPartition fetches topic/part from offset with a raw request to
// broker 0 and returns the error code and the records' offsets.
func fetchPartition(ctx context.Context, cl *kgo.Client, topic string, part int32, offset int64) (int16, []int64, error) {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.MaxWaitMillis, req.MaxBytes = 11, 10, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes = part, offset, 1<<20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	if err := proctest.FetchTopicIDs(ctx, cl, req); err != nil {
		return 0, nil, err
	}
	resp, err := req.RequestWith(ctx, cl.Broker(0))
	if err != nil {
		return 0, nil, err
	}
	rp := resp.Topics[0].Partitions[0]
	if rp.ErrorCode != 0 {
		return rp.ErrorCode, nil, nil
	}
	var offs []int64
	data := rp.RecordBatches
	for len(data) > 0 {
		h, err := storage.ParseBatchHeader(data)
		if err != nil {
			return 0, offs, err
		}
		recs, err := storage.DecodeRecords(data[:h.Size()])
		if err != nil {
			return 0, offs, err
		}
		for _, r := range recs {
			if r.Offset >= offset {
				offs = append(offs, r.Offset)
			}
		}
		data = data[h.Size():]
	}
	return 0, offs, nil
}

// produceBatches writes n batches of 10 records to each partition.
func produceBatches(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, parts []int32, n int) {
	t.Helper()
	for b := 0; b < n; b++ {
		for _, part := range parts {
			for i := 0; i < 10; i++ {
				cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: part, Value: []byte(fmt.Sprintf("%d-%d-%s", part, b*10+i, strings.Repeat("x", 80)))}, nil)
			}
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func manualClient(t *testing.T, p *proctest.Proc) *kgo.Client {
	t.Helper()
	return p.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(0))
}

// Online repair of a fenced data partition while another partition of the
// same topic keeps taking produce and fetch: `rewind repair --http`
// truncates the damaged partition to its last valid batch and serves it
// again, without a restart; the other partition's clients see no error
// and are answered within a second throughout.
func TestOnlineRepair(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	httpAddr := proctest.FreeAddr(t)
	p := start(t, "--http", httpAddr)
	dataDir := p.DataDir
	cl := manualClient(t, p)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "d"); err != nil {
		t.Fatal(err)
	}
	produceBatches(t, ctx, cl, "d", []int32{0, 1}, 20)
	p.Kill() // the recovery scan finds the damage

	segs, pos := segmentBatches(t, filepath.Join(dataDir, "logs", "d-0"))
	flip(t, segs[len(segs)-1], pos[1]+70)

	p = startOn(t, dataDir, "--http", httpAddr)
	cl = manualClient(t, p)
	if code, _, err := fetchPartition(ctx, cl, "d", 0, 0); err != nil || code != kerr.KafkaStorageError.Code {
		t.Fatalf("fetch of the damaged partition: %v %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(code), err)
	}
	expectLogLine(t, p.Log(), "partition log fenced", "d-0")

	// Partition 1 is used all along the repair.
	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
		errs     []string
		slowest  time.Duration
		produced int
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			t0 := time.Now()
			r := cl.ProduceSync(ctx, &kgo.Record{Topic: "d", Partition: 1, Value: []byte("during")})
			var code int16
			var err error
			if err = r.FirstErr(); err == nil {
				code, _, err = fetchPartition(ctx, cl, "d", 1, r[0].Record.Offset)
			}
			d := time.Since(t0)
			mu.Lock()
			if err != nil || code != 0 {
				errs = append(errs, fmt.Sprintf("%v %v", err, kerr.ErrorForCode(code)))
			}
			slowest = max(slowest, d)
			produced++
			mu.Unlock()
		}
	}()
	time.Sleep(200 * time.Millisecond)

	if _, out, err := runRepair(t, "--http", httpAddr, "d", "1"); err == nil || !strings.Contains(out, "not fenced") {
		t.Fatalf("online repair of a serving partition: %v\n%s", err, out)
	}
	rep, out, err := runRepair(t, "--http", httpAddr, "d", "0")
	if err != nil {
		t.Fatalf("rewind repair --http: %v\n%s", err, out)
	}
	t.Logf("repair: %s", out)
	time.Sleep(200 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	if !rep.Online || !rep.Changed || !rep.Serving || rep.KeptEnd != 10 || rep.DroppedFrom != 10 || rep.DroppedTo != 200 ||
		rep.NextOffset != 200 || rep.DroppedBatches < 18 {
		t.Fatalf("report %+v: want offsets [10, 200) dropped and the partition serving", rep)
	}
	mu.Lock()
	if len(errs) > 0 || produced < 3 || slowest > time.Second {
		t.Fatalf("partition 1 during the repair: %d round trips, slowest %s, errors %v", produced, slowest, errs)
	}
	t.Logf("partition 1 during the repair: %d produce+fetch round trips, slowest %s", produced, slowest)
	mu.Unlock()

	// The repaired partition serves what was kept and takes new records
	// after the dropped offsets.
	r := cl.ProduceSync(ctx, &kgo.Record{Topic: "d", Partition: 0, Value: []byte("after")})
	if err := r.FirstErr(); err != nil || r[0].Record.Offset != 200 {
		t.Fatalf("produce to the repaired partition: %v, offset %d; want 200", err, r[0].Record.Offset)
	}
	code, offs, err := fetchPartition(ctx, cl, "d", 0, 0)
	if err != nil || code != 0 || !slices.Equal(offs, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 200}) {
		t.Fatalf("fetch of the repaired partition: %v %v, offsets %v; want 0-9 and 200", kerr.ErrorForCode(code), err, offs)
	}
	if code, offs, err = fetchPartition(ctx, cl, "d", 0, 10); err != nil || code != 0 || !slices.Equal(offs, []int64{200}) {
		t.Fatalf("fetch in the dropped range: %v %v, offsets %v; want the new record at 200", kerr.ErrorForCode(code), err, offs)
	}
}

// A deleted segment file is not an empty partition: the broker fences the
// partition and says the file is missing, and leaves the checkpoint (the
// record of how much was durable) as it was. A repair accepts the loss and
// continues at the recorded end, so a group's lag is not negative.
func TestDeletedSegmentFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	httpAddr := proctest.FreeAddr(t)
	p := start(t, "--http", httpAddr)
	dataDir := p.DataDir
	cl := manualClient(t, p)
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "del"); err != nil {
		t.Fatal(err)
	}
	produceBatches(t, ctx, cl, "del", []int32{0}, 10)
	commitAt(t, ctx, adm, "g", "del", 100)
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	partDir := filepath.Join(dataDir, "logs", "del-0")
	segs, _ := segmentBatches(t, partDir)
	ck, err := os.ReadFile(filepath.Join(partDir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(segs[0]); err != nil {
		t.Fatal(err)
	}

	p = startOn(t, dataDir, "--http", httpAddr)
	cl = manualClient(t, p)
	if code, _, err := fetchPartition(ctx, cl, "del", 0, 0); err != nil || code != kerr.KafkaStorageError.Code {
		t.Fatalf("fetch of a partition whose segment was deleted: %v %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(code), err)
	}
	if code, off := proctest.ListEnd(t, ctx, cl, "del", 0); code != kerr.KafkaStorageError.Code {
		t.Fatalf("list offsets: %v, end %d; want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(code), off)
	}
	expectLogLine(t, p.Log(), "partition log fenced", "del-0", "every segment file is missing", filepath.Base(segs[0]))
	if got, _ := os.ReadFile(filepath.Join(partDir, "checkpoint")); !bytes.Equal(got, ck) {
		t.Fatal("the checkpoint was rewritten")
	}
	if _, err := os.Stat(segs[0]); err == nil {
		t.Fatal("the deleted segment file was created again")
	}

	rep, out, err := runRepair(t, "--http", httpAddr, "del", "0")
	if err != nil || !rep.Serving || rep.NextOffset != 100 || rep.DroppedFrom != 0 || rep.DroppedTo != 100 {
		t.Fatalf("repair: %+v, %v\n%s", rep, err, out)
	}
	if code, off := proctest.ListEnd(t, ctx, cl, "del", 0); code != 0 || off != 100 {
		t.Fatalf("end offset after the repair: %v, %d; want 100", kerr.ErrorForCode(code), off)
	}
}

func size(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// startOn runs a broker on an existing data directory.
func startOn(t *testing.T, dataDir string, args ...string) *proctest.Proc {
	t.Helper()
	return proctest.Start(t, proctest.Config{Binary: binary, DataDir: dataDir, Args: args})
}

// A truncated catalog.json: the broker starts from the previous copy
// (reconciled with the partition directories: the topic created by the
// last change is there) and says so; with the previous copy damaged too
// it starts from the partition directories (names and partition counts;
// configs lost, and it says so). Records are served in both cases.
func TestDamagedCatalog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := start(t)
	dataDir := p.DataDir
	cl := manualClient(t, p)
	adm := kadm.NewClient(cl)
	ret := "3600000"
	if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": &ret}, "keep"); err != nil {
		t.Fatal(err)
	}
	produceBatches(t, ctx, cl, "keep", []int32{0, 1}, 3)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "last"); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	catPath := filepath.Join(dataDir, "catalog.json")
	truncateHalf := func(path string) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b[:len(b)/2], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	check := func(p *proctest.Proc, wantRetention string) {
		t.Helper()
		cl := manualClient(t, p)
		adm := kadm.NewClient(cl)
		td, err := adm.ListTopics(ctx, "keep", "last")
		if err != nil {
			t.Fatal(err)
		}
		if k, l := td["keep"], td["last"]; k.Err != nil || len(k.Partitions) != 2 || l.Err != nil || len(l.Partitions) != 1 {
			t.Fatalf("recovered topics: keep %v (%d partitions), last %v (%d)", k.Err, len(k.Partitions), l.Err, len(l.Partitions))
		}
		if code, end := proctest.ListEnd(t, ctx, cl, "keep", 1); code != 0 || end != 30 {
			t.Fatalf("keep-1 after the recovery: %v, end %d; want 30", kerr.ErrorForCode(code), end)
		}
		rc, err := adm.DescribeTopicConfigs(ctx, "keep")
		if err != nil {
			t.Fatal(err)
		}
		c, err := rc.On("keep", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range c.Configs {
			if kv.Key == "retention.ms" && kv.MaybeValue() != wantRetention {
				t.Fatalf("keep's retention.ms %q, want %q", kv.MaybeValue(), wantRetention)
			}
		}
	}

	truncateHalf(catPath)
	p = startOn(t, dataDir)
	expectLogLine(t, p.Log(), "recovered the catalog", "recovered_from=catalog.json.prev", "last (1 partitions)")
	check(p, ret)
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}

	truncateHalf(catPath)
	truncateHalf(catPath + ".prev")
	p = startOn(t, dataDir)
	expectLogLine(t, p.Log(), "recovered the catalog", "the partition directories", "config override")
	check(p, "604800000") // the default: configs are lost
}

// The online repair of a damaged __consumer_offsets partition loads its
// groups again without a restart: the damaged group is served from its
// last commit before the damage, and can commit again.
func TestOnlineRepairOffsetsPartition(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	httpAddr := proctest.FreeAddr(t)
	p := start(t, "--http", httpAddr)
	dataDir := p.DataDir
	cl := p.Client(t)
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{10, 20, 30} {
		commitAt(t, ctx, adm, "abc", "t", off) // partition 4 of 50
	}
	p.Kill()
	segs, pos := segmentBatches(t, filepath.Join(dataDir, "logs", "__consumer_offsets-4"))
	flip(t, segs[len(segs)-1], pos[1]+70)

	p = startOn(t, dataDir, "--http", httpAddr)
	cl = p.Client(t)
	adm = kadm.NewClient(cl)
	if code := findCoordinator(t, ctx, cl, "abc"); code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("FindCoordinator before the repair: %v", kerr.ErrorForCode(code))
	}
	rep, out, err := runRepair(t, "--http", httpAddr, "__consumer_offsets", "4")
	if err != nil || !rep.Serving || rep.KeptEnd != 1 || !slices.Equal(rep.GroupsLost, []string{"abc"}) {
		t.Fatalf("online repair: %+v, %v\n%s", rep, err, out)
	}
	if code := findCoordinator(t, ctx, cl, "abc"); code != 0 {
		t.Fatalf("FindCoordinator after the repair: %v", kerr.ErrorForCode(code))
	}
	if code, off := offsetFetch(t, ctx, cl, "abc", "t"); code != 0 || off != 10 {
		t.Fatalf("repaired group: %v, offset %d; want 10", kerr.ErrorForCode(code), off)
	}
	commitAt(t, ctx, adm, "abc", "t", 40)
	if code, off := offsetFetch(t, ctx, cl, "abc", "t"); code != 0 || off != 40 {
		t.Fatalf("commit after the repair: %v, offset %d", kerr.ErrorForCode(code), off)
	}
}
