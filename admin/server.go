package admin

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/offsettool"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DefaultAddr is where `rewind serve` listens for HTTP unless told
// otherwise: loopback only, since the console can reset groups.
const DefaultAddr = "127.0.0.1:9644"

// Server is the admin HTTP listener of one broker.
type Server struct {
	b       Broker
	log     *slog.Logger
	version string
	started time.Time
	mux     *http.ServeMux

	ln   net.Listener
	srv  *http.Server
	done chan struct{}
	// Requests must name this machine's loopback or one of allowedHosts in
	// their Host header, which defeats DNS rebinding: a web page whose name
	// is made to resolve to this listener still sends its own name.
	allowedHosts []string
	// checkHost is set once the server serves its own listener (or has
	// allowed hosts): a Handler mounted by an embedding program without
	// them leaves the Host check to that program.
	checkHost bool

	// browsing holds a token per message-browser read in progress,
	// producing one per produce whose body is being decoded or appended.
	browsing  chan struct{}
	producing chan struct{}
	tails     *tailSet // live tails (api_tail.go)

	// sec is the listener's authentication and TLS (nil: none); az the
	// ACLs requests are checked against (auth.go, authz.go). A request is
	// served by a copy of the Server whose b is its principal's view
	// (Server.authorized), so what is shared by requests is behind
	// pointers.
	sec *Security
	az  Authorizer
	// stop ends watch, which watched counts.
	stop    chan struct{}
	watched *sync.WaitGroup
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithAllowedHosts sets the host names (or addresses) requests may name
// in their Host header besides loopback ones; an entry starting with a dot
// also allows every subdomain. A listener bound beyond loopback needs at
// least one (see Listen).
func WithAllowedHosts(hosts ...string) Option {
	return func(s *Server) {
		for _, h := range hosts {
			if h = normHost(h); h != "" && h != "." {
				s.allowedHosts = append(s.allowedHosts, h)
				s.checkHost = true
			}
		}
	}
}

// WithSecurity sets the listener's authentication and HTTPS, from
// LoadSecurity.
func WithSecurity(sec *Security) Option { return func(s *Server) { s.sec = sec } }

// WithVersion sets the version shown by the console and /api/v1/overview.
func WithVersion(v string) Option { return func(s *Server) { s.version = v } }

// New builds the admin server of b (a broker's AdminAPI); Start listens.
func New(b Broker, opts ...Option) *Server {
	s := &Server{b: b, log: slog.Default(), watched: &sync.WaitGroup{}, tails: &tailSet{}, version: "dev", started: time.Now(), mux: http.NewServeMux(),
		browsing: make(chan struct{}, maxBrowsing), producing: make(chan struct{}, maxProducing)}
	for _, o := range opts {
		o(s)
	}
	s.az = allowAll{}
	if az, ok := b.(Authorizer); ok {
		s.az = az
	}
	s.routes()
	return s
}

func (s *Server) routes() {
	m := s.mux
	m.Handle("GET /metrics", promhttp.HandlerFor(s.b.Metrics(), promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}))
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	m.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := s.b.Ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
		if err := s.b.ReadOnly(); err != nil {
			// Still ready: reads, fetches and the deletions that free
			// space are served, and taking the broker out of a load
			// balancer would stop them too. rewind_disk_full alerts.
			fmt.Fprintf(w, "ready, read-only: %v\n", err)
			return
		}
		io.WriteString(w, "ready\n")
	})

	type route = func(*Server, http.ResponseWriter, *http.Request)
	api := func(pattern string, check routeCheck, h route) { m.HandleFunc(pattern, s.authorized(check, h)) }
	topicDescribe, groupDescribe := needTopic(kmsg.ACLOperationDescribe), needGroup(kmsg.ACLOperationDescribe)
	api("GET /api/v1/overview", nil, (*Server).overview)
	api("GET /api/v1/topics", nil, (*Server).topics)
	api("GET /api/v1/topics/{topic}", topicDescribe, (*Server).topic)
	api("GET /api/v1/topics/{topic}/records", needTopic(kmsg.ACLOperationRead), (*Server).records)
	api("GET /api/v1/topics/{topic}/tail", needTopic(kmsg.ACLOperationRead), (*Server).tail)
	api("GET /api/v1/transactions", nil, (*Server).transactions)
	// The telemetry the clients pushed (CLIENT_METRICS is the cluster's):
	// served by s, whose Broker is the broker itself, since clients asks
	// it whether it receives telemetry.
	api("GET /api/v1/clients", needCluster(kmsg.ACLOperationDescribe), func(_ *Server, w http.ResponseWriter, r *http.Request) { s.clients(w, r) })
	api("GET /api/v1/groups", nil, (*Server).groups)
	api("GET /api/v1/groups/{group}", groupDescribe, (*Server).group)
	api("GET /api/v1/groups/{group}/lag", groupDescribe, (*Server).lagHistory)
	api("GET /api/v1/groups/{group}/history", groupDescribe, (*Server).history)
	api("GET /api/v1/groups/{group}/rebalances", groupDescribe, (*Server).rebalances)
	api("GET /api/v1/groups/{group}/explain", groupDescribe, (*Server).explain)
	// Changes are checked by the view (authz.go) when they reach the
	// broker; a reset also needs DESCRIBE to plan.
	api("POST /api/v1/groups/{group}/reset", groupDescribe, (*Server).reset)
	api("POST /api/v1/topics/{topic}/partitions/{partition}/repair", nil, (*Server).repair)
	api("POST /api/v1/topics", nil, (*Server).createTopic)
	api("DELETE /api/v1/topics/{topic}", nil, (*Server).deleteTopic)
	api("POST /api/v1/topics/{topic}/partitions", nil, (*Server).addPartitions)
	api("GET /api/v1/topics/{topic}/configs", nil, (*Server).topicConfigs)
	api("POST /api/v1/topics/{topic}/configs", nil, (*Server).alterConfigs)
	api("POST /api/v1/topics/{topic}/records", nil, (*Server).produce)
	api("DELETE /api/v1/groups/{group}", nil, (*Server).deleteGroup)
	api("DELETE /api/v1/groups/{group}/offsets", nil, (*Server).deleteOffsets)
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no API endpoint %s %s; see /api/v1/overview", r.Method, r.URL.Path))
	})

	static, err := fs.Sub(webFS, "web")
	if err != nil {
		panic(err)
	}
	files := http.FileServerFS(static)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// The console is one page; its views are #fragments.
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// Handler is the whole admin HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.guard(s.mux) }

