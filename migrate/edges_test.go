package migrate_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/migrate"
	"github.com/rewindhq/rewind/offsettool/txntest"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMigrateGroupAddedLater: a second run with the same state file moves
// a group the first run did not; its offset lies in records the first run
// already copied, and it must resume there, not at the end.
func TestMigrateGroupAddedLater(t *testing.T) {
	ctx := tctx(t, 2*time.Minute)
	src, dst := rewindtest.Start(t).Addr(), rewindtest.Start(t).Addr()
	cl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	produce(t, ctx, cl, "orders", 0, 0, 60)
	// Offsets differ on the target: the source log starts at 10, and an
	// aborted transaction sits in the middle.
	del := kadm.Offsets{}
	del.AddOffset("orders", 0, 10, -1)
	if _, err := adm.DeleteRecords(ctx, del); err != nil {
		t.Fatal(err)
	}
	txntest.Txn(t, src, "later-abort", "orders", 0, 3, txntest.Abort, "", nil)
	produce(t, ctx, cl, "orders", 0, 60, 40)
	commit(t, ctx, src, "first", map[string]map[int32]int64{"orders": {0: 90}})
	commit(t, ctx, src, "second", map[string]map[int32]int64{"orders": {0: 30}})
	commit(t, ctx, src, "third", map[string]map[int32]int64{"orders": {0: 80}})
	want := map[string]map[string]string{}
	for _, g := range []string{"second", "third"} {
		at := map[string]int64{"second": 30, "third": 80}[g]
		want[g] = map[string]string{"orders/0": values(t, ctx, src, "orders", 0, at)[0]}
	}

	m := newMigrator(src, dst)
	statePath := filepath.Join(t.TempDir(), "state.json")
	m.Options.Groups = []string{"first"}
	st, _ := migrate.LoadState(statePath)
	if _, err := m.Execute(ctx, st); err != nil {
		t.Fatal(err)
	}
	m.Options.Groups = []string{"second", "third"}
	st, _ = migrate.LoadState(statePath)
	plan, err := m.Execute(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	checkNext(t, want, nextValues(t, ctx, dst, want))
	for _, g := range plan.Groups {
		for _, o := range g.Offsets {
			// 30 is the 20th record from the log start; 80 follows the 50
			// records 10-59 and 16 after the aborted transaction (60-63).
			if w := map[string]int64{"second": 20, "third": 66}[g.Group]; o.Target != w {
				t.Errorf("group %s: %d translated to %d, want %d", g.Group, o.Source, o.Target, w)
			}
		}
	}
	if rep, err := m.Verify(ctx, plan); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

// TestMigrateLargeRecords: a topic whose max.message.bytes is above the
// producer's default 1 MB batch holds records of 2 MB; they are copied
// (with null keys and values, empty values and null header values kept
// apart), and verified.
func TestMigrateLargeRecords(t *testing.T) {
	ctx := tctx(t, 2*time.Minute)
	src, dst := rewindtest.Start(t).Addr(), rewindtest.Start(t).Addr()
	cl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(4<<20))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{"max.message.bytes": kadm.StringPtr("4194304")}, "blobs"); err != nil {
		t.Fatal(err)
	}
	big := func(b byte) []byte { return []byte(strings.Repeat(string(b), 2<<20)) }
	rs := []*kgo.Record{
		{Topic: "blobs", Key: []byte("a"), Value: []byte("small")},
		{Topic: "blobs", Key: []byte("b"), Value: big('b')},
		{Topic: "blobs", Key: nil, Value: nil}, // a tombstone without a key
		{Topic: "blobs", Key: []byte{}, Value: []byte{}, Headers: []kgo.RecordHeader{{Key: "h", Value: nil}, {Key: "e", Value: []byte{}}}},
		{Topic: "blobs", Key: []byte("c"), Value: big('c')},
		{Topic: "blobs", Key: []byte("d"), Value: []byte("last")},
	}
	for _, r := range rs {
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	commit(t, ctx, src, "reader", map[string]map[int32]int64{"blobs": {0: 4}})
	m := newMigrator(src, dst)
	st, _ := migrate.LoadState(filepath.Join(t.TempDir(), "state.json"))
	plan, err := m.Execute(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := m.Verify(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || len(rep.Partitions) != 1 || rep.Partitions[0].TargetRecords != int64(len(rs)) {
		b, _ := json.MarshalIndent(rep, "", " ")
		t.Fatalf("verification failed:\n%s", b)
	}
	got := client(t, dst, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"blobs": {0: kgo.NewOffset().At(0)}}))
	var n int
	for n < len(rs) {
		fs := got.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			w := rs[n]
			if (r.Key == nil) != (w.Key == nil) || string(r.Key) != string(w.Key) ||
				(r.Value == nil) != (w.Value == nil) || string(r.Value) != string(w.Value) || len(r.Headers) != len(w.Headers) {
				t.Errorf("record %d on the target: key %q (null %v), %d value bytes (null %v), %d headers; want key %q, %d bytes (null %v), %d headers",
					n, r.Key, r.Key == nil, len(r.Value), r.Value == nil, len(r.Headers), w.Key, len(w.Value), w.Value == nil, len(w.Headers))
			}
			for i := range r.Headers {
				if i < len(w.Headers) && (r.Headers[i].Value == nil) != (w.Headers[i].Value == nil) {
					t.Errorf("record %d header %s: null %v on the target", n, r.Headers[i].Key, r.Headers[i].Value == nil)
				}
			}
			n++
		})
	}
}

