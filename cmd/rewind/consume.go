package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/rewindhq/rewind/offsettool"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

func newConsumeCmd() *cobra.Command {
	var (
		from       string
		partitions []int32
		group      string
		count      int
		format     string
		toEnd      bool
	)
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records of a topic",
		Long: `Print records of a topic, one per line (--format), or one JSON object per
line with --output json.

Without --group, records are read from --from on every partition (or the
--partition ones) and nothing is committed. With --group, this is a normal
group member: the group's committed offsets win over --from (which is then
only the initial offset, like Sarama's Consumer.Offsets.Initial), and what
is printed is committed. It joins as a classic-protocol member, so a
group with no members first waits the broker's initial rebalance delay
(group.initial.rebalance.delay.ms: 3 s in Kafka and by default in Rewind,
rewind serve --group-initial-rebalance-delay) for more members to come,
as any client's first member does. Joining with Kafka 4's consumer
protocol instead (no such delay) would convert a classic group into a
consumer group (KIP-848's online migration, as Kafka does it), changing
how the group's own members (Sarama, kafka-python, librdkafka's default)
are served: the CLI leaves the group's protocol as its applications chose.

Format verbs are kcat's (-f): %s value, %k key, %t topic, %p partition,
%o offset, %T timestamp (Unix ms), %h headers (k=v,k=v), %S and %K value
and key length (-1 for null), %R value length as 4 big-endian bytes, %%
percent; and %v value, %d Unix ms, %D RFC 3339 time. Escapes as kcat's:
\n \r \t, \xHH, \NNN. --format json prints kcat -J's envelope, one object
a line (topic, partition, offset, tstype, ts, broker, headers, key,
payload); --output json prints Rewind's.

--from takes kcat's -o forms too: -5 starts 5 records before the end of
each partition, s@1700000000000 at a Unix time in ms.`,
		Example: `  rewind consume orders --from oldest --end
  rewind consume orders --from 2026-01-02T15:04:05Z --count 10 --format '%p/%o %k=%s\n'
  rewind consume orders --from -5 --end --format json
  rewind consume orders --group audit --from oldest --output json`,
		Args: cobra.ExactArgs(1),
		RunE: runE(func(c *cliCtx, args []string) error {
			f, err := offsettool.ParseFrom(from, time.Now())
			if err != nil {
				return err
			}
			kcatJSON := format == "json"
			if !kcatJSON {
				if err := offsettool.CheckFormat(format); err != nil {
					return err
				}
			}
			if count < 0 {
				return fmt.Errorf("--count %d: use a positive number, or 0 for no limit", count)
			}
			ctx, stop := signal.NotifyContext(c.cmd.Context(), os.Interrupt)
			defer stop()
			dctx, cancel := c.ctx()
			c.need("Read", "TOPIC", args[0])
			if group != "" {
				c.need("Read", "GROUP", group)
			}
			cl, err := c.dial(dctx)
			cancel()
			if err != nil {
				return err
			}
			defer cl.Close()
			// Progress goes to a terminal's stderr only while records go
			// somewhere else (a file, a pipe); on a terminal the records
			// themselves are the progress.
			var progress func(int)
			if isTerminal(c.err) && !isTerminal(c.out) {
				progress = func(n int) { fmt.Fprintf(c.err, "\rconsumed %d record(s)", n) }
				defer fmt.Fprintln(c.err)
			}
			handle := func(r *kgo.Record) error { return printRecord(c, format, r) }
			if kcatJSON {
				lctx, cancel := c.ctx()
				leaders, err := cl.Leaders(lctx, args[0])
				cancel()
				if err != nil {
					return err
				}
				handle = func(r *kgo.Record) error {
					broker, ok := leaders[r.Partition]
					if !ok {
						broker = -1
					}
					return c.writeJSONLine(offsettool.ToKcatJSON(r, broker))
				}
			}
			// Interrupting (Ctrl-C) ends the command normally.
			_, err = cl.Consume(ctx, offsettool.ConsumeOptions{
				Topic: args[0], Partitions: partitions, From: f, Group: group,
				Count: count, ToEnd: toEnd, Progress: progress,
			}, handle)
			return err
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "oldest", "where to start: oldest, newest, an offset, -N (the last N records of each partition), an RFC 3339 time, s@<unix ms>, or a duration ago (90m)")
	fl.Int32SliceVarP(&partitions, "partition", "p", nil, "only these partitions (comma-separated or repeated); not with --group")
	fl.StringVarP(&group, "group", "g", "", "consume as a member of this consumer group and commit what is printed")
	fl.IntVarP(&count, "count", "n", 0, "stop after this many records (0: no limit)")
	fl.StringVarP(&format, "format", "f", `%v\n`, "how to print each record: kcat's verbs (see above), or json for kcat -J's envelope")
	fl.BoolVarP(&toEnd, "end", "e", false, "exit once the end of every partition (as of start) is reached")
	return cmd
}

func printRecord(c *cliCtx, format string, r *kgo.Record) error {
	if c.json {
		return c.writeJSONLine(offsettool.ToJSON(r))
	}
	_, err := io.WriteString(c.out, offsettool.FormatRecord(format, r))
	return err
}
