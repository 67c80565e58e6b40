package offsettool

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ACL management as Kafka's kafka-acls.sh (AclCommand) does it, with
// CreateAcls, DescribeAcls and DeleteAcls, against Rewind or any Kafka.

// ACLResource is one resource named on the command line.
type ACLResource struct {
	Type kmsg.ACLResourceType
	Name string
}

// ACLSpec is what kafka-acls.sh's flags describe: every principal ×
// host × resource × operation, allowed or denied.
type ACLSpec struct {
	Resources       []ACLResource
	PatternType     kmsg.ACLResourcePatternType // LITERAL when unset
	AllowPrincipals []string
	DenyPrincipals  []string
	AllowHosts      []string // default "*" when there are allow principals
	DenyHosts       []string
	// Operations per resource type (the --producer and --consumer
	// shorthands differ by type); Operations when a type is not in it.
	Operations   []kmsg.ACLOperation
	OperationsOf map[kmsg.ACLResourceType][]kmsg.ACLOperation
	Principal    string // --list: only this principal's ACLs
}

// ACL is one ACL, as listed and printed.
type ACL struct {
	ResourceType string `json:"resource_type"`
	Name         string `json:"name"`
	PatternType  string `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
}

// validOps is AclCommand's ResourceTypeToValidOperations.
var validOps = map[kmsg.ACLResourceType][]kmsg.ACLOperation{
	kmsg.ACLResourceTypeTopic: {kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate, kmsg.ACLOperationDescribe,
		kmsg.ACLOperationDelete, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationAll},
	kmsg.ACLResourceTypeGroup: {kmsg.ACLOperationRead, kmsg.ACLOperationDescribe, kmsg.ACLOperationDelete,
		kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationAll},
	kmsg.ACLResourceTypeCluster: {kmsg.ACLOperationCreate, kmsg.ACLOperationClusterAction, kmsg.ACLOperationDescribeConfigs,
		kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe, kmsg.ACLOperationAll},
	kmsg.ACLResourceTypeTransactionalId: {kmsg.ACLOperationDescribe, kmsg.ACLOperationWrite, kmsg.ACLOperationAll},
	kmsg.ACLResourceTypeDelegationToken: {kmsg.ACLOperationDescribe, kmsg.ACLOperationAll},
	kmsg.ACLResourceTypeUser:            {kmsg.ACLOperationCreateTokens, kmsg.ACLOperationDescribeTokens, kmsg.ACLOperationAll},
}

func (s *ACLSpec) ops(rt kmsg.ACLResourceType) []kmsg.ACLOperation {
	if ops, ok := s.OperationsOf[rt]; ok {
		return ops
	}
	if len(s.Operations) == 0 {
		return []kmsg.ACLOperation{kmsg.ACLOperationAll}
	}
	return s.Operations
}

func (s *ACLSpec) pattern() kmsg.ACLResourcePatternType {
	if s.PatternType == kmsg.ACLResourcePatternTypeUnknown {
		return kmsg.ACLResourcePatternTypeLiteral
	}
	return s.PatternType
}

type aclEntry struct {
	principal, host string
	op              kmsg.ACLOperation
	perm            kmsg.ACLPermissionType
}

// entries are the principal × host × operation entries of rt.
func (s *ACLSpec) entries(rt kmsg.ACLResourceType) ([]aclEntry, error) {
	var out []aclEntry
	for _, op := range s.ops(rt) {
		if !slices.Contains(validOps[rt], op) {
			var names []string
			for _, o := range validOps[rt] {
				names = append(names, o.String())
			}
			return nil, fmt.Errorf("ResourceType %s only supports operations %s", rt, strings.Join(names, ","))
		}
		add := func(principals, hosts []string, perm kmsg.ACLPermissionType) {
			if len(hosts) == 0 {
				hosts = []string{"*"}
			}
			for _, p := range principals {
				for _, h := range hosts {
					out = append(out, aclEntry{p, h, op, perm})
				}
			}
		}
		add(s.AllowPrincipals, s.AllowHosts, kmsg.ACLPermissionTypeAllow)
		add(s.DenyPrincipals, s.DenyHosts, kmsg.ACLPermissionTypeDeny)
	}
	return out, nil
}

// checkPrincipals refuses a principal without its type, as AclCommand
// does (SecurityUtils.parseKafkaPrincipal).
func checkPrincipals(ps ...string) error {
	for _, p := range ps {
		if !strings.Contains(p, ":") {
			return fmt.Errorf("principal %q: expected a string in format principalType:principalName, e.g. User:%s", p, p)
		}
	}
	return nil
}

// CreateACLs adds the spec's ACLs and returns them.
func (c *Client) CreateACLs(ctx context.Context, s ACLSpec) ([]ACL, error) {
	if len(s.Resources) == 0 {
		return nil, fmt.Errorf("you must specify one of: --topic, --cluster, --group, --transactional-id, --delegation-token, --user-principal when using --add")
	}
	if len(s.AllowPrincipals)+len(s.DenyPrincipals) == 0 {
		return nil, fmt.Errorf("you must specify one of: --allow-principal, --deny-principal when trying to add ACLs")
	}
	if err := checkPrincipals(append(s.AllowPrincipals, s.DenyPrincipals...)...); err != nil {
		return nil, err
	}
	pt := s.pattern()
	if pt != kmsg.ACLResourcePatternTypeLiteral && pt != kmsg.ACLResourcePatternTypePrefixed {
		return nil, fmt.Errorf("a '--resource-pattern-type' value of '%s' is not valid when adding acls", pt)
	}
	req := kmsg.NewPtrCreateACLsRequest()
	var out []ACL
	for _, r := range s.Resources {
		es, err := s.entries(r.Type)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			cr := kmsg.NewCreateACLsRequestCreation()
			cr.ResourceType, cr.ResourceName, cr.ResourcePatternType = r.Type, r.Name, pt
			cr.Principal, cr.Host, cr.Operation, cr.PermissionType = e.principal, e.host, e.op, e.perm
			req.Creations = append(req.Creations, cr)
			out = append(out, ACL{r.Type.String(), r.Name, pt.String(), e.principal, e.host, e.op.String(), e.perm.String()})
		}
	}
	resp, err := req.RequestWith(ctx, c.kcl)
	if err != nil {
		return nil, fmt.Errorf("create ACLs: %v", oneLine(err))
	}
	for i, r := range resp.Results {
		if err := aclError(r.ErrorCode, r.ErrorMessage); err != nil {
			return nil, fmt.Errorf("ACL %s %s on %s:%s:%s: %w", out[i].Permission, out[i].Operation, out[i].ResourceType, out[i].PatternType, out[i].Name, err)
		}
	}
	return out, nil
}

func aclError(code int16, msg *string) error {
	if code == 0 {
		return nil
	}
	err := kerr.ErrorForCode(code)
	switch {
	case code == kerr.SecurityDisabled.Code:
		return fmt.Errorf("%w (the broker has no authorizer: start rewind serve with --authorizer standard, or set authorizer.class.name in Kafka)", err)
	case code == kerr.ClusterAuthorizationFailed.Code:
		return fmt.Errorf("%w (managing ACLs needs ALTER on the cluster, listing them DESCRIBE: run as a super user)", err)
	case msg != nil && *msg != "":
		return fmt.Errorf("%w: %s", err, *msg)
	}
	return err
}

// ListACLs lists the ACLs of the spec's resources (all when it names none)
// or of its principal.
func (c *Client) ListACLs(ctx context.Context, s ACLSpec) ([]ACL, error) {
	var filters []kmsg.DescribeACLsRequest
	base := kmsg.NewDescribeACLsRequest()
	base.ResourceType, base.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	base.Operation, base.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	if s.Principal != "" {
		if err := checkPrincipals(s.Principal); err != nil {
			return nil, err
		}
		base.Principal = kmsg.StringPtr(s.Principal)
	}
	if len(s.Resources) == 0 {
		if s.PatternType != kmsg.ACLResourcePatternTypeUnknown {
			base.ResourcePatternType = s.PatternType
		}
		filters = append(filters, base)
	}
	for _, r := range s.Resources {
		f := base
		f.ResourceType, f.ResourceName, f.ResourcePatternType = r.Type, kmsg.StringPtr(r.Name), s.pattern()
		filters = append(filters, f)
	}
	var out []ACL
	for _, f := range filters {
		resp, err := f.RequestWith(ctx, c.kcl)
		if err != nil {
			return nil, fmt.Errorf("describe ACLs: %v", oneLine(err))
		}
		if err := aclError(resp.ErrorCode, resp.ErrorMessage); err != nil {
			return nil, err
		}
		for _, res := range resp.Resources {
			for _, a := range res.ACLs {
				out = append(out, ACL{res.ResourceType.String(), res.ResourceName, res.ResourcePatternType.String(), a.Principal, a.Host, a.Operation.String(), a.PermissionType.String()})
			}
		}
	}
	sortACLs(out)
	return slices.Compact(out), nil
}

// DeleteACLs removes the spec's ACLs and returns those removed: with
// principals, the exact entries they name (host "*" unless hosts are
// given); without, every ACL of each resource, as AclCommand does.
func (c *Client) DeleteACLs(ctx context.Context, s ACLSpec) ([]ACL, error) {
	if len(s.Resources) == 0 {
		return nil, fmt.Errorf("you must specify one of: --topic, --cluster, --group, --transactional-id, --delegation-token, --user-principal when using --remove")
	}
	if err := checkPrincipals(append(s.AllowPrincipals, s.DenyPrincipals...)...); err != nil {
		return nil, err
	}
	req := kmsg.NewPtrDeleteACLsRequest()
	for _, r := range s.Resources {
		f := kmsg.NewDeleteACLsRequestFilter()
		f.ResourceType, f.ResourceName, f.ResourcePatternType = r.Type, kmsg.StringPtr(r.Name), s.pattern()
		if len(s.AllowPrincipals)+len(s.DenyPrincipals) == 0 {
			f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
			req.Filters = append(req.Filters, f)
			continue
		}
		es, err := s.entries(r.Type)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			ef := f
			ef.Principal, ef.Host, ef.Operation, ef.PermissionType = kmsg.StringPtr(e.principal), kmsg.StringPtr(e.host), e.op, e.perm
			req.Filters = append(req.Filters, ef)
		}
	}
	resp, err := req.RequestWith(ctx, c.kcl)
	if err != nil {
		return nil, fmt.Errorf("delete ACLs: %v", oneLine(err))
	}
	var out []ACL
	for _, r := range resp.Results {
		if err := aclError(r.ErrorCode, r.ErrorMessage); err != nil {
			return out, err
		}
		for _, m := range r.MatchingACLs {
			if err := aclError(m.ErrorCode, m.ErrorMessage); err != nil {
				return out, err
			}
			out = append(out, ACL{m.ResourceType.String(), m.ResourceName, m.ResourcePatternType.String(), m.Principal, m.Host, m.Operation.String(), m.PermissionType.String()})
		}
	}
	sortACLs(out)
	return out, nil
}

func sortACLs(as []ACL) {
	sort.SliceStable(as, func(i, j int) bool {
		a, b := as[i], as[j]
		if a.ResourceType != b.ResourceType {
			return a.ResourceType < b.ResourceType
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.PatternType != b.PatternType {
			return a.PatternType < b.PatternType
		}
		if a.Principal != b.Principal {
			return a.Principal < b.Principal
		}
		if a.Host != b.Host {
			return a.Host < b.Host
		}
		if a.Operation != b.Operation {
			return a.Operation < b.Operation
		}
		return a.Permission < b.Permission
	})
}