// guard refuses requests that a web page of another site could make from
// the operator's browser. The Host must be a loopback name or address or
// an allowed host (DNS rebinding). API requests that the browser
// marks as coming from another site (Sec-Fetch-Site, sent by every current
// browser, or an Origin naming another host) are refused, reads included:
// a page elsewhere could otherwise make the broker decode records for it,
// even if it cannot read the answer. The console's own requests are
// same-origin; curl, scripts and Prometheus send neither header. State-
// changing requests must also be JSON (which a cross-origin page cannot
// send without a CORS preflight, never granted here).
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.checkHost && !s.hostAllowed(r.Host) {
			msg := "use http://127.0.0.1 or http://localhost"
			if len(s.allowedHosts) > 0 {
				msg = "allowed: loopback and " + strings.Join(s.allowedHosts, ", ") + " (--http-allowed-hosts)"
			}
			writeError(w, http.StatusForbidden, fmt.Errorf("host %q refused: %s", r.Host, msg))
			return
		}
		if !(s.sec != nil && s.sec.MetricsOpen && openPath(r.URL.Path)) {
			p, ok := s.authenticate(w, r)
			if !ok {
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
		}
		write := r.Method != http.MethodGet && r.Method != http.MethodHead
		if write || strings.HasPrefix(r.URL.Path, "/api/") {
			if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
				writeError(w, http.StatusForbidden, fmt.Errorf("request from another site (Sec-Fetch-Site: %s) refused", site))
				return
			}
			if o := r.Header.Get("Origin"); o != "" {
				if u, err := url.Parse(o); err != nil || u.Host != r.Host {
					writeError(w, http.StatusForbidden, fmt.Errorf("cross-origin request from %q refused", o))
					return
				}
			}
		}
		if write {
			ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if ct != "application/json" {
				writeError(w, http.StatusUnsupportedMediaType, errors.New("send a JSON body (Content-Type: application/json)"))
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// openPath reports whether --http-metrics-open leaves path open.
func openPath(p string) bool { return p == "/metrics" || p == "/healthz" || p == "/readyz" }

// Start listens on addr (host:port; port 0 picks one) and serves until
// Close.
func (s *Server) Start(addr string) error {
	ln, err := ListenSecure(addr, s.sec, s.allowedHosts...)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Listen is ListenSecure without authentication or HTTPS.
func Listen(addr string, allowedHosts ...string) (net.Listener, error) {
	return ListenSecure(addr, nil, allowedHosts...)
}

// ListenSecure binds addr for Serve, so that `rewind serve` can fail on a
// taken or refused address before it opens the data directory. Beyond
// loopback it needs allowedHosts (the Host check against DNS rebinding
// needs the names clients use) and authentication (sec with an
// --http-auth-file or required client certificates), unless
// sec.AllowUnauthenticated.
func ListenSecure(addr string, sec *Security, allowedHosts ...string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin: listen on %s: %w", addr, err)
	}
	if err := checkBind(addr, ln.Addr(), sec, allowedHosts); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

func beyondLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && !ta.IP.IsLoopback()
}

// ErrUnsafeBind is the error of a listener refused beyond loopback.
var ErrUnsafeBind = errors.New("refused beyond loopback")

func checkBind(addr string, a net.Addr, sec *Security, allowedHosts []string) error {
	if !beyondLoopback(a) {
		return nil
	}
	if len(allowedHosts) == 0 {
		return fmt.Errorf("admin: %w: --http %s is reachable beyond this machine (%s): set --http-allowed-hosts to the host names clients use to reach it (requests naming other hosts are refused, against DNS rebinding), or keep --http on 127.0.0.1", ErrUnsafeBind, addr, a)
	}
	if !sec.authenticates() && !sec.allowsUnauthenticated() {
		return fmt.Errorf("admin: %w: --http %s is reachable beyond this machine (%s) without authentication, and the console can read records, reset groups and delete topics: set --http-auth-file (basic auth, bearer tokens) or --http-ssl-client-auth required, or keep --http on 127.0.0.1; --http-allow-unauthenticated serves it open anyway", ErrUnsafeBind, addr, a)
	}
	return nil
}

// Serve serves ln (from Listen) until Close.
func (s *Server) Serve(ln net.Listener) error {
	if err := checkBind(ln.Addr().String(), ln.Addr(), s.sec, s.allowedHosts); err != nil {
		ln.Close()
		return err
	}
	s.ln = ln
	s.checkHost = true
	if beyondLoopback(ln.Addr()) && !s.sec.authenticates() {
		s.log.Warn("the admin HTTP listener is reachable beyond this machine and has no authentication (--http-allow-unauthenticated): anyone who can connect can browse records, reset consumer groups and delete topics; restrict access with a firewall or an authenticating proxy",
			"addr", ln.Addr().String(), "allowed_hosts", strings.Join(s.allowedHosts, ","))
	}
	if beyondLoopback(ln.Addr()) && s.sec.authenticates() && s.sec.tls == nil {
		s.log.Warn("the admin HTTP listener is reachable beyond this machine over plain HTTP: passwords and tokens cross the network in clear; set --http-ssl-certificate and --http-ssl-key",
			"addr", ln.Addr().String())
	}
	scheme := "http://"
	if s.sec != nil && s.sec.tls != nil {
		scheme = "https://"
		ln = tls.NewListener(ln, s.sec.tls.Config())
	}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.done = make(chan struct{})
	s.stop = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin HTTP server stopped", "err", err)
		}
	}()
	if s.sec != nil && s.sec.tls != nil {
		s.watched.Add(1)
		go s.watchTLS()
	}
	u := scheme + ln.Addr().String()
	s.log.Info("admin HTTP listening", "addr", u, "console", u+"/", "metrics", u+"/metrics", "authentication", s.sec.describe())
	return nil
}