// TestMigrateResumeChecksHeldRecords: an earlier run's write of source
// record 50 failed while the next ones of the partition were acknowledged
// (a record the target refused, a timeout), and its state file says 50
// records were copied. The records the target holds past that point are
// not the source's next ones: resuming must refuse, not skip 50 as copied
// and write 59 twice.
func TestMigrateResumeChecksHeldRecords(t *testing.T) {
	ctx := tctx(t, 2*time.Minute)
	src, dst := rewindtest.Start(t).Addr(), rewindtest.Start(t).Addr()
	for _, addr := range []string{src, dst} {
		if _, err := kadm.NewClient(client(t, addr)).CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
			t.Fatal(err)
		}
	}
	produce(t, ctx, client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner())), "orders", 0, 0, 100)
	dcl := client(t, dst, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce(t, ctx, dcl, "orders", 0, 0, 50)
	produce(t, ctx, dcl, "orders", 0, 51, 9) // 50 is missing
	statePath := filepath.Join(t.TempDir(), "state.json")
	st, _ := migrate.LoadState(statePath)
	st.Created["orders"] = true
	st.Partitions["orders/0"] = &migrate.PartState{SourceNext: 50, TargetNext: 50, Copied: 50}
	if err := st.Save(); err != nil {
		t.Fatal(err)
	}
	st, _ = migrate.LoadState(statePath)
	m := newMigrator(src, dst)
	if _, err := m.Execute(ctx, st); !errors.Is(err, migrate.ErrTargetNotEmpty) {
		t.Fatalf("resume over a gap on the target: %v, want ErrTargetNotEmpty", err)
	}
	ends, err := kadm.NewClient(client(t, dst)).ListEndOffsets(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := ends.Lookup("orders", 0); e.Offset != 59 {
		t.Errorf("target ends at %d after the refused resume, want 59 (nothing written)", e.Offset)
	}

	// Where the held records are the source's next ones, they are
	// skipped and the copy completes.
	src2, dst2 := rewindtest.Start(t).Addr(), rewindtest.Start(t).Addr()
	for _, addr := range []string{src2, dst2} {
		if _, err := kadm.NewClient(client(t, addr)).CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
			t.Fatal(err)
		}
	}
	produce(t, ctx, client(t, src2, kgo.RecordPartitioner(kgo.ManualPartitioner())), "orders", 0, 0, 100)
	produce(t, ctx, client(t, dst2, kgo.RecordPartitioner(kgo.ManualPartitioner())), "orders", 0, 0, 60)
	st, _ = migrate.LoadState("")
	st.Created["orders"] = true
	st.Partitions["orders/0"] = &migrate.PartState{SourceNext: 50, TargetNext: 50, Copied: 50}
	m = newMigrator(src2, dst2)
	plan, err := m.Execute(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := m.Verify(ctx, plan); err != nil || !rep.OK() || rep.Partitions[0].TargetRecords != 100 {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

// TestMigrateRefusesOpenTransaction: with a transaction open on the source
// (a hanging one, or a producer still writing) read_committed stops at
// it, and the records after it, committed ones of other producers too,
// would be left out of a copy that verifies clean. Execute refuses and
// names the partition; once the transaction ends every record moves.
func TestMigrateRefusesOpenTransaction(t *testing.T) {
	ctx := tctx(t, 2*time.Minute)
	src, dst := rewindtest.Start(t).Addr(), rewindtest.Start(t).Addr()
	cl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	produce(t, ctx, cl, "orders", 0, 0, 10)
	open := txntest.Txn(t, src, "mig-open", "orders", 0, 3, txntest.Open, "", nil)
	produce(t, ctx, cl, "orders", 0, 10, 10)
	m := newMigrator(src, dst)
	st, _ := migrate.LoadState(filepath.Join(t.TempDir(), "state.json"))
	_, err := m.Execute(ctx, st)
	if !errors.Is(err, migrate.ErrOpenTransactions) || !strings.Contains(err.Error(), "orders/0 (last stable offset 10, end 23)") {
		t.Fatalf("migration with an open transaction: %v, want ErrOpenTransactions naming orders/0", err)
	}
	if l, _ := kadm.NewClient(client(t, dst)).ListTopics(ctx); len(l) != 0 {
		t.Fatalf("a refused migration created %v", l.Names())
	}

	if err := open.Client.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		plan, err := m.Plan(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.OpenTransactions()) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("transaction still open after its abort: %v", plan.OpenTransactions())
		}
		time.Sleep(100 * time.Millisecond)
	}
	plan, err := m.Execute(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := m.Verify(ctx, plan)
	if err != nil || !rep.OK() || rep.Partitions[0].TargetRecords != 20 {
		t.Fatalf("after the abort: %v %+v, want 20 records verified", err, rep)
	}
}

// pausingProxy forwards TCP connections to a broker, and after armed it
// has carried after bytes from the broker it holds every byte for pause,
// once: the source as a restarting broker or a stalled network shows it.
type pausingProxy struct {
	ln      net.Listener
	to      string
	armed   atomic.Bool
	carried atomic.Int64
	after   int64
	pause   time.Duration
	mu      sync.Mutex
	until   time.Time
	paused  bool
}

func newPausingProxy(t *testing.T, after int64, pause time.Duration) *pausingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pausingProxy{ln: ln, after: after, pause: pause}
	t.Cleanup(func() { ln.Close() })
	return p
}

func (p *pausingProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", p.to)
		if err != nil {
			c.Close()
			continue
		}
		go p.pipe(b, c, true)
		go p.pipe(c, b, false)
	}
}

