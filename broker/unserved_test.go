package broker_test

import (
	"strings"
	"testing"

	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawWithClient frames req with a client id, as a client library does.
func rawWithClient(req kmsg.Request, corr int32, clientID string) []byte {
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)).AppendRequest(nil, req, corr)
}

// TestUnservedAPIAnswered: a request of an API Kafka 4.x serves on a broker
// but Rewind does not implement is answered with UNSUPPORTED_VERSION (the
// client reports it instead of an EOF), and the connection goes on
// serving; the broker logs it at WARN once for that client and API.
func TestUnservedAPIAnswered(t *testing.T) {
	var logs logBuf
	b := rewindtest.Start(t, withLog(&logs))
	c := dial(t, b.Addr())

	for i := int32(1); i <= 3; i++ {
		req := kmsg.NewPtrDescribeQuorumRequest()
		req.Version = 2
		c.Write(rawWithClient(req, i, "quorum-tool"))
		resp := answer(t, c, req, i).(*kmsg.DescribeQuorumResponse)
		if resp.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Fatalf("DescribeQuorum answered %v, want UNSUPPORTED_VERSION", kerr.ErrorForCode(resp.ErrorCode))
		}
	}
	// The connection still serves.
	md := metadataReq()
	c.Write(frame(md, 9))
	if resp := answer(t, c, md, 9).(*kmsg.MetadataResponse); len(resp.Brokers) != 1 {
		t.Fatalf("Metadata after an unserved request: %+v", resp)
	}
	logs.waitLog(t, "api=DescribeQuorum")
	if n := countLines(logs.String(), "level=WARN", "client_id=quorum-tool", "api=DescribeQuorum"); n != 1 {
		t.Fatalf("%d WARN lines for 3 requests of one client, want 1:\n%s", n, logs.String())
	}

	// Another client asking the same is logged too.
	req := kmsg.NewPtrDescribeQuorumRequest()
	req.Version = 2
	c.Write(rawWithClient(req, 10, "other-tool"))
	answer(t, c, req, 10)
	logs.waitLog(t, "client_id=other-tool")
}

// TestUnservedRequestsClose: what Kafka cannot parse or does not serve on a
// broker listener (an unknown key, a controller API, a version out of
// range, an API whose errors are only per resource) closes the connection,
// as Kafka's SocketServer does, logged at WARN once per client and API with
// its name.
func TestUnservedRequestsClose(t *testing.T) {
	var logs logBuf
	b := rewindtest.Start(t, withLog(&logs))
	addr := b.Addr()

	describeStreams := kmsg.NewPtrStreamsGroupDescribeRequest() // per-group errors only
	describeStreams.Version = 0
	describeStreams.Groups = []string{"g"}
	vote := kmsg.NewPtrVoteRequest() // the controller's
	mdHigh := kmsg.NewPtrMetadataRequest()
	mdHigh.Version = 99
	cases := []struct {
		name string
		data func() []byte
		api  string
	}{
		{"StreamsGroupDescribe", func() []byte { return rawWithClient(describeStreams, 0, "streams-tool") }, "api=StreamsGroupDescribe"},
		{"Vote", func() []byte { return rawWithClient(vote, 1, "raft-tool") }, "api=Vote"},
		{"unknown key", func() []byte { return frameOf(header(0x7f00, 0, 1)) }, `api="unknown API key 32512"`},
		{"Metadata v99", func() []byte { return frameOf(header(3, 99, 1)) }, "api=Metadata version=99"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 {
				c := dial(t, addr)
				c.Write(tc.data())
				expectClosed(t, c, tc.name)
			}
			logs.waitLog(t, tc.api)
			if n := countLines(logs.String(), "level=WARN", tc.api); n != 1 {
				t.Fatalf("%d WARN lines for two such requests of one client, want 1:\n%s", n, logs.String())
			}
			servedOnFreshConn(t, addr)
		})
	}
}

// countLines counts the log lines holding every one of subs.
func countLines(log string, subs ...string) int {
	n := 0
next:
	for _, l := range strings.Split(log, "\n") {
		for _, s := range subs {
			if !strings.Contains(l, s) {
				continue next
			}
		}
		n++
	}
	return n
}
