package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/rewindhq/rewind/lageval"
	"github.com/rewindhq/rewind/offsettool"
	"github.com/spf13/cobra"
)

func newGroupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "group",
		Short: "See, explain and rewind consumer groups",
		Long: `See, explain and rewind consumer groups, with kafka-consumer-groups.sh
semantics, against Rewind or any Kafka cluster.`,
	}
	cmd.AddCommand(newGroupListCmd(), newGroupDescribeCmd(), newGroupExplainCmd(), newGroupResetCmd(),
		newGroupHistoryCmd(), newGroupDeleteCmd(), newGroupDeleteOffsetsCmd())
	return cmd
}

func newGroupListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List consumer groups with their state, members and protocol",
		Args:    cobra.NoArgs,
		RunE: runE(func(c *cliCtx, _ []string) error {
			c.need("Describe", "GROUP", "*")
			ctx, cl, closeClient, err := c.connect()
			if err != nil {
				return err
			}
			defer closeClient()
			gs, err := cl.ListGroups(ctx)
			if err != nil {
				return err
			}
			if c.json {
				return c.writeJSON(gs)
			}
			w := newTable(c.out)
			// TYPE is classic or consumer (KIP-848); EPOCH a consumer
			// group's group epoch. PROTOCOL is the assignor either way.
			row(w, "GROUP", "STATE", "MEMBERS", "PROTOCOL-TYPE", "PROTOCOL", "TYPE", "EPOCH")
			for _, g := range gs {
				epoch := "-"
				if g.Type == offsettool.TypeConsumer {
					epoch = fmt.Sprint(g.GroupEpoch)
				}
				row(w, g.Group, g.State, g.Members, dash(g.ProtocolType), dash(g.Protocol), g.Type, epoch)
			}
			return w.Flush()
		}),
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// describedPartition is a partition of `group describe --output json`.
type describedPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"` // -1: no committed offset
	LogStart  int64  `json:"log_start"`
	LogEnd    int64  `json:"log_end"`
	// LastStable is where read_committed consumers stop (the log end
	// unless a transaction is open); StableLag is the lag against it.
	LastStable int64  `json:"last_stable"`
	Lag        *int64 `json:"lag"` // null without a committed offset
	StableLag  *int64 `json:"stable_lag"`
	LagMillis  *int64 `json:"lag_millis"` // age of the first unconsumed record; null when unknown or no lag
	MemberID   string `json:"member_id,omitempty"`
	// TargetMemberID is a consumer group's target owner, when the
	// partition is moving to it.
	TargetMemberID string `json:"target_member_id,omitempty"`
	ClientID       string `json:"client_id,omitempty"`
	Host           string `json:"host,omitempty"`
	// Status and StatusReason are Burrow's verdict on the partition
	// (package lageval); empty when not judged.
	Status       string `json:"status,omitempty"`
	StatusReason string `json:"status_reason,omitempty"`
	// TimeToLossSeconds is when, at the current pace, retention deletes
	// a record the group has not read (0: now), and Loss says why;
	// absent when it never does at that pace.
	TimeToLossSeconds *float64 `json:"time_to_loss_seconds,omitempty"`
	Loss              string   `json:"loss,omitempty"`
}

type describedGroup struct {
	Group string `json:"group"`
	// Type is classic or consumer (KIP-848); the epochs and the assignor
	// are a consumer group's.
	Type            string               `json:"type"`
	GroupEpoch      int32                `json:"group_epoch,omitempty"`
	AssignmentEpoch int32                `json:"assignment_epoch,omitempty"`
	Assignor        string               `json:"assignor,omitempty"`
	State           string               `json:"state"`
	ProtocolType    string               `json:"protocol_type"`
	Protocol        string               `json:"protocol"`
	Members         []offsettool.Member  `json:"members"`
	Partitions      []describedPartition `json:"partitions"`
	// Status is Burrow's verdict on the group (OK, WARN, ERR, NOTFOUND),
	// empty where the cluster hides __consumer_offsets.
	Status string `json:"status"`
}

