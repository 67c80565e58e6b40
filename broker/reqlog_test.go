package broker_test

import (
	"strings"
	"testing"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRequestLog: at debug level, with --log-requests api=Metadata|Produce,
// client=app, each such request of that client is logged once answered
// with its API, version, client id, latency and first error code; other
// APIs and other clients are not. "none" logs nothing, a bad filter
// fails the start.
func TestRequestLog(t *testing.T) {
	var logs logBuf
	b := rewindtest.Start(t, withLog(&logs), configure(func(c *broker.Config) { c.LogRequests = "api=metadata|Produce,client=app" }))
	c := dial(t, b.Addr())
	md := metadataReq("reqlog")
	c.Write(rawWithClient(md, 1, "app"))
	answer(t, c, md, 1)
	prod := produceReq("no-such-topic", 0, -1, goodBatch(1))
	c.Write(rawWithClient(prod, 2, "app"))
	answer(t, c, prod, 2)
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.Version = 7
	c.Write(rawWithClient(lo, 3, "app"))
	answer(t, c, lo, 3)
	c.Write(rawWithClient(md, 4, "other"))
	answer(t, c, md, 4)

	logs.waitLog(t, "correlation_id=2")
	out := logs.String()
	if n := countLines(out, `msg=request`, "api=Metadata", "version=9", "client_id=app", "correlation_id=1", "latency=", "error_code=0"); n != 1 {
		t.Errorf("%d request log lines for the Metadata, want 1:\n%s", n, out)
	}
	if n := countLines(out, `msg=request`, "api=Produce", "client_id=app", "correlation_id=2", "error_code=3"); n != 1 {
		t.Errorf("%d request log lines for the Produce to an unknown topic (UNKNOWN_TOPIC_OR_PARTITION), want 1:\n%s", n, out)
	}
	if strings.Contains(out, "api=ListOffsets") || strings.Contains(out, "client_id=other") {
		t.Errorf("logged a request the filter leaves out:\n%s", out)
	}

	var quiet logBuf
	q := rewindtest.Start(t, withLog(&quiet), configure(func(c *broker.Config) { c.LogRequests = "none" }))
	qc := dial(t, q.Addr())
	qc.Write(rawWithClient(md, 1, "app"))
	answer(t, qc, md, 1)
	// The line is written before the response is (conn.complete).
	if strings.Contains(quiet.String(), "msg=request") {
		t.Errorf("--log-requests none logged a request:\n%s", quiet.String())
	}

	for _, bad := range []string{"api=NoSuchAPI", "apis=Produce", "client"} {
		if _, err := broker.New(broker.WithListen("127.0.0.1:0"), broker.WithDataDir(t.TempDir()), configure(func(c *broker.Config) { c.LogRequests = bad })); err == nil {
			t.Errorf("--log-requests %q started", bad)
		}
	}
}
