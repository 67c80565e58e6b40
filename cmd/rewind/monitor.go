package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rewindhq/rewind/admin"
	"github.com/rewindhq/rewind/monitor"
	"github.com/spf13/cobra"
)

// defaultMonitorHTTP is `rewind monitor --http`'s default: loopback, one
// port above `rewind serve`'s, so both run side by side.
const defaultMonitorHTTP = "127.0.0.1:9645"

func newMonitorCmd() *cobra.Command {
	var httpAddr, statePath, logLevel string
	var allowedHosts []string
	var httpSec admin.SecurityConfig
	cfg := monitor.Config{}
	cmd := &cobra.Command{
		Use:   "monitor",
		Short: "Serve the console, /api/v1 and /metrics (lag, lag in time, Burrow verdicts) for any Kafka cluster",
		Long: `Watch the cluster at --brokers (Apache Kafka, Rewind, any Kafka-compatible
broker), with the client security of every client command (--command-config,
--security-protocol, --sasl-*, --ssl-*), through the wire protocol and serve the console, /api/v1 and /metrics
of ` + "`rewind serve --http`" + ` for it at --http.

It reads __consumer_offsets as a consumer, from its start (as Burrow does), to
build every group's commit history and Burrow windows, and polls metadata, log
start and end offsets and the groups every --poll. --state keeps the history
and windows in a local file (saved atomically every 30 s and at exit) so that
they survive a restart of the monitor beyond what compaction of
__consumer_offsets keeps.`,
		Example: `  rewind monitor --brokers kafka1:9092,kafka2:9092,kafka3:9092 --http 127.0.0.1:9645 --state /var/lib/rewind/monitor.state`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: use debug, info, warn or error", logLevel)
			}
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			// --brokers, --command-config and the security flags, as for
			// every client command.
			c, err := newCLI(cmd)
			if err != nil {
				return err
			}
			cc, opts, err := c.clientOpts()
			if err != nil {
				return err
			}
			cfg.Brokers, cfg.Opts = cc.Brokers, opts
			cfg.StatePath = statePath
			return runMonitor(cmd.Context(), cfg, httpAddr, allowedHosts, httpSec)
		},
	}
	f := cmd.Flags()
	f.StringVar(&httpAddr, "http", defaultMonitorHTTP, "address of the HTTP listener (console, /metrics, /healthz, /readyz, /api/v1)")
	f.StringSliceVar(&allowedHosts, "http-allowed-hosts", nil, "host names (or addresses) clients use to reach --http besides loopback ones, comma-separated; required when --http is beyond loopback")
	httpSecurityFlags(f, &httpSec)
	f.StringVar(&statePath, "state", "", "local state file keeping commit history and Burrow windows across restarts (empty: none, history is what __consumer_offsets still holds)")
	f.DurationVar(&cfg.Poll, "poll", 10*time.Second, "how often to read metadata, log offsets and groups")
	f.IntVar(&cfg.HistoryPerPartition, "history-per-partition", 32, "superseded positions kept per group and partition")
	f.DurationVar(&cfg.HistoryRetention, "history-retention", 7*24*time.Hour, "keep superseded positions this long")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func runMonitor(ctx context.Context, cfg monitor.Config, httpAddr string, allowedHosts []string, httpSec admin.SecurityConfig) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	sec, err := admin.LoadSecurity(httpSec, cfg.Logger)
	if err != nil {
		return err
	}
	ln, err := admin.ListenSecure(httpAddr, sec, allowedHosts...)
	if err != nil {
		return fmt.Errorf("--http %s: %w", httpAddr, err)
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	m, err := monitor.New(dctx, cfg)
	cancel()
	if err != nil {
		ln.Close()
		return err
	}
	web := admin.New(m, admin.WithLogger(cfg.Logger), admin.WithVersion(version), admin.WithAllowedHosts(allowedHosts...), admin.WithSecurity(sec))
	if err := web.Serve(ln); err != nil {
		m.Close()
		return err
	}
	cfg.Logger.Info("monitoring", "brokers", strings.Join(cfg.Brokers, ","), "state", cfg.StatePath)
	<-ctx.Done()
	cfg.Logger.Info("shutting down")
	web.Close()
	if err := m.Close(); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
