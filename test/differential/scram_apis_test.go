package differential

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// compareSCRAMAPIs sends the same AlterUserScramCredentials and
// DescribeUserScramCredentials to both brokers and compares the codes and
// the credentials described.
func compareSCRAMAPIs(t *testing.T, sides []*authSide) {
	carol, dave := "carol"+suffix, "dave"+suffix
	del := func(user string, mech int8) kmsg.AlterUserSCRAMCredentialsRequestDeletion {
		d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
		d.Name, d.Mechanism = user, mech
		return d
	}
	up := func(user string, mech int8, iters int32) kmsg.AlterUserSCRAMCredentialsRequestUpsertion {
		u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		u.Name, u.Mechanism, u.Iterations = user, mech, iters
		u.Salt, u.SaltedPassword = []byte("0123456789abcdef"), make([]byte, 32)
		if mech == 2 {
			u.SaltedPassword = make([]byte, 64)
		}
		return u
	}
	type alter struct {
		dels []kmsg.AlterUserSCRAMCredentialsRequestDeletion
		ups  []kmsg.AlterUserSCRAMCredentialsRequestUpsertion
	}
	steps := []alter{
		{nil, []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{up(carol, 1, 4096)}},
		{nil, []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{up(carol, 2, 8192), up(dave, 1, 5000)}},
		{nil, []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{up(carol, 1, 4095)}},
		{nil, []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{up(carol, 1, 16385)}},
		{nil, []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{up(carol, 3, 4096)}},
		{nil, []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{up("", 1, 4096)}},
		{[]kmsg.AlterUserSCRAMCredentialsRequestDeletion{del("nobody"+suffix, 1)}, nil},
		{[]kmsg.AlterUserSCRAMCredentialsRequestDeletion{del(dave, 1)}, []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{up(dave, 1, 4096)}},
		{[]kmsg.AlterUserSCRAMCredentialsRequestDeletion{del(dave, 1), del(dave, 2)}, nil},
	}
	results := func(rs []kmsg.AlterUserSCRAMCredentialsResponseResult) string {
		var out []string
		for _, r := range rs {
			out = append(out, fmt.Sprintf("%s:%d", r.User, r.ErrorCode))
		}
		slices.Sort(out)
		return fmt.Sprint(out)
	}
	describe := func(cl *kgo.Client, users ...string) string {
		req := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
		for _, u := range users {
			n := kmsg.NewDescribeUserSCRAMCredentialsRequestUser()
			n.Name = u
			req.Users = append(req.Users, n)
		}
		resp, err := req.RequestWith(ctxFor(t), cl)
		if err != nil {
			return "error " + err.Error()
		}
		var out []string
		for _, r := range resp.Results {
			var infos []string // Kafka lists them in no order
			for _, c := range r.CredentialInfos {
				infos = append(infos, fmt.Sprintf("%d/%d", c.Mechanism, c.Iterations))
			}
			slices.Sort(infos)
			out = append(out, fmt.Sprintf("%s:%d %v", r.User, r.ErrorCode, infos))
		}
		slices.Sort(out)
		return fmt.Sprintf("code %d %v", resp.ErrorCode, out)
	}
	var got [2][]string
	for i, s := range sides {
		s.setACLs(t, nil)
		for _, st := range steps {
			req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
			req.Deletions, req.Upsertions = st.dels, st.ups
			resp, err := req.RequestWith(ctxFor(t), s.admin)
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			got[i] = append(got[i], results(resp.Results))
		}
		// Kafka's broker applies the credentials from its metadata log:
		// wait until it describes both users.
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if d := describe(s.admin, carol, dave); !strings.Contains(d, ":91") {
				break
			}
		}
		got[i] = append(got[i],
			describe(s.admin, carol, dave, "nobody"+suffix),
			describe(s.admin, carol, carol),
			describe(s.bob, carol))
		req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
		req.Deletions = []kmsg.AlterUserSCRAMCredentialsRequestDeletion{del(carol, 1)}
		resp, err := req.RequestWith(ctxFor(t), s.bob)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got[i] = append(got[i], "bob "+results(resp.Results))
	}
	for j := range got[0] {
		if got[0][j] != got[1][j] {
			t.Errorf("step %d:\nKafka  %s\nRewind %s", j, got[0][j], got[1][j])
		}
	}
}
