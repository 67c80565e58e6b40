package sarama_test

// Consumer-group behaviour seen through unmodified Sarama, as a Go team
// sees it against Apache Kafka:
//   - no commits + OffsetNewest (Sarama's default): every restart starts at
//     the log end; nothing already in the log is ever read;
//   - no commits + OffsetOldest: every restart replays from the log start;
//   - once the group has committed, the committed offset wins over either
//     initial setting (Kafka's ConsumerCoordinator only falls back to
//     auto.offset.reset when OffsetFetch returns -1);
//   - members leaving move partitions, and only committed positions move
//     with them: at-least-once holds.

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type saramaMember struct {
	t       *testing.T
	cg      sarama.ConsumerGroup
	msgs    chan *sarama.ConsumerMessage
	claimed chan []int32 // partitions of each new session, once ConsumeClaim runs for all
	cancel  context.CancelFunc
	done    chan struct{}
	markTo  int64 // mark records with offsets below this; -1 marks all
}

func (m *saramaMember) Setup(s sarama.ConsumerGroupSession) error { return nil }
func (m *saramaMember) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (m *saramaMember) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	// The claim's starting position is fixed before ConsumeClaim runs.
	select {
	case m.claimed <- []int32{c.Partition()}:
	default:
	}
	for msg := range c.Messages() {
		select {
		case m.msgs <- msg:
		case <-s.Context().Done():
			return nil
		}
		if m.markTo < 0 || msg.Offset < m.markTo {
			s.MarkMessage(msg, "")
		}
	}
	return nil
}

// startSarama joins group with Sarama's defaults, changing only the
// initial offset (0 keeps Sarama's default, OffsetNewest). The member marks
// (and so commits) records below offset markTo; -1 marks every record.
func startSarama(t *testing.T, addr, group, topic string, initial int64, markTo int64) *saramaMember {
	t.Helper()
	cfg := sarama.NewConfig()
	if initial != 0 {
		cfg.Consumer.Offsets.Initial = initial
	}
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cg, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &saramaMember{t: t, cg: cg, msgs: make(chan *sarama.ConsumerMessage, 10000), claimed: make(chan []int32, 64), cancel: cancel, done: make(chan struct{}), markTo: markTo}
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, m); err != nil && ctx.Err() == nil {
				t.Logf("sarama consume: %v", err)
				time.Sleep(50 * time.Millisecond)
			}
		}
	}()
	t.Cleanup(m.close)
	return m
}

// waitClaimed waits until the member is consuming at least one partition.
func (m *saramaMember) waitClaimed() {
	m.t.Helper()
	select {
	case <-m.claimed:
	case <-time.After(20 * time.Second):
		m.t.Fatal("sarama member never got a partition")
	}
}

// close leaves the group; Sarama commits marked offsets on the way out.
func (m *saramaMember) close() {
	select {
	case <-m.done:
		return
	default:
	}
	m.cancel()
	<-m.done
	if err := m.cg.Close(); err != nil {
		m.t.Logf("sarama close: %v", err)
	}
}

// expect receives exactly the given values, then nothing more for a moment.
func (m *saramaMember) expect(values ...string) []*sarama.ConsumerMessage {
	m.t.Helper()
	var got []*sarama.ConsumerMessage
	timeout := time.After(20 * time.Second)
	for len(got) < len(values) {
		select {
		case msg := <-m.msgs:
			got = append(got, msg)
		case <-timeout:
			m.t.Fatalf("received %d of %d records: %v", len(got), len(values), vals(got))
		}
	}
	select {
	case msg := <-m.msgs:
		m.t.Fatalf("unexpected extra record %s at offset %d", msg.Value, msg.Offset)
	case <-time.After(300 * time.Millisecond):
	}
	for i, v := range values {
		if string(got[i].Value) != v {
			m.t.Fatalf("records = %v, want %v", vals(got), values)
		}
	}
	return got
}

func vals(ms []*sarama.ConsumerMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Value)
	}
	return out
}

func TestSaramaOffsetNewestWithoutCommitsNeverReadsHistory(t *testing.T) {
	b := rewindtest.Start(t)
	cl := proctest.NewClient(t, b.Addr())
	proctest.CreateTopic(t, cl, "newest", 1)
	proctest.ProduceStrings(t, cl, "newest", proctest.Seq("old", 10)...)

	m := startSarama(t, b.Addr(), "g-newest", "newest", 0, 0)
	m.waitClaimed()
	proctest.ProduceStrings(t, cl, "newest", proctest.Seq("first-run", 5)...)
	m.expect(proctest.Seq("first-run", 5)...) // the 10 older records are not read
	m.close()

	// Restart without having committed: OffsetNewest again, so not even what
	// the previous run saw is read again.
	m = startSarama(t, b.Addr(), "g-newest", "newest", 0, 0)
	m.waitClaimed()
	proctest.ProduceStrings(t, cl, "newest", proctest.Seq("second-run", 3)...)
	m.expect(proctest.Seq("second-run", 3)...)
	m.close()

	offs, err := kadm.NewClient(cl).FetchOffsets(proctest.Ctx(t, 5*time.Second), "g-newest")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := offs.Lookup("newest", 0); ok {
		t.Fatalf("a group that never marked has committed offsets: %+v", offs)
	}
}

func TestSaramaOffsetOldestWithoutCommitsReplaysEveryRestart(t *testing.T) {
	b := rewindtest.Start(t)
	cl := proctest.NewClient(t, b.Addr())
	proctest.CreateTopic(t, cl, "oldest", 1)
	proctest.ProduceStrings(t, cl, "oldest", proctest.Seq("r", 10)...)
	for run := 0; run < 2; run++ {
		m := startSarama(t, b.Addr(), "g-oldest", "oldest", sarama.OffsetOldest, 0)
		got := m.expect(proctest.Seq("r", 10)...)
		if got[0].Offset != 0 {
			t.Fatalf("run %d started at offset %d, want 0", run, got[0].Offset)
		}
		m.close()
	}
}

