package broker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Rewind has no transaction coordinator. A transactional producer must be
// told so with an error it does not retry, instead of hanging on
// COORDINATOR_NOT_AVAILABLE, which kgo retries for ever.
func TestTransactionalProducerFailsFast(t *testing.T) {
	b := rewindtest.Start(t)
	admin := newClient(t, b.Addr())
	createTopic(t, admin, "txn", 1)

	cl := newClient(t, b.Addr(), kgo.TransactionalID("tx-1"), kgo.DefaultProduceTopic("txn"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err := cl.BeginTransaction()
	if err == nil {
		err = cl.ProduceSync(ctx, kgo.StringRecord("v")).FirstErr()
	}
	took := time.Since(start)
	if !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
		t.Fatalf("transactional produce: %v after %s, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", err, took)
	}
	if took > 5*time.Second {
		t.Fatalf("transactional produce failed only after %s: retried a non-retriable error", took)
	}

	// The raw answer, v3 (single key) and v4 (batched keys), with a message.
	for _, v := range []int16{3, 4} {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.Version, req.CoordinatorType, req.CoordinatorKey = v, 1, "tx-1"
		req.CoordinatorKeys = []string{"tx-1"}
		resp, err := req.RequestWith(ctx, admin)
		if err != nil {
			t.Fatal(err)
		}
		code, msg, node := resp.ErrorCode, resp.ErrorMessage, resp.NodeID
		if v >= 4 {
			if len(resp.Coordinators) != 1 {
				t.Fatalf("v4: %d coordinators, want 1", len(resp.Coordinators))
			}
			c := resp.Coordinators[0]
			code, msg, node = c.ErrorCode, c.ErrorMessage, c.NodeID
		}
		if code != kerr.TransactionalIDAuthorizationFailed.Code || msg == nil || node != -1 {
			t.Fatalf("v%d: %v (message %v, node %d), want TRANSACTIONAL_ID_AUTHORIZATION_FAILED with a message and node -1", v, kerr.ErrorForCode(code), msg, node)
		}
	}
}
