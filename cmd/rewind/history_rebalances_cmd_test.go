package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/kafkaref"
	"github.com/rewindhq/rewind/offsettool"
	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupHistoryRebalances: a consumer group (KIP-848) of franz-go
// members x, then y joining, on Rewind and Apache Kafka 4.4 (where it can
// run here): `group history` ends with the rebalance timeline, and
// `--rebalances --output json` has y joining at a group epoch with
// partitions moving from x to it, each with the committed offset then.
func TestGroupHistoryRebalances(t *testing.T) {
	run := func(t *testing.T, addr string) {
		topic, group := "rb-orders", "rb-svc"
		seedTopic(t, addr, topic, 2, 5)
		start := func(name string) {
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(name), kgo.ConsumerGroup(group),
				kgo.ConsumeTopics(topic), kgo.ServerSideBalancer(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
				kgo.FetchMaxWait(100*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cl.Close)
			go func() {
				for !cl.PollFetches(context.Background()).IsClientClosed() {
				}
			}()
		}
		adm := adminFor(t, addr)
		waitOwners := func(n int) map[string]string {
			deadline := time.Now().Add(30 * time.Second)
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				d, err := adm.DescribeConsumerGroups(ctx, group)
				offs, ferr := adm.FetchOffsets(ctx, group)
				cancel()
				ids, owned := map[string]string{}, 0
				if err == nil && d[group].State == "Stable" {
					for _, m := range d[group].Members {
						ids[m.ClientID] = m.MemberID
						owned += len(m.Assignment[topic])
					}
				}
				o0, _ := offs.Lookup(topic, 0)
				o1, _ := offs.Lookup(topic, 1)
				caughtUp := ferr == nil && o0.At == 5 && o1.At == 5
				if len(ids) == n && owned == 2 && caughtUp && everyoneOwns(d[group]) {
					return ids
				}
				if time.Now().After(deadline) {
					t.Fatalf("group never settled with %d members: %v %+v", n, err, d[group])
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		start("x")
		waitOwners(1)
		start("y")
		ids := waitOwners(2)

		out := cli(t, addr, "group", "history", group)
		if !strings.Contains(out, "REBALANCES") || !strings.Contains(out, "consumer group epoch") {
			t.Fatalf("history without the timeline:\n%s", out)
		}
		var rbs []struct {
			Type   string `json:"type"`
			Epoch  int32  `json:"epoch"`
			Joined []struct {
				ID       string `json:"member_id"`
				ClientID string `json:"client_id"`
			} `json:"joined"`
			Moved []struct {
				From      string `json:"from"`
				To        string `json:"to"`
				Committed int64  `json:"committed"`
				Redo      int64  `json:"redo_at_most"`
				// Over the Kafka protocol (no --http) the exact count is
				// unknown, on Kafka as on Rewind, and the note says why.
				RedoFetched int64  `json:"redo_fetched"`
				Note        string `json:"redo_fetched_note"`
			} `json:"moved"`
		}
		cliJSON(t, addr, &rbs, "group", "history", group, "--rebalances")
		yJoined, moved := false, 0
		for _, r := range rbs {
			for _, j := range r.Joined {
				yJoined = yJoined || (j.ID == ids["y"] && j.ClientID == "y" && r.Type == "consumer")
			}
			for _, m := range r.Moved {
				if m.From == ids["x"] && m.To == ids["y"] {
					moved++
					if m.Committed != 5 || m.Redo != 0 {
						t.Errorf("move x -> y: committed %d, redo %d (want 5 and 0)", m.Committed, m.Redo)
					}
					if m.RedoFetched != -1 || m.Note != offsettool.NoteKafkaFetches {
						t.Errorf("move x -> y over the Kafka protocol: redo_fetched %d, note %q", m.RedoFetched, m.Note)
					}
				}
			}
		}
		if !yJoined || moved != 1 {
			t.Fatalf("y joined %v, %d partition(s) moved from x to y: %+v\n%s", yJoined, moved, rbs, out)
		}
	}
	t.Run("rewind", func(t *testing.T) { run(t, rewindtest.Start(t).Addr()) })
	t.Run("kafka", func(t *testing.T) { run(t, kafkaref.Start(t).Addrs()[0]) })
}

func everyoneOwns(d kadm.DescribedConsumerGroup) bool {
	for _, m := range d.Members {
		if len(m.Assignment) == 0 {
			return false
		}
	}
	return true
}
