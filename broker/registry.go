package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rewindhq/rewind/catalog"
	"github.com/rewindhq/rewind/storage"
)

// registry owns the topic catalog and the open partition logs, and every
// change of them: creating a topic, adding partitions, deleting a topic,
// changing its configs, putting a repaired log in place, closing
// (registry_change.go); retention and compaction are scheduled over its
// logs (maintenance.go). Handlers, the group coordinator's store, metrics
// and the admin listener find topics and logs through it; the broker keeps
// the listener, the connections and the wiring.
//
// It lives in package broker rather than a package of its own because it
// shares with the handlers the full-disk guard, the rate-limited logs and
// the partition budget's error (answered POLICY_VIOLATION): a sub-package
// would have to export all of them for its one caller.
//
// # Locks
//
// Two kinds, and neither is held across a fsync of another topic:
//   - topicLocks, one per topic name, serializes the changes of that topic
//     (create, add partitions, delete, set configs, repair), which touch
//     the same directories and catalog entry. Held across their I/O, it
//     only ever blocks a change of the same topic.
//   - mu guards the map of published topics that Produce, Fetch and
//     Metadata read. It is held only to read or swap an entry, never
//     across I/O. A published *topic is never modified: a change installs
//     a new one, so a reader may keep the slice it got.
//
// Only the holder of a topic's lock replaces that topic's entry, so a
// change reads the entry, builds the next one and installs it without a
// lost update.
type registry struct {
	cfg     Config
	log     *slog.Logger
	disk    *diskGuard       // read-only on a full disk (diskspace.go)
	handles *storage.Handles // --max-open-files, shared by every log
	cat     *catalog.Catalog

	budget partitionBudget // --max-broker-partitions (partitions.go)
	locks  topicLocks      // one change of a topic at a time

	mu     sync.RWMutex
	topics map[string]*topic
	ids    map[[16]byte]string // the name of each published topic's id (byID)

	// onDelete is told of every deleted topic, after its logs are gone:
	// the group coordinator drops its committed offsets. Set before the
	// broker serves.
	onDelete func(name string)

	maint maintenance // retention and compaction (maintenance.go)

	// journal makes the appends to __consumer_offsets durable under
	// --fsync=always: one fdatasync for the commits of every partition
	// (storage.Journal). Nil under the other policies.
	journal *storage.Journal
}

// topic is a topic's catalog entry with its open partition logs, as
// published. Never modified once published.
type topic struct {
	meta  catalog.Topic
	parts []*storage.Log
}

func newRegistry(cfg Config, disk *diskGuard, handles *storage.Handles) *registry {
	r := &registry{cfg: cfg, log: cfg.Logger, disk: disk, handles: handles, topics: map[string]*topic{}, ids: map[[16]byte]string{}}
	r.budget.limit = cfg.MaxBrokerPartitions
	r.maint.init(r)
	return r
}

// open opens the catalog (recovering it from its previous copy if need
// be), clears the partition directories no topic owns, and opens every
// partition log. On an error nothing stays open.
func (r *registry) open() error {
	cat, err := catalog.Open(r.cfg.FS, r.cfg.DataDir, catalog.WithLogger(r.log), catalog.WithInternalTopic(OffsetsTopic, offsetsTopicConfigs()))
	if err != nil {
		return err
	}
	r.cat = cat
	r.cleanOrphans()
	if r.cfg.Fsync == storage.FsyncAlways {
		if r.journal, err = storage.OpenJournal(r.cfg.DataDir, OffsetsTopic, storage.JournalOptions{FS: r.cfg.FS, Logger: r.log}); err != nil {
			return fmt.Errorf("broker: %w", err)
		}
	}
	ts := cat.List()
	var parts []partRef
	for _, t := range ts {
		for p := int32(0); p < t.Partitions; p++ {
			parts = append(parts, partRef{t.Name, p, t.StorageConfig()})
		}
	}
	logs, err := r.openLogs(parts)
	if err == nil && r.journal != nil {
		// Each offsets partition appended to its segment, as it opened,
		// what its segment lost since the journal's last checkpoint and
		// the journal kept; now that all are open the journal drops the
		// old files and takes appends, before the coordinator replays.
		err = r.journal.Recover()
	}
	if err != nil {
		for _, l := range logs {
			if l != nil {
				l.Close()
			}
		}
		if r.journal != nil {
			r.journal.Close()
		}
		return err
	}
	r.mu.Lock()
	for _, t := range ts {
		r.topics[t.Name] = &topic{meta: t, parts: logs[:t.Partitions:t.Partitions]}
		r.ids[t.ID] = t.Name
		logs = logs[t.Partitions:]
		r.budget.add(int(t.Partitions))
	}
	r.mu.Unlock()
	return nil
}

// partRef names one partition log to open, with its configuration.
type partRef struct {
	topic string
	p     int32
	cfg   storage.Config
}

// refs names partitions [from, to) of a topic.
func refs(name string, cfg storage.Config, from, to int32) []partRef {
	out := make([]partRef, 0, to-from)
	for p := from; p < to; p++ {
		out = append(out, partRef{name, p, cfg})
	}
	return out
}

