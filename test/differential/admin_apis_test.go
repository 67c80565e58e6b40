package differential

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestOffsetForLeaderEpoch: the current epoch (0), a later and a negative
// one, a client that saw a newer leader, an unknown partition and topic,
// and a partition named twice, on an empty and a written partition, at
// every version both serve.
func TestOffsetForLeaderEpoch(t *testing.T) {
	p := newPair(t)
	tp := name("ofle")
	p.mustCreate(tp, 2)
	p.waitTopic(tp, 2)
	p.mustProduce(tp, 0, 1000, 1001, 1002)
	req := func() *kmsg.OffsetForLeaderEpochRequest {
		r := kmsg.NewPtrOffsetForLeaderEpochRequest()
		r.ReplicaID = -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = tp
		for _, c := range []struct{ p, cur, e int32 }{{0, -1, 0}, {0, 0, 0}, {1, 0, 0}, {0, 5, 0}, {0, -1, 3}, {0, -1, -1}, {7, -1, 0}} {
			rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = c.p, c.cur, c.e
			rt.Partitions = append(rt.Partitions, rp)
		}
		ut := kmsg.NewOffsetForLeaderEpochRequestTopic()
		ut.Topic = name("ofle-nope")
		ut.Partitions = append(ut.Partitions, kmsg.NewOffsetForLeaderEpochRequestTopicPartition())
		r.Topics = append(r.Topics, rt, ut)
		return r
	}
	lo, hi, ok := p.common(kmsg.NewPtrOffsetForLeaderEpochRequest())
	if !ok {
		t.Fatal("OffsetForLeaderEpoch: no common version")
	}
	for v := lo; v <= hi; v++ {
		p.compare("OffsetForLeaderEpoch/epochs", req(), v, nil)
	}
}

// TestDescribeLogDirs: the partitions asked (sizes of a written and an
// empty partition, an unknown partition and topic left out), none, at
// every version both serve. The directory's path and its file system's
// figures are each broker's own.
func TestDescribeLogDirs(t *testing.T) {
	p := newPair(t)
	tp := name("logdirs")
	p.mustCreate(tp, 2)
	p.waitTopic(tp, 2)
	p.mustProduce(tp, 0, 1000, 1001, 1002)
	p.mustProduce(tp, 0, 2000)
	own := func(k, r kmsg.Response) {
		for _, resp := range []kmsg.Response{k, r} {
			for i := range resp.(*kmsg.DescribeLogDirsResponse).Dirs {
				d := &resp.(*kmsg.DescribeLogDirsResponse).Dirs[i]
				d.Dir = ""
				if d.TotalBytes > 0 {
					d.TotalBytes = 1
				}
				if d.UsableBytes > 0 {
					d.UsableBytes = 1
				}
			}
		}
	}
	lo, hi, ok := p.common(kmsg.NewPtrDescribeLogDirsRequest())
	if !ok {
		t.Fatal("DescribeLogDirs: no common version")
	}
	for v := lo; v <= hi; v++ {
		req := kmsg.NewPtrDescribeLogDirsRequest()
		dt := kmsg.NewDescribeLogDirsRequestTopic()
		dt.Topic, dt.Partitions = tp, []int32{0, 1, 9, 0}
		ut := kmsg.NewDescribeLogDirsRequestTopic()
		ut.Topic, ut.Partitions = name("logdirs-nope"), []int32{0}
		req.Topics = append(req.Topics, dt, ut)
		p.compare("DescribeLogDirs/partitions", req, v, own)
		none := kmsg.NewPtrDescribeLogDirsRequest()
		none.Topics = []kmsg.DescribeLogDirsRequestTopic{}
		p.compare("DescribeLogDirs/no topics", none, v, own)
	}
}