// Addr is the address the server listens on (valid after Start).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Close stops listening and waits up to five seconds for requests in
// flight.
func (s *Server) Close() error {
	s.tails.close() // streams never go idle: end them before Shutdown waits
	var err error
	if s.stop != nil { // Close may be called again
		close(s.stop)
		s.watched.Wait()
		s.stop = nil
	}
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = s.srv.Shutdown(ctx)
		cancel()
		if err != nil {
			s.srv.Close()
		}
		<-s.done
	}
	return err
}

// hostAllowed reports whether a Host header names this machine's loopback
// or an allowed host.
func (s *Server) hostAllowed(hostport string) bool {
	if loopbackHost(hostport) {
		return true
	}
	host := hostOnly(hostport)
	for _, a := range s.allowedHosts {
		if host == a || (strings.HasPrefix(a, ".") && (host == a[1:] || strings.HasSuffix(host, a))) {
			return true
		}
	}
	return false
}

// hostOnly is the lower-case host of a Host header, without port, brackets
// or trailing dot.
func hostOnly(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return normHost(host)
}

func normHost(h string) string {
	return strings.Trim(strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), "."), "[]")
}

// loopbackHost reports whether a Host header names this machine's loopback.
func loopbackHost(hostport string) bool {
	host := hostOnly(hostport)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// apiError is the body of every error answer. A change the broker refused
// also carries the Kafka error a Kafka client gets for it (its name, as
// kerr gives it, and its code).
type apiError struct {
	Error      string              `json:"error"`
	KafkaError string              `json:"kafka_error,omitempty"`
	KafkaCode  int16               `json:"kafka_code,omitempty"`
	Members    []offsettool.Member `json:"members,omitempty"` // who blocks a reset
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, errorBody(err))
}

