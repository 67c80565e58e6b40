package group

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/script/*.txt")

// TestScripts runs the scripted state-machine scenarios in
// testdata/script (etcd raft interaction_test style): each block is a
// command, "----", and the output it must produce. Run with -rewrite to
// regenerate the outputs after a deliberate change, then review the diff.
//
// Commands (group "g" unless group=..., member aliases name clients):
//
//	join <alias> [v=9] [inst=I] [protos=range,roundrobin] [topics=t,u] [session=10s] [rebalance=20s] [reset]
//	sync <alias> [v=5] [assign=a:x,b:y]
//	heartbeat <alias> [v=4] [gen=N] [id=alias#n]
//	leave <alias>... | leave-instance <inst>...
//	commit <alias|-> t/0=5 ... [v=8]        "-" is a standalone commit
//	fetch [t/0 ...]                          no partitions: all
//	advance <duration>                       move the clock, fire timers
//	describe | committed | history | restart
//
// JoinGroup and SyncGroup answers are printed when they arrive, which may
// be during a later command; "waiting" means the call is parked.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/script/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runScript(t, f) })
	}
}

type scriptBlock struct {
	comments []string
	cmd      string
	want     []string
}

func parseScript(t *testing.T, path string) []scriptBlock {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []scriptBlock
	var cur scriptBlock
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.TrimSpace(l) == "":
		case strings.HasPrefix(l, "#"):
			cur.comments = append(cur.comments, l)
		default:
			cur.cmd = l
			if i+1 >= len(lines) || lines[i+1] != "----" {
				t.Fatalf("%s:%d: command without ----", path, i+1)
			}
			i += 2
			for ; i < len(lines) && lines[i] != ""; i++ {
				cur.want = append(cur.want, lines[i])
			}
			blocks = append(blocks, cur)
			cur = scriptBlock{}
		}
	}
	if len(cur.comments) > 0 {
		blocks = append(blocks, cur)
	}
	return blocks
}

func runScript(t *testing.T, path string) {
	blocks := parseScript(t, path)
	s := &script{
		t:       t,
		h:       newHarness(t),
		members: make(map[string]*scriptMember),
		names:   make(map[string]string),
		counts:  make(map[string]int),
	}
	var out strings.Builder
	for i := range blocks {
		b := &blocks[i]
		for _, c := range b.comments {
			out.WriteString(c + "\n")
		}
		if b.cmd == "" {
			continue
		}
		got := s.run(b.cmd)
		if len(got) == 0 {
			got = []string{"ok"}
		}
		if !*rewrite && strings.Join(got, "\n") != strings.Join(b.want, "\n") {
			t.Errorf("%s: %s\n got:\n%s\nwant:\n%s", path, b.cmd, strings.Join(got, "\n"), strings.Join(b.want, "\n"))
		}
		fmt.Fprintf(&out, "%s\n----\n%s\n\n", b.cmd, strings.Join(got, "\n"))
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(strings.TrimRight(out.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type scriptMember struct {
	alias, id, inst string
	gen             int32
	protocol        string
}

type scriptCall struct {
	alias string
	what  string
	join  *joinCall
	sync  chan syncResult
	fresh bool // made by the current command
}

type script struct {
	t       *testing.T
	h       *harness
	members map[string]*scriptMember
	names   map[string]string // member id -> alias#n
	counts  map[string]int
	calls   []scriptCall
}

func (s *script) member(alias string) *scriptMember {
	m := s.members[alias]
	if m == nil {
		m = &scriptMember{alias: alias, gen: -1}
		s.members[alias] = m
	}
	return m
}

// name shows a member id as alias#n, n counting the ids an alias got.
func (s *script) name(id string) string {
	if id == "" {
		return `""`
	}
	if n, ok := s.names[id]; ok {
		return n
	}
	alias, _, ok := strings.Cut(id, "-")
	if !ok || len(id) != len(alias)+37 {
		return id
	}
	s.counts[alias]++
	n := fmt.Sprintf("%s#%d", alias, s.counts[alias])
	s.names[id] = n
	return n
}

func (s *script) run(line string) []string {
	f := strings.Fields(line)
	args := map[string]string{}
	var pos []string
	for _, a := range f[1:] {
		if k, v, ok := strings.Cut(a, "="); ok && !strings.Contains(k, "/") {
			args[k] = v
		} else {
			pos = append(pos, a)
		}
	}
	ver := func(def int16) int16 {
		if v, ok := args["v"]; ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				s.t.Fatalf("%s: bad v", line)
			}
			return int16(n)
		}
		return def
	}
	grp := "g"
	if g, ok := args["group"]; ok {
		grp = g
	}
	var out []string
	ctx := context.Background()
	switch f[0] {
	case "join":
		m := s.member(pos[0])
		id := m.id
		if len(pos) > 1 && pos[1] == "reset" {
			id = ""
		}
		topics := []string{"t"}
		if v, ok := args["topics"]; ok {
			topics = strings.Split(v, ",")
		}
		protos := []string{"range"}
		if v, ok := args["protos"]; ok {
			protos = strings.Split(v, ",")
		}
		var ps []kmsg.JoinGroupRequestProtocol
		for _, p := range protos {
			ps = append(ps, proto(p, consumerMeta(topics...)))
		}
		session, rebalance := 10*time.Second, 20*time.Second
		if v, ok := args["session"]; ok {
			session = mustDur(s.t, v)
		}
		if v, ok := args["rebalance"]; ok {
			rebalance = mustDur(s.t, v)
		}
		opts := []joinOpt{withProtocols(ps...), withTimeouts(session, rebalance)}
		if v, ok := args["inst"]; ok {
			m.inst = v
			opts = append(opts, withInstance(v))
		}
		req := joinReq(ver(9), grp, id, opts...)
		j, _ := s.h.c.beginJoin(WithClient(ctx, m.alias, "/127.0.0.1"), req)
		s.calls = append(s.calls, scriptCall{alias: m.alias, what: "JoinGroup", join: j, fresh: true})
	case "sync":
		m := s.member(pos[0])
		assign := map[string][]byte{}
		if v, ok := args["assign"]; ok {
			for _, kv := range strings.Split(v, ",") {
				a, x, _ := strings.Cut(kv, ":")
				assign[s.member(a).id] = []byte(x)
			}
		}
		req := syncReq(ver(5), grp, m.id, m.gen, assign)
		if req.Version >= 5 {
			req.Protocol = &m.protocol
		}
		if m.inst != "" && req.Version >= 3 {
			req.InstanceID = &m.inst
		}
		s.calls = append(s.calls, scriptCall{alias: m.alias, what: "SyncGroup", sync: s.h.c.beginSync(req), fresh: true})
	case "heartbeat":
		m := s.member(pos[0])
		gen := m.gen
		if v, ok := args["gen"]; ok {
			n, _ := strconv.Atoi(v)
			gen = int32(n)
		}
		var inst []string
		if m.inst != "" {
			inst = []string{m.inst}
		}
		id := m.id
		if v, ok := args["id"]; ok { // an earlier id, by its display name
			for full, n := range s.names {
				if n == v {
					id = full
				}
			}
		}
		out = append(out, fmt.Sprintf("%s: Heartbeat -> %s", m.alias, errName(s.h.heartbeat(ver(4), grp, id, gen, inst...))))
	case "leave", "leave-instance":
		var lm []kmsg.LeaveGroupRequestMember
		for _, p := range pos {
			if f[0] == "leave" {
				m := s.member(p)
				if m.inst != "" {
					lm = append(lm, leaving(m.id, m.inst))
				} else {
					lm = append(lm, leaving(m.id))
				}
			} else {
				lm = append(lm, leaving("", p))
			}
		}
		r := s.h.c.LeaveGroup(ctx, leaveReq(ver(5), grp, lm...))
		parts := []string{"LeaveGroup -> " + errName(r.ErrorCode)}
		for _, m := range r.Members {
			who := s.name(m.MemberID)
			if m.InstanceID != nil {
				who += "(" + *m.InstanceID + ")"
			}
			parts = append(parts, who+"="+errName(m.ErrorCode))
		}
		out = append(out, strings.Join(parts, " "))
	case "commit":
		o := offs{}
		for _, p := range pos[1:] {
			k, v, _ := strings.Cut(p, "=")
			topic, part, _ := strings.Cut(k, "/")
			pn, _ := strconv.Atoi(part)
			off, _ := strconv.ParseInt(v, 10, 64)
			if o[topic] == nil {
				o[topic] = map[int32]int64{}
			}
			o[topic][int32(pn)] = off
		}
		who, id, gen := "admin", "", int32(-1)
		if pos[0] != "-" {
			m := s.member(pos[0])
			who, id, gen = m.alias, m.id, m.gen
		}
		codes := s.h.commit(commitReq(ver(8), grp, id, gen, o))
		var ks []string
		for k := range codes {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		parts := []string{who + ": OffsetCommit ->"}
		for _, k := range ks {
			parts = append(parts, k+"="+errName(codes[k]))
		}
		out = append(out, strings.Join(parts, " "))
	case "fetch":
		var topics map[string][]int32
		if len(pos) > 0 {
			topics = map[string][]int32{}
			for _, p := range pos {
				topic, part, _ := strings.Cut(p, "/")
				pn, _ := strconv.Atoi(part)
				topics[topic] = append(topics[topic], int32(pn))
			}
		}
		code, got := s.h.fetch(7, grp, topics)
		out = append(out, "OffsetFetch -> "+errName(code)+" "+fmtOffsets(got))
	case "advance":
		s.h.advance(mustDur(s.t, pos[0]))
	case "describe":
		out = append(out, s.describe(grp)...)
	case "committed":
		c := s.h.c.Committed(grp)
		if c == nil {
			out = append(out, "no such group")
		}
		got := map[string]int64{}
		for topic, ps := range c {
			for p, oi := range ps {
				got[tpName(topic, p)] = oi.Offset
			}
		}
		if c != nil {
			out = append(out, fmtOffsets(got))
		}
	case "history":
		for _, cm := range s.h.c.History(grp) {
			l := fmt.Sprintf("%s/%d=%d at +%v", cm.Topic, cm.Partition, cm.Offset, cm.CommitTime.Sub(t0))
			if !cm.SupersededAt.IsZero() {
				l += fmt.Sprintf(" until +%v", cm.SupersededAt.Sub(t0))
			}
			if cm.Transactional {
				l += " txn"
			}
			out = append(out, l)
		}
	case "restart":
		s.h = s.h.restart()
	default:
		txn, ok := s.runTxn(f[0], grp, pos, args, ver)
		if !ok {
			s.t.Fatalf("unknown command %q", line)
		}
		out = append(out, txn...)
	}
	s.h.settle() // the callbacks of the command's writes have run
	return append(out, s.collect()...)
}

// collect prints every call that got its answer, in the order they were
// made; calls made by this command that still wait print "waiting".
func (s *script) collect() []string {
	var out, waiting []string
	var rest []scriptCall
	for _, c := range s.calls {
		m := s.member(c.alias)
		var line string
		switch {
		case c.join != nil:
			select {
			case r := <-c.join.ch:
				line = s.fmtJoin(m, r)
			default:
			}
		default:
			select {
			case r := <-c.sync:
				line = fmt.Sprintf("%s: SyncGroup -> %s", m.alias, errName(r.err))
				if r.err == 0 {
					line += fmt.Sprintf(" assignment=%q", r.assignment)
				}
			default:
			}
		}
		if line != "" {
			out = append(out, line)
			continue
		}
		if c.fresh {
			waiting = append(waiting, fmt.Sprintf("%s: %s waiting", c.alias, c.what))
			c.fresh = false
		}
		rest = append(rest, c)
	}
	s.calls = rest
	return append(out, waiting...)
}

func (s *script) fmtJoin(m *scriptMember, r joinResult) string {
	if r.err != 0 {
		if r.memberID != "" && r.memberID != m.id {
			m.id = r.memberID
		}
		l := fmt.Sprintf("%s: JoinGroup -> %s", m.alias, errName(r.err))
		if r.memberID != "" {
			l += " member=" + s.name(r.memberID)
		}
		return l
	}
	m.id, m.gen = r.memberID, r.generation
	if r.protocol != nil {
		m.protocol = *r.protocol
	}
	l := fmt.Sprintf("%s: JoinGroup -> NONE member=%s gen=%d leader=%s protocol=%s", m.alias, s.name(r.memberID), r.generation, s.name(r.leader), m.protocol)
	if r.skip {
		l += " skip-assignment"
	}
	if len(r.members) > 0 {
		var ms []string
		for _, jm := range r.members {
			ms = append(ms, s.name(jm.MemberID))
		}
		l += " members=[" + strings.Join(ms, " ") + "]"
	}
	return l
}

func (s *script) describe(grp string) []string {
	r := s.h.c.DescribeGroups(context.Background(), &kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{grp}})
	d := r.Groups[0]
	out := []string{fmt.Sprintf("%s: %s gen=%d type=%s protocol=%s", grp, d.State, s.h.generation(grp), d.ProtocolType, d.Protocol)}
	for _, m := range d.Members {
		l := "  " + s.name(m.MemberID)
		if m.InstanceID != nil {
			l += " instance=" + *m.InstanceID
		}
		if len(m.MemberAssignment) > 0 {
			l += fmt.Sprintf(" assignment=%q", m.MemberAssignment)
		}
		out = append(out, l)
	}
	return out
}

func fmtOffsets(m map[string]int64) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func mustDur(t *testing.T, s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("bad duration %q", s)
	}
	return d
}
