package broker_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The broker's hot paths over loopback, without a client library in the
// way: requests are framed with kmsg, several in flight on one
// connection as franz-go pipelines them, and responses are read whole.
// `rewind bench` measures the same paths with real clients.

// benchConn is a raw Kafka connection that pipelines requests.
type benchConn struct {
	nc   net.Conn
	br   *bufio.Reader
	f    kmsg.RequestFormatter
	corr int32
	body []byte
}

func dialBench(b *testing.B, addr string) *benchConn {
	b.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	return &benchConn{nc: nc, br: bufio.NewReaderSize(nc, 1<<20)}
}

func (c *benchConn) send(b *testing.B, req kmsg.Request, buf []byte) []byte {
	c.corr++
	buf = c.f.AppendRequest(buf[:0], req, c.corr)
	if _, err := c.nc.Write(buf); err != nil {
		b.Fatal(err)
	}
	return buf
}

// recv reads one response body (after the correlation id) into c.body.
func (c *benchConn) recv(b *testing.B) []byte {
	var hdr [8]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		b.Fatal(err)
	}
	n := int(binary.BigEndian.Uint32(hdr[:])) - 4
	if cap(c.body) < n {
		c.body = make([]byte, n)
	}
	c.body = c.body[:n]
	if _, err := io.ReadFull(c.br, c.body); err != nil {
		b.Fatal(err)
	}
	return c.body
}

func benchBatch(records, size int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	recs := make([]storage.Record, records)
	for i := range recs {
		v := make([]byte, size)
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		recs[i] = storage.Record{Timestamp: time.Now().UnixMilli(), Value: v}
	}
	return storage.BuildBatch(time.Now().UnixMilli(), recs)
}

func benchTopic(b *testing.B, addr, name string, partitions int32) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(b.Context(), partitions, 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		b.Fatal(err)
	}
}

func produceRequest(topic string, partition int32, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = -1
	req.TimeoutMillis = 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// BenchmarkProduce sends 64 KiB batches (of 1 KiB or 100 B records) with
// acks=all, four requests in flight, as franz-go does by default.
func BenchmarkProduce(b *testing.B) {
	const inflight = 4
	for _, size := range []int{1024, 100} {
		for _, fsync := range []storage.Fsync{storage.FsyncNever, storage.FsyncAlways} {
			b.Run(fmt.Sprintf("record=%dB/fsync=%v", size, fsync), func(b *testing.B) {
				br := rewindtest.Start(b, broker.WithFsync(fsync))
				benchTopic(b, br.Addr(), "p", 1)
				batch := benchBatch(64<<10/size, size)
				req := produceRequest("p", 0, batch)
				c := dialBench(b, br.Addr())
				var buf []byte
				resp := kmsg.NewPtrProduceResponse()
				resp.Version = req.Version
				check := func() {
					body := c.recv(b)
					if err := resp.ReadFrom(append([]byte(nil), body[1:]...)); err != nil { // skip header tags
						b.Fatal(err)
					}
					if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
						b.Fatalf("produce error %d", code)
					}
				}
				b.SetBytes(int64(len(batch)))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if i >= inflight {
						check()
					}
					buf = c.send(b, req, buf)
				}
				for i := 0; i < min(b.N, inflight); i++ {
					check()
				}
			})
		}
	}
}

