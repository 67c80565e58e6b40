package rewindtest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The README says a Go user depends on rewindtest from their own module:
// a module outside this repository (its go.mod requiring this one,
// replaced by this checkout) runs a test with rewindtest.Start and a
// franz-go client, offline, and its build pulls in none of the
// repository's test-only dependencies (Sarama, kfake, chromedp).
func TestUsableFromAnotherModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a module of its own")
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	dir := t.TempDir()
	gomod := `module example.com/usertest

go 1.26.0

require (
	github.com/rewindhq/rewind v0.0.0
	github.com/twmb/franz-go ` + requiredVersion(t, root, "github.com/twmb/franz-go") + `
)

replace github.com/rewindhq/rewind => ` + root + "\n"
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"go.mod": gomod,
		"go.sum": string(sum),
		"user_test.go": `package usertest

import (
	"context"
	"testing"

	"github.com/rewindhq/rewind/rewindtest"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestWithRewind(t *testing.T) {
	b := rewindtest.Start(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "t", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}
`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "GOWORK=off", "GOPROXY=off", "GOFLAGS=-mod=mod")
	run := func(args ...string) string {
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s in a user's module: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("test", "-count=1", "./...")
	for _, dep := range strings.Fields(run("list", "-deps", "-test", "./...")) {
		for _, heavy := range []string{"IBM/sarama", "chromedp", "kfake", "segmentio/kafka-go", "confluent-kafka-go"} {
			if strings.Contains(dep, heavy) {
				t.Errorf("a user's test of rewindtest builds %s", dep)
			}
		}
	}
}

// requiredVersion is mod's version in root's go.mod.
func requiredVersion(t *testing.T, root, mod string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == mod {
			return f[1]
		}
	}
	t.Fatalf("%s not required by %s/go.mod", mod, root)
	return ""
}
