package broker

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rewindhq/rewind/storage"
)

// Partitions of the whole broker: a limit on how many there are, topic
// changes that are all-or-nothing, and partition directories that no topic
// owns.

// errPartitionLimit: a topic change would take the broker past
// --max-broker-partitions. Answered POLICY_VIOLATION (errors.go).
//
// Kafka has no such limit (KIP-578 proposed max.broker.partitions and was
// never adopted), but its controller caps the partitions one CreateTopics
// request may create (10,000, ReplicationControlManager) and answers that
// cap with POLICY_VIOLATION, as create.topic.policy rejections are. That
// is the closest Kafka precedent, and clients show it well: it is not
// retriable (THROTTLING_QUOTA_EXCEEDED is retried by the Java admin client
// until its timeout, while nothing will change), and unlike
// INVALID_PARTITIONS it does not suggest that the count asked for is
// wrong in itself. The message gives the limit and the partitions in use.
var errPartitionLimit = errors.New("broker partition limit reached")

// partitionBudget counts the partitions of the broker's topics, and those
// a creation in progress has reserved, against --max-broker-partitions.
type partitionBudget struct {
	mu    sync.Mutex
	limit int
	used  int
}

// reserve claims n partitions, or fails with errPartitionLimit; with
// checkOnly (validate-only requests) nothing is claimed.
func (p *partitionBudget) reserve(n int32, checkOnly bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.limit > 0 && p.used+int(n) > p.limit {
		return fmt.Errorf("%w: %d more partitions would make %d on this broker, above --max-broker-partitions %d (%d in use)",
			errPartitionLimit, n, p.used+int(n), p.limit, p.used)
	}
	if !checkOnly {
		p.used += int(n)
	}
	return nil
}

// add counts n partitions without checking the limit (topics opened at
// start; release takes them back).
func (p *partitionBudget) add(n int) {
	p.mu.Lock()
	p.used += n
	p.mu.Unlock()
}

func (p *partitionBudget) release(n int) { p.add(-n) }

// topicLocks serializes the changes of one topic (create, add partitions,
// delete, set configs, repair), which touch the same partition directories
// and catalog entry, without a lock shared by all topics held across their
// I/O. An entry lives only while
// someone holds or waits for it.
type topicLocks struct {
	mu sync.Mutex
	m  map[string]*topicLock
}

type topicLock struct {
	mu      sync.Mutex
	waiters int
}

// lock locks name and returns the unlock function.
func (k *topicLocks) lock(name string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*topicLock{}
	}
	l := k.m[name]
	if l == nil {
		l = &topicLock{}
		k.m[name] = l
	}
	l.waiters++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.waiters--; l.waiters == 0 {
			delete(k.m, name)
		}
		k.mu.Unlock()
	}
}

// openPartitionErr is the error of a topic change that failed to open its
// partition logs: an I/O failure (ENOSPC, EMFILE, EIO ...) matching
// storage.ErrStorage, which the client gets as KAFKA_STORAGE_ERROR.
func openPartitionErr(name string, p int32, err error) error {
	if !errors.Is(err, storage.ErrStorage) {
		err = fmt.Errorf("%w: %w", storage.ErrStorage, err)
	}
	return fmt.Errorf("open partition %s-%d: %w", name, p, err)
}

// orphansDir is where start-up moves partition directories holding data
// that no topic of the catalog owns.
const orphansDir = ".orphans"

