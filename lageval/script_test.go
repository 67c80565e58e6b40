package lageval

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected results (=> lines) of testdata/*.txt")

// epoch is time 0s of the scripts.
var epoch = time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)

// TestScripts replays the commit sequences of testdata/*.txt through Append
// and EvaluatePartition and compares each evaluation with the "=>" line that
// follows it. Commands, one per line ("#" starts a comment):
//
//	config intervals=10 min-distance=1s minimum-complete=0 broker-interval=30s
//	commit at=5s offset=120 [log-end=130]   (no log-end: lag unknown)
//	log-end at=40s offset=150               (a broker log-end sample)
//	window                                  (=> the window, after Append's merging)
//	eval at=60s log-end=170                 (=> STATUS lag=N complete=F: reason)
//
// go test ./lageval -run TestScripts -rewrite regenerates the "=>" lines.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got := runScript(t, string(data))
			if got == string(data) {
				return
			}
			if *rewrite {
				if err := os.WriteFile(f, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			t.Errorf("%s: results differ (run with -rewrite to accept):\n%s", f, diffLines(string(data), got))
		})
	}
}

// runScript executes a script and returns it with every "=>" line
// replaced by what the code answers now.
func runScript(t *testing.T, script string) string {
	t.Helper()
	cfg := DefaultConfig()
	var w []Commit
	var les []LogEnd
	var out []string
	lines := strings.Split(strings.TrimRight(script, "\n"), "\n")
	for n, line := range lines {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "=>") {
			continue // expected results are regenerated below
		}
		out = append(out, line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		fields := strings.Fields(trimmed)
		args := map[string]string{}
		for _, f := range fields[1:] {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				t.Fatalf("line %d: %q is not key=value", n+1, f)
			}
			args[k] = v
		}
		dur := func(k string) time.Duration {
			d, err := time.ParseDuration(args[k])
			if err != nil {
				t.Fatalf("line %d: %s=%q: %v", n+1, k, args[k], err)
			}
			return d
		}
		num := func(k string) int64 {
			v, err := strconv.ParseInt(args[k], 10, 64)
			if err != nil {
				t.Fatalf("line %d: %s=%q: %v", n+1, k, args[k], err)
			}
			return v
		}
		switch fields[0] {
		case "config":
			for k := range args {
				switch k {
				case "intervals":
					cfg.Intervals = int(num(k))
				case "min-distance":
					cfg.MinDistance = dur(k)
				case "broker-interval":
					cfg.BrokerInterval = dur(k)
				case "minimum-complete":
					f, err := strconv.ParseFloat(args[k], 64)
					if err != nil {
						t.Fatalf("line %d: %v", n+1, err)
					}
					cfg.MinimumComplete = f
				default:
					t.Fatalf("line %d: unknown config %q", n+1, k)
				}
			}
		case "commit":
			c := Commit{Offset: num("offset"), Time: epoch.Add(dur("at")), Lag: -1}
			if _, ok := args["log-end"]; ok {
				le := num("log-end")
				c.Lag = max(0, le-c.Offset)
				les = AppendLogEnd(les, LogEnd{Offset: le, Time: c.Time}, cfg)
			}
			w = Append(w, c, cfg)
		case "log-end":
			les = AppendLogEnd(les, LogEnd{Offset: num("offset"), Time: epoch.Add(dur("at"))}, cfg)
		case "window":
			var parts []string
			for _, c := range w {
				lag := "?"
				if c.Lag >= 0 {
					lag = strconv.FormatInt(c.Lag, 10)
				}
				parts = append(parts, fmt.Sprintf("%d@%s(lag %s)", c.Offset, c.Time.Sub(epoch), lag))
			}
			out = append(out, "=> "+strings.Join(parts, " "))
		case "eval":
			now := epoch.Add(dur("at"))
			p := Partition{Topic: "t", Partition: 0, Commits: w, LogEnds: les, CurrentLag: CurrentLag(w, num("log-end"))}
			st := EvaluatePartition(p, cfg, now)
			out = append(out, fmt.Sprintf("=> %s lag=%d complete=%.1f: %s", st.Status, st.CurrentLag, st.Complete, st.Reason))
		default:
			t.Fatalf("line %d: unknown command %q", n+1, fields[0])
		}
	}
	return strings.Join(out, "\n") + "\n"
}

func diffLines(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			fmt.Fprintf(&b, "line %d\n  want: %s\n   got: %s\n", i+1, w, g)
		}
	}
	return b.String()
}
