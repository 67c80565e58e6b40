package broker_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func quotaEntry(ops map[string]float64, remove []string, comps ...string) kmsg.AlterClientQuotasRequestEntry {
	e := kmsg.NewAlterClientQuotasRequestEntry()
	for i := 0; i+1 < len(comps); i += 2 {
		c := kmsg.NewAlterClientQuotasRequestEntryEntity()
		c.Type = comps[i]
		if comps[i+1] != "<default>" {
			n := comps[i+1]
			c.Name = &n
		}
		e.Entity = append(e.Entity, c)
	}
	for k, v := range ops {
		op := kmsg.NewAlterClientQuotasRequestEntryOp()
		op.Key, op.Value = k, v
		e.Ops = append(e.Ops, op)
	}
	for _, k := range remove {
		op := kmsg.NewAlterClientQuotasRequestEntryOp()
		op.Key, op.Remove = k, true
		e.Ops = append(e.Ops, op)
	}
	return e
}

func alterQuotas(t *testing.T, cl *kgo.Client, validateOnly bool, entries ...kmsg.AlterClientQuotasRequestEntry) []int16 {
	t.Helper()
	req := kmsg.NewPtrAlterClientQuotasRequest()
	req.Entries, req.ValidateOnly = entries, validateOnly
	resp, err := req.RequestWith(testCtx(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	var codes []int16
	for _, e := range resp.Entries {
		codes = append(codes, e.ErrorCode)
	}
	return codes
}

func describeQuotas(t *testing.T, cl *kgo.Client) string {
	t.Helper()
	adm := kadm.NewClient(cl)
	qs, err := adm.DescribeClientQuotas(testCtx(t, 10*time.Second), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, q := range qs {
		var ent []string
		for _, c := range q.Entity {
			n := "<default>"
			if c.Name != nil {
				n = *c.Name
			}
			ent = append(ent, c.Type+"="+n)
		}
		var vals []string
		for _, v := range q.Values {
			vals = append(vals, fmt.Sprintf("%s=%g", v.Key, v.Value))
		}
		out = append(out, strings.Join(ent, ",")+":"+strings.Join(vals, ","))
	}
	return strings.Join(out, " ")
}

// TestAlterClientQuotasValidation: each entry refused as Kafka's
// ClientQuotaControlManager refuses it, with INVALID_REQUEST, and nothing
// of a refused entry stored; validate_only stores nothing.
func TestAlterClientQuotasValidation(t *testing.T) {
	b := startBrokerAt(t, t.TempDir())
	cl := newClient(t, b.Addr())
	// No quotas: an empty list, never null (the Java admin, hence
	// kafka-configs.sh, fails on null).
	for v := int16(0); v <= 1; v++ {
		req := kmsg.NewPtrDescribeClientQuotasRequest()
		req.Version = v
		resp := newRaw(t, b.Addr()).do(req).(*kmsg.DescribeClientQuotasResponse)
		if resp.ErrorCode != 0 || resp.Entries == nil {
			t.Fatalf("v%d with no quotas: code %d, entries %v (null)", v, resp.ErrorCode, resp.Entries)
		}
	}
	bad := []kmsg.AlterClientQuotasRequestEntry{
		quotaEntry(map[string]float64{"producer_byte_rate": 100}, nil),                               // no entity
		quotaEntry(map[string]float64{"producer_byte_rate": 100}, nil, "group", "g"),                 // unknown type
		quotaEntry(map[string]float64{"producer_byte_rate": 100}, nil, "user", ""),                   // empty name
		quotaEntry(map[string]float64{"producer_byte_rate": 100}, nil, "ip", "1.2.3.4", "user", "u"), // ip with user
		quotaEntry(map[string]float64{"connection_creation_rate": 5}, nil, "ip", "no-such-host.invalid"),
		quotaEntry(map[string]float64{"producer_byte_rate": 100}, nil, "ip", "1.2.3.4"), // key of another type
		quotaEntry(map[string]float64{"connection_creation_rate": 5}, nil, "user", "u1"),
		quotaEntry(map[string]float64{"nonsense": 5}, nil, "user", "u2"),
		quotaEntry(map[string]float64{"producer_byte_rate": 0}, nil, "user", "u3"),
		quotaEntry(map[string]float64{"producer_byte_rate": -5}, nil, "user", "u4"),
		quotaEntry(map[string]float64{"producer_byte_rate": 1.5}, nil, "user", "u5"),
		quotaEntry(map[string]float64{"connection_creation_rate": math.MaxInt32 + 1.0}, nil, "ip", "1.2.3.4"),
		quotaEntry(map[string]float64{"producer_byte_rate": 1e300}, nil, "client-id", "c"),
	}
	for i, e := range bad {
		if codes := alterQuotas(t, cl, false, e); len(codes) != 1 || codes[0] != kerr.InvalidRequest.Code {
			t.Errorf("entry %d: codes %v, want INVALID_REQUEST", i, codes)
		}
	}
	// A key named twice in one entry, an entity named in two entries.
	dup := quotaEntry(map[string]float64{"producer_byte_rate": 100}, nil, "user", "d")
	dup.Ops = append(dup.Ops, dup.Ops[0])
	if codes := alterQuotas(t, cl, false, dup); len(codes) != 1 || codes[0] != kerr.InvalidRequest.Code {
		t.Errorf("duplicate key: %v", codes)
	}
	if got := describeQuotas(t, cl); got != "" {
		t.Fatalf("refused entries were stored: %s", got)
	}
	if codes := alterQuotas(t, cl, true, quotaEntry(map[string]float64{"request_percentage": 12.5}, nil, "user", "v")); codes[0] != 0 {
		t.Fatalf("validate only: %v", codes)
	}
	if got := describeQuotas(t, cl); got != "" {
		t.Fatalf("validate_only stored: %s", got)
	}
	ok := []kmsg.AlterClientQuotasRequestEntry{
		quotaEntry(map[string]float64{"producer_byte_rate": 1024, "request_percentage": 12.5}, nil, "user", "alice", "client-id", "<default>"),
		quotaEntry(map[string]float64{"consumer_byte_rate": 2048}, nil, "client-id", "<default>"),
		quotaEntry(map[string]float64{"connection_creation_rate": 10}, nil, "ip", "127.0.0.1"),
		quotaEntry(nil, []string{"producer_byte_rate"}, "user", "nobody"), // removing nothing
	}
	if codes := alterQuotas(t, cl, false, ok...); fmt.Sprint(codes) != "[0 0 0 0]" {
		t.Fatalf("valid entries: %v", codes)
	}
	want := "client-id=<default>:consumer_byte_rate=2048 ip=127.0.0.1:connection_creation_rate=10 user=alice,client-id=<default>:producer_byte_rate=1024,request_percentage=12.5"
	if got := describeQuotas(t, cl); got != want {
		t.Fatalf("described\n%s\nwant\n%s", got, want)
	}
}

// TestClientQuotasSurviveRestart: what AlterClientQuotas answered is on
// disk before the answer, and a restarted broker lists and enforces it.
func TestClientQuotasSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	b := startBrokerAt(t, dir)
	cl := newClient(t, b.Addr())
	alterQuotas(t, cl, false,
		quotaEntry(map[string]float64{"producer_byte_rate": 4096}, nil, "user", "<default>"),
		quotaEntry(map[string]float64{"consumer_byte_rate": 8192, "request_percentage": 50}, nil, "client-id", "app"))
	alterQuotas(t, cl, false, quotaEntry(nil, []string{"request_percentage"}, "client-id", "app"))
	want := describeQuotas(t, cl)
	cl.Close()
	b.Close()
	b = startBrokerAt(t, dir)
	if got := describeQuotas(t, newClient(t, b.Addr())); got != want || got != "client-id=app:consumer_byte_rate=8192 user=<default>:producer_byte_rate=4096" {
		t.Fatalf("after restart %q, before %q", got, want)
	}
}

// TestProduceQuotaMutesConnection (KIP-219): a produce over the user's
// producer_byte_rate is answered at once with the throttle time Kafka
// computes, and the broker reads nothing more from the connection until
// that time has passed.
func TestProduceQuotaMutesConnection(t *testing.T) {
	b := startBrokerAt(t, t.TempDir())
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "q", 1)
	// 10 KB/s; one 110 KB produce: 110 KB over the 10 s minimum window is
	// 11 KB/s, (11-10)/10 × 10 s = 1 s of throttle.
	alterQuotas(t, cl, false, quotaEntry(map[string]float64{"producer_byte_rate": 10000}, nil, "user", "ANONYMOUS"))
	raw := newRaw(t, b.Addr())
	recs := goodBatch(2000)
	if len(recs) < 100000 {
		t.Fatalf("batch of %d bytes", len(recs))
	}
	req := produceReq("q", 0, -1, recs)
	start := time.Now()
	resp := raw.do(req).(*kmsg.ProduceResponse)
	answered := time.Since(start)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(code))
	}
	size := len(frame(req, 1)) - 4
	wantMs := int32(math.Round((float64(size)/10 - 10000) / 10000 * 10000))
	if resp.ThrottleMillis < wantMs-50 || resp.ThrottleMillis > wantMs+50 {
		t.Fatalf("throttle %d ms, want about %d ms (request of %d bytes)", resp.ThrottleMillis, wantMs, size)
	}
	if answered > time.Duration(resp.ThrottleMillis)*time.Millisecond/2 {
		t.Fatalf("throttled produce answered after %v: the response must go out at once", answered)
	}
	// The next request waits for the end of the throttle.
	raw.do(kmsg.NewPtrApiVersionsRequest())
	if waited := time.Since(start); waited < time.Duration(resp.ThrottleMillis-20)*time.Millisecond {
		t.Fatalf("next request answered %v after the throttled one, throttle %d ms: the connection was not muted", waited, resp.ThrottleMillis)
	}
	// Another connection is not muted.
	other := newRaw(t, b.Addr())
	t0 := time.Now()
	other.do(kmsg.NewPtrMetadataRequest())
	if d := time.Since(t0); d > 500*time.Millisecond {
		t.Fatalf("another connection waited %v", d)
	}
}

