package consumer

import (
	"bufio"
	"crypto/sha256"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/rewindhq/rewind/group/assign"
	"github.com/rewindhq/rewind/offsetsfmt"
)

// Golden scripts (testdata/*.txt) drive a Coordinator with heartbeats and
// clock moves and compare what it answers, and writes, with the expected
// output kept in the file (etcd raft's datadriven style):
//
//	command args...
//	----
//	expected output
//	<blank line>
//
// go test ./group/consumer -run TestScripts -rewrite rewrites the outputs;
// review the diff before committing it.
var rewrite = flag.Bool("rewrite", false, "rewrite the expected outputs of testdata/*.txt")

type fakeTopics struct {
	parts   map[string]int32
	version int64
	ids     map[string]assign.TopicID // topicID's, cached
}

func topicID(name string) assign.TopicID {
	s := sha256.Sum256([]byte(name))
	return assign.TopicID(s[:16])
}

func (f *fakeTopics) Lookup(name string) (assign.TopicID, int32, bool) {
	n, ok := f.parts[name]
	if f.ids == nil {
		f.ids = map[string]assign.TopicID{}
	}
	id, cached := f.ids[name]
	if !cached {
		id = topicID(name)
		f.ids[name] = id
	}
	return id, n, ok
}
func (f *fakeTopics) Names() []string { return slices.Sorted(maps.Keys(f.parts)) }
func (f *fakeTopics) Version() int64  { return f.version }

// client is what a script's member remembers between heartbeats, as a
// well-behaved consumer does: its id, its epoch, and the partitions it
// owns (the last assignment it was sent, revoked partitions dropped).
type client struct {
	id       string
	instance string // sent with every heartbeat once given
	epoch    int32
	owned    map[assign.TopicID][]int32
}

type scriptRun struct {
	t       *testing.T
	c       *Coordinator
	cfg     Config
	recs    []Record // every record written, to replay at the end
	topics  *fakeTopics
	now     time.Time
	clients map[string]*client
	names   map[assign.TopicID]string
}

func (s *scriptRun) topicName(id assign.TopicID) string {
	if n, ok := s.names[id]; ok {
		return n
	}
	return fmt.Sprintf("%x", id[:4])
}

