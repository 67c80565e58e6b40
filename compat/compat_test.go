package compat

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The capabilities every client is driven through, in table order.
const (
	capTopic    = "create topic"
	capMetadata = "metadata"
	capProduce  = "produce"
	capConsume  = "consume from beginning"
	capGroup    = "group + commit"
	capResume   = "resume after restart"
)

// codecs in table order; "none" is the produce column.
var codecs = []string{"gzip", "snappy", "lz4", "zstd"}

var clientCaps = []string{capTopic, capMetadata, capProduce, "gzip", "snappy", "lz4", "zstd", capConsume, capGroup, capResume}

const (
	// records in the main topic; the group reads half, the restarted
	// consumer the other half.
	mainRecords = 20
	groupRead   = mainRecords / 2
	// records per codec topic.
	codecRecords = 5
	// a bound on every single step (one subprocess, one client call).
	stepTimeout = 60 * time.Second
)

// driver is one client library or tool, driven through the scenario. Every
// method is bounded by ctx and returns an error whose text says exactly what
// the client reported.
type driver interface {
	// Create creates the topics with the client's admin API.
	Create(ctx context.Context, topics []string, partitions int) error
	// Metadata lists the topic names the client sees.
	Metadata(ctx context.Context) ([]string, error)
	// Produce writes values, in order, to partition 0 of topic, compressed
	// with codec ("none", "gzip", "snappy", "lz4", "zstd"), with acks=all.
	Produce(ctx context.Context, topic, codec string, values []string) error
	// Consume reads the first n values of topic from the beginning, without
	// a group.
	Consume(ctx context.Context, topic string, n int) ([]string, error)
	// GroupConsume joins group, reads n values of topic (earliest when the
	// group has no commit), commits after the n-th and no further, and
	// leaves the group. Each call is a new consumer instance (a new process
	// for subprocess clients).
	GroupConsume(ctx context.Context, topic, group string, n int) ([]string, error)
}

// client describes one row of the table.
type client struct {
	name string // as shown in the table
	slug string // used in topic and group names
	lang string
	// autoCreate: the client has no admin API, so "create topic" is proved
	// by auto-creation on first produce.
	autoCreate bool
	// unsupported codecs, with the reason shown in the table.
	unsupported map[string]string
	// available says why the client cannot run here (a missing tool), or
	// nil. The message names what to install.
	available func() error
	// version describes what was tested (library, packages, runtime).
	version   func(ctx context.Context, e *env) string
	newDriver func(e *env) driver
	order     int
	// pypi: installed by .ci/compat.sh with pip into .cache/venv, which
	// may have failed outside CI (see pypiOptional).
	pypi bool
	// codecAvailable says why the client cannot use a codec here (an
	// optional library missing, as Debian's python3-kafka without
	// python3-snappy), or nil.
	codecAvailable func(codec string) error
}

var (
	clientsMu sync.Mutex
	clients   []client
)

func register(c client) {
	clientsMu.Lock()
	defer clientsMu.Unlock()
	clients = append(clients, c)
}

func required() bool { return os.Getenv("REWIND_COMPAT_REQUIRED") == "1" }

// codecGate tells whether the client's codec cell runs. A codec whose
// optional library is missing is skipped with the reason (shown by a
// skipped subtest and in the table), unless REWIND_COMPAT_REQUIRED=1,
// where the cell fails: a partly provisioned machine passes, CI does not
// lose a codec silently.
func codecGate(t *testing.T, w *row, c client, codec string) bool {
	if c.codecAvailable == nil {
		return true
	}
	err := c.codecAvailable(codec)
	if err == nil {
		return true
	}
	msg := fmt.Sprintf("%s cannot use %s here: %v", c.name, codec, err)
	if required() {
		w.set(codec, fmt.Errorf("%s (REWIND_COMPAT_REQUIRED=1)", msg))
		return false
	}
	w.skip(codec, msg+"; "+installHint)
	t.Run(codec, func(t *testing.T) { t.Skip(msg) })
	return false
}

const installHint = "install with .ci/compat.sh (apt-get, pip into .cache/venv, npm; runs this suite)"

// TestCompat runs every client against one broker and, with
// REWIND_COMPAT_WRITE=1, writes docs/compatibility.md.
func TestCompat(t *testing.T) {
	if testing.Short() {
		t.Skip("compatibility matrix: slow; run without -short (or .ci/compat.sh)")
	}
	start := time.Now()
	e := startEnv(t)
	res := newResults()
	known := loadKnownFailures(t)

	slices.SortFunc(clients, func(a, b client) int { return a.order - b.order })
	t.Run("clients", func(t *testing.T) {
		for _, c := range clients {
			t.Run(c.slug, func(t *testing.T) {
				t.Parallel()
				runClient(t, e, res, c)
			})
		}
		t.Run("burrow", func(t *testing.T) {
			t.Parallel()
			runBurrow(t, e, res)
		})
		runSections(t, e, res)
	})

	res.check(t, known)
	if os.Getenv("REWIND_COMPAT_WRITE") == "1" {
		if err := writeReport(e, res, time.Since(start)); err != nil {
			t.Errorf("writing docs/compatibility.md: %v", err)
		}
	}
	t.Logf("compatibility suite took %s", time.Since(start).Round(time.Second))
}

