package main

import (
	"fmt"
	"strings"

	"github.com/rewindhq/rewind/offsettool"
	"github.com/spf13/cobra"
)

// historyRow is one line of `group history --output json`.
type historyRow struct {
	offsettool.HistoryEntry
	// Delta is the move since the previous commit on the partition
	// (negative: the group went back); null for the first.
	Delta *int64 `json:"delta"`
}

func newGroupHistoryCmd() *cobra.Command {
	var (
		topics     []string
		rebalances bool
		httpAddr   string
	)
	cmd := &cobra.Command{
		Use:   "history GROUP",
		Short: "The group's commits and rebalances over time, read from __consumer_offsets",
		Long: `The group's commits over time, and its generations (rebalances), read from
the __consumer_offsets topic in Kafka's own record format. Works against
Rewind and Apache Kafka; clusters that do not expose that topic (kfake,
some managed services) get an error saying so.

Commits made inside a transaction (TxnOffsetCommit: Kafka Streams
exactly_once_v2, franz-go GroupTransactSession) are marked with their
producer and how the transaction ended, from its marker in that topic:
committed, aborted (the offset never took effect) or still open.
--to-committed-at counts only the committed ones.

Below the commits comes the rebalance timeline, for classic groups (one
entry per generation) and consumer groups of Kafka 4's protocol (KIP-848,
one per group epoch): who joined, who left and why (as far as the records
say: a leave and a session timeout write the same records), whose
subscription changed, and which partitions moved from whom to whom. For
each moved partition it gives the group's committed offset when it moved
(where the new owner starts) and REDO: the records the log held past that
commit then, the most the previous owner can have fetched past its last
commit, which the new owner processes again (0 when it committed on
revocation, as franz-go, the Java client and librdkafka do by default).

FETCHED is the exact count: the records the previous owner's client had
been returned by its fetches past that commit. Only a Rewind broker can
tell it (a Fetch names no group, but the broker sees every fetch with its
client id and host, and the group records give each member's): give
--http, the broker's admin listener. It is "-" when unknown, with the
reason in --output json's redo_fetched_note: against Apache Kafka (the
Kafka protocol shows no fetch positions, so only REDO, the bound, is
known), or when the member's client id and host name more than one reader
of the partition while it owned it (two consumers with one client id on
one host), or when it fetched again after the move, or when the broker's
bounded table of fetch positions evicted them.
--rebalances shows only the timeline.

Use a time from this list with
  rewind group reset GROUP --all-topics --to-committed-at TIME`,
		Args: cobra.ExactArgs(1),
		RunE: runE(func(c *cliCtx, args []string) error {
			c.need("Describe", "GROUP", args[0])
			c.need("Read", "TOPIC", offsettool.OffsetsTopic)
			ctx, cl, closeClient, err := c.connect()
			if err != nil {
				return err
			}
			defer closeClient()
			h, err := cl.History(ctx, args[0], topics, historyProgress(c))
			if err != nil {
				return err
			}
			if len(h) == 0 {
				return fmt.Errorf("%w %q: no commits or group records for it in %s; list groups with `rewind group list`", offsettool.ErrUnknownGroup, args[0], offsettool.OffsetsTopic)
			}
			rbs := offsettool.Rebalances(h)
			if err := cl.MoveBounds(ctx, rbs); err != nil {
				return err
			}
			if httpAddr != "" {
				if err := c.fetchedRedo(httpAddr, args[0], rbs); err != nil {
					return err
				}
			}
			if rebalances {
				if c.json {
					return c.writeJSON(rbs)
				}
				return rebalanceTimeline(c, rbs)
			}
			rows := make([]historyRow, 0, len(h))
			last := map[offsettool.TopicPartition]int64{}
			for _, e := range h {
				r := historyRow{HistoryEntry: e}
				tp := offsettool.TopicPartition{Topic: e.Topic, Partition: e.Partition}
				switch e.Kind {
				case offsettool.EventCommit:
					if prev, ok := last[tp]; ok {
						d := e.Offset - prev
						r.Delta = &d
					}
					// An aborted or pending transactional commit never
					// moved the group: the next delta is from the last
					// one that did.
					if e.Transaction != offsettool.TxnAborted && e.Transaction != offsettool.TxnPending {
						last[tp] = e.Offset
					}
				case offsettool.EventDelete:
					delete(last, tp)
				case offsettool.EventMember, offsettool.EventMemberGone, offsettool.EventAssignment:
					continue // a consumer group's members: in the timeline
				}
				rows = append(rows, r)
			}
			if c.json {
				return c.writeJSON(rows)
			}
			w := newTable(c.out)
			row(w, "TIME", "KIND", "TOPIC", "PARTITION", "OFFSET", "DELTA", "DETAIL")
			for _, r := range rows {
				ts := r.Time.Local().Format("2006-01-02T15:04:05.000Z07:00")
				switch r.Kind {
				case offsettool.EventCommit:
					delta := "-"
					if r.Delta != nil {
						delta = fmt.Sprintf("%+d", *r.Delta)
					}
					row(w, ts, r.Kind, r.Topic, r.Partition, r.Offset, delta, commitDetail(r.HistoryEntry))
				case offsettool.EventDelete:
					row(w, ts, r.Kind, r.Topic, r.Partition, "-", "-", "committed offset deleted")
				case offsettool.EventGroupEpoch:
					row(w, ts, r.Kind, "-", "-", "-", "-", fmt.Sprintf("group epoch %d, protocol consumer", r.Generation))
				case offsettool.EventGroup:
					row(w, ts, r.Kind, "-", "-", "-", "-", fmt.Sprintf("generation %d, protocol %s, %d member(s)", r.Generation, dash(r.Protocol), r.Members))
				default:
					row(w, ts, r.Kind, "-", "-", "-", "-", "group deleted")
				}
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if len(rbs) == 0 {
				return nil
			}
			fmt.Fprintln(c.out)
			return rebalanceTimeline(c, rbs)
		}),
	}
	cmd.Flags().StringArrayVarP(&topics, "topic", "t", nil, "only commits on this topic (repeatable)")
	cmd.Flags().StringVar(&httpAddr, "http", "", "admin HTTP address of a Rewind broker: the exact records each previous owner had fetched past its commit (FETCHED)")
	cmd.Flags().BoolVar(&rebalances, "rebalances", false, "only the rebalance timeline (--output json: one object per generation or group epoch)")
	return cmd
}

// rebalanceTimeline prints one block per generation or group epoch:
//
//	2026-12-01T19:40:00.000Z  consumer group epoch 5, 3 member(s)
//	  joined  c (member Abc…)                       joined
//	  moved   orders/2  a -> c  committed 120  redo≤ 7  fetched 3
func rebalanceTimeline(c *cliCtx, rbs []offsettool.Rebalance) error {
	fmt.Fprintln(c.out, "REBALANCES")
	unknown := false
	for _, r := range rbs {
		what := "generation"
		if r.Type == offsettool.TypeConsumer {
			what = "group epoch"
		}
		fmt.Fprintf(c.out, "%s  %s %s %d, %d member(s)\n", r.Time.Local().Format("2006-01-02T15:04:05.000Z07:00"), r.Type, what, r.Epoch, r.Members)
		w := newTable(c.out)
		for _, l := range []struct {
			verb string
			ms   []offsettool.MemberChange
		}{{"joined", r.Joined}, {"left", r.Left}, {"changed", r.Changed}} {
			for _, m := range l.ms {
				row(w, "", l.verb, memberCell(m.ClientID, m.ID), m.Reason)
			}
		}
		for _, mv := range r.Moved {
			committed, redo := "-", "-"
			if mv.Committed >= 0 {
				committed = fmt.Sprint(mv.Committed)
			}
			if mv.Redo >= 0 {
				redo = fmt.Sprint(mv.Redo)
			}
			fetched := "-"
			if mv.RedoFetched >= 0 {
				fetched = fmt.Sprint(mv.RedoFetched)
			} else if mv.RedoFetchedNote == offsettool.NoteKafkaFetches {
				unknown = true
			} else if mv.From != "" {
				fetched = "- (" + mv.RedoFetchedNote + ")"
			}
			row(w, "", "moved", fmt.Sprintf("%s/%d", mv.Topic, mv.Partition),
				fmt.Sprintf("%s -> %s", memberCell(mv.FromClient, mv.From), memberCell(mv.ToClient, mv.To)),
				"committed "+committed, "redo≤ "+redo, "fetched "+fetched)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	if unknown {
		fmt.Fprintln(c.out, "redo≤ is a bound (the log's records past the commit when the partition moved); fetched, the records the previous owner really had fetched past it, is known only to a Rewind broker: give its admin listener with --http (the Kafka protocol, and so Apache Kafka, shows no fetch positions)")
	}
	return nil
}

// memberCell names a member by client id and member id.
func memberCell(client, id string) string {
	switch {
	case id == "":
		return "(nobody)"
	case client == "":
		return id
	}
	return client + "(" + id + ")"
}

// commitDetail is the DETAIL of a commit: its metadata and, for one made
// inside a transaction, how the transaction ended.
func commitDetail(e offsettool.HistoryEntry) string {
	var parts []string
	switch e.Transaction {
	case offsettool.TxnCommitted:
		parts = append(parts, fmt.Sprintf("transaction committed (producer %d)", e.ProducerID))
	case offsettool.TxnAborted:
		parts = append(parts, fmt.Sprintf("transaction aborted (producer %d): never took effect", e.ProducerID))
	case offsettool.TxnPending:
		parts = append(parts, fmt.Sprintf("transaction open (producer %d): takes effect when it commits", e.ProducerID))
	}
	if e.Metadata != "" {
		parts = append(parts, "metadata "+e.Metadata)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "; ")
}

// historyProgress shows the scan of __consumer_offsets on a terminal.
func historyProgress(c *cliCtx) offsettool.Progress {
	if !isTerminal(c.err) {
		return nil
	}
	return func(done, total int64) {
		fmt.Fprintf(c.err, "\rscanning %s: %d/%d records", offsettool.OffsetsTopic, done, total)
		if done >= total {
			fmt.Fprint(c.err, "\r\033[K")
		}
	}
}
