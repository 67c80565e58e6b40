package differential

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// mutationRate is the controller_mutation_rate the scenarios set: with
// Kafka's default controller.quota.window.num 11 × 1 s (Rewind's
// --quota-window-num and --quota-window-size) the bucket holds 1.1
// partitions and refills in 10 s, so a bucket taken below zero stays
// there for seconds, far longer than the scenarios take.
const mutationRate = 0.1

// mutClients are one client id's connections to both brokers. A
// throttled answer mutes its connection on both brokers (KIP-219), so the
// next request goes on a new one.
type mutClients struct {
	p    *pair
	id   string
	k, r *conn
}

func (p *pair) mutClients(id string) *mutClients {
	m := &mutClients{p: p, id: id}
	m.k, m.r = m.dial(p.kafkaAddr), m.dial(p.rewindAddr)
	return m
}

func (m *mutClients) dial(addr string) *conn {
	c := dial(m.p.t, addr)
	c.f = kmsg.NewRequestFormatter(kmsg.FormatterClientID(m.id))
	return c
}

// compare sends req to both as this client and compares the answers:
// the normalised responses field by field, and what normalize drops but
// is stable here: whether throttle_time_ms is zero, and that a topic
// refused with THROTTLING_QUOTA_EXCEEDED has no message.
func (m *mutClients) compare(scenario string, req kmsg.Request) (kmsg.Response, kmsg.Response) {
	t := m.p.t
	t.Helper()
	k, err := m.k.send(req)
	if err != nil {
		t.Fatalf("kafka %s: %v", scenario, err)
	}
	r, err := m.r.send(req)
	if err != nil {
		t.Fatalf("rewind %s: %v", scenario, err)
	}
	scenario = fmt.Sprintf("%s/%s_v%d", scenario, kmsg.NameForKey(req.Key()), req.GetVersion())
	var ds []difference
	kt, rt := throttleOf(k), throttleOf(r)
	if (kt == 0) != (rt == 0) {
		ds = append(ds, difference{path: "ThrottleMillis (zero or not)", kafka: fmt.Sprint(kt), rewind: fmt.Sprint(rt)})
	}
	km, rm := quotaMessages(k), quotaMessages(r)
	for topic, msg := range km {
		if got, ok := rm[topic]; ok && got != msg {
			// (A topic one refuses and the other not differs in its code.)
			ds = append(ds, difference{path: "Topics[Topic=" + strings.TrimSuffix(topic, suffix) + "].ErrorMessage (THROTTLING_QUOTA_EXCEEDED)", kafka: msg, rewind: got})
		}
	}
	if kt > 0 {
		m.k = m.dial(m.p.kafkaAddr)
	}
	if rt > 0 {
		m.r = m.dial(m.p.rewindAddr)
	}
	normalize(k, m.p.kafkaNode)
	normalize(r, m.p.rewindNode)
	m.p.report(scenario, append(ds, diff(k, r)...))
	return k, r
}

func throttleOf(resp kmsg.Response) int32 {
	tr, ok := resp.(kmsg.ThrottleResponse)
	if !ok {
		return 0
	}
	ms, _ := tr.Throttle()
	return ms
}

// quotaMessages is the message of each topic refused with
// THROTTLING_QUOTA_EXCEEDED ("null" when there is none).
func quotaMessages(resp kmsg.Response) map[string]string {
	out := map[string]string{}
	add := func(topic *string, code int16, msg *string) {
		if code != kerr.ThrottlingQuotaExceeded.Code {
			return
		}
		s := "null"
		if msg != nil {
			s = fmt.Sprintf("%q", *msg)
		}
		out[deref(topic)] = s
	}
	switch r := resp.(type) {
	case *kmsg.CreateTopicsResponse:
		for _, t := range r.Topics {
			add(&t.Topic, t.ErrorCode, t.ErrorMessage)
		}
	case *kmsg.DeleteTopicsResponse:
		for _, t := range r.Topics {
			add(t.Topic, t.ErrorCode, t.ErrorMessage)
		}
	case *kmsg.CreatePartitionsResponse:
		for _, t := range r.Topics {
			add(&t.Topic, t.ErrorCode, t.ErrorMessage)
		}
	}
	return out
}

