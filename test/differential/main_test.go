// Package differential sends the same requests to Apache Kafka 4.x and to
// Rewind and compares the answers field by field. Kafka is the judge: a
// field that differs fails the test, unless known_differences.txt lists
// it with the reason Rewind keeps it.
//
// Kafka runs once for the package (internal/kafkaref, through
// .ci/kafka.sh); each test gets a fresh Rewind (the `rewind serve` binary
// with REWIND_DIFF_BROKER=process, as CI runs it; an in-process broker,
// rewindtest, by default) and names its topics with a per-run suffix, so tests are independent of each
// other and of an earlier run against the same Kafka. Without Java or
// Maven the tests skip (see internal/kafkaref); CI requires them.
//
// What legitimately differs is normalised away before comparing (see
// normalize): node ids (mapped to "self"), cluster id, hosts and ports,
// throttle times, free-text error messages, random topic ids (only
// whether one is set is kept), and the order of lists that have no order.
// Error codes, offsets, high watermarks, log start offsets, counts,
// config values and every other field are compared.
package differential

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/kafkaref"
	"github.com/rewindhq/rewind/internal/proctest"
)

// suffix makes this run's topic and group names unique on a Kafka that
// outlives the run (REWIND_KAFKA_BOOTSTRAP); it is stripped from the
// paths of reported differences.
var suffix string

func TestMain(m *testing.M) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	suffix = "-" + hex.EncodeToString(b[:])
	var err error
	if rewindBinary, err = buildRewind(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := kafkaref.Main(m)
	if rewindBinary != "" {
		os.RemoveAll(filepath.Dir(rewindBinary))
	}
	if err := summarize(os.Getenv("REWIND_DIFF_REPORT")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// Which Rewind the suite compares with Kafka, by REWIND_DIFF_BROKER:
// "process" (what CI runs) builds cmd/rewind once and starts `rewind
// serve` as a child process for each test, so the flags, defaults and
// wiring of the shipped binary are what is judged; "inprocess" (the
// default, no build) starts the broker package in the test binary with
// rewindtest's settings.
var rewindBinary string

func rewindKind() string {
	if rewindBinary != "" {
		return "the `rewind serve` binary, one process per test (REWIND_DIFF_BROKER=process)"
	}
	return "the broker in the test binary (rewindtest; REWIND_DIFF_BROKER unset)"
}

func buildRewind() (string, error) {
	switch mode := os.Getenv("REWIND_DIFF_BROKER"); mode {
	case "", "inprocess":
		return "", nil
	case "process":
		dir, err := os.MkdirTemp("", "rewind-differential")
		if err != nil {
			return "", err
		}
		bin, err := proctest.Build("../..", dir)
		if err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		return bin, nil
	default:
		return "", fmt.Errorf("REWIND_DIFF_BROKER=%q: want process or inprocess", mode)
	}
}

// summarize prints how many scenarios were identical and how many differ,
// and with a path writes the table scenario × outcome as Markdown.
func summarize(path string) error {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if len(results) == 0 {
		return nil
	}
	var same, knownN, unknown int
	var md strings.Builder
	md.WriteString("# Rewind against Apache Kafka 4.4.0\n\n" +
		"The same requests sent to both brokers by `test/differential`, responses compared field by field after\n" +
		"normalising node ids, cluster id, hosts, ports, throttle times, error messages and random ids.\n" +
		"Each row is a scenario at one protocol version. Known differences and their reasons are kept in\n" +
		"`test/differential/known_differences.txt`; any other difference fails the suite.\n" +
		"Rewind here: " + rewindKind() + ".\n" +
		"Regenerate: `REWIND_DIFF_REPORT=$PWD/docs/kafka-differences.md REWIND_DIFF_BROKER=process REWIND_KAFKA_REQUIRED=1 go test -count=1 ./test/differential`.\n\n")
	md.WriteString("| scenario | outcome | field | Kafka 4.4 | Rewind | reason |\n|---|---|---|---|---|---|\n")
	esc := func(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
	for _, r := range results {
		if len(r.diffs) == 0 {
			same++
			fmt.Fprintf(&md, "| %s | identical | | | | |\n", esc(r.scenario))
			continue
		}
		explained := true
		for _, why := range r.reasons {
			explained = explained && why != ""
		}
		if explained {
			knownN++
		} else {
			unknown++
		}
		reasons := map[difference]string{}
		for i, d := range r.diffs {
			reasons[d] = r.reasons[i]
		}
		for _, g := range collapse(r.diffs) {
			why := reasons[g.difference]
			if why == "" {
				// A collapsed path: the reason of its first element.
				for i, d := range r.diffs {
					if numberedKey.ReplaceAllString(d.path, "[$1=*]") == g.path {
						why = r.reasons[i]
						break
					}
				}
			}
			outcome := "differs (known)"
			if why == "" {
				outcome, why = "DIFFERS", "unexplained"
			}
			field := g.path
			if g.count > 1 {
				field = fmt.Sprintf("%s (%d elements)", g.path, g.count)
			}
			fmt.Fprintf(&md, "| %s | %s | %s | %s | %s | %s |\n", esc(r.scenario), outcome, esc(field), esc(g.kafka), esc(g.rewind), esc(why))
		}
	}
	fmt.Fprintf(os.Stderr, "differential: %d scenarios against Apache Kafka: %d identical, %d differ as known, %d differ unexplained\n",
		len(results), same, knownN, unknown)
	// Only a whole run can tell that a line is no longer needed.
	if f := flag.Lookup("test.run"); known != nil && f != nil && f.Value.String() == "" {
		for _, e := range known.unused() {
			fmt.Fprintf(os.Stderr, "differential: known_differences.txt: no difference matched %q %q (fixed, or not run)\n", e.scenario, e.path)
		}
	}
	if path == "" {
		return nil
	}
	fmt.Fprintf(&md, "\n%d scenarios: %d identical, %d differ as known, %d differ unexplained.\n", len(results), same, knownN, unknown)
	return os.WriteFile(path, []byte(md.String()), 0o644)
}

// name is a topic or group name for this run.
func name(base string) string { return base + suffix }