func (p *pausingProxy) hold() {
	for {
		p.mu.Lock()
		d := time.Until(p.until)
		p.mu.Unlock()
		if d <= 0 {
			return
		}
		time.Sleep(d)
	}
}

func (p *pausingProxy) pipe(from, to net.Conn, fromBroker bool) {
	defer from.Close()
	defer to.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			if fromBroker && p.armed.Load() && p.carried.Add(int64(n)) > p.after {
				p.mu.Lock()
				if !p.paused {
					p.paused, p.until = true, time.Now().Add(p.pause)
				}
				p.mu.Unlock()
			}
			p.hold()
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestMigrateWaitsForStalledSource: the source stops answering for longer
// than the silence that ends a read (a broker restarting, a network
// stall) in the middle of the copy. The copy waits for it and then copies
// the rest; it does not take the silence for the end of every partition
// and mark them done with records missing.
func TestMigrateWaitsForStalledSource(t *testing.T) {
	ctx := tctx(t, 2*time.Minute)
	proxy := newPausingProxy(t, 1<<20, 8*time.Second)
	b := rewindtest.Start(t, broker.WithAdvertise(proxy.ln.Addr().String()))
	proxy.to = b.Addr()
	go proxy.serve()
	src, dst := proxy.ln.Addr().String(), rewindtest.Start(t).Addr()
	cl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "events"); err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for p := int32(0); p < 2; p++ {
		var rs []*kgo.Record
		for i := 0; i < 10000; i++ {
			v := make([]byte, 200) // incompressible: the copy takes several fetches
			for j := range v {
				v[j] = byte(rnd.Uint32())
			}
			rs = append(rs, &kgo.Record{Topic: "events", Partition: p, Value: v})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	commit(t, ctx, src, "reader", map[string]map[int32]int64{"events": {0: 9000, 1: 9500}})
	m := newMigrator(src, dst)
	st, _ := migrate.LoadState(filepath.Join(t.TempDir(), "state.json"))
	proxy.armed.Store(true)
	plan, err := m.Execute(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	proxy.mu.Lock()
	paused := proxy.paused
	proxy.mu.Unlock()
	if !paused {
		t.Fatalf("the source never stalled (%d bytes carried): the test tested nothing", proxy.carried.Load())
	}
	rep, err := m.Verify(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Partitions {
		if p.TargetRecords != 10000 || !p.OK {
			t.Errorf("%s/%d: %d records on the target, want 10000 (ok %v)", p.Topic, p.Partition, p.TargetRecords, p.OK)
		}
	}
	if !rep.OK() {
		t.Errorf("verification failed: %+v", rep.Groups)
	}
}

// TestMigrateVerifyReportsCorruption: Verify must be able to fail. Against
// a target that holds the migrated records except one changed value, one
// changed header, one changed timestamp (one partition each), it reports
// exactly those partitions, and the group whose next record changed.
func TestMigrateVerifyReportsCorruption(t *testing.T) {
	ctx := tctx(t, 2*time.Minute)
	src, dst, bad := rewindtest.Start(t).Addr(), rewindtest.Start(t).Addr(), rewindtest.Start(t).Addr()
	cl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 4, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 4; p++ {
		produce(t, ctx, cl, "orders", p, 0, 20)
	}
	commit(t, ctx, src, "reader", map[string]map[int32]int64{"orders": {0: 5, 3: 5}})
	m := newMigrator(src, dst)
	st, _ := migrate.LoadState("")
	plan, err := m.Execute(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := m.Verify(ctx, plan); err != nil || !rep.OK() {
		t.Fatalf("clean copy: %v %+v", err, rep)
	}

	// The same records on another cluster, but for record 5 of
	// partitions 0-2.
	bcl := client(t, bad, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if _, err := kadm.NewClient(bcl).CreateTopic(ctx, 4, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 4; p++ {
		produce(t, ctx, bcl, "orders", p, 0, 5)
		r := &kgo.Record{Topic: "orders", Partition: p, Key: []byte("k5"), Value: []byte("orders-" + string('0'+byte(p)) + "-5"),
			Headers: []kgo.RecordHeader{{Key: "i", Value: []byte("5")}}, Timestamp: tsBase.Add(5 * time.Millisecond)}
		switch p {
		case 0:
			r.Value = []byte("orders-0-X")
		case 1:
			r.Headers[0].Value = []byte("6")
		case 2:
			r.Timestamp = r.Timestamp.Add(time.Millisecond)
		}
		if err := bcl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		produce(t, ctx, bcl, "orders", p, 6, 14)
	}
	commit(t, ctx, bad, "reader", map[string]map[int32]int64{"orders": {0: 5, 3: 5}})
	rep, err := newMigrator(src, bad).Verify(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() {
		t.Fatal("Verify found nothing wrong with a target holding three changed records")
	}
	for _, p := range rep.Partitions {
		if want := p.Partition == 3; p.OK != want || p.TargetRecords != 20 {
			t.Errorf("partition %d: ok %v with %d records, want ok %v with 20", p.Partition, p.OK, p.TargetRecords, want)
		}
	}
	for _, g := range rep.Groups {
		if want := g.Partition == 3; g.OK != want {
			t.Errorf("group %s partition %d: ok %v (%s), want %v", g.Group, g.Partition, g.OK, g.Next, want)
		}
	}
}

// TestMigrateNamedGroupWithoutOffsets: a group named explicitly whose
// offsets are all on topics not moved is an error in the plan, not a group
// silently left behind.
func TestMigrateNamedGroupWithoutOffsets(t *testing.T) {
	ctx := tctx(t, time.Minute)
	src, dst := rewindtest.Start(t).Addr(), rewindtest.Start(t).Addr()
	cl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for _, topic := range []string{"orders", "payments"} {
		if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
		produce(t, ctx, cl, topic, 0, 0, 10)
	}
	commit(t, ctx, src, "billing", map[string]map[int32]int64{"payments": {0: 5}})
	commit(t, ctx, src, "shipping", map[string]map[int32]int64{"orders": {0: 5}})
	m := newMigrator(src, dst)
	m.Options.Topics = []string{"orders"}
	m.Options.Groups = []string{"billing", "shipping"}
	if _, err := m.Plan(ctx, nil); err == nil || !strings.Contains(err.Error(), `group "billing" has no committed offset on the topics moved`) {
		t.Fatalf("plan with a named group that has nothing on the moved topics: %v", err)
	}
	// Unnamed, it is simply not part of the move.
	m.Options.Groups = nil
	plan, err := m.Plan(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Groups) != 1 || plan.Groups[0].Group != "shipping" {
		t.Fatalf("plan groups: %+v, want shipping only", plan.Groups)
	}
}

// TestMigrateKeepsLogAppendTimes: the records of a LogAppendTime topic
// keep the source's append times on the target (a LogAppendTime target
// would stamp them with the copy's time, and time-based lookups and
// retention there would count from the move), and the target topic is
// LogAppendTime afterwards.
func TestMigrateKeepsLogAppendTimes(t *testing.T) {
	ctx := tctx(t, time.Minute)
	src, dst := rewindtest.Start(t).Addr(), rewindtest.Start(t).Addr()
	cl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{"message.timestamp.type": kadm.StringPtr("LogAppendTime")}, "clicks"); err != nil {
		t.Fatal(err)
	}
	produce(t, ctx, cl, "clicks", 0, 0, 10)
	readTimes := func(addr string) []time.Time {
		c := client(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"clicks": {0: kgo.NewOffset().At(0)}}))
		var ts []time.Time
		for len(ts) < 10 {
			fs := c.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatal(err)
			}
			fs.EachRecord(func(r *kgo.Record) { ts = append(ts, r.Timestamp) })
		}
		return ts
	}
	before := readTimes(src)
	time.Sleep(50 * time.Millisecond) // the copy's clock is past every source append time
	m := newMigrator(src, dst)
	st, _ := migrate.LoadState("")
	plan, err := m.Execute(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	after := readTimes(dst)
	for i := range before {
		if !after[i].Equal(before[i]) {
			t.Errorf("record %d: timestamp %v on the target, %v on the source", i, after[i].UnixMilli(), before[i].UnixMilli())
		}
	}
	cfgs, err := kadm.NewClient(client(t, dst)).DescribeTopicConfigs(ctx, "clicks")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfgs.On("clicks", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if c.Key == "message.timestamp.type" && (c.Value == nil || *c.Value != "LogAppendTime") {
			t.Errorf("target message.timestamp.type = %v after the copy, want LogAppendTime", c.MaybeValue())
		}
	}
	if rep, err := m.Verify(ctx, plan); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

// TestMigrateGroupMovedDuringCopy: a group's consumer commits on the source
// while the records are copied (started again during a long copy). The
// position planned at the start is stale: Execute refuses to commit it
// (on the target the group would read again what it read on the source),
// and a run again moves the new position.
func TestMigrateGroupMovedDuringCopy(t *testing.T) {
	ctx := tctx(t, 2*time.Minute)
	src, dst := rewindtest.Start(t).Addr(), rewindtest.Start(t).Addr()
	cl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	produce(t, ctx, cl, "orders", 0, 0, 50)
	commit(t, ctx, src, "billing", map[string]map[int32]int64{"orders": {0: 10}})
	m := newMigrator(src, dst)
	var once sync.Once
	m.Progress = func(migrate.Progress) {
		// Called at the end of the copy too: the group reads on.
		once.Do(func() { commit(t, ctx, src, "billing", map[string]map[int32]int64{"orders": {0: 30}}) })
	}
	st, _ := migrate.LoadState(filepath.Join(t.TempDir(), "state.json"))
	_, err := m.Execute(ctx, st)
	if !errors.Is(err, migrate.ErrGroupsChanged) || !strings.Contains(err.Error(), "billing orders/0: 10 planned, 30 now") {
		t.Fatalf("group moved during the copy: %v, want ErrGroupsChanged", err)
	}
	if o, err := kadm.NewClient(client(t, dst)).FetchOffsets(ctx, "billing"); err != nil || len(o) != 0 {
		t.Fatalf("the stale position was committed on the target: %v %v", o, err)
	}
	m.Progress = nil
	plan, err := m.Execute(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{"billing": {"orders/0": "orders-0-30"}}
	checkNext(t, want, nextValues(t, ctx, dst, want))
	if rep, err := m.Verify(ctx, plan); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

// listGroupsCounter counts the ListGroups requests a client writes.
type listGroupsCounter struct{ n atomic.Int64 }

func (c *listGroupsCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == kmsg.ListGroups.Int16() && err == nil {
		c.n.Add(1)
	}
}

// TestMigrateManyGroupsListTargetOnce: the check that no migrated group
// has members on the target lists the target's groups once, not once per
// group (with 10,000 groups that is 10,000 listings of 10,000 groups).
func TestMigrateManyGroupsListTargetOnce(t *testing.T) {
	ctx := tctx(t, 2*time.Minute)
	src, dst := rewindtest.Start(t).Addr(), rewindtest.Start(t).Addr()
	cl := client(t, src, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	produce(t, ctx, cl, "orders", 0, 0, 40)
	const groups = 30
	for i := 0; i < groups; i++ {
		commit(t, ctx, src, fmt.Sprintf("g%02d", i), map[string]map[int32]int64{"orders": {0: int64(i)}})
	}
	m := newMigrator(src, dst)
	var lists listGroupsCounter
	m.Target = append(m.Target, kgo.WithHooks(&lists))
	st, _ := migrate.LoadState(filepath.Join(t.TempDir(), "state.json"))
	plan, err := m.Execute(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if n := lists.n.Load(); n != 1 {
		t.Errorf("%d ListGroups requests to the target for %d groups, want 1", n, groups)
	}
	// Every commit is in the saved state.
	saved, err := migrate.LoadState(st.Path())
	if err != nil {
		t.Fatal(err)
	}
	if len(saved.Committed) != groups {
		t.Errorf("state file has %d groups committed, want %d", len(saved.Committed), groups)
	}
	if rep, err := m.Verify(ctx, plan); err != nil || !rep.OK() || len(rep.Groups) != groups {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}
