package bench

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

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
		d, dups, err := timeToRejoin(ctx, tg, topic, 3, serverSide)
		cancel()
		tg.close()
		if err != nil || d <= 0 || dups < 0 {
			t.Fatalf("server side %v: %v after %v, %d duplicates", serverSide, err, d, dups)
		}
		t.Logf("server side %v: settled %v after the 4th member joined, %d records polled twice", serverSide, d, dups)
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

// TestHoldingsDuplicates: every poll of a record polled before is one
// duplicate, whichever member polls it.
func TestHoldingsDuplicates(t *testing.T) {
	h := newHoldings(2)
	fetch := func(p int32, offsets ...int64) kgo.Fetches {
		var rs []*kgo.Record
		for _, o := range offsets {
			rs = append(rs, &kgo.Record{Partition: p, Offset: o})
		}
		return kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: "t", Partitions: []kgo.FetchPartition{{Partition: p, Records: rs}}}}}}
	}
	h.poll(fetch(0, 1, 2, 3))
	h.poll(fetch(1, 1, 2))
	if n := h.duplicates(); n != 0 {
		t.Fatalf("%d duplicates before any record was polled twice", n)
	}
	h.poll(fetch(0, 2, 3)) // the new owner from the last commit, 2
	h.poll(fetch(0, 3))
	if n := h.duplicates(); n != 3 {
		t.Fatalf("%d duplicates, want 3 (offset 2 twice, offset 3 three times)", n)
	}
}
