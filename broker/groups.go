package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rewindhq/rewind/group"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Consumer-group APIs are served by the group coordinator, which knows
// nothing of sockets; this file only adapts requests to it.
//
// JoinGroup: v0-9, SyncGroup: v0-5 (both wait for the rebalance off the
// read loop), Heartbeat: v0-4, LeaveGroup: v0-5, OffsetCommit: v2-10 (acked
// once the commit is durable in __consumer_offsets; v9: from consumer-protocol
// members too, 08_offset_commit_consumer.go; v10: topic ids,
// 08_offset_topic_ids.go), OffsetFetch: v1-10
// (v8: several groups, v9: member id and epoch, v10: topic ids), DescribeGroups: v0-6, ListGroups: v0-5,
// DeleteGroups: v0-3 (consumer-protocol groups too), OffsetDelete: v0. See package group for the
// per-version semantics. As Kafka 4.x (KIP-896), OffsetCommit v0-1 and
// OffsetFetch v0 are not served: a request at one closes the connection,
// as for every version outside an API's range.

func init() {
	// JoinGroup, SyncGroup and Heartbeat go to the classic coordinator or
	// to a consumer group's classic members (consumer_groups_classic.go).
	regKey(11, 0, 9, handleJoinGroup)
	regKey(14, 0, 5, handleSyncGroup)
	regKey(12, 0, 4, handleHeartbeat)
	regKey(13, 0, 5, handleLeaveGroup)
	regKey(8, 2, 10, handleOffsetCommit)
	regKey(9, 1, 10, handleOffsetFetch)
	regKey(15, 0, 6, handleDescribeGroups)
	regKey(16, 0, 5, func(r *request) (reply, error) {
		return now(r.c.b.grp.ListGroups(r.groupCtx(), r.kreq.(*kmsg.ListGroupsRequest)))
	})
	regKey(42, 0, 3, handleDeleteGroups)
	regKey(47, 0, 0, handleOffsetDelete)
}

// Responses that grow with the request are reserved in
// --max-response-memory before the coordinator builds them (respmem.go).
// The coordinator appends to its response slices without knowing their
// length, so twice the structs are counted. A request whose response alone
// would exceed the pool gets INVALID_REQUEST where the response has a
// top-level error code (OffsetFetch v2-7, OffsetDelete, LeaveGroup v3+),
// and closes the connection otherwise.

// tooLarge tells whether err refuses the request for its response size
// (logged: the client only sees the error code).
func (r *request) tooLarge(err error) bool {
	var e *respTooLarge
	if errors.As(err, &e) {
		r.c.log.Warn("request refused", "err", err)
		return true
	}
	return false
}

// DescribeGroups answers each distinct group once: Kafka answers every
// repetition of a name, with the same description each time.
func handleDescribeGroups(r *request) (reply, error) {
	req := r.kreq.(*kmsg.DescribeGroupsRequest)
	req.Groups = dedupStrings(req.Groups)
	var n respSize
	// A Dead group: codes, "Dead", empty strings. The coordinator appends
	// without knowing the count: twice the structs while the slice grows.
	n.elems(len(req.Groups), 2*sizeOf[kmsg.DescribeGroupsResponseGroup](), 32)
	n.set(len(req.Groups))
	for _, g := range req.Groups {
		n.str(len(g))
	}
	if err := r.reserveResponse("DescribeGroups", n); err != nil {
		return reply{}, err // no top-level error code: the connection is closed
	}
	return now(r.c.b.grp.DescribeGroups(r.groupCtx(), req))
}

// groupCtx carries the connection's lifetime and the client's id and host
// (shown by DescribeGroups in Kafka's "/1.2.3.4" form) to the coordinator.
func (r *request) groupCtx() context.Context {
	return group.WithClient(r.c.ctx, r.clientID, r.c.groupHost)
}

// offsetsTopicConfigs are the config overrides of __consumer_offsets.
func offsetsTopicConfigs() map[string]string {
	return map[string]string{"retention.ms": "-1", "segment.bytes": "104857600"}
}

