package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/rewindhq/rewind/offsettool"
)

// aclNeed is one ACL a command needs: the operation (as rewind acl
// --operation spells it) on a resource.
type aclNeed struct {
	op      string // Read, Write, Describe, Create, Delete, Alter, DescribeConfigs...
	resType string // TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID
	name    string
}

// authCodes maps each authorization error code of Kafka to the resource
// type it refuses.
var authCodes = []struct{ code, resType string }{
	{"TRANSACTIONAL_ID_AUTHORIZATION_FAILED", "TRANSACTIONAL_ID"},
	{"TOPIC_AUTHORIZATION_FAILED", "TOPIC"},
	{"GROUP_AUTHORIZATION_FAILED", "GROUP"},
	{"CLUSTER_AUTHORIZATION_FAILED", "CLUSTER"},
}

// need records what the command is about to ask of the broker: the ACLs
// Kafka's KafkaApis checks for the requests it sends. Called before the
// requests, it costs nothing unless one is refused.
func (c *cliCtx) need(op, resType string, names ...string) {
	if resType == "CLUSTER" {
		names = []string{"kafka-cluster"}
	}
	for _, n := range names {
		c.needs = append(c.needs, aclNeed{op, resType, n})
	}
}

// explainAuth adds to an authorization failure which principal lacks
// which ACL and the rewind acl command that grants it, from what the
// command declared with need. Other errors pass unchanged.
func (c *cliCtx) explainAuth(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	code, resType := "", ""
	for _, a := range authCodes {
		if strings.Contains(msg, a.code) {
			code, resType = a.code, a.resType
			break
		}
	}
	if code == "" || errors.Is(err, offsettool.ErrAuthentication) {
		return err
	}
	principal := c.principal
	if principal == "" {
		principal = "this client's principal"
	}
	var ops, names []string
	seenOp, seenName := map[string]bool{}, map[string]bool{}
	for _, n := range c.needs {
		if n.resType != resType {
			continue
		}
		if !seenOp[n.op] {
			seenOp[n.op] = true
			ops = append(ops, n.op)
		}
		if !seenName[n.name] {
			seenName[n.name] = true
			names = append(names, n.name)
		}
	}
	// READ, WRITE, DELETE and ALTER grant DESCRIBE, ALTER_CONFIGS grants
	// DESCRIBE_CONFIGS (Kafka's StandardAuthorizer): name only what to add.
	implied := map[string]bool{}
	for _, o := range ops {
		switch o {
		case "Read", "Write", "Delete", "Alter":
			implied["Describe"] = true
		case "AlterConfigs":
			implied["DescribeConfigs"] = true
		}
	}
	kept := ops[:0]
	for _, o := range ops {
		if !implied[o] {
			kept = append(kept, o)
		}
	}
	ops = kept
	if len(ops) == 0 {
		return fmt.Errorf("%s: principal %s is not allowed this on a %s; see its ACLs with `rewind acl --list --principal %s`", code, principal, resType, principal)
	}
	sort.Strings(names)
	var upper []string
	for _, o := range ops {
		upper = append(upper, aclOpNames[o])
	}
	what := strings.Join(upper, " and ")
	var res, flags []string
	for _, n := range names {
		flagName := n
		if n == "*" {
			flagName = "'*'" // quoted for the shell
		}
		switch resType {
		case "CLUSTER":
			res = append(res, "the CLUSTER")
			flags = append(flags, "--cluster")
		case "TOPIC":
			res = append(res, "TOPIC "+n)
			flags = append(flags, "--topic "+flagName)
		case "GROUP":
			res = append(res, "GROUP "+n)
			flags = append(flags, "--group "+flagName)
		case "TRANSACTIONAL_ID":
			res = append(res, "TRANSACTIONAL_ID "+n)
			flags = append(flags, "--transactional-id "+flagName)
		}
	}
	var opFlags []string
	for _, o := range ops {
		opFlags = append(opFlags, "--operation "+o)
	}
	return fmt.Errorf("%s: principal %s needs %s on %s: add it with `rewind acl --add --allow-principal %s %s %s` (as a principal allowed to alter ACLs); the broker said: %v",
		code, principal, what, strings.Join(res, ", "), principal, strings.Join(opFlags, " "), strings.Join(flags, " "), err)
}

// aclOpNames are Kafka's names of the operations (as its errors and
// kafka-acls.sh --list print them).
var aclOpNames = map[string]string{
	"Read": "READ", "Write": "WRITE", "Create": "CREATE", "Delete": "DELETE", "Alter": "ALTER",
	"Describe": "DESCRIBE", "DescribeConfigs": "DESCRIBE_CONFIGS", "AlterConfigs": "ALTER_CONFIGS",
	"IdempotentWrite": "IDEMPOTENT_WRITE", "ClusterAction": "CLUSTER_ACTION",
}

// selTopics are the topic names of --topic selections ("*": every topic,
// when none is named).
func selTopics(sels []offsettool.TopicSelection) []string {
	if len(sels) == 0 {
		return []string{"*"}
	}
	var out []string
	for _, s := range sels {
		out = append(out, s.Topic)
	}
	return out
}

// groupsOrAll: the groups named, or "*" for every group.
func groupsOrAll(groups []string) []string {
	var out []string
	for _, g := range groups {
		if g != "" {
			out = append(out, g)
		}
	}
	if len(out) == 0 {
		return []string{"*"}
	}
	return out
}