func newGroupDescribeCmd() *cobra.Command {
	var topics []string
	var members, verbose, allGroups bool // group_members.go
	var cmd *cobra.Command
	cmd = &cobra.Command{
		Use:   "describe GROUP",
		Short: "Members with their assignment, and per partition the committed offset, log bounds, lag and lag in time",
		Long: `Describe a group: its members (client id, host, assigned partitions), and
for every partition it has committed to or is assigned: the committed
offset, the log start and end, the lag (log end minus committed) and the
lag in time (the age of the first record not yet consumed).

STATUS is Burrow's verdict over the group's last 10 commits per partition,
read from __consumer_offsets: OK; WARN (it moves but its lag never
decreases); STOP (it stopped committing while records wait); STALL (it
commits the same offset while records wait); REWIND (its offset went back);
ERR for the group when a partition is STOP, STALL or REWIND. A line under
the table says why for each partition that is not OK. "-" where the cluster
does not expose __consumer_offsets.

As kafka-consumer-groups.sh: --members lists the members alone (with
--verbose, their assignment); --all-groups describes every group.`,
		Args: describeArgs,
		RunE: runE(func(c *cliCtx, args []string) error {
			if allGroups && len(args) == 0 {
				return eachGroup(c, func(g string) error { return cmd.RunE(c.cmd, []string{g}) })
			}
			sels, err := parseSelections(topics)
			if err != nil {
				return err
			}
			c.need("Describe", "GROUP", args[0])
			c.need("Describe", "TOPIC", selTopics(sels)...)
			ctx, cl, closeClient, err := c.connect()
			if err != nil {
				return err
			}
			defer closeClient()
			s, err := cl.Snapshot(ctx, args[0], offsettool.SnapshotOptions{Topics: sels, LagTime: true})
			if err != nil {
				return err
			}
			if !s.Exists {
				return fmt.Errorf("%w %q: %s", offsettool.ErrUnknownGroup, args[0], unknownGroupHint)
			}
			if members {
				return printMembers(c, s, verbose)
			}
			var never *offsettool.GroupNote
			if len(s.Partitions) == 0 && !s.Active() {
				if pm, err := cl.PastMembership(ctx, s.Group); err == nil {
					n := offsettool.NeverCommittedNote(s, pm, offsettool.Newest)
					never = &n
				}
			}
			d := describedGroup{Group: s.Group, Type: s.Type, GroupEpoch: s.GroupEpoch, AssignmentEpoch: s.AssignmentEpoch,
				Assignor: s.Assignor, State: s.State, ProtocolType: s.ProtocolType, Protocol: s.Protocol,
				Members: s.Members, Partitions: []describedPartition{}}
			verdicts := map[offsettool.TopicPartition]lageval.PartitionStatus{}
			st, err := cl.LagStatus(ctx, s, lageval.DefaultConfig())
			if err == nil {
				d.Status = st.Status.String()
				for _, p := range st.Partitions {
					verdicts[offsettool.TopicPartition{Topic: p.Topic, Partition: p.Partition}] = p
				}
			}
			losses, err := cl.LossForecasts(ctx, s, st)
			if err != nil {
				return err
			}
			if d.Members == nil {
				d.Members = []offsettool.Member{}
			}
			byID := map[string]offsettool.Member{}
			for _, m := range s.Members {
				byID[m.ID] = m
			}
			for _, p := range s.Partitions {
				dp := describedPartition{Topic: p.Topic, Partition: p.Partition, Committed: p.Committed,
					LogStart: p.LogStart, LogEnd: p.LogEnd, LastStable: p.LastStable, MemberID: p.MemberID}
				if p.TargetMemberID != p.MemberID {
					dp.TargetMemberID = p.TargetMemberID
				}
				if sl, ok := p.StableLag(); ok {
					dp.StableLag = &sl
				}
				if m, ok := byID[p.MemberID]; ok {
					dp.ClientID, dp.Host = m.ClientID, m.Host
				}
				if v, ok := verdicts[p.TP()]; ok {
					dp.Status, dp.StatusReason = v.Status.String(), v.Reason
				}
				if l, ok := losses[p.TP()]; ok {
					secs := l.In.Seconds()
					dp.TimeToLossSeconds, dp.Loss = &secs, l.Say()
				}
				if lag, ok := p.Lag(); ok {
					dp.Lag = &lag
					if d, ok := lageval.LagTime(lag, p.FirstUnconsumed, s.Taken); ok {
						ms := d.Milliseconds()
						dp.LagMillis = &ms
					}
				}
				d.Partitions = append(d.Partitions, dp)
			}
			if c.json {
				return c.writeJSON(d)
			}
			w := newTable(c.out)
			consumer := d.Type == offsettool.TypeConsumer
			if consumer {
				// As kafka-consumer-groups --describe --state --verbose
				// shows a consumer group: its group epoch and the epoch
				// of its target assignment.
				row(w, "GROUP", "STATE", "PROTOCOL", "MEMBERS", "STATUS", "TYPE", "GROUP-EPOCH", "TARGET-EPOCH")
				row(w, d.Group, d.State, dash(d.Protocol), len(d.Members), dash(d.Status), d.Type, d.GroupEpoch, d.AssignmentEpoch)
			} else {
				row(w, "GROUP", "STATE", "PROTOCOL", "MEMBERS", "STATUS", "TYPE")
				row(w, d.Group, d.State, dash(d.Protocol), len(d.Members), dash(d.Status), dash(d.Type))
			}
			if len(d.Members) > 0 && consumer {
				// ASSIGNMENT is what the member owns now, TARGET what the
				// assignor gives it; REVOKING it still owns outside its
				// target, AWAITING it waits for (another member still
				// owns them, or its next heartbeat brings them).
				row(w)
				row(w, "MEMBER-ID", "CLIENT-ID", "HOST", "MEMBER-EPOCH", "ASSIGNMENT", "TARGET", "REVOKING", "AWAITING")
				for _, m := range d.Members {
					row(w, m.ID, dash(m.ClientID), dash(m.Host), m.MemberEpoch, assignment(m.Assigned), assignment(m.Target),
						assignment(m.Revoking), assignment(m.Awaiting))
				}
			} else if len(d.Members) > 0 {
				row(w)
				row(w, "MEMBER-ID", "CLIENT-ID", "HOST", "ASSIGNMENT")
				for _, m := range d.Members {
					row(w, m.ID, dash(m.ClientID), dash(m.Host), assignment(m.Assigned))
				}
			}
			row(w)
			// LSO and LSO-LAG only when an open transaction holds a last
			// stable offset below its log end.
			stable := false
			for _, p := range d.Partitions {
				stable = stable || p.LastStable != p.LogEnd
			}
			head := []any{"TOPIC", "PARTITION", "COMMITTED", "LOG-START", "LOG-END"}
			if stable {
				head = append(head, "LSO")
			}
			head = append(head, "LAG")
			if stable {
				head = append(head, "LSO-LAG")
			}
			row(w, append(head, "LAG-TIME", "CLIENT-ID", "STATUS")...)
			for _, p := range d.Partitions {
				lag, stableLag, lagTime := "-", "-", "-"
				if p.Lag != nil {
					lag = fmt.Sprint(*p.Lag)
					stableLag = fmt.Sprint(*p.StableLag)
				}
				if p.LagMillis != nil {
					lagTime = lageval.HumanDuration(time.Duration(*p.LagMillis) * time.Millisecond)
				}
				cells := []any{p.Topic, p.Partition, offsetCell(p.Committed), p.LogStart, p.LogEnd}
				if stable {
					cells = append(cells, p.LastStable)
				}
				cells = append(cells, lag)
				if stable {
					cells = append(cells, stableLag)
				}
				row(w, append(cells, lagTime, dash(p.ClientID), dash(p.Status))...)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if never != nil {
				fmt.Fprintf(c.out, "%s\nSee where its next consumer starts: rewind group explain %s\n", never.Text, d.Group)
			}
			// Say why for every partition that is not OK.
			for _, p := range d.Partitions {
				if p.Status != "" && p.Status != "OK" {
					fmt.Fprintf(c.out, "%s/%d %s: %s\n", p.Topic, p.Partition, p.Status, p.StatusReason)
				}
			}
			for _, p := range d.Partitions {
				if p.Loss != "" {
					fmt.Fprintf(c.out, "%s/%d: %s\n", p.Topic, p.Partition, p.Loss)
				}
			}
			return nil
		}),
	}
	cmd.Flags().StringArrayVarP(&topics, "topic", "t", nil, "only this topic, TOPIC or TOPIC:0,1 (repeatable)")
	memberFlags(cmd, &members, &verbose, &allGroups)
	return cmd
}

// assignment prints "orders:0,1 audit:3".
func assignment(tps []offsettool.TopicPartition) string {
	if len(tps) == 0 {
		return "-"
	}
	var parts []string
	var last string
	for _, tp := range tps {
		if tp.Topic != last {
			parts = append(parts, fmt.Sprintf("%s:%d", tp.Topic, tp.Partition))
			last = tp.Topic
		} else {
			parts[len(parts)-1] += fmt.Sprintf(",%d", tp.Partition)
		}
	}
	return strings.Join(parts, " ")
}

func parseSelections(topics []string) ([]offsettool.TopicSelection, error) {
	var sels []offsettool.TopicSelection
	for _, t := range topics {
		s, err := offsettool.ParseTopicSelection(t)
		if err != nil {
			return nil, err
		}
		sels = append(sels, s)
	}
	return sels, nil
}

func newGroupExplainCmd() *cobra.Command {
	var (
		topics  []string
		initial string
	)
	cmd := &cobra.Command{
		Use:   "explain GROUP",
		Short: "Say, for every partition, where a consumer of the group would start and why",
		Long: `Say, for every partition, where a consumer of this group would start reading
and why, in plain words: a committed offset wins over the client's initial
offset; without one, OffsetNewest (Sarama's default) starts at the log end
and never reads the records already there; a committed offset the log no
longer holds (retention, DeleteRecords) falls back to the reset policy;
and whether the group is mid-rebalance or has active members.

It also says when a partition's lag cannot reach 0 for a consumer that has
read all it can: a transaction is open there (read_committed consumers
stop at the last stable offset, LSO; it names the producer, its
transactional id and how long it has been open, and says when it is
hanging), or only transaction markers and aborted records follow the
committed offset (the classic "my lag never reaches zero").

Each partition starts with a fact: "next fetch starts at offset N (record at
TIME)", the offset a consumer that starts now fetches first and the
timestamp of the record there, or, for a committed offset the log no
longer holds, that the first fetch fails with OFFSET_OUT_OF_RANGE and
where the reset sends the next one.

--initial is your client's initial offset: Sarama Consumer.Offsets.Initial
(OffsetNewest by default), Java auto.offset.reset (latest by default; none
fails instead of resetting; Kafka 4's by_duration:PT1H starts at the first
record of the last hour), franz-go ConsumeResetOffset.`,
		Example: `  rewind group explain orders-service
  rewind group explain orders-service --topic orders --initial oldest`,
		Args: cobra.ExactArgs(1),
		RunE: runE(func(c *cliCtx, args []string) error {
			pol, err := offsettool.ParsePolicy(initial)
			if err != nil {
				return err
			}
			sels, err := parseSelections(topics)
			if err != nil {
				return err
			}
			c.need("Describe", "GROUP", args[0])
			c.need("Describe", "TOPIC", selTopics(sels)...)
			c.need("Read", "TOPIC", offsettool.OffsetsTopic)
			ctx, cl, closeClient, err := c.connect()
			if err != nil {
				return err
			}
			defer closeClient()
			// by_duration starts where ListOffsets by time says.
			d, byTime := pol.Duration()
			s, err := cl.Snapshot(ctx, args[0], offsettool.SnapshotOptions{Topics: sels, Transactions: true, StartTimes: true, ResetDuration: d, ByDuration: byTime})
			if err != nil {
				return err
			}
			if !s.Exists && len(sels) == 0 {
				return fmt.Errorf("%w %q: it has no members and no committed offsets; pass --topic T to see where a new consumer of it would start (%s)", offsettool.ErrUnknownGroup, args[0], unknownGroupHint)
			}
			var never *offsettool.GroupNote
			if s.Exists && len(s.Partitions) == 0 && !s.Active() && len(sels) == 0 {
				// Consumed but never committed: the topics come from the
				// subscriptions __consumer_offsets kept.
				pm, err := cl.PastMembership(ctx, s.Group)
				if err != nil {
					return err
				}
				n := offsettool.NeverCommittedNote(s, pm, pol)
				never = &n
				if len(pm.Topics) > 0 {
					var past []offsettool.TopicSelection
					for _, t := range pm.Topics {
						past = append(past, offsettool.TopicSelection{Topic: t})
					}
					if s, err = cl.Snapshot(ctx, args[0], offsettool.SnapshotOptions{Topics: past, Transactions: true, StartTimes: true, ResetDuration: d, ByDuration: byTime}); err != nil {
						return err
					}
				}
			}
			ex := offsettool.Explain(s, pol)
			if never != nil {
				ex.Notes = append([]offsettool.GroupNote{*never}, ex.Notes...)
			}
			for _, p := range ex.Partitions {
				if p.Case == offsettool.CaseBelowLogStart {
					// When the loss happened, as near as the commit history
					// says (a cluster hiding __consumer_offsets says nothing).
					if hist, err := cl.History(ctx, s.Group, nil, nil); err == nil {
						offsettool.NameLosses(&ex, hist)
					}
					break
				}
			}
			if c.json {
				return c.writeJSON(ex)
			}
			state := ex.State
			if !s.Exists {
				state = "unknown"
			}
			fmt.Fprintf(c.out, "Group %s (%s), initial offset policy %s\n", ex.Group, state, ex.Initial)
			for _, n := range ex.Notes {
				fmt.Fprintln(c.out, n.Text)
			}
			fmt.Fprintln(c.out)
			w := newTable(c.out)
			stable := false
			for _, p := range ex.Partitions {
				stable = stable || p.LastStable != p.LogEnd
			}
			head := []any{"TOPIC", "PARTITION", "COMMITTED", "LOG-START", "LOG-END"}
			if stable {
				head = append(head, "LSO")
			}
			row(w, append(head, "STARTS-AT", "READS", "SKIPS", "CASE")...)
			for _, p := range ex.Partitions {
				cells := []any{p.Topic, p.Partition, offsetCell(p.Committed), p.LogStart, p.LogEnd}
				if stable {
					cells = append(cells, p.LastStable)
				}
				row(w, append(cells, p.Start, p.Reads, p.Skips, p.Case)...)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			for _, p := range ex.Partitions {
				fmt.Fprintf(c.out, "\n%s/%d: %s.\n  %s\n", p.Topic, p.Partition, p.NextFetch, p.Why)
				if p.LagWhy != "" {
					fmt.Fprintf(c.out, "  %s\n", p.LagWhy)
				}
				if p.Replay != "" {
					fmt.Fprintf(c.out, "  %s\n", p.Replay)
				}
			}
			return nil
		}),
	}
	cmd.Flags().StringArrayVarP(&topics, "topic", "t", nil, "explain this topic, TOPIC or TOPIC:0,1 (repeatable; needed for a group with no commits)")
	cmd.Flags().StringVar(&initial, "initial", "newest", "your consumer's initial offset: newest (Sarama OffsetNewest, Java latest: the defaults), oldest (earliest), none (fail) or by_duration:PT1H (Kafka 4)")
	return cmd
}

// unknownGroupHint says when a group is gone, as Kafka's coordinator
// removes it: an Empty group without offsets (it never committed, or its
// offsets expired) at the next offsets.retention.check.interval.ms pass.
const unknownGroupHint = "list groups with `rewind group list`; a group without committed offsets stays listed as Empty after its last member leaves until the broker's next offset expiry pass (offsets.retention.check.interval.ms, 10 minutes by default in Kafka and Rewind) removes it"

func newGroupDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete GROUP",
		Short: "Delete an inactive group and all its committed offsets",
		Args:  cobra.ExactArgs(1),
		RunE: runE(func(c *cliCtx, args []string) error {
			c.need("Delete", "GROUP", args[0])
			ctx, cl, closeClient, err := c.connect()
			if err != nil {
				return err
			}
			defer closeClient()
			if err := cl.DeleteGroup(ctx, args[0]); err != nil {
				return err
			}
			if c.json {
				return c.writeJSON(map[string]any{"group": args[0], "deleted": true})
			}
			fmt.Fprintf(c.out, "deleted group %s\n", args[0])
			return nil
		}),
	}
}

