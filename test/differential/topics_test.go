package differential

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func createReq(topics ...kmsg.CreateTopicsRequestTopic) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 15000
	req.Topics = topics
	return req
}

func topic(name string, partitions int32, rf int16, configs ...string) kmsg.CreateTopicsRequestTopic {
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = name, partitions, rf
	for i := 0; i+1 < len(configs); i += 2 {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = configs[i], kmsg.StringPtr(configs[i+1])
		t.Configs = append(t.Configs, c)
	}
	return t
}

// mustCreate creates a topic on both brokers and fails unless both did.
func (p *pair) mustCreate(name string, partitions int32) {
	p.t.Helper()
	k, r, _, _ := p.both(createReq(topic(name, partitions, 1)), -1)
	for who, resp := range map[string]kmsg.Response{"kafka": k, "rewind": r} {
		for _, tt := range resp.(*kmsg.CreateTopicsResponse).Topics {
			if tt.ErrorCode != 0 {
				p.t.Fatalf("%s: creating %s: error %d", who, name, tt.ErrorCode)
			}
		}
	}
	p.waitTopic(name, partitions)
}

// waitTopic waits until both brokers list every partition of the topic
// with a leader, and that leader serves it. Kafka answers CreateTopics
// once its controller committed the topic; its broker learns of it a
// moment later, and until then answers UNKNOWN_TOPIC_OR_PARTITION
// (clients retry). Its metadata cache also learns of a partition's leader
// before its replica manager has become that leader, and in between a
// Produce gets NOT_LEADER_OR_FOLLOWER: so a partition counts as ready
// only once a ListOffsets for it (which reads nothing and writes nothing)
// answers without error.
func (p *pair) waitTopic(name string, partitions int32) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ready := 0
		k, r, _, _ := p.both(metaReq(false, name), -1)
		for _, resp := range []kmsg.Response{k, r} {
			ts := resp.(*kmsg.MetadataResponse).Topics
			if len(ts) == 1 && ts[0].ErrorCode == 0 && (partitions < 0 || len(ts[0].Partitions) == int(partitions)) {
				ok := true
				for _, pp := range ts[0].Partitions {
					ok = ok && pp.ErrorCode == 0 && pp.Leader >= 0
				}
				if ok {
					ready++
				}
			}
		}
		if ready == 2 {
			ready = 0
			n := partitions
			if n < 0 {
				n = int32(len(k.(*kmsg.MetadataResponse).Topics[0].Partitions))
			}
			lk, lr, _, _ := p.both(listAllReq(name, n), -1)
			for _, resp := range []kmsg.Response{lk, lr} {
				if lo, _ := resp.(*kmsg.ListOffsetsResponse); lo != nil && listedAll(lo, n) {
					ready++
				}
			}
		}
		if ready == 2 {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("topic %s not ready on both brokers after 20 s", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// listAllReq asks for the latest offset of partitions 0..n-1 of a topic.
func listAllReq(topic string, n int32) *kmsg.ListOffsetsRequest {
	req := listReq(topic, 0, -1, -1, 0)
	for i := int32(1); i < n; i++ {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = i, -1, -1
		req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
	}
	return req
}

// listedAll reports whether a ListOffsets answered n partitions, none of
// them with an error.
func listedAll(resp *kmsg.ListOffsetsResponse, n int32) bool {
	got := int32(0)
	for _, t := range resp.Topics {
		for _, pp := range t.Partitions {
			if pp.ErrorCode != 0 {
				return false
			}
			got++
		}
	}
	return got == n
}

// TestCreateTopicsErrors: every way a CreateTopics can be refused, at
// every version both brokers serve (none of them creates anything).
func TestCreateTopicsErrors(t *testing.T) {
	p := newPair(t)
	p.mustCreate(name("exists"), 1)
	p.mustCreate(name("collide.x"), 1)
	cases := []struct {
		scenario string
		topics   []kmsg.CreateTopicsRequestTopic
	}{
		{"invalid name empty", []kmsg.CreateTopicsRequestTopic{topic("", 1, 1)}},
		{"invalid name dot", []kmsg.CreateTopicsRequestTopic{topic(".", 1, 1)}},
		{"invalid name dotdot", []kmsg.CreateTopicsRequestTopic{topic("..", 1, 1)}},
		{"invalid name slash", []kmsg.CreateTopicsRequestTopic{topic("a/b"+suffix, 1, 1)}},
		{"invalid name space", []kmsg.CreateTopicsRequestTopic{topic("a b"+suffix, 1, 1)}},
		{"invalid name 250 chars", []kmsg.CreateTopicsRequestTopic{topic(strings.Repeat("x", 250), 1, 1)}},
		{"internal topic", []kmsg.CreateTopicsRequestTopic{topic("__consumer_offsets", 1, 1)}},
		{"exists", []kmsg.CreateTopicsRequestTopic{topic(name("exists"), 1, 1)}},
		{"collides with dot", []kmsg.CreateTopicsRequestTopic{topic(name("collide_x"), 1, 1)}},
		{"collision inside request", []kmsg.CreateTopicsRequestTopic{topic(name("pair.x"), 1, 1), topic(name("pair_x"), 1, 1)}},
		{"duplicate in request", []kmsg.CreateTopicsRequestTopic{topic(name("dup"), 1, 1), topic(name("dup"), 1, 1)}},
		{"partitions 0", []kmsg.CreateTopicsRequestTopic{topic(name("p0"), 0, 1)}},
		{"partitions -2", []kmsg.CreateTopicsRequestTopic{topic(name("pm2"), -2, 1)}},
		{"replication 0", []kmsg.CreateTopicsRequestTopic{topic(name("r0"), 1, 0)}},
		{"replication -2", []kmsg.CreateTopicsRequestTopic{topic(name("rm2"), 1, -2)}},
		{"replication 2 of 1 broker", []kmsg.CreateTopicsRequestTopic{topic(name("r2"), 1, 2)}},
		{"unknown config", []kmsg.CreateTopicsRequestTopic{topic(name("cfgunknown"), 1, 1, "no.such.config", "1")}},
		{"bad cleanup.policy", []kmsg.CreateTopicsRequestTopic{topic(name("cfgpolicy"), 1, 1, "cleanup.policy", "bogus")}},
		{"bad retention.ms", []kmsg.CreateTopicsRequestTopic{topic(name("cfgret"), 1, 1, "retention.ms", "abc")}},
		{"bad compression.type", []kmsg.CreateTopicsRequestTopic{topic(name("cfgcomp"), 1, 1, "compression.type", "brotli")}},
		{"max.message.bytes negative", []kmsg.CreateTopicsRequestTopic{topic(name("cfgmax"), 1, 1, "max.message.bytes", "-5")}},
		{"assignment with partitions", []kmsg.CreateTopicsRequestTopic{func() kmsg.CreateTopicsRequestTopic {
			tt := topic(name("assign"), 1, -1)
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = 0, []int32{0}
			tt.ReplicaAssignment = append(tt.ReplicaAssignment, a)
			return tt
		}()}},
	}
	lo, hi, _ := p.common(kmsg.NewPtrCreateTopicsRequest())
	for _, c := range cases {
		for v := lo; v <= hi; v++ {
			p.compare("CreateTopics/"+c.scenario, createReq(c.topics...), v, nil)
		}
	}
}

// TestCreateTopics: what a successful creation answers (v5+: partitions,
// replication factor and every config with its value and source), with and
// without validate_only, and that validate_only creates nothing.
func TestCreateTopics(t *testing.T) {
	p := newPair(t)
	req := createReq(topic(name("validate"), 3, 1))
	req.ValidateOnly = true
	p.compare("CreateTopics/validate only", req, -1, nil)
	p.compare("CreateTopics/after validate only", metaReq(false, name("validate")), -1, nil)

	p.compare("CreateTopics/defaults", createReq(topic(name("defaults"), -1, -1)), -1, nil)
	p.compare("CreateTopics/3 partitions with configs", createReq(topic(name("configs"), 3, 1,
		"cleanup.policy", "compact", "retention.ms", "3600000", "max.message.bytes", "2000000")), -1, nil)
}

func metaReq(autoCreate bool, topics ...string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = autoCreate
	for _, n := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(n)
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// TestMetadataUnknownTopic: an unknown topic with and without
// auto-creation, an invalid name, and the topic once it was auto-created.
func TestMetadataUnknownTopic(t *testing.T) {
	p := newPair(t)
	p.compare("Metadata/unknown without auto-create", metaReq(false, name("nope")), -1, nil)
	p.compare("Metadata/invalid name with auto-create", metaReq(true, "bad name"+suffix), -1, nil)
	p.compare("Metadata/auto-create first answer", metaReq(true, name("auto")), -1, nil)
	p.mustCreate(name("meta.x"), 1)
	p.compare("Metadata/auto-create of a colliding name", metaReq(true, name("meta_x")), -1, nil)
	// Kafka creates the topic through its controller; wait until both list
	// it with a leader before comparing what was created.
	p.waitTopic(name("auto"), -1)
	p.compare("Metadata/auto-created topic", metaReq(false, name("auto")), -1, nil)
	// Metadata v0-v3 always auto-create (there is no flag to say no).
	p.compare("Metadata/v3 auto-creates", metaReq(false, name("auto3")), 3, nil)
}

func deleteTopicsReq(names ...string) *kmsg.DeleteTopicsRequest {
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 15000
	req.TopicNames = names
	for _, n := range names {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = kmsg.StringPtr(n)
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// TestDeleteTopics: unknown, named twice, by an unknown id, and
// a topic that exists (then its Metadata).
func TestDeleteTopics(t *testing.T) {
	p := newPair(t)
	p.compare("DeleteTopics/unknown", deleteTopicsReq(name("nope")), -1, nil)
	// Not sent: Kafka 4.4 deletes __consumer_offsets when asked (error 0;
	// every group's commits go), which would also break the other tests
	// sharing this Kafka. Rewind refuses it (INVALID_TOPIC_EXCEPTION);
	// known_differences.txt records it.
	p.compare("DeleteTopics/named twice", deleteTopicsReq(name("twice"), name("twice")), -1, nil)
	byID := kmsg.NewPtrDeleteTopicsRequest()
	byID.TimeoutMillis = 15000
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.TopicID = [16]byte{1, 2, 3}
	byID.Topics = append(byID.Topics, rt)
	p.compare("DeleteTopics/unknown topic id", byID, 6, nil)
	p.mustCreate(name("del"), 2)
	p.compare("DeleteTopics/existing", deleteTopicsReq(name("del")), -1, nil)
}

func createPartitionsReq(validateOnly bool, topic string, count int32) *kmsg.CreatePartitionsRequest {
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis, req.ValidateOnly = 15000, validateOnly
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = topic, count
	req.Topics = append(req.Topics, rt)
	return req
}

// TestCreatePartitions: fewer, as many, more (validate only and for real),
// an unknown topic, and the internal offsets topic.
func TestCreatePartitions(t *testing.T) {
	p := newPair(t)
	tp := name("cp")
	p.mustCreate(tp, 2)
	p.compare("CreatePartitions/fewer", createPartitionsReq(false, tp, 1), -1, nil)
	p.compare("CreatePartitions/as many", createPartitionsReq(false, tp, 2), -1, nil)
	p.compare("CreatePartitions/more validate only", createPartitionsReq(true, tp, 4), -1, nil)
	p.compare("CreatePartitions/unknown topic", createPartitionsReq(false, name("nope"), 3), -1, nil)
	p.compare("CreatePartitions/more", createPartitionsReq(false, tp, 4), -1, nil)
	p.waitTopic(tp, 4)
	p.compare("CreatePartitions/metadata after", metaReq(false, tp), -1, nil)
}
