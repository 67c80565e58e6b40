package sarama_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/rewindhq/rewind/internal/proctest"
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
			cli.SeedTopic(t, c.addr, "payments", 1, 10)

			h, stop := runSarama(t, c.addr, "billing", "payments")
			// Sarama's OffsetNewest fetches from the log end; a record
			// produced now is the first it sees.
			if _, e, err := cli(t, c.addr, "new\n", "produce", "payments"); err != nil {
				t.Fatalf("produce: %v %s", err, e)
			}
			if m := nextMessage(t, h); m.Offset != 10 || string(m.Value) != "new" {
				t.Fatalf("first message of a fresh OffsetNewest group: offset %d %q, want offset 10", m.Offset, m.Value)
			}
			stop()
			adm := kadm.NewClient(proctest.NewClient(t, c.addr))
			proctest.WaitFor(t, 20*time.Second, func() bool {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				d, err := adm.DescribeGroups(ctx, "billing")
				return err == nil && len(d["billing"].Members) == 0
			})

			out := cli.Must(t, c.addr, "group", "explain", "billing", "--topic", "payments")
			proctest.WantFields(t, proctest.TableRow(t, out, "payments", "0"), "payments", "0", "-", "0", "11", "11", "0", "11", "no-commit-newest")
			if !strings.Contains(out, "rewind group reset billing --topic payments --to-earliest --execute") {
				t.Fatalf("explain does not say how to replay:\n%s", out)
			}

			out = cli.Must(t, c.addr, "group", "reset", "billing", "--topic", "payments", "--to-earliest", "--execute")
			proctest.WantFields(t, proctest.TableRow(t, out, "payments", "0"), "payments", "0", "-", "0", "0", "11")

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
