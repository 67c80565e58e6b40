package broker

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/rewindhq/rewind/group"
	"github.com/rewindhq/rewind/storage"
	"github.com/rewindhq/rewind/storage/vfs"
)

// Repair of a damaged partition (`rewind repair`): storage.Repair
// truncates the partition's log at its first bad batch, and for
// __consumer_offsets the dropped records tell which groups lost commits.
// Online (RepairPartition) the broker closes the fenced log, repairs it,
// opens it again and serves it, while every other partition keeps
// serving; offline (RepairOffline) works on a stopped broker's data
// directory, holding its lock.

// ErrNotFenced is returned by RepairPartition for a partition that is
// serving: only a fenced partition is repaired online (its files are
// still; a live one's are being written).
var ErrNotFenced = errors.New("broker: partition is not fenced")

// RepairResult is what a repair found and did.
type RepairResult struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Online    bool   `json:"online"`
	storage.RepairReport
	// GroupsLost: for __consumer_offsets, the groups with records in what
	// was dropped (commits or group metadata written after the damage).
	GroupsLost []string `json:"groups_with_commits_dropped,omitempty"`
	// Serving (online): the partition serves again. StillFenced says why
	// not.
	Serving     bool   `json:"serving"`
	StillFenced string `json:"still_fenced,omitempty"`
}

// repairDir runs storage.Repair on one partition directory.
// offsetsPartitions is the partition count of __consumer_offsets (to tell
// whether a group name read from a damaged batch belongs to p).
func repairDir(fsys vfs.FS, dir, topic string, p, offsetsPartitions int32, dryRun bool, log *slog.Logger) (RepairResult, error) {
	res := RepairResult{Topic: topic, Partition: p}
	lost := map[string]bool{}
	o := storage.RepairOptions{FS: fsys, Logger: log, DryRun: dryRun}
	if topic == OffsetsTopic {
		o.Dropped = func(r storage.Record, damaged bool) { addGroup(lost, r, damaged, p, offsetsPartitions) }
	}
	rep, err := storage.Repair(dir, o)
	res.RepairReport = rep
	res.GroupsLost = sortedKeys(lost)
	if err != nil {
		return res, fmt.Errorf("broker: repair %s-%d: %w", topic, p, err)
	}
	if rep.Changed && len(res.GroupsLost) > 0 {
		log.Warn("consumer group records dropped by the repair", "partition", fmt.Sprintf("%s-%d", topic, p), "groups", res.GroupsLost)
	}
	return res, nil
}

// RepairPartition repairs a fenced partition of the running broker (see
// storage.Repair); the other partitions keep serving. With dryRun it only
// reports. The partition is closed during the repair (its requests fail
// as while it was fenced), then opened again and served; for
// __consumer_offsets its groups are loaded again.
func (b *Broker) RepairPartition(topic string, p int32, dryRun bool) (RepairResult, error) {
	b.repairMu.Lock()
	defer b.repairMu.Unlock()
	// Not during a delete or a partition change of the same topic.
	defer b.reg.locks.lock(topic)()
	res := RepairResult{Topic: topic, Partition: p, Online: true}
	l := b.partition(topic, p)
	meta, ok := b.topicMeta(topic)
	if l == nil || !ok {
		return res, fmt.Errorf("%w: %s-%d", ErrUnknownTopic, topic, p)
	}
	fenced := l.Err()
	if fenced == nil {
		return res, fmt.Errorf("%w: %s-%d serves; nothing to repair online (stop the broker to check its files with `rewind repair --data-dir`)", ErrNotFenced, topic, p)
	}
	if dryRun {
		// A fenced log's files do not change: they can be read in place.
		r, err := repairDir(b.cfg.FS, l.Dir(), topic, p, b.grp.Partitions(), true, b.log)
		r.Online, r.StillFenced = true, fenced.Error()
		return r, err
	}
	if topic == OffsetsTopic {
		b.grp.FencePartition(p, fenced)
		b.cgroups.unloadPartition(p)
	}
	b.log.Warn("repairing a fenced partition", "topic", topic, "partition", p, "err", fenced)
	l.Close() // fenced: nothing to flush
	r, rerr := repairDir(b.cfg.FS, l.Dir(), topic, p, b.grp.Partitions(), false, b.log)
	r.Online = true
	// Open it again whatever the repair did, so that the partition is
	// served if it can be, and fenced with its current state if not.
	nl, err := storage.Open(l.Dir(), meta.StorageConfig(), b.reg.logOptions(topic, p))
	if err != nil {
		return r, errors.Join(rerr, fmt.Errorf("broker: reopen %s-%d: %w", topic, p, err))
	}
	if !b.reg.replace(topic, p, l, nl) { // deleted meanwhile
		nl.Close()
		return r, errors.Join(rerr, fmt.Errorf("%w: %s-%d was deleted during the repair", ErrUnknownTopic, topic, p))
	}
	if rerr != nil {
		r.StillFenced = errString(nl.Err())
		return r, rerr
	}
	if err := nl.Err(); err != nil {
		r.StillFenced = err.Error()
		return r, nil
	}
	if topic == OffsetsTopic {
		err := b.grp.LoadPartition(p, func(replay group.ReplayFunc) error {
			return b.replayOffsets(p, func(_ int32, off int64, bt group.Batch, k, v []byte, ts int64) error {
				return replay(off, bt, k, v, ts)
			})
		})
		if err == nil {
			err = b.cgroups.reload(p)
		}
		if err != nil {
			b.fenceOffsets(p, err)
			r.StillFenced = err.Error()
			return r, nil
		}
	}
	r.Serving = true
	b.log.Warn("repaired partition serves again", "topic", topic, "partition", p,
		"dropped_offsets", fmt.Sprintf("[%d, %d)", r.DroppedFrom, r.DroppedTo), "next_offset", r.NextOffset)
	return r, nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