// TestDescribeTopicPartitions: topics by name with a partition limit and
// a cursor (inside a topic, past its partitions, at a topic not asked,
// negative), an unknown and an invalid name, a name twice, an empty name,
// an internal topic, limits 0 and above Kafka's maximum.
func TestDescribeTopicPartitions(t *testing.T) {
	p := newPair(t)
	a, b := name("dtpa"), name("dtpb")
	p.mustCreate(a, 3)
	p.mustCreate(b, 2)
	p.waitTopic(a, 3)
	p.waitTopic(b, 2)
	req := func(limit int32, cursorTopic string, cursorPart int32, names ...string) *kmsg.DescribeTopicPartitionsRequest {
		r := kmsg.NewPtrDescribeTopicPartitionsRequest()
		r.ResponsePartitionLimit = limit
		for _, n := range names {
			t := kmsg.NewDescribeTopicPartitionsRequestTopic()
			t.Topic = n
			r.Topics = append(r.Topics, t)
		}
		if cursorTopic != "" {
			c := kmsg.NewDescribeTopicPartitionsRequestCursor()
			c.Topic, c.Partition = cursorTopic, cursorPart
			r.Cursor = &c
		}
		return r
	}
	p.compare("DescribeTopicPartitions/two topics", req(2000, "", 0, b, a), -1, nil)
	p.compare("DescribeTopicPartitions/limit 2", req(2, "", 0, a, b), -1, nil)
	p.compare("DescribeTopicPartitions/limit 3 ends a topic", req(3, "", 0, a, b), -1, nil)
	p.compare("DescribeTopicPartitions/cursor inside", req(2, a, 2, a, b), -1, nil)
	p.compare("DescribeTopicPartitions/cursor past the partitions", req(2, a, 9, a, b), -1, nil)
	p.compare("DescribeTopicPartitions/cursor at a topic not asked", req(2, name("dtpz"), 0, a, b), -1, nil)
	p.compare("DescribeTopicPartitions/cursor partition -1", req(2, a, -1, a), -1, nil)
	p.compare("DescribeTopicPartitions/limit 0", req(0, "", 0, a), -1, nil)
	p.compare("DescribeTopicPartitions/limit above the maximum", req(1<<30, "", 0, a), -1, nil)
	p.compare("DescribeTopicPartitions/unknown and invalid names", req(2000, "", 0, a, name("dtp-nope"), "bad/name"), -1, nil)
	p.compare("DescribeTopicPartitions/name twice", req(2000, "", 0, a, a), -1, nil)
	p.compare("DescribeTopicPartitions/empty name", req(2000, "", 0, a, ""), -1, nil)
	p.compare("DescribeTopicPartitions/internal topic", req(3, "", 0, "__consumer_offsets"), -1, nil)
	p.compare("DescribeTopicPartitions/unknown topic at the limit", req(3, "", 0, a, name("dtp-nope")), -1, nil)
}

// TestElectLeaders: preferred and unclean elections of existing, unknown
// partitions and topics, an unknown election type, all partitions (the
// topics of this run compared), none, at every version both serve.
func TestElectLeaders(t *testing.T) {
	p := newPair(t)
	tp := name("elect")
	p.mustCreate(tp, 2)
	p.waitTopic(tp, 2)
	req := func(et int8, topics ...kmsg.ElectLeadersRequestTopic) *kmsg.ElectLeadersRequest {
		r := kmsg.NewPtrElectLeadersRequest()
		r.ElectionType, r.TimeoutMillis, r.Topics = et, 10000, topics
		return r
	}
	topic := func(n string, parts ...int32) kmsg.ElectLeadersRequestTopic {
		t := kmsg.NewElectLeadersRequestTopic()
		t.Topic, t.Partitions = n, parts
		return t
	}
	ours := func(k, r kmsg.Response) { // other tests' and internal topics differ
		for _, resp := range []*kmsg.ElectLeadersResponse{k.(*kmsg.ElectLeadersResponse), r.(*kmsg.ElectLeadersResponse)} {
			kept := resp.Topics[:0]
			for _, t := range resp.Topics {
				if t.Topic == tp {
					kept = append(kept, t)
				}
			}
			resp.Topics = kept
		}
	}
	lo, hi, ok := p.common(kmsg.NewPtrElectLeadersRequest())
	if !ok {
		t.Fatal("ElectLeaders: no common version")
	}
	for v := lo; v <= hi; v++ {
		for _, et := range []int8{0, 1, 2} {
			if v == 0 && et != 0 {
				continue
			}
			p.compare("ElectLeaders/type "+string(rune('0'+et)), req(et, topic(tp, 0, 1, 7, 1), topic(name("elect-nope"), 0)), v, nil)
		}
		p.compare("ElectLeaders/all partitions", req(0), v, ours)
		p.compare("ElectLeaders/no partitions", req(0, []kmsg.ElectLeadersRequestTopic{}...), v, nil)
	}
}

