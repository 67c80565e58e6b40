package differential

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestNodeIDAssignments: Rewind started with Kafka's node id (--node-id)
// answers requests that name the broker as Kafka does: an explicit
// replica assignment to it creates the topic; one to a node that does not
// exist, or naming it twice, is INVALID_REPLICA_ASSIGNMENT; the
// partitions' assignments may come in any order, each once, together
// 0..n-1 (a partition twice, or a gap, is INVALID_REPLICA_ASSIGNMENT);
// CreatePartitions likewise; DescribeConfigs of the broker by its id.
func TestNodeIDAssignments(t *testing.T) {
	p := newPairNode(t, true)
	if p.kafkaNode != p.rewindNode {
		t.Fatalf("Rewind started as node %d reports node %d", p.kafkaNode, p.rewindNode)
	}
	node := p.kafkaNode
	assigned := func(n string, replicas ...[]int32) kmsg.CreateTopicsRequestTopic {
		tt := topic(n, -1, -1)
		for i, r := range replicas {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = int32(i), r
			tt.ReplicaAssignment = append(tt.ReplicaAssignment, a)
		}
		return tt
	}
	// Assignments in the order given, partition numbers as given.
	numbered := func(n string, parts ...int32) kmsg.CreateTopicsRequestTopic {
		tt := topic(n, -1, -1)
		for _, part := range parts {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = part, []int32{node}
			tt.ReplicaAssignment = append(tt.ReplicaAssignment, a)
		}
		return tt
	}
	lo, hi, _ := p.common(kmsg.NewPtrCreateTopicsRequest())
	for v := lo; v <= hi; v++ {
		// Sarama sends its assignment map in Go's map order.
		p.compare("CreateTopics/node id, partitions assigned out of order", createReq(numbered(name("assign-unordered"+string(rune('a'+v))), 2, 0, 1)), v, nil)
		p.compare("CreateTopics/node id, a partition assigned twice", createReq(numbered(name("assign-dup"), 0, 1, 0)), v, nil)
		p.compare("CreateTopics/node id, assigned partitions with a gap", createReq(numbered(name("assign-gap"), 0, 2)), v, nil)
		p.compare("CreateTopics/node id, assigned to the broker", createReq(assigned(name("assign-self"+string(rune('a'+v))), []int32{node}, []int32{node})), v, nil)
		p.compare("CreateTopics/node id, assigned to another node", createReq(assigned(name("assign-other"), []int32{node + 1})), v, nil)
		p.compare("CreateTopics/node id, assigned twice to the broker", createReq(assigned(name("assign-twice"), []int32{node, node})), v, nil)
		p.compare("CreateTopics/node id, assigned to no node", createReq(assigned(name("assign-none"), []int32{})), v, nil)
	}
	p.compare("Metadata/node id, of the assigned topic", metaReq(false, name("assign-self"+string(rune('a'+hi)))), -1, nil)

	cp := func(replica int32) *kmsg.CreatePartitionsRequest {
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.TimeoutMillis = 15000
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = name("assign-self"+string(rune('a'+hi))), 3
		a := kmsg.NewCreatePartitionsRequestTopicAssignment()
		a.Replicas = []int32{replica}
		rt.Assignment = append(rt.Assignment, a)
		req.Topics = append(req.Topics, rt)
		return req
	}
	p.compare("CreatePartitions/node id, assigned to another node", cp(node+1), -1, nil)
	p.compare("CreatePartitions/node id, assigned to the broker", cp(node), -1, nil)

	dc := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeBroker, "999"
	dc.Resources = append(dc.Resources, r)
	p.compare("DescribeConfigs/node id, configs of another broker", dc, -1, nil)
}
