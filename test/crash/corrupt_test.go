package crash

import (
	"context"
	bin "encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDamagedDataDir kills the broker, damages its files the ways a crash
// or a bad disk can, restarts it and checks what it did and what it serves:
//
//	partition 0  active segment cut mid-batch     -> tail truncated, rest served
//	partition 1  byte flipped in the last batch   -> tail truncated, rest served
//	partition 2  sealed segment's indexes deleted -> rebuilt, all served
//	partition 3  sealed segment's indexes garbage -> rebuilt, all served
//	partition 4  byte flipped mid active segment  -> fenced at start-up
//	partition 5  batch header damaged mid sealed  -> fenced when a read meets it
//
// Fenced partitions answer Produce, Fetch and ListOffsets with
// KAFKA_STORAGE_ERROR and keep their files; the others keep working.
func TestDamagedDataDir(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	addr := freePort(t)
	p := start(t, dataDir, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const topic, parts, batches, perBatch = "damaged", 6, 20, 10
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	// About three batches of ten 100-byte records per 4 KiB segment.
	seg := "4096"
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, parts, 1, map[string]*string{"internal.segment.bytes": &seg}, topic); err != nil {
		t.Fatal(err)
	}
	value := func(part, seq int) string { return fmt.Sprintf("%d-%05d-%s", part, seq, strings.Repeat("x", 90)) }
	for b := 0; b < batches; b++ {
		for part := 0; part < parts; part++ {
			for i := 0; i < perBatch; i++ {
				cl.Produce(ctx, &kgo.Record{Partition: int32(part), Value: []byte(value(part, b*perBatch+i))}, nil)
			}
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()
	p.kill()

	dir := func(part int) string { return filepath.Join(dataDir, "logs", fmt.Sprintf("%s-%d", topic, part)) }
	segs := func(part int) []string {
		m, _ := filepath.Glob(filepath.Join(dir(part), "*.log"))
		sort.Strings(m)
		if len(m) < 3 {
			t.Fatalf("partition %d has %d segments; the test needs sealed ones", part, len(m))
		}
		return m
	}
	// batchStarts lists the positions of the batches of a segment file.
	batchStarts := func(path string) []int64 {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var pos []int64
		for off := 0; off+61 <= len(b); off += 12 + int(bin.BigEndian.Uint32(b[off+8:])) {
			pos = append(pos, int64(off))
		}
		return pos
	}
	flip := func(path string, at int64) {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var b [1]byte
		f.ReadAt(b[:], at)
		b[0] ^= 0x5a
		f.WriteAt(b[:], at)
	}
	size := func(path string) int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	last := func(part int) string { s := segs(part); return s[len(s)-1] }
	if n := len(batchStarts(last(4))); n < 2 {
		t.Fatalf("partition 4's active segment has %d batches; the test needs 2", n)
	}

	// 0: cut mid-batch. 1: a byte of the last batch.
	os.Truncate(last(0), size(last(0))-30)
	flip(last(1), size(last(1))-5)
	// 2: a sealed segment loses its indexes. 3: they are garbage.
	sealed2 := strings.TrimSuffix(segs(2)[1], ".log")
	os.Remove(sealed2 + ".index")
	os.Remove(sealed2 + ".timeindex")
	sealed3 := strings.TrimSuffix(segs(3)[1], ".log")
	os.WriteFile(sealed3+".index", []byte("garbage!garbage!garbage!"), 0o644)
	os.WriteFile(sealed3+".timeindex", []byte("not a time index...."), 0o644)
	// 4: a payload byte of the first batch of the active segment, with a
	// valid batch after it.
	flip(last(4), 70)
	mid4 := size(last(4))
	// 5: the magic byte of the second batch of the first (sealed) segment.
	first5 := segs(5)[0]
	flip(first5, batchStarts(first5)[1]+16)
	mid5 := size(first5)

	p = start(t, dataDir, addr)
	defer func() { p.kill() }()
	cl, err = kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordRetries(2))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	// What start-up logged about each partition.
	logs := readLog(t, dataDir)
	expectLog(t, logs, "truncating torn segment tail", topic+"-0")
	expectLog(t, logs, "truncating torn segment tail", topic+"-1")
	expectLog(t, logs, "rebuilding segment indexes", topic+"-2")
	expectLog(t, logs, "partition log fenced", topic+"-4")
	expectLog(t, logs, "valid batches follow", topic+"-4")

	// Intact or repaired partitions serve every record in order: all of
	// them, or all but the torn last batch.
	want := map[int32]int{0: batches*perBatch - perBatch, 1: batches*perBatch - perBatch, 2: batches * perBatch, 3: batches * perBatch}
	got := consumeFrom(t, ctx, addr, topic, want)
	for part, vals := range got {
		for i, v := range vals {
			if v != value(int(part), i) {
				t.Fatalf("partition %d offset %d: %q, want %q", part, i, v[:8], value(int(part), i)[:8])
			}
		}
	}
	expectLog(t, readLog(t, dataDir), "rebuild", topic+"-3")

	// Fenced partitions: KAFKA_STORAGE_ERROR for everything, files kept.
	// Partition 5 is fenced by the first read that meets the bad batch.
	if code := fetchCode(t, ctx, cl, topic, 5); code != kerr.KafkaStorageError.Code {
		t.Fatalf("fetch of partition 5 over a damaged batch: %v", kerr.ErrorForCode(code))
	}
	expectLog(t, readLog(t, dataDir), "partition log fenced", topic+"-5")
	for _, part := range []int32{4, 5} {
		if code := fetchCode(t, ctx, cl, topic, part); code != kerr.KafkaStorageError.Code {
			t.Errorf("fetch of fenced partition %d: %v", part, kerr.ErrorForCode(code))
		}
		if code, _ := proctest.ListEnd(t, ctx, cl, topic, part); code != kerr.KafkaStorageError.Code {
			t.Errorf("list offsets of fenced partition %d: %v", part, kerr.ErrorForCode(code))
		}
		if code := produceCode(t, ctx, cl, topic, part); code != kerr.KafkaStorageError.Code {
			t.Errorf("produce to fenced partition %d: %v", part, kerr.ErrorForCode(code))
		}
	}
	if size(last(4)) != mid4 || size(first5) != mid5 {
		t.Fatal("a fenced partition's damaged segment was changed")
	}

	// The others take new records at the offsets that follow.
	for part, n := range want {
		r := cl.ProduceSync(ctx, &kgo.Record{Partition: part, Value: []byte("after")})
		if err := r.FirstErr(); err != nil {
			t.Fatalf("produce to partition %d after recovery: %v", part, err)
		}
		if off := r[0].Record.Offset; off != int64(n) {
			t.Fatalf("partition %d: new record at offset %d, want %d", part, off, n)
		}
	}

	for _, line := range strings.Split(readLog(t, dataDir), "\n") {
		if strings.Contains(line, "torn") || strings.Contains(line, "rebuild") || strings.Contains(line, "fenced") {
			t.Log(line)
		}
	}

	// Fenced partitions stay fenced across a restart.
	cl.Close()
	p.kill()
	p = start(t, dataDir, addr)
	cl2, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	for _, part := range []int32{4, 5} {
		if code := fetchCode(t, ctx, cl2, topic, part); code != kerr.KafkaStorageError.Code {
			t.Errorf("fetch of fenced partition %d after a restart: %v", part, kerr.ErrorForCode(code))
		}
	}
}

func readLog(t *testing.T, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(dataDir + ".log")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// expectLog checks that a line of the broker's log holds both msg and what.
func expectLog(t *testing.T, logs, msg, what string) {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, msg) && strings.Contains(line, what) {
			return
		}
	}
	t.Errorf("the broker never logged %q about %s; its log:\n%s", msg, what, logs)
}

// consumeFrom reads the partitions in want from their start until each
// holds its expected count, returning the values by partition.
func consumeFrom(t *testing.T, ctx context.Context, addr, topic string, want map[int32]int) map[int32][]string {
	t.Helper()
	offs := map[int32]kgo.Offset{}
	for part := range want {
		offs[part] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}),
		kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for part, n := range want {
		o, _ := ends.Lookup(topic, part)
		if o.Offset != int64(n) {
			t.Fatalf("partition %d ends at %d after recovery, want %d", part, o.Offset, n)
		}
	}
	got := map[int32][]string{}
	remaining := len(want)
	for remaining > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consuming after recovery: %v", ctx.Err())
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch partition %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != int64(len(got[r.Partition])) {
				t.Fatalf("partition %d: offset %d after %d records", r.Partition, r.Offset, len(got[r.Partition]))
			}
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			if len(got[r.Partition]) == want[r.Partition] {
				remaining--
			}
		})
	}
	return got
}

func fetchCode(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, part int32) int16 {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.MaxWaitMillis, req.MaxBytes = 11, 100, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.PartitionMaxBytes = part, 1<<20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	if err := proctest.FetchTopicIDs(ctx, cl, req); err != nil {
		t.Fatal(err)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// produceCode sends one record with acks=all as a raw request (no client
// retries) and returns the partition's error code.
func produceCode(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, part int32) int16 {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = part
	rp.Records = storage.BuildBatch(time.Now().UnixMilli(), []storage.Record{{Value: []byte("x")}})
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	if err := proctest.ProduceTopicIDs(ctx, cl, req); err != nil {
		t.Fatal(err)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}
