package broker

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"path/filepath"
	"slices"
	"sync"
)

// The SASL credentials file changed through the Kafka protocol
// (AlterUserScramCredentials, 51_alter_user_scram_credentials.go) as
// `rewind user` changes it offline: read, changed, replaced atomically.

// credWriteMu serializes the broker's read-change-write of the file (the
// fsync it waits for holds up only other credential changes).
var credWriteMu sync.Mutex

// Kafka's SCRAM mechanism types on the wire.
const (
	scramTypeSHA256 int8 = 1
	scramTypeSHA512 int8 = 2
)

func scramMechName(t int8) (string, bool) {
	switch t {
	case scramTypeSHA256:
		return "SCRAM-SHA-256", true
	case scramTypeSHA512:
		return "SCRAM-SHA-512", true
	}
	return "", false
}

func scramMechType(name string) int8 {
	if name == "SCRAM-SHA-512" {
		return scramTypeSHA512
	}
	return scramTypeSHA256
}

// SCRAM iteration bounds: Kafka's ScramMechanism minIterations (4096 for
// both) and ScramControlManager.MAX_ITERATIONS.
const (
	scramMinIterations = 4096
	scramMaxIterations = 16384
)

// scramKeys derives RFC 5802's StoredKey = H(HMAC(SaltedPassword, "Client
// Key")) and ServerKey = HMAC(SaltedPassword, "Server Key") from the
// salted password a client sends (Kafka's ScramFormatter does the same).
func scramKeys(mech string, salted []byte) (storedKey, serverKey []byte) {
	h := sha256.New
	if mech == "SCRAM-SHA-512" {
		h = sha512.New
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	sum := func(b []byte) []byte {
		d := h()
		d.Write(b)
		return d.Sum(nil)
	}
	return sum(mac(salted, "Client Key")), mac(salted, "Server Key")
}

// credChange is one user's validated change.
type credChange struct {
	user   string
	mech   string
	delete bool
	cred   storedCred
}

// applyCredChanges writes the changes to the data directory's file.
func (b *Broker) applyCredChanges(cs []credChange) error {
	credWriteMu.Lock()
	defer credWriteMu.Unlock()
	path := filepath.Join(b.cfg.DataDir, CredentialsFile)
	f, err := readCredFile(path)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.delete {
			delete(f.Users[c.user], c.mech)
			if len(f.Users[c.user]) == 0 {
				delete(f.Users, c.user)
			}
			continue
		}
		if f.Users[c.user] == nil {
			f.Users[c.user] = map[string]storedCred{}
		}
		f.Users[c.user][c.mech] = c.cred
	}
	return writeCredFile(path, f)
}

// userMechs are the mechanisms a user has credentials for, by type.
func userMechs(f *credFile, user string) []int8 {
	var out []int8
	for m := range f.Users[user] {
		out = append(out, scramMechType(m))
	}
	slices.Sort(out)
	return out
}
