package adversarial

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The attack of issue 11: three connections each declare a frame of a
// third of --max-request-memory (256 MiB by default; together they leave
// 4 bytes, less than any request) and send it slowly. Memory must be
// reserved as the bytes arrive, a frame must arrive within
// --request-read-timeout, and requests of other clients must be read
// from a reserve big frames cannot take.

const (
	poolLimit    = 256 << 20 // --max-request-memory default
	attackFrame  = (poolLimit - 4) / 3
	attackers    = 3
	readTimeout  = 3 * time.Second // --request-read-timeout for these tests
	probeEvery   = 200 * time.Millisecond
	probeBound   = time.Second
	peakRSSBound = 512 << 20
)

// attackRequest is a Produce v7 whose frame (size prefix excluded) is
// exactly attackFrame bytes: one partition with a records field of zeros.
func attackRequest(t *testing.T, attackFrame int) []byte {
	t.Helper()
	build := func(n int) []byte {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 7, 1, 30000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "slow"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = make([]byte, n)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return kmsg.NewRequestFormatter(kmsg.FormatterClientID("attacker")).AppendRequest(nil, req, 1)
	}
	overhead := len(build(0)) - 4 // v7 is not flexible: the records length is a fixed int32
	f := build(attackFrame - overhead)
	if len(f)-4 != attackFrame {
		t.Fatalf("attack frame is %d bytes, want %d", len(f)-4, attackFrame)
	}
	return f
}

// attack runs one attacker until ctx ends: it connects, sends the first
// fast bytes of frame at once, then one byte every trickle, and when the
// broker closes the connection it records how long the frame was allowed
// to take and connects again.
func attack(ctx context.Context, t *testing.T, addr string, frame []byte, fast int, trickle time.Duration, closedAfter chan<- time.Duration) {
	for ctx.Err() == nil {
		nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Errorf("attacker dial: %v", err)
			return
		}
		start := time.Now()
		// The broker's close shows as a read error (EOF or reset).
		closed := make(chan struct{})
		go func() {
			io.Copy(io.Discard, nc)
			close(closed)
		}()
		// Writes must not hang the test: a broker that paused reading
		// would leave a fast write blocked in a full socket buffer.
		nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		_, err = nc.Write(frame[:fast])
		sent := fast
	trickling:
		for err == nil && sent < len(frame)-1 { // never complete the frame
			select {
			case <-ctx.Done():
				break trickling
			case <-closed:
				break trickling
			case <-time.After(trickle):
			}
			_, err = nc.Write(frame[sent : sent+1])
			sent++
		}
		select {
		case <-closed:
			closedAfter <- time.Since(start)
		case <-ctx.Done():
		case <-time.After(3*readTimeout + 10*time.Second):
			t.Errorf("a connection trickling a frame was still open %v after its first byte", time.Since(start))
		}
		nc.Close()
		<-closed
	}
}

// probe asks Metadata of the broker on a new connection every probeEvery
// until ctx ends, and returns every latency (an error counts as the
// probe's timeout).
func probe(ctx context.Context, addr string) []time.Duration {
	var lat []time.Duration
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(context.Background(), 3*probeBound)
		d, err := proctest.MetadataLatency(pctx, addr)
		cancel()
		if err != nil {
			d = 3 * probeBound
		}
		lat = append(lat, d)
		select {
		case <-ctx.Done():
		case <-time.After(probeEvery):
		}
	}
	return lat
}

// checkProbes checks that every probe was answered within probeBound.
func checkProbes(t *testing.T, lat []time.Duration) {
	t.Helper()
	slow := 0
	var worst time.Duration
	for _, d := range lat {
		worst = max(worst, d)
		if d > probeBound {
			slow++
		}
	}
	t.Logf("%d Metadata probes during the attack, worst %v", len(lat), worst)
	if slow > 0 {
		t.Errorf("%d of %d Metadata probes took more than %v (worst %v)", slow, len(lat), probeBound, worst)
	} else if len(lat) < 5 {
		t.Errorf("only %d probes ran during the attack", len(lat))
	}
}

