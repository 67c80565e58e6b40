package differential

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// compareAuthorizedOperations: the authorized-operations bit fields of
// DescribeCluster and Metadata (IncludeClusterAuthorizedOperations,
// IncludeTopicAuthorizedOperations) as StandardAuthorizer computes them:
// implied operations, a PREFIXED ALLOW ALL with a LITERAL DENY, and a
// principal without DESCRIBE on the cluster (0).
func compareAuthorizedOperations(t *testing.T, sides []*authSide) {
	T := "t" + suffix
	mk := func(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) kmsg.CreateACLsRequestCreation {
		c := acl(rt, name, op, principal)
		c.ResourcePatternType, c.PermissionType = pt, perm
		return c
	}
	lit, pre := kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed
	allow, deny := kmsg.ACLPermissionTypeAllow, kmsg.ACLPermissionTypeDeny
	acls := []kmsg.CreateACLsRequestCreation{
		mk(rtTopic, "t", pre, "User:alice", kmsg.ACLOperationAll, allow),
		mk(rtTopic, T, lit, "User:alice", kmsg.ACLOperationWrite, deny),
		mk(rtCluster, "kafka-cluster", lit, "User:alice", kmsg.ACLOperationIdempotentWrite, allow),
		mk(rtCluster, "kafka-cluster", lit, "User:alice", kmsg.ACLOperationAlterConfigs, allow),
		mk(rtTopic, T, lit, "User:bob", kmsg.ACLOperationWrite, allow),
		mk(rtTopic, T, lit, "User:bob", kmsg.ACLOperationAlterConfigs, allow),
		mk(rtCluster, "kafka-cluster", lit, "User:bob", kmsg.ACLOperationAlter, allow),
		mk(rtCluster, "kafka-cluster", lit, "User:bob", kmsg.ACLOperationDescribe, deny),
	}
	var got [2][]int32
	for i, s := range sides {
		s.setACLs(t, acls)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		for _, cl := range []*kgo.Client{s.alice, s.bob} {
			got[i] = append(got[i], authorizedOps(ctx, t, s.name, cl, int(s.node), T)...)
		}
		cancel()
	}
	if !slices.Equal(got[0], got[1]) {
		t.Errorf("authorized operations (alice: DescribeCluster, Metadata v10 topic and cluster, Metadata v12 topic; then bob's):\nKafka  %b\nRewind %b", got[0], got[1])
	}
}

func authorizedOps(ctx context.Context, t *testing.T, side string, cl *kgo.Client, node int, topic string) []int32 {
	t.Helper()
	var out []int32
	dc := kmsg.NewPtrDescribeClusterRequest()
	dc.IncludeClusterAuthorizedOperations = true
	resp, err := cl.Broker(node).Request(ctx, dc)
	if err != nil {
		t.Fatalf("%s: DescribeCluster: %v", side, err)
	}
	dr := resp.(*kmsg.DescribeClusterResponse)
	if dr.ErrorCode != 0 {
		t.Fatalf("%s: DescribeCluster: %v", side, kerr.ErrorForCode(dr.ErrorCode))
	}
	out = append(out, dr.ClusterAuthorizedOperations)
	for _, v := range []int16{10, 12} {
		m := kmsg.NewPtrMetadataRequest()
		m.Version = v
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(topic)
		m.Topics = []kmsg.MetadataRequestTopic{mt}
		m.IncludeTopicAuthorizedOperations, m.IncludeClusterAuthorizedOperations = true, v <= 10
		resp, err := cl.Broker(node).Request(ctx, pinned{m})
		if err != nil {
			t.Fatalf("%s: Metadata v%d: %v", side, v, err)
		}
		mr := resp.(*kmsg.MetadataResponse)
		if len(mr.Topics) != 1 {
			t.Fatalf("%s: Metadata v%d: %d topics", side, v, len(mr.Topics))
		}
		out = append(out, mr.Topics[0].AuthorizedOperations)
		if v <= 10 {
			out = append(out, mr.AuthorizedOperations)
		}
	}
	return out
}
