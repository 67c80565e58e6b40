package sarama_test

import (
	"errors"
	"testing"

	"github.com/IBM/sarama"
	"github.com/rewindhq/rewind/internal/proctest"
)

// saramaAdmin starts `rewind serve` with args and returns a Sarama cluster
// admin speaking Kafka 4.0's protocol to it.
func saramaAdmin(t *testing.T, args ...string) sarama.ClusterAdmin {
	t.Helper()
	p := proctest.Start(t, proctest.Config{Binary: binary, Args: args})
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	adm, err := sarama.NewClusterAdmin([]string{p.Addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { adm.Close() })
	return adm
}

// TestSaramaAdminNodeID: `rewind serve --node-id 1`, as the test set-ups
// of client libraries run Kafka with node.id=1: Sarama's DescribeCluster
// sees broker 1 as the controller, a topic created with an explicit
// replica assignment to node 1 has its partitions led by 1, and one
// assigned to node 2 is refused with INVALID_REPLICA_ASSIGNMENT.
func TestSaramaAdminNodeID(t *testing.T) {
	adm := saramaAdmin(t, "--node-id", "1")
	brokers, controller, err := adm.DescribeCluster()
	if err != nil {
		t.Fatal(err)
	}
	if controller != 1 || len(brokers) != 1 || brokers[0].ID() != 1 {
		t.Fatalf("DescribeCluster: controller %d, %d brokers (first %d), want node 1", controller, len(brokers), brokers[0].ID())
	}
	if err := adm.CreateTopic("assigned", &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1,
		ReplicaAssignment: map[int32][]int32{0: {1}, 1: {1}}}, false); err != nil {
		t.Fatalf("CreateTopic assigned to node 1: %v", err)
	}
	md, err := adm.DescribeTopics([]string{"assigned"})
	if err != nil || len(md) != 1 || len(md[0].Partitions) != 2 {
		t.Fatalf("DescribeTopics: %v %+v", err, md)
	}
	for _, p := range md[0].Partitions {
		if p.Leader != 1 || len(p.Replicas) != 1 || p.Replicas[0] != 1 {
			t.Fatalf("partition %d: leader %d replicas %v, want 1", p.ID, p.Leader, p.Replicas)
		}
	}
	err = adm.CreateTopic("elsewhere", &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1,
		ReplicaAssignment: map[int32][]int32{0: {2}}}, false)
	if !errors.Is(err, sarama.ErrInvalidReplicaAssignment) {
		t.Fatalf("CreateTopic assigned to node 2: %v, want INVALID_REPLICA_ASSIGNMENT", err)
	}
}

// TestSaramaClientQuotas: Sarama's admin sets a client id's
// producer_byte_rate with AlterClientQuotas and reads it back with
// DescribeClientQuotas, exactly and by the client-id filter, then removes
// it. (This was the API Sarama used to show an unserved request answered
// UNSUPPORTED_VERSION; every API Sarama's admin sends is served now, and
// broker TestUnservedAPIAnswered covers that answer with raw requests.)
func TestSaramaClientQuotas(t *testing.T) {
	adm := saramaAdmin(t)
	entity := []sarama.QuotaEntityComponent{{EntityType: sarama.QuotaEntityClientID, MatchType: sarama.QuotaMatchExact, Name: "billing"}}
	if err := adm.AlterClientQuotas(entity, sarama.ClientQuotasOp{Key: "producer_byte_rate", Value: 1048576}, false); err != nil {
		t.Fatalf("AlterClientQuotas: %v", err)
	}
	got, err := adm.DescribeClientQuotas([]sarama.QuotaFilterComponent{{EntityType: sarama.QuotaEntityClientID, MatchType: sarama.QuotaMatchExact, Match: "billing"}}, false)
	if err != nil {
		t.Fatalf("DescribeClientQuotas: %v", err)
	}
	if len(got) != 1 || len(got[0].Entity) != 1 || got[0].Entity[0].Name != "billing" || got[0].Values["producer_byte_rate"] != 1048576 {
		t.Fatalf("DescribeClientQuotas: %+v, want billing's producer_byte_rate 1048576", got)
	}
	if err := adm.AlterClientQuotas(entity, sarama.ClientQuotasOp{Key: "producer_byte_rate", Remove: true}, false); err != nil {
		t.Fatalf("AlterClientQuotas remove: %v", err)
	}
	if got, err := adm.DescribeClientQuotas(nil, false); err != nil || len(got) != 0 {
		t.Fatalf("after the removal: %+v %v, want none", got, err)
	}
}

// TestSaramaAdminSingleNode: Sarama's admin calls that a single-node
// Kafka answers without anything to do: DescribeLogDirs (one directory,
// each partition's size), ElectLeaders (ELECTION_NOT_NEEDED),
// AlterPartitionReassignments (to this node: nothing to do; to another
// node: INVALID_REPLICA_ASSIGNMENT) and ListPartitionReassignments (none).
func TestSaramaAdminSingleNode(t *testing.T) {
	p := proctest.Start(t, proctest.Config{Binary: binary, Args: []string{"--node-id", "1"}})
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.Producer.Return.Successes = true
	adm, err := sarama.NewClusterAdmin([]string{p.Addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if err := adm.CreateTopic("single", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	prod, err := sarama.NewSyncProducer([]string{p.Addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	part, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "single", Partition: 0, Value: sarama.StringEncoder("v")})
	if err != nil {
		t.Fatal(err)
	}

	dirs, err := adm.DescribeLogDirs([]int32{1})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs[1]) != 1 || dirs[1][0].ErrorCode != sarama.ErrNoError || dirs[1][0].TotalBytes <= 0 {
		t.Fatalf("DescribeLogDirs: %+v, want one directory", dirs)
	}
	sizes := map[int32]int64{}
	for _, tp := range dirs[1][0].Topics {
		if tp.Topic == "single" {
			for _, pp := range tp.Partitions {
				sizes[pp.PartitionID] = pp.Size
			}
		}
	}
	if len(sizes) != 2 || sizes[part] <= 0 || sizes[1-part] != 0 {
		t.Fatalf("sizes of single: %v, want the written partition %d non-empty and the other empty", sizes, part)
	}

	el, err := adm.ElectLeaders(sarama.PreferredElection, map[string][]int32{"single": {0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range []int32{0, 1} {
		if r := el["single"][pr]; r == nil || r.ErrorCode != sarama.ErrElectionNotNeeded {
			t.Fatalf("ElectLeaders single/%d: %+v, want ELECTION_NOT_NEEDED", pr, r)
		}
	}

	if err := adm.AlterPartitionReassignments("single", [][]int32{{1}, {1}}); err != nil {
		t.Fatalf("reassigning to the broker itself: %v", err)
	}
	if err := adm.AlterPartitionReassignments("single", [][]int32{{2}, {1}}); !errors.Is(err, sarama.ErrInvalidReplicaAssignment) {
		t.Fatalf("reassigning to node 2: %v, want INVALID_REPLICA_ASSIGNMENT", err)
	}
	status, err := adm.ListPartitionReassignments("single", []int32{0, 1})
	if err != nil || len(status) != 0 {
		t.Fatalf("ListPartitionReassignments: %v %+v, want none in progress", err, status)
	}
}
