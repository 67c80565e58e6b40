package differential

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// twin drives one classic group through the same steps on both brokers.
// Member ids are each broker's own random strings: the test names members
// (A, B, S1, ...), builds every request with the id that broker gave the
// name, and renames the ids back to the names in both answers, so that
// "the leader is A" compares equal whatever the ids are.
type twin struct {
	p     *pair
	group string
	topic string
	ids   [2]map[string]string // per broker (0 Kafka, 1 Rewind): name -> id
	gen   [2]int32             // each broker's last generation
}

// side is what a request builder knows of one broker.
type side struct {
	w *twin
	i int
}

// id is the broker's id for a member name; a name it never gave (like
// "bogus") is sent as it is.
func (s side) id(name string) string {
	if id, ok := s.w.ids[s.i][name]; ok {
		return id
	}
	return name
}

func (s side) gen() int32 { return s.w.gen[s.i] }

func newTwin(p *pair, group, topic string) *twin {
	return &twin{p: p, group: group, topic: topic, ids: [2]map[string]string{{}, {}}}
}

// learn records the member id and generation of a JoinGroup answer under
// name (nothing when name is "" or the answer has no id).
func (w *twin) learn(name string, resps [2]kmsg.Response) {
	for i, resp := range resps {
		j, ok := resp.(*kmsg.JoinGroupResponse)
		if !ok {
			continue
		}
		if name != "" && j.MemberID != "" {
			w.ids[i][name] = j.MemberID
		}
		if j.ErrorCode == 0 {
			w.gen[i] = j.Generation
		}
	}
}

// rename replaces every string that is a member id the broker gave with
// the member's name, and sorts JoinGroup members by name.
func (w *twin) rename(i int, resp kmsg.Response) {
	names := map[string]string{}
	for name, id := range w.ids[i] {
		names[id] = name
	}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for j := range v.NumField() {
				if v.Field(j).CanSet() {
					walk(v.Field(j))
				}
			}
		case reflect.Slice:
			for j := range v.Len() {
				walk(v.Index(j))
			}
		case reflect.String:
			if name, ok := names[v.String()]; ok {
				v.SetString(name)
			}
		}
	}
	walk(reflect.ValueOf(resp))
	if j, ok := resp.(*kmsg.JoinGroupResponse); ok {
		sort.Slice(j.Members, func(a, b int) bool { return j.Members[a].MemberID < j.Members[b].MemberID })
	}
	if d, ok := resp.(*kmsg.ConsumerGroupDescribeResponse); ok { // members in no order
		for _, g := range d.Groups {
			sort.Slice(g.Members, func(a, b int) bool { return g.Members[a].MemberID < g.Members[b].MemberID })
		}
	}
}

// step sends the request build makes for each broker (at version v, the
// newest common one when v < 0), learns a JoinGroup answer's member id
// under learn, and compares the answers.
func (w *twin) step(scenario string, v int16, learn string, build func(s side) kmsg.Request) [2]kmsg.Response {
	w.p.t.Helper()
	return w.start(v, build).finish(scenario, learn)
}

// pending is a request sent to both brokers on connections of its own,
// whose answers are read by finish: a JoinGroup or SyncGroup that waits
// for other members.
type pending struct {
	w       *twin
	req     [2]kmsg.Request
	resp    [2]chan answer
	version int16
}

type answer struct {
	resp kmsg.Response
	err  error
}

func (w *twin) start(v int16, build func(s side) kmsg.Request) *pending {
	w.p.t.Helper()
	pd := &pending{w: w}
	for i, addr := range []string{w.p.kafkaAddr, w.p.rewindAddr} {
		req := build(side{w, i})
		if v < 0 {
			_, hi, ok := w.p.common(req)
			if !ok {
				w.p.t.Fatalf("%s: no version both brokers serve", kmsg.NameForKey(req.Key()))
			}
			v = hi
			if hi >= 10 && namesTopics(req) {
				v = 9 // v10 names topics by id (wire_test.go)
			}
		}
		req.SetVersion(v)
		c := dial(w.p.t, addr)
		c.corr++
		if err := c.write(req); err != nil {
			w.p.t.Fatalf("writing %s: %v", kmsg.NameForKey(req.Key()), err)
		}
		ch := make(chan answer, 1)
		go func() {
			resp, err := c.read(req)
			ch <- answer{resp, err}
		}()
		pd.req[i], pd.resp[i], pd.version = req, ch, v
	}
	return pd
}

