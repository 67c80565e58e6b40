package broker

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/rewindhq/rewind/acl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeAcls: v1-3 (Kafka 4 removed v0).
//
// Needs DESCRIBE on the cluster (else CLUSTER_AUTHORIZATION_FAILED at the
// top); without an authorizer SECURITY_DISABLED. The ACLs the filter
// matches (acl.Filter) are grouped by resource pattern, in the order of
// resource type, name and pattern type. A filter with an UNKNOWN (or
// unheard-of) resource type, pattern type, operation or permission closes
// the connection, as Kafka cannot parse the request.
//
// Version notes: v1 pattern types; v2 flexible; v3 the USER resource type.

func init() { regKey(29, 1, 3, handleDescribeACLs) }

func handleDescribeACLs(r *request) (reply, error) {
	req := r.kreq.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	if !r.allowedCluster(kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return now(resp)
	}
	a := r.c.b.sec.authz
	if a == nil {
		resp.ErrorCode = kerr.SecurityDisabled.Code
		resp.ErrorMessage = strp("No Authorizer is configured on the broker")
		return now(resp)
	}
	f := acl.Filter{
		ResourceType: req.ResourceType, Name: req.ResourceName, PatternType: req.ResourcePatternType,
		Principal: req.Principal, Host: req.Host, Operation: req.Operation, Permission: req.PermissionType,
	}
	if !f.Known() {
		// Kafka cannot parse the request and closes the connection.
		return reply{}, fmt.Errorf("DescribeAcls with an unknown resource type, pattern type, operation or permission: %+v", f)
	}
	type key struct {
		rt   kmsg.ACLResourceType
		name string
		pt   kmsg.ACLResourcePatternType
	}
	byRes := map[key]int{}
	for _, b := range a.ACLs(f) {
		k := key{b.ResourceType, b.Name, b.PatternType}
		i, ok := byRes[k]
		if !ok {
			i = len(resp.Resources)
			byRes[k] = i
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName, res.ResourcePatternType = k.rt, k.name, k.pt
			resp.Resources = append(resp.Resources, res)
		}
		e := kmsg.NewDescribeACLsResponseResourceACL()
		e.Principal, e.Host, e.Operation, e.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, e)
	}
	slices.SortStableFunc(resp.Resources, func(x, y kmsg.DescribeACLsResponseResource) int {
		return cmp.Or(cmp.Compare(x.ResourceType, y.ResourceType), cmp.Compare(x.ResourceName, y.ResourceName), cmp.Compare(x.ResourcePatternType, y.ResourcePatternType))
	})
	return now(resp)
}
