package compat

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// The in-process and one-process-per-step rows of the security section:
// Sarama, and kcat with librdkafka's properties file (-F).

func init() {
	registerSecurity(secClient{name: "Sarama", lang: "Go", order: 20, oauth: true,
		available: func() error { return nil },
		version:   func(context.Context) string { return modVersion("github.com/IBM/sarama") },
		run:       saramaSecurity})
	registerSecurity(secClient{name: "kcat", lang: "CLI", order: 50, oauth: true,
		available: func() error {
			if _, err := exec.LookPath("kcat"); err != nil {
				return errors.New("kcat not on PATH (Debian package kcat)")
			}
			return nil
		},
		version: func(ctx context.Context) string {
			return "kcat: Debian kcat " + debVersion("kcat") + ", librdkafka1 " + debVersion("librdkafka1")
		},
		run: kcatSecurity})
}

// kcatSecurity runs each case as a user runs kcat: -F with the
// properties file, -P then -C.
func kcatSecurity(ctx context.Context, _ *secEnv, _ string, cases []secCase) (map[string]error, error) {
	got := map[string]error{}
	for _, c := range cases {
		// librdkafka retries a refused authentication until the message
		// times out: bound it, as a user's script would.
		common := []string{"-F", c.LibrdkafkaProperties, "-t", c.Topic, "-p", "0", "-X", "message.timeout.ms=10000"}
		p := &proc{name: "kcat", args: append([]string{"-P", "-X", "acks=all"}, common...), stdin: strings.Join(c.Values, "\n") + "\n"}
		err := p.run(ctx)
		if err == nil {
			// kcat reports delivery errors on stderr and may still exit 0.
			if msg := kcatErrors(p.stderr.String()); msg != "" {
				err = errors.New(msg)
			}
		}
		if err != nil {
			got[c.Name] = fmt.Errorf("kcat -P: %w", err)
			continue
		}
		p = &proc{name: "kcat", args: append([]string{"-C", "-o", "beginning", "-c", fmt.Sprint(len(c.Values)), "-e", "-q"}, common[:len(common)-2]...)}
		if err := p.run(ctx); err != nil {
			got[c.Name] = fmt.Errorf("kcat -C: %w", err)
			continue
		}
		got[c.Name] = sameValues(lines(p.stdout.String()), c.Values)
	}
	return got, nil
}

// kcatErrors picks kcat's "% ERROR" and delivery failure lines.
func kcatErrors(stderr string) string {
	var out []string
	for _, l := range lines(stderr) {
		if strings.Contains(l, "ERROR") || strings.Contains(l, "failed") {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return short(strings.Join(out, " / "), 600)
}

// saramaSecurity configures Sarama as its documentation shows: Net.TLS
// with the CA (and the client certificate), Net.SASL with the mechanism
// and, for SCRAM, an xdg-go/scram client (Sarama's examples/sasl_scram_client).
func saramaSecurity(ctx context.Context, _ *secEnv, _ string, cases []secCase) (map[string]error, error) {
	got := map[string]error{}
	for _, c := range cases {
		got[c.Name] = saramaCase(ctx, c)
	}
	return got, nil
}

func saramaCase(ctx context.Context, c secCase) error {
	cfg := sarama.NewConfig()
	cfg.ClientID = "rewind-compat-sarama"
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Retry.Max = 1
	cfg.Metadata.Retry.Max = 1
	cfg.Net.DialTimeout = 5 * time.Second
	ca, err := os.ReadFile(c.CA)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	tc := &tls.Config{RootCAs: pool}
	if c.Cert != "" {
		cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	cfg.Net.TLS.Enable, cfg.Net.TLS.Config = true, tc
	if c.Mechanism != "" {
		cfg.Net.SASL.Enable = true
		cfg.Net.SASL.User, cfg.Net.SASL.Password = c.Username, c.Password
		cfg.Net.SASL.Handshake = true
		switch c.Mechanism {
		case "PLAIN":
			cfg.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		case "SCRAM-SHA-256":
			cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &xdgSCRAM{hash: scram.SHA256} }
		case "SCRAM-SHA-512":
			cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &xdgSCRAM{hash: scram.SHA512} }
		case "OAUTHBEARER":
			// Sarama's AccessTokenProvider, handing out an unsigned JWT.
			cfg.Net.SASL.Mechanism = sarama.SASLTypeOAuth
			cfg.Net.SASL.TokenProvider = unsignedToken(c.Username)
		}
	}
	prod, err := sarama.NewSyncProducer([]string{c.Bootstrap}, cfg)
	if err != nil {
		return fmt.Errorf("NewSyncProducer: %w", err)
	}
	var msgs []*sarama.ProducerMessage
	for _, v := range c.Values {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: c.Topic, Partition: 0, Value: sarama.StringEncoder(v)})
	}
	err = prod.SendMessages(msgs)
	prod.Close()
	if err != nil {
		var pe sarama.ProducerErrors
		if errors.As(err, &pe) && len(pe) > 0 {
			return fmt.Errorf("SendMessages: %w", pe[0].Err)
		}
		return fmt.Errorf("SendMessages: %w", err)
	}
	cons, err := sarama.NewConsumer([]string{c.Bootstrap}, cfg)
	if err != nil {
		return fmt.Errorf("NewConsumer: %w", err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(c.Topic, 0, sarama.OffsetOldest)
	if err != nil {
		return fmt.Errorf("ConsumePartition: %w", err)
	}
	defer pc.Close()
	var read []string
	for len(read) < len(c.Values) {
		select {
		case m := <-pc.Messages():
			read = append(read, string(m.Value))
		case e := <-pc.Errors():
			return fmt.Errorf("consume: %w", e.Err)
		case <-ctx.Done():
			return fmt.Errorf("consume: %w after %d records", ctx.Err(), len(read))
		}
	}
	return sameValues(read, c.Values)
}

// xdgSCRAM is Sarama's SCRAMClient on xdg-go/scram, as in Sarama's
// examples.
type xdgSCRAM struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (x *xdgSCRAM) Begin(user, pass, authzID string) error {
	cl, err := x.hash.NewClient(user, pass, authzID)
	if err != nil {
		return err
	}
	x.conv = cl.NewConversation()
	return nil
}

func (x *xdgSCRAM) Step(challenge string) (string, error) { return x.conv.Step(challenge) }
func (x *xdgSCRAM) Done() bool                            { return x.conv.Done() }

// unsignedToken is a Sarama token provider of unsigned JWTs (alg none)
// for sub, an hour long, as --sasl-oauthbearer-unsecured takes them.
type unsignedToken string

func (u unsignedToken) Token() (*sarama.AccessToken, error) {
	return &sarama.AccessToken{Token: unsignedJWT(string(u), time.Now())}, nil
}

// unsignedJWT is header.payload. with no signature (RFC 7519's unsecured
// JWT), its claims sub, iat and exp.
func unsignedJWT(sub string, now time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	claims, _ := json.Marshal(map[string]any{"sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	return enc([]byte(`{"alg":"none"}`)) + "." + enc(claims) + "."
}
