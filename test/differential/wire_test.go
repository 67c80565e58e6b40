package differential

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/internal/kafkaref"
)

// conn is one raw connection to a broker: requests go out exactly at the
// version the test sets (a client library would negotiate its own).
type conn struct {
	c       net.Conn
	corr    int32
	f       *kmsg.RequestFormatter
	timeout time.Duration // for one request and its response; 30 s when 0
}

func dial(t testing.TB, addr string) *conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &conn{c: c, f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("differential"))}
}

var (
	errNoResponse = errors.New("no response: connection closed")
	errNoAnswer   = errors.New("no response: connection open, nothing answered")
)

// send writes req at its set version and returns the decoded response, or
// errNoResponse when the broker closed the connection instead.
func (c *conn) send(req kmsg.Request) (kmsg.Response, error) {
	if pr, ok := req.(*kmsg.ProduceRequest); ok && pr.Version >= 13 {
		var err error
		if req, err = c.withTopicIDs(pr); err != nil {
			return nil, err
		}
	}
	c.corr++
	if err := c.write(req); err != nil {
		return nil, err
	}
	return c.read(req)
}

func (c *conn) write(req kmsg.Request) error {
	d := c.timeout
	if d == 0 {
		d = 30 * time.Second
	}
	_ = c.c.SetDeadline(time.Now().Add(d))
	_, err := c.c.Write(c.f.AppendRequest(nil, req, c.corr))
	return err
}

