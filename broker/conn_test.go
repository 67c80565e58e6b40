package broker_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// frame encodes a request with header v1 (or v2 when flexible).
func frame(req kmsg.Request, corr int32) []byte {
	var f kmsg.RequestFormatter
	return f.AppendRequest(nil, req, corr)
}

func readResponse(t *testing.T, c net.Conn) (int32, []byte) {
	t.Helper()
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("read size: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatalf("read body: %v", err)
	}
	return int32(binary.BigEndian.Uint32(body)), body[4:]
}

func expectClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	var b [1]byte
	_, err := c.Read(b[:])
	if err == nil {
		t.Fatalf("%s: connection still open", what)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: connection not closed by the broker", what)
	}
}

func TestApiVersionsFallbackAndPipelining(t *testing.T) {
	b := rewindtest.Start(t)
	c := dial(t, b.Addr())

	// A version we do not have: a v0 answer with UNSUPPORTED_VERSION and
	// our ApiVersions range (KIP-511).
	// A client asking a version it does not know we have sends header v1
	// (no tags): size, key 18, version 99, correlation id 7, null client id.
	hdr := binary.BigEndian.AppendUint32(nil, 10)
	hdr = append(hdr, 0, 18, 0, 99, 0, 0, 0, 7, 0xff, 0xff)
	c.Write(hdr)
	corr, body := readResponse(t, c)
	if corr != 7 {
		t.Fatalf("correlation id %d", corr)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) != 1 || resp.ApiKeys[0].ApiKey != 18 {
		t.Fatalf("fallback response = %+v", resp)
	}

	// Ten pipelined requests in one write are answered in order.
	var batch []byte
	for i := int32(0); i < 10; i++ {
		var r kmsg.Request
		if i%2 == 0 {
			a := kmsg.NewPtrApiVersionsRequest()
			a.Version = 3
			a.ClientSoftwareName, a.ClientSoftwareVersion = "test", "1.0"
			r = a
		} else {
			m := kmsg.NewPtrMetadataRequest()
			m.Version = 9
			r = m
		}
		batch = append(batch, frame(r, 100+i)...)
	}
	c.Write(batch)
	for i := int32(0); i < 10; i++ {
		corr, _ := readResponse(t, c)
		if corr != 100+i {
			t.Fatalf("response %d has correlation id %d, want %d", i, corr, 100+i)
		}
	}
}

// TestAcksZeroErrorClosesConnection: a produce with acks=0 cannot be
// answered, so on an error Apache Kafka closes the connection; the client
// sees the close and refreshes its metadata.
func TestAcksZeroErrorClosesConnection(t *testing.T) {
	b := rewindtest.Start(t)
	c := dial(t, b.Addr())
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 7, 0, 1000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "no-such-topic"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = []byte{1, 2, 3}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	c.Write(frame(req, 1))
	expectClosed(t, c, "acks=0 produce to an unknown topic")
}

// TestApiVersionsListsProduceFromV0: like Kafka 4.0 (KAFKA-18659), Produce
// is advertised from v0 so librdkafka < 2.10 keeps compressing, while a
// v0-2 request is still refused (see TestBadInputMatrix).
func TestApiVersionsListsProduceFromV0(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(testCtx(t, 5*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == 0 && (k.MinVersion != 0 || k.MaxVersion < 9) {
			t.Fatalf("Produce advertised %d-%d", k.MinVersion, k.MaxVersion)
		}
		if k.ApiKey == 1 && k.MinVersion != 4 {
			t.Fatalf("Fetch advertised from v%d", k.MinVersion)
		}
		// Kafka 4.0 removed OffsetCommit v0-1 and OffsetFetch v0 (KIP-896).
		if k.ApiKey == 8 && k.MinVersion != 2 {
			t.Fatalf("OffsetCommit advertised from v%d, want v2 as Kafka 4.x", k.MinVersion)
		}
		if k.ApiKey == 9 && k.MinVersion != 1 {
			t.Fatalf("OffsetFetch advertised from v%d, want v1 as Kafka 4.x", k.MinVersion)
		}
	}
}

// TestFetchEmptyPartitionHasEmptyNotNullRecords: Kafka answers a caught-up
// partition with empty records; old Sarama (Burrow's) rejects null.
func TestFetchEmptyPartitionHasEmptyNotNullRecords(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "empty", 1)
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.MaxWaitMillis, req.MaxBytes = 4, 10, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "empty"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	var f kmsg.RequestFormatter
	c := dial(t, b.Addr())
	c.Write(f.AppendRequest(nil, req, 1))
	_, body := readResponse(t, c)
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 4
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.RecordBatches == nil || len(p.RecordBatches) != 0 {
		t.Fatalf("partition = %+v (records nil: %v)", p, p.RecordBatches == nil)
	}
}
