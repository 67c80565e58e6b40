package admin

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rewindhq/rewind/broker"
	"golang.org/x/crypto/bcrypt"
)

// Authentication of the admin HTTP listener. A request is authenticated
// by, in this order:
//
//   - an Authorization header: Basic (a user of the users file whose
//     bcrypt hash the password matches) or Bearer (a token whose SHA-256
//     the users file holds); a header that does not authenticate is 401,
//     whatever else the request carries;
//   - a TLS client certificate verified against --http-ssl-ca: the
//     principal is User:<subject>, as on the Kafka SSL listeners.
//
// The principal is User:NAME, checked against the same ACLs as the Kafka
// protocol (authz.go). Without any method configured, requests are
// User:ANONYMOUS, as a PLAINTEXT Kafka client; with one configured, a
// request with no credentials is 401.

// Users file: one NAME:HASH a line, # comments. HASH is a bcrypt hash
// ($2a$, $2b$, $2y$: `htpasswd -nB NAME`) for basic auth, or sha256:HEX,
// the SHA-256 of a bearer token. Tokens are random secrets of a machine,
// not passwords a person picks, so a fast hash loses nothing and a token
// is found by its hash without trying every entry.
type users struct {
	passwords map[string][]byte // name -> bcrypt hash
	tokens    map[[32]byte]string
}

