package storage

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/recovery/*.txt")

// TestRecoveryScripts runs the scripts in testdata/recovery. Each case is a
// command, a "----" line and the expected output, ending at a blank line:
//
//	open segment_bytes=2000 fsync=never   open the log (closing any open one)
//	append n=3 records=4 size=100          append n batches
//	close | crash                          clean shutdown | abandon the log
//	truncate file=last by=30               cut bytes off a file's end
//	flip file=0.log at=-5                  flip a byte (negative: from the end)
//	zero file=last at=-200 n=512           zero n bytes from at (default: to the end)
//	garbage file=last n=10                 append n*8 garbage bytes
//	write file=checkpoint data=xyz         replace a file
//	rm file=0.index                        remove a file
//	state | ls                             print the log state | the directory
//
// file= takes "last" (the newest .log), "<base>.<ext>" or a plain name.
// The output holds what the log reported through slog while recovering.
// Regenerate with: go test ./storage/ -run TestRecoveryScripts -rewrite
func TestRecoveryScripts(t *testing.T) {
	files, _ := filepath.Glob("testdata/recovery/*.txt")
	if len(files) == 0 {
		t.Fatal("no scripts")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runScript(t, file)
		})
	}
}

type scriptCase struct{ comment, cmd, want string }

func parseScript(t *testing.T, data string) []scriptCase {
	var cases []scriptCase
	var comment strings.Builder
	lines := strings.Split(data, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.HasPrefix(line, "#") {
			comment.WriteString(line + "\n")
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		c := scriptCase{comment: comment.String(), cmd: line}
		comment.Reset()
		if i+1 >= len(lines) || lines[i+1] != "----" {
			t.Fatalf("line %d: want ---- after %q", i+2, line)
		}
		i += 2
		var out []string
		for ; i < len(lines) && lines[i] != ""; i++ {
			out = append(out, lines[i])
		}
		c.want = strings.Join(out, "\n")
		cases = append(cases, c)
	}
	return cases
}

// scriptHandler renders slog records as "level msg k=v" lines, keeping
// only base names of paths so output does not depend on the temp dir.
type scriptHandler struct{ buf *bytes.Buffer }

func (h scriptHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h scriptHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h scriptHandler) WithGroup(string) slog.Handler            { return h }
func (h scriptHandler) Handle(_ context.Context, r slog.Record) error {
	fmt.Fprintf(h.buf, "log: %s %s", strings.ToLower(r.Level.String()), r.Message)
	r.Attrs(func(a slog.Attr) bool {
		v := a.Value.String()
		if strings.Contains(v, string(filepath.Separator)) {
			v = filepath.Base(v)
		}
		fmt.Fprintf(h.buf, " %s=%s", a.Key, v)
		return true
	})
	h.buf.WriteByte('\n')
	return nil
}

func runScript(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	var logs bytes.Buffer
	e.opts.Logger = slog.New(scriptHandler{&logs})
	var l *Log
	defer func() {
		if l != nil {
			l.Close()
		}
	}()
	var out strings.Builder
	for _, c := range parseScript(t, string(data)) {
		logs.Reset()
		got := strings.TrimRight(runCommand(t, e, &l, c.cmd, &logs), "\n")
		if *rewrite {
			fmt.Fprintf(&out, "%s%s\n----\n%s\n\n", c.comment, c.cmd, got)
			continue
		}
		if got != c.want {
			t.Errorf("%s\n got:\n%s\nwant:\n%s", c.cmd, got, c.want)
		}
	}
	if *rewrite {
		if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func runCommand(t *testing.T, e *env, lp **Log, cmd string, logs *bytes.Buffer) string {
	fields := strings.Fields(cmd)
	args := map[string]string{}
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, "=")
		args[k] = v
	}
	num := func(k string, def int64) int64 {
		v, ok := args[k]
		if !ok {
			return def
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		return n
	}
	path := func() string {
		name := args["file"]
		if name == "last" {
			return segPath(e.dir, lastSeg(t, e.dir), logSuffix)
		}
		if base, ext, ok := strings.Cut(name, "."); ok {
			if b, err := strconv.ParseInt(base, 10, 64); err == nil {
				return segPath(e.dir, b, "."+ext)
			}
		}
		return filepath.Join(e.dir, name)
	}
	at := func(size int64) int64 {
		p := num("at", 0)
		if p < 0 {
			p += size
		}
		return p
	}
	l := *lp
	var out strings.Builder
	switch fields[0] {
	case "open":
		if l != nil {
			l.close(false)
		}
		e.cfg.SegmentBytes = num("segment_bytes", e.cfg.SegmentBytes)
		e.cfg.IndexIntervalBytes = int32(num("index_interval", int64(e.cfg.IndexIntervalBytes)))
		if p, ok := args["fsync"]; ok {
			e.opts.Fsync, _ = ParseFsync(p)
		}
		var err error
		l, err = Open(e.dir, e.cfg, e.opts)
		if err != nil {
			return "error: " + err.Error()
		}
		*lp = l
		out.WriteString(logs.String())
		out.WriteString(logState(t, l))
	case "append":
		for i := int64(0); i < num("n", 1); i++ {
			res, err := l.Append(batch(int(num("records", 4)), int(num("size", 100)), 1000+i))
			if err != nil {
				fmt.Fprintf(&out, "error: %v\n", errClass(err))
				break
			}
			if i == 0 || i == num("n", 1)-1 {
				fmt.Fprintf(&out, "offsets %d..%d\n", res.BaseOffset, res.LastOffset)
			}
		}
		if err := l.WaitDurable(context.Background(), l.LogEndOffset()); err != nil {
			fmt.Fprintf(&out, "wait: %v\n", errClass(err))
		}
	case "close":
		if err := l.Close(); err != nil {
			fmt.Fprintf(&out, "error: %v\n", err)
		}
		*lp = nil
		out.WriteString("ok")
	case "crash":
		l.close(false)
		*lp = nil
		out.WriteString("ok")
	case "truncate":
		p := path()
		size := fileSize(t, p)
		if err := os.Truncate(p, size-num("by", 0)); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%s: %d -> %d bytes", filepath.Base(p), size, size-num("by", 0))
	case "flip":
		p := path()
		pos := at(fileSize(t, p))
		flipByte(t, p, pos)
		fmt.Fprintf(&out, "%s: flipped byte %d", filepath.Base(p), pos)
	case "zero":
		p := path()
		size := fileSize(t, p)
		pos := at(size)
		end := min(size, pos+num("n", size-pos))
		f, _ := os.OpenFile(p, os.O_RDWR, 0)
		f.WriteAt(make([]byte, end-pos), pos)
		f.Close()
		fmt.Fprintf(&out, "%s: zeroed %d..%d", filepath.Base(p), pos, end)
	case "garbage":
		f, _ := os.OpenFile(path(), os.O_WRONLY|os.O_APPEND, 0)
		f.Write(bytes.Repeat([]byte("garbage!"), int(num("n", 1))))
		f.Close()
		fmt.Fprintf(&out, "%s: %d bytes appended", filepath.Base(path()), 8*num("n", 1))
	case "write":
		if err := os.WriteFile(path(), []byte(args["data"]), 0o644); err != nil {
			t.Fatal(err)
		}
		out.WriteString("ok")
	case "rm":
		if err := os.Remove(path()); err != nil {
			t.Fatal(err)
		}
		out.WriteString("ok")
	case "state":
		out.WriteString(logState(t, l))
	case "ls":
		ents, _ := os.ReadDir(e.dir)
		for _, ent := range ents {
			fi, _ := ent.Info()
			fmt.Fprintf(&out, "%s %d\n", ent.Name(), fi.Size())
		}
	default:
		t.Fatalf("unknown command %q", cmd)
	}
	return out.String()
}

// errClass names the package sentinels an error matches.
func errClass(err error) string {
	var names []string
	for _, s := range []struct {
		name string
		err  error
	}{{"ErrStorage", ErrStorage}, {"ErrCorruption", ErrCorruption}, {"ErrClosed", ErrClosed}, {"ErrOffsetOutOfRange", ErrOffsetOutOfRange}} {
		if errors.Is(err, s.err) {
			names = append(names, s.name)
		}
	}
	sort.Strings(names)
	return strings.Join(names, "+")
}

// logState prints offsets, segments and what a full read returns.
func logState(t *testing.T, l *Log) string {
	var b strings.Builder
	fmt.Fprintf(&b, "log start %d, end %d, hw %d, size %d\n", l.LogStartOffset(), l.LogEndOffset(), l.HighWatermark(), l.Size())
	if err := l.Err(); err != nil {
		fmt.Fprintf(&b, "fenced: %s\n", errClass(err))
		return b.String()
	}
	l.mu.RLock()
	for _, s := range l.segs {
		fmt.Fprintf(&b, "segment %d: offsets %d..%d, %d bytes\n", s.base, s.base, s.end-1, s.size)
	}
	l.mu.RUnlock()
	n, batches := 0, 0
	for off := l.LogStartOffset(); off < l.HighWatermark(); {
		r, err := l.Read(off, 1<<20, true)
		if err != nil {
			fmt.Fprintf(&b, "read %d: %s\n", off, errClass(err))
			return b.String()
		}
		data, _ := r.AppendTo(nil)
		r.Release()
		if len(data) == 0 {
			break
		}
		for len(data) > 0 {
			h, err := ParseBatchHeader(data)
			if err != nil {
				fmt.Fprintf(&b, "bad batch read at %d: %v\n", off, err)
				return b.String()
			}
			for o := max(h.BaseOffset, off); o <= h.LastOffset(); o++ {
				n++
			}
			batches++
			off = h.LastOffset() + 1
			data = data[h.Size():]
		}
	}
	fmt.Fprintf(&b, "read %d records in %d batches\n", n, batches)
	return b.String()
}
