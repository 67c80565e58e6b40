package differential

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// compareACLAPIs sends the same CreateAcls, DescribeAcls and DeleteAcls
// to both brokers as the super user, and compares the error codes and
// the ACLs listed and removed.
func compareACLAPIs(t *testing.T, sides []*authSide) {
	T := "acl" + suffix
	mk := func(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) kmsg.CreateACLsRequestCreation {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = rt, name, pt
		c.Principal, c.Host, c.Operation, c.PermissionType = principal, host, op, perm
		return c
	}
	lit, pre := kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed
	allow, deny := kmsg.ACLPermissionTypeAllow, kmsg.ACLPermissionTypeDeny
	creations := []kmsg.CreateACLsRequestCreation{
		mk(rtTopic, T, lit, "User:alice", "*", kmsg.ACLOperationRead, allow),
		mk(rtTopic, T, lit, "User:alice", "*", kmsg.ACLOperationRead, allow), // again
		mk(rtTopic, T[:4], pre, "User:bob", "10.1.1.1", kmsg.ACLOperationWrite, deny),
		mk(rtTopic, "*", lit, "User:*", "*", kmsg.ACLOperationDescribe, allow),
		mk(rtGroup, "g"+T, pre, "User:alice", "*", kmsg.ACLOperationAll, allow),
		mk(rtCluster, "kafka-cluster", lit, "User:alice", "*", kmsg.ACLOperationIdempotentWrite, allow),
		mk(rtTxn, "tx"+T, lit, "User:alice", "*", kmsg.ACLOperationWrite, allow),
	}
	// Refused, each in a request of its own (Kafka refuses some requests
	// whole): the cluster's name, an empty name, MATCH and ANY patterns,
	// ANY operation and permission, ANY resource type, a principal without
	// type, an unknown operation (the connection is closed).
	refused := []kmsg.CreateACLsRequestCreation{
		mk(rtCluster, "other", lit, "User:alice", "*", kmsg.ACLOperationAlter, allow),
		mk(rtTopic, "", lit, "User:alice", "*", kmsg.ACLOperationRead, allow),
		mk(rtTopic, T, kmsg.ACLResourcePatternTypeMatch, "User:alice", "*", kmsg.ACLOperationRead, allow),
		mk(rtTopic, T, kmsg.ACLResourcePatternTypeAny, "User:alice", "*", kmsg.ACLOperationRead, allow),
		mk(rtTopic, T, lit, "User:alice", "*", kmsg.ACLOperationAny, allow),
		mk(rtTopic, T, lit, "User:alice", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAny),
		mk(kmsg.ACLResourceTypeAny, T, lit, "User:alice", "*", kmsg.ACLOperationRead, allow),
		mk(rtTopic, T, lit, "alice", "*", kmsg.ACLOperationRead, allow),
		mk(rtTopic, T, lit, "User:alice", "*", 99, allow),
	}
	var created [2][]string
	for i, s := range sides {
		s.setACLs(t, nil)
		for _, group := range append([][]kmsg.CreateACLsRequestCreation{creations}, splitEach(refused)...) {
			req := kmsg.NewPtrCreateACLsRequest()
			req.Creations = group
			resp, err := s.admin.Broker(int(s.node)).Request(ctxFor(t), req)
			if err != nil {
				created[i] = append(created[i], "error") // the connection closed
				continue
			}
			var cs []int16
			for _, r := range resp.(*kmsg.CreateACLsResponse).Results {
				cs = append(cs, r.ErrorCode)
			}
			created[i] = append(created[i], fmt.Sprint(cs))
		}
		s.waitACLs(ctxFor(t), t, 6)
	}
	if !slices.Equal(created[0], created[1]) {
		t.Errorf("CreateAcls codes:\nKafka  %v\nRewind %v", created[0], created[1])
	}

	str := kmsg.StringPtr
	filters := []struct {
		name string
		f    func(*kmsg.DescribeACLsRequest)
	}{
		{"all", func(*kmsg.DescribeACLsRequest) {}},
		{"topic", func(f *kmsg.DescribeACLsRequest) { f.ResourceType = rtTopic }},
		{"topic name ANY", func(f *kmsg.DescribeACLsRequest) { f.ResourceType, f.ResourceName = rtTopic, str(T) }},
		{"topic name MATCH", func(f *kmsg.DescribeACLsRequest) {
			f.ResourceType, f.ResourceName, f.ResourcePatternType = rtTopic, str(T), kmsg.ACLResourcePatternTypeMatch
		}},
		{"LITERAL", func(f *kmsg.DescribeACLsRequest) { f.ResourcePatternType = lit }},
		{"PREFIXED name", func(f *kmsg.DescribeACLsRequest) { f.ResourcePatternType, f.ResourceName = pre, str(T[:4]) }},
		{"principal", func(f *kmsg.DescribeACLsRequest) { f.Principal = str("User:alice") }},
		{"host", func(f *kmsg.DescribeACLsRequest) { f.Host = str("10.1.1.1") }},
		{"operation", func(f *kmsg.DescribeACLsRequest) { f.Operation = kmsg.ACLOperationWrite }},
		{"permission", func(f *kmsg.DescribeACLsRequest) { f.PermissionType = deny }},
		{"UNKNOWN pattern", func(f *kmsg.DescribeACLsRequest) { f.ResourcePatternType = kmsg.ACLResourcePatternTypeUnknown }},
	}
	for _, fl := range filters {
		var got [2]string
		for i, s := range sides {
			req := kmsg.NewPtrDescribeACLsRequest()
			req.ResourceType, req.ResourcePatternType, req.Operation, req.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
			fl.f(req)
			resp, err := s.admin.Broker(int(s.node)).Request(ctxFor(t), req)
			if err != nil {
				got[i] = "error" // the connection closed
				continue
			}
			got[i] = describedACLs(resp.(*kmsg.DescribeACLsResponse))
		}
		if got[0] != got[1] {
			t.Errorf("DescribeAcls %s:\nKafka  %s\nRewind %s", fl.name, got[0], got[1])
		}
	}

	var deleted [2]string
	for i, s := range sides {
		req := kmsg.NewPtrDeleteACLsRequest()
		f := kmsg.NewDeleteACLsRequestFilter()
		f.ResourceType, f.ResourceName, f.ResourcePatternType = rtTopic, str(T), kmsg.ACLResourcePatternTypeMatch
		f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
		g := f
		g.ResourceType, g.ResourceName, g.ResourcePatternType = kmsg.ACLResourceTypeGroup, nil, kmsg.ACLResourcePatternTypeAny
		req.Filters = []kmsg.DeleteACLsRequestFilter{f, g}
		resp, err := req.RequestWith(ctxFor(t), s.admin)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		var b strings.Builder
		for _, r := range resp.Results {
			var ms []string
			for _, m := range r.MatchingACLs {
				ms = append(ms, fmt.Sprintf("%s:%s:%s %s@%s %s %s", m.ResourceType, m.ResourcePatternType, m.ResourceName, m.Principal, m.Host, m.Operation, m.PermissionType))
			}
			slices.Sort(ms)
			fmt.Fprintf(&b, "[code %d: %s] ", r.ErrorCode, strings.Join(ms, "; "))
		}
		deleted[i] = b.String()
		s.waitACLs(ctxFor(t), t, 2)
		// A filter with an unknown field: the connection is closed.
		bad := kmsg.NewPtrDeleteACLsRequest()
		u := f
		u.ResourcePatternType = kmsg.ACLResourcePatternTypeUnknown
		bad.Filters = []kmsg.DeleteACLsRequestFilter{u}
		if _, err := s.admin.Broker(int(s.node)).Request(ctxFor(t), bad); err == nil {
			deleted[i] += " UNKNOWN filter answered"
		}
	}
	if deleted[0] != deleted[1] {
		t.Errorf("DeleteAcls:\nKafka  %s\nRewind %s", deleted[0], deleted[1])
	}
}

func splitEach(cs []kmsg.CreateACLsRequestCreation) [][]kmsg.CreateACLsRequestCreation {
	var out [][]kmsg.CreateACLsRequestCreation
	for _, c := range cs {
		out = append(out, []kmsg.CreateACLsRequestCreation{c})
	}
	return out
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// describedACLs is a DescribeAcls answer as a sorted list, with its code.
func describedACLs(resp *kmsg.DescribeACLsResponse) string {
	var out []string
	for _, r := range resp.Resources {
		for _, a := range r.ACLs {
			out = append(out, fmt.Sprintf("%s:%s:%s %s@%s %s %s", r.ResourceType, r.ResourcePatternType, r.ResourceName, a.Principal, a.Host, a.Operation, a.PermissionType))
		}
	}
	slices.Sort(out)
	return fmt.Sprintf("code %d: %s", resp.ErrorCode, strings.Join(out, "; "))
}
