package broker

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/rewindhq/rewind/acl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// aclUsers are the SASL users of startACL's broker; admin is a super user.
var aclUsers = []string{"admin", "alice", "bob"}

// startACL starts a broker with a SASL_PLAINTEXT listener and the standard
// authorizer (super user User:admin) on dir.
func startACL(t *testing.T, dir string, opts ...Option) *Broker {
	t.Helper()
	for _, u := range aclUsers {
		if err := SetUserPassword(dir, u, u+"-secret"); err != nil {
			t.Fatal(err)
		}
	}
	return startWith(t, append([]Option{WithDataDir(dir), WithGroupInitialRebalanceDelay(0),
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		func(c *Config) {
			c.Listeners = []ListenerSpec{{Name: ProtocolSASLPlaintext, Addr: "127.0.0.1:0"}}
			c.Authorizer = AuthorizerStandard
			c.SuperUsers = []string{"User:admin"}
		}}, opts...)...)
}

// aclClient is a client of user on b's SASL listener.
func aclClient(t *testing.T, b *Broker, user string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return secClient(t, b.ListenerAddr(ProtocolSASLPlaintext), append([]kgo.Opt{
		kgo.SASL(plain.Auth{User: user, Pass: user + "-secret"}.AsMechanism())}, opts...)...)
}

func creation(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) kmsg.CreateACLsRequestCreation {
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName, c.ResourcePatternType = rt, name, pt
	c.Principal, c.Host, c.Operation, c.PermissionType = principal, "*", op, perm
	return c
}