func (pd *pending) finish(scenario, learn string) [2]kmsg.Response {
	w := pd.w
	w.p.t.Helper()
	var out [2]kmsg.Response
	var errs [2]error
	for i := range out {
		a := <-pd.resp[i]
		out[i], errs[i] = a.resp, a.err
	}
	base := scenario
	scenario = fmt.Sprintf("%s/%s_v%d", scenario, kmsg.NameForKey(pd.req[0].Key()), pd.version)
	if errs[0] != nil || errs[1] != nil {
		if errors.Is(errs[0], errNoResponse) && errors.Is(errs[1], errNoResponse) {
			w.p.report(scenario, nil)
			return out
		}
		w.p.report(scenario, []difference{{path: "(connection)", kafka: describeErr(errs[0]), rewind: describeErr(errs[1])}})
		return out
	}
	if e, ok := groupExpect[base]; ok {
		want(w.p.t, scenario, out[0], e)
	}
	w.learn(learn, out)
	normalize(out[0], w.p.kafkaNode)
	normalize(out[1], w.p.rewindNode)
	w.rename(0, out[0])
	w.rename(1, out[1])
	w.p.report(scenario, diff(out[0], out[1]))
	return out
}

// consumerMeta is the "consumer" protocol subscription to topic.
func consumerMeta(topic string) []byte {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{topic}
	return meta.AppendTo(nil)
}

func (w *twin) joinReq(s side, member, instance string, protocols ...string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group, req.MemberID, req.ProtocolType = w.group, s.id(member), "consumer"
	if instance != "" {
		req.InstanceID = kmsg.StringPtr(instance)
	}
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 30000, 15000
	for _, name := range protocols {
		pr := kmsg.NewJoinGroupRequestProtocol()
		pr.Name, pr.Metadata = name, consumerMeta(w.topic)
		req.Protocols = append(req.Protocols, pr)
	}
	return req
}

// syncReq is a SyncGroup of member at generation gen; a leader passes the
// assignment, member name -> partitions of the twin's topic.
func (w *twin) syncReq(s side, member, instance string, gen int32, assign map[string][]int32) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.Generation, req.MemberID = w.group, gen, s.id(member)
	if instance != "" {
		req.InstanceID = kmsg.StringPtr(instance)
	}
	req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	names := make([]string, 0, len(assign))
	for name := range assign {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		a.MemberID = s.id(name)
		ca := kmsg.NewConsumerMemberAssignment()
		t := kmsg.NewConsumerMemberAssignmentTopic()
		t.Topic, t.Partitions = w.topic, assign[name]
		ca.Topics = append(ca.Topics, t)
		a.MemberAssignment = ca.AppendTo(nil)
		req.GroupAssignment = append(req.GroupAssignment, a)
	}
	return req
}

func (w *twin) heartbeatReq(s side, member, instance string, gen int32) *kmsg.HeartbeatRequest {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.Generation, req.MemberID = w.group, gen, s.id(member)
	if instance != "" {
		req.InstanceID = kmsg.StringPtr(instance)
	}
	return req
}

// leaveReq is a LeaveGroup (v3+) of members, each "name" or "name/instance".
func (w *twin) leaveReq(s side, members ...[2]string) *kmsg.LeaveGroupRequest {
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = w.group
	for _, m := range members {
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = s.id(m[0])
		if m[1] != "" {
			lm.InstanceID = kmsg.StringPtr(m[1])
		}
		req.Members = append(req.Members, lm)
	}
	return req
}

func deleteGroupsReq(groups ...string) *kmsg.DeleteGroupsRequest {
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Groups = groups
	return req
}

var offsetDeleteReq = proctest.OffsetDeleteRequest

// pause lets a request that waits for other members reach the broker and
// park there before the next step (both brokers get the same pause).
func pause() { time.Sleep(500 * time.Millisecond) }

