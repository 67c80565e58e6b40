package group

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestStress runs members that behave like real clients (rejoin on
// REBALANCE_IN_PROGRESS, reset on UNKNOWN_MEMBER_ID, leave now and then)
// against a coordinator on the real clock with its timer loop running,
// plus admin traffic, to catch deadlocks and races (run with -race). It
// asserts progress only, never timing.
func TestStress(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test")
	}
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.InitialRebalanceDelay = 5 * time.Millisecond
	cfg.MinSessionTimeout = 10 * time.Millisecond
	cfg.OffsetsRetention = 50 * time.Millisecond
	cfg.OffsetsRetentionCheck = 10 * time.Millisecond
	store := newMemStore()
	c := New(cfg, store)
	c.Start()
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const members, rounds = 6, 5
	var wg sync.WaitGroup
	errs := make(chan error, members+2)
	for i := 0; i < members; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := stressMember(ctx, c, fmt.Sprintf("g%d", i%2), i, rounds); err != nil {
				errs <- err
			}
		}()
	}
	stop := make(chan struct{})
	var admin sync.WaitGroup
	admin.Add(1)
	go func() {
		defer admin.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			g := fmt.Sprintf("solo%d", i%3)
			c.OffsetCommit(ctx, commitReq(8, g, "", -1, offs{"t": {0: int64(i)}}))
			c.DeleteGroups(ctx, &kmsg.DeleteGroupsRequest{Version: 2, Groups: []string{g, "g0"}})
			c.DescribeGroups(ctx, &kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{"g0", "g1", g}})
			c.ListGroups(ctx, &kmsg.ListGroupsRequest{Version: 4})
			c.Groups()
			c.History("g1")
			f := kmsg.NewPtrOffsetFetchRequest()
			f.Version, f.Group = 7, "g0"
			c.OffsetFetch(ctx, f)
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	close(stop)
	admin.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func stressMember(ctx context.Context, c *Coordinator, name string, n, rounds int) error {
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	ctx = WithClient(ctx, fmt.Sprintf("c%d", n), "/127.0.0.1")
	memberID := ""
	for done := 0; done < rounds; {
		if ctx.Err() != nil {
			return fmt.Errorf("member %d: only %d of %d rounds before the deadline", n, done, rounds)
		}
		jr := c.JoinGroup(ctx, joinReq(9, name, memberID, withTimeouts(300*time.Millisecond, 200*time.Millisecond)))
		switch jr.ErrorCode {
		case 0:
		case kerr.MemberIDRequired.Code:
			memberID = jr.MemberID
			continue
		case kerr.UnknownMemberID.Code:
			memberID = ""
			continue
		default:
			continue
		}
		memberID = jr.MemberID
		var assign map[string][]byte
		if jr.LeaderID == memberID {
			assign = make(map[string][]byte)
			for _, m := range jr.Members {
				assign[m.MemberID] = []byte(m.MemberID)
			}
		}
		sr := c.SyncGroup(ctx, syncReq(5, name, memberID, jr.Generation, assign))
		if sr.ErrorCode == kerr.UnknownMemberID.Code {
			memberID = ""
		}
		if sr.ErrorCode != 0 {
			continue
		}
		stable := true
		for i := 0; i < 3 && stable; i++ {
			time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
			hb := kmsg.NewPtrHeartbeatRequest()
			hb.Version, hb.Group, hb.MemberID, hb.Generation = 4, name, memberID, jr.Generation
			if code := c.Heartbeat(ctx, hb).ErrorCode; code != 0 {
				stable = false
				if code == kerr.UnknownMemberID.Code {
					memberID = ""
				}
			}
			c.OffsetCommit(ctx, commitReq(8, name, memberID, jr.Generation, offs{"t": {int32(n): int64(i)}}))
		}
		if stable {
			done++
			if rng.IntN(3) == 0 {
				c.LeaveGroup(ctx, leaveReq(5, name, leaving(memberID)))
				memberID = ""
			}
		}
	}
	c.LeaveGroup(ctx, leaveReq(5, name, leaving(memberID)))
	return nil
}
