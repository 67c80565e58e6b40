package adversarial

import (
	"context"
	be "encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Small requests that ask for huge answers: a request naming millions of
// (empty, repeated or distinct) things. The broker must answer as Kafka
// does (deduplicated) or refuse the request, while its peak RSS stays under
// peakRSSBound (512 MiB) and a client on another connection is answered
// within probeBound (1 s), the bounds slowclients_test.go states.

// largeDecodes are the flags of a broker that decodes the multi-MiB
// requests below instead of refusing them: each is charged 97 times its
// frame to --max-request-memory while decoded (decodemem.go), more than
// the default 256 MiB allows, and these tests are about their answers.
var largeDecodes = []string{"--max-request-memory", fmt.Sprint(2 << 30)}

// attackBudget bounds the wait for an answer or a close.
const attackBudget = 90 * time.Second

// attackResult is what the attacking connection saw.
type attackResult struct {
	resp   kmsg.Response // nil if the connection was closed
	closed bool
	took   time.Duration
}

// sendRaw writes req on a new raw TCP connection and reads its answer (or
// the close).
func sendRaw(t *testing.T, addr string, req kmsg.Request) attackResult {
	t.Helper()
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("attacker"))
	frame := f.AppendRequest(nil, req, 1)
	t.Logf("%s v%d: %d-byte frame", kmsg.NameForKey(req.Key()), req.GetVersion(), len(frame))
	return sendFrame(t, addr, req, frame)
}

// sendFrame writes frame, req encoded with correlation id 1, on a new raw
// TCP connection and reads its answer (or the close). It may run in its own
// goroutine: it reports failures with t.Error.
func sendFrame(t *testing.T, addr string, req kmsg.Request, frame []byte) attackResult {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Error(err)
		return attackResult{}
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(attackBudget))
	start := time.Now()
	if _, err := c.Write(frame); err != nil {
		// The broker may close before reading it all.
		return attackResult{closed: true, took: time.Since(start)}
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("no answer and no close within %s", attackBudget)
			return attackResult{}
		}
		return attackResult{closed: true, took: time.Since(start)}
	}
	body := make([]byte, be.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Errorf("truncated response: %v", err)
		return attackResult{}
	}
	took := time.Since(start)
	if corr := int32(be.BigEndian.Uint32(body)); corr != 1 {
		t.Errorf("correlation id %d", corr)
		return attackResult{}
	}
	body = body[4:]
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() {
		body = body[1:] // response header tags
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Errorf("decode response: %v", err)
		return attackResult{}
	}
	t.Logf("answered with %d bytes in %s", len(body), took)
	return attackResult{resp: resp, took: took}
}

// sendFromConns sends frame on conns new connections at once, under
// underAttack's bounds, and returns each connection's result.
func sendFromConns(t *testing.T, p *proctest.Proc, req kmsg.Request, frame []byte, conns int) []attackResult {
	t.Helper()
	results := make([]attackResult, conns)
	underAttack(t, p, func() attackResult {
		var wg sync.WaitGroup
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = sendFrame(t, p.Addr, req, frame)
			}()
		}
		wg.Wait()
		return attackResult{}
	})
	return results
}

// underAttack runs attack while probing Metadata from other connections,
// then checks the peak RSS and the slowest probe.
func underAttack(t *testing.T, p *proctest.Proc, attack func() attackResult) attackResult {
	t.Helper()
	before := p.MustPeakRSSMiB(t)
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		slowest  time.Duration
		probes   int
		probeErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
			d, err := proctest.MetadataLatency(pctx, p.Addr)
			pcancel()
			mu.Lock()
			if ctx.Err() == nil {
				probes++
				if err != nil && probeErr == nil {
					probeErr = fmt.Errorf("metadata probe failed after %s: %w", d, err)
				}
				slowest = max(slowest, d)
			}
			mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	res := attack()
	// Keep probing a moment after the answer: the broker may still be
	// releasing what the request took.
	time.Sleep(300 * time.Millisecond)
	cancel()
	wg.Wait()
	peak := p.MustPeakRSSMiB(t)
	t.Logf("peak RSS %d MiB (before the attack %d MiB); %d metadata probes, slowest %s", peak, before, probes, slowest)
	if probeErr != nil {
		t.Error(probeErr)
	}
	if slowest > probeBound {
		t.Errorf("another client waited %s for Metadata, bound %s", slowest, probeBound)
	}
	if peak<<20 > peakRSSBound {
		t.Errorf("peak RSS %d MiB, bound %d MiB", peak, peakRSSBound>>20)
	}
	select {
	case <-p.Exited():
		t.Fatalf("the broker died: %s", p.Log())
	default:
	}
	return res
}

