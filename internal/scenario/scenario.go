// Package scenario lays down the console's demonstration scenario on a
// running broker through the Kafka protocol: 90 minutes of produce and
// commit history in which one group keeps up, one stopped, one falls
// behind and one rewound. The admin package's API tests and the browser
// tests of the console (module test/browser) share it, so both look at the
// same data. Records go through the Kafka protocol (franz-go clients);
// commits in the past go to the broker's coordinator in process (CommitAt).
package scenario

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// opTimeout bounds each request of the scenario.
const opTimeout = 30 * time.Second

// CreateTopic creates a topic with one replica.
func CreateTopic(t testing.TB, addr, name string, partitions int32) {
	t.Helper()
	r, err := kadm.NewClient(proctest.NewClient(t, addr)).CreateTopic(proctest.Ctx(t, opTimeout), partitions, 1, nil, name)
	if err == nil {
		err = r.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
}

// CommitNow commits offsets for group now (current protocol version).
func CommitNow(t testing.TB, addr, group, topic string, offsets map[int32]int64) {
	t.Helper()
	os := kadm.Offsets{}
	for p, o := range offsets {
		os.Add(kadm.Offset{Topic: topic, Partition: p, At: o, LeaderEpoch: -1})
	}
	if err := kadm.NewClient(proctest.NewClient(t, addr)).CommitAllOffsets(proctest.Ctx(t, opTimeout), group, os); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

// Member runs a franz-go consumer of group on topic until the test ends
// and waits until the group is Stable with it as its only member.
func Member(t testing.TB, addr, group, topic, clientID string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(clientID),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c.Err() == nil {
			cl.PollFetches(c)
		}
	}()
	t.Cleanup(func() { cancel(); <-done; cl.Close() })
	adm := kadm.NewClient(proctest.NewClient(t, addr))
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		dc, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
		d, err := adm.DescribeGroups(dc, group)
		dcancel()
		if err == nil && d[group].State == "Stable" && len(d[group].Members) == 1 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("group %s never became Stable with %s", group, clientID)
}

// Committer is the group coordinator of an in-process broker
// (broker.Broker.Coordinator): what CommitAt commits through.
type Committer interface {
	OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse
}

// CommitAt commits offsets for group as of time at, so that a test can lay
// down a history of commits in the past. No client can set a commit's time
// on Kafka 4.x, which removed OffsetCommit v0-1 (KIP-896), and neither
// does Rewind's listener; so the commit goes to the coordinator in process,
// in the v1 form whose per-partition timestamp it still understands (and
// stores in __consumer_offsets as any commit).
func CommitAt(t testing.TB, c Committer, group string, at time.Time, topic string, offsets map[int32]int64) {
	t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 1
	req.Group = group
	req.Generation = -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	for p, o := range offsets {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Timestamp = p, o, at.UnixMilli()
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp := c.OffsetCommit(proctest.Ctx(t, opTimeout), req)
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				t.Fatalf("commit %s/%d: error code %d", rt.Topic, rp.Partition, rp.ErrorCode)
			}
		}
	}
}

// Seed lays down 90 minutes of history on the broker at addr (whose
// coordinator is c): orders (3
// partitions) and payments (1) receive records every minute, and groups
// consume them differently:
//
//   - billing kept up until 40 minutes ago and stopped: lagging, STOP (ERR);
//   - shipping keeps up: OK;
//   - fraud-check moves at half the producers' pace: WARN;
//   - payments-replay was reset back 10 minutes ago: REWIND (ERR).
//
// It returns the log end of each orders partition.
func Seed(t testing.TB, addr string, c Committer, now time.Time) map[int32]int64 {
	t.Helper()
	CreateTopic(t, addr, "orders", 3)
	CreateTopic(t, addr, "payments", 1)
	cl := proctest.NewClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const perMinute = 12
	end := map[int32]int64{}
	endAt := map[int]map[int32]int64{} // minute -> partition -> log end after it
	var payEnd int64
	payAt := map[int]int64{}
	for m := -90; m <= 0; m++ {
		var recs []*kgo.Record
		for p := int32(0); p < 3; p++ {
			for i := 0; i < perMinute; i++ {
				ts := now.Add(time.Duration(m)*time.Minute + time.Duration(i)*4*time.Second - 59*time.Second)
				n := end[p]
				recs = append(recs, &kgo.Record{Topic: "orders", Partition: p, Timestamp: ts,
					Key:     []byte(fmt.Sprintf("customer-%d", (n*7+int64(p))%97)),
					Value:   []byte(fmt.Sprintf(`{"order_id":%d,"customer":"customer-%d","amount":%d.%02d,"currency":"EUR","items":%d}`, n+int64(p)*100000, (n*7+int64(p))%97, 10+n%90, n%100, 1+n%4)),
					Headers: []kgo.RecordHeader{{Key: "source", Value: []byte([]string{"web", "app", "pos"}[n%3])}, {Key: "trace-id", Value: []byte(fmt.Sprintf("%016x", n*2654435761+int64(p)))}},
				})
				end[p]++
			}
		}
		if m%3 == 0 {
			ts := now.Add(time.Duration(m)*time.Minute - 30*time.Second)
			recs = append(recs, &kgo.Record{Topic: "payments", Partition: 0, Timestamp: ts, Key: []byte(fmt.Sprintf("pay-%d", payEnd)),
				Value: []byte(fmt.Sprintf(`{"payment":%d,"status":"captured"}`, payEnd))})
			payEnd++
		}
		if err := cl.ProduceSync(proctest.Ctx(t, opTimeout), recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		endAt[m] = map[int32]int64{0: end[0], 1: end[1], 2: end[2]}
		payAt[m] = payEnd
	}
	for m := -88; m <= 0; m += 2 {
		at := now.Add(time.Duration(m) * time.Minute)
		if m <= -40 {
			// billing: a few records behind the log end, until it stopped.
			CommitAt(t, c, "billing", at, "orders", map[int32]int64{0: endAt[m][0] - 3, 1: endAt[m][1], 2: endAt[m][2] - 5})
		}
		if m < 0 {
			CommitAt(t, c, "shipping", at, "orders", map[int32]int64{0: endAt[m][0], 1: endAt[m][1] - 2, 2: endAt[m][2]})
		}
		// fraud-check: half the pace, so its lag grows at every commit.
		half := map[int32]int64{}
		for p := int32(0); p < 3; p++ {
			half[p] = endAt[m][p] / 2
		}
		CommitAt(t, c, "fraud-check", at, "orders", half)
		// payments-replay: keeps up, then went back 20 records 10 minutes ago.
		switch {
		case m < -10:
			CommitAt(t, c, "payments-replay", at, "payments", map[int32]int64{0: payAt[m] - 1})
		default:
			CommitAt(t, c, "payments-replay", at, "payments", map[int32]int64{0: payAt[m] - 20 + int64(m+10)/2})
		}
	}
	CommitNow(t, addr, "shipping", "orders", end)
	return end
}
