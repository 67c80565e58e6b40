package sarama_test

import (
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
)

// cluster is one Kafka implementation the replay story runs against:
// Rewind, and franz-go's kfake as a second, independent implementation of
// the protocol, both in this process; the CLI is the real rewind binary.
type cluster struct {
	name string
	addr string
}

func clusters(t *testing.T) []cluster {
	t.Helper()
	kf, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(kf.Close)
	rw := rewindtest.Start(t)
	return []cluster{{"rewind", rw.Addr()}, {"kfake", kf.ListenAddrs()[0]}}
}

// cliRun runs the rewind binary against addr with stdin and returns what
// it printed.
func cliRun(t *testing.T, addr, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"--brokers", addr}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// cli runs a command that must succeed and returns its stdout.
func cli(t *testing.T, addr string, args ...string) string {
	t.Helper()
	out, errOut, err := cliRun(t, addr, "", args...)
	if err != nil {
		t.Fatalf("rewind %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// seedTopic creates topic with parts partitions holding n records each
// (values "p<partition>-<i>"), through the CLI itself.
func seedTopic(t *testing.T, addr, topic string, parts, n int) {
	t.Helper()
	cli(t, addr, "topic", "create", topic, "--partitions", strconv.Itoa(parts))
	for p := 0; p < parts && n > 0; p++ {
		var lines []string
		for i := 0; i < n; i++ {
			lines = append(lines, "p"+strconv.Itoa(p)+"-"+strconv.Itoa(i))
		}
		if _, errOut, err := cliRun(t, addr, strings.Join(lines, "\n")+"\n", "produce", topic, "--partition", strconv.Itoa(p)); err != nil {
			t.Fatalf("produce: %v %s", err, errOut)
		}
	}
}

// tableRow finds the first line of a table whose fields start with prefix
// ("*" matches any field), and returns its fields.
func tableRow(t *testing.T, table string, prefix ...string) []string {
	t.Helper()
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) < len(prefix) {
			continue
		}
		match := true
		for i, p := range prefix {
			if p != "*" && f[i] != p {
				match = false
				break
			}
		}
		if match {
			return f
		}
	}
	t.Fatalf("no row starting %q in:\n%s", prefix, table)
	return nil
}

func wantFields(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) < len(want) {
		t.Fatalf("row %q shorter than %q", got, want)
	}
	for i, w := range want {
		if w != "*" && got[i] != w {
			t.Fatalf("row %q: field %d is %q, want %q", got, i, got[i], w)
		}
	}
}

// saramaHandler hands every claimed message to msgs and never marks
// anything, like a Sarama service that forgot session.MarkMessage.
type saramaHandler struct {
	once  sync.Once
	ready chan struct{}
	msgs  chan *sarama.ConsumerMessage
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim signals ready on entry: Sarama calls it once the partition
// consumer has resolved its start offset (Setup runs before that, so a
// record produced right after Setup could land before OffsetNewest's
// log end is read).
func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	h.once.Do(func() { close(h.ready) })
	for m := range c.Messages() {
		select {
		case h.msgs <- m:
		case <-s.Context().Done():
			return nil
		}
	}
	return nil
}

// runSarama runs an unmodified Sarama consumer group (sarama.NewConfig():
// Consumer.Offsets.Initial = OffsetNewest) until it has been assigned its
// partitions, and returns its handler and a stop function.
func runSarama(t *testing.T, addr, group, topic string) (*saramaHandler, func()) {
	t.Helper()
	cg, err := sarama.NewConsumerGroup([]string{addr}, group, sarama.NewConfig())
	if err != nil {
		t.Fatalf("sarama: %v", err)
	}
	h := &saramaHandler{ready: make(chan struct{}), msgs: make(chan *sarama.ConsumerMessage, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
				done <- err
				return
			}
		}
		done <- nil
	}()
	stop := func() {
		cancel()
		<-done
		cg.Close()
	}
	select {
	case <-h.ready:
	case err := <-done:
		cancel()
		cg.Close()
		t.Fatalf("sarama consume: %v", err)
	case <-time.After(20 * time.Second):
		stop()
		t.Fatal("sarama consumer group was never assigned partitions")
	}
	return h, stop
}

func nextMessage(t *testing.T, h *saramaHandler) *sarama.ConsumerMessage {
	t.Helper()
	select {
	case m := <-h.msgs:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
		return nil
	}
}

// TestSaramaReplaysAfterReset is the seed question end to end: an
// unmodified Sarama group never reads the records that were there before
// it started; explain says why; a reset to earliest makes the same
// unmodified consumer replay them from the start.
func TestSaramaReplaysAfterReset(t *testing.T) {
	for _, c := range clusters(t) {
		t.Run(c.name, func(t *testing.T) {
			seedTopic(t, c.addr, "payments", 1, 10)

			h, stop := runSarama(t, c.addr, "billing", "payments")
			// Sarama's OffsetNewest fetches from the log end; a record
			// produced now is the first it sees.
			if _, e, err := cliRun(t, c.addr, "new\n", "produce", "payments"); err != nil {
				t.Fatalf("produce: %v %s", err, e)
			}
			if m := nextMessage(t, h); m.Offset != 10 || string(m.Value) != "new" {
				t.Fatalf("first message of a fresh OffsetNewest group: offset %d %q, want offset 10", m.Offset, m.Value)
			}
			stop()
			adm := kadm.NewClient(newClient(t, c.addr))
			waitFor(t, 20*time.Second, func() bool {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				d, err := adm.DescribeGroups(ctx, "billing")
				return err == nil && len(d["billing"].Members) == 0
			})

			out := cli(t, c.addr, "group", "explain", "billing", "--topic", "payments")
			wantFields(t, tableRow(t, out, "payments", "0"), "payments", "0", "-", "0", "11", "11", "0", "11", "no-commit-newest")
			if !strings.Contains(out, "rewind group reset billing --topic payments --to-earliest --execute") {
				t.Fatalf("explain does not say how to replay:\n%s", out)
			}

			out = cli(t, c.addr, "group", "reset", "billing", "--topic", "payments", "--to-earliest", "--execute")
			wantFields(t, tableRow(t, out, "payments", "0"), "payments", "0", "-", "0", "0", "11")

			h, stop = runSarama(t, c.addr, "billing", "payments")
			defer stop()
			for want := int64(0); want <= 10; want++ {
				m := nextMessage(t, h)
				if m.Offset != want {
					t.Fatalf("after the reset, message %d has offset %d: not a replay from the start", want, m.Offset)
				}
				if want < 10 && string(m.Value) != "p0-"+string(rune('0'+want)) {
					t.Fatalf("offset %d value %q", want, m.Value)
				}
			}
		})
	}
}