// TestProducerHeldToQuota: a franz-go producer sending as fast as it can
// under a 1 MB/s producer_byte_rate on its client id gets, over a few
// seconds, no more than the quota allows (1 MB/s plus the window's
// initial allowance), sees throttle times, and is not starved.
func TestProducerHeldToQuota(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 6 s")
	}
	// 3 samples of 1 s: a rate is taken over at least 2 s, so the
	// allowance before the first throttle is about 2 MB.
	b := startBrokerAt(t, t.TempDir(), broker.WithQuotaWindow(3, time.Second), broker.WithFsync(0))
	adm := newClient(t, b.Addr())
	createTopic(t, adm, "held", 1)
	const quota = 1 << 20
	alterQuotas(t, adm, false, quotaEntry(map[string]float64{"producer_byte_rate": quota}, nil, "client-id", "slow"))
	throttled := make(chan time.Duration, 1000)
	cl := newClient(t, b.Addr(), kgo.ClientID("slow"), kgo.DefaultProduceTopic("held"),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(0), kgo.MaxBufferedRecords(64), kgo.ProducerBatchMaxBytes(64<<10),
		kgo.WithHooks(throttleHook(throttled)))
	const run = 6 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	var acked int64
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			value := make([]byte, 16<<10)
			rand.Read(value) // the quota counts bytes on the wire: nothing to compress
			cl.Produce(ctx, &kgo.Record{Value: value}, func(r *kgo.Record, err error) {
				if err == nil && time.Since(start) < run {
					acked += int64(len(r.Value))
				}
			})
		}
	}()
	<-done
	cl.Flush(context.Background())
	elapsed := min(time.Since(start), run).Seconds()
	// The request bytes are counted, a little more than the values.
	upper := quota*elapsed + 2*quota + 2*float64(64<<10)
	lower := 0.5 * quota * elapsed
	t.Logf("%.1f MB acknowledged in %.1f s (%.2f MB/s), %d throttles", float64(acked)/1e6, elapsed, float64(acked)/1e6/elapsed, len(throttled))

	if float64(acked) > upper*1.1 {
		t.Fatalf("%d bytes in %.1f s under a %d B/s quota: above the bound %.0f", acked, elapsed, quota, upper)
	}
	if float64(acked) < lower {
		t.Fatalf("%d bytes in %.1f s: starved (below %.0f)", acked, elapsed, lower)
	}
	if len(throttled) == 0 {
		t.Fatal("no response carried a throttle time")
	}
}

