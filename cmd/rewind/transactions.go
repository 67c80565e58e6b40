package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rewindhq/rewind/lageval"
	"github.com/rewindhq/rewind/offsettool"
	"github.com/spf13/cobra"
)

func newTransactionsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "transactions",
		Aliases: []string{"transaction", "txn"},
		Short:   "List, describe, find hanging and abort transactions (as kafka-transactions.sh does)",
		Long: `List, describe, find hanging and abort transactions, as Apache Kafka's
kafka-transactions.sh does and with the same requests (ListTransactions,
DescribeTransactions, DescribeProducers, WriteTxnMarkers), against Rewind or
any Kafka 3.0+ cluster.

A hanging transaction is one open on a partition that no coordinator will
ever close: its last stable offset stays behind it, so read_committed
consumers stop there and their lag never reaches zero. find-hanging lists
them, abort closes one.`,
	}
	cmd.AddCommand(newTxnListCmd(), newTxnDescribeCmd(), newTxnProducersCmd(), newTxnFindHangingCmd(), newTxnAbortCmd())
	return cmd
}

// parseDurationArg accepts a Go duration (90s, 15m) or a bare number of
// unit, the form kafka-transactions.sh takes (--duration-filter in
// milliseconds, --max-transaction-timeout in minutes).
func parseDurationArg(flag, s string, unit time.Duration) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return -1, nil
		}
		return time.Duration(n) * unit, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("--%s %q: use a duration like 90s or 15m (a bare number is %s)", flag, s, unitName(unit))
	}
	if d < 0 {
		return 0, fmt.Errorf("--%s %q: must not be negative", flag, s)
	}
	return d, nil
}

func unitName(u time.Duration) string {
	switch u {
	case time.Millisecond:
		return "milliseconds"
	case time.Minute:
		return "minutes"
	}
	return u.String()
}

func newTxnListCmd() *cobra.Command {
	var (
		states   []string
		pids     []int64
		duration string
		pattern  string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List transactional ids with their coordinator, producer id and state",
		Long: `List the transactional ids every transaction coordinator knows, with the
coordinator, the producer id and the state (Empty, Ongoing, PrepareCommit,
PrepareAbort, CompleteCommit, CompleteAbort, PrepareEpochFence).

--duration-filter keeps transactions running longer than that (Kafka 3.8+;
a bare number is milliseconds, as in kafka-transactions.sh), --pattern keeps
transactional ids matching a regular expression (Kafka 4.1+).`,
		Example: `  rewind transactions list
  rewind transactions list --state Ongoing --duration-filter 10m`,
		Args: cobra.NoArgs,
		RunE: runE(func(c *cliCtx, _ []string) error {
			o := offsettool.TxnListOptions{ProducerIDs: pids, Pattern: pattern}
			for _, s := range states {
				for _, one := range strings.Split(s, ",") {
					st, err := offsettool.CanonicalTxnState(strings.TrimSpace(one))
					if err != nil {
						return fmt.Errorf("--state: %w", err)
					}
					o.States = append(o.States, st)
				}
			}
			if duration != "" {
				d, err := parseDurationArg("duration-filter", duration, time.Millisecond)
				if err != nil {
					return err
				}
				o.MinDuration = d
			}
			c.need("Describe", "TRANSACTIONAL_ID", "*")
			ctx, cl, closeClient, err := c.connect()
			if err != nil {
				return err
			}
			defer closeClient()
			ts, err := cl.ListTransactions(ctx, o)
			if err != nil {
				return err
			}
			if c.json {
				return c.writeJSON(ts)
			}
			w := newTable(c.out)
			row(w, "TRANSACTIONAL-ID", "COORDINATOR", "PRODUCER-ID", "STATE")
			for _, t := range ts {
				row(w, t.TransactionalID, t.Coordinator, t.ProducerID, t.State)
			}
			return w.Flush()
		}),
	}
	f := cmd.Flags()
	f.StringArrayVar(&states, "state", nil, "only transactions in this state (repeatable or comma-separated)")
	f.Int64SliceVar(&pids, "producer-id", nil, "only transactions of this producer id (repeatable)")
	f.StringVar(&duration, "duration-filter", "", "only transactions running longer than this (90s, 10m; a bare number is milliseconds)")
	f.StringVar(&pattern, "pattern", "", "only transactional ids matching this regular expression")
	return cmd
}

