package txn

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ringLog is a franz-go logger that keeps the last lines it was given, to
// print when a test fails: the client's lines at info level and above in
// one ring, its debug lines in a smaller one (they are many, only the last
// ones say what the client was doing when it stopped making progress),
// and the ETL loop's own lines (Printf) in a third.
type ringLog struct {
	mu    sync.Mutex
	start time.Time
	info  ring
	debug ring
	app   ring
}

type ring struct {
	lines []string
	next  int
	full  bool
	lost  int
}

func (r *ring) add(line string) {
	if !r.full && len(r.lines) < cap(r.lines) {
		r.lines = append(r.lines, line)
		return
	}
	r.full = true
	r.lines[r.next] = line
	r.next = (r.next + 1) % len(r.lines)
	r.lost++
}

func (r *ring) String() string {
	var sb strings.Builder
	if r.lost > 0 {
		fmt.Fprintf(&sb, "\t(%d earlier lines dropped)\n", r.lost)
	}
	for i := range r.lines {
		sb.WriteString("\t")
		sb.WriteString(r.lines[(r.next+i)%len(r.lines)])
		sb.WriteString("\n")
	}
	return sb.String()
}

func newRingLog(start time.Time, infoLines, debugLines, appLines int) *ringLog {
	return &ringLog{
		start: start,
		info:  ring{lines: make([]string, 0, infoLines)},
		debug: ring{lines: make([]string, 0, debugLines)},
		app:   ring{lines: make([]string, 0, appLines)},
	}
}

func (l *ringLog) Level() kgo.LogLevel { return kgo.LogLevelDebug }

func (l *ringLog) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%8.3fs %s %s", time.Since(l.start).Seconds(), level, msg)
	for i := 0; i+1 < len(keyvals); i += 2 {
		fmt.Fprintf(&sb, " %v=%v", keyvals[i], keyvals[i+1])
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if level == kgo.LogLevelDebug {
		l.debug.add(sb.String())
	} else {
		l.info.add(sb.String())
	}
}

// Printf records a line of the ETL loop's.
func (l *ringLog) Printf(format string, args ...any) {
	line := fmt.Sprintf("%8.3fs ", time.Since(l.start).Seconds()) + fmt.Sprintf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.app.add(line)
}

func (l *ringLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return "loop:\n" + l.app.String() + "client, info and above:\n" + l.info.String() + "client, last debug lines:\n" + l.debug.String()
}

// owned is the set of partitions an instance was assigned and not revoked
// or lost since.
type owned struct {
	mu    sync.Mutex
	parts map[string]map[int32]bool
}

func (o *owned) change(m map[string][]int32, add bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.parts == nil {
		o.parts = map[string]map[int32]bool{}
	}
	for t, ps := range m {
		if o.parts[t] == nil {
			o.parts[t] = map[int32]bool{}
		}
		for _, p := range ps {
			if add {
				o.parts[t][p] = true
			} else {
				delete(o.parts[t], p)
			}
		}
	}
}

func (o *owned) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := 0
	for _, m := range o.parts {
		k += len(m)
	}
	return k
}

func (o *owned) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ps []int
	for _, m := range o.parts {
		for p := range m {
			ps = append(ps, int(p))
		}
	}
	sort.Ints(ps)
	return fmt.Sprint(ps)
}
