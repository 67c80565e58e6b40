package broker_test

import (
	"errors"
	"testing"

	"github.com/rewindhq/rewind/broker"
	"github.com/twmb/franz-go/pkg/kerr"
)

// A partition fenced by a write error is served again by an online
// repair, without a restart, as a restart would recover it: the
// acknowledged records, not the torn batch. Partitions that serve are not
// repaired online.
func TestRepairPartitionAfterWriteError(t *testing.T) {
	b, r := fenceByEIO(t, t.TempDir())
	code, _ := r.produce("eio", 0, 5)
	expectCode(t, "produce after EIO", code, kerr.KafkaStorageError)

	if _, err := b.RepairPartition("eio", 1, false); !errors.Is(err, broker.ErrNotFenced) {
		t.Fatalf("repair of a serving partition: %v, want ErrNotFenced", err)
	}
	if _, err := b.RepairPartition("nope", 0, false); !errors.Is(err, broker.ErrUnknownTopic) {
		t.Fatalf("repair of an unknown partition: %v, want ErrUnknownTopic", err)
	}
	dry, err := b.RepairPartition("eio", 0, true)
	if err != nil || dry.Changed || dry.Serving {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	res, err := b.RepairPartition("eio", 0, false)
	if err != nil || !res.Serving || !res.Online || res.NextOffset != 20 {
		t.Fatalf("repair: %+v, %v", res, err)
	}
	t.Logf("%+v", res)
	code, n := r.fetchAll("eio", 0)
	expectCode(t, "fetch after the repair", code, nil)
	if n != 20 {
		t.Fatalf("%d records after the repair, want the 20 acknowledged", n)
	}
	code, base := r.produce("eio", 0, 5)
	expectCode(t, "produce after the repair", code, nil)
	if base != 20 {
		t.Fatalf("produce after the repair at offset %d, want 20", base)
	}
	code, _ = r.produce("eio", 1, 5)
	expectCode(t, "produce to the other partition", code, nil)
}
