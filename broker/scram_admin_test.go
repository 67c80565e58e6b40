package broker

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	kscram "github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestUserSCRAMCredentialAPIs: AlterUserScramCredentials stores
// credentials that SASL then accepts (SCRAM with either hash, and PLAIN),
// DescribeUserScramCredentials lists them, and both check what Kafka
// checks, with its codes, changing nothing when refused.
func TestUserSCRAMCredentialAPIs(t *testing.T) {
	b := startACL(t, t.TempDir())
	adm := kadm.NewClient(aclClient(t, b, "admin"))
	ctx := secCtx(t)
	addr := b.ListenerAddr(ProtocolSASLPlaintext)
	canLogIn := func(opt kgo.Opt) error {
		cl := secClient(t, addr, opt)
		defer cl.Close()
		_, err := kmsg.NewPtrMetadataRequest().RequestWith(secCtx(t), cl)
		return err
	}

	altered, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "carol", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "carol-pw"},
	})
	if err != nil || altered.AllFailed() || altered["carol"].Err != nil {
		t.Fatalf("upsert carol: %v %+v", err, altered)
	}
	if _, err = adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "carol", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "carol-pw"}}); err != nil {
		t.Fatal(err)
	}
	for name, opt := range map[string]kgo.Opt{
		"SCRAM-SHA-256": kgo.SASL(kscram.Auth{User: "carol", Pass: "carol-pw"}.AsSha256Mechanism()),
		"SCRAM-SHA-512": kgo.SASL(kscram.Auth{User: "carol", Pass: "carol-pw"}.AsSha512Mechanism()),
		"PLAIN":         kgo.SASL(plain.Auth{User: "carol", Pass: "carol-pw"}.AsMechanism()),
	} {
		if err := canLogIn(opt); err != nil {
			t.Errorf("carol with %s after AlterUserScramCredentials: %v", name, err)
		}
	}
	if err := canLogIn(kgo.SASL(kscram.Auth{User: "carol", Pass: "wrong"}.AsSha256Mechanism())); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Errorf("carol with a wrong password: %v", err)
	}

	described, err := adm.DescribeUserSCRAMs(ctx, "carol", "nobody")
	if err != nil {
		t.Fatal(err)
	}
	if c := described["carol"]; c.Err != nil || len(c.CredInfos) != 2 || c.CredInfos[0].Iterations != 4096 || c.CredInfos[1].Iterations != 8192 {
		t.Fatalf("describe carol: %+v", c)
	}
	if n := described["nobody"]; !errors.Is(n.Err, kerr.ResourceNotFound) {
		t.Fatalf("describe nobody: %+v", n)
	}
	all, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil || len(all) != 4 { // admin, alice, bob, carol
		t.Fatalf("describe all: %v %+v", err, all)
	}

	// Refusals, each in its own request, with Kafka's codes.
	raw := func(dels []kmsg.AlterUserSCRAMCredentialsRequestDeletion, ups []kmsg.AlterUserSCRAMCredentialsRequestUpsertion, cl *kgo.Client) *kmsg.AlterUserSCRAMCredentialsResponse {
		t.Helper()
		req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
		req.Deletions, req.Upsertions = dels, ups
		resp, err := req.RequestWith(secCtx(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	del := func(user string, mech int8) kmsg.AlterUserSCRAMCredentialsRequestDeletion {
		d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
		d.Name, d.Mechanism = user, mech
		return d
	}
	up := func(user string, mech int8, iters int32) kmsg.AlterUserSCRAMCredentialsRequestUpsertion {
		u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		u.Name, u.Mechanism, u.Iterations, u.Salt, u.SaltedPassword = user, mech, iters, []byte("salt"), []byte("salted")
		return u
	}
	admin := aclClient(t, b, "admin")
	for _, c := range []struct {
		name string
		dels []kmsg.AlterUserSCRAMCredentialsRequestDeletion
		ups  []kmsg.AlterUserSCRAMCredentialsRequestUpsertion
		want int16
	}{
		{"too few iterations", nil, []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{up("carol", 1, 4095)}, kerr.UnacceptableCredential.Code},
		{"too many iterations", nil, []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{up("carol", 1, 16385)}, kerr.UnacceptableCredential.Code},
		{"unknown mechanism", nil, []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{up("carol", 3, 4096)}, kerr.UnsupportedSaslMechanism.Code},
		{"empty name", nil, []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{up("", 1, 4096)}, kerr.UnacceptableCredential.Code},
		{"delete missing", []kmsg.AlterUserSCRAMCredentialsRequestDeletion{del("nobody", 1)}, nil, kerr.ResourceNotFound.Code},
		{"twice", []kmsg.AlterUserSCRAMCredentialsRequestDeletion{del("carol", 1)}, []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{up("carol", 1, 4096)}, kerr.DuplicateResource.Code},
	} {
		resp := raw(c.dels, c.ups, admin)
		if len(resp.Results) != 1 || resp.Results[0].ErrorCode != c.want {
			t.Errorf("%s: %+v, want %v", c.name, resp.Results, kerr.ErrorForCode(c.want))
		}
	}
	// alice has no ALTER or DESCRIBE on the cluster.
	alice := aclClient(t, b, "alice")
	if resp := raw([]kmsg.AlterUserSCRAMCredentialsRequestDeletion{del("carol", 1)}, nil, alice); resp.Results[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("alice deleting: %+v", resp.Results)
	}
	dreq := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	if resp, err := dreq.RequestWith(secCtx(t), alice); err != nil || resp.ErrorCode != kerr.ClusterAuthorizationFailed.Code || len(resp.Results) != 0 {
		t.Errorf("alice describing: %v %+v", err, resp)
	}
	// None of the refused changes took effect.
	if err := canLogIn(kgo.SASL(kscram.Auth{User: "carol", Pass: "carol-pw"}.AsSha256Mechanism())); err != nil {
		t.Fatalf("carol after refused changes: %v", err)
	}

	// Delete SHA-256: SHA-512 still logs in, SHA-256 no more.
	if _, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "carol", Mechanism: kadm.ScramSha256}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := canLogIn(kgo.SASL(kscram.Auth{User: "carol", Pass: "carol-pw"}.AsSha256Mechanism())); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Errorf("carol SCRAM-SHA-256 after its deletion: %v", err)
	}
	if err := canLogIn(kgo.SASL(kscram.Auth{User: "carol", Pass: "carol-pw"}.AsSha512Mechanism())); err != nil {
		t.Errorf("carol SCRAM-SHA-512 after deleting SHA-256: %v", err)
	}
}