// TestPartitionReassignments: assignments to the broker itself, to
// another node, none, an empty list, the broker twice, a cancellation,
// unknown partitions and topics, with and without
// AllowReplicationFactorChange; then that none is in progress.
func TestPartitionReassignments(t *testing.T) {
	p := newPairNode(t, true) // assignments name the broker
	tp := name("reassign")
	p.mustCreate(tp, 3)
	p.waitTopic(tp, 3)
	node := p.kafkaNode
	req := func(allowRF bool) *kmsg.AlterPartitionAssignmentsRequest {
		r := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		r.TimeoutMillis, r.AllowReplicationFactorChange = 10000, allowRF
		rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		rt.Topic = tp
		for _, c := range []struct {
			p int32
			r []int32
		}{{0, []int32{node}}, {1, []int32{node + 1}}, {2, nil}, {9, []int32{node}}} {
			rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
			rp.Partition, rp.Replicas = c.p, c.r
			rt.Partitions = append(rt.Partitions, rp)
		}
		ut := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		ut.Topic = name("reassign-nope")
		up := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		up.Replicas = []int32{node}
		ut.Partitions = append(ut.Partitions, up)
		r.Topics = append(r.Topics, rt, ut)
		return r
	}
	bad := func() *kmsg.AlterPartitionAssignmentsRequest {
		r := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		r.TimeoutMillis = 10000
		rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		rt.Topic = tp
		for i, reps := range [][]int32{{node, node}, {}, {node + 1, node + 1}, {node, node + 1}} {
			rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
			rp.Partition, rp.Replicas = int32(i%3), reps
			rt.Partitions = append(rt.Partitions, rp)
			r.Topics = append(r.Topics, rt)
			rt.Partitions = nil
		}
		return r
	}
	lo, hi, ok := p.common(kmsg.NewPtrAlterPartitionAssignmentsRequest())
	if !ok {
		t.Fatal("AlterPartitionAssignments: no common version")
	}
	for v := lo; v <= hi; v++ {
		p.compare("AlterPartitionAssignments/cases", req(true), v, nil)
		p.compare("AlterPartitionAssignments/cases, no factor change", req(false), v, nil)
	}
	for i, r := range bad().Topics {
		one := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		one.TimeoutMillis, one.Topics = 10000, []kmsg.AlterPartitionAssignmentsRequestTopic{r}
		p.compare("AlterPartitionAssignments/invalid "+string(rune('a'+i)), one, -1, nil)
	}
	list := kmsg.NewPtrListPartitionReassignmentsRequest()
	list.TimeoutMillis = 10000
	lt := kmsg.NewListPartitionReassignmentsRequestTopic()
	lt.Topic, lt.Partitions = tp, []int32{0, 1, 2, 9}
	ut := kmsg.NewListPartitionReassignmentsRequestTopic()
	ut.Topic, ut.Partitions = name("reassign-nope"), []int32{0}
	list.Topics = append(list.Topics, lt, ut)
	p.compare("ListPartitionReassignments/after", list, -1, nil)
	all := kmsg.NewPtrListPartitionReassignmentsRequest()
	all.TimeoutMillis = 10000
	p.compare("ListPartitionReassignments/all", all, -1, nil)
}

