package broker

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAdminAPIsAuthorized: with --authorizer, OffsetForLeaderEpoch and
// DescribeTopicPartitions need DESCRIBE on the topic, DescribeLogDirs and
// ListPartitionReassignments DESCRIBE on the cluster, ElectLeaders,
// AlterPartitionAssignments, AlterReplicaLogDirs, UpdateFeatures,
// UnregisterBroker and UnregisterController ALTER on it, as KafkaApis checks: bob, with
// no ACL, is refused each; alice, with the ACL, is served.
func TestAdminAPIsAuthorized(t *testing.T) {
	b := startACL(t, t.TempDir())
	admin := aclClient(t, b, "admin")
	if _, err := kadm.NewClient(admin).CreateTopic(secCtx(t), 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	alice, bob := aclClient(t, b, "alice"), aclClient(t, b, "bob")
	codes := func(resp kmsg.Response) []int16 {
		var out []int16
		switch r := resp.(type) {
		case *kmsg.OffsetForLeaderEpochResponse:
			for _, t := range r.Topics {
				for _, p := range t.Partitions {
					out = append(out, p.ErrorCode)
				}
			}
		case *kmsg.DescribeTopicPartitionsResponse:
			for _, t := range r.Topics {
				out = append(out, t.ErrorCode)
			}
		case *kmsg.DescribeLogDirsResponse:
			out = append(out, r.ErrorCode)
		case *kmsg.ListPartitionReassignmentsResponse:
			out = append(out, r.ErrorCode)
		case *kmsg.ElectLeadersResponse:
			out = append(out, r.ErrorCode)
			for _, t := range r.Topics {
				for _, p := range t.Partitions {
					out = append(out, p.ErrorCode)
				}
			}
		case *kmsg.UpdateFeaturesResponse:
			out = append(out, r.ErrorCode)
		case *kmsg.UnregisterBrokerResponse:
			out = append(out, r.ErrorCode)
		case *kmsg.UnregisterControllerResponse:
			out = append(out, r.ErrorCode)
		case *kmsg.AlterReplicaLogDirsResponse:
			for _, t := range r.Topics {
				for _, p := range t.Partitions {
					out = append(out, p.ErrorCode)
				}
			}
		case *kmsg.AlterPartitionAssignmentsResponse:
			out = append(out, r.ErrorCode)
			for _, t := range r.Topics {
				for _, p := range t.Partitions {
					out = append(out, p.ErrorCode)
				}
			}
		}
		return out
	}
	cases := []struct {
		name    string
		acl     kmsg.CreateACLsRequestCreation
		req     func() kmsg.Request
		denied  int16
		allowed []int16 // the codes alice gets
	}{
		{"OffsetForLeaderEpoch", allowACL(rtTopic, "t", kmsg.ACLOperationDescribe), func() kmsg.Request {
			r := kmsg.NewPtrOffsetForLeaderEpochRequest()
			r.ReplicaID = -1
			rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			rt.Topic, rt.Partitions = "t", []kmsg.OffsetForLeaderEpochRequestTopicPartition{kmsg.NewOffsetForLeaderEpochRequestTopicPartition()}
			r.Topics = append(r.Topics, rt)
			return r
		}, kerr.TopicAuthorizationFailed.Code, []int16{0}},
		{"DescribeTopicPartitions", allowACL(rtTopic, "t", kmsg.ACLOperationDescribe), func() kmsg.Request {
			r := kmsg.NewPtrDescribeTopicPartitionsRequest()
			rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
			rt.Topic = "t"
			r.Topics = append(r.Topics, rt)
			return r
		}, kerr.TopicAuthorizationFailed.Code, []int16{0}},
		{"DescribeLogDirs", allowACL(rtCluster, "kafka-cluster", kmsg.ACLOperationDescribe), func() kmsg.Request {
			return kmsg.NewPtrDescribeLogDirsRequest()
		}, kerr.ClusterAuthorizationFailed.Code, []int16{0}},
		{"ListPartitionReassignments", allowACL(rtCluster, "kafka-cluster", kmsg.ACLOperationDescribe), func() kmsg.Request {
			return kmsg.NewPtrListPartitionReassignmentsRequest()
		}, kerr.ClusterAuthorizationFailed.Code, []int16{0}},
		{"ElectLeaders", allowACL(rtCluster, "kafka-cluster", kmsg.ACLOperationAlter), func() kmsg.Request {
			r := kmsg.NewPtrElectLeadersRequest()
			rt := kmsg.NewElectLeadersRequestTopic()
			rt.Topic, rt.Partitions = "t", []int32{0}
			r.Topics = append(r.Topics, rt)
			return r
		}, kerr.ClusterAuthorizationFailed.Code, []int16{0, kerr.ElectionNotNeeded.Code}},
		{"AlterPartitionAssignments", allowACL(rtCluster, "kafka-cluster", kmsg.ACLOperationAlter), func() kmsg.Request {
			r := kmsg.NewPtrAlterPartitionAssignmentsRequest()
			rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
			rt.Topic = "t"
			rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
			rp.Replicas = []int32{0}
			rt.Partitions = append(rt.Partitions, rp)
			r.Topics = append(r.Topics, rt)
			return r
		}, kerr.ClusterAuthorizationFailed.Code, []int16{0, 0}},
		{"AlterReplicaLogDirs", allowACL(rtCluster, "kafka-cluster", kmsg.ACLOperationAlter), func() kmsg.Request {
			// The same partition under two directories: denied, each
			// as named; allowed, once, for the last (not the data
			// directory).
			r := kmsg.NewPtrAlterReplicaLogDirsRequest()
			for _, dir := range []string{"/a", "/b"} {
				d := kmsg.NewAlterReplicaLogDirsRequestDir()
				d.Dir = dir
				rt := kmsg.NewAlterReplicaLogDirsRequestDirTopic()
				rt.Topic, rt.Partitions = "t", []int32{0}
				d.Topics = append(d.Topics, rt)
				r.Dirs = append(r.Dirs, d)
			}
			return r
		}, kerr.ClusterAuthorizationFailed.Code, []int16{kerr.LogDirNotFound.Code}},
		{"UpdateFeatures", allowACL(rtCluster, "kafka-cluster", kmsg.ACLOperationAlter), func() kmsg.Request {
			r := kmsg.NewPtrUpdateFeaturesRequest()
			u := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
			u.Feature, u.MaxVersionLevel, u.UpgradeType = "group.version", 1, 1
			r.FeatureUpdates = append(r.FeatureUpdates, u)
			return r
		}, kerr.ClusterAuthorizationFailed.Code, []int16{0}},
		{"UnregisterBroker", allowACL(rtCluster, "kafka-cluster", kmsg.ACLOperationAlter), func() kmsg.Request {
			r := kmsg.NewPtrUnregisterBrokerRequest()
			r.BrokerID = 7
			return r
		}, kerr.ClusterAuthorizationFailed.Code, []int16{kerr.BrokerIDNotRegistered.Code}},
		{"UnregisterController", allowACL(rtCluster, "kafka-cluster", kmsg.ACLOperationAlter), func() kmsg.Request {
			r := kmsg.NewPtrUnregisterControllerRequest()
			r.ControllerID = 7
			return r
		}, kerr.ClusterAuthorizationFailed.Code, []int16{kerr.ControllerIDNotRegistered.Code}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resetACLs(t, admin)
			mustCreateACLs(t, b, c.acl)
			resp, err := bob.Broker(0).Request(secCtx(t), c.req())
			if err != nil {
				t.Fatal(err)
			}
			got := codes(resp)
			if len(got) == 0 || slices.ContainsFunc(got, func(x int16) bool { return x != c.denied }) {
				t.Fatalf("bob: codes %v, want all %v", got, kerr.ErrorForCode(c.denied))
			}
			resp, err = alice.Broker(0).Request(secCtx(t), c.req())
			if err != nil {
				t.Fatal(err)
			}
			if got := codes(resp); !slices.Equal(got, c.allowed) {
				t.Fatalf("alice: codes %v, want %v", got, c.allowed)
			}
		})
	}
}