func describeGroupsOf(names []string) *kmsg.DescribeGroupsRequest {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Version, req.Groups = 5, names
	return req
}

// distinctNames returns n different short names.
func distinctNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%x", i)
	}
	return out
}

func TestDescribeGroupsOfEmptyNames(t *testing.T) {
	for _, mib := range []int{4, 16} {
		t.Run(fmt.Sprintf("%dMiB", mib), func(t *testing.T) {
			p := start(t, largeDecodes...)
			// v5 is flexible: an empty name is one byte.
			req := describeGroupsOf(make([]string, mib<<20))
			res := underAttack(t, p, func() attackResult { return sendRaw(t, p.Addr, req) })
			if res.closed {
				t.Fatal("connection closed: a repeated name must be answered once, as the one group it names")
			}
			groups := res.resp.(*kmsg.DescribeGroupsResponse).Groups
			if len(groups) != 1 || groups[0].Group != "" || groups[0].ErrorCode != 0 || groups[0].State != "Dead" {
				t.Fatalf("answered %d groups (first %+v), want the one unknown group \"\" as Dead", len(groups), groups[0])
			}
		})
	}
}

func TestDescribeGroupsOfDistinctNames(t *testing.T) {
	p := start(t, largeDecodes...)
	// About 4 MiB of different names: an answer per name would need more
	// than the response memory allows.
	req := describeGroupsOf(distinctNames(900_000))
	res := underAttack(t, p, func() attackResult { return sendRaw(t, p.Addr, req) })
	if !res.closed {
		t.Fatalf("answered %d groups; want the connection closed: the answer is larger than --max-response-memory", len(res.resp.(*kmsg.DescribeGroupsResponse).Groups))
	}
	if log := p.Log(); !strings.Contains(log, "--max-response-memory") {
		t.Errorf("the broker log does not say why the connection was closed:\n%s", log)
	}
}

func TestFindCoordinatorOfEmptyKeys(t *testing.T) {
	p := start(t, largeDecodes...)
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version, req.CoordinatorKeys = 4, make([]string, 4<<20)
	res := underAttack(t, p, func() attackResult { return sendRaw(t, p.Addr, req) })
	if res.closed {
		t.Fatal("connection closed: a repeated key must be answered once")
	}
	cs := res.resp.(*kmsg.FindCoordinatorResponse).Coordinators
	if len(cs) != 1 || cs[0].Key != "" || cs[0].ErrorCode != 0 || cs[0].NodeID != 0 {
		t.Fatalf("answered %d coordinators (first %+v), want one for key \"\": node 0", len(cs), cs[0])
	}
}

// Every answer of DescribeConfigs carries all the configs of its resource:
// 4 MiB of one repeated topic resource would ask for a thousand times its
// size. It is answered once.
func TestDescribeConfigsOfRepeatedResource(t *testing.T) {
	p := start(t, largeDecodes...)
	createTopicOn(t, p, "configs")
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version = 4
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "configs"
	req.Resources = make([]kmsg.DescribeConfigsRequestResource, (4<<20)/12) // 12 bytes each
	for i := range req.Resources {
		req.Resources[i] = rr
	}
	res := underAttack(t, p, func() attackResult { return sendRaw(t, p.Addr, req) })
	if res.closed {
		t.Fatal("connection closed: a repeated resource must be answered once")
	}
	got := res.resp.(*kmsg.DescribeConfigsResponse).Resources
	if len(got) != 1 || got[0].ResourceName != "configs" || got[0].ErrorCode != 0 || len(got[0].Configs) == 0 {
		t.Fatalf("answered %d resources, want the topic once with its configs", len(got))
	}
}

// Metadata naming one topic 4 MiB worth of times: Kafka answers a Set of
// the names, so one topic.
func TestMetadataOfRepeatedTopic(t *testing.T) {
	p := start(t, largeDecodes...)
	createTopicOn(t, p, "meta")
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("meta")
	req.Topics = make([]kmsg.MetadataRequestTopic, (4<<20)/23) // 23 bytes each
	for i := range req.Topics {
		req.Topics[i] = mt
	}
	res := underAttack(t, p, func() attackResult { return sendRaw(t, p.Addr, req) })
	if res.closed {
		t.Fatal("connection closed: a repeated topic must be answered once")
	}
	got := res.resp.(*kmsg.MetadataResponse).Topics
	if len(got) != 1 || *got[0].Topic != "meta" || got[0].ErrorCode != 0 {
		t.Fatalf("answered %d topics, want meta once", len(got))
	}
}