// firstCode is the first non-zero ErrorCode of a response, depth first
// (top level, then groups, topics, partitions, members), or 0.
func firstCode(v reflect.Value) int16 {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return firstCode(v.Elem())
		}
	case reflect.Struct:
		if f := v.FieldByName("ErrorCode"); f.IsValid() && f.Kind() == reflect.Int16 && f.Int() != 0 {
			return int16(f.Int())
		}
		for i := range v.NumField() {
			if c := firstCode(v.Field(i)); c != 0 {
				return c
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			if c := firstCode(v.Index(i)); c != 0 {
				return c
			}
		}
	}
	return 0
}

// want checks that Kafka answered a scenario with the error it is named
// for, so that both brokers agreeing means they agree on that path.
func want(t *testing.T, scenario string, resp kmsg.Response, err *kerr.Error) {
	t.Helper()
	var code int16
	if err != nil {
		code = err.Code
	}
	if resp == nil {
		t.Errorf("%s: kafka did not answer", scenario)
		return
	}
	if got := firstCode(reflect.ValueOf(resp)); got != code {
		t.Errorf("%s: kafka answered error %d, the scenario expects %d (%v)", scenario, got, code, err)
	}
}

// groupExpect is the error Kafka answers each scenario with (nil: none):
// the first non-zero error code of the answer, checked on Kafka's answer
// so that a scenario cannot silently drift off the path it is named for.
var groupExpect = map[string]*kerr.Error{
	"JoinGroup/v3 without member id":                 nil,
	"JoinGroup/without member id":                    kerr.MemberIDRequired,
	"JoinGroup/with member id":                       nil,
	"SyncGroup/illegal generation":                   kerr.IllegalGeneration,
	"SyncGroup/unknown member":                       kerr.UnknownMemberID,
	"SyncGroup/leader":                               nil,
	"Heartbeat/stable member":                        nil,
	"Heartbeat/illegal generation":                   kerr.IllegalGeneration,
	"Heartbeat/unknown member":                       kerr.UnknownMemberID,
	"Heartbeat/unknown group":                        kerr.UnknownMemberID,
	"JoinGroup/inconsistent protocol":                kerr.InconsistentGroupProtocol,
	"JoinGroup/inconsistent protocol type":           kerr.InconsistentGroupProtocol,
	"JoinGroup/unknown member id":                    kerr.UnknownMemberID,
	"JoinGroup/second member without member id":      kerr.MemberIDRequired,
	"Heartbeat/rebalance in progress":                kerr.RebalanceInProgress,
	"OffsetCommit/rebalance in progress":             kerr.RebalanceInProgress,
	"SyncGroup/rebalance in progress":                kerr.RebalanceInProgress,
	"JoinGroup/leader rejoins":                       nil,
	"JoinGroup/follower after rebalance":             nil,
	"SyncGroup/leader after the follower":            nil,
	"SyncGroup/follower before the leader":           nil,
	"OffsetCommit/stale generation":                  kerr.IllegalGeneration,
	"OffsetCommit/current generation":                nil,
	"OffsetDelete/subscribed topic":                  kerr.GroupSubscribedToTopic,
	"OffsetDelete/unsubscribed topic":                nil,
	"OffsetDelete/unknown group":                     kerr.GroupIDNotFound,
	"DeleteGroups/non-empty group":                   kerr.NonEmptyGroup,
	"DeleteGroups/unknown group":                     kerr.GroupIDNotFound,
	"LeaveGroup/one member and an unknown one":       kerr.UnknownMemberID,
	"Heartbeat/after a member left":                  kerr.RebalanceInProgress,
	"Heartbeat/member that left":                     kerr.UnknownMemberID,
	"LeaveGroup/last member":                         nil,
	"OffsetCommit/empty group generation -1":         nil,
	"OffsetDelete/empty group":                       nil,
	"DeleteGroups/empty and unknown group":           kerr.GroupIDNotFound,
	"OffsetFetch/deleted group":                      nil,
	"JoinGroup/static member":                        nil,
	"JoinGroup/static member replaced":               nil,
	"Heartbeat/replaced static member":               kerr.FencedInstanceID,
	"SyncGroup/replaced static member":               kerr.FencedInstanceID,
	"OffsetCommit/replaced static member":            kerr.FencedInstanceID,
	"JoinGroup/static member with a stale member id": kerr.FencedInstanceID,
	"LeaveGroup/replaced static member":              kerr.FencedInstanceID,
	"LeaveGroup/unknown instance":                    kerr.UnknownMemberID,
	"LeaveGroup/static member by instance id":        nil,
	"JoinGroup/empty group id":                       kerr.InvalidGroupID,
	"JoinGroup/session timeout too short":            kerr.InvalidSessionTimeout,
	"JoinGroup/session timeout too long":             kerr.InvalidSessionTimeout,
	"JoinGroup/two protocols":                        nil,
	"SyncGroup/other protocol name":                  kerr.InconsistentGroupProtocol,
	"SyncGroup/other protocol type":                  kerr.InconsistentGroupProtocol,
	"Heartbeat/before sync":                          nil, // Kafka keeps a joined member alive until the sync
}

