package broker

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeUserScramCredentials: v0.
//
// Needs DESCRIBE on the cluster (with an authorizer; else
// CLUSTER_AUTHORIZATION_FAILED at the top and on each user asked). Lists
// the users of the credentials file (DataDir/security/credentials.json,
// the one `rewind user` and SASL use) with each mechanism's iterations:
// all users when none is named, else each named one, a user without
// credentials RESOURCE_NOT_FOUND and one named twice DUPLICATE_RESOURCE,
// with Kafka's messages. Results are in user order.

func init() { regKey(50, 0, 0, handleDescribeUserSCRAMs) }

func handleDescribeUserSCRAMs(r *request) (reply, error) {
	req := r.kreq.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	fail := func(code int16, msg *string) (reply, error) {
		resp.ErrorCode, resp.ErrorMessage = code, msg
		for range req.Users {
			res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
			res.ErrorCode, res.ErrorMessage = code, msg
			resp.Results = append(resp.Results, res)
		}
		return now(resp)
	}
	if !r.allowedCluster(kmsg.ACLOperationDescribe) {
		return fail(kerr.ClusterAuthorizationFailed.Code, nil)
	}
	f, err := r.c.b.sec.creds.current()
	if err != nil {
		r.c.b.storageErrs.error("SASL credentials cannot be read", "err", err)
		return fail(kerr.UnknownServerError.Code, strp(err.Error()))
	}
	dup := map[string]bool{}
	if len(req.Users) == 0 {
		for u := range f.Users {
			dup[u] = false
		}
	}
	for _, u := range req.Users {
		_, seen := dup[u.Name]
		dup[u.Name] = seen
	}
	users := make([]string, 0, len(dup))
	for u := range dup {
		users = append(users, u)
	}
	slices.Sort(users)
	for _, u := range users {
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = u
		switch mechs := userMechs(f, u); {
		case dup[u]:
			res.ErrorCode = kerr.DuplicateResource.Code
			res.ErrorMessage = strp("Cannot describe SCRAM credentials for the same user twice in a single request: " + u)
		case len(mechs) == 0:
			res.ErrorCode = kerr.ResourceNotFound.Code
			res.ErrorMessage = strp("Attempt to describe a user credential that does not exist: " + u)
		default:
			for _, m := range mechs {
				name, _ := scramMechName(m)
				ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
				ci.Mechanism, ci.Iterations = m, int32(f.Users[u][name].Iterations)
				res.CredentialInfos = append(res.CredentialInfos, ci)
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return now(resp)
}
