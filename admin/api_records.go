package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/rewindhq/rewind/broker"
	"github.com/rewindhq/rewind/storage"
)

// The message browser's filter and scan. A filtered page reads records
// until it has `limit` matches, but never more than one scan's worth of
// work: maxScan records, about scanBytes of record data (the sizes the
// records state; the decoders stop at the same budget) and scanTime of
// reading. Where it stops early the page says so (stopped) and where to
// go on from (next, or from for a backwards scan), so a search through a
// long log is a series of bounded requests, never one unbounded one.
// Filters see the first maxShown bytes of each key, value and header, the
// part the browser shows.
const (
	maxScan     = 10_000
	scanChunk   = 2000
	scanBytes   = pageDecoded
	scanTime    = 2 * time.Second
	maxPattern  = 1 << 10
	stopRecords = "the scan stops after 10,000 records per request"
	stopBytes   = "the scan stops after 64 MiB of records per request"
	stopTime    = "the scan stops after 2 s per request"
)

// matcher tests a key, a value or a header ("key=value").
type matcher func([]byte) bool

// recordFilter selects records: every filter given must match (and).
type recordFilter struct {
	key, value, header matcher
}

func (f *recordFilter) active() bool {
	return f != nil && (f.key != nil || f.value != nil || f.header != nil)
}

func (f *recordFilter) match(r storage.RecordPreview) bool {
	if !f.active() {
		return true
	}
	if f.key != nil && (r.Key == nil || !f.key(r.Key)) {
		return false
	}
	if f.value != nil && (r.Value == nil || !f.value(r.Value)) {
		return false
	}
	if f.header != nil {
		for _, h := range r.Headers {
			if f.header(append([]byte(h.Key+"="), h.Value...)) {
				return true
			}
		}
		return false
	}
	return true
}

// parseFilter reads key=, value= and header= (substrings, or Go regular
// expressions with match=regex: RE2, linear in the input, so a pattern
// cannot make a scan slow).
func parseFilter(q url.Values) (*recordFilter, error) {
	regex := false
	switch q.Get("match") {
	case "", "substring":
	case "regex":
		regex = true
	default:
		return nil, fmt.Errorf("match %q: use substring or regex", q.Get("match"))
	}
	f := &recordFilter{}
	for _, c := range []struct {
		name string
		m    *matcher
	}{{"key", &f.key}, {"value", &f.value}, {"header", &f.header}} {
		v := q.Get(c.name)
		if v == "" {
			continue
		}
		if len(v) > maxPattern {
			return nil, fmt.Errorf("%s filter: at most %d bytes", c.name, maxPattern)
		}
		if !regex {
			sub := []byte(v)
			*c.m = func(b []byte) bool { return bytes.Contains(b, sub) }
			continue
		}
		re, err := regexp.Compile(v)
		if err != nil {
			return nil, fmt.Errorf("%s filter: %v", c.name, err)
		}
		*c.m = re.Match
	}
	return f, nil
}

// scanned is what one bounded scan found.
type scanned struct {
	recs    []storage.RecordPreview
	next    int64 // the first offset not examined
	n       int   // records examined
	stopped string
}

// scanForward examines records of topic/part from `from` up to end
// (exclusive) until it has limit matches or reaches a bound.
func (s *Server) scanForward(ctx context.Context, topic string, part int32, from, end int64, limit int, f *recordFilter, budget *scanBudget) (scanned, error) {
	out := scanned{next: from}
	for out.next < end && len(out.recs) < limit {
		if why := budget.exhausted(ctx); why != "" {
			out.stopped = why
			break
		}
		n := min(scanChunk, budget.maxRecords-budget.records)
		if !f.active() {
			n = min(n, limit-len(out.recs))
		}
		chunk, err := s.b.ReadRecords(topic, part, out.next, n,
			storage.PreviewLimits{MaxField: maxShown, MaxHeaders: maxHeaders, MaxDecoded: scanBytes - budget.bytes})
		if errors.Is(err, storage.ErrDecodeLimit) && budget.records > 0 {
			out.stopped = stopBytes // what is left of the budget does not hold the next batch
			break
		}
		if err != nil {
			return out, err
		}
		if len(chunk) == 0 {
			break // the log's end
		}
		for _, r := range chunk {
			if r.Offset >= end {
				out.next = end
				return out, nil
			}
			out.n++
			budget.records++
			budget.bytes += int64(max(r.KeyLen, 0) + max(r.ValueLen, 0))
			for _, h := range r.Headers {
				budget.bytes += int64(len(h.Key) + len(h.Value))
			}
			out.next = r.Offset + 1
			if f.match(r) {
				out.recs = append(out.recs, r)
				if len(out.recs) >= limit {
					break
				}
			}
		}
	}
	return out, nil
}

