package broker_test

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/offsetsfmt"
	"github.com/rewindhq/rewind/storage/vfs"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit is answered off the read loop once durable; an OffsetFetch
// pipelined behind it on the same connection still sees the commit.

func commitRequest(group, topic string, p int32, off int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version, req.Group, req.Generation = 8, group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = p, off
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func fetchRequest(group, topic string, p int32) *kmsg.OffsetFetchRequest {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version, req.Group = 6, group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{p}
	req.Topics = append(req.Topics, rt)
	return req
}

// inOffsetsPartition matches the files of __consumer_offsets partition p.
func inOffsetsPartition(p int32) func(string) bool {
	dir := "/__consumer_offsets-" + strconv.Itoa(int(p)) + "/"
	return func(name string) bool { return strings.Contains(name, dir) }
}

// durableOffsets matches the files whose fsync makes partition p's
// records durable: its own, and under fsync=always (the default) the
// offsets journal every partition of __consumer_offsets shares.
func durableOffsets(p int32) func(string) bool {
	own := inOffsetsPartition(p)
	return func(name string) bool {
		return own(name) || strings.Contains(filepath.Base(name), "__consumer_offsets.") && strings.HasSuffix(name, ".journal")
	}
}

// holdOffsetsSync holds every fsync that makes group's records durable
// until release is called (also at the end of the test); written is
// closed at the first write to other's __consumer_offsets partition (of
// n), which shows the requests behind are read and handled.
func holdOffsetsSync(t *testing.T, efs *vfs.ErrorFS, group, other string, n int32) (written <-chan struct{}, release func()) {
	held, otherWritten := durableOffsets(offsetsfmt.PartitionFor(group, n)), inOffsetsPartition(offsetsfmt.PartitionFor(other, n))
	hold := make(chan struct{})
	w := make(chan struct{})
	var once, releaseOnce sync.Once
	efs.SetHook(func(op vfs.Op, name string) {
		switch {
		case op == vfs.OpSync && held(name):
			<-hold
		case op == vfs.OpWrite && otherWritten(name):
			once.Do(func() { close(w) })
		}
	})
	release = func() { releaseOnce.Do(func() { close(hold) }) }
	t.Cleanup(release)
	return w, release
}

// otherGroup returns a group whose records go to another partition than
// group's (of n).
func otherGroup(group string, n int32) string {
	for i := 0; ; i++ {
		g := fmt.Sprintf("other-%d", i)
		if offsetsfmt.PartitionFor(g, n) != offsetsfmt.PartitionFor(group, n) {
			return g
		}
	}
}

// The commit's fsync is held while the commit, the fetch and a commit of
// another group (whose append shows the fetch has been read and handled)
// are pipelined on one connection. Answered in line, the fetch would see
// no offset: the first commit cannot be durable yet.
func TestOffsetFetchAfterPipelinedCommit(t *testing.T) {
	efs := vfs.NewErrorFS(nil)
	b := startBrokerAt(t, t.TempDir(), broker.WithFS(efs))
	createTopic(t, newClient(t, b.Addr()), "t", 1)
	const n = 50 // offsets.topic.num.partitions
	group, other := "g", otherGroup("g", 50)
	written, release := holdOffsetsSync(t, efs, group, other, n)

	c := dial(t, b.Addr())
	var out []byte
	out = append(out, frame(commitRequest(group, "t", 0, 42), 1)...)
	out = append(out, frame(fetchRequest(group, "t", 0), 2)...)
	out = append(out, frame(commitRequest(other, "t", 0, 7), 3)...)
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	select {
	case <-written:
	case <-time.After(10 * time.Second):
		t.Fatal("the third request was not handled while the first commit's fsync is held")
	}
	release()

	cr := answer(t, c, commitRequest(group, "t", 0, 42), 1).(*kmsg.OffsetCommitResponse)
	if code := cr.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("commit: error %d", code)
	}
	fr := answer(t, c, fetchRequest(group, "t", 0), 2).(*kmsg.OffsetFetchResponse)
	if got := fr.Topics[0].Partitions[0].Offset; got != 42 {
		t.Fatalf("OffsetFetch pipelined after the commit saw offset %d, want 42", got)
	}
	cr = answer(t, c, commitRequest(other, "t", 0, 7), 3).(*kmsg.OffsetCommitResponse)
	if code := cr.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("second commit: error %d", code)
	}
}

