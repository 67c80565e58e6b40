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
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// conn serves one client connection.
//
// Requests are read and handled in order, one at a time, so their effects
// happen in the order the client sent them (pipelined produces and commits
// append in order; an OffsetFetch waits for the commits before it, whose
// answers wait for fsync, so it sees them: groups.go). A
// handler that must wait (a produce waiting for fsync, a fetch long-poll, a
// JoinGroup waiting for the rebalance) hands back a deferred reply: the read
// loop goes on with the next request while the wait happens in its own
// goroutine. Responses are written strictly in request order by the writer
// goroutine, as the protocol requires.
//
// Limits (limits.go): a request takes an --max-in-flight token before it
// is read and gives it back once its response is written; its frame is
// counted in --max-request-memory as it arrives and until its handler is
// done (with what decoding it may take, for large frames: decodemem.go,
// produceskim.go); record data read for a fetch response is counted in
// --max-fetch-memory until it is written. A frame must arrive within
// --request-read-timeout of its first byte, a response must be taken by
// the socket within --response-write-timeout, and a connection idle for
// --connections-max-idle is closed. When the client stops reading (EOF or
// error), the connection's context ends at once, as Kafka closes a
// connection whose client closed it: a long poll or rebalance wait does
// not outlive its client.
type conn struct {
	b        *Broker
	nc       net.Conn
	id       uint64 // unique in the broker's run, for its fetch positions
	log      *slog.Logger
	ctx      context.Context
	cancel   context.CancelFunc
	slots    chan *slot    // in request order
	inflight chan struct{} // a token per request whose response is not written yet
	paused   bool          // --max-in-flight paused reading once (read loop only)
	// commitsDone is closed once the last OffsetCommit read, and every
	// one before it, is applied; nil before the first (read loop only).
	commitsDone chan struct{}

	mem       *memUser     // this connection's --max-request-memory account
	lastRead  time.Time    // when the last frame started (read loop only)
	lastWrite atomic.Int64 // when the last response was written, unix ns
	frameDL   time.Time    // the frame being read must arrive by then (read loop only)
	readDL    time.Time    // the read deadline set on nc (read loop only)

	lis *listener    // the listener it came in on (listeners.go); nil in some tests
	sec connSecurity // TLS principal and SASL state (security.go)

	// groupHost is the client host the group coordinator reports ("/"
	// and the remote IP, Kafka's clientHost), computed once per connection.
	groupHost string

	// The client software its ApiVersions v3+ named (read loop only), for
	// client telemetry's match patterns.
	swName, swVersion string
	// telemetryID is the client instance its telemetry requests named
	// (read loop only), forgotten when the connection closes.
	telemetryID [16]byte
	// mutedUntil (unix ns): a throttled request mutes the connection,
	// nothing more is read from it until then (KIP-219, quota_conn.go).
	mutedUntil atomic.Int64
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
	respBytes  int64 // --max-response-memory held until the response is written (respmem.go)
	closeAfter bool  // close the connection once the response is written (failed SASL authentication)

	// throttle is the request's throttle time in ms (quota_conn.go);
	// noRequestQuota exempts it from request_percentage (acks=0).
	throttle       int32
	muted          int32 // the throttle the connection was muted for
	noRequestQuota bool

	logged    bool      // goes to the request log once answered (reqlog.go)
	logStart  time.Time // when its header was read, for the request log
	logClient string
}

// request is what a handler receives.
type request struct {
	c        *conn
	s        *slot
	kreq     kmsg.Request
	clientID string
	size     int // the frame's size, header included (Kafka's request.sizeInBytes)
}

// holdFetchMemory records that the response being built holds n bytes of
// --max-fetch-memory, released once it is written. Call before returning it.
func (r *request) holdFetchMemory(n int64) { r.s.fetchBytes += n }

// reply is what a handler returns: a response now, or a function that
// produces it later without blocking the connection's read loop.
type reply struct {
	resp  kmsg.Response
	later func() (kmsg.Response, error)
	// async, instead of later, arranges for finish to be called once,
	// from whichever goroutine completes the reply (a log's syncer),
	// with neither blocking: no worker waits for it.
	async func(finish func(kmsg.Response, error))
	none  bool // no response at all (acks=0 produce)
}

