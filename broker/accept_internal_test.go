package broker

import (
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// emfileListener fails its first accepts with EMFILE, as Linux does when
// the process has no descriptor left, whether or not a connection waits;
// after that it has no connection to give and waits as a real listener
// does, until its deadline.
type emfileListener struct {
	net.Listener
	mu       sync.Mutex
	fails    int
	deadline time.Time
	closed   chan struct{}
}

func (l *emfileListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.fails > 0 {
		l.fails--
		l.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	d := l.deadline
	l.mu.Unlock()
	var timeout <-chan time.Time
	if !d.IsZero() {
		timeout = time.After(time.Until(d))
	}
	select {
	case <-timeout:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.ErrDeadlineExceeded}
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *emfileListener) SetDeadline(t time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.deadline = t
	return nil
}

// TestAcceptRecoversWithNoConnectionWaiting: an accept that failed with
// EMFILE makes the broker not ready; once descriptors are free again it is
// ready by itself, although no client connects (the retried accept only
// waits). Before, Ready kept naming EMFILE until the next connection came,
// which test/adversarial TestAcceptSurvivesDescriptorExhaustion saw in CI.
func TestAcceptRecoversWithNoConnectionWaiting(t *testing.T) {
	b := newTxnLogBroker(t) // a started broker, closed by the test's cleanup
	fake := &emfileListener{fails: 3, closed: make(chan struct{})}
	defer close(fake.closed)
	b.wg.Add(1)
	go b.acceptLoop(&listener{ln: fake})

	sawEMFILE := false
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := b.Ready()
		if err != nil && !sawEMFILE {
			sawEMFILE = true
			t.Logf("while failing: %v", err)
		}
		if err == nil && sawEMFILE {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ready 10 s after the last failed accept, with nothing to accept: %v (saw the failure: %v)", err, sawEMFILE)
		}
		time.Sleep(time.Millisecond)
	}
}
