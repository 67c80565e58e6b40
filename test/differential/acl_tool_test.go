package differential

import (
	"context"
	"fmt"
	"testing"

	"github.com/rewindhq/rewind/offsettool"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// compareACLTool runs what `rewind acl` runs (offsettool's CreateACLs,
// ListACLs, DeleteACLs, as kafka-acls.sh's --add, --list, --remove) on
// Kafka (its PLAINTEXT listener, whose User:ANONYMOUS is a super user)
// and on Rewind (as admin), and compares what each step lists.
func compareACLTool(t *testing.T, sides []*authSide, kafkaPlain string) {
	T, G := "tool"+suffix, "toolg"+suffix
	topic := []offsettool.ACLResource{{Type: kmsg.ACLResourceTypeTopic, Name: T}}
	steps := []struct {
		name string
		run  func(ctx context.Context, cl *offsettool.Client) ([]offsettool.ACL, error)
	}{
		{"add --producer", func(ctx context.Context, cl *offsettool.Client) ([]offsettool.ACL, error) {
			return cl.CreateACLs(ctx, offsettool.ACLSpec{Resources: topic, AllowPrincipals: []string{"User:alice"},
				OperationsOf: map[kmsg.ACLResourceType][]kmsg.ACLOperation{kmsg.ACLResourceTypeTopic: {kmsg.ACLOperationWrite, kmsg.ACLOperationDescribe, kmsg.ACLOperationCreate}}})
		}},
		{"add --consumer prefixed", func(ctx context.Context, cl *offsettool.Client) ([]offsettool.ACL, error) {
			return cl.CreateACLs(ctx, offsettool.ACLSpec{
				Resources:       []offsettool.ACLResource{{Type: kmsg.ACLResourceTypeTopic, Name: T[:6]}, {Type: kmsg.ACLResourceTypeGroup, Name: G}},
				PatternType:     kmsg.ACLResourcePatternTypePrefixed,
				AllowPrincipals: []string{"User:bob"},
				OperationsOf: map[kmsg.ACLResourceType][]kmsg.ACLOperation{
					kmsg.ACLResourceTypeTopic: {kmsg.ACLOperationRead, kmsg.ACLOperationDescribe}, kmsg.ACLResourceTypeGroup: {kmsg.ACLOperationRead}},
			})
		}},
		{"add deny host", func(ctx context.Context, cl *offsettool.Client) ([]offsettool.ACL, error) {
			return cl.CreateACLs(ctx, offsettool.ACLSpec{Resources: topic, DenyPrincipals: []string{"User:*"}, DenyHosts: []string{"10.9.9.9"}, Operations: []kmsg.ACLOperation{kmsg.ACLOperationRead}})
		}},
		{"list topic literal", func(ctx context.Context, cl *offsettool.Client) ([]offsettool.ACL, error) {
			return cl.ListACLs(ctx, offsettool.ACLSpec{Resources: topic})
		}},
		{"list topic match", func(ctx context.Context, cl *offsettool.Client) ([]offsettool.ACL, error) {
			return cl.ListACLs(ctx, offsettool.ACLSpec{Resources: topic, PatternType: kmsg.ACLResourcePatternTypeMatch})
		}},
		{"list principal", func(ctx context.Context, cl *offsettool.Client) ([]offsettool.ACL, error) {
			return cl.ListACLs(ctx, offsettool.ACLSpec{Principal: "User:bob"})
		}},
		{"remove one", func(ctx context.Context, cl *offsettool.Client) ([]offsettool.ACL, error) {
			return cl.DeleteACLs(ctx, offsettool.ACLSpec{Resources: topic, AllowPrincipals: []string{"User:alice"}, Operations: []kmsg.ACLOperation{kmsg.ACLOperationWrite}})
		}},
		{"remove resource", func(ctx context.Context, cl *offsettool.Client) ([]offsettool.ACL, error) {
			return cl.DeleteACLs(ctx, offsettool.ACLSpec{Resources: topic})
		}},
		{"list all", func(ctx context.Context, cl *offsettool.Client) ([]offsettool.ACL, error) {
			return cl.ListACLs(ctx, offsettool.ACLSpec{})
		}},
	}
	var got [2][]string
	for i, s := range sides {
		s.setACLs(t, nil)
		addr, opts := kafkaPlain, []kgo.Opt(nil)
		if s.name != "kafka" {
			addr = s.admin.OptValue(kgo.SeedBrokers).([]string)[0]
			opts = []kgo.Opt{kgo.SASL(plain.Auth{User: "admin", Pass: "admin-secret"}.AsMechanism())}
		}
		cl, err := offsettool.Dial(ctxFor(t), []string{addr}, opts...)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		want := 0
		for _, st := range steps {
			acls, err := st.run(ctxFor(t), cl)
			got[i] = append(got[i], fmt.Sprintf("%s: %v %v", st.name, err, acls))
			if st.name == "list topic match" && len(acls) != 6 {
				t.Errorf("%s: --list --topic %s match: %d ACLs, want 6 (3 producer, 1 deny, 2 of the prefix): %v", s.name, T, len(acls), acls)
			}
			switch st.name { // Kafka applies ACLs asynchronously: wait for each change
			case "add --producer":
				want += 3
			case "add --consumer prefixed":
				want += 3
			case "add deny host":
				want++
			case "remove one":
				want--
			case "remove resource":
				want -= 3
			}
			s.waitACLs(ctxFor(t), t, want)
		}
		cl.Close()
	}
	for j := range got[0] {
		if got[0][j] != got[1][j] {
			t.Errorf("\nKafka  %s\nRewind %s", got[0][j], got[1][j])
		}
	}
}
