package broker_test

import (
	"fmt"
	"testing"

	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch sessions (KIP-227) as Kafka's FetchManager.newContext decides: the
// epoch says whether a request is full (0 = INITIAL, -1 = FINAL, whatever
// the session id) or incremental (any other epoch, which must name a known
// session). Rewind creates no sessions, so full fetches are served with
// session id 0 and incremental ones get FETCH_SESSION_ID_NOT_FOUND.
func TestFetchSessionIDAndEpoch(t *testing.T) {
	b := rewindtest.Start(t)
	cl := newClient(t, b.Addr())
	createTopic(t, cl, "sessions", 1)
	r := newRaw(t, b.Addr())
	if code, _ := r.produce("sessions", 0, 3); code != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(code))
	}
	cases := []struct {
		id, epoch int32
		want      *kerr.Error // nil: a full fetch, served
	}{
		{0, -1, nil},
		{0, 0, nil},
		{123, -1, nil},
		{123, 0, nil},
		{-1, -1, nil}, // what some clients send to say "no session"
		{123, 5, kerr.FetchSessionIDNotFound},
		{0, 5, kerr.FetchSessionIDNotFound},
	}
	for _, v := range []int16{7, 12} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("v%d/id=%d/epoch=%d", v, c.id, c.epoch), func(t *testing.T) {
				req := fetchReq("sessions", 0, 0)
				req.Version, req.SessionID, req.SessionEpoch = v, c.id, c.epoch
				resp := r.do(req).(*kmsg.FetchResponse)
				if resp.SessionID != 0 {
					t.Errorf("session id %d in the response, want 0 (no session created)", resp.SessionID)
				}
				if c.want != nil {
					if resp.ErrorCode != c.want.Code || len(resp.Topics) != 0 {
						t.Fatalf("got %v with %d topics, want %v and none", kerr.ErrorForCode(resp.ErrorCode), len(resp.Topics), c.want)
					}
					return
				}
				if resp.ErrorCode != 0 {
					t.Fatalf("full fetch answered %v", kerr.ErrorForCode(resp.ErrorCode))
				}
				if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
					t.Fatalf("full fetch answered %d topics, want the one asked", len(resp.Topics))
				}
				sp := resp.Topics[0].Partitions[0]
				if sp.ErrorCode != 0 {
					t.Fatalf("partition error %v", kerr.ErrorForCode(sp.ErrorCode))
				}
				if _, n := countRecords(t, sp.RecordBatches, 0); n != 3 {
					t.Fatalf("fetched %d records, want 3", n)
				}
			})
		}
	}
}