func parseUsers(path string, data []byte) (*users, error) {
	u := &users{passwords: map[string][]byte{}, tokens: map[[32]byte]string{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if !ok || name == "" || hash == "" {
			return nil, fmt.Errorf("admin: %s line %d: want NAME:HASH", path, n)
		}
		if hex64, ok := strings.CutPrefix(hash, "sha256:"); ok {
			var sum [32]byte
			if b, err := hex.DecodeString(hex64); err != nil || len(b) != 32 {
				return nil, fmt.Errorf("admin: %s line %d: sha256: needs 64 hex digits (the SHA-256 of the token)", path, n)
			} else {
				copy(sum[:], b)
			}
			if other, dup := u.tokens[sum]; dup {
				return nil, fmt.Errorf("admin: %s line %d: the token of %s is also %s's", path, n, name, other)
			}
			u.tokens[sum] = name
			continue
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("admin: %s line %d (%s): not a bcrypt hash (htpasswd -nB %s) nor sha256:HEX: %v", path, n, name, name, err)
		}
		if _, dup := u.passwords[name]; dup {
			return nil, fmt.Errorf("admin: %s line %d: a second password for %s", path, n, name)
		}
		u.passwords[name] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("admin: %s: %w", path, err)
	}
	if len(u.passwords)+len(u.tokens) == 0 {
		return nil, fmt.Errorf("admin: %s names no user", path)
	}
	return u, nil
}

// Bounds on the work a client without credentials can cause: bcrypt
// costs tens of milliseconds of CPU by design, so at most maxBcrypt run at
// once (others wait, within their request's context); a password that
// matched is remembered for verifiedTTL (as its SHA-256 with the hash it
// matched), so the console's polling costs one bcrypt per user every few
// minutes, and at most maxVerified are remembered.
const (
	maxBcrypt   = 2
	verifiedTTL = 5 * time.Minute
	maxVerified = 1024
	// usersCheckInterval is how often the users file's modification time
	// is looked at, from requests.
	usersCheckInterval = 2 * time.Second
)

// authenticator holds the users file and what was verified.
type authenticator struct {
	path  string
	bcryp chan struct{}

	mu        sync.Mutex
	u         *users
	mod       time.Time
	checked   time.Time
	verified  map[[32]byte]time.Time
	onReload  func(err error)
	reloading bool
}

func newAuthenticator(path string, onReload func(error)) (*authenticator, error) {
	a := &authenticator{path: path, bcryp: make(chan struct{}, maxBcrypt), verified: map[[32]byte]time.Time{}, onReload: onReload}
	if err := a.load(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *authenticator) load() error {
	fi, err := os.Stat(a.path)
	if err != nil {
		return fmt.Errorf("admin: --http-auth-file: %w", err)
	}
	data, err := os.ReadFile(a.path)
	if err != nil {
		return fmt.Errorf("admin: --http-auth-file: %w", err)
	}
	u, err := parseUsers(a.path, data)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.u, a.mod, a.checked = u, fi.ModTime(), time.Now()
	clear(a.verified) // a removed or changed password stops working at once
	a.mu.Unlock()
	return nil
}

// current is the users file, read again first if it changed.
func (a *authenticator) current() *users {
	a.mu.Lock()
	now := time.Now()
	if now.Sub(a.checked) < usersCheckInterval || a.reloading {
		u := a.u
		a.mu.Unlock()
		return u
	}
	a.checked = now
	a.reloading = true
	mod := a.mod
	a.mu.Unlock()
	if fi, err := os.Stat(a.path); err == nil && !fi.ModTime().Equal(mod) {
		a.reload()
	}
	a.mu.Lock()
	a.reloading = false
	u := a.u
	a.mu.Unlock()
	return u
}

// reload reads the file again; a broken file leaves the previous users.
func (a *authenticator) reload() error {
	err := a.load()
	if err != nil {
		a.mu.Lock()
		// Do not read the broken file again until it changes.
		if fi, serr := os.Stat(a.path); serr == nil {
			a.mod = fi.ModTime()
		}
		a.mu.Unlock()
	}
	if a.onReload != nil {
		a.onReload(err)
	}
	return err
}

var errBadCredentials = errors.New("wrong user name, password or token")

// basic checks a user's password.
func (a *authenticator) basic(ctx context.Context, name, password string) error {
	u := a.current()
	hash, ok := u.passwords[name]
	key := sha256.Sum256([]byte(name + "\x00" + password + "\x00" + string(hash)))
	a.mu.Lock()
	at, seen := a.verified[key]
	a.mu.Unlock()
	if ok && seen && time.Since(at) < verifiedTTL {
		return nil
	}
	select {
	case a.bcryp <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-a.bcryp }()
	if !ok {
		// As long as a wrong password: the answer's time does not say
		// which names exist.
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return errBadCredentials
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return errBadCredentials
	}
	a.mu.Lock()
	if len(a.verified) >= maxVerified {
		clear(a.verified)
	}
	a.verified[key] = time.Now()
	a.mu.Unlock()
	return nil
}

// dummyHash is compared against for unknown users (bcrypt of "x", cost 10).
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("x"), bcrypt.DefaultCost)

// bearer finds the user of a token.
func (a *authenticator) bearer(token string) (string, error) {
	// Looked up by its hash, which says nothing of the token.
	if name, ok := a.current().tokens[sha256.Sum256([]byte(token))]; ok {
		return name, nil
	}
	return "", errBadCredentials
}

// principalKey holds a request's principal in its context.
type principalKey struct{}

// requestPrincipal is the principal authenticate put on r.
func requestPrincipal(r *http.Request) string {
	if p, ok := r.Context().Value(principalKey{}).(string); ok {
		return p
	}
	return "User:ANONYMOUS"
}

// authenticate finds r's principal; ok false means it has been answered
// (401).
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		var name string
		err := errBadCredentials
		switch {
		case s.sec == nil || s.sec.auth == nil:
			err = errors.New("no --http-auth-file: this listener takes no passwords or tokens")
		case strings.EqualFold(scheme, "Basic"):
			if user, pass, ok := r.BasicAuth(); ok {
				name, err = user, s.sec.auth.basic(r.Context(), user, pass)
			}
		case strings.EqualFold(scheme, "Bearer"):
			name, err = s.sec.auth.bearer(strings.TrimSpace(cred))
		default:
			err = fmt.Errorf("authorization scheme %q: use Basic or Bearer", scheme)
		}
		if err != nil {
			s.authFailed(w, r, err)
			return "", false
		}
		return "User:" + name, true
	}
	if s.sec.certAuth() && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return broker.CertPrincipal(r.TLS.VerifiedChains[0][0]), true
	}
	if s.sec.authenticates() {
		s.authFailed(w, r, errors.New("authentication required: basic auth, a bearer token or a client certificate"))
		return "", false
	}
	return "User:ANONYMOUS", true
}

func (s *Server) authFailed(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Debug("admin HTTP authentication failed", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
	if s.sec != nil && s.sec.auth != nil {
		// The browser asks the operator for a user name and password.
		w.Header().Set("WWW-Authenticate", `Basic realm="rewind", charset="UTF-8"`)
	}
	writeError(w, http.StatusUnauthorized, err)
}