// startGroups makes sure __consumer_offsets exists, builds the coordinator
// and replays every committed offset and group record into it.
func (b *Broker) startGroups() error {
	if _, ok := b.topicMeta(OffsetsTopic); !ok {
		// Never deleted by time: the retention loop compacts it instead,
		// keeping superseded commits for the history window, since they
		// are what lets a group be rewound to a past position.
		if _, err := b.reg.create(OffsetsTopic, b.cfg.OffsetsTopicPartitions, offsetsTopicConfigs(), true, false, nil); err != nil {
			return fmt.Errorf("broker: create %s: %w", OffsetsTopic, err)
		}
	}
	meta, _ := b.topicMeta(OffsetsTopic)
	gc := group.DefaultConfig()
	gc.InitialRebalanceDelay = b.cfg.GroupInitialRebalanceDelay
	gc.MinSessionTimeout = b.cfg.GroupMinSessionTimeout
	gc.MaxSessionTimeout = b.cfg.GroupMaxSessionTimeout
	gc.OffsetsRetention = b.cfg.OffsetsRetention
	gc.HistoryRetention = b.cfg.OffsetsHistoryRetention
	gc.OffsetsTopicPartitions = meta.Partitions
	gc.Logger = b.log
	gc.TopicPartitionExists = func(t string, p int32) bool { return b.partition(t, p) != nil }
	gc.Observers = []group.Observer{group.ObserverFunc(b.observeGroup)}
	gc.Modern = modernGroups{b} // 08_offset_commit_consumer.go
	b.grp = group.New(gc, offsetsStore{b})
	b.groupTxnMarker = b.completeGroupTxn      // markers into __consumer_offsets (groups_txn.go)
	b.cgroups.init(b, b.consumerGroupConfig()) // consumer_groups.go
	b.shares.init(b)                           // share_groups.go
	// Consumer-protocol groups' records go to their coordinator, every
	// other record to the classic one (which holds their offsets).
	replay := func(p int32, off int64, bt group.Batch, k, v []byte, ts int64) error {
		if isConsumerGroupRecord(bt, k) {
			return b.cgroups.c.Replay(k, v)
		}
		return b.grp.ReplayBatch(p, off, bt, k, v, ts)
	}
	for p := int32(0); p < meta.Partitions; p++ {
		if err := b.replayOffsets(p, replay); err != nil {
			// One damaged partition must not keep the others' groups
			// from being served: fence it, as a data partition is.
			b.fenceOffsets(p, err)
		}
	}
	b.cgroups.c.Loaded(time.Now())
	return nil
}

// fenceOffsets fences __consumer_offsets partition p, whose records could
// not be read back (err), and logs the groups it holds: those whose
// records are readable up to the damage, and those with records after it.
func (b *Broker) fenceOffsets(p int32, err error) {
	l := b.partition(OffsetsTopic, p)
	if l.Err() == nil {
		l.Fence(err)
	}
	b.grp.FencePartition(p, err)
	b.cgroups.unloadPartition(p)
	before, after := map[string]bool{}, map[string]bool{}
	n := b.grp.Partitions()
	// A read-only scan of the files: what a repair would keep and drop.
	_, serr := storage.Repair(l.Dir(), storage.RepairOptions{FS: b.cfg.FS, DryRun: true,
		Kept:    func(r storage.Record) { addGroup(before, r, false, p, n) },
		Dropped: func(r storage.Record, damaged bool) { addGroup(after, r, damaged, p, n) },
	})
	b.log.Error("consumer groups unavailable: their __consumer_offsets partition is damaged and fenced; the other groups are served. Repair it with `rewind repair`",
		"partition", fmt.Sprintf("%s-%d", OffsetsTopic, p), "groups", sortedKeys(before), "groups_with_records_after_the_damage", sortedKeys(after), "err", err)
	if serr != nil {
		b.log.Warn("scanning the damaged partition", "partition", fmt.Sprintf("%s-%d", OffsetsTopic, p), "err", serr)
	}
}

