package acl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Wildcard is the resource name, principal name and host that match any.
const Wildcard = "*"

// WildcardPrincipal is the principal that matches every principal.
const WildcardPrincipal = "User:*"

// ClusterName is the name of the one CLUSTER resource.
const ClusterName = "kafka-cluster"

// Binding is one ACL.
type Binding struct {
	ResourceType kmsg.ACLResourceType        `json:"resource_type"`
	Name         string                      `json:"name"`
	PatternType  kmsg.ACLResourcePatternType `json:"pattern_type"`
	Principal    string                      `json:"principal"`
	Host         string                      `json:"host"`
	Operation    kmsg.ACLOperation           `json:"operation"`
	Permission   kmsg.ACLPermissionType      `json:"permission"`
}

func (b Binding) String() string {
	return fmt.Sprintf("(%s:%s:%s, %s from %s: %s %s)", b.ResourceType, b.PatternType, b.Name, b.Principal, b.Host, b.Permission, b.Operation)
}

// ErrInvalid marks an ACL or filter that Kafka answers with INVALID_REQUEST.
var ErrInvalid = errors.New("invalid")

// invalidError carries Kafka's message alone; errors.Is(err, ErrInvalid).
type invalidError string

func (e invalidError) Error() string        { return string(e) }
func (e invalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(format string, args ...any) error {
	return invalidError(fmt.Sprintf(format, args...))
}

// Validate checks a new ACL as Kafka's broker (AclApis) and controller
// (AclControlManager.validateNewAcl) do.
func (b Binding) Validate() error {
	switch b.ResourceType {
	case kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup, kmsg.ACLResourceTypeCluster,
		kmsg.ACLResourceTypeTransactionalId, kmsg.ACLResourceTypeDelegationToken, kmsg.ACLResourceTypeUser:
	default:
		return invalid("Invalid resourceType %s", b.ResourceType)
	}
	if b.ResourceType == kmsg.ACLResourceTypeCluster && b.Name != ClusterName {
		return invalid("The only valid name for the CLUSTER resource is %s", ClusterName)
	}
	if b.Name == "" {
		return invalid("Invalid empty resource name")
	}
	if b.PatternType != kmsg.ACLResourcePatternTypeLiteral && b.PatternType != kmsg.ACLResourcePatternTypePrefixed {
		return invalid("Invalid patternType %s", b.PatternType)
	}
	if b.Operation <= kmsg.ACLOperationAny || b.Operation > kmsg.ACLOperationDescribeTokens {
		return invalid("Invalid operation %s", b.Operation)
	}
	if b.Permission != kmsg.ACLPermissionTypeAllow && b.Permission != kmsg.ACLPermissionTypeDeny {
		return invalid("Invalid permissionType %s", b.Permission)
	}
	if !strings.Contains(b.Principal, ":") {
		return invalid("expected a string in format principalType:principalName but got %s", b.Principal)
	}
	return nil
}

// Filter selects ACLs (DescribeAcls, DeleteAcls). Nil Name, Principal or
// Host match every value; ResourceType, Operation and Permission ANY, and
// PatternType ANY or MATCH, likewise.
type Filter struct {
	ResourceType kmsg.ACLResourceType
	Name         *string
	PatternType  kmsg.ACLResourcePatternType
	Principal    *string
	Host         *string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}

// Known reports whether every field is a value Kafka knows (not UNKNOWN,
// and not a code past the last): Kafka cannot parse a DescribeAcls or
// DeleteAcls request with another, and closes the connection.
func (f Filter) Known() bool {
	return f.ResourceType > kmsg.ACLResourceTypeUnknown && f.ResourceType <= kmsg.ACLResourceTypeUser &&
		f.PatternType > kmsg.ACLResourcePatternTypeUnknown && f.PatternType <= kmsg.ACLResourcePatternTypePrefixed &&
		f.Operation > kmsg.ACLOperationUnknown && f.Operation <= kmsg.ACLOperationDescribeTokens &&
		f.Permission > kmsg.ACLPermissionTypeUnknown && f.Permission <= kmsg.ACLPermissionTypeAllow
}

// Specific reports why b names no one ACL, as Kafka's ResourcePattern and
// AccessControlEntry refuse to be built (ANY resource type, ANY or MATCH
// pattern, ANY operation or permission), or "". Kafka then fails the
// whole CreateAcls request.
func (b Binding) Specific() string {
	switch {
	case b.ResourceType == kmsg.ACLResourceTypeAny:
		return "resourceType must not be ANY"
	case b.PatternType == kmsg.ACLResourcePatternTypeMatch || b.PatternType == kmsg.ACLResourcePatternTypeAny:
		return "patternType must not be " + b.PatternType.String()
	case b.Operation == kmsg.ACLOperationAny:
		return "operation must not be ANY"
	case b.Permission == kmsg.ACLPermissionTypeAny:
		return "permissionType must not be ANY"
	}
	return ""
}

// Validate refuses a filter with an UNKNOWN field, as Kafka does.
func (f Filter) Validate() error {
	if f.ResourceType == kmsg.ACLResourceTypeUnknown || f.PatternType == kmsg.ACLResourcePatternTypeUnknown {
		return invalid("Unknown patternFilter.")
	}
	if f.Operation == kmsg.ACLOperationUnknown || f.Permission == kmsg.ACLPermissionTypeUnknown {
		return invalid("Unknown entryFilter.")
	}
	return nil
}

// Matches is Kafka's AclBindingFilter.matches.
func (f Filter) Matches(b Binding) bool {
	if f.ResourceType != kmsg.ACLResourceTypeAny && f.ResourceType != b.ResourceType {
		return false
	}
	anyPattern := f.PatternType == kmsg.ACLResourcePatternTypeAny
	if !anyPattern && f.PatternType != kmsg.ACLResourcePatternTypeMatch && f.PatternType != b.PatternType {
		return false
	}
	if f.Name != nil {
		switch {
		case anyPattern || f.PatternType == b.PatternType:
			if *f.Name != b.Name {
				return false
			}
		case b.PatternType == kmsg.ACLResourcePatternTypeLiteral: // MATCH
			if *f.Name != b.Name && b.Name != Wildcard {
				return false
			}
		case b.PatternType == kmsg.ACLResourcePatternTypePrefixed: // MATCH
			if !strings.HasPrefix(*f.Name, b.Name) {
				return false
			}
		default:
			return false
		}
	}
	if f.Principal != nil && *f.Principal != b.Principal {
		return false
	}
	if f.Host != nil && *f.Host != b.Host {
		return false
	}
	if f.Operation != kmsg.ACLOperationAny && f.Operation != b.Operation {
		return false
	}
	return f.Permission == kmsg.ACLPermissionTypeAny || f.Permission == b.Permission
}

// applies reports what acl says of op by principal from host, the
// resource name already matched (Kafka's StandardAuthorizerData.findResult):
// 0 nothing, +1 allow, -1 deny.
func applies(acl *Binding, principal, host string, op kmsg.ACLOperation) int {
	if acl.Principal != principal && acl.Principal != WildcardPrincipal {
		return 0
	}
	if acl.Host != Wildcard && acl.Host != host {
		return 0
	}
	if acl.Operation != kmsg.ACLOperationAll {
		if acl.Permission == kmsg.ACLPermissionTypeAllow {
			switch op {
			case kmsg.ACLOperationDescribe:
				switch acl.Operation {
				case kmsg.ACLOperationDescribe, kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDelete, kmsg.ACLOperationAlter:
				default:
					return 0
				}
			case kmsg.ACLOperationDescribeConfigs:
				if acl.Operation != kmsg.ACLOperationDescribeConfigs && acl.Operation != kmsg.ACLOperationAlterConfigs {
					return 0
				}
			default:
				if acl.Operation != op {
					return 0
				}
			}
		} else if acl.Operation != op {
			return 0
		}
	}
	if acl.Permission == kmsg.ACLPermissionTypeAllow {
		return 1
	}
	return -1
}