// writeErr answers err with the status errorStatus gives it.
func writeErr(w http.ResponseWriter, err error) { writeError(w, errorStatus(err), err) }

func errorBody(err error) apiError {
	body := apiError{Error: err.Error()}
	var ke *broker.KafkaError
	if errors.As(err, &ke) {
		body.KafkaError, body.KafkaCode = ke.Err.Message, ke.Err.Code
	}
	var am *offsettool.ActiveMembersError
	if errors.As(err, &am) {
		body.Members = am.Members
	}
	return body
}

// errorStatus maps offsettool's and the broker's errors to HTTP statuses.
func errorStatus(err error) int {
	var ke *broker.KafkaError
	switch {
	case errors.Is(err, offsettool.ErrUnknownGroup), errors.Is(err, offsettool.ErrUnknownTopic), errors.Is(err, broker.ErrUnknownTopic):
		return http.StatusNotFound
	case errors.Is(err, offsettool.ErrActiveMembers):
		return http.StatusConflict
	case errors.Is(err, offsettool.ErrOutOfRange):
		return http.StatusUnprocessableEntity
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.As(err, &ke):
		return kafkaStatus(ke.Err)
	}
	return http.StatusBadRequest
}

// kafkaStatus is the HTTP status of a change the broker refused with e.
func kafkaStatus(e *kerr.Error) int {
	switch e {
	case kerr.UnknownTopicOrPartition, kerr.UnknownTopicID, kerr.GroupIDNotFound:
		return http.StatusNotFound
	case kerr.TopicAlreadyExists, kerr.NonEmptyGroup, kerr.GroupSubscribedToTopic,
		kerr.UnknownMemberID, kerr.RebalanceInProgress, kerr.IllegalGeneration:
		return http.StatusConflict
	case kerr.MessageTooLarge, kerr.RecordListTooLarge:
		return http.StatusRequestEntityTooLarge
	case kerr.KafkaStorageError, kerr.NotCoordinator, kerr.CoordinatorNotAvailable, kerr.CoordinatorLoadInProgress:
		// A full disk (read-only), a fenced log, a damaged offsets
		// partition: the broker cannot take the change now.
		return http.StatusServiceUnavailable
	case kerr.UnknownServerError:
		return http.StatusInternalServerError
	case kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed, kerr.ClusterAuthorizationFailed, kerr.TransactionalIDAuthorizationFailed:
		return http.StatusForbidden
	}
	return http.StatusBadRequest // the request itself is refused
}
