package group_test

import (
	"testing"

	"github.com/rewindhq/rewind/group"
	"github.com/rewindhq/rewind/group/storetest"
)

// The fake Store of the group tests keeps the contract the broker's store
// keeps (broker/groupstore_contract_test.go runs the same suite on it).
func TestFakeStoreContract(t *testing.T) {
	storetest.Run(t, func(testing.TB) *storetest.Harness { return fakeHarness(group.NewFakeStore(maxBytes)) })
}

const maxBytes = 1048588 // __consumer_offsets' max.message.bytes, as the broker's

// Each check of the suite fails for a store that breaks the promise it
// guards: the fake, broken one way at a time. Every check is shown able
// to fail by at least one of them.
func TestContractCatchesBrokenFake(t *testing.T) {
	for _, c := range []struct {
		broken string
		fail   []string // checks that must fail
	}{
		{"size", []string{"OversizedBatch", "OversizedCommit"}},                                       // no max.message.bytes
		{"full", []string{"FullDisk"}},                                                                // commits taken on a full disk
		{"full-tombstones", []string{"FullDisk"}},                                                     // deletions refused on a full disk
		{"fence", []string{"FencedPartition"}},                                                        // a fenced partition takes appends
		{"write-sticky", []string{"WriteError"}},                                                      // appends go on after a write error
		{"sync-sticky", []string{"SyncError"}},                                                        // appends go on after a failed fsync
		{"stall", []string{"AppendDoesNotWaitForDisk", "PartitionsIndependent", "ContextCancel"}},     // durable before the fsync
		{"reopen", []string{"DurableAfterReopen"}},                                                    // a reopen loses the last record
		{"reverse", []string{"Order", "RecordsReadBackExactly", "ConcurrentAppendersManyPartitions"}}, // a batch's records reversed
		{"split", []string{"Order", "ConcurrentAppendersOnePartition"}},                               // a batch's last record lands after the next batch
		{"alias", []string{"RecordsReadBackExactly"}},                                                 // the caller's slices kept
		{"empty", []string{"EmptyInput"}},                                                             // no records is an error
		{"prefix", []string{"DurabilityIsAPrefix"}},                                                   // an earlier append lost behind a durable later one
		{"twice", []string{"WaitTwice"}},
		{"txn-plain", []string{"TxnBatchesInOrder", "TxnManyCommitsOneTransaction"}}, // AppendTxn writes a plain batch
		{"txn-epoch", []string{"TxnStaleEpoch"}},                                     // no producer epoch check
		{"marker-full", []string{"TxnFullDisk"}},                                     // markers refused on a full disk                                                              // a second Wait answers otherwise
	} {
		t.Run(c.broken, func(t *testing.T) {
			got := storetest.Failures(t, func(testing.TB) *storetest.Harness {
				return fakeHarness(group.NewBrokenFakeStore(maxBytes, c.broken))
			})
			for _, name := range c.fail {
				msg, ok := got[name]
				if !ok {
					t.Fatalf("no check %s", name)
				}
				if msg == "" {
					t.Errorf("check %s passed on a store broken %q", name, c.broken)
				} else {
					t.Logf("%s: %s", name, msg)
				}
			}
		})
	}
}

func fakeHarness(f group.FakeStore) *storetest.Harness {
	h := &storetest.Harness{Partitions: 4, MaxMessageBytes: maxBytes}
	use := func(f group.FakeStore) {
		h.Store = f.Store
		h.Read = func(_ testing.TB, p int32) []group.Record { return f.Read(p) }
		h.ReadBatches = func(_ testing.TB, p int32) []group.Batch { return f.ReadBatches(p) }
		h.Full = func(testing.TB) func() { return f.Full() }
		h.Fence = func(_ testing.TB, p int32) { f.Fence(p) }
		h.FailWrite = func(_ testing.TB, p int32) { f.FailWrite(p) }
		h.FailSync = func(_ testing.TB, p int32) { f.FailSync(p) }
		h.Stall = func(_ testing.TB, p int32) func() { return f.Stall(p) }
	}
	use(f)
	h.Reopen = func(testing.TB) group.Store {
		f = f.Reopen()
		use(f)
		return f.Store
	}
	return h
}
