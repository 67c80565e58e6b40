package txn

import (
	"context"
	"regexp"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Description is what DescribeTransactions answers for one id.
type Description struct {
	ProducerID    int64
	ProducerEpoch int16
	State         State
	TimeoutMs     int32
	StartMs       int64 // -1 with no transaction open
	Partitions    []Partition
}

// Describe returns id's state: TRANSACTIONAL_ID_NOT_FOUND for an unknown
// (or expiring) id, INVALID_REQUEST for an empty one.
func (c *Coordinator) Describe(id string) (Description, *kerr.Error) {
	if id == "" {
		return Description{}, kerr.InvalidRequest
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.lookup(id)
	switch {
	case err != nil:
		return Description{}, err
	case m == nil || m.state == Dead:
		return Description{}, kerr.TransactionalIDNotFound
	}
	return Description{ProducerID: m.producerID, ProducerEpoch: m.epoch, State: m.state,
		TimeoutMs: m.timeoutMs, StartMs: m.startMs, Partitions: sortedParts(m.parts)}, nil
}

// Listing is one id of ListTransactions.
type Listing struct {
	TransactionalID string
	ProducerID      int64
	State           State
}

// Filter selects the ids ListTransactions returns; zero values select
// everything.
type Filter struct {
	States      []string // state names; unknown ones are returned apart
	ProducerIDs []int64
	// MinDurationMs (v1+) keeps the ids whose transaction started more
	// than this long ago; -1 keeps every id. An id with no transaction
	// open counts as started at -1, as in Kafka.
	MinDurationMs int64
	// IDPattern, when set, keeps the ids it matches (ListTransactions v2).
	IDPattern *regexp.Regexp
}

// List returns the ids that pass f, sorted, and the state names of f that
// are not states.
func (c *Coordinator) List(f Filter) (out []Listing, unknown []string) {
	var states []State
	unknown = []string{}
	for _, n := range f.States {
		if s, ok := StateByName(n); ok {
			states = append(states, s)
		} else {
			unknown = append(unknown, n)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.nowMs()
	for id, m := range c.txns {
		switch {
		case m.state == Dead:
		case len(f.ProducerIDs) > 0 && !slices.Contains(f.ProducerIDs, m.producerID):
		case len(f.States) > 0 && !slices.Contains(states, m.state):
		case f.MinDurationMs >= 0 && now-m.startMs <= f.MinDurationMs:
		case f.IDPattern != nil && !f.IDPattern.MatchString(id):
		default:
			out = append(out, Listing{TransactionalID: id, ProducerID: m.producerID, State: m.state})
		}
	}
	slices.SortFunc(out, func(a, b Listing) int {
		if a.TransactionalID < b.TransactionalID {
			return -1
		}
		if a.TransactionalID > b.TransactionalID {
			return 1
		}
		return 0
	})
	return out, unknown
}

// WaitSettled waits until id has no transition pending and is not between
// the prepare and complete records of an end (its markers written), or ctx
// is done. Tests and tools use it to see an end take full effect.
func (c *Coordinator) WaitSettled(ctx context.Context, id string) error {
	for {
		c.mu.Lock()
		m := c.txns[id]
		settled := m == nil || (m.pending == noState && m.state != PrepareCommit && m.state != PrepareAbort)
		ch := c.changed
		c.mu.Unlock()
		if settled {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}