func runClient(t *testing.T, e *env, res *results, c client) {
	row := res.row(c.name, c.lang, clientCaps, c.order)
	if err := c.available(); err != nil {
		msg := fmt.Sprintf("%s not installed: %v", c.name, err)
		if required() && !(c.pypi && pypiOptional()) {
			row.failAll("not installed: " + err.Error())
			t.Errorf("%s (REWIND_COMPAT_REQUIRED=1)", msg)
			return
		}
		row.notRun(msg + "; " + installHint)
		t.Skipf("%s; %s", msg, installHint)
	}
	vctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	row.setVersion(c.version(vctx, e))
	cancel()

	d := c.newDriver(e)
	main := "compat-" + c.slug
	group := main + "-group"
	codecTopic := func(codec string) string { return main + "-" + codec }
	mainValues := values(c.slug, mainRecords, 0)

	step := func(name string, fn func(ctx context.Context) error) bool {
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		defer cancel()
		began := time.Now()
		err := fn(ctx)
		if err != nil && ctx.Err() != nil && !strings.Contains(err.Error(), "timed out") {
			err = fmt.Errorf("timed out after %s: %w", stepTimeout, err)
		}
		row.set(name, err)
		if err != nil {
			t.Logf("%s / %s: FAIL after %s: %v", c.name, name, time.Since(began).Round(time.Millisecond), err)
		} else {
			t.Logf("%s / %s: ok (%s)", c.name, name, time.Since(began).Round(time.Millisecond))
		}
		return err == nil
	}

	// create topic
	topics := []string{main}
	for _, codec := range codecs {
		if _, no := c.unsupported[codec]; !no {
			topics = append(topics, codecTopic(codec))
		}
	}
	step(capTopic, func(ctx context.Context) error {
		if c.autoCreate {
			auto := main + "-auto"
			if err := d.Produce(ctx, auto, "none", []string{"auto"}); err != nil {
				return fmt.Errorf("auto-create by producing to %s: %w", auto, err)
			}
			return e.expectTopics(ctx, auto)
		}
		if err := d.Create(ctx, topics, 1); err != nil {
			return err
		}
		return e.expectTopics(ctx, topics...)
	})

	step(capMetadata, func(ctx context.Context) error {
		if c.autoCreate {
			// the topic is created by the first produce; make it now so
			// metadata has something to list.
			if err := e.createTopics(ctx, main); err != nil {
				return fmt.Errorf("setup (franz-go kadm) failed, not the client: %w", err)
			}
		}
		names, err := d.Metadata(ctx)
		if err != nil {
			return err
		}
		if !slices.Contains(names, main) {
			return fmt.Errorf("topic %s missing from metadata (saw %d topics: %s)", main, len(names), short(strings.Join(names, ","), 200))
		}
		return nil
	})

	produced := step(capProduce, func(ctx context.Context) error {
		return d.Produce(ctx, main, "none", mainValues)
	})

	for _, codec := range codecs {
		if why, no := c.unsupported[codec]; no {
			row.na(codec, why)
			continue
		}
		if !codecGate(t, row, c, codec) {
			continue
		}
		step(codec, func(ctx context.Context) error {
			topic := codecTopic(codec)
			want := values(codec, codecRecords, 120)
			if err := d.Produce(ctx, topic, codec, want); err != nil {
				return fmt.Errorf("produce: %w", err)
			}
			got, err := d.Consume(ctx, topic, len(want))
			if err != nil {
				return fmt.Errorf("produced; reading back: %w", err)
			}
			if err := sameValues(got, want); err != nil {
				return fmt.Errorf("produced; read back: %w", err)
			}
			return e.expectCodec(ctx, topic, codec)
		})
	}

	step(capConsume, func(ctx context.Context) error {
		if !produced {
			return errors.New("not run: produce failed")
		}
		got, err := d.Consume(ctx, main, mainRecords)
		if err != nil {
			return err
		}
		return sameValues(got, mainValues)
	})

	grouped := step(capGroup, func(ctx context.Context) error {
		if !produced {
			return errors.New("not run: produce failed")
		}
		got, err := d.GroupConsume(ctx, main, group, groupRead)
		if err != nil {
			return err
		}
		if err := sameValues(got, mainValues[:groupRead]); err != nil {
			return err
		}
		return e.expectCommitted(ctx, group, main, groupRead)
	})

	step(capResume, func(ctx context.Context) error {
		if !grouped {
			return errors.New("not run: group + commit failed")
		}
		got, err := d.GroupConsume(ctx, main, group, mainRecords-groupRead)
		if err != nil {
			return fmt.Errorf("second consumer: %w", err)
		}
		if err := sameValues(got, mainValues[groupRead:]); err != nil {
			return fmt.Errorf("second consumer: %w", err)
		}
		return e.expectCommitted(ctx, group, main, mainRecords)
	})
}

// values returns n distinct single-line values; pad makes them
// compressible.
func values(prefix string, n, pad int) []string {
	out := make([]string, n)
	for i := range out {
		v := fmt.Sprintf("%s-%02d", prefix, i)
		if pad > 0 {
			v += " " + strings.Repeat("rewind ", pad/7)
		}
		out[i] = v
	}
	return out
}

// sameValues explains the first difference between got and want in terms of
// offsets: a restart from the beginning, a gap, or a short read.
func sameValues(got, want []string) error {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Errorf("record %d: got %q, want %q (got %d records, want %d)", i, short(got[i], 40), short(want[i], 40), len(got), len(want))
		}
	}
	if len(got) != len(want) {
		return fmt.Errorf("got %d records, want %d", len(got), len(want))
	}
	return nil
}

func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
