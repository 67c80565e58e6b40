package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/rewindhq/rewind/lageval"
	"github.com/rewindhq/rewind/offsettool"
	"github.com/spf13/cobra"
)

func newLagCmd() *cobra.Command {
	var (
		groups     []string
		watch      bool
		interval   time.Duration
		iterations int
	)
	cmd := &cobra.Command{
		Use:   "lag",
		Short: "Lag per group and topic; --watch refreshes it with the trend",
		Long: `Lag per group and topic: the sum over partitions of log end minus committed
offset. Partitions the group never committed to are counted in UNCOMMITTED
and add nothing to LAG. While transactions are open, LSO-LAG is the lag
against the last stable offset: what a read_committed consumer can read now.

With --watch the table refreshes every --interval; TREND is the change of
the lag since the previous refresh (negative: the group is catching up).
On a terminal the screen is redrawn; piped, each refresh is appended (with
--output json, one JSON object per line).`,
		Example: `  rewind lag
  rewind lag --group orders-service --watch --interval 5s`,
		Args: cobra.NoArgs,
		RunE: runE(func(c *cliCtx, _ []string) error {
			if watch && interval <= 0 {
				return fmt.Errorf("--interval %v: use a positive duration like 2s", interval)
			}
			if !watch && iterations > 0 {
				return fmt.Errorf("--iterations needs --watch")
			}
			dctx, cancel := c.ctx()
			c.need("Describe", "GROUP", groupsOrAll(groups)...)
			c.need("Describe", "TOPIC", "*")
			cl, err := c.dial(dctx)
			cancel()
			if err != nil {
				return err
			}
			defer cl.Close()
			if !watch {
				ctx, cancel := c.ctx()
				defer cancel()
				rows, err := cl.Lag(ctx, groups)
				if err != nil {
					return err
				}
				if c.json {
					return c.writeJSON(rows)
				}
				return lagTable(c, rows, false)
			}
			ctx, stop := signal.NotifyContext(c.cmd.Context(), os.Interrupt)
			defer stop()
			return watchLag(ctx, c, cl, groups, interval, iterations)
		}),
	}
	f := cmd.Flags()
	f.StringArrayVarP(&groups, "group", "g", nil, "only this group (repeatable; default: every group)")
	f.BoolVarP(&watch, "watch", "w", false, "refresh until interrupted, with the lag trend")
	f.DurationVar(&interval, "interval", 2*time.Second, "time between refreshes with --watch")
	f.IntVar(&iterations, "iterations", 0, "with --watch, stop after this many refreshes (0: until interrupted)")
	return cmd
}

// watchLag refreshes the lag table; each refresh is bounded by --timeout,
// the loop by ctx and iterations.
func watchLag(ctx context.Context, c *cliCtx, cl *offsettool.Client, groups []string, interval time.Duration, iterations int) error {
	redraw := !c.json && isTerminal(c.out)
	var prev []offsettool.LagRow
	for i := 0; iterations <= 0 || i < iterations; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(interval):
			}
		}
		d, _ := c.cmd.Flags().GetDuration(flagTimeout)
		rctx, cancel := context.WithTimeout(ctx, d)
		rows, err := cl.Lag(rctx, groups)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if i > 0 {
			rows = offsettool.Trend(prev, rows)
		}
		prev = rows
		now := time.Now()
		if c.json {
			if err := c.writeJSONLine(map[string]any{"time": now.UTC(), "groups": rows}); err != nil {
				return err
			}
			continue
		}
		if redraw {
			fmt.Fprint(c.out, "\033[H\033[2J")
		} else if i > 0 {
			fmt.Fprintln(c.out)
		}
		fmt.Fprintf(c.out, "%s  every %v\n", now.Format("15:04:05"), interval)
		if err := lagTable(c, rows, true); err != nil {
			return err
		}
	}
	return nil
}

// lossCell is a row's LOSS-IN: "-" when not at risk, "lost" once retention
// deleted unread records, else the time left and the partition.
func lossCell(r offsettool.LagRow) string {
	switch {
	case r.TimeToLoss == nil:
		return "-"
	case strings.HasPrefix(r.LossDescription, "retention already deleted"):
		return fmt.Sprintf("lost (p%d)", *r.LossPartition)
	}
	return fmt.Sprintf("%s (p%d)", lageval.HumanDuration(time.Duration(*r.TimeToLoss*float64(time.Second))), *r.LossPartition)
}

func lagTable(c *cliCtx, rows []offsettool.LagRow, trend bool) error {
	w := newTable(c.out)
	// LSO-LAG (what a read_committed consumer can read now) only when an
	// open transaction makes it differ from LAG somewhere.
	stable := false
	for _, r := range rows {
		stable = stable || r.StableLag != r.Lag
	}
	head := []any{"GROUP", "TOPIC", "STATE", "MEMBERS", "PARTITIONS", "UNCOMMITTED", "LAG"}
	if stable {
		head = append(head, "LSO-LAG")
	}
	if trend {
		head = append(head, "TREND")
	}
	// LOSS-IN (when retention deletes unread records at this pace) only
	// when some partition is at risk.
	loss := false
	for _, r := range rows {
		loss = loss || r.TimeToLoss != nil
	}
	if loss {
		head = append(head, "LOSS-IN")
	}
	row(w, head...)
	for _, r := range rows {
		cells := []any{r.Group, dash(r.Topic), r.State, r.Members, r.Partitions, r.Uncommitted, r.Lag}
		if stable {
			cells = append(cells, r.StableLag)
		}
		if trend {
			t := "-"
			if r.Trend != nil {
				t = fmt.Sprintf("%+d", *r.Trend)
			}
			cells = append(cells, t)
		}
		if loss {
			cells = append(cells, lossCell(r))
		}
		row(w, cells...)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, r := range rows {
		if r.LossDescription != "" {
			fmt.Fprintf(c.out, "%s %s/%d: %s\n", r.Group, r.Topic, *r.LossPartition, r.LossDescription)
		}
	}
	return nil
}
