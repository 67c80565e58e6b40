package broker

import (
	"errors"
	"fmt"
	"slices"

	"github.com/rewindhq/rewind/catalog"
	"github.com/rewindhq/rewind/storage"
)

// The changes of a topic. Each runs under the topic's lock and in three
// steps, so that what is served, what the catalog says and what is on
// disk never disagree after a failure:
//
//  1. the new partition logs are opened, in parallel, outside any lock
//     another topic needs;
//  2. the catalog commits the change (its file written and fsynced, under
//     the catalog's own lock only);
//  3. the new entry is published, under mu, for Produce, Fetch and
//     Metadata.
//
// A failure at 1 or 2 deletes what 1 opened and leaves the topic as it
// was, in memory and in the catalog. The catalog commits before the logs
// are published, not after: published logs take records, and a commit
// failing after a client was acknowledged records in them would take the
// records away again. A crash between 1 and 2 leaves directories no topic
// owns and holding no record, which the next start removes (cleanOrphans).

// create creates a topic, all or nothing: if any partition fails to open
// (ENOSPC, EMFILE, EIO ...) or the catalog cannot be written, every
// partition directory is removed, nothing is published, and the error
// matches storage.ErrStorage. Past --max-broker-partitions it fails with
// errPartitionLimit before anything is written. admit, when not nil, is
// asked once the request is found valid, with the partitions it creates:
// its error (the controller mutation quota's) is returned and nothing is
// created.
func (r *registry) create(name string, partitions int32, configs map[string]string, internal, validateOnly bool, admit func(int32) error) (catalog.Topic, error) {
	if partitions > r.cfg.MaxPartitions && !internal {
		return catalog.Topic{}, fmt.Errorf("%w: %d partitions requested, the limit is %d", catalog.ErrInvalidPartitions, partitions, r.cfg.MaxPartitions)
	}
	defer r.locks.lock(name)()
	// The catalog's checks (the name, the configs, not a topic yet) first:
	// a bad request says so rather than that the broker is full.
	probe, err := r.cat.Create(name, partitions, configs, internal, true)
	if err != nil {
		return catalog.Topic{}, err
	}
	if err := r.budget.reserve(partitions, validateOnly); err != nil {
		return catalog.Topic{}, err
	}
	if admit != nil {
		if err := admit(partitions); err != nil {
			if !validateOnly {
				r.budget.release(int(partitions))
			}
			return catalog.Topic{}, err
		}
	}
	if validateOnly {
		return probe, nil
	}
	// A topic of the same name deleted earlier may have left directories
	// if its deletion failed: start clean, or not at all, since opening
	// them would serve their records as the new topic's.
	if err := r.removeDirs(name, 0, partitions); err != nil {
		r.budget.release(int(partitions))
		return catalog.Topic{}, fmt.Errorf("broker: topic %s not created: %w", name, err)
	}
	logs, err := r.openLogs(refs(name, probe.StorageConfig(), 0, partitions))
	var meta catalog.Topic
	if err == nil {
		meta, err = r.cat.Create(name, partitions, configs, internal, false)
	}
	if err != nil {
		r.budget.release(int(partitions))
		return catalog.Topic{}, r.rollback("topic not created", name, logs, 0, partitions, err)
	}
	r.mu.Lock()
	r.topics[name] = &topic{meta: meta, parts: logs}
	r.ids[meta.ID] = name
	r.mu.Unlock()
	r.log.Info("topic created", "topic", name, "partitions", partitions)
	return meta, nil
}

// addPartitions grows a topic to total partitions, all or nothing: the new
// logs are opened, then the catalog records the count, then they are
// published; on any failure they are deleted and the topic is left as it
// was, in memory and in the catalog. admit is as create's, asked with the
// partitions added.
func (r *registry) addPartitions(name string, total int32, validateOnly bool, admit func(int32) error) error {
	if total > r.cfg.MaxPartitions {
		return fmt.Errorf("%w: %d partitions requested, the limit is %d", catalog.ErrInvalidPartitions, total, r.cfg.MaxPartitions)
	}
	defer r.locks.lock(name)()
	// The catalog's own checks (the topic exists, the count grows) first.
	if _, err := r.cat.SetPartitions(name, total, true); err != nil {
		return err
	}
	t := r.get(name) // stable: only the holder of the topic's lock replaces it
	if t == nil {
		return fmt.Errorf("%w: %s", catalog.ErrUnknownTopic, name)
	}
	from := int32(len(t.parts))
	if err := r.budget.reserve(total-from, validateOnly); err != nil {
		return err
	}
	if admit != nil {
		if err := admit(total - from); err != nil {
			if !validateOnly {
				r.budget.release(int(total - from))
			}
			return err
		}
	}
	if validateOnly {
		return nil
	}
	if err := r.removeDirs(name, from, total); err != nil { // left by an earlier failure
		r.budget.release(int(total - from))
		return fmt.Errorf("broker: partitions of %s not added: %w", name, err)
	}
	logs, err := r.openLogs(refs(name, t.meta.StorageConfig(), from, total))
	var meta catalog.Topic
	if err == nil {
		meta, err = r.cat.SetPartitions(name, total, false)
	}
	if err != nil {
		r.budget.release(int(total - from))
		return r.rollback("partitions not added", name, logs, from, total, err)
	}
	r.mu.Lock()
	r.topics[name] = &topic{meta: meta, parts: append(slices.Clip(t.parts), logs...)}
	r.mu.Unlock()
	r.log.Info("partitions added", "topic", name, "partitions", total)
	return nil
}