func (c *conn) read(req kmsg.Request) (kmsg.Response, error) {
	var size [4]byte
	if _, err := io.ReadFull(c.c, size[:]); err != nil {
		if errors.Is(err, io.EOF) || isReset(err) {
			return nil, errNoResponse
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return nil, errNoAnswer
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > 64<<20 {
		return nil, fmt.Errorf("response of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.c, body); err != nil {
		return nil, err
	}
	r := kbin.Reader{Src: body}
	if got := r.Int32(); got != c.corr {
		return nil, fmt.Errorf("correlation id %d, want %d", got, c.corr)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if req.Key() == 18 && req.GetVersion() > req.MaxVersion() {
		// UNSUPPORTED_VERSION comes in a v0 body, which a client can read
		// whatever version it tried.
		resp.SetVersion(0)
	}
	// ApiVersions answers with response header v0 whatever its version
	// (so that a client learns the versions before it knows flexibility).
	if resp.IsFlexible() && req.Key() != 18 {
		for range r.Uvarint() {
			r.Uvarint()
			r.Span(int(r.Uvarint()))
		}
	}
	if !r.Ok() {
		return nil, errors.New("response header cut short")
	}
	if err := resp.ReadFrom(r.Src); err != nil {
		return nil, fmt.Errorf("decoding %s v%d response: %w", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp, nil
}

// closed reports whether the broker closed the connection within d,
// reading nothing (a Produce with acks=0 that failed closes it in Kafka).
func (c *conn) closed(d time.Duration) bool {
	_ = c.c.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	_, err := c.c.Read(b[:])
	return err != nil && (errors.Is(err, io.EOF) || isReset(err))
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

// pair is one Kafka and one Rewind, each with a raw connection, and the
// API versions both serve.
type pair struct {
	t              *testing.T
	kafka, rewind  *conn
	kafkaAddr      string
	rewindAddr     string
	kafkaVersions  map[int16][2]int16
	rewindVersions map[int16][2]int16
	kafkaNode      int32
	rewindNode     int32
	known          *knownDiffs
}

// newPair starts a fresh Rewind for the test and connects to the shared
// Kafka.
func newPair(t *testing.T) *pair { return newPairNode(t, false) }

// newPairNode is newPair, with Rewind started with Kafka's node id
// (--node-id) when sameNode, for requests that name the broker.
func newPairNode(t *testing.T, sameNode bool) *pair {
	t.Helper()
	k := kafkaref.Start(t)
	p := &pair{t: t, kafkaAddr: k.Addrs()[0], known: loadKnown(t)}
	p.kafka = dial(t, p.kafkaAddr)
	p.kafkaNode = controllerOrNode(t, p.kafka)
	node := int32(-1)
	if sameNode {
		node = p.kafkaNode
	}
	p.rewindAddr = startRewind(t, node)
	p.rewind = dial(t, p.rewindAddr)
	p.kafkaVersions = versions(t, p.kafka)
	p.rewindVersions = versions(t, p.rewind)
	p.rewindNode = controllerOrNode(t, p.rewind)
	offsetsTopicOnce.Do(func() {
		if offsetsTopicErr = waitCoordinator(p.kafka); offsetsTopicErr == nil {
			offsetsTopicErr = waitOffsetsLoaded(p.kafka)
		}
	})
	if offsetsTopicErr != nil {
		t.Fatal(offsetsTopicErr)
	}
	return p
}

// startRewind starts the Rewind of this run (see rewindBinary) and returns
// its address, with node id node unless it is negative; it is stopped when
// the test ends.
func startRewind(t *testing.T, node int32) string {
	t.Helper()
	if rewindBinary == "" {
		var opts []broker.Option
		if node >= 0 {
			opts = append(opts, broker.WithNodeID(node))
		}
		return rewindtest.Start(t, opts...).Addr()
	}
	// rewindtest's settings that differ from the binary's defaults: no
	// initial rebalance delay (proctest's default) and a small disk
	// reserve file.
	args := []string{"--disk-reserve", "1048576"}
	if node >= 0 {
		args = append(args, "--node-id", strconv.Itoa(int(node)))
	}
	return proctest.Start(t, proctest.Config{Binary: rewindBinary, Args: args}).Addr
}

var (
	offsetsTopicOnce sync.Once
	offsetsTopicErr  error
)

// waitCoordinator makes Kafka create __consumer_offsets, which Rewind has
// from its start: Kafka creates it on the first FindCoordinator, and until
// then a CreateTopics of that name would succeed and groups would wait.
func waitCoordinator(c *conn) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.SetVersion(4)
		req.CoordinatorKeys = []string{"differential" + suffix}
		resp, err := c.send(req)
		if err != nil {
			return fmt.Errorf("FindCoordinator: %w", err)
		}
		cs := resp.(*kmsg.FindCoordinatorResponse).Coordinators
		if len(cs) == 1 && cs[0].ErrorCode == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kafka: no group coordinator after 60 s: %+v", cs)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitOffsetsLoaded waits until Kafka has loaded every partition of
// __consumer_offsets: a coordinator for one group says nothing of the
// other partitions, which answer COORDINATOR_LOAD_IN_PROGRESS a while
// after the topic is created (longer on a busy machine). One group per
// partition is fetched; a group's partition is Kafka's
// abs(groupId.hashCode()) % partitions.
func waitOffsetsLoaded(c *conn) error {
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(12)
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("__consumer_offsets")
	meta.Topics = append(meta.Topics, mt)
	resp, err := c.send(meta)
	if err != nil {
		return fmt.Errorf("Metadata of __consumer_offsets: %w", err)
	}
	ts := resp.(*kmsg.MetadataResponse).Topics
	if len(ts) != 1 || len(ts[0].Partitions) == 0 {
		return fmt.Errorf("kafka: no __consumer_offsets partitions: %+v", ts)
	}
	n := int32(len(ts[0].Partitions))
	byPartition := map[int32]string{}
	for i := 0; int32(len(byPartition)) < n; i++ {
		g := fmt.Sprintf("differential-load-%d%s", i, suffix)
		var h int32
		for _, u := range utf16.Encode([]rune(g)) {
			h = 31*h + int32(u)
		}
		if h == math.MinInt32 {
			h = 0 // Kafka's Utils.abs
		} else if h < 0 {
			h = -h
		}
		if _, ok := byPartition[h%n]; !ok {
			byPartition[h%n] = g
		}
	}
	req := kmsg.NewPtrOffsetFetchRequest()
	req.SetVersion(8)
	for _, g := range byPartition {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g
		req.Groups = append(req.Groups, rg)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := c.send(req)
		if err != nil {
			return fmt.Errorf("OffsetFetch: %w", err)
		}
		loading := 0
		for _, g := range resp.(*kmsg.OffsetFetchResponse).Groups {
			if g.ErrorCode != 0 {
				loading++
			}
		}
		if loading == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kafka: %d of %d __consumer_offsets partitions not loaded after 60 s", loading, n)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func versions(t testing.TB, c *conn) map[int16][2]int16 {
	t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "differential", "1"
	resp, err := c.send(req)
	if err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
	out := map[int16][2]int16{}
	for _, k := range resp.(*kmsg.ApiVersionsResponse).ApiKeys {
		out[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	return out
}

// controllerOrNode is the node id of a single-broker cluster.
func controllerOrNode(t testing.TB, c *conn) int32 {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	req.Topics = []kmsg.MetadataRequestTopic{}
	resp, err := c.send(req)
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	m := resp.(*kmsg.MetadataResponse)
	if len(m.Brokers) != 1 {
		t.Fatalf("Metadata lists %d brokers, want one", len(m.Brokers))
	}
	return m.Brokers[0].NodeID
}

// common is the highest version of key both brokers and kmsg serve, and
// the lowest; ok is false when one of them does not serve it.
func (p *pair) common(req kmsg.Request) (lo, hi int16, ok bool) {
	k, kok := p.kafkaVersions[req.Key()]
	r, rok := p.rewindVersions[req.Key()]
	if !kok || !rok {
		return 0, 0, false
	}
	lo, hi = max(k[0], r[0]), min(k[1], r[1], req.MaxVersion())
	return lo, hi, lo <= hi
}

// both sends a copy of req to each broker at version v (the newest
// common version when v < 0) and returns the two responses.
func (p *pair) both(req kmsg.Request, v int16) (kafka, rewind kmsg.Response, kerr, rerr error) {
	p.t.Helper()
	if v < 0 {
		_, hi, ok := p.common(req)
		if !ok {
			p.t.Fatalf("%s: no version both brokers serve", kmsg.NameForKey(req.Key()))
		}
		v = hi
		if hi >= 10 && namesTopics(req) {
			v = 9 // v10 names topics by id, which differ between the brokers
		}
	}
	req.SetVersion(v)
	kafka, kerr = p.kafka.send(req)
	if kerr != nil && !errors.Is(kerr, errNoResponse) && !errors.Is(kerr, errNoAnswer) {
		p.t.Fatalf("kafka %s v%d: %v", kmsg.NameForKey(req.Key()), v, kerr)
	}
	rewind, rerr = p.rewind.send(req)
	if rerr != nil && !errors.Is(rerr, errNoResponse) && !errors.Is(rerr, errNoAnswer) {
		p.t.Fatalf("rewind %s v%d: %v", kmsg.NameForKey(req.Key()), v, rerr)
	}
	// A connection that was closed, or that left a request unanswered (a
	// late answer would be read as the next one's), is replaced.
	if kerr != nil {
		p.kafka = dial(p.t, p.kafkaAddr)
	}
	if rerr != nil {
		p.rewind = dial(p.t, p.rewindAddr)
	}
	return kafka, rewind, kerr, rerr
}

// namesTopics tells whether req is an OffsetCommit or OffsetFetch naming
// its topics by name only: a scenario of the versions before v10.
func namesTopics(req kmsg.Request) bool {
	switch r := req.(type) {
	case *kmsg.OffsetCommitRequest:
		for _, t := range r.Topics {
			if t.Topic != "" && t.TopicID == ([16]byte{}) {
				return true
			}
		}
	case *kmsg.OffsetFetchRequest:
		for _, g := range r.Groups {
			for _, t := range g.Topics {
				if t.Topic != "" && t.TopicID == ([16]byte{}) {
					return true
				}
			}
		}
		for _, t := range r.Topics {
			if t.Topic != "" {
				return true
			}
		}
	}
	return false
}

// compare sends req to both at version v (< 0: newest common) and checks
// the normalised responses are equal, field by field; fix, when not nil,
// normalises what this scenario allows to differ. It returns both
// responses for further checks.
func (p *pair) compare(scenario string, req kmsg.Request, v int16, fix func(kafka, rewind kmsg.Response)) (kmsg.Response, kmsg.Response) {
	p.t.Helper()
	k, r, kerr, rerr := p.both(req, v)
	scenario = fmt.Sprintf("%s/%s_v%d", scenario, kmsg.NameForKey(req.Key()), req.GetVersion())
	if (kerr == nil) != (rerr == nil) {
		p.report(scenario, []difference{{path: "(connection)", kafka: describeErr(kerr), rewind: describeErr(rerr)}})
		return k, r
	}
	if kerr != nil {
		var ds []difference
		if kerr != rerr {
			ds = append(ds, difference{path: "(connection)", kafka: describeErr(kerr), rewind: describeErr(rerr)})
		}
		p.report(scenario, ds)
		return k, r
	}
	normalize(k, p.kafkaNode)
	normalize(r, p.rewindNode)
	if fix != nil {
		fix(k, r)
	}
	p.report(scenario, diff(k, r))
	return k, r
}

func describeErr(err error) string {
	if err == nil {
		return "answered"
	}
	return err.Error()
}

// report fails the test for every difference that known_differences.txt
// does not explain, and logs the explained ones.
func (p *pair) report(scenario string, ds []difference) {
	p.t.Helper()
	record(scenario, ds, p.known)
	for _, g := range collapse(ds) {
		d := g.difference
		n := ""
		if g.count > 1 {
			n = fmt.Sprintf(" (%d elements)", g.count)
		}
		if why, ok := p.known.match(scenario, d.path); ok {
			p.t.Logf("%s: %s%s: kafka %s, rewind %s (known: %s)", scenario, d.path, n, d.kafka, d.rewind, why)
			continue
		}
		p.t.Errorf("%s: %s%s: kafka %s, rewind %s", scenario, d.path, n, d.kafka, d.rewind)
	}
}

// numberedKey is a list element's numeric key in a path, [Partition=17].
var numberedKey = regexp.MustCompile(`\[(Partition|ApiKey|NodeID)=-?[0-9]+\]`)

type group struct {
	difference
	count int
}

// collapse reports a difference that repeats, with the same values, over
// the elements of a numbered list once, its path with [Partition=*].
func collapse(ds []difference) []group {
	var out []group
	at := map[difference]int{}
	for _, d := range ds {
		g := d
		g.path = numberedKey.ReplaceAllString(d.path, "[$1=*]")
		if i, ok := at[g]; ok {
			out[i].count++
			continue
		}
		at[g] = len(out)
		out = append(out, group{d, 1})
	}
	for i := range out {
		if out[i].count > 1 {
			out[i].path = numberedKey.ReplaceAllString(out[i].path, "[$1=*]")
		}
	}
	return out
}

// withTopicIDs is a copy of req, a Produce from v13 (topics by id only,
// KIP-516), with the ids this broker gave its named topics: the scenarios
// name topics, and each broker has its own ids. A topic the broker does
// not know keeps the zero id, answered UNKNOWN_TOPIC_ID by both.
func (c *conn) withTopicIDs(req *kmsg.ProduceRequest) (*kmsg.ProduceRequest, error) {
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(12)
	for _, rt := range req.Topics {
		if rt.Topic != "" {
			mt := kmsg.NewMetadataRequestTopic()
			mt.Topic = kmsg.StringPtr(rt.Topic)
			md.Topics = append(md.Topics, mt)
		}
	}
	ids := map[string][16]byte{}
	if len(md.Topics) > 0 {
		resp, err := c.send(md)
		if err != nil {
			return nil, fmt.Errorf("metadata for produce topic ids: %w", err)
		}
		for _, t := range resp.(*kmsg.MetadataResponse).Topics {
			if t.Topic != nil && t.ErrorCode == 0 {
				ids[*t.Topic] = t.TopicID
			}
		}
	}
	cp := *req
	cp.Topics = append([]kmsg.ProduceRequestTopic(nil), req.Topics...)
	for i := range cp.Topics {
		if id, ok := ids[cp.Topics[i].Topic]; ok {
			cp.Topics[i].TopicID = id
		}
	}
	return &cp, nil
}
