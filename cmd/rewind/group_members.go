package main

import (
	"fmt"

	"github.com/rewindhq/rewind/offsettool"
	"github.com/spf13/cobra"
)

// kafka-consumer-groups.sh's --describe options: --members (with
// --verbose) and --all-groups.

func memberFlags(cmd *cobra.Command, members, verbose, allGroups *bool) {
	f := cmd.Flags()
	f.BoolVar(members, "members", false, "list the group's members alone: member id, host, client id, number of partitions (kafka-consumer-groups.sh --members)")
	f.BoolVar(verbose, "verbose", false, "with --members, also each member's assignment")
	f.BoolVar(allGroups, "all-groups", false, "describe every group (kafka-consumer-groups.sh --all-groups)")
}

func describeArgs(cmd *cobra.Command, args []string) error {
	all, _ := cmd.Flags().GetBool("all-groups")
	switch {
	case all && len(args) > 0:
		return fmt.Errorf("--all-groups and GROUP %q conflict: choose one", args[0])
	case !all && len(args) == 0:
		return fmt.Errorf("%s: missing GROUP, or --all-groups (usage: %s)", cmd.CommandPath(), cmd.UseLine())
	case len(args) > 1:
		return fmt.Errorf("%s takes one GROUP; received %d: %q", cmd.CommandPath(), len(args), args)
	}
	return nil
}

// eachGroup runs fn for every group of the cluster, a blank line between
// them.
func eachGroup(c *cliCtx, fn func(group string) error) error {
	ctx, cl, closeClient, err := c.connect()
	if err != nil {
		return err
	}
	gs, err := cl.ListGroups(ctx)
	closeClient()
	if err != nil {
		return err
	}
	for i, g := range gs {
		if i > 0 && !c.json {
			fmt.Fprintln(c.out)
		}
		if err := fn(g.Group); err != nil {
			return fmt.Errorf("group %q: %w", g.Group, err)
		}
	}
	return nil
}

// memberRow is a member as --members --output json prints it.
type memberRow struct {
	Group      string                      `json:"group"`
	MemberID   string                      `json:"member_id"`
	InstanceID string                      `json:"instance_id,omitempty"`
	Host       string                      `json:"host"`
	ClientID   string                      `json:"client_id"`
	Partitions int                         `json:"partitions"`
	Assignment []offsettool.TopicPartition `json:"assignment,omitempty"`
}

// printMembers prints kafka-consumer-groups.sh --describe --members'
// table: GROUP CONSUMER-ID HOST CLIENT-ID #PARTITIONS, and ASSIGNMENT
// with --verbose.
func printMembers(c *cliCtx, s offsettool.GroupSnapshot, verbose bool) error {
	rows := []memberRow{}
	for _, m := range s.Members {
		r := memberRow{Group: s.Group, MemberID: m.ID, InstanceID: m.InstanceID, Host: m.Host, ClientID: m.ClientID, Partitions: len(m.Assigned)}
		if verbose {
			r.Assignment = m.Assigned
		}
		rows = append(rows, r)
	}
	if c.json {
		return c.writeJSON(rows)
	}
	if len(rows) == 0 {
		fmt.Fprintf(c.out, "Consumer group '%s' has no active members.\n", s.Group)
		return nil
	}
	w := newTable(c.out)
	head := []any{"GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"}
	if verbose {
		head = append(head, "ASSIGNMENT")
	}
	row(w, head...)
	for _, r := range rows {
		cells := []any{r.Group, r.MemberID, dash(r.Host), dash(r.ClientID), r.Partitions}
		if verbose {
			cells = append(cells, assignment(r.Assignment))
		}
		row(w, cells...)
	}
	return w.Flush()
}