func (s *scriptRun) fmtPartitions(ps map[assign.TopicID][]int32) string {
	var out []string
	for t, p := range ps {
		if len(p) == 0 {
			continue
		}
		q := slices.Clone(p)
		slices.Sort(q)
		var n []string
		for _, x := range q {
			n = append(n, strconv.Itoa(int(x)))
		}
		out = append(out, s.topicName(t)+":"+strings.Join(n, ","))
	}
	if len(out) == 0 {
		return "none"
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func (s *scriptRun) parsePartitions(v string) map[assign.TopicID][]int32 {
	out := map[assign.TopicID][]int32{}
	if v == "none" {
		return out
	}
	for _, tp := range strings.Split(v, ";") {
		name, ps, _ := strings.Cut(tp, ":")
		for _, p := range strings.Split(ps, ",") {
			n, err := strconv.Atoi(p)
			if err != nil {
				s.t.Fatalf("partitions %q: %v", v, err)
			}
			out[topicID(name)] = append(out[topicID(name)], int32(n))
		}
	}
	return out
}

// records renders what a heartbeat wrote, decoding each record with
// offsetsfmt as a reader of __consumer_offsets would.
func (s *scriptRun) records(recs []Record) string {
	var out []string
	for _, r := range recs {
		d, err := offsetsfmt.Decode(r.Key, r.Value)
		if err != nil {
			s.t.Fatalf("record does not decode: %v", err)
		}
		name := map[offsetsfmt.Kind]string{
			offsetsfmt.ConsumerGroupMetadata:                 "epoch",
			offsetsfmt.ConsumerGroupMemberMetadata:           "member",
			offsetsfmt.ConsumerGroupTargetAssignmentMetadata: "target-epoch",
			offsetsfmt.ConsumerGroupTargetAssignmentMember:   "target",
			offsetsfmt.ConsumerGroupCurrentMemberAssignment:  "current",
			offsetsfmt.ConsumerGroupRegularExpression:        "regex",
		}[d.Kind]
		who := d.Member
		if d.Kind == offsetsfmt.ConsumerGroupRegularExpression {
			who = d.Regex
		}
		switch v := d.Consumer.(type) {
		case nil:
			name = "-" + name
		case *offsetsfmt.ConsumerGroupMetadataValue:
			who = strconv.Itoa(int(v.Epoch))
		case *offsetsfmt.ConsumerGroupTargetAssignmentMetadataValue:
			who = strconv.Itoa(int(v.AssignmentEpoch))
		case *offsetsfmt.ConsumerGroupCurrentMemberAssignmentValue:
			who += fmt.Sprintf("@%d/%s", v.MemberEpoch, MemberState(v.State))
		case *offsetsfmt.ConsumerGroupRegularExpressionValue:
			who += "=" + strings.Join(v.Topics, ",")
		}
		if who != "" {
			name += "(" + who + ")"
		}
		out = append(out, name)
	}
	if len(out) == 0 {
		return "records: none"
	}
	return "records: " + strings.Join(out, " ")
}

func (s *scriptRun) exec(cmd string) string {
	f := strings.Fields(cmd)
	args := map[string]string{}
	for _, a := range f[1:] {
		k, v, _ := strings.Cut(a, "=")
		args[k] = v
	}
	switch f[0] {
	case "config":
		cfg := Config{}
		if v, ok := args["session"]; ok {
			cfg.SessionTimeout, _ = time.ParseDuration(v)
		}
		if v, ok := args["max"]; ok {
			cfg.MaxSize, _ = strconv.Atoi(v)
		}
		cfg.AssignmentInterval = -1
		if v, ok := args["assignment-interval"]; ok {
			cfg.AssignmentInterval, _ = time.ParseDuration(v)
		}
		n := 0
		cfg.NewMemberID = func() string { n++; return fmt.Sprintf("generated-%d", n) }
		s.c, s.cfg, s.recs = NewCoordinator(cfg), cfg, nil
		return "ok"
	case "topic":
		n, _ := strconv.Atoi(f[2])
		s.topics.parts[f[1]] = int32(n)
		s.topics.version++
		s.names[topicID(f[1])] = f[1]
		return "ok"
	case "advance":
		d, err := time.ParseDuration(f[1])
		if err != nil {
			s.t.Fatal(err)
		}
		s.now = s.now.Add(d)
		fenced, recs := s.c.Tick(s.now)
		s.recs = append(s.recs, recs...)
		var out []string
		for _, g := range slices.Sorted(maps.Keys(fenced)) {
			for _, fm := range fenced[g] {
				out = append(out, fmt.Sprintf("fenced %s/%s: %s", g, fm.Member, fm.Reason))
			}
		}
		if len(out) == 0 {
			return "no timer fired"
		}
		return strings.Join(out, "\n") + "\n" + s.records(recs)
	case "hb", "leave":
		return s.heartbeat(f[0], f[1], args)
	case "state":
		return s.state(args)
	}
	s.t.Fatalf("unknown command %q", cmd)
	return ""
}

func (s *scriptRun) heartbeat(cmd, name string, args map[string]string) string {
	cl := s.clients[name]
	if cl == nil {
		cl = &client{id: name}
		s.clients[name] = cl
	}
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group = "g"
	if v, ok := args["group"]; ok {
		req.Group = v
	}
	if v, ok := args["version"]; ok {
		n, _ := strconv.Atoi(v)
		req.Version = int16(n)
	}
	req.MemberID = cl.id
	if v, ok := args["id"]; ok {
		req.MemberID = v
	}
	req.MemberEpoch = cl.epoch
	if v, ok := args["epoch"]; ok {
		n, _ := strconv.Atoi(v)
		req.MemberEpoch = int32(n)
	}
	if cmd == "leave" {
		req.MemberEpoch = LeaveEpoch
		if _, ok := args["static"]; ok {
			req.MemberEpoch = StaticLeaveEpoch
		}
	}
	if v, ok := args["instance"]; ok {
		cl.instance = v
		req.InstanceID = kmsg.StringPtr(v)
	} else if cl.instance != "" {
		req.InstanceID = kmsg.StringPtr(cl.instance)
	}
	if v, ok := args["rack"]; ok {
		req.RackID = kmsg.StringPtr(v)
	}
	if v, ok := args["assignor"]; ok {
		req.ServerAssignor = kmsg.StringPtr(v)
	}
	if v, ok := args["regex"]; ok {
		req.SubscribedTopicRegex = kmsg.StringPtr(v)
	}
	if v, ok := args["topics"]; ok {
		req.SubscribedTopicNames = []string{}
		if v != "none" {
			req.SubscribedTopicNames = strings.Split(v, ",")
		}
	}
	req.RebalanceTimeoutMillis = -1
	if req.MemberEpoch == 0 {
		req.RebalanceTimeoutMillis = 60000
	}
	if v, ok := args["rebalance"]; ok {
		d, _ := time.ParseDuration(v)
		req.RebalanceTimeoutMillis = int32(d.Milliseconds())
	}
	// Owned partitions: by default what the client owns (nothing when
	// joining); owned=- sends none (a keep-alive), owned=... given ones.
	owned := cl.owned
	if req.MemberEpoch == 0 {
		owned = map[assign.TopicID][]int32{}
	}
	if v, ok := args["owned"]; ok {
		owned = nil
		if v != "-" {
			owned = s.parsePartitions(v)
		}
	}
	if owned != nil {
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		for _, t := range slices.SortedFunc(maps.Keys(owned), assign.TopicID.Compare) {
			if len(owned[t]) > 0 {
				req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: t, Partitions: owned[t]})
			}
		}
	}
	resp, recs := s.c.Heartbeat(s.now, Client{ID: "client-" + name, Host: "/127.0.0.1"}, req, s.topics)
	s.recs = append(s.recs, recs...)
	if resp.ErrorCode != 0 {
		msg := ""
		if resp.ErrorMessage != nil {
			msg = *resp.ErrorMessage
		}
		if len(recs) != 0 {
			s.t.Fatalf("a refused heartbeat wrote %d records", len(recs))
		}
		return fmt.Sprintf("error %s: %s", kerr.ErrorForCode(resp.ErrorCode).(*kerr.Error).Message, msg)
	}
	if resp.MemberID != nil {
		cl.id = *resp.MemberID
	}
	cl.epoch = resp.MemberEpoch
	assignment := "unchanged"
	if resp.Assignment != nil {
		cl.owned = map[assign.TopicID][]int32{}
		for _, t := range resp.Assignment.Topics {
			cl.owned[t.TopicID] = t.Partitions
		}
		assignment = s.fmtPartitions(cl.owned)
	}
	if req.MemberEpoch < 0 {
		cl.epoch, cl.owned = 0, nil
		return fmt.Sprintf("left: member=%s epoch=%d\n%s", *resp.MemberID, resp.MemberEpoch, s.records(recs))
	}
	return fmt.Sprintf("member=%s epoch=%d interval=%d assignment=%s\n%s", *resp.MemberID, resp.MemberEpoch,
		resp.HeartbeatIntervalMillis, assignment, s.records(recs))
}