func createACLs(t *testing.T, cl *kgo.Client, cs ...kmsg.CreateACLsRequestCreation) *kmsg.CreateACLsResponse {
	t.Helper()
	req := kmsg.NewPtrCreateACLsRequest()
	req.Creations = cs
	resp, err := req.RequestWith(secCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// mustCreateACLs creates ACLs as the super user and checks each is created.
func mustCreateACLs(t *testing.T, b *Broker, cs ...kmsg.CreateACLsRequestCreation) {
	t.Helper()
	resp := createACLs(t, aclClient(t, b, "admin"), cs...)
	for i, r := range resp.Results {
		if r.ErrorCode != 0 {
			t.Fatalf("create ACL %+v: %v %v", cs[i], kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
		}
	}
}

func anyFilter() kmsg.DescribeACLsRequest {
	d := kmsg.NewDescribeACLsRequest()
	d.ResourceType = kmsg.ACLResourceTypeAny
	d.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
	d.Operation = kmsg.ACLOperationAny
	d.PermissionType = kmsg.ACLPermissionTypeAny
	return d
}

func describeACLs(t *testing.T, cl *kgo.Client, req kmsg.DescribeACLsRequest) *kmsg.DescribeACLsResponse {
	t.Helper()
	resp, err := req.RequestWith(secCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func countACLs(resp *kmsg.DescribeACLsResponse) int {
	n := 0
	for _, r := range resp.Resources {
		n += len(r.ACLs)
	}
	return n
}

const (
	rtTopic   = kmsg.ACLResourceTypeTopic
	rtGroup   = kmsg.ACLResourceTypeGroup
	rtCluster = kmsg.ACLResourceTypeCluster
	rtTxn     = kmsg.ACLResourceTypeTransactionalId
	ptLit     = kmsg.ACLResourcePatternTypeLiteral
	ptPre     = kmsg.ACLResourcePatternTypePrefixed
	permAllow = kmsg.ACLPermissionTypeAllow
	permDeny  = kmsg.ACLPermissionTypeDeny
)

// TestACLAPIs: CreateAcls, DescribeAcls and DeleteAcls as Kafka answers
// them, the ACLs stored across a restart, and the cluster permissions
// the three APIs need.
func TestACLAPIs(t *testing.T) {
	dir := t.TempDir()
	b := startACL(t, dir)
	admin := aclClient(t, b, "admin")
	resp := createACLs(t, admin,
		creation(rtTopic, "orders", ptLit, "User:alice", kmsg.ACLOperationRead, permAllow),
		creation(rtGroup, "app-", ptPre, "User:alice", kmsg.ACLOperationRead, permAllow),
		creation(rtTopic, "orders", ptLit, "User:alice", kmsg.ACLOperationRead, permAllow), // duplicate: stored once
		creation(rtCluster, "other", ptLit, "User:alice", kmsg.ACLOperationAlter, permAllow),
		creation(rtTopic, "", ptLit, "User:alice", kmsg.ACLOperationRead, permAllow),
		creation(rtTopic, "t", ptLit, "alice", kmsg.ACLOperationRead, permAllow),
		creation(rtTopic, "t", ptLit, "User:alice", 99, permAllow),
	)
	want := []int16{0, 0, 0, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code}
	for i, r := range resp.Results {
		if r.ErrorCode != want[i] {
			t.Errorf("creation %d: %v (%v), want %v", i, kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage, kerr.ErrorForCode(want[i]))
		}
	}
	if m := resp.Results[3].ErrorMessage; m == nil || *m != "The only valid name for the CLUSTER resource is kafka-cluster" {
		t.Errorf("cluster name message %v", m)
	}

	// An ACL Kafka cannot build (MATCH pattern, ANY operation) fails the
	// request whole: nothing of it is created.
	for _, bad := range []kmsg.CreateACLsRequestCreation{
		creation(rtTopic, "t", kmsg.ACLResourcePatternTypeMatch, "User:alice", kmsg.ACLOperationRead, permAllow),
		creation(rtTopic, "t", ptLit, "User:alice", kmsg.ACLOperationAny, permAllow),
		creation(kmsg.ACLResourceTypeAny, "t", ptLit, "User:alice", kmsg.ACLOperationRead, permAllow),
	} {
		resp := createACLs(t, admin, creation(rtTopic, "whole", ptLit, "User:alice", kmsg.ACLOperationRead, permAllow), bad)
		for i, r := range resp.Results {
			if r.ErrorCode != kerr.UnknownServerError.Code {
				t.Errorf("%+v, creation %d: %v, want UNKNOWN_SERVER_ERROR", bad, i, kerr.ErrorForCode(r.ErrorCode))
			}
		}
	}
	all := describeACLs(t, admin, anyFilter())
	if all.ErrorCode != 0 || countACLs(all) != 2 || len(all.Resources) != 2 {
		t.Fatalf("describe all: %v %+v", kerr.ErrorForCode(all.ErrorCode), all.Resources)
	}
	// MATCH: the ACLs that apply to group app-1 (the prefix).
	f := anyFilter()
	f.ResourceType, f.ResourceName, f.ResourcePatternType = rtGroup, kmsg.StringPtr("app-1"), kmsg.ACLResourcePatternTypeMatch
	if got := describeACLs(t, admin, f); countACLs(got) != 1 || got.Resources[0].ResourceName != "app-" || got.Resources[0].ResourcePatternType != ptPre {
		t.Fatalf("describe MATCH app-1: %+v", got.Resources)
	}
	// LITERAL app-1: none.
	f.ResourcePatternType = ptLit
	if got := describeACLs(t, admin, f); countACLs(got) != 0 {
		t.Fatalf("describe LITERAL app-1: %+v", got.Resources)
	}
	// UNKNOWN in a filter: Kafka cannot parse it and closes the connection.
	f.ResourcePatternType = kmsg.ACLResourcePatternTypeUnknown
	if resp, err := admin.Broker(0).Request(secCtx(t), &f); err == nil {
		t.Fatalf("describe UNKNOWN pattern answered: %+v", resp)
	}

	// alice may not describe, create or delete ACLs: no cluster ACL.
	alice := aclClient(t, b, "alice")
	if got := describeACLs(t, alice, anyFilter()); got.ErrorCode != kerr.ClusterAuthorizationFailed.Code || len(got.Resources) != 0 {
		t.Fatalf("alice describe: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	if got := createACLs(t, alice, creation(rtTopic, "x", ptLit, "User:alice", kmsg.ACLOperationAll, permAllow)); got.Results[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("alice create: %v", kerr.ErrorForCode(got.Results[0].ErrorCode))
	}
	del := kmsg.NewPtrDeleteACLsRequest()
	df := kmsg.NewDeleteACLsRequestFilter()
	df.ResourceType, df.ResourcePatternType, df.Operation, df.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	del.Filters = []kmsg.DeleteACLsRequestFilter{df}
	dr, err := del.RequestWith(secCtx(t), alice)
	if err != nil || dr.Results[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("alice delete: %v %v", err, dr)
	}
	if got := describeACLs(t, admin, anyFilter()); countACLs(got) != 2 {
		t.Fatalf("a refused create or delete changed the ACLs: %+v", got.Resources)
	}
	// DESCRIBE on the cluster (implied by ALTER) lets alice describe.
	mustCreateACLs(t, b, creation(rtCluster, acl.ClusterName, ptLit, "User:alice", kmsg.ACLOperationAlter, permAllow))
	if got := describeACLs(t, alice, anyFilter()); got.ErrorCode != 0 || countACLs(got) != 3 {
		t.Fatalf("alice describe with ALTER on the cluster: %v %d", kerr.ErrorForCode(got.ErrorCode), countACLs(got))
	}

	// Restart: the ACLs are read back from the data directory.
	b.Close()
	if _, err := os.Stat(filepath.Join(dir, acl.FileName)); err != nil {
		t.Fatal(err)
	}
	b = startACL(t, dir)
	admin = aclClient(t, b, "admin")
	if got := describeACLs(t, admin, anyFilter()); countACLs(got) != 3 {
		t.Fatalf("after restart: %+v", got.Resources)
	}

	// Delete the group ACLs by a filter on the resource type.
	df.ResourceType = rtGroup
	del.Filters = []kmsg.DeleteACLsRequestFilter{df}
	dr, err = del.RequestWith(secCtx(t), admin)
	if err != nil || dr.Results[0].ErrorCode != 0 || len(dr.Results[0].MatchingACLs) != 1 || dr.Results[0].MatchingACLs[0].ResourceName != "app-" {
		t.Fatalf("delete group ACLs: %v %+v", err, dr)
	}
	if got := describeACLs(t, admin, anyFilter()); countACLs(got) != 2 {
		t.Fatalf("after delete: %+v", got.Resources)
	}
}

// TestACLAPIsWithoutAuthorizer: without --authorizer the ACL APIs answer
// SECURITY_DISABLED, and nothing is checked.
func TestACLAPIsWithoutAuthorizer(t *testing.T) {
	b := startACL(t, t.TempDir(), func(c *Config) { c.Authorizer = "" })
	cl := aclClient(t, b, "alice")
	if got := describeACLs(t, cl, anyFilter()); got.ErrorCode != kerr.SecurityDisabled.Code {
		t.Fatalf("describe: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	if got := createACLs(t, cl, creation(rtTopic, "x", ptLit, "User:alice", kmsg.ACLOperationAll, permAllow)); got.Results[0].ErrorCode != kerr.SecurityDisabled.Code {
		t.Fatalf("create: %v", kerr.ErrorForCode(got.Results[0].ErrorCode))
	}
	roundTrip(t, b.ListenerAddr(ProtocolSASLPlaintext), "open", kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()))
}
