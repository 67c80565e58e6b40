package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/internal/kafkaref"
	"github.com/rewindhq/rewind/offsettool"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// startACLBroker runs a broker with the standard authorizer: a PLAINTEXT
// listener whose User:ANONYMOUS is a super user (for the CLI), and a
// SASL_PLAINTEXT listener for user alice.
func startACLBroker(t *testing.T) (plainAddr, saslAddr string) {
	t.Helper()
	dir := t.TempDir()
	if err := broker.SetUserPassword(dir, "alice", "alice-secret"); err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(broker.WithDataDir(dir), broker.WithGroupInitialRebalanceDelay(0),
		broker.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		func(c *broker.Config) {
			c.Listeners = []broker.ListenerSpec{{Name: broker.ProtocolPlaintext, Addr: "127.0.0.1:0"}, {Name: broker.ProtocolSASLPlaintext, Addr: "127.0.0.1:0"}}
			c.Authorizer = broker.AuthorizerStandard
			c.SuperUsers = []string{"User:ANONYMOUS"}
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.ListenerAddr(broker.ProtocolPlaintext), b.ListenerAddr(broker.ProtocolSASLPlaintext)
}

// TestACLCommand: rewind acl --add, --list and --remove with
// kafka-acls.sh's flags, and the ACLs they make are the ones the broker
// enforces.
func TestACLCommand(t *testing.T) {
	addr, saslAddr := startACLBroker(t)
	cli(t, addr, "topic", "create", "orders")
	alice, err := kgo.NewClient(kgo.SeedBrokers(saslAddr), kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()),
		kgo.RetryTimeout(2*time.Second), kgo.ConsumeTopics("orders"), kgo.ConsumerGroup("billing"))
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	produce := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return alice.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("x")}).FirstErr()
	}
	if err := produce(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce before any ACL: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}

	out := cli(t, addr, "acl", "--add", "--allow-principal", "User:alice", "--producer", "--topic", "orders")
	if !strings.Contains(out, "Added ACLs: 3") {
		t.Fatalf("--add --producer:\n%s", out)
	}
	if err := produce(); err != nil {
		t.Fatalf("produce with --producer ACLs: %v", err)
	}
	cli(t, addr, "acl", "--add", "--allow-principal", "User:alice", "--consumer", "--topic", "ord", "--group", "bill", "--resource-pattern-type", "prefixed")
	cli(t, addr, "acl", "--add", "--deny-principal", "User:*", "--deny-host", "10.0.0.1", "--operation", "Read", "--operation", "describe-configs", "--topic", "orders")

	var acls []offsettool.ACL
	cliJSON(t, addr, &acls, "acl", "--list")
	if len(acls) != 8 {
		t.Fatalf("--list: %d ACLs, want 8: %+v", len(acls), acls)
	}
	cliJSON(t, addr, &acls, "acl", "--list", "--topic", "orders", "--resource-pattern-type", "match")
	if len(acls) != 7 { // 3 producer, 2 deny (literal) + 2 consumer (prefixed ord)
		t.Fatalf("--list --topic orders match: %d ACLs: %+v", len(acls), acls)
	}
	cliJSON(t, addr, &acls, "acl", "--list", "--topic", "orders")
	if len(acls) != 5 {
		t.Fatalf("--list --topic orders (literal): %d ACLs: %+v", len(acls), acls)
	}
	cliJSON(t, addr, &acls, "acl", "--list", "--principal", "User:*")
	if len(acls) != 2 || acls[0].Permission != "DENY" || acls[0].Host != "10.0.0.1" {
		t.Fatalf("--list --principal User:*: %+v", acls)
	}
	out = cli(t, addr, "acl", "--list", "--group", "bill", "--resource-pattern-type", "prefixed")
	if !strings.Contains(out, "GROUP") || !strings.Contains(out, "PREFIXED") || !strings.Contains(out, "User:alice") {
		t.Fatalf("--list table:\n%s", out)
	}

	// Remove one operation of one principal, then every ACL of a resource.
	cliJSON(t, addr, &acls, "acl", "--remove", "--allow-principal", "User:alice", "--operation", "Write", "--topic", "orders")
	if len(acls) != 1 || acls[0].Operation != "WRITE" {
		t.Fatalf("--remove Write: %+v", acls)
	}
	if err := produce(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce after removing Write: %v", err)
	}
	cliJSON(t, addr, &acls, "acl", "--remove", "--topic", "orders", "--force")
	if len(acls) != 4 {
		t.Fatalf("--remove --topic orders: %+v", acls)
	}
	cliJSON(t, addr, &acls, "acl", "--list")
	if len(acls) != 3 {
		t.Fatalf("left after removals: %+v", acls)
	}

	// Mistakes are refused before anything is sent, in kafka-acls.sh's words.
	cliFail(t, addr, []string{"acl", "--add", "--allow-principal", "alice", "--topic", "t"}, "principalType:principalName")
	cliFail(t, addr, []string{"acl", "--add", "--allow-principal", "User:alice", "--operation", "Write", "--group", "g"}, "ResourceType GROUP only supports operations")
	cliFail(t, addr, []string{"acl", "--add", "--allow-principal", "User:alice", "--topic", "t", "--resource-pattern-type", "match"}, "not valid when adding acls")
	cliFail(t, addr, []string{"acl", "--add", "--topic", "t"}, "--allow-principal")
	cliFail(t, addr, []string{"acl", "--list", "--add"}, "exactly one of")
	cliFail(t, addr, []string{"acl", "--add", "--allow-principal", "User:a", "--consumer", "--topic", "t"}, "--consumer needs --group")
}

// TestACLCommandErrors: a broker without an authorizer, and a principal
// that may not manage ACLs, give errors that say what is missing.
func TestACLCommandErrors(t *testing.T) {
	addr := startPlainBroker(t)
	cliFail(t, addr, []string{"acl", "--list"}, "SECURITY_DISABLED", "--authorizer standard")
	_, saslAddr := startACLBroker(t)
	cl, err := offsettool.Dial(context.Background(), []string{saslAddr}, kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	_, err = cl.CreateACLs(context.Background(), offsettool.ACLSpec{AllowPrincipals: []string{"User:alice"}, Resources: []offsettool.ACLResource{{Type: kmsg.ACLResourceTypeCluster, Name: "kafka-cluster"}}})
	if !errors.Is(err, kerr.ClusterAuthorizationFailed) || !strings.Contains(err.Error(), "ALTER on the cluster") {
		t.Fatalf("alice adding ACLs: %v", err)
	}
}

func startPlainBroker(t *testing.T) string {
	t.Helper()
	b, err := broker.New(broker.WithDataDir(t.TempDir()), broker.WithListen("127.0.0.1:0"),
		broker.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.Addr()
}

// TestACLCommandKafka: against Apache Kafka without an authorizer (the
// shared reference one) the command says what is missing, in Kafka's code
// and with what to set.
func TestACLCommandKafka(t *testing.T) {
	addr := kafkaref.Start(t).Addrs()[0]
	cliFail(t, addr, []string{"acl", "--list"}, "SECURITY_DISABLED", "authorizer.class.name")
	cliFail(t, addr, []string{"acl", "--add", "--allow-principal", "User:alice", "--operation", "Read", "--topic", "t"}, "SECURITY_DISABLED")
}
