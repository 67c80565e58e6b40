package adversarial

// OAUTHBEARER under hostile tokens: a real `rewind serve` with unsecured
// JWTs and short sessions, flooded with oversized and malformed client
// messages while clients re-authenticate.

import (
	"context"
	"encoding/base64"
	bin "encoding/binary"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/proctest"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

func unsignedJWT(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(claims)) + "."
}

// hostileMessages are OAUTHBEARER first messages just under the 512 KiB
// a frame may have before authentication: a huge claim, deeply nested
// JSON, a token of garbage, thousands of extensions, and a valid token
// with a huge authorization id.
func hostileMessages() [][]byte {
	const size = 500 << 10
	exp := time.Now().Add(time.Hour).Unix()
	first := func(tok, extra string) []byte { return []byte("n,,\x01auth=Bearer " + tok + "\x01" + extra + "\x01") }
	var exts strings.Builder
	for exts.Len() < size {
		fmt.Fprintf(&exts, "k%s=v\x01", strings.Repeat("x", exts.Len()%7+1))
	}
	return [][]byte{
		first(unsignedJWT(fmt.Sprintf(`{"sub":"mallory","exp":%d,"pad":"%s"}`, exp-7200, strings.Repeat("a", size*3/4))), ""),
		first(unsignedJWT(strings.Repeat("[", size*3/4)), ""),
		first(strings.Repeat("A.", size/2), ""),
		first(unsignedJWT(`{"sub":"mallory","exp":`+fmt.Sprint(exp)+`}`), exts.String()),
		[]byte("n,a=" + strings.Repeat("m", size) + ",\x01auth=Bearer " + unsignedJWT(`{"sub":"mallory","exp":`+fmt.Sprint(exp)+`}`) + "\x01\x01"),
	}
}

// oauthAttack sends one hostile message on a fresh connection and reads what
// comes back (an answer or the close).
func oauthAttack(addr string, msg []byte, f *kmsg.RequestFormatter) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "OAUTHBEARER"
	au := kmsg.NewPtrSASLAuthenticateRequest()
	au.Version, au.SASLAuthBytes = 2, msg
	au2 := kmsg.NewPtrSASLAuthenticateRequest()
	au2.Version, au2.SASLAuthBytes = 2, []byte{1}
	// Pipelined, each frame on its own: AppendRequest sizes its frame
	// from the start of the slice it is given.
	var buf []byte
	for i, r := range []kmsg.Request{hs, au, au2} {
		buf = append(buf, f.AppendRequest(nil, r, int32(i+1))...)
	}
	if _, err := c.Write(buf); err != nil {
		return nil // closed early: refused
	}
	for range 3 { // at most one answer per request; a refusal closes sooner
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return err // neither answered nor closed
			}
			return nil // closed: refused
		}
		if _, err := io.CopyN(io.Discard, c, int64(bin.BigEndian.Uint32(size[:]))); err != nil {
			return nil
		}
	}
	return nil
}

// TestOAuthBearerHostileTokens: 12 connections send hostile OAUTHBEARER
// messages for 6 s while a franz-go client, re-authenticating every
// second, produces: the broker's peak RSS stays under 512 MiB, Metadata
// on another listener is answered within a second throughout, the good
// client's records all arrive, and no hostile client is let through.
func TestOAuthBearerHostileTokens(t *testing.T) {
	dir := t.TempDir()
	plainAddr, saslAddr := proctest.FreeAddr(t), proctest.FreeAddr(t)
	var log proctest.SyncBuffer
	cmd := exec.Command(binary, "serve", "--data-dir", dir, "--http", "", "--group-initial-rebalance-delay", "0",
		"--listeners", "PLAINTEXT://"+plainAddr+",SASL_PLAINTEXT://"+saslAddr,
		"--sasl-oauthbearer-unsecured", "--connections-max-reauth-ms", "1500",
		"--authorizer", "standard", "--super-users", "User:ANONYMOUS;User:alice")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proctest.Proc{Cmd: cmd}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("broker log (tail):\n%s", tailString(log.String(), 3000))
		}
	})
	proctest.WaitFor(t, 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := proctest.MetadataLatency(ctx, plainAddr)
		return err == nil
	})

	good, err := kgo.NewClient(kgo.SeedBrokers(saslAddr), kgo.AllowAutoTopicCreation(),
		kgo.SASL(oauth.Oauth(func(context.Context) (oauth.Auth, error) {
			now := time.Now()
			return oauth.Auth{Token: unsignedJWT(fmt.Sprintf(`{"sub":"alice","iat":%d,"exp":%d}`, now.Unix(), now.Add(time.Hour).Unix()))}, nil
		})))
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()

	const dur = 6 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	msgs := hostileMessages()
	var wg sync.WaitGroup
	var sent atomic.Int64
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("hostile"))
			for j := i; ctx.Err() == nil; j++ {
				if err := oauthAttack(saslAddr, msgs[j%len(msgs)], f); err != nil && ctx.Err() == nil {
					t.Errorf("hostile message %d: %v (no answer nor close within 10 s)", j%len(msgs), err)
					return
				}
				sent.Add(1)
			}
		}()
	}
	var worst time.Duration
	produced := 0
	for ctx.Err() == nil {
		mctx, mcancel := context.WithTimeout(context.Background(), 5*time.Second)
		lat, err := proctest.MetadataLatency(mctx, plainAddr)
		mcancel()
		if err != nil {
			t.Fatalf("Metadata during the attack: %v", err)
		}
		worst = max(worst, lat)
		pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := good.ProduceSync(pctx, &kgo.Record{Topic: "good", Value: []byte(fmt.Sprint(produced))}).FirstErr(); err != nil {
			pcancel()
			t.Fatalf("the authenticated client's produce %d during the attack: %v", produced, err)
		}
		pcancel()
		produced++
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	peak := p.MustPeakRSSMiB(t)
	t.Logf("%d hostile messages in %v; %d records produced; worst Metadata latency %v; peak RSS %d MiB", sent.Load(), dur, produced, worst, peak)
	if worst > time.Second {
		t.Errorf("Metadata took %v during the attack, want under 1 s", worst)
	}
	if peak > 512 {
		t.Errorf("peak RSS %d MiB, want under 512 MiB", peak)
	}
	if sent.Load() < 50 {
		t.Errorf("only %d hostile messages sent", sent.Load())
	}

	// Nothing but the good client's topic: the hostile clients, refused or
	// (one valid token among them) authenticated as mallory without ACLs,
	// created nothing.
	cl, err := kgo.NewClient(kgo.SeedBrokers(plainAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	mctx, mcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer mcancel()
	md, err := kmsg.NewPtrMetadataRequest().RequestWith(mctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range md.Topics {
		if name := oauthDeref(tp.Topic); name != "good" && !strings.HasPrefix(name, "__") {
			t.Errorf("topic %q exists after the attack", name)
		}
	}
}

func oauthDeref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
