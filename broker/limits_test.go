package broker_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// logBuf is a slog destination tests can search.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitLog waits until the log holds s.
func (l *logBuf) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(l.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("the log never said %q:\n%s", s, l.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func withLog(l *logBuf) broker.Option {
	return broker.WithLogger(slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug})))
}

func configure(f func(c *broker.Config)) broker.Option { return broker.Option(f) }

// apiVersions sends an ApiVersions request and reads its answer.
func apiVersions(t *testing.T, c net.Conn, corr int32) {
	t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1"
	if _, err := c.Write(frame(req, corr)); err != nil {
		t.Fatal(err)
	}
	answer(t, c, req, corr)
}

func TestMaxConnections(t *testing.T) {
	var logs logBuf
	b := rewindtest.Start(t, withLog(&logs), configure(func(c *broker.Config) { c.MaxConnections = 3 }))
	var conns []net.Conn
	for i := 0; i < 3; i++ {
		c := dial(t, b.Addr())
		apiVersions(t, c, int32(i))
		conns = append(conns, c)
	}
	// The fourth is closed as soon as it is accepted, and the log says why.
	extra := dial(t, b.Addr())
	extra.Write(frame(kmsg.NewPtrApiVersionsRequest(), 1))
	expectClosed(t, extra, "connection over --max-connections")
	logs.waitLog(t, "connection refused: --max-connections reached")

	// When one goes, a new one is served.
	conns[0].Close()
	serveOne(t, b.Addr())
}

// longPoll is a fetch at the end of an empty partition that waits maxWait.
func longPoll(topic string, maxWait int32) *kmsg.FetchRequest {
	req := fetchReq(topic, 0, 0)
	req.MaxWaitMillis, req.MinBytes = maxWait, 1
	return req
}

// With --max-in-flight 2, four pipelined long polls are read two at a time:
// the last answer comes after two waits, not one.
func TestMaxInFlightPausesReading(t *testing.T) {
	var logs logBuf
	b := rewindtest.Start(t, withLog(&logs), configure(func(c *broker.Config) { c.MaxInFlight = 2 }))
	createTopic(t, newClient(t, b.Addr()), "inflight", 1)
	c := dial(t, b.Addr())
	const wait = 600
	var batch []byte
	reqs := make([]kmsg.Request, 0, 5)
	for i := 0; i < 4; i++ {
		reqs = append(reqs, longPoll("inflight", wait))
	}
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	reqs = append(reqs, av)
	for i, r := range reqs {
		batch = append(batch, frame(r, int32(i))...)
	}
	start := time.Now()
	c.Write(batch)
	for i, r := range reqs {
		answer(t, c, r, int32(i)) // in order
	}
	if elapsed := time.Since(start); elapsed < 2*wait*time.Millisecond-100*time.Millisecond {
		t.Fatalf("4 long polls of %d ms with --max-in-flight 2 answered in %v: more than 2 were in flight", wait, elapsed)
	}
	logs.waitLog(t, "max-in-flight requests awaiting responses")
}

// With --max-request-memory just above what one large request is charged,
// a second large request on another connection is not read until the
// first is handled. A 600 KiB Fetch is charged what decoding it may take
// (97 times its frame, decodemem.go): 58 MiB of the 94 MiB a 100 MiB limit
// leaves large frames, so two are not decoded at once, although their
// frames would fit.
func TestMaxRequestMemoryPausesReading(t *testing.T) {
	var logs logBuf
	const limit = 100 << 20
	b := rewindtest.Start(t, withLog(&logs), configure(func(c *broker.Config) {
		c.MaxRequestMemory, c.MaxRequestBytes = limit, 1<<20
	}))
	createTopic(t, newClient(t, b.Addr()), "reqmem", 1)
	// A long poll made large by a long client software name... which
	// ApiVersions would reject; pad the fetch with the rack id instead.
	big := func() *kmsg.FetchRequest {
		r := longPoll("reqmem", 700)
		r.Rack = strings.Repeat("r", 600<<10)
		return r
	}
	a, c := dial(t, b.Addr()), dial(t, b.Addr())
	ra, rc := big(), big()
	start := time.Now()
	a.Write(frame(ra, 1))
	time.Sleep(50 * time.Millisecond) // let the first be read first
	c.Write(frame(rc, 2))
	answer(t, a, ra, 1)
	answer(t, c, rc, 2)
	if elapsed := time.Since(start); elapsed < 1300*time.Millisecond {
		t.Fatalf("two 600 KiB long polls of 700 ms under a 100 MiB --max-request-memory took %v: both were read at once", elapsed)
	}
	logs.waitLog(t, "memory limit reached: reading of requests paused")

	// A --max-request-bytes above the memory limit is refused at start.
	_, err := broker.New(broker.WithDataDir(t.TempDir()), configure(func(c *broker.Config) {
		c.MaxRequestMemory, c.MaxRequestBytes = 1<<20, 2<<20
	}))
	if err == nil || !strings.Contains(err.Error(), "--max-request-memory") {
		t.Fatalf("New with request memory below the request size: %v", err)
	}
}