// BenchmarkFetch reads a 64 MiB partition of 1 KiB records from the start
// to the end again and again, 1 MiB per request, one request in flight.
func BenchmarkFetch(b *testing.B) {
	br := rewindtest.Start(b, broker.WithFsync(storage.FsyncNever))
	benchTopic(b, br.Addr(), "f", 1)
	batch := benchBatch(64, 1024)
	c := dialBench(b, br.Addr())
	req := produceRequest("f", 0, batch)
	var buf []byte
	const stored = 64 << 20
	for n := 0; n < stored; n += len(batch) {
		buf = c.send(b, req, buf)
		c.recv(b)
	}
	end := int64(stored / len(batch) * 64)

	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version = 12
	fetch.ReplicaID = -1
	fetch.MaxWaitMillis = 500
	fetch.MaxBytes = 50 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "f"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition = 0
	fp.PartitionMaxBytes = 1 << 20
	fp.CurrentLeaderEpoch = -1
	fp.LastFetchedEpoch = -1
	fp.LogStartOffset = -1
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = fetch.Version

	b.ReportAllocs()
	b.ResetTimer()
	var total int64
	offset := int64(0)
	for i := 0; i < b.N; i++ {
		fetch.Topics[0].Partitions[0].FetchOffset = offset
		buf = c.send(b, fetch, buf)
		body := c.recv(b)
		total += int64(len(body))
		// Decode only what the next request needs: the records are
		// whole batches of 64 records each.
		if err := resp.ReadFrom(body[1:]); err != nil {
			b.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			b.Fatalf("fetch error %d", p.ErrorCode)
		}
		offset += int64(len(p.RecordBatches) / len(batch) * 64)
		if offset >= end {
			offset = 0
		}
	}
	b.SetBytes(total / int64(b.N))
}

// fsyncs returns the count and total seconds of the broker's fsyncs so
// far (rewind_storage_fsync_duration_seconds).
func fsyncs(b *testing.B, br *broker.Broker) (uint64, float64) {
	mfs, err := br.Metrics().Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "rewind_storage_fsync_duration_seconds" {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	b.Fatal("no rewind_storage_fsync_duration_seconds metric")
	return 0, 0
}

// BenchmarkOffsetCommit commits one offset per request over one
// connection, fsync=always, with 1 request in flight (each commit waits
// for its own fsync) and with 16 pipelined (their commits share fsyncs);
// the groups are spread over __consumer_offsets partitions.
//
// The disk is shared and its fsync latency varies from run to run by
// more than any change to the commit path, so each run also reports the
// fsyncs it made per commit and their mean latency (the broker's fsync
// histogram over the timed loop), and ns/op less the fsync time per
// commit: what the commit path costs beyond the disk.
func BenchmarkOffsetCommit(b *testing.B) {
	for _, inflight := range []int{1, 16} {
		for _, groups := range []int{1, 16} {
			b.Run(fmt.Sprintf("inflight=%d/groups=%d", inflight, groups), func(b *testing.B) {
				br := rewindtest.Start(b, broker.WithFsync(storage.FsyncAlways))
				benchTopic(b, br.Addr(), "c", 1)
				reqs := make([]*kmsg.OffsetCommitRequest, groups)
				for g := range reqs {
					reqs[g] = commitRequest(fmt.Sprintf("bench-%d", g), "c", 0, 1)
				}
				c := dialBench(b, br.Addr())
				var buf []byte
				resp := kmsg.NewPtrOffsetCommitResponse()
				resp.Version = reqs[0].Version
				check := func() {
					body := c.recv(b)
					if err := resp.ReadFrom(append([]byte(nil), body[1:]...)); err != nil { // skip header tags
						b.Fatal(err)
					}
					if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
						b.Fatalf("commit error %d", code)
					}
				}
				b.ReportAllocs()
				n0, sum0 := fsyncs(b, br)
				start := time.Now()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if i >= inflight {
						check()
					}
					req := reqs[i%groups]
					req.Topics[0].Partitions[0].Offset = int64(i)
					buf = c.send(b, req, buf)
				}
				for i := 0; i < min(b.N, inflight); i++ {
					check()
				}
				b.StopTimer()
				elapsed := time.Since(start)
				n1, sum1 := fsyncs(b, br)
				if n := n1 - n0; n > 0 {
					mean := (sum1 - sum0) / float64(n) * 1e9
					// Fsyncs overlap when groups are on several partitions:
					// only with one partition is their time per commit
					// serial time on the commit path.
					perOp := float64(n) / float64(b.N)
					b.ReportMetric(perOp, "fsyncs/op")
					b.ReportMetric(mean, "fsync-ns")
					if groups == 1 {
						b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N)-perOp*mean, "beyond-fsync-ns/op")
					}
				}
			})
		}
	}
}