// openLogs opens the partition logs of parts, logIOParallelism at a time
// and outside any lock; logs[i] is parts[i]'s. The logs write their
// checkpoints once all are open (storage.Options.OpenedAll). On an error
// (matching storage.ErrStorage) the logs that did open are returned with
// it, for the caller to close or delete.
func (r *registry) openLogs(parts []partRef) ([]*storage.Log, error) {
	logs := make([]*storage.Log, len(parts))
	errs := make([]error, len(parts))
	opened := make(chan struct{})
	inParallel(len(parts), func(i int) {
		pr := parts[i]
		opts := r.logOptions(pr.topic, pr.p)
		opts.OpenedAll = opened
		l, err := storage.Open(r.logDir(pr.topic, pr.p), pr.cfg, opts)
		if err != nil {
			errs[i] = fmt.Errorf("broker: %w", openPartitionErr(pr.topic, pr.p, err))
			return
		}
		logs[i] = l
	})
	close(opened)
	return logs, errors.Join(errs...)
}

func (r *registry) logDir(name string, p int32) string {
	return filepath.Join(r.cfg.DataDir, "logs", name+"-"+strconv.Itoa(int(p)))
}

// logOptions are the storage options of partition p of topic: those of
// __consumer_offsets write through the journal.
func (r *registry) logOptions(topic string, p int32) storage.Options {
	o := storage.Options{FS: r.cfg.FS, Fsync: r.cfg.Fsync, FsyncInterval: r.cfg.FsyncInterval, Logger: r.log, Handles: r.handles}
	if topic == OffsetsTopic && r.journal != nil {
		o.Journal, o.JournalPartition = r.journal, p
	}
	return o
}

// get returns the published topic, or nil.
func (r *registry) get(name string) *topic {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.topics[name]
}

// byID returns the name of the published topic with id id.
func (r *registry) byID(id [16]byte) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	name, ok := r.ids[id]
	return name, ok
}

// partition returns the log of topic/partition, or nil.
func (r *registry) partition(name string, p int32) *storage.Log {
	t := r.get(name)
	if t == nil || p < 0 || int(p) >= len(t.parts) {
		return nil
	}
	return t.parts[p]
}

// meta returns a topic's catalog entry as published.
func (r *registry) meta(name string) (catalog.Topic, bool) {
	if t := r.get(name); t != nil {
		return t.meta, true
	}
	return catalog.Topic{}, false
}

// all returns every published topic, sorted by name.
func (r *registry) all() []*topic {
	r.mu.RLock()
	out := make([]*topic, 0, len(r.topics))
	for _, t := range r.topics {
		out = append(out, t)
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b *topic) int { return strings.Compare(a.meta.Name, b.meta.Name) })
	return out
}

// list returns the catalog entries of every published topic, sorted by
// name: what Metadata lists. The published map, not the catalog, so that
// a topic is never listed before its logs serve.
func (r *registry) list() []catalog.Topic {
	ts := r.all()
	out := make([]catalog.Topic, len(ts))
	for i, t := range ts {
		out[i] = t.meta
	}
	return out
}

// close stops retention and compaction (the broker's context must be
// cancelled first) and closes every log cleanly, in parallel, so the next
// start skips recovery.
func (r *registry) close() error {
	r.maint.wait()
	r.mu.Lock()
	var logs []*storage.Log
	for _, t := range r.topics {
		logs = append(logs, t.parts...)
	}
	r.topics = map[string]*topic{}
	r.ids = map[[16]byte]string{}
	r.mu.Unlock()
	errs := make([]error, len(logs))
	inParallel(len(logs), func(i int) { errs[i] = logs[i].Close() })
	if r.journal != nil {
		// After the logs: emptied only if they all closed cleanly.
		errs = append(errs, r.journal.Close())
	}
	return errors.Join(errs...)
}

// logIOParallelism is how many partition logs are opened or closed at
// once. Opening and closing are a few small reads and writes with fsyncs;
// run in parallel, the file system's journal commits one for many, so a
// broker with thousands of partitions starts and stops in a fraction of
// the time.
const logIOParallelism = 16

// inParallel calls fn(0) ... fn(n-1), logIOParallelism at a time.
func inParallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, logIOParallelism)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

// offsetsCompactPolicy is how __consumer_offsets is compacted: every
// key's latest commit or group record stays, superseded commits stay for
// the history window (offset tools rewind groups to past positions with
// them), and the tombstones of deleted offsets and groups for a day
// (Kafka's delete.retention.ms). The active segment is rolled once its
// oldest record could have left the history window, so that compaction
// reaches it without waiting for segment.ms.
func (r *registry) offsetsCompactPolicy() storage.CompactPolicy {
	h := r.cfg.OffsetsHistoryRetention
	return storage.CompactPolicy{
		HistoryRetention: h,
		DeleteRetention:  24 * time.Hour,
		MaxCompactionLag: h,
		DedupeBufferSize: r.cfg.LogCleanerDedupeBufferSize,
	}
}

// compactPolicy is how t is compacted, if it is.
func (r *registry) compactPolicy(t catalog.Topic) (storage.CompactPolicy, bool) {
	if t.Name == OffsetsTopic {
		return r.offsetsCompactPolicy(), true
	}
	p, ok := t.Compaction()
	p.DedupeBufferSize = r.cfg.LogCleanerDedupeBufferSize
	return p, ok
}