// At the defaults a request other than Produce may take at most 2.47 MiB
// (what decoding it may take must fit --max-request-memory, decodemem.go):
// a 3 MiB Fetch closes its connection, with the flag to raise in the log,
// while a 3 MiB Produce is read and answered.
func TestDecodeChargeRefusesLargeRequests(t *testing.T) {
	var logs logBuf
	b := rewindtest.Start(t, withLog(&logs))
	createTopic(t, newClient(t, b.Addr()), "decode", 1)
	fetch := longPoll("decode", 100)
	fetch.Rack = strings.Repeat("r", 3<<20)
	f := dial(t, b.Addr())
	f.Write(frame(fetch, 1))
	if n, err := f.Read(make([]byte, 1)); err == nil {
		t.Fatalf("a 3 MiB Fetch was answered (%d bytes read); want its connection closed", n)
	}
	logs.waitLog(t, "larger Fetch requests need a larger --max-request-memory")

	produce := kmsg.NewPtrProduceRequest()
	produce.Version, produce.Acks, produce.TimeoutMillis = 9, 1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "decode"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = make([]byte, 3<<20) // not a valid batch: answered with an error code
	rt.Partitions = append(rt.Partitions, rp)
	produce.Topics = append(produce.Topics, rt)
	p := dial(t, b.Addr())
	p.Write(frame(produce, 2))
	resp := answer(t, p, produce, 2).(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("Produce answered %+v, want one partition", resp.Topics)
	}
}

