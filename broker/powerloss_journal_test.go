package broker_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/powerloss"
	"github.com/rewindhq/rewind/storage/vfs"
	"github.com/twmb/franz-go/pkg/kadm"
)

// TestPowerLossCommitsManyGroups: groups whose commits go to many
// __consumer_offsets partitions commit at once over real loopback TCP, so
// one journal fsync covers commits of several partitions, and the power
// goes after a random operation (strict or torn). The broker started on
// what the disk kept must give every group, through the coordinator's
// replay and OffsetFetch, its last acknowledged commit or the one in
// flight at the crash, never less and never anything else.
func TestPowerLossCommitsManyGroups(t *testing.T) {
	seed := powerloss.Seed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	dry := vfs.NewCrashFS()
	b := startOnCrashFS(t, t.TempDir(), dry)
	before := dry.Ops()
	runGroupCommits(t, b.Addr(), newGroupLedger())
	total := dry.Ops() - before
	b.Close()

	points, budget := 24, 6*time.Second
	if n, err := strconv.Atoi(os.Getenv("REWIND_POWERLOSS_SCALE")); err == nil && n > 1 {
		points, budget = points*n, budget*time.Duration(n)
	}
	deadline := time.Now().Add(budget)
	for i := 0; i < points && time.Now().Before(deadline); i++ {
		k := 1 + rng.Int64N(total)
		var torn *rand.Rand
		if i%2 == 1 {
			torn = rand.New(rand.NewPCG(seed, uint64(i)))
		}
		disk := vfs.NewCrashFS()
		dir := t.TempDir()
		b := startOnCrashFS(t, dir, disk)
		lg := newGroupLedger()
		disk.CrashAfter(k, torn)
		runGroupCommits(t, b.Addr(), lg)
		b.Close()
		img := disk.Image()
		if img == nil {
			img = disk.Crash(torn)
		}
		checkGroupCommits(t, startOnCrashFS(t, dir, img), lg)
		if t.Failed() {
			t.Logf("crash after operation %d of about %d (torn %v)", k, total, torn != nil)
			return
		}
	}
}

const plGroups, plCommitsPerGroup = 12, 8

// groupLedger: per group, the commits acknowledged (in order) and the one
// sent last.
type groupLedger struct {
	mu       sync.Mutex
	acked    map[string]int64
	inFlight map[string]int64
}

func newGroupLedger() *groupLedger {
	return &groupLedger{acked: map[string]int64{}, inFlight: map[string]int64{}}
}

func plGroupName(i int) string { return fmt.Sprintf("many-%d", i) }

// runGroupCommits commits offsets 1..plCommitsPerGroup for every group,
// the groups side by side, until the disk loses power.
func runGroupCommits(t *testing.T, addr string, lg *groupLedger) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr))
	var wg sync.WaitGroup
	for g := range plGroups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := plGroupName(g)
			for at := int64(1); at <= plCommitsPerGroup; at++ {
				lg.mu.Lock()
				lg.inFlight[name] = at
				lg.mu.Unlock()
				ctx := testCtx(t, 3*time.Second)
				resp, err := adm.CommitOffsets(ctx, name, plOffset(at))
				if err != nil || resp.Error() != nil {
					return
				}
				lg.mu.Lock()
				lg.acked[name] = at
				lg.mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func checkGroupCommits(t *testing.T, b interface{ Addr() string }, lg *groupLedger) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, b.Addr()))
	ctx := testCtx(t, 20*time.Second)
	lg.mu.Lock()
	defer lg.mu.Unlock()
	if testing.Verbose() {
		n := 0
		for _, at := range lg.acked {
			n += int(at)
		}
		t.Logf("%d commits of %d groups acknowledged before the power loss", n, len(lg.acked))
	}
	for g := range plGroups {
		name := plGroupName(g)
		resp, err := adm.FetchOffsets(ctx, name)
		if err != nil {
			t.Fatalf("group %s after the power loss: %v", name, err)
		}
		got := int64(-1)
		if o, ok := resp.Lookup(plTopic, 0); ok {
			if o.Err != nil {
				t.Fatalf("group %s after the power loss: %v", name, o.Err)
			}
			got = o.At
		}
		acked, sent := lg.acked[name], lg.inFlight[name]
		if acked == 0 && got == -1 {
			continue // nothing acknowledged, nothing kept
		}
		if got != acked && got != sent {
			t.Errorf("group %s: committed offset %d after the power loss; last acknowledged %d, in flight %d", name, got, acked, sent)
		}
	}
}
