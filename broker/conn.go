package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// conn serves one client connection.
//
// Requests are read and handled in order, one at a time, so their effects
// happen in the order the client sent them (an OffsetCommit followed by an
// OffsetFetch sees the commit; pipelined produces append in order). A
// handler that must wait (a produce waiting for fsync, a fetch long-poll, a
// JoinGroup waiting for the rebalance) hands back a deferred reply: the read
// loop goes on with the next request while the wait happens in its own
// goroutine. Responses are written strictly in request order by the writer
// goroutine, as the protocol requires.
//
// Limits (limits.go): a request takes an --max-in-flight token before it
// is read and gives it back once its response is written; its frame is
// counted in --max-request-memory until its handler is done; record data
// read for a fetch response is counted in --max-fetch-memory until it is
// written. When the client stops reading (EOF or error), the connection's
// context ends at once, as Kafka closes a connection whose client closed
// it: a long poll or rebalance wait does not outlive its client.
type conn struct {
	b        *Broker
	nc       net.Conn
	log      *slog.Logger
	ctx      context.Context
	cancel   context.CancelFunc
	slots    chan *slot    // in request order
	inflight chan struct{} // a token per request whose response is not written yet
	paused   bool          // --max-in-flight paused reading once (read loop only)
}

// slot is the place of one response in the connection's output order.
type slot struct {
	key  int16
	corr int32
	ver  int16
	done chan struct{}
	resp kmsg.Response // nil = write nothing (acks=0 produce)
	err  error         // non-nil = close the connection

	reqBytes   int64 // --max-request-memory held until the handler is done
	fetchBytes int64 // --max-fetch-memory held until the response is written (set before done)
}

// request is what a handler receives.
type request struct {
	c        *conn
	s        *slot
	kreq     kmsg.Request
	clientID string
}

// holdFetchMemory records that the response being built holds n bytes of
// --max-fetch-memory, released once it is written. Call before returning it.
func (r *request) holdFetchMemory(n int64) { r.s.fetchBytes += n }

// reply is what a handler returns: a response now, or a function that
// produces it later without blocking the connection's read loop.
type reply struct {
	resp  kmsg.Response
	later func() (kmsg.Response, error)
	none  bool // no response at all (acks=0 produce)
}

func now(r kmsg.Response) (reply, error) { return reply{resp: r}, nil }

func newConn(b *Broker, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(b.ctx)
	return &conn{
		b:        b,
		nc:       nc,
		log:      b.log.With("remote", nc.RemoteAddr().String()),
		ctx:      ctx,
		cancel:   cancel,
		slots:    make(chan *slot, b.cfg.MaxInFlight),
		inflight: make(chan struct{}, b.cfg.MaxInFlight),
	}
}

func (c *conn) serve() {
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	err := c.readLoop()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && c.ctx.Err() == nil {
		c.log.Warn("closing connection", "err", err)
	}
	c.cancel() // the client is gone or broke the protocol: stop its waits
	close(c.slots)
	<-writerDone
	c.nc.Close()
}

// takeToken waits for an --max-in-flight token.
func (c *conn) takeToken() error {
	select {
	case c.inflight <- struct{}{}:
		return nil
	default:
	}
	if !c.paused {
		c.paused = true
		c.log.Info("connection has --max-in-flight requests awaiting responses: reading paused until one is written", "max_in_flight", cap(c.inflight))
	}
	select {
	case c.inflight <- struct{}{}:
		return nil
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
}

// complete marks a slot's response ready, returning its request memory.
func (c *conn) complete(s *slot) {
	c.b.reqMem.release(s.reqBytes)
	s.reqBytes = 0
	close(s.done)
}

// finish returns what a slot holds once its response is written (or
// dropped): its fetch memory and its in-flight token.
func (c *conn) finish(s *slot) {
	c.b.fetchMem.release(s.fetchBytes)
	s.fetchBytes = 0
	releaseResponse(s.resp) // segment files of a spliced fetch (sendfile.go)
	<-c.inflight
}

// readLoop reads frames and handles them until an error.
func (c *conn) readLoop() error {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		if err := c.takeToken(); err != nil {
			return err
		}
		s, err := c.readOne(br)
		if err != nil {
			<-c.inflight
			return err
		}
		select {
		case c.slots <- s:
		case <-c.ctx.Done():
			go func() {
				<-s.done
				c.finish(s)
			}()
			return c.ctx.Err()
		}
	}
}

// readOne reads one frame, within --max-request-memory, and handles it.
func (c *conn) readOne(br *bufio.Reader) (*slot, error) {
	var sizeBuf [4]byte
	if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
	if size < 8 { // api key, version, correlation id, client id length
		return nil, fmt.Errorf("invalid frame length %d", size)
	}
	if size > c.b.cfg.MaxRequestBytes {
		return nil, fmt.Errorf("frame of %d bytes exceeds --max-request-bytes %d", size, c.b.cfg.MaxRequestBytes)
	}
	if err := c.b.reqMem.acquire(c.ctx, int64(size)); err != nil {
		return nil, err
	}
	frame := getFrame(int(size))
	if _, err := io.ReadFull(br, frame); err != nil {
		c.b.reqMem.release(int64(size))
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("truncated frame: %w", err)
		}
		return nil, err
	}
	s, err := c.handle(frame)
	if s != nil && s.key == 0 {
		// Produce keeps nothing of its request once its handler returns
		// (the records are in the segment file): reuse the frame.
		putFrame(frame)
	}
	if err != nil {
		// No handler took the frame: nothing else returns its memory.
		c.b.reqMem.release(int64(size))
		return nil, err
	}
	return s, nil
}