// scanBackward finds the last limit matches below end, scanning windows
// of scanChunk offsets back towards logStart. It returns them in offset
// order with the lowest offset the answer covers (every match in
// [from, end) is in it).
func (s *Server) scanBackward(ctx context.Context, topic string, part int32, logStart, end int64, limit int, f *recordFilter, budget *scanBudget) (recs []storage.RecordPreview, from int64, n int, stopped string, err error) {
	from = end
	for from > logStart && len(recs) < limit {
		lo := max(logStart, from-int64(scanChunk))
		if !f.active() {
			lo = max(logStart, from-int64(limit-len(recs)))
		}
		got, err := s.scanForward(ctx, topic, part, lo, from, maxScan, f, budget)
		n += got.n
		if err != nil {
			return recs, from, n, "", err
		}
		if got.stopped != "" && got.next < from {
			// The window was cut short: keep what it found only if
			// it reached from, so that the answer stays contiguous.
			return recs, from, n, got.stopped, nil
		}
		recs = append(got.recs, recs...)
		from = lo
		if why := budget.exhausted(ctx); why != "" && from > logStart && len(recs) < limit {
			return recs, from, n, why, nil
		}
	}
	if len(recs) > limit {
		recs = recs[len(recs)-limit:]
		from = recs[0].Offset
	}
	return recs, from, n, "", nil
}

// scanBudget is the work one request may do.
type scanBudget struct {
	records, maxRecords int
	bytes               int64
	deadline            time.Time
}

func newBudget(maxRecords int) *scanBudget {
	return &scanBudget{maxRecords: maxRecords, deadline: time.Now().Add(scanTime)}
}

func (b *scanBudget) exhausted(ctx context.Context) string {
	switch {
	case b.records >= b.maxRecords:
		return stopRecords
	case b.bytes >= scanBytes:
		return stopBytes
	case time.Now().After(b.deadline), ctx.Err() != nil:
		return stopTime
	}
	return ""
}

// records serves the message browser: ?partition=P and one of
// offset=N, from=oldest|newest, time=RFC3339 (or Unix milliseconds), with
// limit (default 50, at most 500); end_offset=N or end_time=T end the range
// (exclusive; default the high watermark), and key=, value=, header=
// (with match=regex) filter it. from=newest reads backwards from the end.
func (s *Server) records(w http.ResponseWriter, r *http.Request) {
	name, q := r.PathValue("topic"), r.URL.Query()
	part, pi, ok := s.browsed(w, r)
	if !ok {
		return
	}
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("limit %q: give a positive number", v))
			return
		}
		limit = min(n, 500)
	}
	f, err := parseFilter(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	end, err := s.rangeEnd(q, name, part, pi)
	if err != nil {
		writeError(w, errorStatus(err), err)
		return
	}
	from, backward := pi.LogStart, false
	switch {
	case q.Get("offset") != "":
		o, err := parseOffset("offset", q.Get("offset"))
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		from = max(o, pi.LogStart)
	case q.Get("time") != "":
		t, err := parseTime(q.Get("time"), time.Now())
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		if from, err = s.b.OffsetForTime(name, part, t); err != nil {
			writeError(w, errorStatus(err), err)
			return
		}
	case q.Get("from") == "newest":
		backward = true
	case q.Get("from") == "", q.Get("from") == "oldest":
	default:
		writeError(w, http.StatusBadRequest, fmt.Errorf("from %q: use oldest or newest", q.Get("from")))
		return
	}
	if !s.takeBrowsing(w, r) {
		return
	}
	defer func() { <-s.browsing }()
	page := recordPage{Topic: name, Partition: part, LogStart: pi.LogStart, HighWatermark: pi.HighWatermark,
		End: end, Filtered: f.active(), Records: []recordView{}}
	budget := newBudget(maxScan)
	var recs []storage.RecordPreview
	if backward {
		recs, page.From, page.Scanned, page.Stopped, err = s.scanBackward(r.Context(), name, part, pi.LogStart, end, limit, f, budget)
		page.Next = end
	} else {
		var got scanned
		got, err = s.scanForward(r.Context(), name, part, from, end, limit, f, budget)
		recs, page.From, page.Next, page.Scanned, page.Stopped = got.recs, from, got.next, got.n, got.stopped
	}
	if errors.Is(err, storage.ErrDecodeLimit) {
		writeError(w, http.StatusUnprocessableEntity, errors.New(browseLimits))
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	for _, rec := range recs {
		page.Records = append(page.Records, viewRecord(rec))
	}
	writeJSON(w, http.StatusOK, page)
}

// takeBrowsing waits up to browseWait for one of the maxBrowsing reads;
// false when it answered the request instead.
func (s *Server) takeBrowsing(w http.ResponseWriter, r *http.Request) bool {
	select {
	case s.browsing <- struct{}{}:
		return true
	case <-time.After(browseWait):
		w.Header().Set("Retry-After", browseRetry)
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("the message browser is busy with %d other reads; retry in a moment", maxBrowsing))
	case <-r.Context().Done():
	}
	return false
}

