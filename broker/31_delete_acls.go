package broker

import (
	"fmt"

	"github.com/rewindhq/rewind/acl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteAcls: v1-3 (Kafka 4 removed v0).
//
// Needs ALTER on the cluster (else every filter gets
// CLUSTER_AUTHORIZATION_FAILED); without an authorizer SECURITY_DISABLED.
// Each filter (acl.Filter: ANY and MATCH as Kafka's AclBindingFilter)
// removes the ACLs it matches and lists them; a filter with an UNKNOWN
// field closes the connection (Kafka cannot parse it), one matching more
// than acl.MaxPerRequest
// ACLs INVALID_REQUEST and removes nothing. The removal is on disk before
// the answer.
//
// Version notes: v1 pattern types; v2 flexible; v3 the USER resource type.

func init() { regKey(31, 1, 3, handleDeleteACLs) }

func handleDeleteACLs(r *request) (reply, error) {
	req := r.kreq.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	for i := range resp.Results {
		resp.Results[i] = kmsg.NewDeleteACLsResponseResult()
	}
	fail := func(code int16, msg string) (reply, error) {
		for i := range resp.Results {
			resp.Results[i].ErrorCode = code
			if msg != "" {
				resp.Results[i].ErrorMessage = strp(msg)
			}
		}
		return now(resp)
	}
	if !r.allowedCluster(kmsg.ACLOperationAlter) {
		return fail(kerr.ClusterAuthorizationFailed.Code, "")
	}
	a := r.c.b.sec.authz
	if a == nil {
		return fail(kerr.SecurityDisabled.Code, "No Authorizer is configured.")
	}
	fs := make([]acl.Filter, len(req.Filters))
	for i, f := range req.Filters {
		fs[i] = acl.Filter{
			ResourceType: f.ResourceType, Name: f.ResourceName, PatternType: f.ResourcePatternType,
			Principal: f.Principal, Host: f.Host, Operation: f.Operation, Permission: f.PermissionType,
		}
	}
	for _, f := range fs {
		if !f.Known() {
			// Kafka cannot parse the request and closes the connection.
			return reply{}, fmt.Errorf("DeleteAcls with an unknown resource type, pattern type, operation or permission: %+v", f)
		}
	}
	removed, errs, err := a.Delete(fs)
	if err != nil {
		r.c.b.storageErrs.error("ACL removal not stored", "err", err)
		return fail(kerr.UnknownServerError.Code, "The ACLs could not be stored: "+err.Error())
	}
	for i := range resp.Results {
		if errs[i] != nil {
			resp.Results[i].ErrorCode = aclErrCode(errs[i])
			resp.Results[i].ErrorMessage = strp(errs[i].Error())
			continue
		}
		for _, b := range removed[i] {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = b.ResourceType, b.Name, b.PatternType
			m.Principal, m.Host, m.Operation, m.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
			resp.Results[i].MatchingACLs = append(resp.Results[i].MatchingACLs, m)
		}
	}
	return now(resp)
}
