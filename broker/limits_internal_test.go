package broker

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Unit tests of the request pool's rules (limits.go). The end-to-end
// tests are in limits_test.go and test/adversarial/slowclients_test.go.

const mib = 1 << 20

func newRequestPool(limit, maxFrame int64) *memPool {
	p := newMemPool("--max-request-memory", limit, nil)
	p.setFrameLimits(maxFrame)
	return p
}

// waiters returns how many take calls wait.
func (p *memPool) waiters() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waits)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// takeAsync runs take in a goroutine; the channel gets its error.
func takeAsync(p *memPool, u *memUser, f *memFrame, n int64) <-chan error {
	ch := make(chan error, 1)
	go func() {
		_, err := p.take(context.Background(), u, f, n)
		ch <- err
	}()
	return ch
}

func granted(t *testing.T, ch <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: not granted", what)
	}
}

func notGranted(t *testing.T, ch <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s: granted (%v), should wait", what, err)
	case <-time.After(50 * time.Millisecond):
	}
}

// A large frame is reserved as it is read, never for its declared size;
// no more large frames start than can all complete; small frames are
// never held back by them.
func TestRequestPoolChunks(t *testing.T) {
	p := newRequestPool(16*mib, 8*mib) // reserve 1 MiB, share 4 MiB
	if p.reserve != mib || p.share != 4*mib {
		t.Fatalf("reserve %d, share %d", p.reserve, p.share)
	}
	ctx := context.Background()
	// Eight connections start frames of 8 MiB: each holds its first
	// chunk only, however large the frame says it is.
	var frames []*memFrame
	for i := 0; i < 8; i++ {
		u := &memUser{}
		f := p.newFrame(u, 8*mib)
		if waited, err := p.take(ctx, u, f, mib); waited || err != nil {
			t.Fatalf("first chunk of frame %d: waited %v, %v", i, waited, err)
		}
		frames = append(frames, f)
	}
	if got := p.inUse(); got != 8*mib {
		t.Fatalf("8 frames of 8 MiB with one chunk each hold %d bytes, want 8 MiB", got)
	}
	// A ninth would leave 6 MiB for frames that each need 7 more: it waits.
	u := &memUser{}
	ninth := takeAsync(p, u, p.newFrame(u, 8*mib), mib)
	notGranted(t, ninth, "a ninth frame of 8 MiB")
	// Small requests are read meanwhile.
	small := &memUser{}
	if waited, err := p.take(ctx, small, nil, 64<<10); waited || err != nil {
		t.Fatalf("a small frame while large frames wait: waited %v, %v", waited, err)
	}
	p.releaseUser(small, 64<<10)
	// A frame read in part and dropped returns what it held.
	p.dropFrame(frames[0])
	granted(t, ninth, "a ninth frame once another was dropped")
	if got := p.inUse(); got != 8*mib {
		t.Fatalf("in use %d, want 8 MiB", got)
	}
}

// Large frames leave the last sixteenth of the pool to small requests.
func TestRequestPoolReserve(t *testing.T) {
	p := newRequestPool(16*mib, 8*mib) // reserve 1 MiB
	ctx := context.Background()
	a, b := &memUser{}, &memUser{}
	fa, fb := p.newFrame(a, 8*mib), p.newFrame(b, 8*mib)
	for i := 0; i < 8; i++ {
		if _, err := p.take(ctx, a, fa, mib); err != nil {
			t.Fatal(err)
		}
	}
	p.frameRead(fa) // handled, not yet released
	for i := 0; i < 7; i++ {
		if _, err := p.take(ctx, b, fb, mib); err != nil {
			t.Fatal(err)
		}
	}
	// 15 MiB in use: B's last chunk would take the reserve.
	last := takeAsync(p, b, fb, mib)
	notGranted(t, last, "a chunk of a large frame from the reserve")
	small := &memUser{}
	if waited, err := p.take(ctx, small, nil, mib); waited || err != nil {
		t.Fatalf("a small frame from the reserve: waited %v, %v", waited, err)
	}
	p.releaseUser(a, 8*mib)
	granted(t, last, "B's last chunk once A was released")
	p.frameRead(fb)
	p.releaseUser(b, 8*mib)
	p.releaseUser(small, mib)
	if got := p.inUse(); got != 0 {
		t.Fatalf("in use %d", got)
	}
}

