package main

import (
	"errors"
	"fmt"

	"github.com/rewindhq/rewind/offsettool"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newACLCmd is kafka-acls.sh: the same flags, against Rewind (with
// --authorizer) or any Kafka with an authorizer.
func newACLCmd() *cobra.Command {
	var (
		add, remove, list, cluster, producer, consumer, idempotent, force bool
		allowP, denyP, allowH, denyH, ops, topics, groups, txnIDs         []string
		tokens, users                                                     []string
		patternType, principal, bootstrap                                 string
	)
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Add, remove and list ACLs (as kafka-acls.sh does)",
		Long: `Add, remove and list ACLs with the flags of Apache Kafka's kafka-acls.sh,
through CreateAcls, DeleteAcls and DescribeAcls, against Rewind (started
with --authorizer standard) or any Kafka cluster with an authorizer. The
principal this command connects as needs ALTER on the cluster to add or
remove ACLs and DESCRIBE to list them: a super user, connected with
--command-config (e.g. SASL_SSL as --super-users User:admin), or
--super-users User:ANONYMOUS for a loopback PLAINTEXT listener.

  rewind acl --add --allow-principal User:alice --operation Read --topic orders
  rewind acl --command-config admin.properties --list
  rewind acl --add --allow-principal User:alice --consumer --topic orders --group billing
  rewind acl --add --allow-principal User:bob --producer --topic app- --resource-pattern-type prefixed
  rewind acl --list --topic orders --resource-pattern-type match
  rewind acl --remove --allow-principal User:alice --operation Read --topic orders
  rewind acl --remove --topic orders          (every ACL of the topic)

Every principal × host × resource × operation given is one ACL. --operation
defaults to All; hosts to * (every host). --resource-pattern-type is
literal by default; prefixed adds ACLs on every resource whose name starts
with the name; --list and --remove also take any and match (every ACL that
applies to the named resource, wildcard and prefixes included). --remove
asks no confirmation (--force is accepted for kafka-acls.sh scripts).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n := 0
			for _, b := range []bool{add, remove, list} {
				if b {
					n++
				}
			}
			if n != 1 {
				return errors.New("give exactly one of --add, --remove, --list")
			}
			if bootstrap != "" {
				if err := cmd.Flags().Set(flagBrokers, bootstrap); err != nil {
					return err
				}
			}
			s := offsettool.ACLSpec{AllowPrincipals: allowP, DenyPrincipals: denyP, AllowHosts: allowH, DenyHosts: denyH, Principal: principal}
			if patternType != "" {
				pt, err := kmsg.ParseACLResourcePatternType(patternType)
				if err != nil {
					return fmt.Errorf("--resource-pattern-type %q: use literal, prefixed, any or match", patternType)
				}
				s.PatternType = pt
			}
			for _, o := range ops {
				op, err := kmsg.ParseACLOperation(o)
				if err != nil || op <= kmsg.ACLOperationAny {
					return fmt.Errorf("--operation %q: use one of All, Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, CreateTokens, DescribeTokens", o)
				}
				s.Operations = append(s.Operations, op)
			}
			addRes := func(rt kmsg.ACLResourceType, names []string) {
				for _, n := range names {
					s.Resources = append(s.Resources, offsettool.ACLResource{Type: rt, Name: n})
				}
			}
			addRes(kmsg.ACLResourceTypeTopic, topics)
			addRes(kmsg.ACLResourceTypeGroup, groups)
			addRes(kmsg.ACLResourceTypeTransactionalId, txnIDs)
			addRes(kmsg.ACLResourceTypeDelegationToken, tokens)
			addRes(kmsg.ACLResourceTypeUser, users)
			if cluster || (producer && idempotent) {
				addRes(kmsg.ACLResourceTypeCluster, []string{"kafka-cluster"})
			}
			if producer || consumer {
				if !add && !remove {
					return errors.New("--producer and --consumer go with --add or --remove")
				}
				if len(ops) > 0 {
					return errors.New("--operation cannot be given with --producer or --consumer")
				}
				if len(topics) == 0 {
					return errors.New("--producer and --consumer need --topic")
				}
				s.OperationsOf = map[kmsg.ACLResourceType][]kmsg.ACLOperation{}
				if producer && consumer {
					return errors.New("give --producer or --consumer, not both")
				}
				if producer {
					s.OperationsOf[kmsg.ACLResourceTypeTopic] = []kmsg.ACLOperation{kmsg.ACLOperationWrite, kmsg.ACLOperationDescribe, kmsg.ACLOperationCreate}
					s.OperationsOf[kmsg.ACLResourceTypeTransactionalId] = []kmsg.ACLOperation{kmsg.ACLOperationWrite, kmsg.ACLOperationDescribe}
					s.OperationsOf[kmsg.ACLResourceTypeCluster] = []kmsg.ACLOperation{kmsg.ACLOperationIdempotentWrite}
				} else {
					if len(groups) == 0 {
						return errors.New("--consumer needs --group")
					}
					s.OperationsOf[kmsg.ACLResourceTypeTopic] = []kmsg.ACLOperation{kmsg.ACLOperationRead, kmsg.ACLOperationDescribe}
					s.OperationsOf[kmsg.ACLResourceTypeGroup] = []kmsg.ACLOperation{kmsg.ACLOperationRead}
				}
			}
			c, err := newCLI(cmd)
			if err != nil {
				return err
			}
			if list {
				c.need("Describe", "CLUSTER")
			} else {
				c.need("Alter", "CLUSTER")
			}
			ctx, cl, done, err := c.connect()
			if err != nil {
				return c.explainAuth(err)
			}
			defer done()
			var acls []offsettool.ACL
			verb := "Current"
			switch {
			case add:
				verb = "Added"
				acls, err = cl.CreateACLs(ctx, s)
			case remove:
				verb = "Removed"
				acls, err = cl.DeleteACLs(ctx, s)
			default:
				acls, err = cl.ListACLs(ctx, s)
			}
			if err != nil {
				return c.explainAuth(err)
			}
			if c.json {
				if acls == nil {
					acls = []offsettool.ACL{}
				}
				return c.writeJSON(acls)
			}
			fmt.Fprintf(c.out, "%s ACLs: %d\n", verb, len(acls))
			if len(acls) == 0 {
				return nil
			}
			w := newTable(c.out)
			row(w, "RESOURCE", "NAME", "PATTERN", "PRINCIPAL", "HOST", "OPERATION", "PERMISSION")
			for _, a := range acls {
				row(w, a.ResourceType, a.Name, a.PatternType, a.Principal, a.Host, a.Operation, a.Permission)
			}
			return w.Flush()
		},
	}
	f := cmd.Flags()
	f.BoolVar(&add, "add", false, "add ACLs")
	f.BoolVar(&remove, "remove", false, "remove ACLs")
	f.BoolVar(&list, "list", false, "list ACLs (of the resources given, else all)")
	f.StringArrayVar(&allowP, "allow-principal", nil, "principal to allow (User:name; User:* for everyone); repeatable")
	f.StringArrayVar(&denyP, "deny-principal", nil, "principal to deny; repeatable")
	f.StringArrayVar(&allowH, "allow-host", nil, "host (IP address) the allowed principals connect from (default *); repeatable")
	f.StringArrayVar(&denyH, "deny-host", nil, "host the denied principals connect from (default *); repeatable")
	f.StringArrayVar(&ops, "operation", nil, "operation: All (default), Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite; repeatable")
	f.StringArrayVar(&topics, "topic", nil, "topic (with --resource-pattern-type prefixed: a prefix; * for every topic); repeatable")
	f.StringArrayVar(&groups, "group", nil, "consumer group; repeatable")
	f.StringArrayVar(&txnIDs, "transactional-id", nil, "transactional id; repeatable")
	f.StringArrayVar(&tokens, "delegation-token", nil, "delegation token id; repeatable")
	f.StringArrayVar(&users, "user-principal", nil, "user principal (for CreateTokens, DescribeTokens); repeatable")
	f.BoolVar(&cluster, "cluster", false, "the cluster resource (kafka-cluster)")
	f.StringVar(&patternType, "resource-pattern-type", "", "literal (default), prefixed; --list and --remove also any, match")
	f.StringVar(&principal, "principal", "", "--list: only the ACLs of this principal")
	f.BoolVar(&producer, "producer", false, "the ACLs of a producer: Write, Describe, Create on --topic (Write, Describe on --transactional-id)")
	f.BoolVar(&consumer, "consumer", false, "the ACLs of a consumer: Read, Describe on --topic, Read on --group")
	f.BoolVar(&idempotent, "idempotent", false, "with --producer: IdempotentWrite on the cluster too")
	f.BoolVar(&force, "force", false, "accepted for kafka-acls.sh scripts: --remove never asks")
	f.StringVar(&bootstrap, "bootstrap-server", "", "kafka-acls.sh's name for --brokers")
	return cmd
}
