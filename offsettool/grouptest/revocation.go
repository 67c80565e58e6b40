package grouptest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Revocation is a consumer group (KIP-848) held with a partition waiting
// for revocation: Owner took every partition of the topic, then Newcomer
// joined and the target assignment gave it some of them, and Owner never
// heartbeated again, so it still owns them all and Newcomer waits. It
// lasts until the owner's rebalance timeout (a minute) or session
// timeout (the broker's, 45 s by default): tests read it at once.
type Revocation struct {
	Owner, Newcomer string
	// Moving are the partitions the target gives Newcomer, still owned
	// by Owner.
	Moving []int32
}

// HoldRevocation builds a Revocation in group on topic (parts partitions)
// with raw ConsumerGroupHeartbeats. Cleanup makes both members leave.
func HoldRevocation(t testing.TB, addr, group, topic string, parts int32) Revocation {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	// A minute: a Kafka just started creates __consumer_offsets first
	// (COORDINATOR_NOT_AVAILABLE until then, retried).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := Revocation{Owner: memberID(), Newcomer: memberID()}
	t.Cleanup(func() {
		defer cl.Close()
		lctx, lcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer lcancel()
		for _, m := range []string{r.Newcomer, r.Owner} {
			req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
			req.Group, req.MemberID, req.MemberEpoch = group, m, -1
			req.RequestWith(lctx, cl)
		}
	})

	// The owner heartbeats, acknowledging what it is given, until it
	// owns every partition.
	var epoch int32
	owned := []kmsg.ConsumerGroupHeartbeatRequestTopic{} // empty, not null, to join
	for n := 0; ; n++ {
		resp, err := heartbeat(ctx, cl, group, r.Owner, epoch, topic, owned)
		if err != nil {
			t.Fatal(err)
		}
		epoch = resp.MemberEpoch
		if resp.Assignment != nil {
			owned = owned[:0]
			total := 0
			for _, at := range resp.Assignment.Topics {
				rt := kmsg.NewConsumerGroupHeartbeatRequestTopic()
				rt.TopicID, rt.Partitions = at.TopicID, at.Partitions
				owned = append(owned, rt)
				total += len(at.Partitions)
			}
			if total == int(parts) {
				// One more heartbeat so the broker knows it owns them.
				if _, err := heartbeat(ctx, cl, group, r.Owner, epoch, topic, owned); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("grouptest: the owner of %s never got the %d partitions of %s", group, parts, topic)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The newcomer joins and heartbeats until the target assignment gives
	// it partitions, which the owner never revokes.
	var nepoch int32
	for {
		resp, err := heartbeat(ctx, cl, group, r.Newcomer, nepoch, topic, []kmsg.ConsumerGroupHeartbeatRequestTopic{})
		if err != nil {
			t.Fatal(err)
		}
		nepoch = resp.MemberEpoch
		// Asked as is: kadm keys assignments by topic name, which kfake
		// leaves out (only the topic id is required).
		dreq := kmsg.NewPtrConsumerGroupDescribeRequest()
		dreq.Groups = []string{group}
		d, err := dreq.RequestWith(ctx, cl)
		if err == nil && len(d.Groups) == 1 {
			for _, m := range d.Groups[0].Members {
				if m.MemberID != r.Newcomer {
					continue
				}
				for _, tp := range m.TargetAssignment.TopicPartitions {
					r.Moving = append(r.Moving, tp.Partitions...)
				}
				if len(r.Moving) > 0 {
					return r
				}
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("grouptest: the newcomer of %s was never targeted a partition: %v", group, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func heartbeat(ctx context.Context, cl *kgo.Client, group, member string, epoch int32, topic string, owned []kmsg.ConsumerGroupHeartbeatRequestTopic) (*kmsg.ConsumerGroupHeartbeatResponse, error) {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch = group, member, epoch
	req.RebalanceTimeoutMillis = 60000
	req.SubscribedTopicNames = []string{topic}
	req.Topics = owned
	var resp *kmsg.ConsumerGroupHeartbeatResponse
	for {
		var err error
		if resp, err = req.RequestWith(ctx, cl); err != nil {
			if kerr.IsRetriable(err) && ctx.Err() == nil {
				time.Sleep(50 * time.Millisecond) // no coordinator yet
				continue
			}
			return nil, fmt.Errorf("grouptest: heartbeat: %w", err)
		}
		// A broker just started may still be loading __consumer_offsets:
		// retry what Kafka's clients retry.
		if kerr.IsRetriable(kerr.ErrorForCode(resp.ErrorCode)) && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		break
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		msg := ""
		if resp.ErrorMessage != nil {
			msg = ": " + *resp.ErrorMessage
		}
		return nil, fmt.Errorf("grouptest: heartbeat of %s at epoch %d: %w%s", member, epoch, err, msg)
	}
	return resp, nil
}

// memberID makes a member id as KIP-848 clients do (ConsumerGroupHeartbeat
// v1: the client chooses it): a random UUID in URL-safe base64.
func memberID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