func throttleHook(ch chan time.Duration) kgo.Hook { return hookThrottle(ch) }

type hookThrottle chan time.Duration

func (h hookThrottle) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	select {
	case h <- d:
	default:
	}
}

// TestFetchQuotaThrottled: a fetch over consumer_byte_rate is answered
// without records, with the throttle time; its bytes are not charged,
// and once the throttle passes the records come.
func TestFetchQuotaThrottled(t *testing.T) {
	b := startBrokerAt(t, t.TempDir())
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "fq", 1)
	raw := newRaw(t, b.Addr())
	for i := 0; i < 30; i++ {
		if code, _ := raw.produce("fq", 0, 100); code != 0 { // about 6 KB each
			t.Fatal(kerr.ErrorForCode(code))
		}
	}
	alterQuotas(t, cl, false, quotaEntry(map[string]float64{"consumer_byte_rate": 10000}, nil, "user", "<default>"))
	// The fetch asks for at most 10000 × 10 s bytes; the first takes
	// all, 180 KB, over 100 KB in the window: the next is throttled.
	first := raw.do(fetchReq("fq", 0, 0)).(*kmsg.FetchResponse)
	if n := len(first.Topics[0].Partitions[0].RecordBatches); n == 0 || n > 100000+64<<10 {
		t.Fatalf("first fetch: %d bytes of records (max_bytes is cut to the quota's window, 100000)", n)
	}
	second := raw.do(fetchReq("fq", 0, 0)).(*kmsg.FetchResponse)
	if second.ThrottleMillis <= 0 || len(second.Topics) != 0 {
		t.Fatalf("second fetch: throttle %d ms, %d topics; want a throttle and no partitions", second.ThrottleMillis, len(second.Topics))
	}
}