func createTopicOn(t *testing.T, p *proctest.Proc, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 3, 1
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, p.Client(t))
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		t.Fatalf("create %s: error code %d", name, code)
	}
}

// Decoding a request takes up to 92 times its frame (kmsg makes every
// array element a Go value); a Fetch v12 of empty topics that each carry an
// unknown tagged field is among the worst, 80 times. The broker charges a
// large non-Produce frame 97 times its size to --max-request-memory before
// decoding it and refuses one whose charge could never fit, so at the
// defaults Fetch frames of 16 and 64 MiB (1.3 and 5 GB decoded) from
// several connections at once close those connections, and 2 MiB ones
// (160 MiB decoded each) are decoded one at a time.
func TestFetchOfTaggedEmptyTopics(t *testing.T) {
	const conns = 4
	for _, c := range []struct {
		kib     int
		refused bool
	}{{2 << 10, false}, {16 << 10, true}, {64 << 10, true}} {
		t.Run(fmt.Sprintf("%dMiB", c.kib>>10), func(t *testing.T) {
			p := start(t)
			req := kmsg.NewPtrFetchRequest()
			req.Version = 12
			req.Topics = make([]kmsg.FetchRequestTopic, (c.kib<<10)/5) // 5 bytes each
			var tag kmsg.Tags
			tag.Set(99, nil)
			for i := range req.Topics {
				req.Topics[i].UnknownTags = tag // shared: cheap to build
			}
			f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("attacker"))
			frame := f.AppendRequest(nil, req, 1)
			req.Topics = nil // the frame is what is sent
			t.Logf("Fetch v12: %d-byte frame from %d connections", len(frame), conns)
			results := sendFromConns(t, p, req, frame, conns)
			for i, r := range results {
				switch {
				case c.refused && !r.closed:
					t.Errorf("connection %d: answered; want it closed, the decoded request cannot fit --max-request-memory", i)
				case !c.refused && r.resp == nil:
					t.Errorf("connection %d: closed; want an answer, the decoded request fits --max-request-memory", i)
				}
			}
			if log := p.Log(); c.refused && !strings.Contains(log, "larger Fetch requests need a larger --max-request-memory") {
				t.Errorf("the broker log does not say why the connections were closed:\n%s", log)
			}
		})
	}
}

// A Produce is not charged 97 times its frame (its record batches are not
// copied when decoded), but its topics and partitions amplify as any
// request's do: an empty partition carrying an unknown tag is 8 bytes (v11)
// and decodes to about 376; an empty topic of v8 is 6 bytes and decodes
// to 64. Once a large Produce frame has arrived, the broker counts its
// elements and charges their decoding before kmsg decodes it, so frames
// of 16 and 64 MiB (up to 3 GB decoded) from several connections close
// those connections, with the flag to raise in the log.
func TestProduceOfTaggedEmptyPartitions(t *testing.T) {
	const conns = 3
	for _, ver := range []int16{11, 8} {
		for _, mib := range []int{16, 64} {
			t.Run(fmt.Sprintf("v%d/%dMiB", ver, mib), func(t *testing.T) {
				p := start(t)
				req := kmsg.NewPtrProduceRequest()
				req.Version, req.Acks = ver, 1
				if ver >= 9 {
					var tag kmsg.Tags
					tag.Set(99, nil)
					parts := make([]kmsg.ProduceRequestTopicPartition, (mib<<20)/8) // 8 bytes each
					for i := range parts {
						parts[i].UnknownTags = tag // shared: cheap to build
					}
					req.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: parts}}
				} else {
					req.Topics = make([]kmsg.ProduceRequestTopic, (mib<<20)/6) // 6 bytes each
				}
				f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("attacker"))
				frame := f.AppendRequest(nil, req, 1)
				req.Topics = nil // the frame is what is sent
				t.Logf("Produce v%d: %d-byte frame from %d connections", ver, len(frame), conns)
				results := sendFromConns(t, p, req, frame, conns)
				for i, r := range results {
					if !r.closed {
						t.Errorf("connection %d: answered; want it closed, the decoded request cannot fit --max-request-memory", i)
					}
				}
				if log := p.Log(); !strings.Contains(log, "larger Produce requests need a larger --max-request-memory") {
					t.Errorf("the broker log does not say why the connections were closed:\n%s", log)
				}
			})
		}
	}
}