// TestAlterReplicaLogDirs: moves to each broker's own log directory (a
// partition already there), to another, to a relative and a
// trailing-slash path, of an unknown partition and topic, a partition
// under two directories, and a topic name too long for a future
// directory, at every version both serve. Each broker gets its own
// directory (from DescribeLogDirs) in the same places; Kafka orders the
// answer by its hash map, so both are sorted by topic and partition.
func TestAlterReplicaLogDirs(t *testing.T) {
	p := newPair(t)
	tp := name("ard")
	p.mustCreate(tp, 2)
	p.waitTopic(tp, 2)
	_, dlv, ok := p.common(kmsg.NewPtrDescribeLogDirsRequest())
	if !ok {
		t.Fatal("DescribeLogDirs: no common version")
	}
	dirOf := func(c *conn) string {
		req := kmsg.NewPtrDescribeLogDirsRequest()
		req.Version = dlv
		resp, err := c.send(req)
		if err != nil {
			t.Fatal(err)
		}
		dirs := resp.(*kmsg.DescribeLogDirsResponse).Dirs
		if len(dirs) != 1 {
			t.Fatalf("%d log directories, want 1", len(dirs))
		}
		return dirs[0].Dir
	}
	kdir, rdir := dirOf(p.kafka), dirOf(p.rewind)
	long := strings.Repeat("l", 240)
	type move struct {
		dir   string // {own} stands for the broker's own directory
		topic string
		p     int32
	}
	build := func(own string, moves []move) *kmsg.AlterReplicaLogDirsRequest {
		r := kmsg.NewPtrAlterReplicaLogDirsRequest()
		for _, m := range moves {
			d := kmsg.NewAlterReplicaLogDirsRequestDir()
			d.Dir = strings.ReplaceAll(m.dir, "{own}", own)
			rt := kmsg.NewAlterReplicaLogDirsRequestDirTopic()
			rt.Topic, rt.Partitions = m.topic, []int32{m.p}
			d.Topics = append(d.Topics, rt)
			r.Dirs = append(r.Dirs, d)
		}
		return r
	}
	sorted := func(resp kmsg.Response) {
		r := resp.(*kmsg.AlterReplicaLogDirsResponse)
		sort.Slice(r.Topics, func(i, j int) bool { return r.Topics[i].Topic < r.Topics[j].Topic })
		for i := range r.Topics {
			ps := r.Topics[i].Partitions
			sort.Slice(ps, func(a, b int) bool { return ps[a].Partition < ps[b].Partition })
		}
	}
	nope := name("ard-nope")
	cases := []struct {
		name  string
		moves []move
	}{
		{"in place", []move{{"{own}", tp, 0}, {"{own}", tp, 1}}},
		{"elsewhere", []move{{"/rewind-nowhere", tp, 0}}},
		{"relative, trailing slash, empty", []move{{"data", tp, 0}, {"{own}/", tp, 1}, {"", nope, 0}}},
		{"unknown partition and topic here", []move{{"{own}", tp, 7}, {"{own}", nope, 0}}},
		{"unknown topic elsewhere", []move{{"/rewind-nowhere", nope, 0}}},
		{"last directory wins", []move{{"{own}", tp, 1}, {"/rewind-nowhere", tp, 1}, {"/rewind-nowhere", tp, 0}, {"{own}", tp, 0}}},
		{"name too long", []move{{"{own}", long, 0}, {"/rewind-nowhere", long, 1}, {"{own}", long[:200], 0}}},
	}
	lo, hi, ok := p.common(kmsg.NewPtrAlterReplicaLogDirsRequest())
	if !ok {
		t.Fatal("AlterReplicaLogDirs: no common version")
	}
	for v := lo; v <= hi; v++ {
		for _, c := range cases {
			kreq, rreq := build(kdir, c.moves), build(rdir, c.moves)
			kreq.SetVersion(v)
			rreq.SetVersion(v)
			k, kerr := p.kafka.send(kreq)
			r, rerr := p.rewind.send(rreq)
			scenario := fmt.Sprintf("AlterReplicaLogDirs/%s/AlterReplicaLogDirs_v%d", c.name, v)
			if kerr != nil || rerr != nil {
				t.Fatalf("%s: kafka %v, rewind %v", scenario, kerr, rerr)
			}
			normalize(k, p.kafkaNode)
			normalize(r, p.rewindNode)
			sorted(k)
			sorted(r)
			p.report(scenario, diff(k, r))
		}
	}
}
