package broker

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rewindhq/rewind/storage/vfs"
)

// DataDirLockName is the lock file every process keeps locked while it
// reads or writes a data directory (Kafka's log directories have the same
// ".lock").
const DataDirLockName = ".lock"

// ErrDataDirInUse is wrapped by the error of LockDataDir (and so of New)
// when another process holds the data directory.
var ErrDataDirInUse = errors.New("data directory in use by another process")

// DataDirLock is a held data directory lock; Close releases it.
type DataDirLock struct {
	l *vfs.FileLock
}

// Close releases the lock.
func (l *DataDirLock) Close() error {
	if l == nil {
		return nil
	}
	return l.l.Close()
}

// LockDataDir creates dir if needed and locks it for this process, before
// anything in it is read: two processes appending to the same segment
// files lose acknowledged records. New takes it; every command that opens
// a data directory without a broker must take it too. If another process
// holds it the error wraps ErrDataDirInUse and names that process (its
// pid, host and start time, which the holder writes into the lock file).
//
// The kernel releases the lock when its holder exits, however it exits, so
// the file left behind after a kill -9 does not block the next start.
func LockDataDir(dir string) (*DataDirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("broker: data directory: %w", err)
	}
	host, _ := os.Hostname()
	info := fmt.Sprintf("pid=%d\nhost=%s\nstarted=%s\ncommand=%s\n",
		os.Getpid(), host, time.Now().UTC().Format(time.RFC3339), shellJoin(os.Args))
	name := filepath.Join(dir, DataDirLockName)
	l, err := vfs.LockFile(name, []byte(info))
	var le *vfs.LockedError
	if errors.As(err, &le) {
		return nil, fmt.Errorf("broker: %w: %s is locked by %s (lock file %s); stop that process or wait until it has shut down, or use another --data-dir",
			ErrDataDirInUse, dir, describeHolder(le.Holder, host), name)
	}
	if err != nil {
		return nil, fmt.Errorf("broker: lock data directory: %w", err)
	}
	return &DataDirLock{l: l}, nil
}

// describeHolder turns the lock file's contents into "pid 123 on host h,
// started at t".
func describeHolder(info []byte, ourHost string) string {
	kv := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(info))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[k] = v
		}
	}
	if kv["pid"] == "" {
		return "another process (it has not written its pid)"
	}
	s := "pid " + kv["pid"]
	if h := kv["host"]; h != "" {
		s += " on host " + h
		if h != ourHost {
			s += " (not this host: a shared file system?)"
		}
	}
	if t := kv["started"]; t != "" {
		s += ", started " + t
	}
	if c := kv["command"]; c != "" {
		s += ": " + c
	}
	return s
}

// shellJoin joins a command line, quoting the arguments a shell would
// split or drop, for the lock file's one-line command.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`") {
			a = strconv.Quote(a)
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}