// Frames read in part never wait for each other for ever: three frames of
// 6 MiB in a pool of 10 MiB, read a chunk at a time in turn, all complete
// (with chunks granted on declared sizes alone, each would hold about a
// third of the pool and wait for the rest).
func TestRequestPoolFramesCannotDeadlock(t *testing.T) {
	p := newRequestPool(10*mib, 6*mib) // reserve 640 KiB
	const frames, size = 3, 6 * mib
	var wg sync.WaitGroup
	done := make(chan int, frames)
	start := make(chan struct{})
	for i := 0; i < frames; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := &memUser{}
			f := p.newFrame(u, size)
			<-start
			for got := int64(0); got < size; got += mib {
				if _, err := p.take(context.Background(), u, f, mib); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(time.Millisecond) // interleave the readers
			}
			p.frameRead(f)
			done <- i
			time.Sleep(5 * time.Millisecond) // handled, then released
			p.releaseUser(u, size)
		}()
	}
	close(start)
	for i := 0; i < frames; i++ {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d frames completed: the others wait for each other (in use %d of %d)", i, frames, p.inUse(), p.limit)
		}
	}
	wg.Wait()
	if got := p.inUse(); got != 0 {
		t.Fatalf("in use %d after every frame was released", got)
	}
}

// A connection beyond its share waits while another within its share can
// take the memory that is returned; beyond the share it may take what
// nobody within theirs waits for (so one frame of --max-request-bytes is
// read when the pool is otherwise idle).
func TestRequestPoolFairShare(t *testing.T) {
	p := newRequestPool(16*mib, 8*mib) // reserve 1 MiB, share 4 MiB
	ctx := context.Background()
	// A reads 7 MiB of an 8 MiB frame, beyond its share of 4 MiB: nobody
	// else waits, so it may.
	a := &memUser{}
	fa := p.newFrame(a, 8*mib)
	for i := 0; i < 7; i++ {
		if waited, err := p.take(ctx, a, fa, mib); waited || err != nil {
			t.Fatalf("chunk %d of a lone frame: waited %v, %v", i, waited, err)
		}
	}
	// Small requests of another connection fill the pool but the reserve.
	x := &memUser{}
	for i := 0; i < 8; i++ {
		if _, err := p.take(ctx, x, nil, mib); err != nil {
			t.Fatal(err)
		}
	}
	// A wants its last chunk, B the first of its frame: both wait.
	aLast := takeAsync(p, a, fa, mib)
	b := &memUser{}
	bFirst := takeAsync(p, b, p.newFrame(b, 4*mib), mib)
	waitFor(t, "A and B wait", func() bool { return p.waiters() == 2 })
	// One MiB comes back: B, within its share, gets it; A waits on.
	p.releaseUser(x, mib)
	granted(t, bFirst, "B within its share")
	notGranted(t, aLast, "A beyond its share while B waited")
	// More comes back, and nobody within a share waits: A gets it.
	p.releaseUser(x, mib)
	granted(t, aLast, "A beyond its share with nobody else waiting")
	p.frameRead(fa)
}

// Waiting for memory ends with the connection's context.
func TestRequestPoolTakeCancelled(t *testing.T) {
	p := newRequestPool(2*mib, 2*mib)
	u := &memUser{}
	if _, err := p.take(context.Background(), u, nil, mib); err != nil {
		t.Fatal(err)
	}
	if _, err := p.take(context.Background(), u, nil, mib); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { _, err := p.take(ctx, &memUser{}, nil, mib); ch <- err }()
	waitFor(t, "the take waits", func() bool { return p.waiters() == 1 })
	cancel()
	if err := <-ch; err == nil {
		t.Fatal("a cancelled take succeeded")
	}
	if p.waiters() != 0 || p.inUse() != 2*mib {
		t.Fatalf("after a cancelled take: %d waiting, %d in use", p.waiters(), p.inUse())
	}
}
