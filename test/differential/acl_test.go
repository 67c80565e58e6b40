package differential

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/internal/kafkascript"
	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// The authorization matrix against Apache Kafka with its StandardAuthorizer:
// a Kafka of its own (the shared one has no authorizer) with a
// SASL_PLAINTEXT listener for users admin (a super user), alice and bob,
// and an in-process Rewind with the same users and --authorizer standard.
// Each API is sent by alice, holding the ACLs Kafka requires for it, and
// by bob, holding none; bob's error codes must be Kafka's, and neither
// broker may refuse alice.

var aclUsers = []string{"admin", "alice", "bob"}

func freePort(t *testing.T) int { return proctest.FreePort(t) }

// startAuthKafka starts Kafka with the StandardAuthorizer and returns its
// SASL_PLAINTEXT address and its PLAINTEXT one (User:ANONYMOUS, a super
// user there).
func startAuthKafka(t *testing.T) (sasl, plaintext string) {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	script, err := kafkascript.Find(wd)
	if err != nil {
		skipOrFail(t, err)
	}
	port := freePort(t)
	props := filepath.Join(t.TempDir(), "acl.properties")
	jaas := "org.apache.kafka.common.security.plain.PlainLoginModule required"
	for _, u := range aclUsers {
		jaas += fmt.Sprintf(" user_%s=%q", u, u+"-secret")
	}
	conf := fmt.Sprintf(`listeners=PLAINTEXT://127.0.0.1:@BROKER_PORT@,CONTROLLER://127.0.0.1:@CONTROLLER_PORT@,SASL_PLAINTEXT://127.0.0.1:%d
advertised.listeners=PLAINTEXT://127.0.0.1:@BROKER_PORT@,SASL_PLAINTEXT://127.0.0.1:%d
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=%s;
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:admin
`, port, port, jaas)
	if err := os.WriteFile(props, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KAFKA_EXTRA_PROPERTIES", props)
	dir, err := os.MkdirTemp("", "rewind-acl-kafka")
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kafkascript.Start(context.Background(), script, dir, 1)
	if err != nil {
		var me *kafkascript.MissingError
		if errors.As(err, &me) {
			skipOrFail(t, err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { kc.Stop() })
	return fmt.Sprintf("127.0.0.1:%d", port), kc.Addrs[0]
}

func skipOrFail(t *testing.T, err error) {
	t.Helper()
	if os.Getenv("REWIND_KAFKA_REQUIRED") == "1" {
		t.Fatal(err)
	}
	t.Skipf("Apache Kafka cannot run here: %v", err)
}

func startAuthRewind(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, u := range aclUsers {
		if err := broker.SetUserPassword(dir, u, u+"-secret"); err != nil {
			t.Fatal(err)
		}
	}
	b, err := broker.New(broker.WithDataDir(dir), broker.WithGroupInitialRebalanceDelay(0),
		broker.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		func(c *broker.Config) {
			c.Listeners = []broker.ListenerSpec{{Name: broker.ProtocolSASLPlaintext, Addr: "127.0.0.1:0"}}
			c.Authorizer = broker.AuthorizerStandard
			c.SuperUsers = []string{"User:admin"}
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.ListenerAddr(broker.ProtocolSASLPlaintext)
}

func saslClient(t *testing.T, addr, user string) *kgo.Client {
	t.Helper()
	// AddPartitionsToTxn v4+ is broker-to-broker; TxnOffsetCommit v6 names
	// topics by id: clients of these versions are not what is compared.
	vs := kversion.Stable()
	// Produce v13, Fetch v13, OffsetCommit v10 and OffsetFetch v10 name
	// topics by id too; the matrix names them.
	vs.SetMaxKeyVersion(24, 3)
	vs.SetMaxKeyVersion(28, 5)
	vs.SetMaxKeyVersion(0, 12)
	vs.SetMaxKeyVersion(1, 12)
	vs.SetMaxKeyVersion(8, 9)
	vs.SetMaxKeyVersion(9, 9)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(plain.Auth{User: user, Pass: user + "-secret"}.AsMechanism()),
		kgo.MaxVersions(vs), kgo.RetryTimeout(5*time.Second), kgo.RequestRetries(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// authSide is one broker of the comparison.
type authSide struct {
	name              string
	admin, alice, bob *kgo.Client
	node              int32
}

func newAuthSide(t *testing.T, name, addr string) *authSide {
	s := &authSide{name: name, admin: saslClient(t, addr, "admin"), alice: saslClient(t, addr, "alice"), bob: saslClient(t, addr, "bob")}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, s.admin)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	s.node = m.Brokers[0].NodeID
	adm := kadm.NewClient(s.admin)
	for _, topic := range []string{"t", "del", "parts"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic+suffix); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if err := s.admin.ProduceSync(ctx, &kgo.Record{Topic: "t" + suffix, Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if _, err := adm.CommitOffsets(ctx, "g"+suffix, kadm.OffsetsFromRecords(kgo.Record{Topic: "t" + suffix, Partition: 0, Offset: 0})); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

// setACLs replaces every ACL by acls, and waits until the broker's
// authorizer shows them (Kafka's applies them from its metadata log).
func (s *authSide) setACLs(t *testing.T, acls []kmsg.CreateACLsRequestCreation) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	del := kmsg.NewPtrDeleteACLsRequest()
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourcePatternType, f.Operation, f.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	del.Filters = []kmsg.DeleteACLsRequestFilter{f}
	if _, err := del.RequestWith(ctx, s.admin); err != nil {
		t.Fatalf("%s: delete ACLs: %v", s.name, err)
	}
	// None left first, then the new ones: a count alone could match the
	// previous case's ACLs not yet removed.
	s.waitACLs(ctx, t, 0)
	if len(acls) > 0 {
		cr := kmsg.NewPtrCreateACLsRequest()
		cr.Creations = acls
		resp, err := cr.RequestWith(ctx, s.admin)
		if err != nil {
			t.Fatalf("%s: create ACLs: %v", s.name, err)
		}
		for _, r := range resp.Results {
			if r.ErrorCode != 0 {
				t.Fatalf("%s: create ACL: %v", s.name, kerr.ErrorForCode(r.ErrorCode))
			}
		}
	}
	s.waitACLs(ctx, t, len(acls))
}

func (s *authSide) waitACLs(ctx context.Context, t *testing.T, want int) {
	t.Helper()
	for {
		d := kmsg.NewPtrDescribeACLsRequest()
		d.ResourceType, d.ResourcePatternType, d.Operation, d.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
		resp, err := d.RequestWith(ctx, s.admin)
		if err != nil {
			t.Fatalf("%s: describe ACLs: %v", s.name, err)
		}
		n := 0
		for _, r := range resp.Resources {
			n += len(r.ACLs)
		}
		if n == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: the broker shows %d ACLs, want %d", s.name, n, want)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// codes are the nonzero ErrorCode fields of a response, at any depth,
// sorted.
func codes(v any) []int16 {
	var out []int16
	var walk func(reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				f := v.Type().Field(i)
				if f.Name == "ErrorCode" && f.Type.Kind() == reflect.Int16 {
					if c := int16(v.Field(i).Int()); c != 0 {
						out = append(out, c)
					}
				} else if f.IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Slice:
			if v.Type().Elem().Kind() != reflect.Uint8 {
				for i := 0; i < v.Len(); i++ {
					walk(v.Index(i))
				}
			}
		}
	}
	walk(reflect.ValueOf(v))
	slices.Sort(out)
	return out
}

func isAuthCode(c int16) bool {
	return c == kerr.TopicAuthorizationFailed.Code || c == kerr.GroupAuthorizationFailed.Code ||
		c == kerr.ClusterAuthorizationFailed.Code || c == kerr.TransactionalIDAuthorizationFailed.Code
}

func acl(rt kmsg.ACLResourceType, name string, op kmsg.ACLOperation, principal string) kmsg.CreateACLsRequestCreation {
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName, c.ResourcePatternType = rt, name, kmsg.ACLResourcePatternTypeLiteral
	c.Principal, c.Host, c.Operation, c.PermissionType = principal, "*", op, kmsg.ACLPermissionTypeAllow
	return c
}

func TestAuthorizationMatrixKafka(t *testing.T) {
	kafkaAddr, kafkaPlain := startAuthKafka(t)
	sides := []*authSide{newAuthSide(t, "kafka", kafkaAddr), newAuthSide(t, "rewind", startAuthRewind(t))}
	t.Run("ACLAPIs", func(t *testing.T) { compareACLAPIs(t, sides) })
	t.Run("ACLTool", func(t *testing.T) { compareACLTool(t, sides, kafkaPlain) })
	t.Run("SCRAMCredentialAPIs", func(t *testing.T) { compareSCRAMAPIs(t, sides) })
	t.Run("DelegationTokenAPIs", func(t *testing.T) { compareTokenAPIs(t, sides) })
	t.Run("AuthorizedOperations", func(t *testing.T) { compareAuthorizedOperations(t, sides) })
	alice := func(rt kmsg.ACLResourceType, name string, op kmsg.ACLOperation) kmsg.CreateACLsRequestCreation {
		return acl(rt, name, op, "User:alice")
	}
	for _, c := range authMatrixCases("t"+suffix, "g"+suffix, "tx"+suffix) {
		t.Run(c.name, func(t *testing.T) {
			var got [2][]int16
			for i, s := range sides {
				acls := c.acls(alice)
				if c.bobToo != nil {
					acls = append(acls, c.bobToo(func(rt kmsg.ACLResourceType, name string, op kmsg.ACLOperation) kmsg.CreateACLsRequestCreation {
						return acl(rt, name, op, "User:bob")
					})...)
				}
				s.setACLs(t, acls)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				resp, err := s.bob.Broker(int(s.node)).Request(ctx, c.req())
				if err != nil {
					cancel()
					t.Fatalf("%s bob: %v", s.name, err)
				}
				got[i] = codes(resp)
				if c.count != nil {
					got[i] = append(got[i], int16(c.count(resp)))
				}
				aresp, err := s.alice.Broker(int(s.node)).Request(ctx, c.req())
				cancel()
				if err != nil {
					t.Fatalf("%s alice: %v", s.name, err)
				}
				if ac := codes(aresp); slices.ContainsFunc(ac, isAuthCode) {
					t.Errorf("%s refuses alice: codes %v", s.name, ac)
				}
			}
			if !slices.Equal(got[0], got[1]) {
				t.Errorf("bob's answer: Kafka %v, Rewind %v", names(got[0]), names(got[1]))
			}
		})
	}
}

func names(cs []int16) []string {
	var out []string
	for _, c := range cs {
		if e := kerr.ErrorForCode(c); e != nil {
			out = append(out, e.(*kerr.Error).Message)
		} else {
			out = append(out, fmt.Sprint(c))
		}
	}
	return out
}
