package compat

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Consumer groups of Kafka 4's consumer protocol (KIP-848) with other
// clients than franz-go, against the rewind serve binary: members are
// processes printing what they were given, revoked and processed (see
// compat/python/consumer_protocol_member.py), a group of 3 grows to 4 and
// shrinks to 3 while records are produced, and the test checks that
// nothing produced went unprocessed, that no partition was owned by two
// members at once (from the members' own callbacks, on one clock), and
// that the group committed everything in the end.

// cpMember is one member process.
type cpMember struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	err   error
}

// cpLog gathers the members' lines.
type cpLog struct {
	mu     sync.Mutex
	seen   map[[2]int64]int // (partition, offset) -> times processed
	owned  map[int32][]span // partition -> ownership spans
	open   map[string]map[int32]int64
	errors []string
}

type span struct {
	member   string
	from, to int64 // ns; to = 0 while open
}

func newCPLog() *cpLog {
	return &cpLog{seen: map[[2]int64]int{}, owned: map[int32][]span{}, open: map[string]map[int32]int64{}}
}

func (l *cpLog) line(member, s string) {
	f := strings.Fields(s)
	if len(f) < 2 {
		return
	}
	ts, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[member] == nil {
		l.open[member] = map[int32]int64{}
	}
	partitions := func() []int32 {
		var ps []int32
		if len(f) > 2 && f[2] != "-" {
			for _, p := range strings.Split(f[2], ",") {
				n, _ := strconv.Atoi(p)
				ps = append(ps, int32(n))
			}
		}
		return ps
	}
	switch f[0] {
	case "assign":
		for _, p := range partitions() {
			l.open[member][p] = ts
		}
	case "revoke", "lost":
		for _, p := range partitions() {
			if from, ok := l.open[member][p]; ok {
				l.owned[p] = append(l.owned[p], span{member, from, ts})
				delete(l.open[member], p)
			}
		}
	case "closed":
		for p, from := range l.open[member] {
			l.owned[p] = append(l.owned[p], span{member, from, ts})
		}
		l.open[member] = map[int32]int64{}
	case "rec":
		if len(f) == 4 {
			p, _ := strconv.ParseInt(f[2], 10, 64)
			o, _ := strconv.ParseInt(f[3], 10, 64)
			l.seen[[2]int64{p, o}]++
		}
	}
}

func (l *cpLog) processed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen)
}

// overlaps lists the partitions two members owned at the same time.
func (l *cpLog) overlaps() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for p, ss := range l.owned {
		sort.Slice(ss, func(i, j int) bool { return ss[i].from < ss[j].from })
		for i := 1; i < len(ss); i++ {
			if ss[i].from < ss[i-1].to && ss[i].member != ss[i-1].member {
				out = append(out, fmt.Sprintf("partition %d: %s from %d and %s until %d", p, ss[i].member, ss[i].from, ss[i-1].member, ss[i-1].to))
			}
		}
	}
	return out
}

func startCPMember(t *testing.T, l *cpLog, name string, argv ...string) *cpMember {
	t.Helper()
	m := &cpMember{name: name, done: make(chan struct{})}
	m.cmd = exec.Command(argv[0], argv[1:]...)
	var err error
	if m.stdin, err = m.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := m.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	m.cmd.Stderr = &stderr
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l.line(name, sc.Text())
		}
		m.err = m.cmd.Wait()
		if m.err != nil {
			m.err = fmt.Errorf("%s: %v: %s", name, m.err, short(stderr.String(), 600))
		}
		close(m.done)
	}()
	t.Cleanup(func() { m.stop(t) })
	return m
}

// stop closes the member's stdin and waits for it to leave the group.
func (m *cpMember) stop(t *testing.T) {
	t.Helper()
	m.stdin.Close()
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		m.cmd.Process.Kill()
		<-m.done
		t.Errorf("%s did not close within 30s", m.name)
	}
	if m.err != nil {
		t.Error(m.err)
	}
}