// cmp is p.compare of a scenario in groupExpect.
func cmp(p *pair, scenario string, req kmsg.Request) {
	p.t.Helper()
	k, _ := p.compare(scenario, req, -1, nil)
	if e, ok := groupExpect[scenario]; ok {
		want(p.t, scenario, k, e)
	}
}

// TestGroupMembership: a classic group's members join (with and without
// a member id, at v3 where none is required), disagree on protocols,
// rebalance with a second member (heartbeat and commit while it runs, the
// follower's SyncGroup before the leader's), commit at a stale
// generation, leave, and the group is deleted; DeleteGroups and
// OffsetDelete while members are subscribed; Heartbeat, SyncGroup and
// LeaveGroup with wrong generations, unknown members and unknown groups.
func TestGroupMembership(t *testing.T) {
	p := newPair(t)
	tp, other := name("gm"), name("gm-other")
	p.mustCreate(tp, 2)
	p.mustCreate(other, 1)

	// v3: no member id required, the first join completes at once.
	v3 := newTwin(p, name("gm-v3"), tp)
	v3.step("JoinGroup/v3 without member id", 3, "A", func(s side) kmsg.Request { return v3.joinReq(s, "", "", "range") })

	w := newTwin(p, name("gm"), tp)
	range_ := []string{"range"}
	w.step("JoinGroup/without member id", -1, "A", func(s side) kmsg.Request { return w.joinReq(s, "", "", range_...) })
	w.step("JoinGroup/with member id", -1, "A", func(s side) kmsg.Request { return w.joinReq(s, "A", "", range_...) })
	w.step("SyncGroup/illegal generation", -1, "", func(s side) kmsg.Request {
		return w.syncReq(s, "A", "", s.gen()+1, map[string][]int32{"A": {0, 1}})
	})
	w.step("SyncGroup/unknown member", -1, "", func(s side) kmsg.Request { return w.syncReq(s, "bogus", "", s.gen(), nil) })
	w.step("SyncGroup/leader", -1, "", func(s side) kmsg.Request {
		return w.syncReq(s, "A", "", s.gen(), map[string][]int32{"A": {0, 1}})
	})
	w.step("Heartbeat/stable member", -1, "", func(s side) kmsg.Request { return w.heartbeatReq(s, "A", "", s.gen()) })
	w.step("Heartbeat/illegal generation", -1, "", func(s side) kmsg.Request { return w.heartbeatReq(s, "A", "", s.gen()+1) })
	w.step("Heartbeat/unknown member", -1, "", func(s side) kmsg.Request { return w.heartbeatReq(s, "bogus", "", s.gen()) })
	w.step("Heartbeat/unknown group", -1, "", func(s side) kmsg.Request {
		req := w.heartbeatReq(s, "A", "", s.gen())
		req.Group = name("gm-none")
		return req
	})
	w.step("JoinGroup/inconsistent protocol", -1, "", func(s side) kmsg.Request { return w.joinReq(s, "", "", "roundrobin") })
	w.step("JoinGroup/inconsistent protocol type", -1, "", func(s side) kmsg.Request {
		req := w.joinReq(s, "", "", range_...)
		req.ProtocolType = "connect"
		return req
	})
	w.step("JoinGroup/unknown member id", -1, "", func(s side) kmsg.Request { return w.joinReq(s, "bogus", "", range_...) })
	w.step("OffsetCommit/stable member", -1, "", func(s side) kmsg.Request {
		return commitReq(w.group, s.gen(), s.id("A"), other, 1, "")
	})

	// B joins: a rebalance starts and waits for A to rejoin.
	w.step("JoinGroup/second member without member id", -1, "B", func(s side) kmsg.Request { return w.joinReq(s, "", "", range_...) })
	joinB := w.start(-1, func(s side) kmsg.Request { return w.joinReq(s, "B", "", range_...) })
	pause()
	w.step("Heartbeat/rebalance in progress", -1, "", func(s side) kmsg.Request { return w.heartbeatReq(s, "A", "", s.gen()) })
	w.step("OffsetCommit/preparing rebalance", -1, "", func(s side) kmsg.Request {
		return commitReq(w.group, s.gen(), s.id("A"), tp, 2, "")
	})
	w.step("SyncGroup/rebalance in progress", -1, "", func(s side) kmsg.Request {
		return w.syncReq(s, "A", "", s.gen(), map[string][]int32{"A": {0, 1}})
	})
	stale := [2]int32{w.gen[0], w.gen[1]}
	joinA := w.start(-1, func(s side) kmsg.Request { return w.joinReq(s, "A", "", range_...) })
	joinA.finish("JoinGroup/leader rejoins", "A")
	joinB.finish("JoinGroup/follower after rebalance", "B")
	// Joined, not yet synced: Kafka takes commits while a rebalance
	// prepares but not until the leader's assignment is in.
	w.step("OffsetCommit/awaiting sync", -1, "", func(s side) kmsg.Request {
		return commitReq(w.group, s.gen(), s.id("B"), tp, 2, "")
	})

	syncB := w.start(-1, func(s side) kmsg.Request { return w.syncReq(s, "B", "", s.gen(), nil) })
	pause()
	w.step("SyncGroup/leader after the follower", -1, "", func(s side) kmsg.Request {
		return w.syncReq(s, "A", "", s.gen(), map[string][]int32{"A": {0}, "B": {1}})
	})
	syncB.finish("SyncGroup/follower before the leader", "")

	w.step("OffsetCommit/stale generation", -1, "", func(s side) kmsg.Request {
		return commitReq(w.group, stale[s.i], s.id("A"), tp, 2, "")
	})
	w.step("OffsetCommit/current generation", -1, "", func(s side) kmsg.Request {
		return commitReq(w.group, s.gen(), s.id("B"), tp, 2, "b")
	})
	w.step("OffsetCommit/generation -1 on a stable group", -1, "", func(s side) kmsg.Request {
		return commitReq(w.group, -1, "", tp, 2, "")
	})
	cmp(p, "OffsetDelete/subscribed topic", offsetDeleteReq(w.group, tp, 0, 1))
	cmp(p, "OffsetDelete/unsubscribed topic", offsetDeleteReq(w.group, other, 0))
	cmp(p, "OffsetDelete/unknown topic", offsetDeleteReq(w.group, name("gm-nope"), 0))
	cmp(p, "OffsetDelete/unknown group", offsetDeleteReq(name("gm-none"), tp, 0))
	cmp(p, "DeleteGroups/non-empty group", deleteGroupsReq(w.group))
	cmp(p, "DeleteGroups/unknown group", deleteGroupsReq(name("gm-none")))
	p.compare("OffsetFetch/stable group unknown topic", fetchReq(w.group, name("gm-nope"), 0), -1, nil)

	w.step("LeaveGroup/one member and an unknown one", -1, "", func(s side) kmsg.Request {
		return w.leaveReq(s, [2]string{"B", ""}, [2]string{"bogus", ""})
	})
	w.step("Heartbeat/after a member left", -1, "", func(s side) kmsg.Request { return w.heartbeatReq(s, "A", "", s.gen()) })
	w.step("Heartbeat/member that left", -1, "", func(s side) kmsg.Request { return w.heartbeatReq(s, "B", "", s.gen()) })
	w.step("JoinGroup/last member rejoins", -1, "A", func(s side) kmsg.Request { return w.joinReq(s, "A", "", range_...) })
	w.step("LeaveGroup/last member", -1, "", func(s side) kmsg.Request { return w.leaveReq(s, [2]string{"A", ""}) })
	w.step("LeaveGroup/unknown group", -1, "", func(s side) kmsg.Request {
		req := w.leaveReq(s, [2]string{"A", ""})
		req.Group = name("gm-none")
		return req
	})
	w.step("Heartbeat/empty group", -1, "", func(s side) kmsg.Request { return w.heartbeatReq(s, "A", "", s.gen()) })

	// Empty now: offsets stay, generation -1 commits are taken.
	cmp(p, "OffsetCommit/empty group generation -1", commitReq(w.group, -1, "", tp, 2, "e"))
	w.step("OffsetCommit/empty group with a former member", -1, "", func(s side) kmsg.Request {
		return commitReq(w.group, s.gen(), s.id("A"), tp, 2, "")
	})
	p.compare("OffsetFetch/empty group", fetchReq(w.group, tp, 0, 1), -1, nil)
	p.compare("OffsetFetch/empty group all topics", fetchReq(w.group, ""), -1, nil)
	cmp(p, "OffsetDelete/empty group", offsetDeleteReq(w.group, other, 0))
	multi := fetchReq(w.group, tp, 0)
	unknown := kmsg.NewOffsetFetchRequestGroup()
	unknown.Group = name("gm-none")
	ut := kmsg.NewOffsetFetchRequestGroupTopic()
	ut.Topic, ut.Partitions = name("gm-nope"), []int32{0}
	unknown.Topics = append(unknown.Topics, ut)
	multi.Groups = append(multi.Groups, unknown)
	if _, hi, _ := p.common(multi); hi >= 8 {
		p.compare("OffsetFetch/known and unknown group", multi, hi, nil)
	}
	cmp(p, "DeleteGroups/empty and unknown group", deleteGroupsReq(w.group, name("gm-none")))
	cmp(p, "OffsetFetch/deleted group", fetchReq(w.group, tp, 0, 1))
}