// With --max-fetch-memory held by a consumer that does not read its
// response, other fetches get no data (and no error) until it does; a
// consumer always makes progress when nothing else holds memory.
func TestMaxFetchMemory(t *testing.T) {
	var logs logBuf
	b := rewindtest.Start(t, withLog(&logs), configure(func(c *broker.Config) { c.MaxFetchMemory = 256 << 10 }))
	ctx := testCtx(t, 60*time.Second)
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("fetchmem"), kgo.ProducerBatchMaxBytes(1<<20),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	createTopic(t, cl, "fetchmem", 1)
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 320
	for i := 0; i < n; i++ {
		val := make([]byte, 100<<10) // incompressible, so the log holds 32 MB
		for j := range val {
			val[j] = byte(rng.Uint32())
		}
		cl.Produce(ctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// A slow consumer: a fetch of 32 MiB it does not read. Its response
	// does not fit in the socket buffers, so it holds its memory.
	slow, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	big := fetchReq("fetchmem", 0, 0)
	big.MaxBytes = 32 << 20
	big.Topics[0].Partitions[0].PartitionMaxBytes = 32 << 20
	slow.Write(frame(big, 1))
	time.Sleep(300 * time.Millisecond)

	// Another consumer gets no data, no error, and the log says why.
	c := dial(t, b.Addr())
	req := fetchReq("fetchmem", 0, 0)
	c.Write(frame(req, 1))
	resp := answer(t, c, req, 1).(*kmsg.FetchResponse)
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
		t.Fatalf("fetch while the memory is held: error %v, %d bytes", kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
	}
	logs.waitLog(t, "memory limit reached: answering fetches with less data")

	// Once the slow consumer reads its response, fetches get data again.
	slow.SetDeadline(time.Now().Add(20 * time.Second))
	answer(t, slow, big, 1)
	deadline := time.Now().Add(10 * time.Second)
	for corr := int32(2); ; corr++ {
		c.Write(frame(req, corr))
		resp := answer(t, c, req, corr).(*kmsg.FetchResponse)
		if len(resp.Topics[0].Partitions[0].RecordBatches) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("fetches got no data after the memory was returned")
		}
	}

	// A real consumer reads everything under the small limit.
	cons := newClient(t, b.Addr(), kgo.ConsumeTopics("fetchmem"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for got := 0; got < n; {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d", got, n)
		}
		got += fs.NumRecords()
	}
}

func TestMaxPartitions(t *testing.T) {
	// __consumer_offsets (50 partitions) is exempt from a limit of 8.
	b := rewindtest.Start(t, configure(func(c *broker.Config) { c.MaxPartitions = 8 }))
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b.Addr())
	req := createReq("nine", 9, 1)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if st := resp.Topics[0]; st.ErrorCode != kerr.InvalidPartitions.Code || st.ErrorMessage == nil || !strings.Contains(*st.ErrorMessage, "limit is 8") {
		t.Fatalf("9 partitions over a limit of 8: %v %v", kerr.ErrorForCode(st.ErrorCode), st.ErrorMessage)
	}
	createTopic(t, cl, "eight", 8)
	preq := createPartitionsReq("eight", 9)
	presp, err := preq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if st := presp.Topics[0]; st.ErrorCode != kerr.InvalidPartitions.Code || st.ErrorMessage == nil || !strings.Contains(*st.ErrorMessage, "limit is 8") {
		t.Fatalf("growing to 9 over a limit of 8: %v %v", kerr.ErrorForCode(st.ErrorCode), st.ErrorMessage)
	}
	_, err = broker.New(broker.WithDataDir(t.TempDir()), broker.WithDefaultPartitions(9), configure(func(c *broker.Config) { c.MaxPartitions = 8 }))
	if err == nil || !strings.Contains(err.Error(), "--max-partitions") {
		t.Fatalf("New with --default-partitions above --max-partitions: %v", err)
	}
}

// A client that goes away does not leave its long poll behind: its
// connection ends at once, which --max-connections 1 makes visible.
func TestClosedClientEndsItsWaits(t *testing.T) {
	b := rewindtest.Start(t, configure(func(c *broker.Config) { c.MaxConnections = 1 }))
	c := serveOne(t, b.Addr())
	req := createReq("gone", 1, 1)
	c.Write(frame(req, 1))
	if code := createCode(answer(t, c, req, 1)); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	c.Close()
	for i := 0; i < 3; i++ {
		c := serveOne(t, b.Addr())
		c.Write(frame(longPoll("gone", 1<<30), 1)) // would wait 12 days
		time.Sleep(50 * time.Millisecond)
		c.Close()
	}
}

// serveOne dials until a connection is served (an ApiVersions answered).
func serveOne(t *testing.T, addr string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for corr := int32(0); ; corr++ {
		c := dial(t, addr)
		c.Write(frame(kmsg.NewPtrApiVersionsRequest(), corr))
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err == nil {
			body := make([]byte, int(size[0])<<24|int(size[1])<<16|int(size[2])<<8|int(size[3]))
			io.ReadFull(c, body)
			return c
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("no connection served: an earlier one is still open")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// declare sends the first bytes of a Produce frame of size bytes (size
// prefix excluded) and returns the connection, never completing it.
func declare(t *testing.T, addr string, size int) net.Conn {
	t.Helper()
	req := produceReq("declared", 0, 1, nil)
	f := frame(req, 1)
	binary.BigEndian.PutUint32(f, uint32(size))
	c := dial(t, addr)
	if _, err := c.Write(f); err != nil {
		t.Fatal(err)
	}
	return c
}

// Memory is reserved as a frame arrives, not for the size it declares: two
// connections that declare frames filling --max-request-memory and send a
// few bytes do not stop another connection's requests (they did: the
// declared sizes were reserved up front).
func TestRequestMemoryReservedAsFrameArrives(t *testing.T) {
	const limit = 8 << 20
	b := rewindtest.Start(t, configure(func(c *broker.Config) {
		c.MaxRequestMemory, c.MaxRequestBytes = limit, limit/2
	}))
	declare(t, b.Addr(), limit/2)
	declare(t, b.Addr(), limit/2)
	time.Sleep(100 * time.Millisecond) // both are read and waiting for more
	c := dial(t, b.Addr())
	c.SetDeadline(time.Now().Add(2 * time.Second))
	apiVersions(t, c, 1)
}

// A frame larger than a chunk is read in chunks and put together intact:
// one Produce of six batches of 900 KiB (random bytes), read back.
func TestLargeFrameRoundTrip(t *testing.T) {
	b := rewindtest.Start(t)
	ctx := testCtx(t, 30*time.Second)
	const parts = 6
	cl := newClient(t, b.Addr(), kgo.ConsumeTopics("large"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	createTopic(t, cl, "large", parts)
	rng := rand.New(rand.NewPCG(3, 4))
	req := produceReq("large", 0, -1, nil)
	want := map[int32][]byte{}
	for p := int32(0); p < parts; p++ {
		val := make([]byte, 900<<10+int(p))
		for i := range val {
			val[i] = byte(rng.Uint32())
		}
		want[p] = val
		batch := storage.BuildBatch(1000, []storage.Record{{Timestamp: 1000, Value: val}})
		if p == 0 {
			req.Topics[0].Partitions[0].Records = batch
			continue
		}
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = p, batch
		req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
	}
	f := frame(req, 1)
	if len(f) < 5<<20 {
		t.Fatalf("frame of %d bytes: fewer chunks than meant", len(f))
	}
	c := dial(t, b.Addr())
	c.Write(f)
	for _, p := range answer(t, c, req, 1).(*kmsg.ProduceResponse).Topics[0].Partitions {
		if p.ErrorCode != 0 {
			t.Fatalf("partition %d: %v", p.Partition, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("%v; %d partitions not read back", err, len(want))
		}
		fs.EachRecord(func(r *kgo.Record) {
			if !bytes.Equal(r.Value, want[r.Partition]) {
				t.Fatalf("partition %d: read back %d bytes that differ from the %d produced", r.Partition, len(r.Value), len(want[r.Partition]))
			}
			delete(want, r.Partition)
		})
	}
}

// A frame must arrive whole within --request-read-timeout of its first
// byte; one that arrives in pieces within it is served.
func TestRequestReadTimeout(t *testing.T) {
	var logs logBuf
	const timeout = 300 * time.Millisecond
	b := rewindtest.Start(t, withLog(&logs), configure(func(c *broker.Config) { c.RequestReadTimeout = timeout }))

	slow := declare(t, b.Addr(), 3<<20) // a large frame, a few bytes of it sent
	start := time.Now()
	expectClosed(t, slow, "a frame not completed within --request-read-timeout")
	if d := time.Since(start); d < timeout-50*time.Millisecond {
		t.Fatalf("closed after %v, before --request-read-timeout %v", d, timeout)
	}
	logs.waitLog(t, "within --request-read-timeout")

	// A small frame too.
	small := dial(t, b.Addr())
	small.Write(frame(kmsg.NewPtrApiVersionsRequest(), 1)[:6])
	expectClosed(t, small, "a small frame not completed within --request-read-timeout")

	// In two halves 100 ms apart: served.
	c := dial(t, b.Addr())
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1"
	f := frame(req, 7)
	c.Write(f[:len(f)/2])
	time.Sleep(100 * time.Millisecond)
	c.Write(f[len(f)/2:])
	answer(t, c, req, 7)
}

// A connection with nothing read, written or awaited for
// --connections-max-idle is closed; one awaiting a response is not.
func TestConnectionsMaxIdle(t *testing.T) {
	const idle = 400 * time.Millisecond
	b := rewindtest.Start(t, configure(func(c *broker.Config) { c.ConnectionsMaxIdle = idle }))
	createTopic(t, newClient(t, b.Addr()), "idle", 1)

	c := dial(t, b.Addr())
	apiVersions(t, c, 1)
	start := time.Now()
	expectClosed(t, c, "an idle connection")
	if d := time.Since(start); d < idle-50*time.Millisecond {
		t.Fatalf("closed after %v idle, before --connections-max-idle %v", d, idle)
	}

	// A long poll of 3 idle periods: the connection awaits its answer and
	// is used afterwards.
	lp := dial(t, b.Addr())
	req := longPoll("idle", int32(3*idle/time.Millisecond))
	lp.Write(frame(req, 1))
	answer(t, lp, req, 1)
	apiVersions(t, lp, 2)

	// A connection used more often than the idle period stays open. The
	// test's own pauses are measured, from one request sent to the next:
	// on a loaded machine one can outlast the idle period, and the broker
	// is then right to close; the round starts again on a new connection.
	for round := 0; ; round++ {
		if round == 5 {
			t.Fatal("5 rounds stalled for more than the idle period: the machine is too slow for this test")
		}
		if !usedEvery(t, b.Addr(), idle/4, idle/2, 12) {
			break
		}
	}
}

// usedEvery sends n ApiVersions requests on a new connection, pausing
// every between them. If the broker closes it, the test fails if the
// request was sent within bound of the one before, else usedEvery
// returns true: the test's pause outlasted what it meant to test.
func usedEvery(t *testing.T, addr string, every, bound time.Duration, n int32) (stalled bool) {
	t.Helper()
	c := dial(t, addr)
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1"
	var sent time.Time
	for i := int32(0); i < n; i++ {
		if i > 0 {
			time.Sleep(every)
		}
		prev := sent
		sent = time.Now()
		_, err := c.Write(frame(req, i))
		var size [4]byte
		if err == nil {
			_, err = io.ReadFull(c, size[:])
		}
		if err == nil {
			_, err = io.ReadFull(c, make([]byte, binary.BigEndian.Uint32(size[:])))
		}
		if err != nil {
			if gap := sent.Sub(prev); i == 0 || gap < bound {
				t.Fatalf("request %d, sent %v after the one before, on a connection used every %v: %v", i, gap, every, err)
			}
			t.Logf("request %d sent %v after the one before, found the connection closed: the test stalled", i, sent.Sub(prev))
			return true
		}
	}
	return false
}

// A client that does not read its responses is closed after
// --response-write-timeout, and the --max-fetch-memory its response held
// goes back to other consumers (it held it for as long as it kept the
// connection open).
func TestResponseWriteTimeout(t *testing.T) {
	var logs logBuf
	b := rewindtest.Start(t, withLog(&logs), configure(func(c *broker.Config) {
		c.MaxFetchMemory, c.ResponseWriteTimeout = 256<<10, 500*time.Millisecond
	}))
	ctx := testCtx(t, 60*time.Second)
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("stuck"), kgo.ProducerBatchMaxBytes(1<<20),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	createTopic(t, cl, "stuck", 1)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 320; i++ {
		val := make([]byte, 100<<10) // incompressible: 32 MB in the log
		for j := range val {
			val[j] = byte(rng.Uint32())
		}
		cl.Produce(ctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// A fetch of 32 MiB whose response is never read: more than the
	// socket buffers hold, so its writer is stuck.
	stuck := dial(t, b.Addr())
	big := fetchReq("stuck", 0, 0)
	big.MaxBytes = 32 << 20
	big.Topics[0].Partitions[0].PartitionMaxBytes = 32 << 20
	stuck.Write(frame(big, 1))
	logs.waitLog(t, "within --response-write-timeout")

	// Its memory is back: another consumer gets data.
	c := dial(t, b.Addr())
	req := fetchReq("stuck", 0, 0)
	c.Write(frame(req, 1))
	resp := answer(t, c, req, 1).(*kmsg.FetchResponse)
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
		t.Fatalf("fetch after the stuck client was closed: error %v, %d bytes", kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
	}
	// And the stuck client finds its connection closed once it reads what
	// the socket buffers held.
	stuck.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, stuck)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the stuck connection is still open (%d bytes buffered)", n)
	}
	if n >= 32<<20 {
		t.Fatalf("the stuck client got its whole response (%d bytes)", n)
	}
}

// At the defaults a large Produce is charged its frame and what decoding
// its topics and partitions takes (produceskim.go): a 5 MiB Produce of
// real batches to 1,000 partitions (5.1 MiB charged) is answered, every
// partition appended, while a 5 MiB one of empty partitions that each
// carry an unknown tag (284 MiB charged, 235 MiB decoded) closes its
// connection, with the flag to raise in the log.
func TestProduceDecodeCharge(t *testing.T) {
	var logs logBuf
	b := rewindtest.Start(t, withLog(&logs))
	const parts = 1000
	createTopic(t, newClient(t, b.Addr()), "wide", parts)
	batch := benchBatch(5, 1050)
	produce := kmsg.NewPtrProduceRequest()
	produce.Version, produce.Acks, produce.TimeoutMillis = 11, 1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "wide"
	for p := range int32(parts) {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = p, batch
		rt.Partitions = append(rt.Partitions, rp)
	}
	produce.Topics = append(produce.Topics, rt)
	legit := frame(produce, 1)
	if len(legit) < 5<<20 {
		t.Fatalf("setup: a %d-byte Produce, want 5 MiB", len(legit))
	}
	c := dial(t, b.Addr())
	c.Write(legit)
	resp := answer(t, c, produce, 1).(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != parts {
		t.Fatalf("Produce answered %d topics, want 1 of %d partitions", len(resp.Topics), parts)
	}
	for _, rp := range resp.Topics[0].Partitions {
		if rp.ErrorCode != 0 || rp.BaseOffset != 0 {
			t.Fatalf("partition %d: error %d, base offset %d; want 0, 0", rp.Partition, rp.ErrorCode, rp.BaseOffset)
		}
	}

	var tag kmsg.Tags
	tag.Set(99, nil)
	empty := make([]kmsg.ProduceRequestTopicPartition, (5<<20)/8) // 8 bytes each
	for i := range empty {
		empty[i].UnknownTags = tag
	}
	produce.Topics[0].Partitions = empty
	a := dial(t, b.Addr())
	a.Write(frame(produce, 2))
	if n, err := a.Read(make([]byte, 1)); err == nil {
		t.Fatalf("a 5 MiB Produce of tagged empty partitions was answered (%d bytes read); want its connection closed", n)
	}
	logs.waitLog(t, "larger Produce requests need a larger --max-request-memory")
}
