package group

// FakeStore gives the contract suite (store_contract_test.go, package
// group_test, which group/storetest can be imported from) the memStore
// the group tests use, with its faults.
type FakeStore struct {
	Store Store
	Read  func(p int32) []Record
	// ReadBatches gives the batch of each record Read returns.
	ReadBatches func(p int32) []Batch
	Reopen      func() FakeStore
	Full        func() (restore func())
	Fence       func(p int32)
	FailWrite   func(p int32)
	FailSync    func(p int32)
	Stall       func(p int32) (release func())
}

// NewBrokenFakeStore is NewFakeStore with one promise broken on purpose
// (memStore.broken), to show the suite catches it.
func NewBrokenFakeStore(maxBytes int, broken string) FakeStore {
	s := newMemStore()
	s.maxBytes, s.broken = maxBytes, broken
	return fakeStore(s)
}

// NewFakeStore returns a fresh memStore whose partitions take batches of
// at most maxBytes.
func NewFakeStore(maxBytes int) FakeStore {
	s := newMemStore()
	s.maxBytes = maxBytes
	return fakeStore(s)
}

func fakeStore(s *memStore) FakeStore {
	return FakeStore{
		Store:       s,
		Read:        s.read,
		ReadBatches: s.readBatches,
		Reopen:      func() FakeStore { return fakeStore(s.reopen()) },
		Full:        func() func() { s.setFull(true); return func() { s.setFull(false) } },
		Fence:       s.fence,
		FailWrite:   s.setFailWrite,
		FailSync:    s.setFailSync,
		Stall:       s.stall,
	}
}