// TestStaticMembers: members with a group instance id replace each other:
// a join with the instance id and no member id takes over the old
// member's place, the old member id is fenced in Heartbeat, SyncGroup,
// OffsetCommit and LeaveGroup, and a LeaveGroup by instance id removes it.
func TestStaticMembers(t *testing.T) {
	p := newPair(t)
	tp := name("sm")
	p.mustCreate(tp, 2)
	w := newTwin(p, name("sm"), tp)
	w.step("JoinGroup/static member", -1, "S1", func(s side) kmsg.Request { return w.joinReq(s, "", "i1", "range") })
	w.step("SyncGroup/static leader", -1, "", func(s side) kmsg.Request {
		return w.syncReq(s, "S1", "i1", s.gen(), map[string][]int32{"S1": {0, 1}})
	})
	w.step("JoinGroup/static member replaced", -1, "S2", func(s side) kmsg.Request { return w.joinReq(s, "", "i1", "range") })
	w.step("Heartbeat/replaced static member", -1, "", func(s side) kmsg.Request { return w.heartbeatReq(s, "S1", "i1", s.gen()) })
	w.step("SyncGroup/replaced static member", -1, "", func(s side) kmsg.Request { return w.syncReq(s, "S1", "i1", s.gen(), nil) })
	w.step("OffsetCommit/replaced static member", -1, "", func(s side) kmsg.Request {
		req := commitReq(w.group, s.gen(), s.id("S1"), tp, 1, "")
		req.InstanceID = kmsg.StringPtr("i1")
		return req
	})
	w.step("JoinGroup/static member with a stale member id", -1, "", func(s side) kmsg.Request { return w.joinReq(s, "S1", "i1", "range") })
	w.step("Heartbeat/replacing static member", -1, "", func(s side) kmsg.Request { return w.heartbeatReq(s, "S2", "i1", s.gen()) })
	w.step("OffsetCommit/replacing static member", -1, "", func(s side) kmsg.Request {
		req := commitReq(w.group, s.gen(), s.id("S2"), tp, 2, "")
		req.InstanceID = kmsg.StringPtr("i1")
		return req
	})
	w.step("LeaveGroup/replaced static member", -1, "", func(s side) kmsg.Request { return w.leaveReq(s, [2]string{"S1", "i1"}) })
	w.step("LeaveGroup/unknown instance", -1, "", func(s side) kmsg.Request { return w.leaveReq(s, [2]string{"", "i9"}) })
	w.step("LeaveGroup/static member by instance id", -1, "", func(s side) kmsg.Request { return w.leaveReq(s, [2]string{"", "i1"}) })
	cmp(p, "DeleteGroups/group whose static member left", deleteGroupsReq(w.group))
}

