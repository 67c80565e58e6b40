package broker

import (
	"errors"
	"reflect"
	"time"

	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch: v4-12
//
// Full fetches only: fetch sessions (KIP-227) are answered with session id
// 0, which tells the client that no session was created, so it keeps
// sending full requests. As in Kafka's FetchManager.newContext, the epoch
// decides what a request is: epoch 0 (INITIAL) or -1 (FINAL) is a full
// fetch whatever the session id (a named session is closed, and -1 asks
// for none to be created), and is served; any other epoch is incremental
// and names a session, which can only be unknown here:
// FETCH_SESSION_ID_NOT_FOUND with no topics.
//
// Long poll: if fewer than MinBytes are ready, the request waits, woken by
// any requested partition's high watermark moving, until MaxWaitMillis.
// MaxBytes and PartitionMaxBytes follow Kafka's at-least-one-batch rule: the
// first batch returned is whole even when larger than the limits.
//
// Each partition is read and answered once, however often it is named: as
// Kafka's fetchData map, a repeated partition keeps its first position and
// the offsets of its last repetition. The response's structs are reserved
// in --max-response-memory (respmem.go; the record data counts in
// --max-fetch-memory); a request whose response alone would exceed it gets
// INVALID_REQUEST with no topics.
//
// Version notes:
//   - v4: isolation level; LastStableOffset and AbortedTransactions. A
//     read_committed fetch (isolation level 1) never gets a batch at or
//     after the last stable offset, and gets the aborted transactions of
//     what it read (storage.Log.AbortedTransactions); every fetch is
//     told the LSO.
//   - v5: LogStartOffset. v7: sessions. v9: CurrentLeaderEpoch (ours is 0).
//   - v11: PreferredReadReplica (-1). v12: flexible, LastFetchedEpoch.

func init() { regKey(1, 4, 12, handleFetch) }

func handleFetch(r *request) (reply, error) {
	req := r.kreq.(*kmsg.FetchRequest)
	if req.Version >= 7 && req.SessionEpoch != 0 && req.SessionEpoch != -1 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return now(resp)
	}
	req.Topics, _ = dedupTopicParts(req.Topics, fetchTopic, fetchPart)
	var n respSize
	n.elems(len(req.Topics), sizeOf[kmsg.FetchResponseTopic](), 24)
	for _, rt := range req.Topics {
		n.str(len(rt.Topic))
	}
	// The partitions, and the select case each one's wakeup takes.
	n.elems(countParts(req.Topics, fetchTopic), sizeOf[kmsg.FetchResponseTopicPartition]()+sizeOf[reflect.SelectCase](), 64)
	if err := r.reserveResponse("Fetch", n); err != nil {
		var tooLarge *respTooLarge
		if !errors.As(err, &tooLarge) {
			return reply{}, err
		}
		r.c.log.Warn("request refused", "err", err)
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = invalidRequest
		return now(resp)
	}
	ctx := r.c.ctx
	b := r.c.b
	return reply{later: b.met.countFetch(func() (kmsg.Response, error) {
		deadline := time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
		for {
			wake := b.fetchWakeups(req)
			f := b.fetchOnce(req)
			if f.size >= int64(req.MinBytes) || f.hasErr || req.MaxWaitMillis <= 0 {
				return f.reply(r), nil
			}
			wait := time.Until(deadline)
			if wait <= 0 {
				return f.reply(r), nil
			}
			// Not enough yet: this response is read again after the wait.
			f.release(b)
			timer := time.NewTimer(wait)
			cases := append(wake,
				reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)},
				reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
			)
			chosen, _, _ := reflect.Select(cases)
			timer.Stop()
			switch chosen {
			case len(cases) - 1:
				return nil, ctx.Err()
			case len(cases) - 2:
				return b.fetchOnce(req).reply(r), nil
			}
		}
	})}, nil
}

func fetchTopic(t *kmsg.FetchRequestTopic) (string, *[]kmsg.FetchRequestTopicPartition) {
	return t.Topic, &t.Partitions
}

func fetchPart(p *kmsg.FetchRequestTopicPartition) int32 { return p.Partition }

// fetchWakeups returns a select case for each requested partition's
// high-watermark change channel. Taken before reading, so no append between
// the read and the wait can be missed.
func (b *Broker) fetchWakeups(req *kmsg.FetchRequest) []reflect.SelectCase {
	cases := make([]reflect.SelectCase, 0, countParts(req.Topics, fetchTopic)+2)
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			if l := b.partition(rt.Topic, rp.Partition); l != nil {
				cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(l.Changed())})
			}
		}
	}
	return cases
}

// fetched is one read of every requested partition: the response, with
// the record data of large reads left in the segment files, to be sent
// with sendfile (sendfile.go), and small ones copied in.
type fetched struct {
	resp    *kmsg.FetchResponse
	splices []splice
	size    int64 // record bytes, held in --max-fetch-memory
	hasErr  bool  // a partition carries an error: answer at once, as Kafka does
}

// reply hands the response and its fetch memory to r's slot.
func (f *fetched) reply(r *request) kmsg.Response {
	r.holdFetchMemory(f.size)
	if len(f.splices) == 0 {
		return f.resp
	}
	return &splicedResponse{Response: f.resp, splices: f.splices}
}

// release drops a response that will not be sent.
func (f *fetched) release(b *Broker) {
	b.fetchMem.release(f.size)
	for _, s := range f.splices {
		s.data.Release()
	}
}

