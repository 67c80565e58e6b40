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
	"github.com/twmb/franz-go/pkg/kgo"
)

// Flags shared by every client command (topic, produce, consume, group,
// lag). They are persistent on the root so they can go anywhere on the
// command line, and REWIND_BROKERS / REWIND_OUTPUT / REWIND_TIMEOUT fill
// them through flagsFromEnv.
const (
	flagBrokers       = "brokers"
	flagOutput        = "output"
	flagTimeout       = "timeout"
	flagCommandConfig = "command-config"
)

// The security flags, each overriding its property of --command-config
// (named after the property).
var securityFlags = []struct{ flag, property, usage string }{
	{"security-protocol", "security.protocol", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"},
	{"sasl-mechanism", "sasl.mechanism", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"},
	{"sasl-username", "sasl.username", "SASL user"},
	{"sasl-password", "sasl.password", "SASL password (prefer REWIND_SASL_PASSWORD or the file: a flag shows in ps)"},
	{"ssl-truststore-location", "ssl.truststore.location", "PEM file of the CA certificates the broker's certificate must chain to (default: the system's)"},
	{"ssl-certificate-location", "ssl.certificate.location", "PEM client certificate chain (mTLS)"},
	{"ssl-key-location", "ssl.key.location", "PEM private key of --ssl-certificate-location, unencrypted"},
}

func addClientFlags(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.String(flagBrokers, "127.0.0.1:9092", "comma-separated host:port of Kafka brokers (Rewind, Apache Kafka, Redpanda…); --bootstrap-server is the same, as in Kafka's tools")
	pf.String(flagOutput, "table", "output format: table (for people) or json (stable field names, for scripts)")
	pf.Duration(flagTimeout, 30*time.Second, "give up on a client command after this long (consume and lag --watch run until stopped)")
	pf.String(flagCommandConfig, "", "Kafka client properties file (security.protocol, sasl.mechanism, sasl.jaas.config, ssl.truststore.*, ssl.keystore.* in PEM), as for Kafka's tools; the flags below override it")
	for _, f := range securityFlags {
		pf.String(f.flag, "", f.usage+" (property "+f.property+")")
	}
}

// clientCommands are the commands built on offsettool.
func clientCommands() []*cobra.Command {
	return []*cobra.Command{newTopicCmd(), newProduceCmd(), newConsumeCmd(), newGroupCmd(), newLagCmd(), newTransactionsCmd(), newACLCmd(), newQuotaCmd(), newMigrateCmd(), newMonitorCmd()}
}

// cliCtx is what a client command needs at run time.
type cliCtx struct {
	cmd  *cobra.Command
	json bool
	out  io.Writer
	err  io.Writer

	// principal is who the command connected as, and needs what it
	// declared it needs (need), so that an authorization failure can say
	// which ACL is missing.
	principal string
	needs     []aclNeed
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

// clientConfig is --command-config with the security flags and --brokers
// applied over it (a flag or its REWIND_* variable wins over the file;
// the file's bootstrap.servers over --brokers' default).
func (c *cliCtx) clientConfig(fileFlag, brokersFlag string) (*offsettool.ClientConfig, error) {
	cfg := &offsettool.ClientConfig{}
	path, _ := c.cmd.Flags().GetString(fileFlag)
	if path != "" {
		var err error
		if cfg, err = offsettool.LoadClientConfig(path); err != nil {
			return nil, err
		}
	}
	fl := c.cmd.Flags()
	for _, f := range securityFlags {
		if !flagGiven(c.cmd, f.flag) {
			continue
		}
		v, _ := fl.GetString(f.flag)
		switch f.flag {
		case "security-protocol":
			cfg.SecurityProtocol = strings.ToUpper(v)
		case "sasl-mechanism":
			cfg.SASLMechanism = strings.ToUpper(v)
		case "sasl-username":
			cfg.Username = v
		case "sasl-password":
			cfg.Password = v
		case "ssl-truststore-location":
			cfg.CAFile, cfg.CAPEM = v, ""
		case "ssl-certificate-location":
			cfg.CertFile, cfg.CertPEM, cfg.KeyPEM = v, "", ""
		case "ssl-key-location":
			cfg.KeyFile, cfg.CertPEM, cfg.KeyPEM = v, "", ""
		}
	}
	if b, _ := fl.GetString(brokersFlag); flagGiven(c.cmd, brokersFlag) || len(cfg.Brokers) == 0 {
		cfg.Brokers = nil
		for _, s := range strings.Split(b, ",") {
			if s = strings.TrimSpace(s); s != "" {
				cfg.Brokers = append(cfg.Brokers, s)
			}
		}
	}
	if err := cfg.Validate(); err != nil {
		if path != "" {
			return nil, fmt.Errorf("--%s %s (with the flags): %w", fileFlag, path, err)
		}
		return nil, err
	}
	return cfg, nil
}

// clientOpts are the kgo options of --command-config and the flags, seed
// brokers included.
func (c *cliCtx) clientOpts() (*offsettool.ClientConfig, []kgo.Opt, error) {
	cfg, err := c.clientConfig(flagCommandConfig, flagBrokers)
	if err != nil {
		return nil, nil, err
	}
	opts, err := cfg.Opts()
	if err != nil {
		return nil, nil, err
	}
	c.principal = cfg.Principal()
	return cfg, opts, nil
}

// dial connects to --brokers as --command-config and the flags say.
func (c *cliCtx) dial(ctx context.Context) (*offsettool.Client, error) {
	cfg, opts, err := c.clientOpts()
	if err != nil {
		return nil, err
	}
	cl, err := offsettool.Dial(ctx, cfg.Brokers, opts...)
	if err != nil {
		if errors.Is(err, offsettool.ErrAuthentication) {
			return nil, fmt.Errorf("%w (as %s over %s)", err, c.principal, cfg.SecurityProtocol)
		}
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
		if err := c.explainAuth(fn(c, args)); err != nil {
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