// rollback undoes a change that failed after it began opening partitions
// [from, to) of name: it deletes the logs that opened and removes the
// directories of the range (one that failed to open may have left its
// own). It returns cause; a removal that fails is logged and named in the
// error's message (the error still matches cause), and what it left is
// removed at the next start (cleanOrphans), since it holds no record.
func (r *registry) rollback(what, name string, logs []*storage.Log, from, to int32, cause error) error {
	var errs []error
	for _, l := range logs {
		if l != nil {
			if err := l.Delete(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := r.removeDirs(name, from, to); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		r.log.Error(what+": removing its partition directories failed; the next start removes them", "topic", name, "from", from, "to", to, "err", err)
		cause = fmt.Errorf("%w (and removing its partition directories failed: %v)", cause, err)
	} else {
		r.log.Warn(what+"; nothing of it is left", "topic", name, "from", from, "to", to, "err", cause)
	}
	return cause
}

// removeDirs removes the directories of partitions [from, to) of name. It
// tries every one and returns what failed, matching storage.ErrStorage.
func (r *registry) removeDirs(name string, from, to int32) error {
	var errs []error
	for p := from; p < to; p++ {
		if err := r.cfg.FS.RemoveAll(r.logDir(name, p)); err != nil {
			errs = append(errs, fmt.Errorf("%w: remove %s: %w", storage.ErrStorage, r.logDir(name, p), err))
		}
	}
	return errors.Join(errs...)
}

// delete removes a topic from the catalog, then stops serving it and
// deletes its logs and their directories.
func (r *registry) delete(name string) error {
	defer r.locks.lock(name)()
	if err := r.disk.retry(func() error { return r.cat.Delete(name) }); err != nil {
		return err
	}
	r.mu.Lock()
	t := r.topics[name]
	delete(r.topics, name)
	if t != nil {
		delete(r.ids, t.meta.ID)
	}
	r.mu.Unlock()
	var errs []error
	if t != nil {
		r.budget.release(len(t.parts))
		errs = make([]error, len(t.parts))
		inParallel(len(t.parts), func(i int) { errs[i] = t.parts[i].Delete() })
	}
	// As Kafka does, committed offsets of a deleted topic go with it, so a
	// new topic of the same name does not inherit stale positions.
	if r.onDelete != nil {
		r.onDelete(name)
	}
	if err := errors.Join(errs...); err != nil {
		// What is left holds records and no topic owns it: the next start
		// moves it to logs/.orphans (cleanOrphans), and a topic created
		// under the name before then removes it first.
		r.log.Error("topic deleted, but removing its partition directories failed", "topic", name, "err", err)
		return err
	}
	r.log.Info("topic deleted", "topic", name)
	return nil
}

// setConfigs replaces a topic's config overrides in the catalog, then
// publishes them and applies them to its logs.
func (r *registry) setConfigs(name string, cfgs map[string]string, validateOnly bool) error {
	defer r.locks.lock(name)()
	var meta catalog.Topic
	err := r.disk.retry(func() (err error) {
		meta, err = r.cat.SetConfigs(name, cfgs, validateOnly)
		return err
	})
	if err != nil || validateOnly {
		return err
	}
	r.mu.Lock()
	t := r.topics[name]
	if t != nil {
		r.topics[name] = &topic{meta: meta, parts: t.parts}
	}
	r.mu.Unlock()
	if t != nil {
		for _, l := range t.parts {
			l.SetConfig(meta.StorageConfig())
		}
	}
	return nil
}

// replace publishes nl as partition p of name in place of old, and
// reports whether it did (false: old is no longer served there, the topic
// was deleted). The caller holds the topic's lock.
func (r *registry) replace(name string, p int32, old, nl *storage.Log) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.topics[name]
	if t == nil || int(p) >= len(t.parts) || t.parts[p] != old {
		return false
	}
	parts := slices.Clone(t.parts)
	parts[p] = nl
	r.topics[name] = &topic{meta: t.meta, parts: parts}
	return true
}
