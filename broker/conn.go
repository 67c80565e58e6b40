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
type conn struct {
	b      *Broker
	nc     net.Conn
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	slots  chan *slot // in request order; capacity bounds requests in flight
}

// slot is the place of one response in the connection's output order.
type slot struct {
	key  int16
	corr int32
	ver  int16
	done chan struct{}
	resp kmsg.Response // nil = write nothing (acks=0 produce)
	err  error         // non-nil = close the connection
}

// request is what a handler receives.
type request struct {
	c        *conn
	kreq     kmsg.Request
	clientID string
}

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
		b:      b,
		nc:     nc,
		log:    b.log.With("remote", nc.RemoteAddr().String()),
		ctx:    ctx,
		cancel: cancel,
		slots:  make(chan *slot, b.cfg.MaxInFlight),
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
	close(c.slots)
	<-writerDone
	c.cancel()
	c.nc.Close()
}

// readLoop reads frames and handles them until an error.
func (c *conn) readLoop() error {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	var sizeBuf [4]byte
	for {
		if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
			return err
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if size < 8 { // api key, version, correlation id, client id length
			return fmt.Errorf("invalid frame length %d", size)
		}
		if size > c.b.cfg.MaxRequestBytes {
			return fmt.Errorf("frame of %d bytes exceeds --max-request-bytes %d", size, c.b.cfg.MaxRequestBytes)
		}
		frame := make([]byte, size)
		if _, err := io.ReadFull(br, frame); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("truncated frame: %w", err)
			}
			return err
		}
		s, err := c.handle(frame)
		if err != nil {
			return err
		}
		select {
		case c.slots <- s:
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
	}
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
	s := &slot{key: key, corr: corr, ver: ver, done: make(chan struct{})}
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
			close(s.done)
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
	rep, err := api.fn(&request{c: c, kreq: kreq, clientID: deref(clientID)})
	if err != nil {
		return nil, err
	}
	switch {
	case rep.none:
		observe()
		close(s.done)
	case rep.later != nil:
		go func() {
			s.resp, s.err = rep.later()
			observe()
			close(s.done)
		}()
	default:
		s.resp = rep.resp
		observe()
		close(s.done)
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
		if broken {
			continue // keep draining so deferred handlers never block
		}
		if s.err != nil {
			c.log.Warn("closing connection", "api", kmsg.NameForKey(s.key), "err", s.err)
			broken = true
			c.nc.Close()
			continue
		}
		if s.resp != nil {
			buf = appendResponse(buf[:0], s)
			if _, err := bw.Write(buf); err != nil {
				broken = true
				continue
			}
		}
		if len(c.slots) == 0 {
			flush()
		}
	}
	flush()
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
