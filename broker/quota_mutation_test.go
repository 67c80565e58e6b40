package broker_test

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// mutClient is a raw connection sending requests with a client id, the
// entity controller_mutation_rate is set on.
type mutClient struct {
	t    *testing.T
	addr string
	id   string
	c    net.Conn
	corr int32
}

func newMutClient(t *testing.T, addr, id string) *mutClient {
	return &mutClient{t: t, addr: addr, id: id, c: dial(t, addr)}
}

// do sends req at its version and returns the answer. A throttled answer
// mutes its connection, so the next request goes on a new one.
func (m *mutClient) do(req kmsg.Request) kmsg.Response {
	m.t.Helper()
	m.corr++
	m.c.SetDeadline(time.Now().Add(10 * time.Second))
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID(m.id))
	if _, err := m.c.Write(f.AppendRequest(nil, req, m.corr)); err != nil {
		m.t.Fatal(err)
	}
	resp := answer(m.t, m.c, req, m.corr)
	if tr, ok := resp.(kmsg.ThrottleResponse); ok {
		if ms, _ := tr.Throttle(); ms > 0 {
			m.c, m.corr = dial(m.t, m.addr), 0
		}
	}
	return resp
}

func mutCreate(v int16, validateOnly bool, topics map[string]int32, order ...string) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version, req.ValidateOnly, req.TimeoutMillis = v, validateOnly, 10000
	for _, name := range order {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, topics[name], -1
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// createCodes is the error code of each topic, by name, and the throttle.
func createCodes(t *testing.T, resp kmsg.Response) (map[string]int16, int32) {
	t.Helper()
	r := resp.(*kmsg.CreateTopicsResponse)
	out := map[string]int16{}
	for _, rt := range r.Topics {
		out[rt.Topic] = rt.ErrorCode
		if rt.ErrorCode == kerr.ThrottlingQuotaExceeded.Code && rt.ErrorMessage != nil {
			t.Errorf("%s: THROTTLING_QUOTA_EXCEEDED with message %q; Kafka sends none", rt.Topic, *rt.ErrorMessage)
		}
	}
	return out, r.ThrottleMillis
}

func wantCodes(t *testing.T, what string, got, want map[string]int16) {
	t.Helper()
	for name, code := range want {
		if got[name] != code {
			t.Errorf("%s: %s: %v, want %v", what, name, kerr.ErrorForCode(got[name]), kerr.ErrorForCode(code))
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: answered %v, want %v", what, got, want)
	}
}

// wantThrottle checks a throttle is 0 when max is, else within (0, max]:
// the broker subtracts the time the request took, never adds.
func wantThrottle(t *testing.T, what string, got, max int32) {
	t.Helper()
	if (max == 0) != (got == 0) || got > max || got < 0 {
		t.Errorf("%s: throttle %d ms, want 0 < throttle <= %d (0 if that is 0)", what, got, max)
	}
}

func topicNames(t *testing.T, addr string) []string {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	resp := newRaw(t, addr).do(req).(*kmsg.MetadataResponse)
	var out []string
	for _, rt := range resp.Topics {
		out = append(out, *rt.Topic)
	}
	return out
}

// TestControllerMutationQuotaCreateTopics: controller_mutation_rate 1/s
// on a client id, so a burst of 11 (1 × --quota-window-num 11 × 1 s):
// CreateTopics v7 (strict) admits a 20-partition topic (the bucket was
// full), refuses the topics after it with THROTTLING_QUOTA_EXCEEDED and
// no message, creates none of them, answers an invalid topic with its
// own error (not charged), and throttles about 9 s; ValidateOnly is
// charged and refused likewise; v5 (permissive) creates the topic and is
// throttled. A strict request that takes the bucket below zero is not
// throttled; the one after it is refused. Other clients are not limited.
func TestControllerMutationQuotaCreateTopics(t *testing.T) {
	b := startBrokerAt(t, t.TempDir())
	cl := newClient(t, b.Addr())
	for _, id := range []string{"strict", "cross", "permissive"} {
		alterQuotas(t, cl, false, quotaEntry(map[string]float64{"controller_mutation_rate": 1}, nil, "client-id", id))
	}

	c := newMutClient(t, b.Addr(), "strict")
	codes, th := createCodes(t, c.do(mutCreate(7, false, map[string]int32{"a": 20, "b": 1, "c": 0, "d": 2}, "a", "b", "c", "d")))
	wantCodes(t, "v7", codes, map[string]int16{"a": 0, "b": kerr.ThrottlingQuotaExceeded.Code, "c": kerr.InvalidPartitions.Code, "d": kerr.ThrottlingQuotaExceeded.Code})
	wantThrottle(t, "v7", th, 9000)
	codes, th = createCodes(t, c.do(mutCreate(7, true, map[string]int32{"e": 1}, "e")))
	wantCodes(t, "v7 validate-only", codes, map[string]int16{"e": kerr.ThrottlingQuotaExceeded.Code})
	wantThrottle(t, "v7 validate-only", th, 9000)
	codes, th = createCodes(t, c.do(mutCreate(5, false, map[string]int32{"f": 1}, "f")))
	wantCodes(t, "v5", codes, map[string]int16{"f": 0})
	wantThrottle(t, "v5", th, 10000)
	if got := topicNames(t, b.Addr()); !slices.Contains(got, "a") || !slices.Contains(got, "f") || slices.Contains(got, "b") || slices.Contains(got, "d") {
		t.Errorf("topics %v: want a and f, not b or d", got)
	}
	// Another client id has no quota.
	codes, th = createCodes(t, newMutClient(t, b.Addr(), "free").do(mutCreate(7, false, map[string]int32{"b": 50}, "b")))
	wantCodes(t, "unlimited client", codes, map[string]int16{"b": 0})
	wantThrottle(t, "unlimited client", th, 0)

	// Strict: 5, then 10 (the bucket at 6 admits it, to -4) unthrottled;
	// then refused.
	c = newMutClient(t, b.Addr(), "cross")
	for _, step := range []struct {
		name  string
		parts int32
		code  int16
		max   int32
	}{{"x", 5, 0, 0}, {"y", 10, 0, 0}, {"z", 1, kerr.ThrottlingQuotaExceeded.Code, 4000}} {
		codes, th = createCodes(t, c.do(mutCreate(7, false, map[string]int32{step.name: step.parts}, step.name)))
		wantCodes(t, step.name, codes, map[string]int16{step.name: step.code})
		wantThrottle(t, step.name, th, step.max)
	}

	// Permissive: the request that crosses is throttled at once.
	codes, th = createCodes(t, newMutClient(t, b.Addr(), "permissive").do(mutCreate(4, false, map[string]int32{"p": 20}, "p")))
	wantCodes(t, "v4", codes, map[string]int16{"p": 0})
	wantThrottle(t, "v4", th, 9000)
}

// TestControllerMutationQuotaDeletePartitions: DeleteTopics charges a
// deleted topic its partitions (strict from v5: the topic after the one
// that exhausted the quota is refused and kept, an unknown topic costs
// nothing), CreatePartitions the partitions added (strict in v3; a count
// that does not grow costs nothing); the older versions only throttle.
func TestControllerMutationQuotaDeletePartitions(t *testing.T) {
	b := startBrokerAt(t, t.TempDir())
	cl := newClient(t, b.Addr())
	for _, id := range []string{"del", "parts"} {
		alterQuotas(t, cl, false, quotaEntry(map[string]float64{"controller_mutation_rate": 1}, nil, "client-id", id))
	}
	admin := newMutClient(t, b.Addr(), "admin")
	codes, _ := createCodes(t, admin.do(mutCreate(7, false, map[string]int32{"d20": 20, "d1": 1, "d2": 1, "p1": 1, "p2": 1, "p3": 1}, "d20", "d1", "d2", "p1", "p2", "p3")))
	for name, code := range codes {
		if code != 0 {
			t.Fatalf("creating %s: %v", name, kerr.ErrorForCode(code))
		}
	}

	c := newMutClient(t, b.Addr(), "del")
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.Version, del.TimeoutMillis = 6, 10000
	for _, name := range []string{"d20", "d1", "missing"} {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		del.Topics = append(del.Topics, rt)
	}
	dr := c.do(del).(*kmsg.DeleteTopicsResponse)
	got := map[string]int16{}
	for _, rt := range dr.Topics {
		got[*rt.Topic] = rt.ErrorCode
		if rt.ErrorCode == kerr.ThrottlingQuotaExceeded.Code && (rt.ErrorMessage != nil || rt.TopicID == [16]byte{}) {
			t.Errorf("DeleteTopics v6 refused %s with message %v, topic id %x", *rt.Topic, rt.ErrorMessage, rt.TopicID)
		}
	}
	wantCodes(t, "DeleteTopics v6", got, map[string]int16{"d20": 0, "d1": kerr.ThrottlingQuotaExceeded.Code, "missing": kerr.UnknownTopicOrPartition.Code})
	wantThrottle(t, "DeleteTopics v6", dr.ThrottleMillis, 9000)
	del = kmsg.NewPtrDeleteTopicsRequest()
	del.Version, del.TimeoutMillis, del.TopicNames = 4, 10000, []string{"d2"}
	dr = c.do(del).(*kmsg.DeleteTopicsResponse)
	wantCodes(t, "DeleteTopics v4", map[string]int16{*dr.Topics[0].Topic: dr.Topics[0].ErrorCode}, map[string]int16{"d2": 0})
	wantThrottle(t, "DeleteTopics v4", dr.ThrottleMillis, 10000)
	if names := topicNames(t, b.Addr()); !slices.Contains(names, "d1") || slices.Contains(names, "d2") || slices.Contains(names, "d20") {
		t.Errorf("topics %v after the deletions: want d1 kept, d2 and d20 gone", names)
	}

	c = newMutClient(t, b.Addr(), "parts")
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.Version, cp.TimeoutMillis = 3, 10000
	for _, g := range []struct {
		name  string
		count int32
	}{{"p1", 21}, {"p2", 2}, {"p3", 1}} {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = g.name, g.count
		cp.Topics = append(cp.Topics, rt)
	}
	pr := c.do(cp).(*kmsg.CreatePartitionsResponse)
	got = map[string]int16{}
	for _, rt := range pr.Topics {
		got[rt.Topic] = rt.ErrorCode
		if rt.ErrorCode == kerr.ThrottlingQuotaExceeded.Code && rt.ErrorMessage != nil {
			t.Errorf("CreatePartitions v3 refused %s with message %q", rt.Topic, *rt.ErrorMessage)
		}
	}
	wantCodes(t, "CreatePartitions v3", got, map[string]int16{"p1": 0, "p2": kerr.ThrottlingQuotaExceeded.Code, "p3": kerr.InvalidPartitions.Code})
	wantThrottle(t, "CreatePartitions v3", pr.ThrottleMillis, 9000)
	cp.Version, cp.Topics = 2, cp.Topics[1:2]
	pr = c.do(cp).(*kmsg.CreatePartitionsResponse)
	wantCodes(t, "CreatePartitions v2", map[string]int16{pr.Topics[0].Topic: pr.Topics[0].ErrorCode}, map[string]int16{"p2": 0})
	wantThrottle(t, "CreatePartitions v2", pr.ThrottleMillis, 10000)
}

// TestControllerMutationQuotaAutoCreate: Metadata's auto-creation is
// charged strictly, as Kafka's forwarded CreateTopics: with the quota
// exhausted the topic is not created and is answered
// UNKNOWN_TOPIC_OR_PARTITION, the Metadata response unthrottled; a client
// without a quota creates it.
func TestControllerMutationQuotaAutoCreate(t *testing.T) {
	b := startBrokerAt(t, t.TempDir(), broker.WithAutoCreateTopics(true))
	cl := newClient(t, b.Addr())
	alterQuotas(t, cl, false, quotaEntry(map[string]float64{"controller_mutation_rate": 1}, nil, "client-id", "auto"))
	c := newMutClient(t, b.Addr(), "auto")
	// One auto-created topic (1 partition) while the bucket is full.
	meta := func(c *mutClient, topic string) (int16, int32) {
		req := kmsg.NewPtrMetadataRequest()
		req.Version, req.AllowAutoTopicCreation = 12, true
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp := c.do(req).(*kmsg.MetadataResponse)
		return resp.Topics[0].ErrorCode, resp.ThrottleMillis
	}
	if code, th := meta(c, "first"); code != 0 || th != 0 {
		t.Fatalf("auto-creation with quota left: %v, throttle %d", kerr.ErrorForCode(code), th)
	}
	createCodes(t, c.do(mutCreate(7, false, map[string]int32{"big": 30}, "big")))
	if code, th := meta(c, "second"); code != kerr.UnknownTopicOrPartition.Code || th != 0 {
		t.Fatalf("auto-creation with the quota exhausted: %v, throttle %d; want UNKNOWN_TOPIC_OR_PARTITION, 0", kerr.ErrorForCode(code), th)
	}
	if names := topicNames(t, b.Addr()); slices.Contains(names, "second") {
		t.Fatal("auto-created past the quota")
	}
	if code, _ := meta(newMutClient(t, b.Addr(), "free"), "second"); code != 0 {
		t.Fatalf("auto-creation by a client without quota: %v", kerr.ErrorForCode(code))
	}
}
