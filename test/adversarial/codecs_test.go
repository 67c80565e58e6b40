package adversarial

import (
	"bytes"
	"context"
	endian "encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/codecbomb"
	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// codecRSSBound is the peak RSS the broker must stay under while
// decompression attacks run (it idles at about 30 MiB).
const codecRSSBound = 512 << 20

// codecTopic creates a one-partition topic.
func codecTopic(t *testing.T, p *proctest.Proc, name string, configs map[string]*string) {
	t.Helper()
	adm := kadm.NewClient(p.Client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 1, 1, configs, name); err != nil {
		t.Fatal(err)
	}
}

// codecEndOffset is the partition's end offset.
func codecEndOffset(t *testing.T, p *proctest.Proc, topic string) int64 {
	t.Helper()
	adm := kadm.NewClient(p.Client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := ends.Lookup(topic, 0)
	if !ok || o.Err != nil {
		t.Fatalf("end offset of %s: %+v", topic, o)
	}
	return o.Offset
}

// codecConn is a raw Kafka connection that sends kmsg requests one at a
// time and reads their answers.
type codecConn struct {
	nc  net.Conn
	fmt *kmsg.RequestFormatter
	id  int32
}

func dialCodecConn(addr string) (*codecConn, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &codecConn{nc: nc, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("codec-attack"))}, nil
}

// produce sends one Produce v8 (non-flexible) of batch to topic/0 with
// acks=1 and returns the partition's error code.
func (c *codecConn) produce(topic string, batch []byte) (int16, error) {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 8
	req.Acks = 1
	req.TimeoutMillis = 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	c.id++
	c.nc.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.nc.Write(c.fmt.AppendRequest(nil, req, c.id)); err != nil {
		return 0, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		return 0, err
	}
	body := make([]byte, endian.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.nc, body); err != nil {
		return 0, err
	}
	if len(body) < 4 || int32(endian.BigEndian.Uint32(body)) != c.id {
		return 0, fmt.Errorf("response does not answer request %d", c.id)
	}
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = req.Version
	if err := resp.ReadFrom(body[4:]); err != nil {
		return 0, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, fmt.Errorf("response %+v", resp)
	}
	return resp.Topics[0].Partitions[0].ErrorCode, nil
}

// probeMetadata measures Metadata latency from a new connection every
// 200 ms until stop is closed, and returns the slowest answer (or the
// first failure).
func probeMetadata(addr string, stop <-chan struct{}) <-chan error {
	out := make(chan error, 1)
	go func() {
		var worst time.Duration
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			d, err := proctest.MetadataLatency(ctx, addr)
			cancel()
			if err != nil {
				out <- fmt.Errorf("metadata probe: %v", err)
				return
			}
			worst = max(worst, d)
			select {
			case <-stop:
				if worst > time.Second {
					out <- fmt.Errorf("metadata answered in %s while the attack ran, want under 1s", worst)
				} else {
					out <- nil
				}
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return out
}

// flood sends each batch from conns connections, rounds times each, and
// checks every answer is CORRUPT_MESSAGE, while other clients are served
// within a second.
func flood(t *testing.T, p *proctest.Proc, topic string, batches [][]byte, conns, rounds int) {
	t.Helper()
	stop := make(chan struct{})
	probe := probeMetadata(p.Addr, stop)
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialCodecConn(p.Addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.nc.Close()
			for r := 0; r < rounds; r++ {
				for _, b := range batches {
					code, err := c.produce(topic, b)
					if err != nil {
						errs <- err
						return
					}
					if code != kerr.CorruptMessage.Code {
						errs <- fmt.Errorf("batch of %d bytes answered %v, want CORRUPT_MESSAGE", len(b), kerr.ErrorForCode(code))
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := <-probe; err != nil {
		t.Error(err)
	}
}

// TestZstdWindowFlood: twelve connections each produce crafted zstd
// batches of a few KB whose frames declare a 256 MiB or 2 GiB window (and
// a 128 MiB one, which is allowed, holding 200 MiB of zeros). Each is
// refused as CORRUPT_MESSAGE, nothing is stored, the broker stays under
// 512 MiB and answers Metadata within a second throughout. Before the
// bound each 256 MiB frame was decoded (and stored) with its full window,
// and pooled decoders kept it: 12 connections reached 3 GiB.
func TestZstdWindowFlood(t *testing.T) {
	p := start(t)
	codecTopic(t, p, "zstd", nil)
	prefix, zeros := codecbomb.Record(200 << 20)
	var batches [][]byte
	for _, w := range []uint64{256 << 20, 2 << 30, 128 << 20} {
		b := codecbomb.Batch(codecbomb.Zstd, codecbomb.ZstdFrame(w, prefix, zeros), 1)
		if len(b) > 8<<10 {
			t.Fatalf("crafted batch of %d bytes", len(b))
		}
		batches = append(batches, b)
	}
	flood(t, p, "zstd", batches, 12, 2)
	if end := codecEndOffset(t, p, "zstd"); end != 0 {
		t.Errorf("%d records stored from refused batches", end)
	}
	peak := p.MustPeakRSSMiB(t)
	t.Logf("peak RSS %d MiB", peak)
	if peak<<20 > codecRSSBound {
		t.Errorf("peak RSS %d MiB, want under %d MiB", peak, codecRSSBound>>20)
	}
}

// TestDecompressionBombs: a small batch of every codec whose one record
// expands to 100 MiB, past the 64 MiB a topic with the default
// max.message.bytes allows, is refused as CORRUPT_MESSAGE from twelve
// connections at once, nothing is stored, and the broker's memory and
// latency hold. The snappy bomb uses S2's extension of snappy (which the
// decoder accepts) to reach a ratio no snappy encoder can.
func TestDecompressionBombs(t *testing.T) {
	p := start(t)
	codecTopic(t, p, "bombs", nil)
	prefix, zeros := codecbomb.Record(100 << 20)
	var batches [][]byte
	for _, c := range []int{codecbomb.Gzip, codecbomb.Snappy, codecbomb.Lz4, codecbomb.Zstd} {
		b := codecbomb.Batch(c, codecbomb.Compress(c, codecbomb.Content(prefix, zeros)), 1)
		if len(b) > 1<<20 {
			t.Fatalf("codec %d: bomb of %d bytes exceeds max.message.bytes", c, len(b))
		}
		t.Logf("codec %d: %d bytes expanding to %d MiB", c, len(b), (int64(len(prefix))+zeros)>>20)
		batches = append(batches, b)
	}
	flood(t, p, "bombs", batches, 12, 1)
	if end := codecEndOffset(t, p, "bombs"); end != 0 {
		t.Errorf("%d records stored from refused batches", end)
	}
	peak := p.MustPeakRSSMiB(t)
	t.Logf("peak RSS %d MiB", peak)
	if peak<<20 > codecRSSBound {
		t.Errorf("peak RSS %d MiB, want under %d MiB", peak, codecRSSBound>>20)
	}
}

// codecValue is a compressible 2 KiB value: text with a counter.
func codecValue(i int) []byte {
	return fmt.Appendf(nil, "%05d %s", i, bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog "), 46))
}

// TestRealClientsCompressed: batches from franz-go with every codec (its
// own encoder and window choices) are accepted and read back intact.
// Sarama's batches get the same test in compat/sarama (TestSaramaCompressed),
// the module that holds the third-party clients.
func TestRealClientsCompressed(t *testing.T) {
	p := start(t)
	const n = 300
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	kgoCodecs := map[string]kgo.CompressionCodec{
		"gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	var topics []string
	for name, codec := range kgoCodecs {
		topic := "kgo-" + name
		codecTopic(t, p, topic, nil)
		topics = append(topics, topic)
		cl := p.Client(t, kgo.ProducerBatchCompression(codec), kgo.ProducerLinger(50*time.Millisecond))
		recs := make([]*kgo.Record, n)
		for i := range recs {
			recs[i] = &kgo.Record{Topic: topic, Value: codecValue(i)}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("franz-go %s: %v", name, err)
		}
	}
	for _, topic := range topics {
		cl := p.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		got := 0
		for got < n {
			fs := cl.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatalf("%s: %v", topic, err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				if !bytes.Equal(r.Value, codecValue(int(r.Offset))) {
					t.Errorf("%s offset %d: value differs", topic, r.Offset)
				}
				got++
			})
		}
		if got != n {
			t.Errorf("%s: read %d records, want %d", topic, got, n)
		}
	}
}

// TestBrowserBombs: three stored zstd batches, each a 6 KB frame holding a
// 60 MiB value (valid, within the topic's limits), are read through the
// admin message browser by eight clients at once, three pages each. Every
// page is answered (200, or 503 while the browser is busy), shows a 16 KiB
// cut of the value with its whole size, and the broker stays under 512 MiB
// and answers Metadata within a second. Before the bound each page
// decompressed the batches whole: one page of three such batches took
// 1.45 GiB, eight at once got the broker killed. A cross-site read is
// refused.
func TestBrowserBombs(t *testing.T) {
	httpAddr := proctest.FreeAddr(t)
	p := start(t, "--http", httpAddr)
	codecTopic(t, p, "browse", nil)
	prefix, zeros := codecbomb.Record(60 << 20)
	c, err := dialCodecConn(p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.nc.Close()
	for i := 0; i < 3; i++ {
		code, err := c.produce("browse", codecbomb.Batch(codecbomb.Zstd, codecbomb.ZstdFrame(128<<20, prefix, zeros), 1))
		if err != nil || code != 0 {
			t.Fatalf("storing batch %d: %v %v", i, err, kerr.ErrorForCode(code))
		}
	}
	url := "http://" + httpAddr + "/api/v1/topics/browse/records?partition=0&limit=50"

	stop := make(chan struct{})
	probe := probeMetadata(p.Addr, stop)
	var wg sync.WaitGroup
	var mu sync.Mutex
	status := map[int]int{}
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 3; j++ {
				resp, err := http.Get(url)
				if err != nil {
					t.Error(err)
					return
				}
				var page struct {
					Records []struct {
						Value      string `json:"value"`
						ValueBytes int    `json:"value_bytes"`
						Truncated  bool   `json:"truncated"`
					} `json:"records"`
				}
				err = json.NewDecoder(resp.Body).Decode(&page)
				resp.Body.Close()
				mu.Lock()
				status[resp.StatusCode]++
				mu.Unlock()
				switch {
				case resp.StatusCode == http.StatusServiceUnavailable:
				case resp.StatusCode != http.StatusOK || err != nil:
					t.Errorf("GET: %s %v", resp.Status, err)
				case len(page.Records) == 0:
					t.Error("GET: a page with no records")
				default:
					if r := page.Records[0]; r.ValueBytes != 60<<20 || !r.Truncated || len(r.Value) != 16<<10 {
						t.Errorf("record: value_bytes %d, truncated %v, %d bytes shown", r.ValueBytes, r.Truncated, len(r.Value))
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-probe; err != nil {
		t.Error(err)
	}
	t.Logf("answers by status: %v", status)
	if status[http.StatusOK] == 0 {
		t.Error("no page was served")
	}
	peak := p.MustPeakRSSMiB(t)
	t.Logf("peak RSS %d MiB", peak)
	if peak<<20 > codecRSSBound {
		t.Errorf("peak RSS %d MiB, want under %d MiB", peak, codecRSSBound>>20)
	}

	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site GET: %s, want 403", resp.Status)
	}
}
