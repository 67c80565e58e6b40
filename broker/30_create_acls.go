package broker

import (
	"errors"

	"github.com/rewindhq/rewind/acl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreateAcls: v1-3 (Kafka 4 removed v0).
//
// Needs ALTER on the cluster (else every creation gets
// CLUSTER_AUTHORIZATION_FAILED); without an authorizer SECURITY_DISABLED.
// Each ACL is checked as Kafka checks it (acl.Binding.Validate: a known
// resource type, LITERAL or PREFIXED, a known operation other than ANY,
// ALLOW or DENY, a non-empty name, kafka-cluster for CLUSTER, a principal
// Type:name), refused ones get INVALID_REQUEST with Kafka's message, and
// the others are stored (acl/store.go: on disk before the answer) and in
// force for the next request. An ACL that exists already is not stored
// twice and is answered as created. A creation with resource type ANY,
// pattern type ANY or MATCH, operation ANY or permission ANY fails the
// whole request, every creation UNKNOWN_SERVER_ERROR, as in Kafka (which
// cannot build such an ACL). A request with more than
// acl.MaxPerRequest creations is refused whole (INVALID_REQUEST).
//
// Version notes: v1 pattern types; v2 flexible; v3 the USER resource type.

func init() { regKey(30, 1, 3, handleCreateACLs) }

func handleCreateACLs(r *request) (reply, error) {
	req := r.kreq.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	fail := func(code int16, msg string) (reply, error) {
		for i := range resp.Results {
			resp.Results[i] = kmsg.NewCreateACLsResponseResult()
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
	if len(req.Creations) > acl.MaxPerRequest {
		return fail(kerr.InvalidRequest.Code, "Cannot create more than 10000 acls in a single request.")
	}
	bs := make([]acl.Binding, len(req.Creations))
	for i, c := range req.Creations {
		bs[i] = acl.Binding{
			ResourceType: c.ResourceType, Name: c.ResourceName, PatternType: c.ResourcePatternType,
			Principal: c.Principal, Host: c.Host, Operation: c.Operation, Permission: c.PermissionType,
		}
	}
	for _, b := range bs {
		if msg := b.Specific(); msg != "" {
			// Kafka cannot build the ACL and fails the request whole.
			return fail(kerr.UnknownServerError.Code, msg)
		}
	}
	errs, err := a.Create(bs)
	if err != nil {
		r.c.b.storageErrs.error("ACLs not stored", "err", err)
		return fail(kerr.UnknownServerError.Code, "The ACLs could not be stored: "+err.Error())
	}
	for i, e := range errs {
		resp.Results[i] = kmsg.NewCreateACLsResponseResult()
		if e != nil {
			resp.Results[i].ErrorCode = aclErrCode(e)
			resp.Results[i].ErrorMessage = strp(e.Error())
		}
	}
	return now(resp)
}

func aclErrCode(err error) int16 {
	if errors.Is(err, acl.ErrInvalid) {
		return kerr.InvalidRequest.Code
	}
	return kerr.UnknownServerError.Code
}
