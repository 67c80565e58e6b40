package offsettool

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/rewindhq/rewind/offsettool/grouptest"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
)

// cluster is one Kafka implementation the tools are run against: Rewind
// in-process, and franz-go's kfake as an independent second opinion.
type cluster struct {
	name   string
	addr   string
	rewind bool
}

func clusters(t *testing.T) []cluster {
	t.Helper()
	kf := proctest.Kfake(t, kfakeBin)
	rw := rewindtest.Start(t)
	return []cluster{{"rewind", rw.Addr(), true}, {"kfake", kf, false}}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, addr string) *Client {
	t.Helper()
	c, err := Dial(testCtx(t), []string{addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// seed creates topic with parts partitions and n records in each.
func seed(t *testing.T, c *Client, topic string, parts int32, n int) {
	t.Helper()
	ctx := testCtx(t)
	if err := c.CreateTopic(ctx, topic, parts, 1, nil); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i := 0; i < n; i++ {
		lines = append(lines, "v"+strconv.Itoa(i))
	}
	for p := int32(0); p < parts; p++ {
		if n == 0 {
			continue
		}
		if _, err := c.ProduceLines(ctx, strings.NewReader(strings.Join(lines, "\n")), ProduceOptions{Topic: topic, Partition: p}); err != nil {
			t.Fatal(err)
		}
	}
}

func commit(t *testing.T, c *Client, group, topic string, offsets ...int64) {
	t.Helper()
	proctest.CommitOffsets(t, c.Admin(), group, topic, offsets...)
}

func TestDialUnreachable(t *testing.T) {
	start := time.Now()
	_, err := Dial(context.Background(), []string{"127.0.0.1:1"})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v to fail", d)
	}
}

// TestDialSilentBroker: a broker that accepts connections but never
// answers must fail the CLI within seconds, not kgo's service defaults.
func TestDialSilentBroker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	start := time.Now()
	_, err = Dial(context.Background(), []string{ln.Addr().String()})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("took %v to give up on a silent broker", d)
	}
}

// TestExplainEndToEnd builds each explain case on a real cluster and checks
// the snapshot feeds Explain what the unit tests assume.
func TestExplainEndToEnd(t *testing.T) {
	for _, cl := range clusters(t) {
		t.Run(cl.name, func(t *testing.T) {
			c := dial(t, cl.addr)
			ctx := testCtx(t)
			seed(t, c, "orders", 1, 10)
			explain := func(group string, initial Policy) PartitionStart {
				t.Helper()
				s, err := c.Snapshot(ctx, group, SnapshotOptions{Topics: []TopicSelection{{Topic: "orders"}}})
				if err != nil {
					t.Fatal(err)
				}
				ex := Explain(s, initial)
				if len(ex.Partitions) != 1 {
					t.Fatalf("partitions: %+v", ex.Partitions)
				}
				return ex.Partitions[0]
			}
			check := func(got PartitionStart, c Case, start, skips int64) {
				t.Helper()
				if got.Case != c || got.Start != start || got.Skips != skips {
					t.Fatalf("got %s start %d skips %d, want %s %d %d: %s", got.Case, got.Start, got.Skips, c, start, skips, got.Why)
				}
			}
			check(explain("fresh", Newest), CaseNoCommitNewest, 10, 10)
			check(explain("fresh", Oldest), CaseNoCommitOldest, 0, 0)

			commit(t, c, "committed", "orders", 4)
			check(explain("committed", Newest), CaseCommitted, 4, 4)
			check(explain("committed", Oldest), CaseCommitted, 4, 4)

			commit(t, c, "ahead", "orders", 100)
			check(explain("ahead", Newest), CaseAboveLogEnd, 10, 10)

			commit(t, c, "behind", "orders", 2)
			dr, err := c.Admin().DeleteRecords(ctx, kadm.Offsets{"orders": {0: {Topic: "orders", Partition: 0, At: 6}}})
			if err != nil || dr.Error() != nil {
				t.Fatalf("delete records: %v %v", err, dr.Error())
			}
			check(explain("behind", Newest), CaseBelowLogStart, 10, 4)
			check(explain("behind", Oldest), CaseBelowLogStart, 6, 0)
		})
	}
}

func TestSnapshotMidRebalance(t *testing.T) {
	for _, cl := range clusters(t) {
		t.Run(cl.name, func(t *testing.T) {
			c := dial(t, cl.addr)
			seed(t, c, "orders", 1, 3)
			grouptest.HoldRebalance(t, cl.addr, "stuck", "orders")
			s, err := c.Snapshot(testCtx(t), "stuck", SnapshotOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !s.Rebalancing() {
				t.Fatalf("state %q, want a rebalance", s.State)
			}
			ex := Explain(s, Newest)
			if ex.Notes[0].Kind != GroupNoteRebalance {
				t.Fatalf("notes %+v", ex.Notes)
			}
		})
	}
}
