package broker

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/xdg-go/scram"
)

// CredentialsFile is where SASL credentials live, relative to the data
// directory: per user and SCRAM mechanism a salt, an iteration count and
// the SCRAM StoredKey and ServerKey (RFC 5802), never the password. PLAIN
// is checked against the same salted keys.
const CredentialsFile = "security/credentials.json"

// scramMechanisms are the SCRAM mechanisms a password is stored for.
var scramMechanisms = []string{"SCRAM-SHA-256", "SCRAM-SHA-512"}

// DefaultSCRAMIterations is the iteration count of new credentials, the
// count Kafka's kafka-configs.sh uses.
const DefaultSCRAMIterations = 4096

func scramHash(mech string) (scram.HashGeneratorFcn, bool) {
	switch mech {
	case "SCRAM-SHA-256":
		return scram.SHA256, true
	case "SCRAM-SHA-512":
		return scram.SHA512, true
	}
	return nil, false
}

type storedCred struct {
	Salt       []byte `json:"salt"`
	Iterations int    `json:"iterations"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

type credFile struct {
	Users map[string]map[string]storedCred `json:"users"` // user → mechanism → credential
}

// SetUserPassword stores salted SCRAM-SHA-256 and SCRAM-SHA-512
// credentials for user in dataDir, replacing any it had. A running broker
// reads the file again at its next authentication.
func SetUserPassword(dataDir, user, password string) error {
	if user == "" {
		return errors.New("user name is empty")
	}
	if password == "" {
		return errors.New("password is empty")
	}
	path := filepath.Join(dataDir, CredentialsFile)
	f, err := readCredFile(path)
	if err != nil {
		return err
	}
	m := map[string]storedCred{}
	for _, mech := range scramMechanisms {
		hf, _ := scramHash(mech)
		cl, err := hf.NewClient(user, password, "")
		if err != nil {
			return fmt.Errorf("user %q: %w", user, err)
		}
		salt := make([]byte, 32)
		if _, err := rand.Read(salt); err != nil {
			return err
		}
		sc := cl.GetStoredCredentials(scram.KeyFactors{Salt: string(salt), Iters: DefaultSCRAMIterations})
		m[mech] = storedCred{Salt: salt, Iterations: DefaultSCRAMIterations, StoredKey: sc.StoredKey, ServerKey: sc.ServerKey}
	}
	f.Users[user] = m
	return writeCredFile(path, f)
}

// DeleteUser removes a user's credentials; it reports whether there were any.
func DeleteUser(dataDir, user string) (bool, error) {
	path := filepath.Join(dataDir, CredentialsFile)
	f, err := readCredFile(path)
	if err != nil {
		return false, err
	}
	if _, ok := f.Users[user]; !ok {
		return false, nil
	}
	delete(f.Users, user)
	return true, writeCredFile(path, f)
}

// Users lists the users with stored credentials and their mechanisms.
func Users(dataDir string) (map[string][]string, error) {
	f, err := readCredFile(filepath.Join(dataDir, CredentialsFile))
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for u, m := range f.Users {
		for mech := range m {
			out[u] = append(out[u], mech)
		}
		sort.Strings(out[u])
	}
	return out, nil
}

func readCredFile(path string) (*credFile, error) {
	f := &credFile{Users: map[string]map[string]storedCred{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	if err := json.Unmarshal(data, f); err != nil {
		return nil, fmt.Errorf("credentials %s: %w", path, err)
	}
	if f.Users == nil {
		f.Users = map[string]map[string]storedCred{}
	}
	return f, nil
}

// writeCredFile replaces the file atomically (temporary file, fsync,
// rename, directory fsync), readable by its owner only.
func writeCredFile(path string, f *credFile) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".credentials-*")
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// credStore is the broker's view of the credentials file, read again when
// its modification time or size changes.
type credStore struct {
	path string
	mu   sync.Mutex
	mod  time.Time
	size int64
	f    *credFile
}

func (s *credStore) current() (*credFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, err := os.Stat(s.path)
	if errors.Is(err, os.ErrNotExist) {
		s.f, s.mod, s.size = &credFile{Users: map[string]map[string]storedCred{}}, time.Time{}, 0
		return s.f, nil
	}
	if err != nil {
		return nil, err
	}
	if s.f != nil && fi.ModTime().Equal(s.mod) && fi.Size() == s.size {
		return s.f, nil
	}
	f, err := readCredFile(s.path)
	if err != nil {
		return nil, err
	}
	s.f, s.mod, s.size = f, fi.ModTime(), fi.Size()
	return f, nil
}

// lookup returns user's credential for a SCRAM mechanism.
func (s *credStore) lookup(user, mech string) (scram.StoredCredentials, bool, error) {
	f, err := s.current()
	if err != nil {
		return scram.StoredCredentials{}, false, err
	}
	c, ok := f.Users[user][mech]
	if !ok {
		return scram.StoredCredentials{}, false, nil
	}
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(c.Salt), Iters: c.Iterations},
		StoredKey:  c.StoredKey,
		ServerKey:  c.ServerKey,
	}, true, nil
}

// checkPassword reports whether password is user's (SASL/PLAIN): the
// SCRAM StoredKey derived from it with the stored salt must match.
func (s *credStore) checkPassword(user, password string) (bool, error) {
	for _, mech := range []string{"SCRAM-SHA-512", "SCRAM-SHA-256"} {
		sc, ok, err := s.lookup(user, mech)
		if err != nil || !ok {
			if err != nil {
				return false, err
			}
			continue
		}
		hf, _ := scramHash(mech)
		cl, err := hf.NewClient(user, password, "")
		if err != nil {
			return false, nil // not a valid SASLprep string: not the password
		}
		got := cl.GetStoredCredentials(sc.KeyFactors)
		return hmac.Equal(got.StoredKey, sc.StoredKey), nil
	}
	return false, nil
}
