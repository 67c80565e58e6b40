package main

import (
	"errors"
	"fmt"
	"github.com/rewindhq/rewind/clientmetrics"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/rewindhq/rewind/admin"
	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/storage"
	"github.com/spf13/cobra"
)

func newServeCmd() *cobra.Command {
	cfg := broker.DefaultConfig()
	var fsync, logLevel, listeners, advListeners, authorizer, superUsers string
	var allowedHosts []string
	var maxReauthMs int64
	var httpSec admin.SecurityConfig
	httpAddr := defaultHTTPAddr
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the broker",
		Long: `Run a single-node Kafka-compatible broker storing data in --data-dir.

Every flag can also be set with an environment variable REWIND_<FLAG>, for
example REWIND_DATA_DIR=/var/lib/rewind.

Consumer groups: --group-initial-rebalance-delay is Kafka's
group.initial.rebalance.delay.ms (default 3s): the first rebalance of an
empty group waits that long for more members to join, so a group starting
several consumers at once rebalances once instead of once per member. Set
it to 0 in tests for faster start-up.

Admin HTTP (--http, default 127.0.0.1:9644; --http "" turns it off): the
web console at /, Prometheus metrics at /metrics (kafka_exporter's
consumer-group series included), /healthz, /readyz, and the JSON API under
/api/v1. --http-auth-file (basic auth with bcrypt hashes, bearer tokens)
and --http-ssl-client-auth (client certificates) authenticate it as
User:NAME, checked against the ACLs of --authorizer as Kafka checks the
matching API; --http-ssl-certificate serves HTTPS. Beyond loopback it
needs authentication (or --http-allow-unauthenticated) and
--http-allowed-hosts, the names clients use to reach it (other Host
headers are refused, against DNS rebinding).

Listeners are bound before the data directory is opened, so a start that
cannot listen changes nothing in it. --listen 0.0.0.0 (or [::]) needs
--advertise, the address clients can connect to. The data directory is
locked (--data-dir/.lock) for as long as the broker runs: a second process
on it exits with an error naming the first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.Fsync, err = storage.ParseFsync(fsync); err != nil {
				return err
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			if listeners != "" {
				if flagGiven(cmd, "listen") || flagGiven(cmd, "advertise") {
					return fmt.Errorf("--listeners replaces --listen and --advertise: give one or the other")
				}
				if cfg.Listeners, err = broker.ParseListeners(listeners, advListeners); err != nil {
					return err
				}
			} else if advListeners != "" {
				return fmt.Errorf("--advertised-listeners needs --listeners")
			}
			if cfg.Authorizer, err = broker.ParseAuthorizer(authorizer); err != nil {
				return err
			}
			if cfg.SuperUsers, err = broker.ParseSuperUsers(superUsers); err != nil {
				return err
			}
			cfg.ConnectionsMaxReauth = time.Duration(maxReauthMs) * time.Millisecond
			if cfg.OAuthBearer.Enabled() && !flagGiven(cmd, "sasl-enabled-mechanisms") {
				cfg.SASLMechanisms = append(slices.Clone(cfg.SASLMechanisms), "OAUTHBEARER")
			}
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			return serve(cfg, httpAddr, allowedHosts, httpSec, flagGiven(cmd, "http"))
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to listen on for Kafka clients")
	f.StringVar(&cfg.Advertise, "advertise", "", "host:port given to clients in Metadata (default: the listen address)")
	f.StringVar(&listeners, "listeners", "", "Kafka's listeners=: NAME://host:port,... with NAME one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL (replaces --listen)")
	f.StringVar(&advListeners, "advertised-listeners", "", "Kafka's advertised.listeners=: NAME://host:port,... given in Metadata to clients of each listener (default: its bound address)")
	f.StringVar(&cfg.TLS.CertFile, "ssl-certificate", "", "PEM certificate chain of the SSL and SASL_SSL listeners (ssl.keystore.certificate.chain); reloaded on SIGHUP or when the file changes")
	f.StringVar(&cfg.TLS.KeyFile, "ssl-key", "", "PEM private key of --ssl-certificate (ssl.keystore.key), unencrypted")
	f.StringVar(&cfg.TLS.CAFile, "ssl-ca", "", "PEM CA certificates client certificates must chain to (ssl.truststore.certificates)")
	f.BoolVar(&cfg.TLSSelfSigned, "tls-self-signed", false, "for development: make a CA and a server certificate for the TLS listeners' hosts in --data-dir/tls (kept across restarts) and log how to point clients at the CA; instead of --ssl-certificate and --ssl-key")
	f.StringVar(&cfg.TLS.CRLFile, "ssl-crl", "", "certificate revocation lists (PEM or DER) signed by a CA of --ssl-ca: a client certificate they list is refused at the handshake; reloaded like the certificates")
	f.StringVar(&cfg.TLS.ClientAuth, "ssl-client-auth", "none", "ssl.client.auth: none, requested or required; on SSL listeners the principal is User:<certificate subject>")
	f.StringSliceVar(&cfg.SASLMechanisms, "sasl-enabled-mechanisms", broker.DefaultSASLMechanisms, "sasl.enabled.mechanisms of the SASL listeners: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (users: rewind user), OAUTHBEARER (added by default with an OAUTHBEARER validator)")
	f.BoolVar(&cfg.OAuthBearer.Unsecured, "sasl-oauthbearer-unsecured", false, "OAUTHBEARER accepts unsigned JWTs (alg none; Kafka's OAuthBearerUnsecuredValidatorCallbackHandler): anyone may claim any principal, for development only")
	f.StringVar(&cfg.OAuthBearer.JWKSEndpointURL, "sasl-oauthbearer-jwks-endpoint-url", "", "sasl.oauthbearer.jwks.endpoint.url: the JWKS whose keys sign OAUTHBEARER tokens, a file path, file: URL, https URL or loopback http URL")
	f.DurationVar(&cfg.OAuthBearer.JWKSRefresh, "sasl-oauthbearer-jwks-endpoint-refresh", cfg.OAuthBearer.JWKSRefresh, "sasl.oauthbearer.jwks.endpoint.refresh.ms: how often the JWKS is read again (also when a token names an unknown key id, at most every 10s)")
	f.StringSliceVar(&cfg.OAuthBearer.ExpectedAudience, "sasl-oauthbearer-expected-audience", nil, "sasl.oauthbearer.expected.audience: a token's aud must name one of these; none given, a token with an aud is refused (as Kafka)")
	f.StringVar(&cfg.OAuthBearer.ExpectedIssuer, "sasl-oauthbearer-expected-issuer", "", "sasl.oauthbearer.expected.issuer: the iss tokens must have (default: any)")
	f.StringVar(&cfg.OAuthBearer.SubClaimName, "sasl-oauthbearer-sub-claim-name", cfg.OAuthBearer.SubClaimName, "sasl.oauthbearer.sub.claim.name: the claim whose string is the principal's name (User:<name>)")
	f.StringVar(&cfg.OAuthBearer.ScopeClaimName, "sasl-oauthbearer-scope-claim-name", cfg.OAuthBearer.ScopeClaimName, "sasl.oauthbearer.scope.claim.name: the claim holding the token's scopes")
	f.StringSliceVar(&cfg.OAuthBearer.RequiredScope, "sasl-oauthbearer-required-scope", nil, "unsecuredValidatorRequiredScope: scopes every token must have (else insufficient_scope)")
	f.DurationVar(&cfg.OAuthBearer.ClockSkew, "sasl-oauthbearer-clock-skew", cfg.OAuthBearer.ClockSkew, "sasl.oauthbearer.clock.skew.seconds: leeway of the exp, nbf and iat checks")
	f.Int64Var(&maxReauthMs, "connections-max-reauth-ms", 0, "connections.max.reauth.ms: milliseconds within which a SASL session must re-authenticate (KIP-368), or its next request closes the connection; sessions also end with their OAUTHBEARER token (0 = no limit)")
	f.StringVar(&authorizer, "authorizer", "", "authorizer.class.name: standard (Kafka's StandardAuthorizer semantics; ACLs managed with rewind acl) or none (every client may do everything)")
	f.StringVar(&superUsers, "super-users", "", "super.users of --authorizer: principals allowed everything, separated by ; (User:admin;User:CN=ops)")
	f.BoolVar(&cfg.AllowEveryoneIfNoACL, "allow-everyone-if-no-acl-found", false, "allow.everyone.if.no.acl.found of --authorizer: allow an operation on a resource no ACL names")
	f.Int32Var(&cfg.NodeID, "node-id", cfg.NodeID, "node.id: the broker id Metadata, FindCoordinator and DescribeCluster report and replica assignments must name")
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for topics, committed offsets and the catalog")
	f.StringVar(&fsync, "fsync", "always", "durability: always (fsync before acking; one fsync covers every waiting batch), interval, never")
	f.DurationVar(&cfg.FsyncInterval, "fsync-interval", cfg.FsyncInterval, "time between fsyncs with --fsync=interval")
	f.BoolVar(&cfg.AutoCreateTopics, "auto-create-topics", cfg.AutoCreateTopics, "create topics named in Metadata requests")
	f.Int32Var(&cfg.DefaultPartitions, "default-partitions", cfg.DefaultPartitions, "partitions of auto-created topics")
	f.Int32Var(&cfg.MaxRequestBytes, "max-request-bytes", cfg.MaxRequestBytes, "largest request accepted; larger frames close the connection")
	f.IntVar(&cfg.MaxConnections, "max-connections", 0, "most client connections at once; more are closed when accepted, and logged (0 = unlimited)")
	f.IntVar(&cfg.MaxInFlight, "max-in-flight", cfg.MaxInFlight, "requests per connection awaiting their responses; at the limit the connection is not read until one is answered")
	f.Int64Var(&cfg.MaxRequestMemory, "max-request-memory", cfg.MaxRequestMemory, "bytes of requests (produce data included) being handled across all connections; at the limit reading pauses (0 = unlimited)")
	f.Int64Var(&cfg.MaxFetchMemory, "max-fetch-memory", cfg.MaxFetchMemory, "bytes of fetched records waiting to be sent across all connections; at the limit fetches return less data (0 = unlimited)")
	f.Int64Var(&cfg.DiskReserve, "disk-reserve", cfg.DiskReserve, "bytes kept in a reserve file in --data-dir, released when the disk fills up so topics and records can still be deleted; the broker is read-only while less than this is free (0 = off)")
	f.DurationVar(&cfg.RequestReadTimeout, "request-read-timeout", cfg.RequestReadTimeout, "a request must arrive whole within this of its first byte, or the connection is closed; waiting for --max-request-memory does not count (0 = no limit)")
	f.DurationVar(&cfg.ResponseWriteTimeout, "response-write-timeout", cfg.ResponseWriteTimeout, "a response must be taken by the client's socket within this, or the connection is closed and what it holds returned (0 = no limit)")
	f.DurationVar(&cfg.ConnectionsMaxIdle, "connections-max-idle", cfg.ConnectionsMaxIdle, "connections.max.idle.ms: close a connection with nothing read, written or awaited for this long (0 = never)")
	f.Int64Var(&cfg.MaxResponseMemory, "max-response-memory", cfg.MaxResponseMemory, "bytes of responses being built or waiting to be sent across all connections; at the limit reading pauses, a request whose response alone is larger is refused (0 = unlimited)")
	f.IntVar(&cfg.TelemetryMaxBytes, "telemetry-max-bytes", clientmetrics.DefaultMaxBytes, "telemetry.max.bytes: the largest client telemetry push (KIP-714, compressed) a client is told to send and the broker takes; larger ones get TELEMETRY_TOO_LARGE")
	f.IntVar(&cfg.QuotaWindowNum, "quota-window-num", cfg.QuotaWindowNum, "quota.window.num (and controller.quota.window.num): samples client quotas are measured over; controller_mutation_rate allows a burst of quota × num × size")
	f.DurationVar(&cfg.QuotaWindowSize, "quota-window-size", cfg.QuotaWindowSize, "quota.window.size.seconds (and controller.quota.window.size.seconds): length of each quota sample (whole seconds)")
	f.IntVar(&cfg.FetchSessionCacheSlots, "fetch-session-cache-slots", cfg.FetchSessionCacheSlots, "max.incremental.fetch.session.cache.slots: fetch sessions (KIP-227) kept, in 8 shards as in Kafka; a full shard evicts as Kafka does (0 = no sessions)")
	f.IntVar(&cfg.FetchSessionPartitions, "fetch-session-partitions", cfg.FetchSessionPartitions, "partitions all fetch sessions cache together; past it a full fetch gets no session and a growing session is closed (FETCH_SESSION_ID_NOT_FOUND) (0 = unlimited)")
	f.Int32Var(&cfg.MaxPartitions, "max-partitions", cfg.MaxPartitions, "most partitions one topic may have; CreateTopics and CreatePartitions above it get INVALID_PARTITIONS")
	f.IntVar(&cfg.MaxBrokerPartitions, "max-broker-partitions", cfg.MaxBrokerPartitions, "most partitions of all topics together, internal ones included; creations past it get POLICY_VIOLATION (0 = unlimited)")
	f.IntVar(&cfg.MaxOpenFiles, "max-open-files", 0, "most segment files open at once; idle ones are closed, least recently used first, and reopened when needed (0 = half the descriptor limit)")
	f.DurationVar(&cfg.GroupInitialRebalanceDelay, "group-initial-rebalance-delay", cfg.GroupInitialRebalanceDelay, "group.initial.rebalance.delay.ms: wait for more members before a new group's first rebalance")
	f.DurationVar(&cfg.ConsumerGroupSessionTimeout, "group-consumer-session-timeout", cfg.ConsumerGroupSessionTimeout, "group.consumer.session.timeout.ms: a consumer-protocol member that does not heartbeat for this long is fenced")
	f.DurationVar(&cfg.ConsumerGroupMinSessionTimeout, "group-consumer-min-session-timeout", cfg.ConsumerGroupMinSessionTimeout, "group.consumer.min.session.timeout.ms: the least --group-consumer-session-timeout may be")
	f.DurationVar(&cfg.ConsumerGroupMaxSessionTimeout, "group-consumer-max-session-timeout", cfg.ConsumerGroupMaxSessionTimeout, "group.consumer.max.session.timeout.ms: the most --group-consumer-session-timeout may be")
	f.DurationVar(&cfg.ConsumerGroupHeartbeatInterval, "group-consumer-heartbeat-interval", cfg.ConsumerGroupHeartbeatInterval, "group.consumer.heartbeat.interval.ms: the interval consumer-protocol members are told to heartbeat at (below the session timeout)")
	f.DurationVar(&cfg.ConsumerGroupMinHeartbeatInterval, "group-consumer-min-heartbeat-interval", cfg.ConsumerGroupMinHeartbeatInterval, "group.consumer.min.heartbeat.interval.ms: the least --group-consumer-heartbeat-interval may be")
	f.DurationVar(&cfg.ConsumerGroupMaxHeartbeatInterval, "group-consumer-max-heartbeat-interval", cfg.ConsumerGroupMaxHeartbeatInterval, "group.consumer.max.heartbeat.interval.ms: the most --group-consumer-heartbeat-interval may be")
	f.IntVar(&cfg.ConsumerGroupMaxSize, "group-consumer-max-size", cfg.ConsumerGroupMaxSize, "group.consumer.max.size: most members of a consumer-protocol group; a join beyond gets GROUP_MAX_SIZE_REACHED")
	f.StringSliceVar(&cfg.ConsumerGroupAssignors, "group-consumer-assignors", cfg.ConsumerGroupAssignors, "group.consumer.assignors: server-side assignors members may name (uniform, range, or Kafka's class names); the first is the default")
	f.StringVar(&cfg.ConsumerGroupMigrationPolicy, "group-consumer-migration-policy", cfg.ConsumerGroupMigrationPolicy, "group.consumer.migration.policy: bidirectional, upgrade, downgrade or disabled: whether a classic group converts to a consumer-protocol group when a consumer-protocol member joins it, and back when the last one leaves")
	f.DurationVar(&cfg.OffsetsRetention, "offsets-retention", cfg.OffsetsRetention, "offsets.retention.minutes: keep an empty group's committed offsets this long")
	f.DurationVar(&cfg.OffsetsHistoryRetention, "offsets-history-retention", cfg.OffsetsHistoryRetention, "keep superseded commits this long, for rewinding a group to a past position")
	f.Int32Var(&cfg.TransactionStatePartitions, "transaction-state-partitions", cfg.TransactionStatePartitions, "transaction.state.log.num.partitions: partitions of __transaction_state when it is created")
	f.DurationVar(&cfg.TransactionMaxTimeout, "transaction-max-timeout", cfg.TransactionMaxTimeout, "transaction.max.timeout.ms: the longest transaction.timeout.ms a producer may ask for (longer gets INVALID_TRANSACTION_TIMEOUT)")
	f.DurationVar(&cfg.TransactionalIDExpiration, "transactional-id-expiration", cfg.TransactionalIDExpiration, "transactional.id.expiration.ms: forget a transactional id with no open transaction unused this long")
	f.Int64Var(&cfg.LogCleanerDedupeBufferSize, "log-cleaner-dedupe-buffer-size", cfg.LogCleanerDedupeBufferSize, "log.cleaner.dedupe.buffer.size: bytes of the map compaction holds keys in (24 per key, filled to 90%); more keys are cleaned in more passes (at least 1 MiB)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&cfg.LogRequests, "log-requests", "all", "the request log at --log-level debug (API, version, client id, latency, error code): all, none, or api=Produce|Fetch,client=my-app")
	f.StringVar(&httpAddr, "http", httpAddr, `address of the admin HTTP listener (console, /metrics, /healthz, /readyz, /api/v1); "" turns it off`)
	f.StringSliceVar(&allowedHosts, "http-allowed-hosts", nil, "host names (or addresses) clients use to reach --http besides loopback ones, comma-separated; .example.com allows subdomains; required when --http is beyond loopback")
	httpSecurityFlags(f, &httpSec)
	return cmd
}

// defaultHTTPAddr is --http's default (a variable so that tests can make
// it a busy address).
var defaultHTTPAddr = admin.DefaultAddr

// serve runs the broker, and the admin HTTP listener unless httpAddr is
// empty. The admin listener must start, at its default address too: a
// broker that started without it would leave the address to another
// process, often another rewind serve, whose console users would then
// take for this broker's; --http "" turns it off (several brokers side by
// side). Both listeners are bound before broker.New opens the data
// directory: a start that cannot listen must not run recovery, create or
// rewrite any file.
func serve(cfg broker.Config, httpAddr string, allowedHosts []string, httpSec admin.SecurityConfig, explicitHTTP bool) error {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	var httpLn net.Listener
	var sec *admin.Security
	if httpAddr != "" {
		var err error
		if sec, err = admin.LoadSecurity(httpSec, cfg.Logger); err != nil {
			return err
		}
		if httpLn, err = admin.ListenSecure(httpAddr, sec, allowedHosts...); err != nil {
			if errors.Is(err, admin.ErrUnsafeBind) {
				return err
			}
			which := "--http " + httpAddr
			if !explicitHTTP {
				which += " (the default)"
			}
			return fmt.Errorf("%s: %w: another process, perhaps another rewind serve whose console that is, holds it; choose another address with --http, or --http \"\" to run without the console", which, err)
		}
	}
	b, err := broker.New(broker.WithConfig(cfg))
	if err != nil {
		if httpLn != nil {
			httpLn.Close()
		}
		return err
	}
	if err := b.Start(); err != nil {
		b.Close()
		return err
	}
	var web *admin.Server
	if httpLn != nil {
		web = admin.New(b.AdminAPI(), admin.WithLogger(cfg.Logger), admin.WithVersion(version), admin.WithAllowedHosts(allowedHosts...), admin.WithSecurity(sec))
		if err := web.Serve(httpLn); err != nil {
			b.Close()
			return err
		}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var sig os.Signal
	for sig == nil {
		select {
		case <-hup:
			b.ReloadTLS() // logs its outcome; open connections stay
			if web != nil {
				web.Reload()
			}
		case sig = <-sigs:
		}
	}
	cfg.Logger.Info("shutting down; send the signal again to exit at once", "signal", sig.String())
	go func() {
		<-sigs
		cfg.Logger.Warn("second signal: exiting without a clean shutdown")
		os.Exit(130)
	}()
	if web != nil {
		web.Close()
	}
	if err := b.Close(); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	cfg.Logger.Info("stopped cleanly")
	return nil
}
