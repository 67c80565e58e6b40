package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/rewindhq/rewind/offsettool"
	"github.com/spf13/cobra"
)

// resetTargets are the mutually exclusive reset options, in
// kafka-consumer-groups' order.
var resetTargets = []string{"to-earliest", "to-latest", "to-offset", "shift-by", "to-datetime", "by-duration", "to-current", "to-committed-at", "to-group", "from-file"}

func newGroupResetCmd() *cobra.Command {
	var (
		topics      []string
		allTopics   bool
		toOffset    int64
		shiftBy     int64
		toDatetime  string
		byDuration  string
		committedAt string
		toGroup     string
		fromFile    string
		execute     bool
		export      bool
		allGroups   bool
	)
	cmd := &cobra.Command{
		Use: "reset (GROUP | --all-groups) (--topic T[:p,p] | --all-topics) TARGET [--execute]",
		// kafka-consumer-groups.sh --reset-offsets, rpk group seek.
		SuggestFor: []string{"reset-offsets", "seek"},
		Short:      "Move a group's committed offsets: dry run by default, --execute applies",
		Long: `Move a group's committed offsets, as kafka-consumer-groups.sh --reset-offsets
does. Exactly one target:

  --to-earliest            the log start (replay everything still kept)
  --to-latest              the log end (skip everything not yet read)
  --to-offset N            offset N on every selected partition
  --shift-by N             the current offset plus N (negative: replay N)
  --to-datetime TIME       the first record at or after TIME (RFC 3339)
  --by-duration D          the first record at or after now minus D (90m, 36h,
                           or ISO 8601 as kafka-consumer-groups.sh: PT3H, P1DT2H)
  --to-current             the committed offset (the log end where there is none),
                           as kafka-consumer-groups.sh: seeds a group, or --export
  --to-committed-at TIME   where the group itself stood at TIME, from its commit
                           history in __consumer_offsets (RFC 3339 or a duration ago)
  --to-group OTHER         OTHER's committed offsets, as rpk group seek --to-group
                           (partitions OTHER never committed to are left alone)
  --from-file CSV          kafka-consumer-groups' file: topic,partition,offset per
                           line (group first for several groups; a header is skipped)

--export prints the plan as that CSV instead of a table (what --from-file
reads back). --all-groups resets every group, each on the --topic
partitions or, with --all-topics, on its own.

Without --execute nothing changes: the plan shows, per partition, the
current and new offset and how many records the group will replay or skip.
--execute commits the plan; it is refused while the group has active
members (they would overwrite it with their next commit), naming them.

Targets outside [log start, log end]: --to-offset and --from-file are
refused (a mistyped offset must not silently become another);
--shift-by and --to-committed-at are clamped to the log, as
kafka-consumer-groups clamps, and the plan says "clamped".`,
		Example: `  rewind group reset orders-service --topic orders --to-earliest
  rewind group reset orders-service --topic orders --to-earliest --execute
  rewind group reset orders-service --all-topics --to-committed-at 2026-01-02T09:00:00Z --execute
  rewind group reset orders-service --topic orders:0,1 --shift-by -100
  rewind group reset orders-service --all-topics --to-current --export > offsets.csv
  rewind group reset orders-service --from-file offsets.csv --execute
  rewind group reset orders-service --topic orders --by-duration PT3H`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch all, _ := cmd.Flags().GetBool("all-groups"); {
			case all && len(args) > 0:
				return fmt.Errorf("--all-groups and GROUP %q conflict: choose one", args[0])
			case !all && len(args) != 1:
				return fmt.Errorf("reset needs the GROUP to reset (or --all-groups); received %d argument(s)", len(args))
			}
			return nil
		},
		RunE: runE(func(c *cliCtx, args []string) error {
			group := ""
			if len(args) > 0 {
				group = args[0]
			}
			fl := c.cmd.Flags()
			var chosen []string
			for _, name := range resetTargets {
				if fl.Changed(name) {
					chosen = append(chosen, "--"+name)
				}
			}
			switch {
			case len(chosen) == 0:
				return fmt.Errorf("choose one reset target: --%s", strings.Join(resetTargets, ", --"))
			case len(chosen) > 1:
				return fmt.Errorf("%s conflict: choose exactly one reset target", strings.Join(chosen, " and "))
			}
			if execute && fl.Changed("dry-run") {
				return fmt.Errorf("--dry-run and --execute conflict: choose one")
			}
			target := offsettool.Target{Kind: offsettool.TargetKind(strings.TrimPrefix(chosen[0], "--"))}
			sels, err := parseSelections(topics)
			if err != nil {
				return err
			}
			now := time.Now()
			switch target.Kind {
			case offsettool.FromFile:
				if len(sels) > 0 {
					return fmt.Errorf("--from-file and --topic conflict: the file names its own partitions")
				}
				if allTopics {
					return fmt.Errorf("--from-file and --all-topics conflict: the file names its own partitions")
				}
				if _, err := os.Stat(fromFile); err != nil {
					return fmt.Errorf("--from-file: %w", err)
				}
			default:
				switch {
				case len(sels) > 0 && allTopics:
					return fmt.Errorf("--topic and --all-topics conflict: choose one")
				case len(sels) == 0 && !allTopics:
					return fmt.Errorf("name the partitions to reset with --topic T[:p,p] or --all-topics")
				}
			}
			switch target.Kind {
			case offsettool.ToOffset:
				if toOffset < 0 {
					return fmt.Errorf("--to-offset %d: offsets are not negative; use --to-earliest or --to-latest", toOffset)
				}
				target.Offset = toOffset
			case offsettool.ShiftBy:
				target.Shift = shiftBy
			case offsettool.ToDatetime:
				if target.Time, err = parseTimeArg("to-datetime", toDatetime, now); err != nil {
					return err
				}
			case offsettool.ByDuration:
				d, err := offsettool.ParseDuration(byDuration)
				if err != nil {
					return fmt.Errorf("--by-duration %v", err)
				}
				if d <= 0 {
					return fmt.Errorf("--by-duration %q: use a positive duration like 90m, 36h or PT3H", byDuration)
				}
				target.Time = now.Add(-d)
			case offsettool.ToGroup:
				if toGroup == "" {
					return fmt.Errorf("--to-group needs the group whose offsets to copy")
				}
				target.Group = toGroup
			case offsettool.ToCommittedAt:
				if target.Time, err = parseTimeArg("to-committed-at", committedAt, now); err != nil {
					return err
				}
			}

			c.need("Read", "GROUP", groupsOrAll([]string{group})...)
			c.need("Read", "TOPIC", selTopics(sels)...)
			ctx, cl, closeClient, err := c.connect()
			if err != nil {
				return err
			}
			defer closeClient()
			groups := []string{group}
			if allGroups {
				gs, err := cl.ListGroups(ctx)
				if err != nil {
					return err
				}
				groups = groups[:0]
				for _, g := range gs {
					groups = append(groups, g.Group)
				}
				if len(groups) == 0 {
					return fmt.Errorf("--all-groups: the cluster has no groups")
				}
			}
			var plans []offsettool.Plan
			for _, group := range groups {
				plan, s, err := planGroup(ctx, c, cl, group, sels, allTopics, target, fromFile, toGroup)
				if err != nil {
					if allGroups {
						err = fmt.Errorf("group %q: %w", group, err)
					}
					return err
				}
				if execute {
					if err := cl.ExecuteReset(ctx, &plan); err != nil {
						return err
					}
				}
				plans = append(plans, plan)
				if !export && !c.json {
					if err := printPlan(c, s, plan); err != nil {
						return err
					}
				}
			}
			switch {
			case export:
				return offsettool.ExportCSV(c.out, plans)
			case c.json && !allGroups:
				return c.writeJSON(plans[0])
			case c.json:
				return c.writeJSON(plans)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringArrayVarP(&topics, "topic", "t", nil, "TOPIC or TOPIC:0,1 to reset (repeatable)")
	f.BoolVar(&allTopics, "all-topics", false, "every topic the group has committed offsets for")
	f.BoolVar(&allGroups, "all-groups", false, "reset every group (kafka-consumer-groups.sh --all-groups)")
	f.Bool("to-earliest", false, "reset to the log start")
	f.Bool("to-latest", false, "reset to the log end")
	f.Int64Var(&toOffset, "to-offset", 0, "reset to this offset")
	f.Int64Var(&shiftBy, "shift-by", 0, "move the committed offset by N (negative replays)")
	f.StringVar(&toDatetime, "to-datetime", "", "reset to the first record at or after this RFC 3339 time")
	f.StringVar(&byDuration, "by-duration", "", "reset to the first record at or after now minus this duration (90m, or ISO 8601 PT90M)")
	f.Bool("to-current", false, "reset to the committed offset (the log end where there is none)")
	f.StringVar(&committedAt, "to-committed-at", "", "reset to the group's own committed offsets at this time (RFC 3339 or a duration ago)")
	f.StringVar(&toGroup, "to-group", "", "reset to this other group's committed offsets (rpk's --to-group)")
	f.StringVar(&fromFile, "from-file", "", "CSV of topic,partition,offset (kafka-consumer-groups' format)")
	f.BoolVar(&execute, "execute", false, "apply the plan (default: dry run)")
	f.Bool("dry-run", false, "only show the plan (the default)")
	f.BoolVar(&export, "export", false, "print the plan as the CSV --from-file reads (kafka-consumer-groups.sh --export)")
	return cmd
}

// planGroup snapshots one group and plans its reset.
func planGroup(ctx context.Context, c *cliCtx, cl *offsettool.Client, group string, sels []offsettool.TopicSelection, allTopics bool, target offsettool.Target, fromFile, toGroup string) (offsettool.Plan, offsettool.GroupSnapshot, error) {
	switch target.Kind {
	case offsettool.FromFile:
		f, err := os.Open(fromFile)
		if err != nil {
			return offsettool.Plan{}, offsettool.GroupSnapshot{}, fmt.Errorf("--from-file: %w", err)
		}
		target.File, err = offsettool.ParseResetCSV(f, group)
		f.Close()
		if err != nil {
			return offsettool.Plan{}, offsettool.GroupSnapshot{}, err
		}
		sels = fileSelections(target.File)
	case offsettool.ToGroup:
		other, err := cl.Snapshot(ctx, toGroup, offsettool.SnapshotOptions{Topics: sels})
		if err != nil {
			return offsettool.Plan{}, offsettool.GroupSnapshot{}, err
		}
		target.File = map[offsettool.TopicPartition]int64{}
		for _, p := range other.Partitions {
			if p.HasCommit() {
				target.File[p.TP()] = p.Committed
			}
		}
		if len(target.File) == 0 {
			return offsettool.Plan{}, offsettool.GroupSnapshot{}, fmt.Errorf("--to-group %q: it has no committed offsets on the selected topics", toGroup)
		}
		if allTopics {
			// The partitions the other group committed to.
			sels, allTopics = fileSelections(target.File), false
		}
	}
	s, err := cl.Snapshot(ctx, group, offsettool.SnapshotOptions{Topics: sels})
	if err != nil {
		return offsettool.Plan{}, s, err
	}
	if allTopics && !s.Exists {
		return offsettool.Plan{}, s, fmt.Errorf("%w %q: it has no committed offsets, so --all-topics selects nothing; name topics with --topic", offsettool.ErrUnknownGroup, group)
	}
	plan, err := cl.PlanFor(ctx, s, target, historyProgress(c))
	return plan, s, err
}

// printPlan prints one group's plan as a table.
func printPlan(c *cliCtx, s offsettool.GroupSnapshot, plan offsettool.Plan) error {
	group := plan.Group
	switch {
	case plan.Executed:
		fmt.Fprintf(c.out, "Reset group %s: the new offsets are committed.\n", group)
	default:
		fmt.Fprintf(c.out, "Dry run for group %s: nothing changed. Add --execute to apply.\n", group)
		if s.Active() {
			fmt.Fprintf(c.out, "The group has %d active member(s); --execute is refused until they stop.\n", len(s.Members))
		}
	}
	switch {
	case !s.Exists && plan.Executed:
		fmt.Fprintf(c.out, "Group %s did not exist: it now does, with these offsets.\n", group)
	case !s.Exists:
		fmt.Fprintf(c.out, "Group %s does not exist yet: --execute creates it with these offsets.\n", group)
	}
	w := newTable(c.out)
	row(w, "TOPIC", "PARTITION", "CURRENT", "NEW", "LOG-START", "LOG-END", "EFFECT")
	for _, r := range plan.Rows {
		row(w, r.Topic, r.Partition, offsetCell(r.Current), r.New, r.LogStart, r.LogEnd, r.Effect)
	}
	return w.Flush()
}

func fileSelections(file map[offsettool.TopicPartition]int64) []offsettool.TopicSelection {
	byTopic := map[string][]int32{}
	for tp := range file {
		byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
	}
	var sels []offsettool.TopicSelection
	for t, ps := range byTopic {
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		sels = append(sels, offsettool.TopicSelection{Topic: t, Partitions: ps})
	}
	sort.Slice(sels, func(i, j int) bool { return sels[i].Topic < sels[j].Topic })
	return sels
}