func newTxnDescribeCmd() *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:   "describe ID...",
		Short: "The coordinator's state of transactional ids: producer, epoch, state, timeout, start and partitions",
		Long: `Describe transactional ids as their coordinator holds them: producer id and
epoch, state, transaction timeout, when the current transaction started and
how long it has been open, and its partitions. --transactional-id ID is
accepted as kafka-transactions.sh spells it.`,
		Example: `  rewind transactions describe orders-etl-0`,
		RunE: runE(func(c *cliCtx, args []string) error {
			if id != "" {
				args = append([]string{id}, args...)
			}
			if len(args) == 0 {
				return fmt.Errorf("name the transactional id to describe (rewind transactions describe ID); list them with `rewind transactions list`")
			}
			c.need("Describe", "TRANSACTIONAL_ID", args...)
			ctx, cl, closeClient, err := c.connect()
			if err != nil {
				return err
			}
			defer closeClient()
			ds, err := cl.DescribeTransactions(ctx, args...)
			if err != nil {
				return err
			}
			if c.json {
				if len(ds) == 1 {
					return c.writeJSON(ds[0])
				}
				return c.writeJSON(ds)
			}
			w := newTable(c.out)
			row(w, "TRANSACTIONAL-ID", "COORDINATOR", "PRODUCER-ID", "EPOCH", "STATE", "TIMEOUT", "STARTED", "DURATION", "PARTITIONS")
			for _, d := range ds {
				started, dur := "-", "-"
				if d.Started != nil {
					started = d.Started.Local().Format("2006-01-02T15:04:05.000Z07:00")
					dur = lageval.HumanDuration(time.Duration(*d.DurationMillis) * time.Millisecond)
				}
				row(w, d.TransactionalID, d.Coordinator, d.ProducerID, d.ProducerEpoch, d.State,
					(time.Duration(d.TimeoutMillis) * time.Millisecond).String(), started, dur, tpList(d.Partitions))
			}
			return w.Flush()
		}),
	}
	cmd.Flags().StringVar(&id, "transactional-id", "", "the transactional id (or give it as an argument)")
	return cmd
}

// tpList prints "orders-0,orders-1" as Kafka prints a TopicPartition list.
func tpList(tps []offsettool.TopicPartition) string {
	if len(tps) == 0 {
		return "-"
	}
	var s []string
	for _, tp := range tps {
		s = append(s, fmt.Sprintf("%s-%d", tp.Topic, tp.Partition))
	}
	return strings.Join(s, ",")
}

func newTxnProducersCmd() *cobra.Command {
	var topics []string
	cmd := &cobra.Command{
		Use:     "describe-producers --topic T[:P,...]",
		Aliases: []string{"producers"},
		Short:   "The active producers of partitions, with the start offset of their open transaction",
		Args:    cobra.NoArgs,
		RunE: runE(func(c *cliCtx, _ []string) error {
			if len(topics) == 0 {
				return fmt.Errorf("name the partitions with --topic T or --topic T:0,1")
			}
			sels, err := parseSelections(topics)
			if err != nil {
				return err
			}
			c.need("Read", "TOPIC", selTopics(sels)...)
			ctx, cl, closeClient, err := c.connect()
			if err != nil {
				return err
			}
			defer closeClient()
			tps, err := cl.ResolvePartitions(ctx, sels)
			if err != nil {
				return err
			}
			ps, err := cl.DescribeProducers(ctx, tps)
			if err != nil {
				return err
			}
			if c.json {
				return c.writeJSON(ps)
			}
			w := newTable(c.out)
			row(w, "TOPIC", "PARTITION", "PRODUCER-ID", "EPOCH", "COORDINATOR-EPOCH", "LAST-SEQUENCE", "LAST-TIMESTAMP", "TXN-START-OFFSET")
			for _, p := range ps {
				start := "-"
				if p.Open() {
					start = fmt.Sprint(p.TxnStartOffset)
				}
				row(w, p.Topic, p.Partition, p.ProducerID, p.ProducerEpoch, p.CoordinatorEpoch, p.LastSequence,
					p.LastTimestamp.Local().Format("2006-01-02T15:04:05.000Z07:00"), start)
			}
			return w.Flush()
		}),
	}
	cmd.Flags().StringArrayVarP(&topics, "topic", "t", nil, "TOPIC or TOPIC:0,1 (repeatable)")
	return cmd
}

