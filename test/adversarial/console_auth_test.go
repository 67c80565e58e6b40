package adversarial

// The admin HTTP listener's authentication, through rewind serve's flags.

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/proctest"
	"golang.org/x/crypto/bcrypt"
)

// TestConsoleAuthFileFlag: rewind serve --http-auth-file serves the
// console and the API only to its users (401 without credentials or with
// a wrong password), beyond loopback too, where no authentication is
// refused; --http-metrics-open leaves /metrics open; a broken users file
// stops the start before the data directory is touched.
func TestConsoleAuthFileFlag(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users")
	h, err := bcrypt.GenerateFromPassword([]byte("alice-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(users, []byte("alice:"+string(h)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := anyInterfacePort(t)
	proctest.Start(t, proctest.Config{Binary: binary,
		Args: []string{"--http", "0.0.0.0:" + port, "--http-allowed-hosts", "rewind.example", "--http-auth-file", users, "--http-metrics-open"}})
	base := "http://" + net.JoinHostPort("127.0.0.1", port)
	for _, c := range []struct {
		path, user, pass string
		want             int
	}{
		{"/api/v1/groups", "", "", 401},
		{"/", "", "", 401},
		{"/api/v1/groups", "alice", "wrong", 401},
		{"/api/v1/groups", "alice", "alice-secret", 200},
		{"/", "alice", "alice-secret", 200},
		{"/metrics", "", "", 200},
	} {
		req, _ := http.NewRequest("GET", base+c.path, nil)
		if c.user != "" {
			req.SetBasicAuth(c.user, c.pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET %s as %q: %s, want %d", c.path, c.user, resp.Status, c.want)
		}
	}

	if err := os.WriteFile(users, []byte("alice:plaintext-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	q := proctest.Start(t, proctest.Config{Binary: binary, NoWait: true, Args: []string{"--http", "127.0.0.1:" + anyInterfacePort(t), "--http-auth-file", users}})
	exitedWithError(t, q)
	if log := q.Log(); !strings.Contains(log, "not a bcrypt hash") {
		t.Errorf("a broken users file: the log does not say what is wrong:\n%s", log)
	}
	checkEmptyDataDir(t, q.DataDir)
}
