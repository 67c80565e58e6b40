package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rewindhq/rewind/storage"
)

// The live tail: GET /api/v1/topics/{topic}/tail?partition=P streams, as
// server-sent events, the records appended to the partition from the
// high watermark on (or from offset=N, or from=oldest), through the
// browser's filters (key=, value=, header=, match=regex).
//
//	event: start    {"next":N,"high_watermark":H}
//	event: records  {"records":[...],"next":N,"high_watermark":H,"scanned":k}
//	event: end      {"reason":"..."}        the server ends the tail
//
// Each start and records event carries its next offset as the event id,
// so a browser's EventSource that reconnects after a dropped connection
// sends it back (Last-Event-ID) and the tail goes on from there, missing
// nothing.
//
// It reads through the Broker interface like the browser (no Kafka
// connection, so `rewind monitor` tails the same way), polling every
// tailEvery: each poll examines at most tailScan records and sends at
// most tailBatch, so a fast producer makes the tail fall behind
// (high_watermark - next says by how much), never the server's work or
// memory grow. At most maxTails run at once (then 503). A tail ends when
// its client goes away (the request's context; a ping every tailPing
// finds a peer that vanished without closing), when the server closes,
// when its topic is deleted, and after tailLifetime in any case, so a
// forgotten tab cannot hold one for ever; the console closes its
// EventSource when the view changes or the tab is hidden.
const (
	maxTails     = 8
	tailEvery    = 500 * time.Millisecond
	tailBehind   = 50 * time.Millisecond
	tailPing     = 15 * time.Second
	tailLifetime = 30 * time.Minute
	tailScan     = 2000
	tailBatch    = 200
)

// tailSet counts the live tails and ends them when the server closes.
type tailSet struct {
	mu     sync.Mutex
	n      int
	stop   chan struct{}
	closed bool
}

func (ts *tailSet) add() (<-chan struct{}, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.stop == nil {
		ts.stop = make(chan struct{})
	}
	if ts.closed || ts.n >= maxTails {
		return nil, false
	}
	ts.n++
	return ts.stop, true
}

func (ts *tailSet) done() {
	ts.mu.Lock()
	ts.n--
	ts.mu.Unlock()
}

// close ends every tail (before the HTTP server's Shutdown, which waits
// for requests in flight and would otherwise wait for the tails).
func (ts *tailSet) close() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.stop == nil {
		ts.stop = make(chan struct{})
	}
	if !ts.closed {
		ts.closed = true
		close(ts.stop)
	}
}

// Tails is how many live tails are being served.
func (s *Server) Tails() int {
	s.tails.mu.Lock()
	defer s.tails.mu.Unlock()
	return s.tails.n
}

type tailEvent struct {
	Records       []recordView `json:"records,omitempty"`
	Next          int64        `json:"next"`
	HighWatermark int64        `json:"high_watermark"`
	Scanned       int          `json:"scanned,omitempty"`
}

func (s *Server) tail(w http.ResponseWriter, r *http.Request) {
	name, q := r.PathValue("topic"), r.URL.Query()
	part, pi, ok := s.browsed(w, r)
	if !ok {
		return
	}
	f, err := parseFilter(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	next := pi.HighWatermark
	switch {
	case q.Get("offset") != "":
		o, err := parseOffset("offset", q.Get("offset"))
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		next = o
	case q.Get("from") == "oldest":
		next = pi.LogStart
	case q.Get("from") == "", q.Get("from") == "newest":
	default:
		writeError(w, http.StatusBadRequest, fmt.Errorf("from %q: use oldest or newest", q.Get("from")))
		return
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		if o, err := strconv.ParseInt(id, 10, 64); err == nil && o >= 0 {
			next = o // a reconnection: on from where the last event left
		}
	}
	stop, ok := s.tails.add()
	if !ok {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("%d live tails are open already: close one (a tab that tails) and retry", maxTails))
		return
	}
	defer s.tails.done()

	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no") // proxies: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	send := func(event string, id int64, v any) bool {
		b, _ := json.Marshal(v)
		idLine := ""
		if id >= 0 {
			idLine = fmt.Sprintf("id: %d\n", id)
		}
		if _, err := fmt.Fprintf(w, "event: %s\n%sdata: %s\n\n", event, idLine, b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	end := func(reason string) { send("end", -1, map[string]string{"reason": reason}) }
	if !send("start", next, tailEvent{Next: next, HighWatermark: pi.HighWatermark}) {
		return
	}
	ping := time.NewTicker(tailPing)
	defer ping.Stop()
	life := time.NewTimer(tailLifetime)
	defer life.Stop()
	wait := time.NewTimer(0)
	defer wait.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-stop:
			end("the console's server is shutting down")
			return
		case <-life.C:
			end(fmt.Sprintf("a live tail stops after %v: resume it to go on", tailLifetime))
			return
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return
			}
			continue
		case <-wait.C:
		}
		ti, ok := s.b.Topic(name)
		if !ok || int(part) >= len(ti.Partitions) {
			end(fmt.Sprintf("topic %q was deleted", name))
			return
		}
		pi := ti.Partitions[part]
		next = max(next, pi.LogStart) // retention deleted what it was at
		delay := tailEvery
		if next < pi.HighWatermark {
			got, err := s.tailRead(r, name, part, next, pi.HighWatermark, f)
			if errors.Is(err, errBusy) {
				wait.Reset(delay)
				continue
			}
			if errors.Is(err, storage.ErrDecodeLimit) {
				end(fmt.Sprintf("the records at offset %d are larger than the console decodes (64 MiB); read them with a Kafka client", next))
				return
			}
			if err != nil {
				end(err.Error())
				return
			}
			ev := tailEvent{Records: []recordView{}, Next: got.next, HighWatermark: pi.HighWatermark, Scanned: got.n}
			for _, rec := range got.recs {
				ev.Records = append(ev.Records, viewRecord(rec))
			}
			if !send("records", got.next, ev) {
				return
			}
			next = got.next
			if next < pi.HighWatermark {
				delay = tailBehind
			}
		}
		wait.Reset(delay)
	}
}

var errBusy = errors.New("the message browser is busy")

// tailRead reads one poll's records with one of the browser's read
// slots; when both are taken it skips the poll (errBusy) rather than wait.
func (s *Server) tailRead(r *http.Request, name string, part int32, from, end int64, f *recordFilter) (scanned, error) {
	select {
	case s.browsing <- struct{}{}:
		defer func() { <-s.browsing }()
	default:
		return scanned{}, errBusy
	}
	return s.scanForward(r.Context(), name, part, from, end, tailBatch, f, newBudget(tailScan))
}