func TestSaramaCommittedOffsetWinsOverInitial(t *testing.T) {
	b := rewindtest.Start(t)
	cl := proctest.NewClient(t, b.Addr())
	proctest.CreateTopic(t, cl, "committed", 1)
	all := proctest.Seq("c", 20)
	proctest.ProduceStrings(t, cl, "committed", all...)

	// Consume everything, marking the first 8 records: the commit becomes 8.
	m := startSarama(t, b.Addr(), "g-commit", "committed", sarama.OffsetOldest, 8)
	m.expect(all...)
	m.close()
	adm := kadm.NewClient(cl)
	offs, err := adm.FetchOffsets(proctest.Ctx(t, 5*time.Second), "g-commit")
	if err != nil {
		t.Fatal(err)
	}
	o, ok := offs.Lookup("committed", 0)
	if !ok || o.At != 8 {
		t.Fatalf("committed offset = %+v, want 8", o)
	}
	at := o.At

	// OffsetNewest would start at 20, OffsetOldest at 0: both start at the commit.
	for _, initial := range []int64{sarama.OffsetNewest, sarama.OffsetOldest} {
		m := startSarama(t, b.Addr(), "g-commit", "committed", initial, 0)
		got := m.expect(all[at:]...)
		if got[0].Offset != at {
			t.Fatalf("initial %d: started at offset %d, want the committed %d", initial, got[0].Offset, at)
		}
		m.close()
	}

	// The admin view: committed offset and lag, as kafka-consumer-groups shows.
	lag, err := adm.Lag(proctest.Ctx(t, 5*time.Second), "g-commit")
	if err != nil {
		t.Fatal(err)
	}
	gl := lag["g-commit"]
	if err := gl.Error(); err != nil {
		t.Fatal(err)
	}
	l, ok := gl.Lag.Lookup("committed", 0)
	if !ok || l.Commit.At != at || l.End.Offset != 20 || l.Lag != 20-at {
		t.Fatalf("lag = %+v, want commit %d end 20 lag %d", l, at, 20-at)
	}
}

func TestSaramaThreeMembersOneLeavesNothingLost(t *testing.T) {
	b := rewindtest.Start(t)
	cl := proctest.NewClient(t, b.Addr(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	proctest.CreateTopic(t, cl, "six", 6)
	first := proctest.Seq("a", 60)
	proctest.ProduceStrings(t, cl, "six", first...)

	members := []*saramaMember{
		startSarama(t, b.Addr(), "g-six", "six", sarama.OffsetOldest, -1),
		startSarama(t, b.Addr(), "g-six", "six", sarama.OffsetOldest, -1),
		startSarama(t, b.Addr(), "g-six", "six", sarama.OffsetOldest, -1),
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	collect := func(m *saramaMember, stop <-chan struct{}) {
		defer wg.Done()
		for {
			select {
			case msg := <-m.msgs:
				mu.Lock()
				seen[string(msg.Value)]++
				mu.Unlock()
			case <-stop:
				return
			}
		}
	}
	stops := make([]chan struct{}, 3)
	for i, m := range members {
		stops[i] = make(chan struct{})
		wg.Add(1)
		go collect(m, stops[i])
	}
	proctest.WaitFor(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) >= 60
	})

	// All three share the group.
	adm := kadm.NewClient(cl)
	proctest.WaitFor(t, 30*time.Second, func() bool {
		dg, err := adm.DescribeGroups(proctest.Ctx(t, 5*time.Second), "g-six")
		if err != nil {
			return false
		}
		g := dg["g-six"]
		return g.State == "Stable" && len(g.Members) == 3 && assignedPartitions(g) == 6
	})

	// One member leaves; the others take over its partitions from what it committed.
	members[0].close()
	close(stops[0])
	second := proctest.Seq("b", 120)
	proctest.ProduceStrings(t, cl, "six", second...)
	proctest.WaitFor(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, v := range second {
			if seen[v] == 0 {
				return false
			}
		}
		return true
	})
	mu.Lock()
	for _, v := range append(first, second...) {
		if seen[v] == 0 {
			t.Errorf("record %s was never consumed", v)
		}
	}
	mu.Unlock()
	dg, err := adm.DescribeGroups(proctest.Ctx(t, 5*time.Second), "g-six")
	if err != nil {
		t.Fatal(err)
	}
	if g := dg["g-six"]; len(g.Members) != 2 || assignedPartitions(g) != 6 {
		t.Fatalf("after one left: %d members, %d partitions assigned", len(g.Members), assignedPartitions(g))
	}
	for i := 1; i < 3; i++ {
		members[i].close()
		close(stops[i])
	}
	wg.Wait()

	// Everything consumed was committed by the members on their way out.
	lag, err := adm.Lag(proctest.Ctx(t, 5*time.Second), "g-six")
	if err != nil {
		t.Fatal(err)
	}
	if total := lag["g-six"].Lag.Total(); total != 0 {
		t.Fatalf("lag after all members committed and left = %d, want 0", total)
	}
}

func assignedPartitions(g kadm.DescribedGroup) int {
	n := 0
	var ps []int32
	for _, m := range g.Members {
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range ca.Topics {
				n += len(t.Partitions)
				ps = append(ps, t.Partitions...)
			}
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	for i := 1; i < len(ps); i++ {
		if ps[i] == ps[i-1] {
			return -1 // a partition assigned twice
		}
	}
	return n
}