// browsed reads the topic (from the path) and ?partition= of a browser
// or tail request; false when it answered the request with their error.
func (s *Server) browsed(w http.ResponseWriter, r *http.Request) (int32, broker.PartitionInfo, bool) {
	name := r.PathValue("topic")
	ti, ok := s.b.Topic(name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("unknown topic %q", name))
		return 0, broker.PartitionInfo{}, false
	}
	part, err := parsePartition(r.URL.Query().Get("partition"), ti)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return 0, broker.PartitionInfo{}, false
	}
	return part, ti.Partitions[part], true
}

// parseOffset reads the offset v of the parameter param.
func parseOffset(param, v string) (int64, error) {
	o, err := strconv.ParseInt(v, 10, 64)
	if err != nil || o < 0 {
		return 0, fmt.Errorf("%s %q: give a non-negative number", param, v)
	}
	return o, nil
}

func parsePartition(v string, ti broker.TopicInfo) (int32, error) {
	if v == "" {
		return 0, nil
	}
	p, err := strconv.ParseInt(v, 10, 32)
	if err != nil || p < 0 || int(p) >= len(ti.Partitions) {
		return 0, fmt.Errorf("partition %q: topic %q has partitions 0 to %d", v, ti.Name, len(ti.Partitions)-1)
	}
	return int32(p), nil
}

// rangeEnd is the exclusive end of the records asked for: end_offset,
// the first offset at or after end_time, or the high watermark.
func (s *Server) rangeEnd(q url.Values, name string, part int32, pi broker.PartitionInfo) (int64, error) {
	end := pi.HighWatermark
	if v := q.Get("end_offset"); v != "" {
		o, err := parseOffset("end_offset", v)
		if err != nil {
			return 0, err
		}
		end = min(end, o)
	}
	if v := q.Get("end_time"); v != "" {
		t, err := parseTime(v, time.Now())
		if err != nil {
			return 0, fmt.Errorf("end_time: %w", err)
		}
		o, err := s.b.OffsetForTime(name, part, t)
		if err != nil {
			return 0, err
		}
		end = min(end, o)
	}
	return end, nil
}

func viewRecord(rec storage.RecordPreview) recordView {
	v := recordView{Offset: rec.Offset, Timestamp: time.UnixMilli(rec.Timestamp).UTC(), ValueBytes: max(rec.ValueLen, 0), Headers: []headerView{}}
	v.Key, v.KeyEncoding = show(rec.Key, rec.KeyLen > len(rec.Key))
	v.Value, v.ValueEncoding = show(rec.Value, rec.ValueLen > len(rec.Value))
	v.Truncated = rec.KeyLen > len(rec.Key) || rec.ValueLen > len(rec.Value) || rec.NHeaders > len(rec.Headers)
	for _, h := range rec.Headers {
		hv, enc := show(h.Value, false)
		hs := ""
		if hv != nil {
			hs = *hv
		}
		v.Headers = append(v.Headers, headerView{Key: h.Key, Value: hs, Encoding: enc})
	}
	return v
}
