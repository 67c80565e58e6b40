package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/rewindhq/rewind/migrate"
	"github.com/rewindhq/rewind/offsettool"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

func newMigrateCmd() *cobra.Command {
	var (
		to        string
		toConfig  string
		execute   bool
		topics    []string
		groups    []string
		statePath string
		rf        int16

		recordsOnly bool
	)
	cmd := &cobra.Command{
		Use:   "migrate --to HOST:PORT [--execute]",
		Short: "Move topics, records and every group's position from --brokers to another cluster",
		Long: `Copy topics (partitions and their dynamic configs), their records (key,
value, headers and timestamp, in order per partition) and the committed
offsets of every consumer group from the cluster of --brokers to the
cluster of --to, so that each group resumes there at the same record.

Offsets are translated record by record: where the source log does not
start at 0, compaction removed records, or transactions left control
records and aborted records (which are not copied: the copy reads
read_committed), the same record has a different offset on the target.

Without --execute the plan is printed and nothing is written. With it the
migration refuses while a group has members on the source (stop its
consumers: their position could still move), creates the topics, copies
the records with progress on stderr, commits the translated offsets and
verifies both sides: per partition the record count and a SHA-256 of the
records, per group the record it reads next. The run is resumable: the
state file records what the target has acknowledged, and running the same
command again continues where an interrupted run stopped, or, after a
finished run, copies only the records produced since (catch-up) and
commits again the groups whose position moved on the source. Target
topics must be new or empty.

To keep the downtime short, copy while the source is in use with
--records-only (groups may be active and transactions open: the copy
stops at each partition's last stable offset and moves no group), as
often as needed; then stop the consumers and run without it: only what
came since is copied, and the groups move.

Progress goes to stderr: a bar with the percentage, records and bytes per
second on a terminal, a line every 10 s otherwise, and one JSON object
per line with --output json.`,
		Example: `  rewind migrate --brokers 127.0.0.1:9092 --to kafka-1:9092,kafka-2:9092
  rewind migrate --brokers 127.0.0.1:9092 --to kafka-1:9092 --execute --replication-factor 3
  rewind migrate --to kafka-1:9092 --topic orders --group billing --execute
  rewind migrate --to kafka-1:9092 --execute --records-only   # while the apps run
  rewind migrate --to kafka-1:9092 --execute                  # consumers stopped: the rest, and the groups`,
		Args: cobra.NoArgs,
		RunE: runE(func(c *cliCtx, _ []string) error {
			if strings.TrimSpace(to) == "" {
				return errors.New("--to is required: the target cluster's host:port list")
			}
			src, srcOpts, err := c.clientOpts()
			if err != nil {
				return err
			}
			dstOpts, err := targetOpts(to, toConfig)
			if err != nil {
				return err
			}
			m := &migrate.Migrator{
				Source:  append([]kgo.Opt{kgo.SeedBrokers(src.Brokers...), kgo.ClientID("rewind-migrate")}, srcOpts...),
				Target:  dstOpts,
				Options: migrate.Options{Topics: topics, Groups: groups, ReplicationFactor: rf, RecordsOnly: recordsOnly},
			}
			st, err := migrate.LoadState(statePath)
			if err != nil {
				return err
			}
			if !execute {
				ctx, cancel := c.ctx()
				defer cancel()
				plan, err := m.Plan(ctx, st)
				if err != nil {
					return err
				}
				if c.json {
					return c.writeJSON(map[string]any{"plan": plan, "executed": false})
				}
				fmt.Fprint(c.out, plan)
				if recordsOnly {
					fmt.Fprintln(c.out, "records only: no group moves; a later run without --records-only copies what came since and moves them")
				}
				if a := plan.ActiveGroups(); len(a) > 0 {
					fmt.Fprintf(c.out, "active on the source (stop their consumers before --execute): %s\n", strings.Join(a, ", "))
				}
				if o := plan.OpenTransactions(); len(o) > 0 && !recordsOnly {
					fmt.Fprintf(c.out, "open transactions on the source (end them before --execute): %s\n", strings.Join(o, ", "))
				}
				fmt.Fprintln(c.out, "dry run: nothing was written; add --execute to migrate (offsets marked estimated are exact after the copy)")
				return nil
			}
			// The copy runs as long as the data takes, not --timeout; an
			// interrupt stops it with the state saved.
			ctx, stop := signal.NotifyContext(c.cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			m.Progress = newMigrateProgress(c.err, isTerminal(c.err), c.json).Report
			plan, err := m.Execute(ctx, st)
			if err != nil {
				if errors.Is(err, context.Canceled) {
					return fmt.Errorf("interrupted; run the same command again to resume (state in %s)", st.Path())
				}
				return err
			}
			rep, err := m.Verify(ctx, plan)
			if err != nil {
				return fmt.Errorf("migrated, but the verification could not run: %w", err)
			}
			if c.json {
				if err := c.writeJSON(map[string]any{"plan": plan, "executed": true, "verification": rep}); err != nil {
					return err
				}
			} else {
				fmt.Fprint(c.out, plan)
				printVerification(c, rep)
			}
			if !rep.OK() {
				return errors.New("verification failed: the target differs from the source (see above)")
			}
			return nil
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&to, "to", "", "host:port,... of the target cluster")
	fl.StringVar(&toConfig, "to-command-config", "", "Kafka client properties of the target cluster (as --command-config, which is the source's)")
	fl.BoolVar(&execute, "execute", false, "migrate (without it: print the plan only)")
	fl.StringSliceVar(&topics, "topic", nil, "topics to move (default: every topic that is not internal; repeatable)")
	fl.StringSliceVar(&groups, "group", nil, "groups whose offsets move (default: every group with offsets on a moved topic; repeatable)")
	fl.BoolVar(&recordsOnly, "records-only", false, "copy records only, while the source is still in use (groups active, transactions open); a later run without it copies what came since and moves the groups")
	fl.StringVar(&statePath, "state", "rewind-migrate.json", "file that records progress, so an interrupted --execute resumes")
	fl.Int16Var(&rf, "replication-factor", -1, "replication factor of the topics created on the target (-1: the target's default)")
	return cmd
}

// targetOpts are the client options of the target cluster: --to, as
// --to-command-config says (the security flags are the source's).
func targetOpts(list, configFile string) ([]kgo.Opt, error) {
	cfg := &offsettool.ClientConfig{}
	if configFile != "" {
		var err error
		if cfg, err = offsettool.LoadClientConfig(configFile); err != nil {
			return nil, fmt.Errorf("--to-command-config: %w", err)
		}
	}
	var brokers []string
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			brokers = append(brokers, s)
		}
	}
	opts, err := cfg.Opts()
	if err != nil {
		return nil, fmt.Errorf("--to-command-config: %w", err)
	}
	return append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ClientID("rewind-migrate")}, opts...), nil
}

func printVerification(c *cliCtx, rep *migrate.Report) {
	w := newTable(c.out)
	row(w, "TOPIC", "PARTITION", "SOURCE RECORDS", "TARGET RECORDS", "SHA-256 (SOURCE)", "MATCH")
	for _, p := range rep.Partitions {
		row(w, p.Topic, p.Partition, p.SourceRecords, p.TargetRecords, p.SourceSHA256[:16], yesNo(p.OK))
	}
	w.Flush()
	if len(rep.Groups) > 0 {
		w = newTable(c.out)
		row(w, "GROUP", "TOPIC", "PARTITION", "SOURCE OFFSET", "TARGET OFFSET", "NEXT RECORD", "MATCH")
		for _, g := range rep.Groups {
			row(w, g.Group, g.Topic, g.Partition, g.Source, g.Target, g.Next, yesNo(g.OK))
		}
		w.Flush()
	}
	if rep.OK() {
		fmt.Fprintln(c.out, "verified: every partition and every group's next record match")
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}