// TestFetchQuotaChargesSessionErrors: a fetch whose session is in error
// is charged its response to consumer_byte_rate, as Kafka charges every
// consumer fetch: over a quota of 1 B/s the error comes with a throttle
// time; without a quota, with none.
func TestFetchQuotaChargesSessionErrors(t *testing.T) {
	b := startBrokerAt(t, t.TempDir())
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "fqs", 1)
	badSession := func() *kmsg.FetchResponse {
		req := fetchReq("fqs", 0, 0)
		req.SessionID, req.SessionEpoch = 12345, 1
		return newRaw(t, b.Addr()).do(req).(*kmsg.FetchResponse)
	}
	if r := badSession(); r.ErrorCode != kerr.FetchSessionIDNotFound.Code || r.ThrottleMillis != 0 {
		t.Fatalf("without a quota: %v, throttle %d ms", kerr.ErrorForCode(r.ErrorCode), r.ThrottleMillis)
	}
	alterQuotas(t, cl, false, quotaEntry(map[string]float64{"consumer_byte_rate": 1}, nil, "user", "<default>"))
	if r := badSession(); r.ErrorCode != kerr.FetchSessionIDNotFound.Code || r.ThrottleMillis <= 0 {
		t.Fatalf("over consumer_byte_rate 1: %v, throttle %d ms; want the error with a throttle", kerr.ErrorForCode(r.ErrorCode), r.ThrottleMillis)
	}
}

// TestFetchQuotaChargesResponseSize: consumer_byte_rate is charged the
// size of the Fetch response, as Kafka's getResponseSize counts it (the
// correlation id and the body: the partitions' fields as well as their
// records), not its record bytes alone: a fetch of many empty partitions
// costs. An incremental fetch is charged the partitions it answers. The
// charge is read back from the throttle time of a fetch over a quota of
// 1 B/s: (charge / 10 s - 1) / 1 × 10 s.
func TestFetchQuotaChargesResponseSize(t *testing.T) {
	b := startBrokerAt(t, t.TempDir(), broker.WithQuotaWindow(11, time.Second))
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "fsize", 200)
	raw := newRaw(t, b.Addr())
	// One partition with records sent from the file (over 16 KiB), one
	// with a few copied.
	if code, _ := raw.produce("fsize", 3, 500); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	if code, _ := raw.produce("fsize", 4, 1); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	all := map[int32]int64{}
	for p := int32(0); p < 200; p++ {
		all[p] = 0
	}
	// sized sends req and returns its response and the size Kafka
	// charges for it: 4 + the body, without the flexible header's tags.
	// Each fetch gets the first batch it finds and no more.
	sized := func(raw *rawClient, req *kmsg.FetchRequest) (*kmsg.FetchResponse, float64) {
		t.Helper()
		req.MaxBytes = 10 // as the quota cuts it: 1 B/s × 10 s
		raw.corr++
		raw.c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := raw.c.Write(frame(req, raw.corr)); err != nil {
			t.Fatal(err)
		}
		_, body := readResponse(t, raw.c)
		body = body[1:] // v12: the header's tags
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		return resp, float64(4 + len(body))
	}
	_, fullSize := sized(raw, sessFetch(12, 0, -1, "fsize", [16]byte{}, all))
	caughtUp := map[int32]int64{}
	for p := range all {
		caughtUp[p] = 0
	}
	caughtUp[3], caughtUp[4] = 500, 1
	full, _ := sized(raw, sessFetch(12, 0, 0, "fsize", [16]byte{}, caughtUp))
	if full.SessionID == 0 {
		t.Fatal("no session")
	}
	if code, _ := raw.produce("fsize", 7, 1); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	incr, incrSize := sized(raw, sessFetch(12, full.SessionID, 1, "fsize", [16]byte{}, nil))
	if got := answered(t, incr, nil); !sameAnswer(got, map[int32]int{7: 1}) {
		t.Fatalf("incremental fetch answered %v, want partition 7's record", got)
	}
	// The same again, but over the quota: partition 7 gets a record as
	// before, and the sessionless fetch is as the first.
	if code, _ := raw.produce("fsize", 7, 1); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	alterQuotas(t, cl, false, quotaEntry(map[string]float64{"consumer_byte_rate": 1}, nil, "user", "<default>"))
	// Each on a connection of its own: a throttled one is muted.
	charged := func(what string, raw *rawClient, req *kmsg.FetchRequest, want float64) {
		t.Helper()
		resp, _ := sized(raw, req)
		if resp.ThrottleMillis <= 0 || len(resp.Topics) != 0 {
			t.Fatalf("%s: throttle %d ms, %d topics; want a throttle and no partitions", what, resp.ThrottleMillis, len(resp.Topics))
		}
		got := 10 * (1 + float64(resp.ThrottleMillis)/10000)
		if math.Abs(got-want) > 0.5 {
			t.Errorf("%s: charged %.1f bytes (throttle %d ms), want the response's %.0f", what, got, resp.ThrottleMillis, want)
		}
	}
	charged("incremental", raw, sessFetch(12, full.SessionID, 2, "fsize", [16]byte{}, nil), incrSize)
	charged("sessionless", newRaw(t, b.Addr()), sessFetch(12, 0, -1, "fsize", [16]byte{}, all), fullSize)
}