// TestGroupRequestErrors: a first JoinGroup at every version both serve
// (no member id required before v4), and the checks a broker makes
// before a request reaches a group: empty group id, session timeouts
// outside the broker's bounds, a protocol type without protocols, a
// SyncGroup naming a protocol the group did not choose.
func TestGroupRequestErrors(t *testing.T) {
	p := newPair(t)
	tp := name("ge")
	p.mustCreate(tp, 1)
	lo, hi, _ := p.common(kmsg.NewPtrJoinGroupRequest())
	for v := lo; v <= hi; v++ {
		w := newTwin(p, name(fmt.Sprintf("ge-v%d", v)), tp)
		w.step("JoinGroup/first join without member id", v, "A", func(s side) kmsg.Request { return w.joinReq(s, "", "", "range") })
		if v >= 4 {
			w.step("JoinGroup/first join with member id", v, "A", func(s side) kmsg.Request { return w.joinReq(s, "A", "", "range") })
		}
	}
	w := newTwin(p, name("ge"), tp)
	w.step("JoinGroup/empty group id", -1, "", func(s side) kmsg.Request {
		req := w.joinReq(s, "", "", "range")
		req.Group = ""
		return req
	})
	w.step("JoinGroup/session timeout too short", -1, "", func(s side) kmsg.Request {
		req := w.joinReq(s, "", "", "range")
		req.SessionTimeoutMillis = 1000
		return req
	})
	w.step("JoinGroup/session timeout too long", -1, "", func(s side) kmsg.Request {
		req := w.joinReq(s, "", "", "range")
		req.SessionTimeoutMillis = 1 << 30
		return req
	})
	w.step("JoinGroup/no protocols", -1, "", func(s side) kmsg.Request { return w.joinReq(s, "", "", []string{}...) })
	w.step("JoinGroup/empty protocol type", -1, "", func(s side) kmsg.Request {
		req := w.joinReq(s, "", "", "range")
		req.ProtocolType = ""
		return req
	})
	w.step("JoinGroup/without member id", -1, "A", func(s side) kmsg.Request { return w.joinReq(s, "", "", "range", "roundrobin") })
	w.step("JoinGroup/two protocols", -1, "A", func(s side) kmsg.Request { return w.joinReq(s, "A", "", "range", "roundrobin") })
	w.step("SyncGroup/other protocol name", -1, "", func(s side) kmsg.Request {
		req := w.syncReq(s, "A", "", s.gen(), map[string][]int32{"A": {0}})
		req.Protocol = kmsg.StringPtr("roundrobin")
		return req
	})
	w.step("SyncGroup/other protocol type", -1, "", func(s side) kmsg.Request {
		req := w.syncReq(s, "A", "", s.gen(), map[string][]int32{"A": {0}})
		req.ProtocolType = kmsg.StringPtr("connect")
		return req
	})
	w.step("SyncGroup/empty group id", -1, "", func(s side) kmsg.Request {
		req := w.syncReq(s, "A", "", s.gen(), nil)
		req.Group = ""
		return req
	})
	w.step("Heartbeat/before sync", -1, "", func(s side) kmsg.Request { return w.heartbeatReq(s, "A", "", s.gen()) })
	w.step("SyncGroup/leader", -1, "", func(s side) kmsg.Request {
		return w.syncReq(s, "A", "", s.gen(), map[string][]int32{"A": {0}})
	})
	w.step("SyncGroup/leader again", -1, "", func(s side) kmsg.Request {
		return w.syncReq(s, "A", "", s.gen(), map[string][]int32{"A": {0}})
	})
	w.step("Heartbeat/empty group id", -1, "", func(s side) kmsg.Request {
		req := w.heartbeatReq(s, "A", "", s.gen())
		req.Group = ""
		return req
	})
	w.step("LeaveGroup/empty group id", -1, "", func(s side) kmsg.Request {
		req := w.leaveReq(s, [2]string{"A", ""})
		req.Group = ""
		return req
	})
	w.step("LeaveGroup/no members", -1, "", func(s side) kmsg.Request { return w.leaveReq(s) })
	cmp(p, "DeleteGroups/empty group id", deleteGroupsReq(""))
	cmp(p, "OffsetDelete/empty group id", offsetDeleteReq("", tp, 0))
}
