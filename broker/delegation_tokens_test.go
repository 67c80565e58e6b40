package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// tokenCodes sends the four delegation token APIs as cl and returns their
// error codes (Create, Renew, Expire, Describe), checking the fields a
// refused request carries: no token; timestamps -1, or 0 once the request
// got as far as finding tokens off.
func tokenCodes(t *testing.T, cl *kgo.Client, owner *string, renewerType string) [4]int16 {
	t.Helper()
	ctx := secCtx(t)
	create := kmsg.NewPtrCreateDelegationTokenRequest()
	create.OwnerPrincipalType, create.OwnerPrincipalName = strp("User"), owner
	rn := kmsg.NewCreateDelegationTokenRequestRenewer()
	rn.PrincipalType, rn.PrincipalName = renewerType, "carol"
	create.Renewers = append(create.Renewers, rn)
	cr, err := create.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	ts := int64(-1)
	if cr.ErrorCode == kerr.DelegationTokenAuthDisabled.Code {
		ts = 0
	}
	if cr.TokenID != "" || len(cr.HMAC) != 0 || cr.IssueTimestamp != ts || cr.ExpiryTimestamp != ts || cr.MaxTimestamp != ts {
		t.Errorf("CreateDelegationToken refused with a token or timestamps other than %d: %+v", ts, cr)
	}
	renew := kmsg.NewPtrRenewDelegationTokenRequest()
	renew.HMAC, renew.RenewTimeMillis = []byte("hmac"), 1000
	rr, err := renew.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	expire := kmsg.NewPtrExpireDelegationTokenRequest()
	expire.HMAC, expire.ExpiryPeriodMillis = []byte("hmac"), -1
	er, err := expire.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	ts = -1
	if rr.ErrorCode == kerr.DelegationTokenAuthDisabled.Code {
		ts = 0
	}
	if rr.ExpiryTimestamp != ts || er.ExpiryTimestamp != ts {
		t.Errorf("expiry timestamps %d and %d, want %d", rr.ExpiryTimestamp, er.ExpiryTimestamp, ts)
	}
	dr, err := kmsg.NewPtrDescribeDelegationTokenRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(dr.TokenDetails) != 0 {
		t.Errorf("tokens described: %+v", dr.TokenDetails)
	}
	return [4]int16{cr.ErrorCode, rr.ErrorCode, er.ErrorCode, dr.ErrorCode}
}

// TestDelegationTokensDisabled: with delegation tokens off (Kafka's
// default, without a token secret), a PLAINTEXT client may not ask
// (DELEGATION_TOKEN_REQUEST_NOT_ALLOWED); over SASL each API is
// DELEGATION_TOKEN_AUTH_DISABLED, but a token for another owner without
// CREATE_TOKENS on that user is DELEGATION_TOKEN_AUTHORIZATION_FAILED and
// a renewer that is not a User INVALID_PRINCIPAL_TYPE, in Kafka's order.
func TestDelegationTokensDisabled(t *testing.T) {
	plain := startTest(t)
	notAllowed := kerr.DelegationTokenRequestNotAllowed.Code
	if got := tokenCodes(t, secClient(t, plain.Addr()), nil, "User"); got != [4]int16{notAllowed, notAllowed, notAllowed, notAllowed} {
		t.Errorf("PLAINTEXT: %v, want all DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", got)
	}

	b := startACL(t, t.TempDir())
	bob := aclClient(t, b, "bob")
	disabled := kerr.DelegationTokenAuthDisabled.Code
	if got := tokenCodes(t, bob, nil, "User"); got != [4]int16{disabled, disabled, disabled, disabled} {
		t.Errorf("SASL: %v, want all DELEGATION_TOKEN_AUTH_DISABLED", got)
	}
	if got := tokenCodes(t, bob, strp("bob"), "User"); got[0] != disabled {
		t.Errorf("SASL, owner named as the requester: %v", kerr.ErrorForCode(got[0]))
	}
	if got := tokenCodes(t, bob, strp("alice"), "Group"); got[0] != kerr.DelegationTokenAuthorizationFailed.Code {
		t.Errorf("for alice without CREATE_TOKENS: %v, want DELEGATION_TOKEN_AUTHORIZATION_FAILED", kerr.ErrorForCode(got[0]))
	}
	mustCreateACLs(t, b, creation(kmsg.ACLResourceTypeUser, "User:alice", ptLit, "User:bob", kmsg.ACLOperationCreateTokens, permAllow))
	if got := tokenCodes(t, bob, strp("alice"), "Group"); got[0] != kerr.InvalidPrincipalType.Code {
		t.Errorf("for alice with CREATE_TOKENS, a Group renewer: %v, want INVALID_PRINCIPAL_TYPE", kerr.ErrorForCode(got[0]))
	}
	if got := tokenCodes(t, bob, strp("alice"), "User"); got[0] != disabled {
		t.Errorf("for alice with CREATE_TOKENS: %v, want DELEGATION_TOKEN_AUTH_DISABLED", kerr.ErrorForCode(got[0]))
	}
}
