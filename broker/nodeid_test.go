package broker_test

import (
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestNodeID: with --node-id 7 every answer that names a broker names 7
// (Metadata's brokers, leaders, replicas and controller, FindCoordinator,
// DescribeCluster, DescribeConfigs of broker "7"), an explicit replica
// assignment to 7 creates the topic and one to another node gets
// INVALID_REPLICA_ASSIGNMENT, as a Kafka with node.id=7 answers.
func TestNodeID(t *testing.T) {
	const id = 7
	b := rewindtest.Start(t, broker.WithNodeID(id))
	cl := newClient(t, b.Addr())
	adm := kadm.NewClient(cl)
	ctx := testCtx(t, 30*time.Second)
	createTopic(t, cl, "node-id", 2)

	md, err := adm.Metadata(ctx, "node-id")
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].NodeID != id || md.Controller != id {
		t.Fatalf("Metadata brokers %+v controller %d, want node %d", md.Brokers, md.Controller, id)
	}
	for _, p := range md.Topics["node-id"].Partitions {
		if p.Leader != id || len(p.Replicas) != 1 || p.Replicas[0] != id || len(p.ISR) != 1 || p.ISR[0] != id {
			t.Fatalf("partition %+v, want leader, replica and ISR %d", p, id)
		}
	}

	coords := adm.FindGroupCoordinators(ctx, "g")
	if c := coords["g"]; c.Err != nil || c.NodeID != id {
		t.Fatalf("FindCoordinator %+v, want node %d", c, id)
	}

	dc := kmsg.NewPtrDescribeClusterRequest()
	dcr, err := dc.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if dcr.ControllerID != id || len(dcr.Brokers) != 1 || dcr.Brokers[0].NodeID != id {
		t.Fatalf("DescribeCluster controller %d brokers %+v, want %d", dcr.ControllerID, dcr.Brokers, id)
	}

	cfgs, err := adm.DescribeBrokerConfigs(ctx, id)
	if err != nil || len(cfgs) != 1 || cfgs[0].Err != nil {
		t.Fatalf("DescribeConfigs of broker %d: %v %+v", id, err, cfgs)
	}
	if cfgs, err := adm.DescribeBrokerConfigs(ctx, 0); err == nil && cfgs[0].Err == nil {
		t.Fatalf("DescribeConfigs of broker 0 on node %d succeeded", id)
	}

	create := func(topic string, replica int32) int16 {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
		for p := range int32(2) {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = p, []int32{replica}
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].ErrorCode
	}
	if code := create("assigned-here", id); code != 0 {
		t.Fatalf("CreateTopics assigned to node %d: %v", id, kerr.ErrorForCode(code))
	}
	if td, err := adm.ListTopics(ctx, "assigned-here"); err != nil || len(td["assigned-here"].Partitions) != 2 {
		t.Fatalf("topic assigned to node %d: %v %+v", id, err, td)
	}
	if code := create("assigned-elsewhere", 0); code != kerr.InvalidReplicaAssignment.Code {
		t.Fatalf("CreateTopics assigned to node 0 on node %d: %v, want INVALID_REPLICA_ASSIGNMENT", id, kerr.ErrorForCode(code))
	}

	cp := kmsg.NewPtrCreatePartitionsRequest()
	cpt := kmsg.NewCreatePartitionsRequestTopic()
	cpt.Topic, cpt.Count = "assigned-here", 3
	cpa := kmsg.NewCreatePartitionsRequestTopicAssignment()
	cpa.Replicas = []int32{id}
	cpt.Assignment = append(cpt.Assignment, cpa)
	cp.Topics = append(cp.Topics, cpt)
	cpr, err := cp.RequestWith(ctx, cl)
	if err != nil || cpr.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreatePartitions assigned to node %d: %v %+v", id, err, cpr)
	}
}

// TestNodeIDNegative: Kafka refuses a negative node.id at start.
func TestNodeIDNegative(t *testing.T) {
	if _, err := broker.New(broker.WithListen("127.0.0.1:0"), broker.WithDataDir(t.TempDir()), broker.WithNodeID(-1)); err == nil {
		t.Fatal("a broker with node id -1 started")
	}
}