func (s *scriptRun) state(args map[string]string) string {
	id := "g"
	if v, ok := args["group"]; ok {
		id = v
	}
	g := s.c.Group(id)
	if g == nil {
		return "no group " + id
	}
	var b strings.Builder
	fmt.Fprintf(&b, "group %s: %s epoch=%d assignment-epoch=%d", id, g.State(), g.Epoch, g.AssignmentEpoch)
	for _, mid := range g.MemberIDs() {
		m := g.Member(mid)
		inst := ""
		if m.InstanceID != "" {
			inst = " instance=" + m.InstanceID
		}
		fmt.Fprintf(&b, "\n  %s%s epoch=%d prev=%d %s assigned=%s", mid, inst, m.Epoch, m.PreviousEpoch, m.State, s.fmtPartitions(m.Assigned.partitions()))
		if m.PendingRevocation.count() > 0 {
			fmt.Fprintf(&b, " revoking=%s", s.fmtPartitions(m.PendingRevocation.partitions()))
		}
		fmt.Fprintf(&b, " target=%s", s.fmtPartitions(g.Target(mid)))
	}
	return b.String()
}

func TestScripts(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txt")
	if len(files) == 0 {
		t.Fatal("no scripts")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			// Every epoch is assigned at once unless a script's config sets
			// assignment-interval (Kafka's default is 1 s).
			s := &scriptRun{t: t, c: NewCoordinator(Config{AssignmentInterval: -1}), cfg: Config{AssignmentInterval: -1}, topics: &fakeTopics{parts: map[string]int32{}},
				now: time.Unix(1_700_000_000, 0), clients: map[string]*client{}, names: map[assign.TopicID]string{}}
			runScript(t, file, s.exec)
			// What the script wrote rebuilds the groups it left.
			checkReplay(t, s.c, s.cfg, s.recs)
		})
	}
}

// runScript runs each command of file and compares (or, with -rewrite,
// replaces) its expected output.
func runScript(t *testing.T, file string, exec func(string) string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			out.WriteString(text + "\n")
			continue
		}
		cmd := text
		var want []string
		if sc.Scan() {
			line++
			if sc.Text() != "----" {
				t.Fatalf("%s:%d: want ---- after %q", file, line, cmd)
			}
			for sc.Scan() {
				line++
				if sc.Text() == "" {
					break
				}
				want = append(want, sc.Text())
			}
		}
		got := exec(cmd)
		fmt.Fprintf(&out, "%s\n----\n%s\n\n", cmd, got)
		if !*rewrite && got != strings.Join(want, "\n") {
			t.Errorf("%s:%d: %s\n got:\n%s\nwant:\n%s", file, line, cmd, got, strings.Join(want, "\n"))
		}
	}
	if *rewrite {
		if err := os.WriteFile(file, []byte(strings.TrimRight(out.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
