package compat

import (
	"bufio"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
)

type status int

const (
	pending status = iota // never reached: reported as a failure
	pass
	fail
	na     // the client does not support it (reason says why)
	notRun // tool missing and not required
)

type cell struct {
	status status
	reason string
	known  string // known_failures.txt note, for failing cells listed there
}

type row struct {
	mu      sync.Mutex
	name    string
	lang    string
	version string
	section string // a section of its own in the report (java_test.go), or ""
	order   int
	caps    []string
	cells   map[string]*cell
}

type results struct {
	mu   sync.Mutex
	rows map[string]*row
}

func newResults() *results { return &results{rows: map[string]*row{}} }

func (r *results) row(name, lang string, caps []string, order int) *row {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := &row{name: name, lang: lang, caps: caps, order: order, cells: map[string]*cell{}}
	for _, c := range caps {
		w.cells[c] = &cell{}
	}
	r.rows[name] = w
	return w
}

func (r *results) sorted() []*row {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*row
	for _, w := range r.rows {
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].order < out[j].order })
	return out
}

func (w *row) setVersion(v string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.version = v
}

func (w *row) set(capability string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.cells[capability]
	if err == nil {
		c.status, c.reason = pass, ""
		return
	}
	c.status, c.reason = fail, oneLine(err.Error())
}

func (w *row) na(capability, why string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cells[capability].status = na
	w.cells[capability].reason = why
}

// skip marks one cell not run, with why (an optional library missing).
func (w *row) skip(capability, why string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cells[capability].status = notRun
	w.cells[capability].reason = why
}

func (w *row) failAll(why string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.cells {
		c.status, c.reason = fail, why
	}
}

func (w *row) notRun(why string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.cells {
		c.status, c.reason = notRun, why
	}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r", "")
	s = strings.ReplaceAll(s, "\n", " / ")
	return short(s, 900)
}

// knownFailures maps "client|capability" to the note explaining it.
type knownFailures map[string]string

// loadKnownFailures reads compat/known_failures.txt: one failing cell a
// line, "client | capability | why", # comments. A listed cell that fails
// does not fail the test (the table still shows it failing, with the
// symptom); a listed cell that passes is reported so the line is removed.
func loadKnownFailures(t *testing.T) knownFailures {
	t.Helper()
	kf := knownFailures{}
	f, err := os.Open("known_failures.txt")
	if os.IsNotExist(err) {
		return kf
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		parts := strings.SplitN(l, "|", 3)
		if len(parts) != 3 {
			t.Fatalf("known_failures.txt:%d: want \"client | capability | why\", got %q", n, l)
		}
		kf[strings.TrimSpace(parts[0])+"|"+strings.TrimSpace(parts[1])] = strings.TrimSpace(parts[2])
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return kf
}

// check fails the test for every failing cell not listed as known.
func (r *results) check(t *testing.T, kf knownFailures) {
	t.Helper()
	seen := map[string]bool{}
	for _, w := range r.sorted() {
		for _, capability := range w.caps {
			c := w.cells[capability]
			key := w.name + "|" + capability
			note, isKnown := kf[key]
			seen[key] = true
			switch c.status {
			case pending:
				c.status, c.reason = fail, "not reached (the client's test stopped early)"
				fallthrough
			case fail:
				if isKnown {
					c.known = note
					t.Logf("known failure: %s / %s: %s (%s)", w.name, capability, c.reason, note)
				} else {
					t.Errorf("%s / %s: %s", w.name, capability, c.reason)
				}
			case pass:
				if isKnown {
					t.Logf("%s / %s passes now: remove it from compat/known_failures.txt", w.name, capability)
				}
			}
		}
	}
	for _, c := range clients {
		for _, capability := range clientCaps {
			seen[c.name+"|"+capability] = true
		}
	}
	for _, capability := range burrowCaps {
		seen["Burrow|"+capability] = true
	}
	for _, key := range sectionCaps() {
		seen[key] = true
	}
	for key := range kf {
		if !seen[key] {
			t.Errorf("compat/known_failures.txt lists %q, which is no cell of the matrix", key)
		}
	}
}
