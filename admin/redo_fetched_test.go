package admin

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// timelineMove is a move of the console's timeline, as a script reads it.
type timelineMove struct {
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	From        string `json:"from"`
	FromClient  string `json:"from_client"`
	ToClient    string `json:"to_client"`
	Committed   int64  `json:"committed"`
	LogEndAt    int64  `json:"log_end_at_move"`
	Redo        int64  `json:"redo_at_most"`
	FetchedEnd  int64  `json:"fetched_end"`
	RedoFetched int64  `json:"redo_fetched"`
	Note        string `json:"redo_fetched_note"`
}

// replacedMember runs the scenario of a member replaced after fetching
// past its commit, with the group protocol proto: member "a" of group
// "g" reads the 10 records of orders/0, commits offset 4 and closes
// without committing again (autocommit off); 5 more records are
// produced; member "b" joins and reads from 4 to the end. With
// alsoRead, a plain consumer with a's client id (same host) reads
// orders/0 while a owns it. It returns the timeline's move from a to b.
func replacedMember(t *testing.T, proto string, alsoRead bool) timelineMove {
	t.Helper()
	e := newEnv(t)
	e.createTopic(t, "orders", 1)
	pr := e.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	batch := func(n int) {
		var recs []*kgo.Record
		for range n {
			recs = append(recs, &kgo.Record{Topic: "orders", Partition: 0, Value: []byte("v")})
		}
		e.produce(t, pr, recs...)
	}
	batch(10)
	member := func(id string, extra ...kgo.Opt) *kgo.Client {
		opts := []kgo.Opt{kgo.SeedBrokers(e.b.Addr()), kgo.ClientID(id), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("orders"),
			kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100 * time.Millisecond)}
		if proto == "consumer" {
			opts = append(opts, kgo.ServerSideBalancer())
		}
		cl, err := kgo.NewClient(append(opts, extra...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sync.OnceFunc(cl.Close))
		return cl
	}
	// poll reads until the client has polled n records in all.
	poll := func(cl *kgo.Client, n int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		got := 0
		for got < n {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("polled %d records of %d", got, n)
			}
			got += fs.NumRecords()
		}
	}
	a := member("a")
	poll(a, 10)
	if alsoRead {
		c, err := kgo.NewClient(kgo.SeedBrokers(e.b.Addr()), kgo.ClientID("a"),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"orders": {0: kgo.NewOffset().AtStart()}}))
		if err != nil {
			t.Fatal(err)
		}
		poll(c, 3)
		c.Close()
	}
	proctest.CommitAsMember(t, a, "orders", 0, 4)
	a.Close()
	batch(5)
	b := member("b")
	poll(b, 11) // 4 to 14

	var tl struct {
		Rebalances []struct {
			Moved []timelineMove `json:"moved"`
		} `json:"rebalances"`
	}
	e.get(t, "/api/v1/groups/g/rebalances", &tl)
	var found []timelineMove
	for _, r := range tl.Rebalances {
		for _, m := range r.Moved {
			if m.FromClient == "a" && m.ToClient == "b" {
				found = append(found, m)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("moves from a to b: %+v (timeline %+v)", found, tl)
	}
	t.Logf("move a -> b: %+v", found[0])
	return found[0]
}

// TestTimelineRedoFetched: a member that fetched 6 records past its
// commit is replaced; the console's timeline gives those 6 exactly
// (fetched end 10, committed 4) beside the bound, the 11 records the log
// held past the commit when the partition moved. With each protocol.
func TestTimelineRedoFetched(t *testing.T) {
	for _, proto := range []string{"classic", "consumer"} {
		t.Run(proto, func(t *testing.T) {
			m := replacedMember(t, proto, false)
			if m.Committed != 4 || m.Redo != 11 || m.FetchedEnd != 10 || m.RedoFetched != 6 {
				t.Errorf("move a -> b: committed %d, redo_at_most %d, fetched_end %d, redo_fetched %d (want 4, 11, 10, 6); note %q",
					m.Committed, m.Redo, m.FetchedEnd, m.RedoFetched, m.Note)
			}
		})
	}
}

// TestTimelineRedoFetchedAmbiguous: another consumer with the previous
// owner's client id, on its host, read the partition while it owned it:
// the broker cannot tell whose fetches were whose, so the timeline gives
// no exact count, says why, and keeps the bound.
func TestTimelineRedoFetchedAmbiguous(t *testing.T) {
	for _, proto := range []string{"classic", "consumer"} {
		t.Run(proto, func(t *testing.T) {
			m := replacedMember(t, proto, true)
			if m.RedoFetched != -1 || !strings.Contains(m.Note, "ambiguous") || m.Committed != 4 || m.Redo != 11 {
				t.Errorf("move a -> b: committed %d, redo_at_most %d, redo_fetched %d, note %q (want 4, 11, -1 and ambiguous)",
					m.Committed, m.Redo, m.RedoFetched, m.Note)
			}
		})
	}
}