// Many kgo clients commit concurrently, each pipelining commits of several
// groups on its connection; every commit acknowledged is what OffsetFetch
// answers, and still after a restart.
func TestConcurrentCommitsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	b := startBrokerAt(t, dir)
	createTopic(t, newClient(t, b.Addr()), "t", 4)
	const clients, groupsPerClient, rounds = 8, 8, 25
	want := make(map[string]kadm.Offsets)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, clients*groupsPerClient)
	for c := 0; c < clients; c++ {
		adm := kadm.NewClient(newClient(t, b.Addr()))
		for g := 0; g < groupsPerClient; g++ {
			group := fmt.Sprintf("c%d-g%d", c, g)
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := testCtx(t, 60*time.Second)
				var last kadm.Offsets
				for r := 1; r <= rounds; r++ {
					offs := make(kadm.Offsets)
					for p := int32(0); p < 4; p++ {
						offs.Add(kadm.Offset{Topic: "t", Partition: p, At: int64(r*10) + int64(p), LeaderEpoch: -1})
					}
					resp, err := adm.CommitOffsets(ctx, group, offs)
					if err == nil {
						err = resp.Error()
					}
					if err != nil {
						errs <- fmt.Errorf("%s round %d: %w", group, r, err)
						return
					}
					last = offs
				}
				mu.Lock()
				want[group] = last
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	check := func(b *broker.Broker, when string) {
		adm := kadm.NewClient(newClient(t, b.Addr()))
		for group, offs := range want {
			got, err := adm.FetchOffsets(testCtx(t, 10*time.Second), group)
			if err != nil {
				t.Fatalf("%s: fetch %s: %v", when, group, err)
			}
			offs.Each(func(o kadm.Offset) {
				r, ok := got.Lookup(o.Topic, o.Partition)
				if !ok || r.Err != nil || r.At != o.At {
					t.Fatalf("%s: %s %s/%d committed %d, fetched %+v", when, group, o.Topic, o.Partition, o.At, r)
				}
			})
		}
	}
	check(b, "before restart")
	b.Close()
	check(startBrokerAt(t, dir), "after restart")
}

// DeleteGroups and OffsetDelete are appended on the read loop and answered
// off it once durable, as commits are: with the deletion's fsync held, a
// commit of another group pipelined behind it is still read and
// appended, and an OffsetFetch between them sees the deletion. Answered
// in line, the read loop would wait for the fsync and read nothing more.
func TestDeletionsAnsweredOffReadLoop(t *testing.T) {
	for _, kind := range []string{"DeleteGroups", "OffsetDelete"} {
		t.Run(kind, func(t *testing.T) {
			efs := vfs.NewErrorFS(nil)
			b := startBrokerAt(t, t.TempDir(), broker.WithFS(efs))
			createTopic(t, newClient(t, b.Addr()), "t", 1)
			const n = 50
			group, other := "g", otherGroup("g", 50)
			c := dial(t, b.Addr())
			if _, err := c.Write(frame(commitRequest(group, "t", 0, 42), 1)); err != nil {
				t.Fatal(err)
			}
			if cr := answer(t, c, commitRequest(group, "t", 0, 42), 1).(*kmsg.OffsetCommitResponse); cr.Topics[0].Partitions[0].ErrorCode != 0 {
				t.Fatalf("commit: error %d", cr.Topics[0].Partitions[0].ErrorCode)
			}

			written, release := holdOffsetsSync(t, efs, group, other, n)

			var del kmsg.Request
			if kind == "DeleteGroups" {
				req := kmsg.NewPtrDeleteGroupsRequest()
				req.Version, req.Groups = 2, []string{group}
				del = req
			} else {
				req := kmsg.NewPtrOffsetDeleteRequest()
				req.Group = group
				rt := kmsg.NewOffsetDeleteRequestTopic()
				rt.Topic = "t"
				rp := kmsg.NewOffsetDeleteRequestTopicPartition()
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				del = req
			}
			var out []byte
			out = append(out, frame(del, 2)...)
			out = append(out, frame(fetchRequest(group, "t", 0), 3)...)
			out = append(out, frame(commitRequest(other, "t", 0, 7), 4)...)
			if _, err := c.Write(out); err != nil {
				t.Fatal(err)
			}
			select {
			case <-written:
			case <-time.After(10 * time.Second):
				t.Fatalf("the commit behind %s was not handled while the deletion's fsync is held", kind)
			}
			release()

			switch r := answer(t, c, del, 2).(type) {
			case *kmsg.DeleteGroupsResponse:
				if r.Groups[0].ErrorCode != 0 {
					t.Fatalf("DeleteGroups: error %d", r.Groups[0].ErrorCode)
				}
			case *kmsg.OffsetDeleteResponse:
				if r.ErrorCode != 0 || r.Topics[0].Partitions[0].ErrorCode != 0 {
					t.Fatalf("OffsetDelete: error %d / %d", r.ErrorCode, r.Topics[0].Partitions[0].ErrorCode)
				}
			}
			fr := answer(t, c, fetchRequest(group, "t", 0), 3).(*kmsg.OffsetFetchResponse)
			if got := fr.Topics[0].Partitions[0].Offset; got != -1 {
				t.Fatalf("OffsetFetch pipelined after %s saw offset %d, want -1", kind, got)
			}
			if cr := answer(t, c, commitRequest(other, "t", 0, 7), 4).(*kmsg.OffsetCommitResponse); cr.Topics[0].Partitions[0].ErrorCode != 0 {
				t.Fatalf("second commit: error %d", cr.Topics[0].Partitions[0].ErrorCode)
			}
		})
	}
}