func now(r kmsg.Response) (reply, error) { return reply{resp: r}, nil }

func newConn(b *Broker, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(b.ctx)
	c := &conn{
		b:        b,
		nc:       nc,
		id:       b.connSeq.Add(1),
		log:      b.log.With("remote", nc.RemoteAddr().String()),
		ctx:      ctx,
		cancel:   cancel,
		slots:    make(chan *slot, b.cfg.MaxInFlight),
		inflight: make(chan struct{}, b.cfg.MaxInFlight),
		mem:      &memUser{},
		lastRead: time.Now(),
	}
	host := nc.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	c.groupHost = "/" + host
	return c
}

func (c *conn) serve() {
	if err := c.secure(); err != nil {
		c.cancel()
		c.nc.Close()
		return
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	err := c.readLoop()
	switch {
	case err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || c.ctx.Err() != nil:
	case errors.Is(err, errIdle):
		c.log.Debug("closing idle connection", "idle", c.b.cfg.ConnectionsMaxIdle)
	case errors.Is(err, errUnserved):
		c.log.Debug("closing connection", "err", err) // logged once per client: unserved.go
	case errors.Is(err, errSessionExpired):
		c.log.Info("closing connection", "err", err)
	case errors.Is(err, errReadTimeout):
		c.b.slowConns.warn("closing connection", "remote", c.nc.RemoteAddr().String(), "err", err)
	default:
		c.log.Warn("closing connection", "err", err)
	}
	c.cancel() // the client is gone or broke the protocol: stop its waits
	close(c.slots)
	<-writerDone
	c.nc.Close()
	c.b.shares.connClosed(c.id) // share_groups.go
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
	if s.logged {
		c.logAnswered(s)
	}
	c.b.reqMem.releaseUser(c.mem, s.reqBytes)
	s.reqBytes = 0
	close(s.done)
}

// finish returns what a slot holds once its response is written (or
// dropped): its fetch memory and its in-flight token.
func (c *conn) finish(s *slot) {
	c.b.fetchMem.release(s.fetchBytes)
	s.fetchBytes = 0
	c.b.respMem.release(s.respBytes)
	s.respBytes = 0
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
		if err := c.waitMuted(); err != nil {
			<-c.inflight
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

var (
	errIdle        = errors.New("idle connection")
	errReadTimeout = errors.New("frame not read in time")
	errUnserved    = errors.New("request not served")
)

// readOne reads one frame, within --max-request-memory, and handles it.
func (c *conn) readOne(br *bufio.Reader) (*slot, error) {
	if err := c.awaitFrame(br); err != nil {
		return nil, err
	}
	var sizeBuf [4]byte
	if err := c.readFull(br, sizeBuf[:], 0); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
	if size < c.minFrame() { // api key, version, correlation id, client id length
		return nil, fmt.Errorf("invalid frame length %d", size)
	}
	if size > saslMaxReceiveSize && c.sec.state != saslDone {
		return nil, fmt.Errorf("frame of %d bytes before SASL authentication exceeds %d bytes (Kafka's sasl.server.max.receive.size)", size, saslMaxReceiveSize)
	}
	if size > c.b.cfg.MaxRequestBytes {
		return nil, fmt.Errorf("frame of %d bytes exceeds --max-request-bytes %d", size, c.b.cfg.MaxRequestBytes)
	}
	charge, key := int64(size), int16(-1)
	if int(size) > br.Size() {
		// What decoding may take depends on the API (decodemem.go): read
		// its key before anything is reserved.
		if err := c.peekFull(br, 2, 4); err != nil {
			return nil, err
		}
		k, _ := br.Peek(2)
		key = int16(binary.BigEndian.Uint16(k))
		charge = decodeCharge(key, int64(size))
		if err := c.checkCharge(key, int64(size), charge); err != nil {
			return nil, err
		}
	}
	frame, charge, err := c.readFrame(br, int(size), key, charge)
	if err != nil {
		return nil, err
	}
	s, err := c.handle(frame, charge)
	if s != nil && s.key == 0 {
		// Produce keeps nothing of its request once its handler returns
		// (the records are in the segment file): reuse the frame.
		putFrame(frame)
	}
	if err != nil {
		// No handler took the frame: nothing else returns its memory.
		c.b.reqMem.releaseUser(c.mem, charge)
		return nil, err
	}
	return s, nil
}

// awaitFrame waits for the first byte of the next frame and starts its
// --request-read-timeout. A connection that has read, written and awaited
// nothing for --connections-max-idle is closed (errIdle).
func (c *conn) awaitFrame(br *bufio.Reader) error {
	idle := c.b.cfg.ConnectionsMaxIdle
	for br.Buffered() == 0 {
		var dl time.Time
		if idle > 0 {
			dl = c.lastActive().Add(idle)
			if c.awaiting() {
				dl = time.Now().Add(idle)
			}
		}
		c.setReadDeadline(dl)
		_, err := br.Peek(1)
		if err == nil {
			break
		}
		if idle == 0 || !isTimeout(err) {
			return err
		}
		if !c.awaiting() && !time.Now().Before(c.lastActive().Add(idle)) {
			return errIdle
		}
		// A response went out or is awaited meanwhile: wait again.
	}
	if err := c.waitMuted(); err != nil { // muted while it waited
		return err
	}
	c.lastRead = time.Now()
	c.frameDL = time.Time{}
	if t := c.b.cfg.RequestReadTimeout; t > 0 {
		c.frameDL = c.lastRead.Add(t)
	}
	return nil
}

// lastActive is when the connection last read a frame or wrote a response.
func (c *conn) lastActive() time.Time {
	if w := time.Unix(0, c.lastWrite.Load()); w.After(c.lastRead) {
		return w
	}
	return c.lastRead
}

// awaiting reports whether responses are pending (besides the token the
// read loop holds for the next frame): the connection is not idle then.
func (c *conn) awaiting() bool { return len(c.inflight) > 1 }

func (c *conn) setReadDeadline(t time.Time) {
	if !t.Equal(c.readDL) {
		c.nc.SetReadDeadline(t)
		c.readDL = t
	}
}

// readFull reads len(p) bytes of the current frame, of which got were
// read before, within the frame's deadline.
func (c *conn) readFull(br *bufio.Reader, p []byte, got int) error {
	if br.Buffered() >= len(p) {
		_, err := io.ReadFull(br, p) // no socket read: no deadline to set
		return err
	}
	c.setReadDeadline(c.frameDL)
	n, err := io.ReadFull(br, p)
	if err == nil {
		return nil
	}
	return c.frameErr(err, got+n)
}

// peekFull waits, within the frame's deadline, until the next n bytes of
// the current frame (got read before) are in br, whose size n must not
// exceed.
func (c *conn) peekFull(br *bufio.Reader, n, got int) error {
	if br.Buffered() >= n {
		return nil
	}
	c.setReadDeadline(c.frameDL)
	if _, err := br.Peek(n); err != nil {
		return c.frameErr(err, got+br.Buffered())
	}
	return nil
}

// frameErr is the error of a frame whose reading failed after got bytes.
func (c *conn) frameErr(err error, got int) error {
	switch {
	case isTimeout(err):
		return fmt.Errorf("%w: %d bytes of a frame received within --request-read-timeout %v", errReadTimeout, got, c.b.cfg.RequestReadTimeout)
	case got > 0 && errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("truncated frame: %w", io.ErrUnexpectedEOF)
	}
	return err
}

// take reserves n bytes of --max-request-memory for the frame being read
// (f nil: the whole frame). Time spent waiting for memory is the broker's,
// not the client's: it is added to the frame's deadline.
func (c *conn) take(f *memFrame, n int64) error {
	start := time.Now()
	waited, err := c.b.reqMem.take(c.ctx, c.mem, f, n)
	if waited && !c.frameDL.IsZero() {
		c.frameDL = c.frameDL.Add(time.Since(start))
	}
	return err
}

// readFrame reads a frame of size bytes, reserving its memory as it
// arrives. A frame that fits the connection's read buffer (Metadata,
// heartbeats, commits: what the pool's reserve is for) is reserved once
// it is there whole, so a client trickling one holds nothing of the pool,
// however many connections do it. A larger one is reserved a chunk at a
// time, each chunk before it is read, so a frame that declares a large
// size and arrives slowly holds no more than it has been sent (and one
// chunk), and never the reserve. The chunks of a frame larger than one
// are copied into one buffer once all have arrived. What decoding is
// charged beyond the frame (charge - size, decodemem.go) is reserved once
// the frame is there, as the frame's last chunk; for a Produce (key 0)
// it is known only then (produceskim.go). It returns the frame and its
// charge.
func (c *conn) readFrame(br *bufio.Reader, size int, key int16, charge int64) ([]byte, int64, error) {
	if size <= br.Size() {
		if err := c.peekFull(br, size, 4); err != nil {
			return nil, 0, err
		}
		if err := c.take(nil, charge); err != nil {
			return nil, 0, err
		}
		frame := getFrame(size)
		io.ReadFull(br, frame) // buffered: cannot fail
		return frame, charge, nil
	}
	f := c.b.reqMem.newFrame(c.mem, charge)
	chunks := make([][]byte, 0, (size+frameChunk-1)/frameChunk)
	defer func() {
		for _, ch := range chunks {
			putFrame(ch)
		}
	}()
	for got := 0; got < size; {
		n := min(frameChunk, size-got)
		if err := c.take(f, int64(n)); err != nil {
			c.b.reqMem.dropFrame(f)
			return nil, 0, err
		}
		ch := getFrame(n)
		chunks = append(chunks, ch)
		if err := c.readFull(br, ch, 4+got); err != nil {
			c.b.reqMem.dropFrame(f)
			return nil, 0, err
		}
		got += n
	}
	frame := chunks[0]
	if len(chunks) == 1 {
		chunks = nil // not given back by the deferred function
	} else {
		frame = getFrame(size)
		at := 0
		for _, ch := range chunks {
			at += copy(frame[at:], ch)
			putFrame(ch)
		}
		chunks = nil // given back: not held while decoding memory is awaited
	}
	if key == 0 && int64(size) > decodeThreshold {
		charge = produceDecodeCharge(frame)
		err := c.checkCharge(key, int64(size), charge)
		if err == nil && !c.b.reqMem.extendFrame(f, charge-int64(size)) {
			err = fmt.Errorf("Produce request of %d bytes would take up to %d bytes while decoded, more than --max-request-memory has left beside the frames being read: the connection is closed (the client retries)", size, charge)
		}
		if err != nil {
			c.b.reqMem.dropFrame(f)
			putFrame(frame)
			return nil, 0, err
		}
	}
	if err := c.take(f, charge-int64(size)); err != nil {
		c.b.reqMem.dropFrame(f)
		putFrame(frame)
		return nil, 0, err
	}
	c.b.reqMem.frameRead(f)
	return frame, charge, nil
}

// handle decodes one frame, for which charge bytes of request memory are
// held, and runs its handler, returning the slot its response will fill.
func (c *conn) handle(frame []byte, charge int64) (*slot, error) {
	if c.sec.state == saslRawToken { // after SaslHandshake v0 (security.go)
		return c.rawSASLToken(frame, charge)
	}
	r := kbin.Reader{Src: frame}
	key := r.Int16()
	ver := r.Int16()
	corr := r.Int32()
	clientID := r.NullableString()
	if !r.Ok() {
		return nil, fmt.Errorf("truncated request header")
	}
	s := &slot{key: key, corr: corr, ver: ver, done: make(chan struct{}), reqBytes: charge}
	if c.logRequest(key, deref(clientID)) {
		s.logged, s.logStart, s.logClient = true, time.Now(), deref(clientID)
	}
	if err := c.checkSession(key); err != nil { // KIP-368 (reauth.go)
		return nil, err
	}
	if err := c.gate(key, ver); err != nil { // SASL first (security.go)
		return nil, err
	}
	api, known := apis[key]
	if !known {
		// Kafka closes the connection on an API it does not know, but
		// answers every API it serves: unserved.go.
		resp := unservedResponse(key, ver)
		c.noteUnserved(deref(clientID), key, ver, resp != nil)
		if resp == nil {
			return nil, fmt.Errorf("%w: API key %d (client %q)", errUnserved, key, deref(clientID))
		}
		s.resp = resp
		c.complete(s)
		return s, nil
	}
	kreq := kmsg.RequestForKey(key)
	if ver < api.min || ver > api.max {
		if key == 18 { // ApiVersions: answer v0 with UNSUPPORTED_VERSION (KIP-511)
			s.resp = unsupportedApiVersions()
			s.ver = 0
			c.complete(s)
			return s, nil
		}
		c.noteUnserved(deref(clientID), key, ver, false)
		return nil, fmt.Errorf("%w: %s version %d (supported %d-%d, client %q)", errUnserved, kmsg.NameForKey(key), ver, api.min, api.max, deref(clientID))
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
	start := time.Now()
	rep, err := authorizeAndServe(api.fn, &request{c: c, s: s, kreq: kreq, clientID: deref(clientID), size: len(frame)}) // acl_checks.go
	if err != nil {
		c.b.respMem.release(s.respBytes)
		return nil, err
	}
	c.chargeRequest(s, deref(clientID), start) // quota_conn.go
	switch {
	case rep.none:
		observe()
		c.complete(s)
	case rep.later != nil:
		c.b.later.run(func() {
			s.resp, s.err = rep.later()
			c.throttleResponse(s)
			observe()
			c.complete(s)
		})
	case rep.async != nil:
		rep.async(func(resp kmsg.Response, err error) {
			s.resp, s.err = resp, err
			c.throttleResponse(s)
			observe()
			if s.logged {
				// The request log writes a line: not under the lock
				// of the log whose syncer completes the reply.
				c.b.later.run(func() { c.complete(s) })
				return
			}
			c.complete(s)
		})
	default:
		s.resp = rep.resp
		c.throttleResponse(s)
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
		if !broken {
			if err := bw.Flush(); err != nil {
				c.writeFailed(err, &broken)
			}
		}
	}
	for s := range c.slots {
		select {
		case <-s.done:
		default:
			flush() // push what is ready before waiting on a slow reply
			<-s.done
		}
		if t := c.b.cfg.ResponseWriteTimeout; t > 0 && !broken {
			// Also covers the flush of what this response leaves in bw.
			c.nc.SetWriteDeadline(time.Now().Add(t))
		}
		c.writeOne(bw, &buf, s, &broken)
		if s.closeAfter && !broken {
			flush()
			broken = true
			c.nc.Close()
		}
		c.lastWrite.Store(time.Now().UnixNano()) // before the token goes back: see awaitFrame
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
			if c.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
				c.log.Warn("closing connection", "api", kmsg.NameForKey(s.key), "err", err)
			}
			c.writeFailed(err, broken)
		}
		return
	}
	if r, ok := s.resp.(*rawSASLResponse); ok {
		*buf = r.frame((*buf)[:0]) // SaslHandshake v0: no response header
	} else {
		*buf = appendResponse((*buf)[:0], s)
	}
	if _, err := bw.Write(*buf); err != nil {
		c.writeFailed(err, broken)
	}
	if cap(*buf) > 1<<20 {
		// Do not keep a large fetch response's buffer for the life of
		// the connection.
		*buf = nil
	}
}

// writeFailed closes the connection after a failed write, so that its
// reader stops too: a client that does not take its responses gets no
// more of its requests handled. The writer keeps draining its slots,
// which returns what they hold.
func (c *conn) writeFailed(err error, broken *bool) {
	*broken = true
	if isTimeout(err) && c.ctx.Err() == nil {
		c.b.slowConns.warn("closing connection: the client did not read its response within --response-write-timeout",
			"remote", c.nc.RemoteAddr().String(), "timeout", c.b.cfg.ResponseWriteTimeout)
	}
	c.nc.Close()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
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
