package broker

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterUserScramCredentials: v0.
//
// Needs ALTER on the cluster (with an authorizer; else every user named
// gets CLUSTER_AUTHORIZATION_FAILED). Deletions remove a user's
// credential of one mechanism, upsertions set one from the salt and
// salted password the client computed (StoredKey and ServerKey derived as
// RFC 5802 and Kafka's ScramFormatter do; the password never reaches the
// broker). Checked as Kafka's ScramControlManager checks: an empty name
// or unknown mechanism (UNACCEPTABLE_CREDENTIAL, UNSUPPORTED_SASL_MECHANISM),
// fewer than 4096 or more than 16384 iterations (UNACCEPTABLE_CREDENTIAL),
// deleting a credential that does not exist (RESOURCE_NOT_FOUND), a user
// named twice in the request (DUPLICATE_RESOURCE). The valid changes are
// written to DataDir/security/credentials.json (atomically, fsynced)
// before the answer, and the next SASL authentication uses them;
// connections already authenticated stay.

func init() { regKey(51, 0, 0, handleAlterUserSCRAMs) }

func handleAlterUserSCRAMs(r *request) (reply, error) {
	req := r.kreq.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	failAll := func(code int16, msg *string) (reply, error) {
		var users []string
		for _, d := range req.Deletions {
			users = append(users, d.Name)
		}
		for _, u := range req.Upsertions {
			users = append(users, u.Name)
		}
		slices.Sort(users)
		for _, u := range slices.Compact(users) {
			res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
			res.User, res.ErrorCode, res.ErrorMessage = u, code, msg
			resp.Results = append(resp.Results, res)
		}
		return now(resp)
	}
	if !r.allowedCluster(kmsg.ACLOperationAlter) {
		return failAll(kerr.ClusterAuthorizationFailed.Code, nil)
	}
	f, err := r.c.b.sec.creds.current()
	if err != nil {
		r.c.b.storageErrs.error("SASL credentials cannot be read", "err", err)
		return failAll(kerr.UnknownServerError.Code, strp(err.Error()))
	}
	type failure struct {
		code int16
		msg  string
	}
	errs := map[string]failure{}
	changes := map[string]credChange{}
	dup := failure{kerr.DuplicateResource.Code, "A user credential cannot be altered twice in the same request"}
	validate := func(user string, mech int8) (string, *failure) {
		if user == "" {
			return "", &failure{kerr.UnacceptableCredential.Code, "Username must not be empty"}
		}
		name, ok := scramMechName(mech)
		if !ok {
			return "", &failure{kerr.UnsupportedSaslMechanism.Code, "Unknown SCRAM mechanism"}
		}
		return name, nil
	}
	for _, d := range req.Deletions {
		if _, failed := errs[d.Name]; failed {
			continue
		}
		if _, twice := changes[d.Name]; twice {
			delete(changes, d.Name)
			errs[d.Name] = dup
			continue
		}
		mech, e := validate(d.Name, d.Mechanism)
		if e == nil {
			if _, ok := f.Users[d.Name][mech]; !ok {
				e = &failure{kerr.ResourceNotFound.Code, "Attempt to delete a user credential that does not exist"}
			}
		}
		if e != nil {
			errs[d.Name] = *e
			continue
		}
		changes[d.Name] = credChange{user: d.Name, mech: mech, delete: true}
	}
	for _, u := range req.Upsertions {
		if _, failed := errs[u.Name]; failed {
			continue
		}
		if _, twice := changes[u.Name]; twice {
			delete(changes, u.Name)
			errs[u.Name] = dup
			continue
		}
		mech, e := validate(u.Name, u.Mechanism)
		switch {
		case e != nil:
		case u.Iterations < scramMinIterations:
			e = &failure{kerr.UnacceptableCredential.Code, "Too few iterations"}
		case u.Iterations > scramMaxIterations:
			e = &failure{kerr.UnacceptableCredential.Code, "Too many iterations"}
		}
		if e != nil {
			errs[u.Name] = *e
			continue
		}
		stored, server := scramKeys(mech, u.SaltedPassword)
		changes[u.Name] = credChange{user: u.Name, mech: mech, cred: storedCred{
			Salt: append([]byte(nil), u.Salt...), Iterations: int(u.Iterations), StoredKey: stored, ServerKey: server,
		}}
	}
	var apply []credChange
	for _, c := range changes {
		apply = append(apply, c)
	}
	if len(apply) > 0 {
		if err := r.c.b.applyCredChanges(apply); err != nil {
			r.c.b.storageErrs.error("SASL credentials not stored", "err", err)
			for u := range changes {
				errs[u] = failure{kerr.UnknownServerError.Code, "The credentials could not be stored: " + err.Error()}
			}
			changes = nil
		}
	}
	users := make([]string, 0, len(changes)+len(errs))
	for u := range changes {
		users = append(users, u)
	}
	for u := range errs {
		users = append(users, u)
	}
	slices.Sort(users)
	for _, u := range users {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User = u
		if e, failed := errs[u]; failed {
			res.ErrorCode, res.ErrorMessage = e.code, strp(e.msg)
		}
		resp.Results = append(resp.Results, res)
	}
	return now(resp)
}
