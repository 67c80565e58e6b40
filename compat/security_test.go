package compat

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The security section: every client over TLS (with a client
// certificate) and over SASL_SSL with each mechanism, against a second
// `rewind serve` with the standard authorizer. One process per client
// runs every case (kcat: one per produce and consume); the suite checks
// with franz-go, as a super user, what each topic holds.

// The cells of the section, one case each.
const (
	capSSL           = "SSL (mTLS)"
	capPlain         = "SASL_SSL PLAIN"
	capSCRAM256      = "SASL_SSL SCRAM-SHA-256"
	capSCRAM512      = "SASL_SSL SCRAM-SHA-512"
	capWrongPassword = "wrong password refused"
	capMissingACL    = "missing ACL refused"
	capOAuth         = "SASL_SSL OAUTHBEARER (unsecured JWT)"
)

var secCaps = []string{capSSL, capPlain, capSCRAM256, capSCRAM512, capWrongPassword, capMissingACL, capOAuth}

// secRecords is how many records each case produces and reads back.
const secRecords = 3

// What a refusal must say: the client's own words for a failed SASL
// authentication, and for a refused topic.
var (
	authRefused = regexp.MustCompile(`(?i)(authentication failed|SaslAuthenticat|SASL authentication error|invalid credentials|invalid username or password)`)
	aclRefused  = regexp.MustCompile(`(?i)(TOPIC_AUTHORIZATION_FAILED|topic authorization failed|TopicAuthorization|not authorized to access (this )?topic)`)
)

// secCase is one cell: connect as it says, produce Values to partition 0
// of Topic with acks=all and read them back from the beginning (without a
// group). Expect is ok, auth (refused at authentication) or acl (refused
// by the authorizer). The properties files say the same for the clients
// that read them: JavaProperties as a Java client's client.properties,
// LibrdkafkaProperties with librdkafka's names.
type secCase struct {
	Name                 string   `json:"name"`
	Bootstrap            string   `json:"bootstrap"`
	Protocol             string   `json:"protocol"`
	Mechanism            string   `json:"mechanism,omitempty"`
	Username             string   `json:"username,omitempty"`
	Password             string   `json:"password,omitempty"`
	CA                   string   `json:"ca"`
	Cert                 string   `json:"cert,omitempty"`
	Key                  string   `json:"key,omitempty"`
	Topic                string   `json:"topic"`
	Values               []string `json:"values"`
	Expect               string   `json:"expect"`
	JavaProperties       string   `json:"java_properties"`
	LibrdkafkaProperties string   `json:"librdkafka_properties"`
}

// secClient is one row: run executes every case and returns each one's
// verdict (nil: produced and read back; else what the client reported).
type secClient struct {
	name, lang string
	order      int
	available  func() error
	version    func(ctx context.Context) string
	run        func(ctx context.Context, s *secEnv, specFile string, cases []secCase) (map[string]error, error)
	// authWords and aclWords replace authRefused and aclRefused for a
	// client whose usual error says it otherwise (nil: the defaults).
	authWords, aclWords *regexp.Regexp
	pypi                bool // as client.pypi: may be "not run" when pip failed outside CI
	// oauth: the client runs the OAUTHBEARER case from its properties
	// file alone (the Java client's unsecured login module, librdkafka's
	// unsecured JWT); the others' cell is not applicable.
	oauth bool
}

var secClients []secClient

func registerSecurity(c secClient) { secClients = append(secClients, c) }

const secTitle = "Security: TLS, SASL and ACLs"

// TestCompatSecurity runs the security section alone, for work on it:
// REWIND_COMPAT_SECURITY=1 go test -run TestCompatSecurity ./compat/.
// TestCompat runs it with the rest.
func TestCompatSecurity(t *testing.T) {
	if os.Getenv("REWIND_COMPAT_SECURITY") != "1" {
		t.Skip("set REWIND_COMPAT_SECURITY=1 to run the security section alone (TestCompat runs it with the rest)")
	}
	e := startEnv(t)
	res := newResults()
	for _, s := range sections {
		if s.title == secTitle {
			runSection(t, e, res, s)
		}
	}
	res.check(t, loadKnownFailures(t))
}

func secRows() []sectionRow {
	var rows []sectionRow
	for _, c := range secClients {
		rows = append(rows, sectionRow{name: c.name + " (security)", lang: c.lang, caps: secCaps, order: c.order, run: secRow(c)})
	}
	return rows
}

// secEnv is the secure broker, started once for the section.
type secEnv struct {
	sslAddr, saslAddr string
	pki               *proctest.PKI
	clientCert        string // PEM certificate of CN=compat-client
	clientKey         string
	keystore          string // key and certificate in one PEM file
	adm               *kadm.Client
	cl                *kgo.Client
	log               string
	dir               string
}

// secEnvs holds the secure broker of each env (TestCompat and
// TestCompatSecurity each start their own), started at its first row.
var (
	secMu   sync.Mutex
	secEnvs = map[*env]*secStart{}
)

type secStart struct {
	once sync.Once
	s    *secEnv
	err  error
}

// Users of the secure broker and their passwords.
var secUsers = map[string]string{"admin": "admin-secret", "alice": "alice-secret", "mallory": "mallory-secret"}

func startSecEnv(t *testing.T, e *env) (*secEnv, error) {
	secMu.Lock()
	st, ok := secEnvs[e]
	if !ok {
		st = &secStart{}
		secEnvs[e] = st
	}
	secMu.Unlock()
	st.once.Do(func() { st.s, st.err = newSecEnv(t, e) })
	return st.s, st.err
}

func newSecEnv(t *testing.T, e *env) (*secEnv, error) {
	s := &secEnv{dir: filepath.Join(e.dir, "secure")}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, err
	}
	bin := filepath.Join(e.dir, "rewind")
	data := filepath.Join(s.dir, "data")
	for u, pw := range secUsers {
		cmd := exec.Command(bin, "user", "set", u, "--data-dir", data)
		cmd.Stdin = strings.NewReader(pw + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("rewind user set %s: %v: %s", u, err, out)
		}
	}
	s.pki = proctest.NewPKI(t)
	s.clientCert, s.clientKey = s.pki.Client(t, "compat-client", pkix.Name{CommonName: "compat-client"})
	key, _ := os.ReadFile(s.clientKey)
	cert, _ := os.ReadFile(s.clientCert)
	s.keystore = filepath.Join(s.pki.Dir, "compat-client-keystore.pem")
	if err := os.WriteFile(s.keystore, append(key, cert...), 0o600); err != nil {
		return nil, err
	}
	s.sslAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s.saslAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s.log = filepath.Join(s.dir, "broker.log")
	logf, err := os.Create(s.log)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve",
		"--listeners", "SSL://"+s.sslAddr+",SASL_SSL://"+s.saslAddr,
		"--data-dir", data,
		"--ssl-certificate", s.pki.CertFile, "--ssl-key", s.pki.KeyFile, "--ssl-ca", s.pki.CAFile,
		"--ssl-client-auth", "requested",
		"--authorizer", "standard", "--super-users", "User:admin",
		"--sasl-oauthbearer-unsecured",
		"--group-initial-rebalance-delay", "0", "--auto-create-topics=false",
		"--http", "")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited); logf.Close() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("secure broker log (last lines of %s):\n%s", s.log, tailFile(s.log, 40))
		}
	})
	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(s.pki.CAFile)
	pool.AppendCertsFromPEM(ca)
	s.cl, err = kgo.NewClient(kgo.SeedBrokers(s.saslAddr), kgo.DialTLSConfig(&tls.Config{RootCAs: pool}),
		kgo.SASL(scram.Auth{User: "admin", Pass: secUsers["admin"]}.AsSha512Mechanism()))
	if err != nil {
		return nil, err
	}
	t.Cleanup(s.cl.Close)
	s.adm = kadm.NewClient(s.cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		select {
		case <-exited:
			return nil, fmt.Errorf("secure broker exited at start: %s", tailFile(s.log, 20))
		default:
		}
		if err := s.cl.Ping(ctx); err == nil {
			break
		} else if ctx.Err() != nil {
			return nil, fmt.Errorf("secure broker not ready after 30s: %v: %s", err, tailFile(s.log, 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
	acls := kadm.NewACLs().Allow("User:alice", "User:CN=compat-client").
		Topics("sec-").Groups("sec-").ResourcePatternType(kadm.ACLPatternPrefixed).
		Operations(kadm.OpAll)
	res, err := s.adm.CreateACLs(ctx, acls)
	if err != nil {
		return nil, fmt.Errorf("CreateACLs: %w", err)
	}
	for _, r := range res {
		if r.Err != nil {
			return nil, fmt.Errorf("CreateACLs: %w", r.Err)
		}
	}
	return s, nil
}

// cases writes the properties files of one client's cases and creates
// their topics.
func (s *secEnv) cases(ctx context.Context, slug string, oauth bool) ([]secCase, error) {
	dir := filepath.Join(s.dir, slug)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var out []secCase
	var topics []string
	for _, capability := range secCaps {
		if capability == capOAuth && !oauth {
			continue
		}
		cs := secCase{Name: capability, Bootstrap: s.saslAddr, Protocol: "SASL_SSL", CA: s.pki.CAFile, Expect: "ok", Username: "alice", Password: secUsers["alice"]}
		switch capability {
		case capSSL:
			cs.Bootstrap, cs.Protocol, cs.Username, cs.Password = s.sslAddr, "SSL", "", ""
			cs.Cert, cs.Key = s.clientCert, s.clientKey
		case capPlain:
			cs.Mechanism = "PLAIN"
		case capSCRAM256:
			cs.Mechanism = "SCRAM-SHA-256"
		case capSCRAM512:
			cs.Mechanism = "SCRAM-SHA-512"
		case capWrongPassword:
			// PLAIN: librdkafka before 2.6.1 fails every SCRAM exchange
			// with Kafka 4 and Rewind (known_failures.txt), which must not
			// pass for a refused password.
			cs.Mechanism, cs.Password, cs.Expect = "PLAIN", "not-"+secUsers["alice"], "auth"
		case capMissingACL:
			cs.Mechanism, cs.Username, cs.Password, cs.Expect = "PLAIN", "mallory", secUsers["mallory"], "acl"
		case capOAuth:
			// An unsigned token whose sub is alice (--sasl-oauthbearer-unsecured).
			cs.Mechanism, cs.Password = "OAUTHBEARER", ""
		}
		slugCap := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(capability, "-"))
		cs.Topic = "sec-" + slug + "-" + strings.Trim(slugCap, "-")
		cs.Values = values(cs.Topic, secRecords, 0)
		cs.JavaProperties = filepath.Join(dir, cs.Topic+".properties")
		cs.LibrdkafkaProperties = filepath.Join(dir, cs.Topic+".librdkafka.properties")
		if err := os.WriteFile(cs.JavaProperties, []byte(javaProperties(cs, s.keystore)), 0o600); err != nil {
			return nil, err
		}
		if err := os.WriteFile(cs.LibrdkafkaProperties, []byte(librdkafkaProperties(cs)), 0o600); err != nil {
			return nil, err
		}
		out = append(out, cs)
		topics = append(topics, cs.Topic)
	}
	resp, err := s.adm.CreateTopics(ctx, 1, 1, nil, topics...)
	if err != nil {
		return nil, fmt.Errorf("setup (franz-go CreateTopics as admin): %w", err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil {
			return nil, fmt.Errorf("setup (franz-go CreateTopics as admin) %s: %w", r.Topic, r.Err)
		}
	}
	return out, nil
}

// javaProperties is a client.properties as the Kafka documentation shows
// it, the JAAS line continued over lines.
func javaProperties(c secCase, keystore string) string {
	l := []string{"# " + c.Name, "bootstrap.servers=" + c.Bootstrap, "security.protocol=" + c.Protocol,
		"ssl.truststore.type=PEM", "ssl.truststore.location=" + c.CA}
	if c.Protocol == "SSL" {
		l = append(l, "ssl.keystore.type=PEM", "ssl.keystore.location="+keystore)
	}
	if c.Mechanism == "OAUTHBEARER" {
		// The default login callback handler makes an unsecured JWT.
		return strings.Join(append(l, "sasl.mechanism=OAUTHBEARER",
			"sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \\",
			`    unsecuredLoginStringClaim_sub="`+c.Username+`";`), "\n") + "\n"
	}
	if c.Mechanism != "" {
		module := "org.apache.kafka.common.security.scram.ScramLoginModule"
		if c.Mechanism == "PLAIN" {
			module = "org.apache.kafka.common.security.plain.PlainLoginModule"
		}
		l = append(l, "sasl.mechanism="+c.Mechanism,
			"sasl.jaas.config="+module+` required \`,
			`    username="`+c.Username+`" \`,
			`    password="`+c.Password+`";`)
	}
	return strings.Join(l, "\n") + "\n"
}

// librdkafkaProperties is the same in librdkafka's names (kcat -F).
func librdkafkaProperties(c secCase) string {
	l := []string{"# " + c.Name, "bootstrap.servers=" + c.Bootstrap, "security.protocol=" + strings.ToLower(c.Protocol), "ssl.ca.location=" + c.CA}
	if c.Cert != "" {
		l = append(l, "ssl.certificate.location="+c.Cert, "ssl.key.location="+c.Key)
	}
	switch c.Mechanism {
	case "":
	case "OAUTHBEARER":
		l = append(l, "sasl.mechanisms=OAUTHBEARER", "enable.sasl.oauthbearer.unsecure.jwt=true", "sasl.oauthbearer.config=principal="+c.Username)
	default:
		l = append(l, "sasl.mechanisms="+c.Mechanism, "sasl.username="+c.Username, "sasl.password="+c.Password)
	}
	return strings.Join(l, "\n") + "\n"
}

// stored reads partition 0 of topic as the super user: what the broker
// really holds.
func (s *secEnv) stored(ctx context.Context, topic string) ([]string, error) {
	ends, err := s.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	o, ok := ends.Lookup(topic, 0)
	if !ok || o.Err != nil {
		return nil, fmt.Errorf("ListOffsets %s/0: %v", topic, o.Err)
	}
	if o.Offset == 0 {
		return nil, nil
	}
	cl, err := kgo.NewClient(append(s.cl.Opts(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var got []string
	for int64(len(got)) < o.Offset {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return got, err
		}
		for _, fe := range fs.Errors() {
			return got, fe.Err
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got, nil
}

func secRow(c secClient) func(t *testing.T, e *env, w *row) {
	return func(t *testing.T, e *env, w *row) {
		if err := c.available(); err != nil {
			msg := fmt.Sprintf("%s not installed: %v", c.name, err)
			if required() && !(c.pypi && pypiOptional()) {
				w.failAll("not installed: " + err.Error())
				t.Errorf("%s (REWIND_COMPAT_REQUIRED=1)", msg)
				return
			}
			w.notRun(msg + "; " + installHint)
			t.Logf("security / %s: skipped: %s", c.name, msg)
			return
		}
		s, err := startSecEnv(t, e)
		if err != nil {
			w.failAll("the secure broker did not start: " + err.Error())
			t.Errorf("secure broker: %v", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), javaTimeout)
		defer cancel()
		w.setVersion(c.version(ctx))
		slug := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(c.name, ""))
		if !c.oauth {
			w.na(capOAuth, "the client's script makes no OAUTHBEARER token yet")
		}
		cases, err := s.cases(ctx, slug, c.oauth)
		if err != nil {
			w.failAll(err.Error())
			return
		}
		spec := filepath.Join(s.dir, slug+".json")
		b, _ := json.Marshal(map[string]any{"cases": cases})
		if err := os.WriteFile(spec, b, 0o600); err != nil {
			w.failAll(err.Error())
			return
		}
		began := time.Now()
		got, runErr := c.run(ctx, s, spec, cases)
		t.Logf("security / %s: ran %d cases in %s", c.name, len(cases), time.Since(began).Round(time.Millisecond))
		for _, cs := range cases {
			res, ok := got[cs.Name]
			if !ok {
				if runErr == nil {
					runErr = errors.New("exited without a verdict")
				}
				w.set(cs.Name, fmt.Errorf("not reported: %w", runErr))
				continue
			}
			w.set(cs.Name, s.judge(ctx, c, cs, res))
		}
	}
}

// judge turns a client's verdict into the cell: a case expected to pass
// must have stored exactly its values; a refusal must be the client's
// usual error, and must have let nothing through.
func (s *secEnv) judge(ctx context.Context, c secClient, cs secCase, res error) error {
	stored, err := s.stored(ctx, cs.Topic)
	if err != nil {
		return fmt.Errorf("checking %s with franz-go: %w", cs.Topic, err)
	}
	switch cs.Expect {
	case "ok":
		if res != nil {
			return res
		}
		if err := sameValues(stored, cs.Values); err != nil {
			return fmt.Errorf("the client read its records back, but the broker holds: %w", err)
		}
		return nil
	default:
		want := authRefused
		if c.authWords != nil {
			want = c.authWords
		}
		if cs.Expect == "acl" {
			want = aclRefused
			if c.aclWords != nil {
				want = c.aclWords
			}
		}
		switch {
		case res == nil:
			return fmt.Errorf("not refused: the client produced and read back %d records", len(cs.Values))
		case len(stored) > 0:
			return fmt.Errorf("refused (%v), but %d records reached the topic", res, len(stored))
		case !want.MatchString(res.Error()):
			return fmt.Errorf("refused, but not with the expected error (%s): %v", want, res)
		}
		return nil
	}
}

// scriptResults parses RESULT<TAB>case<TAB>ok|FAIL<TAB>reason lines.
func scriptResults(stdout string) map[string]error {
	got := map[string]error{}
	for _, l := range lines(stdout) {
		f := strings.SplitN(l, "\t", 4)
		if len(f) < 3 || f[0] != "RESULT" {
			continue
		}
		switch {
		case f[2] == "ok":
			got[f[1]] = nil
		case len(f) == 4:
			got[f[1]] = errors.New(f[3])
		default:
			got[f[1]] = errors.New("failed without a reason")
		}
	}
	return got
}

// runScript runs a driver's "security SPEC" operation.
func runScript(cmd []string) func(ctx context.Context, s *secEnv, spec string, _ []secCase) (map[string]error, error) {
	return func(ctx context.Context, s *secEnv, spec string, _ []secCase) (map[string]error, error) {
		p := &proc{name: cmd[0], args: append(append([]string{}, cmd[1:]...), "security", spec)}
		err := p.run(ctx)
		return scriptResults(p.stdout.String()), err
	}
}

func init() {
	registerSecurity(secClient{name: "kafka-python", lang: "Python", order: 60, oauth: true,
		available: pythonModule("kafka", "python3-kafka"),
		// kafka-python 2.0.2 authenticates with raw SASL frames after a
		// SaslHandshake v0, and Kafka (as Rewind) closes such a connection
		// on a failed authentication without an answer: kafka-python logs
		// the closed connection while authenticating and raises
		// NoBrokersAvailable. A Metadata answer of TOPIC_AUTHORIZATION_FAILED
		// is dropped by its producer (need_all_topic_metadata), which waits
		// until max_block_ms: KafkaTimeoutError.
		authWords: regexp.MustCompile(`NoBrokersAvailable.*<authenticating>.*Error receiving reply from server`),
		aclWords:  regexp.MustCompile(`KafkaTimeoutError: .*Failed to update metadata`),
		version: func(ctx context.Context) string {
			return scriptVersion(ctx, pyScript("kafka_python_client.py")...)
		},
		run: runScript(pyScript("kafka_python_client.py"))})
	registerSecurity(secClient{name: "confluent-kafka-python", lang: "Python", order: 70, oauth: true,
		available: pythonModule("confluent_kafka", "python3-confluent-kafka"),
		version: func(ctx context.Context) string {
			return scriptVersion(ctx, pyScript("confluent_kafka_client.py")...)
		},
		run: runScript(pyScript("confluent_kafka_client.py"))})
	// The PyPI releases: kafka-python 3 and a confluent-kafka wheel whose
	// bundled librdkafka (2.6.1 or later) has the SCRAM nonce fix.
	registerSecurity(secClient{name: "kafka-python 3.0 (PyPI)", lang: "Python", order: 61, pypi: true, oauth: true,
		available: venvModule("kafka-python", "kafka", "3.0."),
		version: func(ctx context.Context) string {
			return scriptVersion(ctx, venvScript("kafka_python_client.py")...) + pypiNote
		},
		run: runScript(venvScript("kafka_python_client.py"))})
	registerSecurity(secClient{name: "confluent-kafka-python 2.16 (PyPI)", lang: "Python", order: 71, pypi: true, oauth: true,
		available: venvModule("confluent-kafka", "confluent_kafka", "2.16."),
		version: func(ctx context.Context) string {
			return scriptVersion(ctx, venvScript("confluent_kafka_client.py")...) + "; the wheel's bundled librdkafka" + pypiNote
		},
		run: runScript(venvScript("confluent_kafka_client.py"))})
	registerSecurity(secClient{name: "KafkaJS", lang: "Node.js", order: 80, oauth: true,
		available: func() error {
			if _, err := exec.LookPath("node"); err != nil {
				return errors.New("node not on PATH")
			}
			if _, err := os.Stat(filepath.Join("node", "node_modules", "kafkajs", "package.json")); err != nil {
				return errors.New("compat/node/node_modules missing (npm ci in compat/node)")
			}
			return nil
		},
		version: func(ctx context.Context) string { return scriptVersion(ctx, nodeScript()...) },
		run:     runScript(nodeScript())})
	registerSecurity(secClient{name: "Java kafka-clients", lang: "Java", order: 90, oauth: true,
		available: javaAvailable,
		version:   javaVersion,
		run: func(ctx context.Context, s *secEnv, spec string, cases []secCase) (map[string]error, error) {
			// The JVM gets the client.properties files, nothing else.
			var b strings.Builder
			for _, c := range cases {
				fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", c.Name, c.JavaProperties, c.Topic, strings.Join(c.Values, ","))
			}
			tsv := strings.TrimSuffix(spec, ".json") + ".tsv"
			if err := os.WriteFile(tsv, []byte(b.String()), 0o600); err != nil {
				return nil, err
			}
			p := &proc{name: "java", args: append(append([]string{}, jvmFlags...), "-cp", javaClasspath(), "rewind.compat.Main", "security", tsv)}
			err := p.run(ctx)
			return scriptResults(p.stdout.String()), err
		}})
}

// After the registerSecurity calls above (and those of
// security_clients_test.go, whose init runs first): the rows are made here.
func init() {
	registerSection(&section{
		title: secTitle,
		scenario: "A second broker, `rewind serve --listeners SSL://...,SASL_SSL://... --ssl-client-auth requested --authorizer standard`, with users made by `rewind user set` and ACLs allowing User:alice and the client certificate's User:CN=compat-client everything on topics and groups prefixed `sec-`. " +
			"Each cell produces 3 records with acks=all and reads them back from the beginning: over SSL with a client certificate (PEM), and over SASL_SSL with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 as alice, the broker's certificate checked against the test CA, and with OAUTHBEARER and an unsigned JWT whose sub is alice (`--sasl-oauthbearer-unsecured`; the Java client's default unsecured login module, librdkafka's `enable.sasl.oauthbearer.unsecure.jwt`, and for Sarama, KafkaJS and kafka-python their token provider handing out such a token). " +
			"`wrong password refused`: alice with a wrong password over PLAIN gets the client's authentication error; `missing ACL refused`: user mallory, authenticated but granted nothing, gets TOPIC_AUTHORIZATION_FAILED in the client's words. In both the topic is then checked empty with franz-go. " +
			"The Python rows run on Debian's packages and on the PyPI releases of compat/python/requirements.txt. The Java client reads a `client.properties` as users write it (`sasl.jaas.config`, `ssl.truststore.type=PEM`, `ssl.keystore.type=PEM`), kcat and confluent-kafka-python librdkafka's properties (`-F`); one process per client runs every case.\n",
		order:     90,
		available: func() error { return nil }, // per row, below
		version:   func(context.Context) string { return "" },
		rows:      secRows(),
	})
}