// runSlowFrameAttack runs the attackers for duration while probing, then
// checks the bounds. A trickling connection must be closed no sooner than
// --request-read-timeout after its first byte and no later than maxClose
// (time spent waiting for memory the broker could not give it does not
// count against the client).
func runSlowFrameAttack(t *testing.T, fast int, trickle, duration, maxClose time.Duration) {
	t.Setenv("REWIND_REQUEST_READ_TIMEOUT", readTimeout.String())
	p := start(t)
	frame := attackRequest(t, attackFrame)

	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	closedAfter := make(chan time.Duration, 100)
	var wg sync.WaitGroup
	for i := 0; i < attackers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			attack(ctx, t, p.Addr, frame, fast, trickle, closedAfter)
		}()
	}
	time.Sleep(500 * time.Millisecond) // the attack is under way
	lat := probe(ctx, p.Addr)
	wg.Wait()
	close(closedAfter)

	checkProbes(t, lat)
	closes := 0
	var after []time.Duration
	for d := range closedAfter {
		closes++
		after = append(after, d.Round(10*time.Millisecond))
		if d < readTimeout-200*time.Millisecond || d > maxClose {
			t.Errorf("a trickling connection was closed %v after its first byte; --request-read-timeout is %v, bound %v", d, readTimeout, maxClose)
		}
	}
	t.Logf("trickling connections closed after %v", after)
	if closes < attackers {
		t.Errorf("%d trickling connections closed by the broker, want at least %d", closes, attackers)
	}
	peak := p.MustPeakRSSMiB(t)
	t.Logf("broker peak RSS %d MiB", peak)
	if peak<<20 > peakRSSBound {
		t.Errorf("broker peak RSS %d MiB, bound %d MiB", peak, peakRSSBound>>20)
	}

	// The broker still works: a produce is answered.
	cl := p.Client(t)
	pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer pcancel()
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(pctx, cl); err != nil {
		t.Fatalf("Metadata after the attack: %v", err)
	}
}

// TestSlowFramesDoNotFreezeOthers: three connections declare frames that
// together leave 4 bytes of --max-request-memory and send one byte every
// 200 ms. Before the fix the broker reserved the declared size up front,
// so no other request could be read for as long as they kept sending.
func TestSlowFramesDoNotFreezeOthers(t *testing.T) {
	runSlowFrameAttack(t, 64, probeEvery, 2*readTimeout+2*time.Second, readTimeout+2*time.Second)
}

// TestFilledFramesDoNotFreezeOthers: the same connections send 80 MiB of
// their frames at once, so that their memory is really held (together
// more than the pool can give to large frames), then trickle. Requests of
// other clients are read from the reserve; the broker's peak RSS stays
// under 512 MiB.
func TestFilledFramesDoNotFreezeOthers(t *testing.T) {
	runSlowFrameAttack(t, 80<<20, 500*time.Millisecond, 3*readTimeout+2*time.Second, 3*readTimeout+2*time.Second)
}

// TestManySlowSmallFramesDoNotFreezeOthers: a frame of at most 1 MiB is
// reserved in one piece, so forty connections that each declare one of
// 1 MiB and trickle it would hold all of a 32 MiB pool, the reserve
// included, for a few bytes each, and no other request could be read
// until --request-read-timeout closed them. Only a frame that has arrived
// whole in its connection's read buffer may take the reserve, so other
// clients' Metadata is answered within a second throughout.
func TestManySlowSmallFramesDoNotFreezeOthers(t *testing.T) {
	const pool, conns = 32 << 20, 40
	p := start(t, "--max-request-memory", fmt.Sprint(pool), "--max-request-bytes", fmt.Sprint(8<<20),
		"--request-read-timeout", readTimeout.String())
	frame := attackRequest(t, 1<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 2*readTimeout)
	defer cancel()
	closedAfter := make(chan time.Duration, 20*conns)
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			attack(ctx, t, p.Addr, frame, 64, probeEvery, closedAfter)
		}()
	}
	time.Sleep(500 * time.Millisecond) // the attack is under way
	lat := probe(ctx, p.Addr)
	wg.Wait()
	checkProbes(t, lat)
	close(closedAfter)
	closes := 0
	for d := range closedAfter {
		closes++
		if d < readTimeout-200*time.Millisecond {
			t.Errorf("a trickling connection was closed %v after its first byte; --request-read-timeout is %v", d, readTimeout)
		}
	}
	// Those holding memory (all but the reserve) are closed after
	// --request-read-timeout; the others waited for it meanwhile.
	if closes < conns/2 {
		t.Errorf("%d trickling connections closed by the broker, want at least %d", closes, conns/2)
	}
}