// cleanOrphans looks at the partition directories under logs/ that no
// topic of the catalog owns (a topic unknown to it, or a partition number
// at or past its count): left by a crash in the middle of creating,
// growing or deleting a topic, or by a catalog that lost a topic. Those
// holding no record (no segment with a byte in it: a creation that never
// completed) are removed. Those holding records are never deleted, since
// they may be the data of a topic the catalog lost: they are moved to
// logs/.orphans/, out of the way of a new topic of the same name, for the
// operator to restore or delete. Both are logged. Failures are logged and
// leave the directory where it is.
func (r *registry) cleanOrphans() {
	logs := filepath.Join(r.cfg.DataDir, "logs")
	ents, err := r.cfg.FS.ReadDir(logs)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			r.log.Warn("listing partition directories for orphans", "dir", logs, "err", err)
		}
		return
	}
	owned := map[string]int32{}
	for _, t := range r.cat.List() {
		owned[t.Name] = t.Partitions
	}
	var removed, moved int
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		i := strings.LastIndexByte(name, '-')
		if i <= 0 {
			continue // not a partition directory
		}
		p, err := strconv.Atoi(name[i+1:])
		if err != nil || p < 0 || strconv.Itoa(p) != name[i+1:] {
			continue
		}
		if n, ok := owned[name[:i]]; ok && int32(p) < n {
			continue
		}
		dir := filepath.Join(logs, name)
		data, err := r.holdsRecords(dir)
		if err != nil {
			r.log.Warn("orphan partition directory left alone: cannot read it", "dir", dir, "err", err)
			continue
		}
		if !data {
			if err := r.cfg.FS.RemoveAll(dir); err != nil {
				r.log.Warn("removing an orphan partition directory", "dir", dir, "err", err)
				continue
			}
			r.log.Info("removed an empty partition directory no topic owns", "dir", dir)
			removed++
			continue
		}
		to := filepath.Join(logs, orphansDir, name)
		if _, err := r.cfg.FS.Stat(to); err == nil {
			to += "." + time.Now().UTC().Format("20060102T150405.000Z")
		}
		if err := r.cfg.FS.MkdirAll(filepath.Join(logs, orphansDir), 0o755); err != nil {
			r.log.Warn("moving an orphan partition directory", "dir", dir, "err", err)
			continue
		}
		if err := r.cfg.FS.Rename(dir, to); err != nil {
			r.log.Warn("moving an orphan partition directory", "dir", dir, "err", err)
			continue
		}
		r.log.Warn("moved a partition directory holding records that no topic owns; restore or delete it", "dir", dir, "to", to)
		moved++
	}
	if removed+moved > 0 {
		if err := r.cfg.FS.SyncDir(logs); err != nil {
			r.log.Warn("syncing the logs directory", "err", err)
		}
		r.log.Info("orphan partition directories", "removed_empty", removed, "moved_to", filepath.Join(logs, orphansDir), "moved", moved)
	}
}

// holdsRecords reports whether a partition directory has a segment (or a
// compaction output) with any byte in it.
func (r *registry) holdsRecords(dir string) (bool, error) {
	ents, err := r.cfg.FS.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, e := range ents {
		n := e.Name()
		if !strings.HasSuffix(n, ".log") && !strings.HasSuffix(n, ".swap") && !strings.HasSuffix(n, ".cleaned") {
			continue
		}
		fi, err := r.cfg.FS.Stat(filepath.Join(dir, n))
		if err != nil {
			return false, err
		}
		if fi.Size() > 0 {
			return true, nil
		}
	}
	return false, nil
}

// DefaultMaxBrokerPartitions is the default --max-broker-partitions. An
// idle partition holds no descriptor (segment files open on demand, see
// storage.Handles) but does hold memory: its log, its fsync goroutine and
// its indexes: about 6 KiB of RSS each (measured by
// TestManyPartitionsUnderLowDescriptorLimit in test/adversarial), so the
// default keeps a broker of idle partitions well under 1 GiB.
const DefaultMaxBrokerPartitions = 100000

// WithMaxBrokerPartitions sets --max-broker-partitions (0 = unlimited).
func WithMaxBrokerPartitions(n int) Option { return func(c *Config) { c.MaxBrokerPartitions = n } }

// WithMaxOpenFiles sets --max-open-files (0 = half the descriptor limit).
func WithMaxOpenFiles(n int) Option { return func(c *Config) { c.MaxOpenFiles = n } }

// partitionMetrics are the figures of the two limits, read when scraped.
func partitionMetrics(b *Broker) []prometheus.Collector {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	return []prometheus.Collector{
		// rewind_partitions (metrics.go) counts what is held against it.
		gauge("rewind_partitions_max", "--max-broker-partitions (0 = unlimited).",
			func() float64 { return float64(b.reg.budget.limit) }),
		gauge("rewind_segment_files_open", "Segment files open now.",
			func() float64 { return float64(b.reg.handles.Open()) }),
		gauge("rewind_segment_files_max", "--max-open-files: segment files kept open at most.",
			func() float64 { return float64(b.reg.handles.Max()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "rewind_segment_file_evictions_total", Help: "Idle segment files closed to stay within --max-open-files.",
		}, func() float64 { return float64(b.reg.handles.Evictions()) }),
	}
}