func newGroupDeleteOffsetsCmd() *cobra.Command {
	var topics []string
	cmd := &cobra.Command{
		Use:   "delete-offsets GROUP --topic T",
		Short: "Delete a group's committed offsets on some topics (it then starts from its initial offset there)",
		Args:  cobra.ExactArgs(1),
		RunE: runE(func(c *cliCtx, args []string) error {
			if len(topics) == 0 {
				return fmt.Errorf("name the topics whose offsets to delete with --topic T (or T:0,1)")
			}
			sels, err := parseSelections(topics)
			if err != nil {
				return err
			}
			c.need("Delete", "GROUP", args[0])
			c.need("Read", "TOPIC", selTopics(sels)...)
			ctx, cl, closeClient, err := c.connect()
			if err != nil {
				return err
			}
			defer closeClient()
			tps, err := cl.DeleteOffsets(ctx, args[0], sels)
			if err != nil {
				return err
			}
			if c.json {
				return c.writeJSON(map[string]any{"group": args[0], "deleted": tps})
			}
			w := newTable(c.out)
			row(w, "TOPIC", "PARTITION", "STATUS")
			for _, tp := range tps {
				row(w, tp.Topic, tp.Partition, "offset deleted")
			}
			return w.Flush()
		}),
	}
	cmd.Flags().StringArrayVarP(&topics, "topic", "t", nil, "TOPIC or TOPIC:0,1 (repeatable)")
	return cmd
}
