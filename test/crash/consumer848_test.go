package crash

import (
	"context"
	"fmt"
	"math/rand"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/internal/proctest"
)

// TestConsumerGroupSurvivesKill runs franz-go consumers speaking Kafka 4's
// consumer protocol (kgo.ServerSideBalancer) in one group while the broker
// is killed with SIGKILL in the middle of reconciliations: each cycle a
// member joins or leaves, and within 400 ms, while the others revoke and
// take partitions, the broker dies and restarts on the same data
// directory. It checks:
//
//   - the group survives: its epoch after a restart is at least the one
//     described just before the kill (epochs continue), and no member is
//     ever told it lost its partitions (franz-go's OnPartitionsLost, which
//     a forgotten member or epoch would cause);
//   - no partition is owned by two members at once (assigned to one
//     before the other's revoke callback returned), and no record is
//     processed by a member that does not own its partition;
//   - nothing is lost: every acknowledged commit is still committed after
//     each restart, and at the end every record was processed and the
//     committed offsets reach the end of every partition.
func TestConsumerGroupSurvivesKill(t *testing.T) {
	const topic, grp, parts, perPart = "cg848", "cg848-group", 8, 400
	dataDir := filepath.Join(t.TempDir(), "data")
	addr := freePort(t)
	p := start(t, dataDir, addr)
	defer func() { p.kill() }()
	n := cycles()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(n)*30*time.Second+2*time.Minute)
	defer cancel()

	admCl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	if _, err := adm.CreateTopic(ctx, parts, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	for part := int32(0); part < parts; part++ {
		for i := 0; i < perPart; i++ {
			admCl.Produce(ctx, &kgo.Record{Topic: topic, Partition: part, Value: []byte(fmt.Sprintf("%d-%04d", part, i))}, nil)
		}
	}
	if err := admCl.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	w := &cgWatch{owner: map[int32]string{}, processed: map[string]bool{}, acked: map[int32]int64{}}
	var members []*cgConsumer
	next := 0
	add := func() {
		next++
		members = append(members, startConsumer(ctx, t, addr, grp, topic, fmt.Sprintf("m%d", next), w))
	}
	for i := 0; i < 3; i++ {
		add()
	}
	defer func() {
		for _, m := range members {
			m.stop()
		}
	}()
	waitStable := func(what string, want int) kadm.DescribedConsumerGroup {
		t.Helper()
		var last kadm.DescribedConsumerGroup
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if d, err := adm.DescribeConsumerGroups(ctx, grp); err == nil {
				last = d[grp]
				if last.Err == nil && last.State == "Stable" && len(last.Members) == want {
					return last
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s: the group did not settle with %d members: %+v (err %v)", what, want, last, last.Err)
		return last
	}
	waitStable("start", 3)

	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for cycle := 0; cycle < n; cycle++ {
		// A join or a leave starts a reconciliation.
		if len(members) < 3 || (len(members) < 5 && rng.Intn(2) == 0) {
			add()
		} else {
			i := rng.Intn(len(members))
			members[i].stop() // leaves the group (epoch -1) as it closes
			members = append(members[:i], members[i+1:]...)
		}
		time.Sleep(time.Duration(rng.Intn(400)) * time.Millisecond)
		before := int32(-1)
		if d, err := adm.DescribeConsumerGroups(ctx, grp); err == nil && d[grp].Err == nil {
			before = d[grp].Epoch
		}
		acked := w.ackedCommits()
		p.kill()
		p = start(t, dataDir, addr)

		// The commits acknowledged before the kill are all there.
		offs, err := adm.FetchOffsets(ctx, grp)
		for err != nil || offs.Error() != nil {
			time.Sleep(100 * time.Millisecond)
			offs, err = adm.FetchOffsets(ctx, grp)
		}
		for part, at := range acked {
			if o, ok := offs.Lookup(topic, part); !ok || o.At < at {
				t.Fatalf("cycle %d: partition %d committed at %d after the restart, but %d was acknowledged before", cycle, part, o.At, at)
			}
		}
		after := waitStable(fmt.Sprintf("cycle %d", cycle), len(members))
		if after.Epoch < before {
			t.Fatalf("cycle %d: group epoch %d after the restart, %d before the kill", cycle, after.Epoch, before)
		}
		if err := w.err(); err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		t.Logf("cycle %d: %d members, epoch %d before the kill, %d once stable again", cycle, len(members), before, after.Epoch)
	}

	// Every record processed, every partition committed to its end.
	deadline := time.Now().Add(90 * time.Second)
	for {
		offs, err := adm.FetchOffsets(ctx, grp)
		done := err == nil && offs.Error() == nil
		for part := int32(0); done && part < parts; part++ {
			o, ok := offs.Lookup(topic, part)
			done = ok && o.At == perPart
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the group never committed every partition to its end: %v %v", offs, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := w.err(); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var missing []string
	for part := 0; part < parts; part++ {
		for i := 0; i < perPart; i++ {
			if v := fmt.Sprintf("%d-%04d", part, i); !w.processed[v] {
				missing = append(missing, v)
			}
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Fatalf("%d records never processed, first %v", len(missing), missing[:min(len(missing), 10)])
	}
}

// cgWatch is what the consumers saw: who owns each partition (by their
// assign and revoke callbacks), every record processed, the largest
// acknowledged commit per partition, and every violation.
type cgWatch struct {
	mu         sync.Mutex
	owner      map[int32]string
	processed  map[string]bool
	acked      map[int32]int64
	violations []string
}

func (w *cgWatch) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.violations) > 0 {
		return fmt.Errorf("%d violations, first %v", len(w.violations), w.violations[:min(len(w.violations), 5)])
	}
	return nil
}

func (w *cgWatch) ackedCommits() map[int32]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[int32]int64, len(w.acked))
	for p, o := range w.acked {
		out[p] = o
	}
	return out
}

type cgConsumer struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

func (c *cgConsumer) stop() {
	c.cancel()
	<-c.done
	c.cl.Close() // the revoke callback runs, then the member leaves
}

// startConsumer starts a member that polls, processes (records each
// value) and commits what it processed synchronously.
func startConsumer(ctx context.Context, t *testing.T, addr, grp, topic, name string, w *cgWatch) *cgConsumer {
	t.Helper()
	lg := &abandonLog{}
	release := func(why string) func(context.Context, *kgo.Client, map[string][]int32) {
		return func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
			if why == "revoked" {
				cl.CommitUncommittedOffsets(ctx) // as a consumer does before giving a partition up
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			if why == "lost" && len(m[topic]) > 0 {
				w.violations = append(w.violations, fmt.Sprintf("%s lost partitions %v (its client logged: %s)", name, m[topic], lg.last()))
			}
			for _, p := range m[topic] {
				if w.owner[p] == name {
					delete(w.owner, p)
				}
			}
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(grp), kgo.ConsumeTopics(topic),
		kgo.ServerSideBalancer(), kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// A revocation waits until the records polled are processed and
		// committed (AllowRebalance), as a careful consumer arranges.
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxWait(100*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		// The broker is killed at random moments, some right after a
		// new connection sent its first request: by default kgo takes
		// an EOF as the first answer of a connection for a missing SASL
		// configuration, not retried, and gives its assignment up (as
		// it would against Kafka killed then). Here the configuration
		// is known to be right.
		kgo.AlwaysRetryEOF(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			w.mu.Lock()
			defer w.mu.Unlock()
			for _, p := range m[topic] {
				if o, ok := w.owner[p]; ok && o != name {
					w.violations = append(w.violations, fmt.Sprintf("partition %d assigned to %s while %s owns it", p, name, o))
				}
				w.owner[p] = name
			}
		}),
		kgo.OnPartitionsRevoked(release("revoked")),
		kgo.OnPartitionsLost(release("lost")),
		kgo.WithLogger(lg),
	)
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithCancel(ctx)
	c := &cgConsumer{cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for pctx.Err() == nil {
			fs := cl.PollRecords(pctx, 20)
			var recs []*kgo.Record
			fs.EachRecord(func(r *kgo.Record) {
				recs = append(recs, r)
				w.mu.Lock()
				if o := w.owner[r.Partition]; o != name {
					w.violations = append(w.violations, fmt.Sprintf("%s processed %d/%d while %q owns it", name, r.Partition, r.Offset, o))
				}
				w.processed[string(r.Value)] = true
				w.mu.Unlock()
			})
			if len(recs) > 0 {
				time.Sleep(20 * time.Millisecond) // processing
				if err := cl.CommitRecords(pctx, recs...); err == nil {
					w.mu.Lock()
					for _, r := range recs {
						w.acked[r.Partition] = max(w.acked[r.Partition], r.Offset+1)
					}
					w.mu.Unlock()
				}
			}
			cl.AllowRebalance()
		}
	}()
	return c
}

// TestConsumerGroupFlags: `rewind serve`'s --group-consumer-* flags reach
// the consumer groups (the heartbeat interval members are told, the
// group's size bound), and a session timeout beyond its max stops the
// start with Kafka's message.
func TestConsumerGroupFlags(t *testing.T) {
	p := proctest.Start(t, proctest.Config{Binary: binary, Args: []string{
		"--group-consumer-heartbeat-interval", "6s", "--group-consumer-max-heartbeat-interval", "6s",
		"--group-consumer-max-size", "1"}})
	ctx := proctest.Ctx(t, 30*time.Second)
	cl := proctest.NewClient(t, p.Addr)
	proctest.CreateTopic(t, cl, "cgflags", 1)
	join := func(member string) *kmsg.ConsumerGroupHeartbeatResponse {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version = 1
		req.Group, req.MemberID = "g-flags", member
		req.RebalanceTimeoutMillis = 30000
		req.SubscribedTopicNames = []string{"cgflags"}
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := join("member-1-0123456789"); resp.ErrorCode != 0 || resp.HeartbeatIntervalMillis != 6000 {
		t.Fatalf("join: error %d, heartbeat interval %d ms, want 6000", resp.ErrorCode, resp.HeartbeatIntervalMillis)
	}
	if resp := join("member-2-0123456789"); resp.ErrorCode != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("a second member with --group-consumer-max-size 1: %v", kerr.ErrorForCode(resp.ErrorCode))
	}

	bad := proctest.Start(t, proctest.Config{Binary: binary, NoWait: true, Args: []string{"--group-consumer-session-timeout", "70s"}})
	if err := bad.Wait(30 * time.Second); err == nil {
		t.Fatal("a session timeout above group.consumer.max.session.timeout.ms started")
	}
	if want := "group.consumer.session.timeout.ms must be less than or equal to group.consumer.max.session.timeout.ms"; !strings.Contains(bad.Log(), want) {
		t.Fatalf("the refused start says %q, want %q", bad.Log(), want)
	}
}

// abandonLog keeps the last lines a member's client logged with an error
// or about giving up its assignment (the error the broker answered), for
// the violation that reports a loss.
type abandonLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *abandonLog) Level() kgo.LogLevel { return kgo.LogLevelInfo }

func (l *abandonLog) Log(_ kgo.LogLevel, msg string, keyvals ...any) {
	withErr := false
	for i := 0; i+1 < len(keyvals); i += 2 {
		if k, _ := keyvals[i].(string); k == "err" && keyvals[i+1] != nil {
			withErr = true
		}
	}
	if !withErr && !strings.Contains(msg, "abandon") && !strings.Contains(msg, "lost") {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprint(append([]any{time.Now().Format("15:04:05.000"), msg}, keyvals...)...))
	if len(l.lines) > 4 {
		l.lines = l.lines[1:]
	}
}

func (l *abandonLog) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 0 {
		return "nothing about abandoning its assignment"
	}
	return strings.Join(l.lines, "; ")
}