// TestConnectionCreationRate: connections from an ip over its
// connection_creation_rate are held unread and closed after the
// throttle time, as Kafka's ConnectionQuotas does; those within it are
// served, and once the rate has passed new ones are served again.
func TestConnectionCreationRate(t *testing.T) {
	b := startBrokerAt(t, t.TempDir(), broker.WithQuotaWindow(2, time.Second))
	alterQuotas(t, newClient(t, b.Addr()), false, quotaEntry(map[string]float64{"connection_creation_rate": 5}, nil, "ip", "127.0.0.1"))
	time.Sleep(1100 * time.Millisecond) // the admin client's own connection out of the window
	served, closed := 0, 0
	start := time.Now()
	for i := 0; i < 20; i++ {
		c := dial(t, b.Addr())
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(frame(kmsg.NewPtrApiVersionsRequest(), 1)); err != nil {
			closed++
			continue
		}
		var size [4]byte
		if _, err := c.Read(size[:]); err != nil {
			closed++
			continue
		}
		served++
	}
	t.Logf("%d served, %d closed in %v", served, closed, time.Since(start))
	// 5 a second over a window of at least 1 s, and the burst took little.
	if served < 1 || served > 5*int(time.Since(start).Seconds()+1)+1 {
		t.Fatalf("%d of 20 connections served under 5/s", served)
	}
	if closed == 0 {
		t.Fatal("no connection was throttled")
	}
	time.Sleep(2 * time.Second)
	newRaw(t, b.Addr()).do(kmsg.NewPtrApiVersionsRequest()) // served again
}

// TestMutedConnectionIdle: a connection muted for a throttle longer than
// connections.max.idle.ms is closed once it has been idle that long, as
// Kafka's selector closes it, not held until the throttle ends (a
// bandwidth throttle is not bounded: here about 100 s).
func TestMutedConnectionIdle(t *testing.T) {
	b := startBrokerAt(t, t.TempDir(), broker.Option(func(c *broker.Config) { c.ConnectionsMaxIdle = time.Second }))
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "qi", 1)
	alterQuotas(t, cl, false, quotaEntry(map[string]float64{"producer_byte_rate": 1000}, nil, "user", "<default>"))
	c := dial(t, b.Addr())
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write(frame(produceReq("qi", 0, -1, goodBatch(2000)), 1)); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("produce not answered: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = 9
	if err := resp.ReadFrom(body[5:]); err != nil { // correlation id, header tags
		t.Fatal(err)
	}
	if resp.ThrottleMillis < 20000 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("produce: throttle %d ms, code %d; want written and throttled for more than 20 s", resp.ThrottleMillis, resp.Topics[0].Partitions[0].ErrorCode)
	}
	start := time.Now()
	_, err := c.Read(size[:1])
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("after %v: %v; want the connection closed by the broker once idle", time.Since(start), err)
	}
}
