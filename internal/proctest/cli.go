package proctest

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// CLIFunc runs one rewind command against the brokers at addr (none when
// addr is "") with stdin, and returns what it printed: cmd/rewind's tests
// run the root command in process, test modules the built binary
// (BinaryCLI). The helpers on it are the same either way.
type CLIFunc func(t testing.TB, addr, stdin string, args ...string) (stdout, stderr string, err error)

// cliTimeout bounds one command.
const cliTimeout = 45 * time.Second

// BinaryCLI runs the rewind binary at path (from Build).
func BinaryCLI(path string) CLIFunc {
	return func(t testing.TB, addr, stdin string, args ...string) (string, string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
		defer cancel()
		if addr != "" {
			args = append([]string{"--brokers", addr}, args...)
		}
		cmd := exec.CommandContext(ctx, path, args...)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}
}

// Must runs a command that must succeed and returns its stdout.
func (run CLIFunc) Must(t testing.TB, addr string, args ...string) string {
	t.Helper()
	out, errOut, err := run(t, addr, "", args...)
	if err != nil {
		t.Fatalf("rewind %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// SeedTopic creates topic with parts partitions holding n records each
// (values "p<partition>-<i>"), through the CLI itself.
func (run CLIFunc) SeedTopic(t testing.TB, addr, topic string, parts, n int) {
	t.Helper()
	run.Must(t, addr, "topic", "create", topic, "--partitions", strconv.Itoa(parts))
	for p := 0; p < parts && n > 0; p++ {
		var lines []string
		for i := 0; i < n; i++ {
			lines = append(lines, "p"+strconv.Itoa(p)+"-"+strconv.Itoa(i))
		}
		if _, errOut, err := run(t, addr, strings.Join(lines, "\n")+"\n", "produce", topic, "--partition", strconv.Itoa(p)); err != nil {
			t.Fatalf("produce: %v %s", err, errOut)
		}
	}
}

// TableRow finds the first line of a table whose fields start with prefix
// ("*" matches any field), and returns its fields.
func TableRow(t testing.TB, table string, prefix ...string) []string {
	t.Helper()
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) < len(prefix) {
			continue
		}
		match := true
		for i, p := range prefix {
			if p != "*" && f[i] != p {
				match = false
				break
			}
		}
		if match {
			return f
		}
	}
	t.Fatalf("no row starting %q in:\n%s", prefix, table)
	return nil
}

// WantFields checks a row's leading fields ("*" matches any).
func WantFields(t testing.TB, got []string, want ...string) {
	t.Helper()
	if len(got) < len(want) {
		t.Fatalf("row %q shorter than %q", got, want)
	}
	for i, w := range want {
		if w != "*" && got[i] != w {
			t.Fatalf("row %q: field %d is %q, want %q", got, i, got[i], w)
		}
	}
}