// fetchOnce reads every requested partition once. The record bytes it
// holds are counted in --max-fetch-memory until the caller releases them
// or hands them to the response's slot.
func (b *Broker) fetchOnce(req *kmsg.FetchRequest) *fetched {
	f := &fetched{resp: req.ResponseKind().(*kmsg.FetchResponse)}
	f.resp.Topics = make([]kmsg.FetchResponseTopic, 0, len(req.Topics))
	budget := int64(req.MaxBytes)
	if req.Version < 3 || budget <= 0 {
		budget = 1<<31 - 1
	}
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic = rt.Topic
		st.TopicID = rt.TopicID
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, 0, len(rt.Partitions))
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.PreferredReadReplica = -1
			l := b.partition(rt.Topic, rp.Partition)
			switch {
			case l == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case rp.CurrentLeaderEpoch > 0:
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			default:
				sp.ErrorCode = b.readPartition(l, rp, req.IsolationLevel == 1, &sp, &budget, f)
			}
			if sp.ErrorCode != 0 {
				f.hasErr = true
				// Kafka answers every partition error, OFFSET_OUT_OF_RANGE
				// included, with unknown (-1) offsets: its read result for
				// an error carries none, and a consumer resets through
				// ListOffsets, not from these fields.
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
				sp.AbortedTransactions = nil
			}
			if sp.RecordBatches == nil {
				// Kafka sends empty, not null, records; older decoders
				// (Sarama before 1.26, which Burrow uses) reject null.
				sp.RecordBatches = []byte{}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		f.resp.Topics = append(f.resp.Topics, st)
	}
	return f
}

// readPartition reads one partition into sp and f. The first batch of the
// response (f still empty) is returned whole even beyond the limits.
//
// A read_committed fetch (committed) gets no batch at or after the last
// stable offset, and the aborted transactions of what it got (an empty
// list when none, null for read_uncommitted, as Kafka sends them).
func (b *Broker) readPartition(l *storage.Log, rp kmsg.FetchRequestTopicPartition, committed bool, sp *kmsg.FetchResponseTopicPartition, budget *int64, f *fetched) int16 {
	first := f.size == 0
	if l.Err() != nil {
		// Fenced (corrupt data or a failed fsync, logged when it
		// happened): never served, even to a consumer at the end.
		return kerr.KafkaStorageError.Code
	}
	if committed {
		sp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	}
	hw, lso := l.HighWatermark(), l.LastStableOffset()
	sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = hw, lso, l.LogStartOffset()
	if rp.FetchOffset >= hw && rp.FetchOffset <= l.LogEndOffset() {
		return 0 // caught up (or ahead of the fsync): nothing to read yet
	}
	if committed && rp.FetchOffset >= lso && rp.FetchOffset <= hw {
		return 0 // at the LSO: the rest waits for its transaction's marker
	}
	max := int64(rp.PartitionMaxBytes)
	if *budget < max {
		max = *budget
	}
	if max <= 0 && !first {
		return 0
	}
	read := l.Read
	if committed {
		read = l.ReadCommitted
	}
	rr, err := read(rp.FetchOffset, int32(max), first)
	if err != nil {
		if errors.Is(err, storage.ErrOffsetOutOfRange) {
			return kerr.OffsetOutOfRange.Code
		}
		b.storageErrs.error("read failed", "log", l.Dir(), "offset", rp.FetchOffset, "err", err)
		return kerr.KafkaStorageError.Code
	}
	// The offsets taken with the read keep the response consistent with its data.
	sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = rr.HighWatermark, rr.LastStableOffset, rr.LogStartOffset
	if committed && rr.Size > 0 {
		for _, t := range l.AbortedTransactions(rp.FetchOffset, rr.NextOffset) {
			at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
			at.ProducerID, at.FirstOffset = t.ProducerID, t.FirstOffset
			sp.AbortedTransactions = append(sp.AbortedTransactions, at)
		}
	}
	if !b.fetchMem.tryAcquire(rr.Size) {
		rr.Release()
		return 0 // --max-fetch-memory reached: no data this time (logged)
	}
	// With the segment files open at their bound (--max-open-files), the
	// data is copied and the file let go at once: a response over many
	// partitions would otherwise keep one descriptor each until written.
	if rr.Size >= sendfileMin && fromOSFiles(rr) && !b.reg.handles.Full() {
		// Sent from the files by the connection's writer, which releases
		// rr. (A read error then closes the connection; files that are
		// not OS files, as in fault-injection tests, are read here, so
		// their errors are answered with KAFKA_STORAGE_ERROR.)
		sp.RecordBatches = newMark(len(f.splices))
		f.splices = append(f.splices, splice{mark: sp.RecordBatches, data: rr})
	} else {
		// A few bytes (a tailing consumer): copying is cheaper.
		buf, err := rr.AppendTo(make([]byte, 0, rr.Size))
		rr.Release()
		if err != nil {
			b.fetchMem.release(rr.Size)
			b.storageErrs.error("read failed", "log", l.Dir(), "offset", rp.FetchOffset, "err", err)
			return kerr.KafkaStorageError.Code
		}
		sp.RecordBatches = buf
	}
	*budget -= rr.Size
	f.size += rr.Size
	return 0
}

// fetchedBytes calls fn with the record bytes of each topic of a Fetch
// response as it is sent, file data of a spliced one included (metrics).
func fetchedBytes(resp kmsg.Response, fn func(topic string, n int64)) {
	var splices []splice
	if r, ok := resp.(*splicedResponse); ok {
		resp, splices = r.Response, r.splices
	}
	fr, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return
	}
	for _, t := range fr.Topics {
		var n int64
		for _, p := range t.Partitions {
			if len(splices) > 0 && len(p.RecordBatches) > 0 && &p.RecordBatches[0] == &splices[0].mark[0] {
				n += splices[0].data.Size
				splices = splices[1:]
				continue
			}
			n += int64(len(p.RecordBatches))
		}
		fn(t.Topic, n)
	}
}
