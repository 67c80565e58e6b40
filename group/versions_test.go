package group

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// encodes checks that resp encodes at its version and decodes back to the
// same bytes, as the broker will send it.
func encodes(t *testing.T, resp kmsg.Response) {
	t.Helper()
	b := resp.AppendTo(nil)
	r2 := kmsg.ResponseForKey(resp.Key())
	r2.SetVersion(resp.GetVersion())
	if err := r2.ReadFrom(b); err != nil {
		t.Fatalf("%s v%d does not decode: %v", kmsg.NameForKey(resp.Key()), resp.GetVersion(), err)
	}
	if b2 := r2.AppendTo(nil); !bytes.Equal(b, b2) {
		t.Fatalf("%s v%d does not round-trip", kmsg.NameForKey(resp.Key()), resp.GetVersion())
	}
}

// Every version the broker advertises works end to end: JoinGroup 0-9,
// SyncGroup 0-5, Heartbeat 0-4, LeaveGroup 0-5, OffsetCommit 0-8,
// OffsetFetch 0-8, DescribeGroups 0-5, ListGroups 0-4, DeleteGroups 0-2,
// OffsetDelete 0; every response encodes at its version.
func TestAllVersions(t *testing.T) {
	ctx := context.Background()
	for v := int16(0); v <= 9; v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			h := newHarness(t, noDelay)
			name := fmt.Sprintf("g%d", v)
			memberID := ""
			if v >= 4 {
				r := h.join(joinReq(v, name, ""))
				encodes(t, r)
				wantCode(t, "member id required", r.ErrorCode, kerr.MemberIDRequired.Code)
				memberID = r.MemberID
			}
			ch := h.joinAsync(joinReq(v, name, memberID))
			h.waitAwaiting(name, 1)
			h.fire()
			jr := recv(t, ch)
			encodes(t, jr)
			wantCode(t, "join", jr.ErrorCode, 0)
			id, gen := jr.MemberID, jr.Generation
			if v >= 7 && (jr.ProtocolType == nil || *jr.ProtocolType != "consumer") {
				t.Fatalf("v%d join lacks protocol type", v)
			}

			sv := min(v, 5)
			sr := h.sync(syncReq(sv, name, id, gen, map[string][]byte{id: []byte("a")}))
			encodes(t, sr)
			wantCode(t, "sync", sr.ErrorCode, 0)
			if string(sr.MemberAssignment) != "a" {
				t.Fatalf("assignment %q", sr.MemberAssignment)
			}

			hb := kmsg.NewPtrHeartbeatRequest()
			hb.Version, hb.Group, hb.MemberID, hb.Generation = min(v, 4), name, id, gen
			hr := h.c.Heartbeat(ctx, hb)
			encodes(t, hr)
			wantCode(t, "heartbeat", hr.ErrorCode, 0)

			cv := min(v, 8)
			cr := commitReq(cv, name, id, gen, offs{"t": {0: 5}})
			if cv == 0 {
				cr = commitReq(cv, "solo", "", -1, offs{"t": {0: 5}})
			}
			cresp := h.c.OffsetCommit(ctx, cr)
			encodes(t, cresp)
			wantCode(t, "commit", cresp.Topics[0].Partitions[0].ErrorCode, 0)

			fr := kmsg.NewPtrOffsetFetchRequest()
			fr.Version = min(v, 8)
			if fr.Version >= 8 {
				g := kmsg.NewOffsetFetchRequestGroup()
				g.Group = cr.Group
				fr.Groups = append(fr.Groups, g)
			} else {
				fr.Group = cr.Group
				ft := kmsg.NewOffsetFetchRequestTopic()
				ft.Topic, ft.Partitions = "t", []int32{0}
				fr.Topics = append(fr.Topics, ft)
			}
			fresp := h.c.OffsetFetch(ctx, fr)
			encodes(t, fresp)
			var got int64
			if fr.Version >= 8 {
				got = fresp.Groups[0].Topics[0].Partitions[0].Offset
			} else {
				got = fresp.Topics[0].Partitions[0].Offset
			}
			if got != 5 {
				t.Fatalf("fetched %d", got)
			}

			dr := h.c.DescribeGroups(ctx, &kmsg.DescribeGroupsRequest{Version: min(v, 5), Groups: []string{name, "nope"}})
			encodes(t, dr)
			if dr.Groups[0].State != "Stable" || len(dr.Groups[0].Members) != 1 || dr.Groups[1].State != "Dead" {
				t.Fatalf("describe %+v", dr.Groups)
			}

			lr := h.c.ListGroups(ctx, &kmsg.ListGroupsRequest{Version: min(v, 4)})
			encodes(t, lr)

			lreq := leaveReq(min(v, 5), name, leaving(id))
			lresp := h.c.LeaveGroup(ctx, lreq)
			encodes(t, lresp)
			wantCode(t, "leave", lresp.ErrorCode, 0)

			od := kmsg.NewPtrOffsetDeleteRequest()
			od.Group = cr.Group
			odt := kmsg.NewOffsetDeleteRequestTopic()
			odt.Topic = "t"
			odt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}
			od.Topics = append(od.Topics, odt)
			odr := h.c.OffsetDelete(ctx, od)
			encodes(t, odr)
			wantCode(t, "offset delete", odr.ErrorCode, 0)

			dg := h.c.DeleteGroups(ctx, &kmsg.DeleteGroupsRequest{Version: min(v, 2), Groups: []string{name, cr.Group}})
			encodes(t, dg)
			for _, g := range dg.Groups {
				wantCode(t, "delete "+g.Group, g.ErrorCode, 0)
			}
		})
	}
}

// Error answers encode at every version too.
func TestErrorResponsesEncode(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for v := int16(0); v <= 9; v++ {
		encodes(t, h.join(joinReq(v, "g", "nope")))
		encodes(t, h.join(joinReq(v, "", "")))
	}
	for v := int16(0); v <= 5; v++ {
		encodes(t, h.sync(syncReq(v, "g", "nope", 1, nil)))
		encodes(t, h.c.LeaveGroup(ctx, leaveReq(v, "g", leaving("nope"))))
	}
	h.c.Close()
	for v := int16(0); v <= 8; v++ {
		encodes(t, h.c.OffsetCommit(ctx, commitReq(v, "g", "", -1, offs{"t": {0: 1}})))
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Version, r.Group = v, "g"
		encodes(t, h.c.OffsetFetch(ctx, r))
	}
	for v := int16(0); v <= 4; v++ {
		lr := h.c.ListGroups(ctx, &kmsg.ListGroupsRequest{Version: v})
		encodes(t, lr)
		wantCode(t, "list after close", lr.ErrorCode, kerr.CoordinatorNotAvailable.Code)
	}
}