func newTxnFindHangingCmd() *cobra.Command {
	var (
		topics    []string
		partition int32
		brokerID  int32
		maxTO     string
	)
	cmd := &cobra.Command{
		Use:   "find-hanging (--topic T [--partition P] | --broker-id N)",
		Short: "Find open transactions no coordinator will complete",
		Long: `Find hanging transactions, as kafka-transactions.sh find-hanging does: every
transaction open on the partitions searched whose producer last wrote longer
ago than --max-transaction-timeout (15 minutes by default, Kafka's
transaction.max.timeout.ms default: no coordinator lets a transaction run
longer) and that no coordinator still holds with that partition in it.
Each one holds the partition's last stable offset back: read_committed
consumers stop there. Close it with the abort command printed below it.`,
		Example: `  rewind transactions find-hanging --topic orders
  rewind transactions find-hanging --broker-id 0 --max-transaction-timeout 5m`,
		Args: cobra.NoArgs,
		RunE: runE(func(c *cliCtx, _ []string) error {
			sels, err := parseSelections(topics)
			if err != nil {
				return err
			}
			if flagGiven(c.cmd, "partition") {
				if len(sels) != 1 || len(sels[0].Partitions) > 0 {
					return fmt.Errorf("--partition needs exactly one --topic T (or use --topic T:%d)", partition)
				}
				if partition < 0 {
					return fmt.Errorf("--partition %d: must not be negative", partition)
				}
				sels[0].Partitions = []int32{partition}
			}
			if len(sels) == 0 && brokerID < 0 {
				return fmt.Errorf("find-hanging needs --topic or --broker-id to limit the search")
			}
			d, err := parseDurationArg("max-transaction-timeout", maxTO, time.Minute)
			if err != nil {
				return err
			}
			c.need("Read", "TOPIC", "*")
			c.need("Describe", "TRANSACTIONAL_ID", "*")
			ctx, cl, closeClient, err := c.connect()
			if err != nil {
				return err
			}
			defer closeClient()
			hs, err := cl.FindHanging(ctx, offsettool.HangingOptions{Topics: sels, BrokerID: brokerID, MaxTimeout: max(d, 0)})
			if err != nil {
				return err
			}
			if c.json {
				return c.writeJSON(hs)
			}
			if len(hs) == 0 {
				fmt.Fprintf(c.out, "no hanging transactions (open longer than %v with no coordinator to close them)\n", max(d, 0))
				return nil
			}
			w := newTable(c.out)
			row(w, "TOPIC", "PARTITION", "PRODUCER-ID", "EPOCH", "COORDINATOR-EPOCH", "START-OFFSET", "LAST-TIMESTAMP", "DURATION", "TRANSACTIONAL-ID")
			for _, h := range hs {
				row(w, h.Topic, h.Partition, h.ProducerID, h.ProducerEpoch, h.CoordinatorEpoch, h.TxnStartOffset,
					h.LastTimestamp.Local().Format("2006-01-02T15:04:05.000Z07:00"),
					lageval.HumanDuration(time.Duration(h.DurationMillis)*time.Millisecond), dash(h.TransactionalID))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			for _, h := range hs {
				fmt.Fprintf(c.out, "\n%s/%d: %s.\n  abort it: rewind transactions abort --topic %s --partition %d --start-offset %d\n",
					h.Topic, h.Partition, h.Why, h.Topic, h.Partition, h.TxnStartOffset)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringArrayVarP(&topics, "topic", "t", nil, "search this topic, TOPIC or TOPIC:0,1 (repeatable)")
	f.Int32Var(&partition, "partition", -1, "only this partition of --topic")
	f.Int32Var(&brokerID, "broker-id", -1, "search the partitions with a replica on this broker")
	f.StringVar(&maxTO, "max-transaction-timeout", "15m", "only transactions idle longer than this (a bare number is minutes, as in kafka-transactions.sh)")
	return cmd
}

func newTxnAbortCmd() *cobra.Command {
	var (
		topic            string
		partition        int32
		startOffset      int64
		producerID       int64
		producerEpoch    int16
		coordinatorEpoch int32
	)
	cmd := &cobra.Command{
		Use:   "abort --topic T --partition P (--start-offset N | --producer-id ID --producer-epoch E --coordinator-epoch C)",
		Short: "Abort a hanging transaction on one partition (writes an abort marker)",
		Long: `Abort an open transaction on one partition by writing an abort marker there
(WriteTxnMarkers, as kafka-transactions.sh abort does; it needs the
ClusterAction permission). Name the transaction by the offset it starts at
(find-hanging prints it; the producer is then looked up with
DescribeProducers), or, as for brokers before Kafka 3.0, by producer id,
producer epoch and coordinator epoch. The partition's last stable offset
then moves past it; its records are never given to read_committed
consumers.

Abort only hanging transactions: aborting one its coordinator still runs
makes its later commit fail on this partition.`,
		Example: `  rewind transactions abort --topic orders --partition 0 --start-offset 1234`,
		Args:    cobra.NoArgs,
		RunE: runE(func(c *cliCtx, _ []string) error {
			given := func(name string) bool { return flagGiven(c.cmd, name) }
			if topic == "" {
				return fmt.Errorf("name the partition with --topic T --partition P")
			}
			if !given("partition") || partition < 0 {
				return fmt.Errorf("name the partition of %s with --partition P", topic)
			}
			byOffset, byProducer := given("start-offset"), given("producer-id")
			s := offsettool.AbortSpec{TopicPartition: offsettool.TopicPartition{Topic: topic, Partition: partition}, StartOffset: -1}
			switch {
			case byOffset && byProducer:
				return fmt.Errorf("give either --start-offset or --producer-id with --producer-epoch and --coordinator-epoch, not both")
			case !byOffset && !byProducer:
				return fmt.Errorf("the transaction to abort must be identified either with --start-offset (brokers on 3.0 or above) or with --producer-id, --producer-epoch and --coordinator-epoch (older brokers); find it with `rewind transactions find-hanging --topic %s`", topic)
			case byOffset:
				if startOffset < 0 {
					return fmt.Errorf("--start-offset %d: must not be negative", startOffset)
				}
				s.StartOffset = startOffset
			default:
				if !given("producer-epoch") {
					return fmt.Errorf("missing --producer-epoch (with --producer-id)")
				}
				if !given("coordinator-epoch") {
					return fmt.Errorf("missing --coordinator-epoch (with --producer-id)")
				}
				if producerID < 0 || producerEpoch < 0 {
					return fmt.Errorf("--producer-id %d --producer-epoch %d: must not be negative", producerID, producerEpoch)
				}
				s.ProducerID, s.ProducerEpoch, s.CoordinatorEpoch = producerID, producerEpoch, coordinatorEpoch
			}
			c.need("ClusterAction", "CLUSTER")
			ctx, cl, closeClient, err := c.connect()
			if err != nil {
				return err
			}
			defer closeClient()
			a, err := cl.AbortTransaction(ctx, s)
			if err != nil {
				return err
			}
			if c.json {
				return c.writeJSON(a)
			}
			from := ""
			if a.StartOffset >= 0 {
				from = fmt.Sprintf(" started at offset %d", a.StartOffset)
			}
			fmt.Fprintf(c.out, "aborted the transaction of producer %d (epoch %d)%s on %s/%d: wrote an abort marker with coordinator epoch %d\n",
				a.ProducerID, a.ProducerEpoch, from, a.Topic, a.Partition, a.CoordinatorEpoch)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVarP(&topic, "topic", "t", "", "topic of the transaction")
	f.Int32Var(&partition, "partition", -1, "partition of the transaction")
	f.Int64Var(&startOffset, "start-offset", -1, "first offset of the transaction to abort (find-hanging prints it)")
	f.Int64Var(&producerID, "producer-id", -1, "producer id (with --producer-epoch and --coordinator-epoch)")
	f.Int16Var(&producerEpoch, "producer-epoch", -1, "producer epoch")
	f.Int32Var(&coordinatorEpoch, "coordinator-epoch", -1, "coordinator epoch (-1, as describe-producers shows for a transaction before its first marker, is sent as 0)")
	return cmd
}
