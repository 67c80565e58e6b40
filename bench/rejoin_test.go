package bench

import (
	"context"
	"testing"
	"time"

	"github.com/rewindhq/rewind/storage"
)

// TestTimeToRejoin times a 4th member joining a settled group of 3 on an
// in-process Rewind, with each protocol: the time is measured (positive,
// below the 2-minute bound) only once the 4 members own the 4 partitions,
// each once.
func TestTimeToRejoin(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	for _, serverSide := range []bool{false, true} {
		tg, err := rewindBroker(t.TempDir(), storage.FsyncAlways)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		topic, err := createTopic(ctx, tg, "rejoin", 4)
		if err != nil {
			t.Fatal(err)
		}
		d, err := timeToRejoin(ctx, tg, topic, 3, serverSide)
		cancel()
		tg.close()
		if err != nil || d <= 0 {
			t.Fatalf("server side %v: %v after %v", serverSide, err, d)
		}
		t.Logf("server side %v: settled %v after the 4th member joined", serverSide, d)
	}
}

// TestHoldingsSettled: settled needs every partition owned once and every
// member owning one.
func TestHoldingsSettled(t *testing.T) {
	h := newHoldings(3)
	h.change(0, map[string][]int32{"t": {0, 1}}, true)
	h.change(1, map[string][]int32{"t": {2}}, true)
	if !h.settled(2, 3) || h.settled(3, 3) {
		t.Fatal("2 members on 3 partitions, the 3rd member owning none")
	}
	h.change(2, map[string][]int32{"t": {1}}, true) // not yet revoked by member 0
	if h.settled(3, 3) {
		t.Fatal("partition 1 owned twice")
	}
	h.change(0, map[string][]int32{"t": {1}}, false)
	if !h.settled(3, 3) {
		t.Fatal("each of 3 members owns one of 3 partitions")
	}
}
