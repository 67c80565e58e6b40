package compat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

func init() {
	register(client{
		name: "kcat", slug: "kcat", lang: "CLI", order: 50,
		// kcat has no admin mode: its topics are auto-created.
		autoCreate: true,
		available: func() error {
			_, err := exec.LookPath("kcat")
			if err != nil {
				return errors.New("kcat not on PATH (Debian package kcat)")
			}
			return nil
		},
		version: func(ctx context.Context, e *env) string {
			p := &proc{name: "kcat", args: []string{"-V"}}
			_ = p.run(ctx)
			v := ""
			for _, l := range lines(p.stdout.String() + p.stderr.String()) {
				if rest, ok := strings.CutPrefix(l, "Version "); ok {
					v = rest
					if i := strings.Index(v, " builtin.features"); i > 0 {
						v = v[:i] + ")"
					}
				}
			}
			return fmt.Sprintf("kcat %s; Debian kcat %s, librdkafka1 %s", v, debVersion("kcat"), debVersion("librdkafka1"))
		},
		newDriver: func(e *env) driver { return kcat{addr: e.addr} },
	})
}

// kcat drives the kcat CLI: -L, -P, -C and -G, one process per step.
type kcat struct{ addr string }

func (k kcat) run(ctx context.Context, stdin string, args ...string) (string, error) {
	p := &proc{name: "kcat", args: append([]string{"-b", k.addr}, args...), stdin: stdin}
	if err := p.run(ctx); err != nil {
		return p.stdout.String(), fmt.Errorf("kcat %s: %w", strings.Join(args, " "), err)
	}
	// kcat reports delivery and fetch errors on stderr even where it exits 0.
	if s := p.stderr.String(); strings.Contains(s, "ERROR") {
		return p.stdout.String(), fmt.Errorf("kcat %s: %s", strings.Join(args, " "), errLines(s))
	}
	return p.stdout.String(), nil
}

func (k kcat) Create(context.Context, []string, int) error {
	return errors.New("kcat has no way to create topics")
}

func (k kcat) Metadata(ctx context.Context) ([]string, error) {
	out, err := k.run(ctx, "", "-L", "-J")
	if err != nil {
		return nil, err
	}
	var md struct {
		Topics []struct {
			Topic string `json:"topic"`
		} `json:"topics"`
	}
	if err := json.Unmarshal([]byte(out), &md); err != nil {
		return nil, fmt.Errorf("kcat -L -J output: %w: %s", err, short(out, 200))
	}
	var names []string
	for _, tp := range md.Topics {
		names = append(names, tp.Topic)
	}
	return names, nil
}

func (k kcat) Produce(ctx context.Context, topic, codec string, values []string) error {
	args := []string{"-P", "-t", topic, "-p", "0", "-X", "acks=all"}
	if codec != "none" {
		// -d msg makes librdkafka say when it drops the codec.
		args = append(args, "-z", codec, "-d", "msg")
	}
	p := &proc{name: "kcat", args: append([]string{"-b", k.addr}, args...), stdin: strings.Join(values, "\n") + "\n"}
	if err := p.run(ctx); err != nil {
		return fmt.Errorf("kcat %s: %w", strings.Join(args, " "), err)
	}
	if err := droppedCodec(p.stderr.String()); err != nil {
		return err
	}
	if s := p.stderr.String(); strings.Contains(s, "ERROR") {
		return fmt.Errorf("kcat %s: %s", strings.Join(args, " "), errLines(s))
	}
	return nil
}

// droppedCodec finds librdkafka's debug line saying it sent a batch
// uncompressed although a codec was configured.
func droppedCodec(log string) error {
	for _, l := range strings.Split(log, "\n") {
		if i := strings.Index(l, "Broker does not support compression type"); i >= 0 {
			return fmt.Errorf("records sent uncompressed; librdkafka logged %q", strings.TrimSpace(l[i:]))
		}
	}
	return nil
}

func (k kcat) Consume(ctx context.Context, topic string, n int) ([]string, error) {
	out, err := k.run(ctx, "", "-C", "-t", topic, "-p", "0", "-o", "beginning", "-c", fmt.Sprint(n), "-f", `%s\n`, "-q")
	return lines(out), err
}

func (k kcat) GroupConsume(ctx context.Context, topic, group string, n int) ([]string, error) {
	// auto-commit (librdkafka's default) commits the offsets of the messages
	// kcat printed, on close at the latest.
	out, err := k.run(ctx, "", "-G", group, "-X", "auto.offset.reset=earliest", "-c", fmt.Sprint(n), "-f", `%s\n`, "-q", topic)
	return lines(out), err
}
