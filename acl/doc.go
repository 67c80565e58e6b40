// Package acl is Rewind's authorizer: Kafka's access control lists with the
// semantics of Apache Kafka's StandardAuthorizer, and their durable store.
//
// A Binding is one ACL: a resource pattern (resource type, name, LITERAL
// or PREFIXED) and an entry (principal, host, operation, ALLOW or DENY).
// Authorizer.Authorize answers whether a principal connected from a host
// may do an operation on one named resource:
//
//   - a principal listed in super.users may do everything;
//   - otherwise the ACLs whose pattern matches the resource are those with
//     its exact name (LITERAL), the wildcard name "*" (LITERAL), or a name
//     the resource's name starts with (PREFIXED);
//   - of those, an ACL applies when its principal is the principal or
//     "User:*", its host is the client's address or "*", and its operation
//     is ALL or the operation asked; an ALLOW ACL for READ, WRITE, DELETE
//     or ALTER also grants DESCRIBE, and one for ALTER_CONFIGS grants
//     DESCRIBE_CONFIGS (a DENY ACL denies only its own operation);
//   - any applying DENY denies; else any applying ALLOW allows; else, when
//     no ACL at all matches the resource, allow.everyone.if.no.acl.found
//     decides (default: deny); else deny.
//
// Filters (DescribeAcls, DeleteAcls) follow Kafka's AclBindingFilter: ANY
// matches every value of a field, a nil name, principal or host matches
// every one, and the pattern type MATCH matches the LITERAL and PREFIXED
// ACLs that would apply to the named resource (the wildcard included).
//
// The ACLs live in one JSON file (FileName in the data directory's
// security folder), replaced atomically on every change: written to a
// temporary file, fsynced, renamed over the old one, and the directory
// fsynced, before the change is published or answered. A crash leaves the
// old or the new set, never a mix.
//
//	{"version": 1, "acls": [{"resource_type": "TOPIC", "name": "orders",
//	  "pattern_type": "LITERAL", "principal": "User:alice", "host": "*",
//	  "operation": "READ", "permission": "ALLOW"}, ...]}
package acl
