package assign

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The differential corpus: groups (members, subscriptions, current target
// assignments, static ids) and the assignments Apache Kafka 4.4's own
// UniformAssignor and RangeAssignor computed for them, run by
// testdata/kafka/KafkaAssign.java on the jars of .ci/kafka.sh. Rewind's
// assignors must compute the same assignment, partition for partition.
const (
	casesFile    = "testdata/kafka/cases.txt"
	expectedFile = "testdata/kafka/expected.txt"
)

var rewriteKafka = flag.Bool("kafka-rewrite", false, "regenerate "+casesFile+" and ask Kafka's assignors (java, .ci/kafka.sh jars) for "+expectedFile)

type corpusCase struct {
	assignor string
	g        Group
}

func uuidString(t TopicID) string { return base64.RawURLEncoding.EncodeToString(t[:]) }

// randomCorpus builds the cases: every shape the assignors branch on
// (homogeneous or not, first assignment or sticky reassignment, topics
// dropped from subscriptions, more members than partitions, static
// members), from a fixed seed so the file is reproducible.
func randomCorpus() []corpusCase {
	r := rand.New(rand.NewPCG(848, 4))
	var out []corpusCase
	for i := 0; i < 400; i++ {
		nt := 1 + r.IntN(5)
		topics := map[TopicID]int32{}
		var tids []TopicID
		for j := 0; j < nt; j++ {
			var t TopicID
			for k := range t {
				t[k] = byte(r.IntN(256))
			}
			topics[t] = int32(1 + r.IntN(12))
			tids = append(tids, t)
		}
		nm := 1 + r.IntN(8)
		homog := r.IntN(2) == 0
		var members []Member
		for j := 0; j < nm; j++ {
			m := Member{ID: fmt.Sprintf("m%02d", r.IntN(100))}
			if slices.ContainsFunc(members, func(o Member) bool { return o.ID == m.ID }) {
				continue
			}
			if r.IntN(3) == 0 {
				m.InstanceID = fmt.Sprintf("i%d", r.IntN(10))
			}
			for _, t := range tids {
				if homog || r.IntN(2) == 0 {
					m.Subscribed = append(m.Subscribed, t)
				}
			}
			m.Target = Partitions{}
			members = append(members, m)
		}
		// A current target assignment: each partition at most once, to a
		// member that may or may not still subscribe to it.
		if r.IntN(4) != 0 {
			for _, t := range tids {
				for p := int32(0); p < topics[t]; p++ {
					if r.IntN(10) < 7 {
						m := &members[r.IntN(len(members))]
						m.Target[t] = append(m.Target[t], p)
					}
				}
			}
		}
		assignor := UniformName
		if i%4 == 3 {
			assignor = RangeName
		}
		out = append(out, corpusCase{assignor, Group{Members: members, Topics: topics}})
	}
	return out
}

func writeCases(cs []corpusCase) []byte {
	var b bytes.Buffer
	for _, c := range cs {
		typ := "HETEROGENEOUS"
		if homogeneous(c.g.Members) {
			typ = "HOMOGENEOUS"
		}
		fmt.Fprintf(&b, "assignor %s\ntype %s\n", c.assignor, typ)
		for _, t := range sortedTopics(keysOfCount(c.g.Topics)) {
			fmt.Fprintf(&b, "topic %s %d\n", uuidString(t), c.g.Topics[t])
		}
		for _, m := range c.g.Members {
			inst := m.InstanceID
			if inst == "" {
				inst = "-"
			}
			fmt.Fprintf(&b, "member %s %s %s %s\n", m.ID, inst, topicList(m.Subscribed), targetList(m.Target))
		}
		b.WriteString("end\n")
	}
	return b.Bytes()
}

func keysOfCount(m map[TopicID]int32) map[TopicID]bool {
	s := map[TopicID]bool{}
	for t := range m {
		s[t] = true
	}
	return s
}

func topicList(ts []TopicID) string {
	if len(ts) == 0 {
		return "-"
	}
	var s []string
	for _, t := range ts {
		s = append(s, uuidString(t))
	}
	return strings.Join(s, ",")
}

// targetList renders a member's current target as KafkaAssign reads it,
// topics in Compare order: the order Rewind's homogeneous builder assumes
// Kafka inserted them in (see javaHashOrder).
func targetList(ps Partitions) string {
	var parts []string
	for _, t := range sortedTopics(keysOf(ps)) {
		if len(ps[t]) == 0 {
			continue
		}
		q := slices.Clone(ps[t])
		slices.Sort(q)
		var n []string
		for _, x := range q {
			n = append(n, fmt.Sprint(x))
		}
		parts = append(parts, uuidString(t)+":"+strings.Join(n, ","))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ";")
}

// partitionList renders ps as KafkaAssign prints it: topics by uuid
// string, partitions ascending.
func partitionList(ps Partitions) string {
	var parts []string
	for t, p := range ps {
		if len(p) == 0 {
			continue
		}
		q := slices.Clone(p)
		slices.Sort(q)
		var n []string
		for _, x := range q {
			n = append(n, fmt.Sprint(x))
		}
		parts = append(parts, uuidString(t)+":"+strings.Join(n, ","))
	}
	if len(parts) == 0 {
		return "-"
	}
	slices.Sort(parts)
	return strings.Join(parts, ";")
}

func parseCases(t *testing.T, b []byte) []corpusCase {
	t.Helper()
	var out []corpusCase
	cur := corpusCase{g: Group{Topics: map[TopicID]int32{}}}
	dec := func(s string) TopicID {
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(raw) != 16 {
			t.Fatalf("uuid %q: %v", s, err)
		}
		return TopicID(raw)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch f[0] {
		case "assignor":
			cur.assignor = f[1]
		case "topic":
			var n int32
			fmt.Sscan(f[2], &n)
			cur.g.Topics[dec(f[1])] = n
		case "member":
			m := Member{ID: f[1], Target: Partitions{}}
			if f[2] != "-" {
				m.InstanceID = f[2]
			}
			if f[3] != "-" {
				for _, s := range strings.Split(f[3], ",") {
					m.Subscribed = append(m.Subscribed, dec(s))
				}
			}
			if f[4] != "-" {
				for _, tp := range strings.Split(f[4], ";") {
					k, v, _ := strings.Cut(tp, ":")
					for _, s := range strings.Split(v, ",") {
						var p int32
						fmt.Sscan(s, &p)
						m.Target[dec(k)] = append(m.Target[dec(k)], p)
					}
				}
			}
			cur.g.Members = append(cur.g.Members, m)
		case "end":
			out = append(out, cur)
			cur = corpusCase{g: Group{Topics: map[TopicID]int32{}}}
		}
	}
	return out
}

// kafkaOutputs splits KafkaAssign's output into one block per case.
func kafkaOutputs(b []byte) []string {
	var out []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "error ") {
			out = append(out, "error")
			continue
		}
		if line == "end" {
			out = append(out, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(line + "\n")
	}
	return out
}

func rewriteFromKafka(t *testing.T) {
	libs, err := filepath.Abs("../../.cache/kafka/4.4.0/libs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(libs); err != nil {
		t.Fatalf("no Kafka jars (run .ci/kafka.sh install): %v", err)
	}
	cases := writeCases(randomCorpus())
	cmd := exec.Command("java", "-cp", libs+"/*", "testdata/kafka/KafkaAssign.java")
	cmd.Stdin = bytes.NewReader(cases)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("KafkaAssign: %v", err)
	}
	if err := os.WriteFile(casesFile, cases, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(expectedFile, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAssignorsMatchKafka runs every corpus case through Rewind's
// assignor and compares with what Kafka 4.4's computed.
func TestAssignorsMatchKafka(t *testing.T) {
	if *rewriteKafka {
		rewriteFromKafka(t)
	}
	cb, err := os.ReadFile(casesFile)
	if err != nil {
		t.Fatal(err)
	}
	eb, err := os.ReadFile(expectedFile)
	if err != nil {
		t.Fatal(err)
	}
	cases, want := parseCases(t, cb), kafkaOutputs(eb)
	if len(cases) != len(want) || len(cases) < 100 {
		t.Fatalf("%d cases, %d Kafka answers", len(cases), len(want))
	}
	kinds := map[string]int{}
	for i, c := range cases {
		// KafkaAssign's group spec is a sorted map: its members' order.
		c.g.Members = sortedByID(c.g.Members)
		a, _ := ByName(c.assignor)
		got, err := a.Assign(c.g)
		var gs string
		if err != nil {
			gs = "error"
		} else {
			if err := Validate(c.g, got); err != nil {
				t.Errorf("case %d (%s): invalid assignment: %v", i, c.assignor, err)
			}
			ids := make([]string, 0, len(got))
			for id := range got {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			var sb strings.Builder
			for _, id := range ids {
				fmt.Fprintf(&sb, "member %s %s\n", id, partitionList(got[id]))
			}
			gs = sb.String()
		}
		if gs != want[i] {
			t.Errorf("case %d (%s, homogeneous %v):\nRewind:\n%sKafka 4.4:\n%s", i, c.assignor, homogeneous(c.g.Members), gs, want[i])
		}
		kind := c.assignor
		if homogeneous(c.g.Members) {
			kind += "/homogeneous"
		} else {
			kind += "/heterogeneous"
		}
		kinds[kind]++
	}
	t.Logf("%d cases: %v", len(cases), kinds)
}