// addGroup adds the group of a __consumer_offsets record of partition p
// (of n) to m. A record of a damaged batch counts only if its group
// belongs to p: the damage may be in the name.
func addGroup(m map[string]bool, r storage.Record, damaged bool, p, n int32) {
	if g, ok := group.RecordGroup(r.Key); ok && (!damaged || group.PartitionFor(g, n) == p) {
		m[g] = true
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// replayOffsets feeds every record of __consumer_offsets partition p to
// replay (the coordinator's ReplayBatch at start-up, LoadPartition's after
// a repair), with its batch's producer and transactional and control
// flags: transactional offset commits stay pending until their marker.
func (b *Broker) replayOffsets(p int32, replay func(int32, int64, group.Batch, []byte, []byte, int64) error) error {
	l := b.partition(OffsetsTopic, p)
	off := l.LogStartOffset()
	for off < l.HighWatermark() {
		rr, err := l.Read(off, 1<<20, true)
		if err != nil {
			return err
		}
		data, err := rr.AppendTo(nil)
		rr.Release()
		if err != nil {
			return err
		}
		if len(data) == 0 {
			return nil
		}
		next := off
		for len(data) > 0 {
			h, err := storage.ParseBatchHeader(data)
			if err != nil {
				return err
			}
			recs, err := storage.DecodeRecords(data[:h.Size()])
			if err != nil {
				return err
			}
			bt := group.Batch{ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch,
				Transactional: h.IsTransactional(), Control: h.IsControl()}
			for _, rec := range recs {
				if rec.Offset < off {
					continue // a read starts at the batch holding off
				}
				if err := replay(p, rec.Offset, bt, rec.Key, rec.Value, rec.Timestamp); err != nil {
					b.log.Warn("skipping undecodable record", "topic", OffsetsTopic, "partition", p, "offset", rec.Offset, "err", err)
				}
			}
			next = max(next, h.LastOffset()+1)
			data = data[h.Size():]
		}
		off = next
	}
	return nil
}

// offsetsStore appends the coordinator's records to __consumer_offsets.
// Append writes the batch (no fsync); the log's background syncer makes
// it durable, one fsync covering every append waiting (group commit), and
// Wait waits for that (group.Store).
type offsetsStore struct{ b *Broker }

func (s offsetsStore) Append(partition int32, recs []group.Record) (group.Pending, error) {
	l := s.b.partition(OffsetsTopic, partition)
	if l == nil {
		return nil, fmt.Errorf("broker: %s-%d does not exist: %w", OffsetsTopic, partition, kerr.UnknownTopicOrPartition)
	}
	if len(recs) == 0 {
		return durable{}, nil // a batch must hold a record; nothing to wait for
	}
	srecs := make([]storage.Record, len(recs))
	ts := int64(0)
	for i, r := range recs {
		srecs[i] = storage.Record{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
		if i == 0 || r.Timestamp < ts {
			ts = r.Timestamp
		}
	}
	batch := storage.BuildBatch(ts, srecs)
	if err := s.b.disk.writable(); err != nil && hasCommit(recs) {
		// A full disk (diskspace.go): commits are refused, while group
		// records (within a share of the reserve) and tombstones still go
		// to the reserve's space so that rebalances and deletions keep
		// working.
		return nil, fmt.Errorf("%w: %w", group.ErrStoreFull, err)
	}
	if !tombstones(recs) {
		n := int64(len(batch))
		if s.b.reg.journal != nil {
			// The journal holds a copy until its next checkpoint (its
			// preallocation takes its space up to 4 MiB sooner).
			n *= 2
		}
		if err := s.b.disk.groupRecords(n); err != nil {
			return nil, fmt.Errorf("%w: %w", group.ErrStoreFull, err)
		}
	}
	res, err := l.Append(batch)
	if err != nil {
		return nil, storeErr(err)
	}
	return &offsetsPending{l: l, end: res.LastOffset + 1}, nil
}

// durable is the Pending of an Append of no records.
type durable struct{}

func (durable) Wait(context.Context) error { return nil }

// offsetsPending is one appended batch of __consumer_offsets. What it
// changes reaches the lag recorder as the coordinator's events once
// applied (observeGroup), not by decoding the batch.
type offsetsPending struct {
	l   *storage.Log
	end int64
}

// Wait waits for the log's high watermark, which moves only after fsync
// and never past a failed one (storage fences the log), to pass the batch.
func (p *offsetsPending) Wait(ctx context.Context) error {
	if err := p.l.WaitDurable(ctx, p.end); err != nil {
		return storeErr(err)
	}
	return nil
}

// storeErr wraps a storage error of an append to __consumer_offsets, or
// of the wait for it, with the Kafka error a Produce to the partition
// would get (produceErrorCode: MESSAGE_TOO_LARGE over max.message.bytes,
// KAFKA_STORAGE_ERROR for I/O errors and a fenced or closed log), which
// the coordinator answers as Kafka 4.x's coordinator does
// (offsetsfmt.AppendError). Group code never sees storage's errors.
func storeErr(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err // the wait was abandoned, not a storage error
	}
	if isNoSpace(err) {
		return fmt.Errorf("%w: %w", group.ErrStoreFull, err)
	}
	return fmt.Errorf("%w: %w", kerr.ErrorForCode(produceErrorCode(err)), err)
}

// tombstones says whether recs are all tombstones (deletions).
func tombstones(recs []group.Record) bool {
	for _, r := range recs {
		if r.Value != nil {
			return false
		}
	}
	return true
}

// hasCommit says whether recs hold an offset commit (key versions 0 and 1
// of __consumer_offsets, with a value).
func hasCommit(recs []group.Record) bool {
	for _, r := range recs {
		if len(r.Key) >= 2 && binary.BigEndian.Uint16(r.Key) <= 1 && r.Value != nil {
			return true
		}
	}
	return false
}

// LeaveGroup v3+ answers each leaving member.
func handleLeaveGroup(r *request) (reply, error) {
	req := r.kreq.(*kmsg.LeaveGroupRequest)
	var n respSize
	n.elems(len(req.Members), 2*sizeOf[kmsg.LeaveGroupResponseMember](), 16)
	for _, m := range req.Members {
		n.str(len(m.MemberID) + len(deref(m.InstanceID)))
	}
	if err := r.reserveResponse("LeaveGroup", n); err != nil {
		if req.Version < 3 || !r.tooLarge(err) {
			return reply{}, err
		}
		resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = invalidRequest
		return now(resp)
	}
	return leaveConsumerGroup(r, req), nil
}

// OffsetCommit answers each partition and writes a record for each that
// exists (Kafka does not deduplicate either: the last commit of a
// partition wins).
func handleOffsetCommit(r *request) (reply, error) {
	req := r.kreq.(*kmsg.OffsetCommitRequest)
	var n respSize
	n.elems(len(req.Topics), 2*sizeOf[kmsg.OffsetCommitResponseTopic](), 8)
	for _, t := range req.Topics {
		n.str(2 * len(t.Topic)) // in the response and in each record key
		// The response partition, and the record: key and value with the
		// group, topic and metadata, and the coordinator's bookkeeping.
		n.elems(len(t.Partitions), 2*sizeOf[kmsg.OffsetCommitResponseTopicPartition]()+256, 8)
		for _, p := range t.Partitions {
			n.str(len(req.Group) + len(t.Topic) + len(deref(p.Metadata)))
		}
	}
	if err := r.reserveResponse("OffsetCommit", n); err != nil {
		return reply{}, err
	}
	b := r.c.b
	unknown := b.resolveCommitTopicIDs(req) // v10 (08_offset_topic_ids.go)
	// Appended here, on the read loop, so a connection's commits are in
	// the log in request order; answered off it once durable, so commits
	// pipelined on the connection share an fsync.
	wait := b.grp.BeginOffsetCommit(r.groupCtx(), req)
	prev, mine := r.c.commitsDone, make(chan struct{})
	r.c.commitsDone = mine
	return reply{later: func() (kmsg.Response, error) {
		resp := wait()
		b.commitTopicIDs(resp, unknown)
		if prev != nil {
			<-prev // closed once this connection's earlier commits are applied
		}
		close(mine)
		return resp, nil
	}}, nil
}

// answerLater answers a change appended on the read loop once wait returns, off
// the read loop, in the connection's chain of commits: an OffsetFetch read
// after it waits for it (commitBarrier), as for an OffsetCommit.
func answerLater[T kmsg.Response](r *request, wait func() T) reply {
	prev, mine := r.c.commitsDone, make(chan struct{})
	r.c.commitsDone = mine
	return reply{later: func() (kmsg.Response, error) {
		resp := wait()
		if prev != nil {
			<-prev
		}
		close(mine)
		return resp, nil
	}}
}

// commitBarrier returns a channel closed once every OffsetCommit read
// before on this connection is applied, or nil if they all are: an
// OffsetFetch waits for it (off the read loop), so it sees the commits
// the client sent before it, as it would if they were answered in line.
func (c *conn) commitBarrier() <-chan struct{} {
	select {
	case <-c.commitsDone:
		return nil
	default:
		return c.commitsDone
	}
}

// OffsetFetch answers each requested partition, as Kafka does; v8 answers
// each distinct group once (the topics asked for it merged), where Kafka
// answers every repetition alike.
func handleOffsetFetch(r *request) (reply, error) {
	req := r.kreq.(*kmsg.OffsetFetchRequest)
	var n respSize
	topic := func(name string, parts int) {
		n.elems(1, 2*sizeOf[kmsg.OffsetFetchResponseGroupTopic]()+setEntry, 8) // and the coordinator's topic map
		n.str(len(name))
		n.elems(parts, 2*sizeOf[kmsg.OffsetFetchResponseGroupTopicPartition]()+8, 24)
	}
	if req.Version >= 8 {
		req.Groups = dedupOffsetFetchGroups(req.Groups)
		n.elems(len(req.Groups), 2*sizeOf[kmsg.OffsetFetchResponseGroup](), 16)
		for _, g := range req.Groups {
			n.str(len(g.Group))
			for _, t := range g.Topics {
				topic(t.Topic, len(t.Partitions))
			}
		}
	} else {
		for _, t := range req.Topics {
			topic(t.Topic, len(t.Partitions))
		}
	}
	if err := r.reserveResponse("OffsetFetch", n); err != nil {
		if req.Version < 2 || req.Version >= 8 || !r.tooLarge(err) {
			return reply{}, err
		}
		resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		resp.ErrorCode = invalidRequest
		return now(resp)
	}
	b, ctx := r.c.b, r.groupCtx()
	unknown := b.resolveFetchTopicIDs(req) // v10 (08_offset_topic_ids.go)
	fetch := func() *kmsg.OffsetFetchResponse {
		resp := b.grp.OffsetFetch(ctx, req)
		b.fetchTopicIDs(resp, unknown)
		return resp
	}
	if barrier := r.c.commitBarrier(); barrier != nil {
		return reply{later: func() (kmsg.Response, error) {
			<-barrier
			return fetch(), nil
		}}, nil
	}
	return now(fetch())
}

// dedupOffsetFetchGroups keeps the first of each group, with the topics of
// its repetitions (all of them if any asks for all).
func dedupOffsetFetchGroups(gs []kmsg.OffsetFetchRequestGroup) []kmsg.OffsetFetchRequestGroup {
	if len(gs) < 2 {
		return gs
	}
	first := make(map[string]int, min(len(gs), 1024))
	out := gs[:0]
	for _, g := range gs {
		i, dup := first[g.Group]
		if !dup {
			first[g.Group] = len(out)
			out = append(out, g)
			continue
		}
		switch {
		case out[i].Topics == nil:
		case g.Topics == nil:
			out[i].Topics = nil
		default:
			out[i].Topics = append(out[i].Topics, g.Topics...)
		}
	}
	clear(gs[len(out):])
	return out
}

// DeleteGroups answers each distinct group once (the coordinator skips
// repetitions, as Kafka does).
func handleDeleteGroups(r *request) (reply, error) {
	req := r.kreq.(*kmsg.DeleteGroupsRequest)
	var n respSize
	n.elems(len(req.Groups), 2*sizeOf[kmsg.DeleteGroupsResponseGroup](), 16)
	n.set(len(req.Groups))
	for _, g := range req.Groups {
		n.str(len(g))
	}
	if err := r.reserveResponse("DeleteGroups", n); err != nil {
		return reply{}, err
	}
	// Appended on the read loop, in order with the connection's commits;
	// waited for off it, like a commit.
	return answerLater(r, r.c.b.grp.BeginDeleteGroups(r.groupCtx(), req)), nil
}

// OffsetDelete answers each partition.
func handleOffsetDelete(r *request) (reply, error) {
	req := r.kreq.(*kmsg.OffsetDeleteRequest)
	var n respSize
	n.elems(len(req.Topics), 2*sizeOf[kmsg.OffsetDeleteResponseTopic](), 8)
	for _, t := range req.Topics {
		n.str(len(t.Topic))
		n.elems(len(t.Partitions), 2*sizeOf[kmsg.OffsetDeleteResponseTopicPartition]()+setEntry+16, 8)
	}
	if err := r.reserveResponse("OffsetDelete", n); err != nil {
		if !r.tooLarge(err) {
			return reply{}, err
		}
		resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = invalidRequest
		return now(resp)
	}
	return answerLater(r, r.c.b.grp.BeginOffsetDelete(r.groupCtx(), req)), nil
}