// handle decodes one frame and runs its handler, returning the slot its
// response will fill.
func (c *conn) handle(frame []byte) (*slot, error) {
	r := kbin.Reader{Src: frame}
	key := r.Int16()
	ver := r.Int16()
	corr := r.Int32()
	clientID := r.NullableString()
	if !r.Ok() {
		return nil, fmt.Errorf("truncated request header")
	}
	s := &slot{key: key, corr: corr, ver: ver, done: make(chan struct{}), reqBytes: int64(len(frame))}
	api, known := apis[key]
	if !known {
		// Apache Kafka cannot parse the header of an unknown API and closes
		// the connection; so do we.
		return nil, fmt.Errorf("unknown API key %d (client %q)", key, deref(clientID))
	}
	kreq := kmsg.RequestForKey(key)
	if ver < api.min || ver > api.max {
		if key == 18 { // ApiVersions: answer v0 with UNSUPPORTED_VERSION (KIP-511)
			s.resp = unsupportedApiVersions()
			s.ver = 0
			c.complete(s)
			return s, nil
		}
		return nil, fmt.Errorf("unsupported %s version %d (supported %d-%d, client %q)", kmsg.NameForKey(key), ver, api.min, api.max, deref(clientID))
	}
	kreq.SetVersion(ver)
	if kreq.IsFlexible() {
		// Request header v2: tagged fields after the client id.
		skipTags(&r)
		if !r.Ok() {
			return nil, fmt.Errorf("truncated %s request header", kmsg.NameForKey(key))
		}
	}
	if err := kreq.ReadFrom(r.Src); err != nil {
		return nil, fmt.Errorf("cannot decode %s v%d: %w", kmsg.NameForKey(key), ver, err)
	}
	observe := c.b.met.request(key)
	rep, err := api.fn(&request{c: c, s: s, kreq: kreq, clientID: deref(clientID)})
	if err != nil {
		return nil, err
	}
	switch {
	case rep.none:
		observe()
		c.complete(s)
	case rep.later != nil:
		go func() {
			s.resp, s.err = rep.later()
			observe()
			c.complete(s)
		}()
	default:
		s.resp = rep.resp
		observe()
		c.complete(s)
	}
	return s, nil
}

func (c *conn) writeLoop() {
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	var buf []byte
	broken := false
	flush := func() {
		if !broken && bw.Flush() != nil {
			broken = true
		}
	}
	for s := range c.slots {
		select {
		case <-s.done:
		default:
			flush() // push what is ready before waiting on a slow reply
			<-s.done
		}
		c.writeOne(bw, &buf, s, &broken)
		c.finish(s)
		if len(c.slots) == 0 {
			flush()
		}
	}
	flush()
}

func (c *conn) writeOne(bw *bufio.Writer, buf *[]byte, s *slot, broken *bool) {
	if *broken {
		return // keep draining so deferred handlers never block
	}
	if s.err != nil {
		if c.ctx.Err() == nil {
			c.log.Warn("closing connection", "api", kmsg.NameForKey(s.key), "err", s.err)
		}
		*broken = true
		c.nc.Close()
		return
	}
	if s.resp == nil {
		return
	}
	if r, ok := s.resp.(*splicedResponse); ok {
		var err error
		if *buf, err = c.writeSpliced(bw, *buf, s, r); err != nil {
			// Part of the frame may be out: the stream is broken.
			if c.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				c.log.Warn("closing connection", "api", kmsg.NameForKey(s.key), "err", err)
			}
			*broken = true
			c.nc.Close()
		}
		return
	}
	*buf = appendResponse((*buf)[:0], s)
	if _, err := bw.Write(*buf); err != nil {
		*broken = true
	}
	if cap(*buf) > 1<<20 {
		// Do not keep a large fetch response's buffer for the life of
		// the connection.
		*buf = nil
	}
}

// appendResponse frames one response: size, correlation id, header tags
// where the version is flexible, body.
func appendResponse(buf []byte, s *slot) []byte {
	s.resp.SetVersion(s.ver)
	buf = append(buf, 0, 0, 0, 0)
	buf = kbin.AppendInt32(buf, s.corr)
	// Response header v1 (tagged fields) for flexible versions, except
	// ApiVersions, whose response header is always v0.
	if s.resp.IsFlexible() && s.key != 18 {
		buf = append(buf, 0)
	}
	buf = s.resp.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	return buf
}

func skipTags(r *kbin.Reader) {
	n := r.Uvarint()
	for i := uint32(0); i < n && r.Ok(); i++ {
		r.Uvarint()              // tag
		r.Span(int(r.Uvarint())) // value
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