// runConsumerProtocolGroup drives the scenario with members started by
// argv(name).
func runConsumerProtocolGroup(t *testing.T, e *env, group string, argv func(name string) []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const topic, parts, batch = "kip848-orders", 6, 50
	if _, err := e.adm.CreateTopics(ctx, parts, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	pcl, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	produced := 0
	produce := func() {
		var recs []*kgo.Record
		for p := int32(0); p < parts; p++ {
			for i := 0; i < batch; i++ {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("v%d", produced+i))})
			}
		}
		if err := pcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		produced += len(recs)
	}
	l := newCPLog()
	waitAll := func(what string) {
		t.Helper()
		for l.processed() < produced {
			if ctx.Err() != nil {
				t.Fatalf("%s: %d of %d records processed", what, l.processed(), produced)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var members []*cpMember
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("m%d", i)
		members = append(members, startCPMember(t, l, name, argv(name)...))
	}
	// The members speak the consumer protocol: ConsumerGroupDescribe
	// shows them (DescribeGroups would call the group not classic).
	stable := func(n int) {
		t.Helper()
		for {
			d, err := e.adm.DescribeConsumerGroups(ctx, group)
			g := d[group]
			owning := 0
			for _, m := range g.Members {
				if len(m.Assignment[topic]) > 0 && m.MemberType == 1 {
					owning++
				}
			}
			if err == nil && g.State == "Stable" && len(g.Members) == n && owning == n {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("consumer group %s never Stable with %d members owning partitions: %v %+v", group, n, err, g)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	produce()
	stable(3)
	waitAll("3 members")
	members = append(members, startCPMember(t, l, "m3", argv("m3")...))
	produce()
	stable(4)
	waitAll("scaled to 4")
	members[0].stop(t)
	produce()
	stable(3)
	waitAll("back to 3")
	for _, m := range members[1:] {
		m.stop(t)
	}
	if ov := l.overlaps(); len(ov) > 0 {
		t.Errorf("partitions owned twice at once: %s", strings.Join(ov, "; "))
	}
	l.mu.Lock()
	spans := 0
	for _, ss := range l.owned {
		spans += len(ss)
	}
	l.mu.Unlock()
	if spans < parts {
		t.Errorf("%d ownership spans over %d partitions: the members' callbacks were not seen", spans, parts)
	}
	offs, err := e.adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < parts; p++ {
		if o, ok := offs.Lookup(topic, p); !ok || o.Err != nil || o.At != int64(produced/parts) {
			t.Errorf("after the members left, %s/%d committed %+v, want %d", topic, p, o, produced/parts)
		}
	}
}

// TestOwnershipOverlaps: the check of no partition owned twice at once
// catches two members' spans that overlap, and not a handover.
func TestOwnershipOverlaps(t *testing.T) {
	l := newCPLog()
	for _, s := range []struct{ m, line string }{
		{"a", "assign 10 0,1"}, {"a", "revoke 20 1"}, {"b", "assign 21 1"}, // a handover
		{"c", "assign 15 0"}, // while a still owns 0
	} {
		l.line(s.m, s.line)
	}
	l.line("a", "closed 30")
	l.line("b", "closed 30")
	l.line("c", "closed 30")
	ov := l.overlaps()
	if len(ov) != 1 || !strings.Contains(ov[0], "partition 0") {
		t.Fatalf("overlaps %q, want partition 0 only", ov)
	}
}

// TestConsumerProtocolPython: confluent-kafka-python from PyPI (its wheel
// bundles librdkafka 2.16, which speaks the consumer protocol since 2.12)
// with group.protocol=consumer.
func TestConsumerProtocolPython(t *testing.T) {
	if err := venvModule("confluent-kafka", "confluent_kafka", "2.16.")(); err != nil {
		if required() && !pypiOptional() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	e := startEnv(t)
	script := venvScript("consumer_protocol_member.py")
	runConsumerProtocolGroup(t, e, "kip848-python", func(name string) []string {
		return append(append([]string{}, script...), e.addr, "kip848-orders", "kip848-python", name)
	})
}

// TestConsumerProtocolJava: the Java consumer of kafka-clients 4.4 with
// group.protocol=consumer (compat/java's member mode).
func TestConsumerProtocolJava(t *testing.T) {
	if err := javaAvailable(); err != nil {
		if required() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	e := startEnv(t)
	runConsumerProtocolGroup(t, e, "kip848-java", func(name string) []string {
		return append(append([]string{"java"}, jvmFlags...), "-cp", javaClasspath(), "rewind.compat.Main", "member", e.addr, "kip848-orders", "kip848-java", name)
	})
}