// mutCreateReq is a CreateTopics of topics named base:partitions.
func mutCreateReq(v int16, validateOnly bool, topics ...any) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(v)
	req.TimeoutMillis, req.ValidateOnly = 15000, validateOnly
	for i := 0; i+1 < len(topics); i += 2 {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name(topics[i].(string)), int32(topics[i+1].(int)), -1
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// TestControllerMutationQuota: controller_mutation_rate (KIP-599) on a
// client id, enforced on CreateTopics, DeleteTopics and CreatePartitions
// as Kafka 4.4's controller does: strict from CreateTopics v6,
// DeleteTopics v5 and CreatePartitions v3 (a topic met with the bucket
// below zero gets THROTTLING_QUOTA_EXCEEDED without a message and is not
// changed; the request that takes it below zero is not throttled),
// permissive before (accepted, and throttled at once); ValidateOnly is
// charged; a topic refused for its own reason costs nothing; the burst is
// quota × 11 × 1 s; Metadata's auto-creation is refused once the quota is
// exhausted. Each scenario uses its own client id, so its bucket starts
// full.
func TestControllerMutationQuota(t *testing.T) {
	p := newPair(t)
	_, hi, ok := p.common(kmsg.NewPtrAlterClientQuotasRequest())
	if !ok {
		t.Fatal("AlterClientQuotas: no common version")
	}
	ids := []string{"probe", "strict", "cross", "burst11", "burst12", "delete", "parts", "auto"}
	client := func(s string) string { return "mq-" + s + suffix }
	var set []kmsg.AlterClientQuotasRequestEntry
	for _, id := range ids {
		set = append(set, quotaEnt([]string{"client-id", client(id)}, fmt.Sprintf("controller_mutation_rate=%g", mutationRate)))
	}
	k, r, _, _ := p.both(alterQuotasReq(false, set...), hi)
	for who, resp := range map[string]kmsg.Response{"kafka": k, "rewind": r} {
		for _, e := range resp.(*kmsg.AlterClientQuotasResponse).Entries {
			if e.ErrorCode != 0 {
				t.Fatalf("%s: setting controller_mutation_rate: %v", who, kerr.ErrorForCode(e.ErrorCode))
			}
		}
	}
	t.Cleanup(func() {
		var unset []kmsg.AlterClientQuotasRequestEntry
		for _, id := range ids {
			unset = append(unset, quotaEnt([]string{"client-id", client(id)}, "controller_mutation_rate=remove"))
		}
		p.both(alterQuotasReq(false, unset...), hi)
	})
	// Kafka's controller applies the quota records asynchronously: wait
	// until the probe client's second topic is refused (ValidateOnly, so
	// nothing is created; one that is admitted before the quota applies
	// costs nothing, and the first attempt after finds the bucket full).
	probe := p.mutClients(client("probe"))
	for i, deadline := 0, time.Now().Add(30*time.Second); ; i++ {
		req := mutCreateReq(7, true, fmt.Sprintf("probe%d-a", i), 2, fmt.Sprintf("probe%d-b", i), 1)
		resp, err := probe.k.send(req)
		if err != nil {
			t.Fatal(err)
		}
		if ts := resp.(*kmsg.CreateTopicsResponse).Topics; len(ts) == 2 && ts[1].ErrorCode == kerr.ThrottlingQuotaExceeded.Code {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("kafka: controller_mutation_rate not applied after 30 s")
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Strict: 2 partitions from 1.1 (admitted, to -0.9), then refused;
	// 0 partitions is refused for itself and costs nothing. ValidateOnly
	// is refused as well; v5 is accepted and throttled.
	c := p.mutClients(client("strict"))
	c.compare("CreateTopics/mutation quota strict", mutCreateReq(7, false, "mq-a", 2, "mq-b", 1, "mq-c", 0, "mq-d", 1))
	c.compare("CreateTopics/mutation quota strict validate only", mutCreateReq(7, true, "mq-e", 1))
	c.compare("CreateTopics/mutation quota permissive exhausted", mutCreateReq(5, false, "mq-f", 1))
	// The request that takes the bucket below zero is not throttled.
	c = p.mutClients(client("cross"))
	c.compare("CreateTopics/mutation quota strict within", mutCreateReq(7, false, "mq-x", 1))
	c.compare("CreateTopics/mutation quota strict crossing", mutCreateReq(6, false, "mq-y", 3))
	c.compare("CreateTopics/mutation quota strict after crossing", mutCreateReq(6, false, "mq-z", 1))
	// The burst is 1.1: one partition leaves 0.1 (not throttled), two
	// leave -0.9 (throttled, permissive).
	p.mutClients(client("burst11")).compare("CreateTopics/mutation quota burst 1", mutCreateReq(5, false, "mq-g", 1))
	p.mutClients(client("burst12")).compare("CreateTopics/mutation quota burst 2", mutCreateReq(4, false, "mq-h", 2))
	for _, tp := range []string{"mq-a", "mq-f", "mq-x", "mq-y", "mq-g", "mq-h"} {
		p.waitTopic(name(tp), -1)
	}
	for _, tp := range []string{"mq-b", "mq-d", "mq-z"} {
		p.compare("CreateTopics/mutation quota not created", metaReq(false, name(tp)), -1, nil)
	}

	// DeleteTopics: a topic costs its partitions. Kafka's controller
	// goes through the topics of one DeleteTopics (and CreatePartitions)
	// in hash order, not the request's, so the topic that exhausts the
	// quota is deleted alone and the refused ones follow in another.
	p.mustCreate(name("mq-del3"), 3)
	p.mustCreate(name("mq-del1"), 1)
	p.mustCreate(name("mq-delold"), 1)
	c = p.mutClients(client("delete"))
	deleteReq := func(topics ...string) *kmsg.DeleteTopicsRequest {
		del := kmsg.NewPtrDeleteTopicsRequest()
		del.SetVersion(6)
		del.TimeoutMillis = 15000
		for _, tp := range topics {
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = kmsg.StringPtr(name(tp))
			del.Topics = append(del.Topics, rt)
		}
		return del
	}
	c.compare("DeleteTopics/mutation quota strict crossing", deleteReq("mq-del3"))
	c.compare("DeleteTopics/mutation quota strict exhausted", deleteReq("mq-del1", "mq-nope"))
	old := kmsg.NewPtrDeleteTopicsRequest()
	old.SetVersion(4)
	old.TimeoutMillis, old.TopicNames = 15000, []string{name("mq-delold")}
	c.compare("DeleteTopics/mutation quota permissive exhausted", old)
	p.waitTopic(name("mq-del1"), 1)

	// CreatePartitions: the partitions added; a count that does not grow
	// costs nothing.
	for _, tp := range []string{"mq-cpa", "mq-cpb", "mq-cpc"} {
		p.mustCreate(name(tp), 1)
	}
	c = p.mutClients(client("parts"))
	partsReq := func(v int16, topics ...any) *kmsg.CreatePartitionsRequest {
		cp := kmsg.NewPtrCreatePartitionsRequest()
		cp.SetVersion(v)
		cp.TimeoutMillis = 15000
		for i := 0; i+1 < len(topics); i += 2 {
			rt := kmsg.NewCreatePartitionsRequestTopic()
			rt.Topic, rt.Count = name(topics[i].(string)), int32(topics[i+1].(int))
			cp.Topics = append(cp.Topics, rt)
		}
		return cp
	}
	c.compare("CreatePartitions/mutation quota strict crossing", partsReq(3, "mq-cpa", 3))
	c.compare("CreatePartitions/mutation quota strict exhausted", partsReq(3, "mq-cpb", 2, "mq-cpc", 1))
	c.compare("CreatePartitions/mutation quota permissive exhausted", partsReq(2, "mq-cpb", 2))
	p.waitTopic(name("mq-cpa"), 3)
	p.waitTopic(name("mq-cpb"), 2)

	// Metadata's auto-creation, once the quota is exhausted: not created
	// (Kafka's first answer is UNKNOWN_TOPIC_OR_PARTITION in any case, so
	// whether it was created is asked again after a while).
	c = p.mutClients(client("auto"))
	c.compare("CreateTopics/mutation quota before auto-create", mutCreateReq(7, false, "mq-big", 2))
	auto := kmsg.NewPtrMetadataRequest()
	auto.SetVersion(12)
	auto.AllowAutoTopicCreation = true
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(name("mq-auto"))
	auto.Topics = append(auto.Topics, mt)
	c.compare("Metadata/mutation quota auto-create refused", auto)
	time.Sleep(2 * time.Second)
	p.compare("Metadata/mutation quota auto-create refused later", metaReq(false, name("mq-auto")), -1, nil)
}
