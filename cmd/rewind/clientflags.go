package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rewindhq/rewind/offsettool"
	"github.com/spf13/cobra"
)

// Flags shared by every client command (topic, produce, consume, group,
// lag). They are persistent on the root so they can go anywhere on the
// command line, and REWIND_BROKERS / REWIND_OUTPUT / REWIND_TIMEOUT fill
// them through flagsFromEnv.
const (
	flagBrokers = "brokers"
	flagOutput  = "output"
	flagTimeout = "timeout"
)

func addClientFlags(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.String(flagBrokers, "127.0.0.1:9092", "comma-separated host:port of Kafka brokers (Rewind, Apache Kafka, Redpanda…); --bootstrap-server is the same, as in Kafka's tools")
	pf.String(flagOutput, "table", "output format: table (for people) or json (stable field names, for scripts)")
	pf.Duration(flagTimeout, 30*time.Second, "give up on a client command after this long (consume and lag --watch run until stopped)")
}

// clientCommands are the commands built on offsettool.
func clientCommands() []*cobra.Command {
	return []*cobra.Command{newTopicCmd(), newProduceCmd(), newConsumeCmd(), newGroupCmd(), newLagCmd(), newTransactionsCmd(), newACLCmd(), newMigrateCmd()}
}

// cliCtx is what a client command needs at run time.
type cliCtx struct {
	cmd  *cobra.Command
	json bool
	out  io.Writer
	err  io.Writer
}

func newCLI(cmd *cobra.Command) (*cliCtx, error) {
	o, _ := cmd.Flags().GetString(flagOutput)
	switch o {
	case "table", "json":
	default:
		return nil, fmt.Errorf("--output %q: use table or json", o)
	}
	return &cliCtx{cmd: cmd, json: o == "json", out: cmd.OutOrStdout(), err: cmd.ErrOrStderr()}, nil
}

// ctx bounds a one-shot command by --timeout.
func (c *cliCtx) ctx() (context.Context, context.CancelFunc) {
	d, _ := c.cmd.Flags().GetDuration(flagTimeout)
	if d <= 0 {
		d = 30 * time.Second
	}
	return context.WithTimeout(c.cmd.Context(), d)
}

// connect dials --brokers under the command's --timeout; done closes the
// client and releases the context.
func (c *cliCtx) connect() (context.Context, *offsettool.Client, func(), error) {
	ctx, cancel := c.ctx()
	cl, err := c.dial(ctx)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return ctx, cl, func() { cl.Close(); cancel() }, nil
}

// dial connects to --brokers.
func (c *cliCtx) dial(ctx context.Context) (*offsettool.Client, error) {
	b, _ := c.cmd.Flags().GetString(flagBrokers)
	var brokers []string
	for _, s := range strings.Split(b, ",") {
		if s = strings.TrimSpace(s); s != "" {
			brokers = append(brokers, s)
		}
	}
	cl, err := offsettool.Dial(ctx, brokers)
	if err != nil {
		return nil, fmt.Errorf("%w; start one with `rewind serve` or point --brokers (or REWIND_BROKERS) at your cluster", err)
	}
	return cl, nil
}

func (c *cliCtx) writeJSON(v any) error {
	enc := json.NewEncoder(c.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeJSONLine writes v on one line (a stream of objects: watch, consume).
func (c *cliCtx) writeJSONLine(v any) error {
	return json.NewEncoder(c.out).Encode(v)
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// row writes tab-separated cells.
func row(w io.Writer, cells ...any) {
	for i, c := range cells {
		if i > 0 {
			fmt.Fprint(w, "\t")
		}
		fmt.Fprint(w, c)
	}
	fmt.Fprintln(w)
}

// isTerminal reports whether w is a character device (a terminal), so
// progress and screen redraws are shown only to people, never into pipes
// or files.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// runE adapts a client command: errors come out on one line.
func runE(fn func(c *cliCtx, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := newCLI(cmd)
		if err != nil {
			return err
		}
		if err := fn(c, args); err != nil {
			return errors.New(strings.Join(strings.Fields(err.Error()), " "))
		}
		return nil
	}
}

// offsetCell prints an offset, "-" for none.
func offsetCell(o int64) string {
	if o < 0 {
		return "-"
	}
	return fmt.Sprint(o)
}

// parseTimeArg accepts an RFC 3339 time or a duration meaning that long
// ago (kafka-consumer-groups' --to-datetime takes a time, --by-duration a
// duration).
func parseTimeArg(flag, s string, now time.Time) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(s, "-")); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: use an RFC 3339 time like 2026-01-02T15:04:05Z, or a duration ago like 90m", flag, s)
}
