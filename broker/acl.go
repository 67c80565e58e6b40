package broker

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"github.com/rewindhq/rewind/acl"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authorization (Kafka's authorizer.class.name): off unless
// Config.Authorizer names one. Without one every request is allowed and
// the ACL APIs answer SECURITY_DISABLED, as Kafka without an authorizer.
//
// With the standard authorizer each handler asks, through
// request.allowed, exactly what Kafka's KafkaApis asks for the same
// request (the file of each API says what), with the connection's
// principal (User:ANONYMOUS, User:<SASL name>, User:<certificate subject>)
// and its client address. The ACLs are the acl package's, stored in
// DataDir/security/acls.json.

// AuthorizerStandard is the value of Config.Authorizer that turns ACLs on.
// Kafka's class names of its authorizers are taken as this one.
const AuthorizerStandard = "standard"

// ParseAuthorizer takes --authorizer: "" (none), "standard", or the
// Kafka class name of its StandardAuthorizer (or the older AclAuthorizer),
// as written in server.properties.
func ParseAuthorizer(s string) (string, error) {
	switch s {
	case "", "none":
		return "", nil
	case AuthorizerStandard, "org.apache.kafka.metadata.authorizer.StandardAuthorizer", "kafka.security.authorizer.AclAuthorizer":
		return AuthorizerStandard, nil
	}
	return "", fmt.Errorf("--authorizer %q: want standard (or org.apache.kafka.metadata.authorizer.StandardAuthorizer), or none", s)
}

// ParseSuperUsers takes super.users: principals separated by semicolons
// (as Kafka's server.properties), or by commas.
func ParseSuperUsers(s string) ([]string, error) {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' }) {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !strings.Contains(p, ":") {
			return nil, fmt.Errorf("--super-users: %q is not a principal (User:name)", p)
		}
		out = append(out, p)
	}
	return out, nil
}

// initAuthorizer loads the ACLs (the data directory locked).
func (b *Broker) initAuthorizer() error {
	switch b.cfg.Authorizer {
	case "":
		if len(b.cfg.SuperUsers) > 0 || b.cfg.AllowEveryoneIfNoACL {
			b.log.Warn("--super-users and --allow-everyone-if-no-acl-found have no effect without --authorizer")
		}
		return nil
	case AuthorizerStandard:
	default:
		return fmt.Errorf("broker: unknown authorizer %q", b.cfg.Authorizer)
	}
	a, err := acl.Open(filepath.Join(b.cfg.DataDir, acl.FileName), acl.Config{
		SuperUsers:   b.cfg.SuperUsers,
		AllowIfNoACL: b.cfg.AllowEveryoneIfNoACL,
	})
	if err != nil {
		return err
	}
	b.sec.authz = a
	return nil
}

// clientHost is the client's address as ACL hosts name it.
func clientHost(nc net.Conn) string {
	host, _, err := net.SplitHostPort(nc.RemoteAddr().String())
	if err != nil {
		return nc.RemoteAddr().String()
	}
	return host
}

// allowed reports whether the request's principal may do op on the
// resource (always, without an authorizer).
func (r *request) allowed(op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	a := r.c.b.sec.authz
	if a == nil {
		return true
	}
	return a.Authorize(r.c.principal(), r.c.sec.host, op, rt, name)
}

// allowedCluster is allowed on the CLUSTER resource.
func (r *request) allowedCluster(op kmsg.ACLOperation) bool {
	return r.allowed(op, kmsg.ACLResourceTypeCluster, acl.ClusterName)
}

// allowedTopic, allowedGroup and allowedTxn are allowed on a TOPIC, GROUP
// or TRANSACTIONAL_ID.
func (r *request) allowedTopic(op kmsg.ACLOperation, name string) bool {
	return r.allowed(op, kmsg.ACLResourceTypeTopic, name)
}

func (r *request) allowedGroup(op kmsg.ACLOperation, name string) bool {
	return r.allowed(op, kmsg.ACLResourceTypeGroup, name)
}

func (r *request) allowedTxn(op kmsg.ACLOperation, name string) bool {
	return r.allowed(op, kmsg.ACLResourceTypeTransactionalId, name)
}

// allowedAnyTopic is Kafka's authorizeByResourceType: op on at least one
// topic.
func (r *request) allowedAnyTopic(op kmsg.ACLOperation) bool {
	a := r.c.b.sec.authz
	if a == nil {
		return true
	}
	return a.AuthorizeByResourceType(r.c.principal(), r.c.sec.host, op, kmsg.ACLResourceTypeTopic)
}
