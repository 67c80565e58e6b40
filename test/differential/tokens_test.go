package differential

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// tokenRequests are the four delegation token APIs: a token for the
// requester and for another owner (v3), with a User and a Group renewer;
// a renewal, an expiry and a description of all tokens and of one owner's.
func tokenRequests() map[string]kmsg.Request {
	create := func(owner *string, renewerType string) kmsg.Request {
		r := kmsg.NewPtrCreateDelegationTokenRequest()
		if owner != nil {
			r.OwnerPrincipalType, r.OwnerPrincipalName = kmsg.StringPtr("User"), owner
		}
		rn := kmsg.NewCreateDelegationTokenRequestRenewer()
		rn.PrincipalType, rn.PrincipalName = renewerType, "carol"
		r.Renewers = append(r.Renewers, rn)
		r.MaxLifetimeMillis = -1
		return r
	}
	renew := kmsg.NewPtrRenewDelegationTokenRequest()
	renew.HMAC, renew.RenewTimeMillis = []byte("not a token"), 60000
	expire := kmsg.NewPtrExpireDelegationTokenRequest()
	expire.HMAC, expire.ExpiryPeriodMillis = []byte("not a token"), -1
	owners := kmsg.NewPtrDescribeDelegationTokenRequest()
	o := kmsg.NewDescribeDelegationTokenRequestOwner()
	o.PrincipalType, o.PrincipalName = "User", "alice"
	owners.Owners = append(owners.Owners, o)
	return map[string]kmsg.Request{
		"create":                    create(nil, "User"),
		"create for alice":          create(kmsg.StringPtr("alice"), "User"),
		"create, a Group renewer":   create(nil, "Group"),
		"create for alice, a Group": create(kmsg.StringPtr("alice"), "Group"),
		"renew":                     renew,
		"expire":                    expire,
		"describe all":              kmsg.NewPtrDescribeDelegationTokenRequest(),
		"describe alice's":          owners,
	}
}

// TestDelegationTokensPlaintext: over PLAINTEXT neither broker lets a
// client ask for tokens, at every version both serve.
func TestDelegationTokensPlaintext(t *testing.T) {
	p := newPair(t)
	for name, req := range tokenRequests() {
		lo, hi, ok := p.common(req)
		if !ok {
			t.Fatalf("%s: no common version", kmsg.NameForKey(req.Key()))
		}
		for v := lo; v <= hi; v++ {
			p.compare("DelegationTokens/"+name, req, v, nil)
		}
	}
}

// compareTokenAPIs: over SASL, on brokers without a token secret (Kafka's
// default), as bob (no ACL) and as admin (a super user, so allowed to
// create alice's): the codes and the fields of each answer, at the newest
// version both serve.
func compareTokenAPIs(t *testing.T, sides []*authSide) {
	for _, who := range []string{"bob", "admin"} {
		for name, req := range tokenRequests() {
			var got [2]string
			for i, s := range sides {
				cl := s.bob
				if who == "admin" {
					cl = s.admin
				}
				got[i] = tokenAnswer(t, s.name, cl, s.node, req)
			}
			if got[0] != got[1] {
				t.Errorf("%s, %s: Kafka %s, Rewind %s", who, name, got[0], got[1])
			}
		}
	}
}

func tokenAnswer(t *testing.T, side string, cl *kgo.Client, node int32, req kmsg.Request) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := cl.Broker(int(node)).Request(ctx, req)
	if err != nil {
		t.Fatalf("%s %s: %v", side, kmsg.NameForKey(req.Key()), err)
	}
	switch r := resp.(type) {
	case *kmsg.CreateDelegationTokenResponse:
		return fmt.Sprintf("code %d owner %s:%s requester %s:%s issue %d expiry %d max %d id %q hmac %d bytes",
			r.ErrorCode, r.PrincipalType, r.PrincipalName, r.TokenRequesterPrincipalType, r.TokenRequesterPrincipalName,
			r.IssueTimestamp, r.ExpiryTimestamp, r.MaxTimestamp, r.TokenID, len(r.HMAC))
	case *kmsg.RenewDelegationTokenResponse:
		return fmt.Sprintf("code %d expiry %d", r.ErrorCode, r.ExpiryTimestamp)
	case *kmsg.ExpireDelegationTokenResponse:
		return fmt.Sprintf("code %d expiry %d", r.ErrorCode, r.ExpiryTimestamp)
	case *kmsg.DescribeDelegationTokenResponse:
		return fmt.Sprintf("code %d tokens %d", r.ErrorCode, len(r.TokenDetails))
	}
	return fmt.Sprintf("%T", resp)
}
