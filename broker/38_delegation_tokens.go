package broker

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreateDelegationToken: v1-3, RenewDelegationToken: v1-2,
// ExpireDelegationToken: v1-2, DescribeDelegationToken: v1-3 (Kafka 4.0
// removed v0 of each, KIP-896)
//
// Delegation tokens (KIP-48) are off, as on a Kafka without
// delegation.token.secret.key, its default: Rewind has no token secret,
// issues no token and authenticates none. Each request is answered as
// KafkaApis and its controller answer it then, in their order:
//
//   - from a connection that may not ask for tokens (PLAINTEXT, SSL
//     without a client certificate, whose principal is User:ANONYMOUS):
//     DELEGATION_TOKEN_REQUEST_NOT_ALLOWED;
//   - CreateDelegationToken for an owner other than the requester (v3)
//     without CREATE_TOKENS on that USER (with --authorizer):
//     DELEGATION_TOKEN_AUTHORIZATION_FAILED; a renewer whose principal
//     type is not User: INVALID_PRINCIPAL_TYPE;
//   - otherwise DELEGATION_TOKEN_AUTH_DISABLED.
//
// CreateDelegationToken names the owner and (v3) the requester in its
// answer, with no token id and no HMAC; its timestamps, and the expiry
// timestamp of Renew and Expire, are -1 when the connection may not ask,
// 0 when tokens are off (Kafka's controller answers those); Describe has
// no tokens.

func init() {
	regKey(38, 1, 3, handleCreateDelegationToken)
	regKey(39, 1, 2, handleRenewDelegationToken)
	regKey(40, 1, 2, handleExpireDelegationToken)
	regKey(41, 1, 3, handleDescribeDelegationToken)
}

// tokenRequestsAllowed is Kafka's KafkaApis.allowTokenRequests: not over
// PLAINTEXT, nor over SSL without a client certificate (a token-
// authenticated principal may not either, but Rewind authenticates none).
func (r *request) tokenRequestsAllowed() bool {
	switch r.c.lis.spec.Name {
	case ProtocolPlaintext:
		return false
	case ProtocolSSL:
		return r.c.principal() != "User:ANONYMOUS"
	}
	return true
}

// splitPrincipal splits "Type:name" as Kafka's SecurityUtils.parseKafkaPrincipal.
func splitPrincipal(p string) (typ, name string) {
	typ, name, _ = strings.Cut(p, ":")
	return typ, name
}

func handleCreateDelegationToken(r *request) (reply, error) {
	req := r.kreq.(*kmsg.CreateDelegationTokenRequest)
	resp := req.ResponseKind().(*kmsg.CreateDelegationTokenResponse)
	reqType, reqName := splitPrincipal(r.c.principal())
	ownType, ownName := reqType, reqName
	if n := req.OwnerPrincipalName; n != nil && *n != "" {
		ownType, ownName = deref(req.OwnerPrincipalType), *n
	}
	resp.PrincipalType, resp.PrincipalName = ownType, ownName
	resp.TokenRequesterPrincipalType, resp.TokenRequesterPrincipalName = reqType, reqName
	resp.IssueTimestamp, resp.ExpiryTimestamp, resp.MaxTimestamp = -1, -1, -1
	resp.HMAC = []byte{}
	switch {
	case !r.tokenRequestsAllowed():
		resp.ErrorCode = kerr.DelegationTokenRequestNotAllowed.Code
	case (ownType != reqType || ownName != reqName) && !r.allowed(kmsg.ACLOperationCreateTokens, kmsg.ACLResourceTypeUser, ownType+":"+ownName):
		resp.ErrorCode = kerr.DelegationTokenAuthorizationFailed.Code
	case renewerNotUser(req.Renewers):
		resp.ErrorCode = kerr.InvalidPrincipalType.Code
	default:
		// Kafka's controller answers this one, with zero timestamps.
		resp.ErrorCode = kerr.DelegationTokenAuthDisabled.Code
		resp.IssueTimestamp, resp.ExpiryTimestamp, resp.MaxTimestamp = 0, 0, 0
	}
	return now(resp)
}

func renewerNotUser(rs []kmsg.CreateDelegationTokenRequestRenewer) bool {
	for _, rn := range rs {
		if rn.PrincipalType != "User" {
			return true
		}
	}
	return false
}

// tokenDisabled is the code of a Renew, Expire or Describe, and the
// expiry timestamp Renew and Expire carry: -1 when KafkaApis refuses the
// connection, 0 from Kafka's controller.
func tokenDisabled(r *request) (code int16, expiry int64) {
	if !r.tokenRequestsAllowed() {
		return kerr.DelegationTokenRequestNotAllowed.Code, -1
	}
	return kerr.DelegationTokenAuthDisabled.Code, 0
}

func handleRenewDelegationToken(r *request) (reply, error) {
	resp := r.kreq.ResponseKind().(*kmsg.RenewDelegationTokenResponse)
	resp.ErrorCode, resp.ExpiryTimestamp = tokenDisabled(r)
	return now(resp)
}

func handleExpireDelegationToken(r *request) (reply, error) {
	resp := r.kreq.ResponseKind().(*kmsg.ExpireDelegationTokenResponse)
	resp.ErrorCode, resp.ExpiryTimestamp = tokenDisabled(r)
	return now(resp)
}

func handleDescribeDelegationToken(r *request) (reply, error) {
	resp := r.kreq.ResponseKind().(*kmsg.DescribeDelegationTokenResponse)
	resp.ErrorCode, _ = tokenDisabled(r)
	return now(resp)
}
