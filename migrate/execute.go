package migrate

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Progress is reported while records are copied.
type Progress struct {
	Copied int64 // records written to the target in this run
	// Total is the number of offsets this run copies (the source's, from
	// where an earlier run stopped to each last stable offset): control
	// records and aborted records count there but are not copied, so a
	// run can end below it.
	Total int64
	Bytes int64 // key, value and header bytes written in this run
	Done  bool  // the copy has ended (the last report of a run)
}

// Migrator moves data between two clusters, each reached with its own
// kgo options (seed brokers, TLS, SASL...).
type Migrator struct {
	Source, Target []kgo.Opt
	Options        Options
	// Progress, if set, is called about once a second during the copy.
	Progress func(Progress)
}

func (m *Migrator) admin(opts []kgo.Opt) (*kadm.Client, func(), error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl.Close, nil
}

// admins connects an admin client to each side; done closes both.
func (m *Migrator) admins() (src, dst *kadm.Client, done func(), err error) {
	src, closeSrc, err := m.admin(m.Source)
	if err != nil {
		return nil, nil, nil, err
	}
	dst, closeDst, err := m.admin(m.Target)
	if err != nil {
		closeSrc()
		return nil, nil, nil, err
	}
	return src, dst, func() { closeDst(); closeSrc() }, nil
}

// Plan reads what Execute would do, without writing anything.
func (m *Migrator) Plan(ctx context.Context, st *State) (*Plan, error) {
	src, dst, done, err := m.admins()
	if err != nil {
		return nil, err
	}
	defer done()
	return MakePlan(ctx, src, dst, m.Options, st)
}

// Execute plans again, then creates the topics, copies the records and
// commits the translated group offsets, saving st as it goes. The plan it
// returns has the exact translations.
func (m *Migrator) Execute(ctx context.Context, st *State) (*Plan, error) {
	src, dst, done, err := m.admins()
	if err != nil {
		return nil, err
	}
	defer done()
	plan, err := MakePlan(ctx, src, dst, m.Options, st)
	if err != nil {
		return nil, err
	}
	if a := plan.ActiveGroups(); len(a) > 0 {
		return plan, fmt.Errorf("%w: %s; stop their consumers first (their positions could still move), or copy records only (RecordsOnly) and move the groups in a later run", ErrActiveGroups, strings.Join(a, ", "))
	}
	if l := plan.RetentionLoss(); len(l) > 0 {
		return plan, fmt.Errorf("%w: %s; give the target topic a longer retention.ms or retention.bytes (create it empty with them before migrating: its configs are kept), or raise them on the source topic (they are copied)", ErrRetention, strings.Join(l, "; "))
	}
	// A records-only run moves no group: it copies up to each last stable
	// offset, and the next run goes on from there.
	if o := plan.OpenTransactions(); len(o) > 0 && !m.Options.RecordsOnly {
		return plan, fmt.Errorf("%w: %s; the records after an open transaction cannot be copied until it ends: stop the producers, or abort a hanging one (rewind transactions find-hanging, abort)", ErrOpenTransactions, strings.Join(o, ", "))
	}
	switch {
	case st.SourceCluster == "" && st.TargetCluster == "":
		st.SourceCluster, st.TargetCluster = plan.SourceCluster, plan.TargetCluster
	case st.SourceCluster != plan.SourceCluster || st.TargetCluster != plan.TargetCluster:
		return plan, fmt.Errorf("state file %s belongs to a migration from cluster %s to %s, not %s to %s",
			st.Path(), st.SourceCluster, st.TargetCluster, plan.SourceCluster, plan.TargetCluster)
	}
	if err := m.createTopics(ctx, dst, plan, st); err != nil {
		return plan, err
	}
	if err := m.copy(ctx, dst, plan, st); err != nil {
		return plan, err
	}
	if err := restoreTimestampTypes(ctx, dst, plan); err != nil {
		return plan, err
	}
	if m.Options.RecordsOnly {
		return plan, nil
	}
	if err := recheckGroups(ctx, src, plan, st); err != nil {
		return plan, err
	}
	if err := commitGroups(ctx, dst, plan, st); err != nil {
		return plan, err
	}
	return plan, nil
}

const timestampType = "message.timestamp.type"

func logAppendTime(t TopicPlan) bool { return t.Configs[timestampType] == "LogAppendTime" }

// restoreTimestampTypes gives the topics that are LogAppendTime on the
// source that type on the target once their records are copied with the
// source's timestamps: records appended from then on get the target's
// time, as on the source. A rerun sets it again, harmlessly.
func restoreTimestampTypes(ctx context.Context, dst *kadm.Client, plan *Plan) error {
	for _, t := range plan.Topics {
		if !logAppendTime(t) {
			continue
		}
		if err := setTimestampType(ctx, dst, t.Topic, "LogAppendTime"); err != nil {
			return err
		}
	}
	return nil
}

func setTimestampType(ctx context.Context, dst *kadm.Client, topic, typ string) error {
	r, err := dst.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: timestampType, Value: kadm.StringPtr(typ)}}, topic)
	if err == nil {
		var one kadm.AlterConfigsResponse
		if one, err = r.On(topic, nil); err == nil {
			err = one.Err
		}
	}
	if err != nil {
		return fmt.Errorf("target: set %s=%s on %s: %w", timestampType, typ, topic, err)
	}
	return nil
}

func (m *Migrator) createTopics(ctx context.Context, dst *kadm.Client, plan *Plan, st *State) error {
	rf := m.Options.ReplicationFactor
	if rf == 0 {
		rf = -1
	}
	for _, t := range plan.Topics {
		if t.Target == "resume" || t.Target == "empty" {
			st.Created[t.Topic] = true
			if logAppendTime(t) && t.Target == "resume" && t.ToCopy() > 0 {
				// An earlier run set LogAppendTime once done: a
				// catch-up copy keeps the source's times too.
				if err := setTimestampType(ctx, dst, t.Topic, "CreateTime"); err != nil {
					return err
				}
			}
			continue
		}
		cfg := map[string]*string{}
		if r := t.Retention; r != nil {
			// The source's effective retention, a broker default
			// included: the target's own default could delete
			// records the source keeps.
			cfg["retention.ms"] = kadm.StringPtr(strconv.FormatInt(r.MS, 10))
			cfg["retention.bytes"] = kadm.StringPtr(strconv.FormatInt(r.Bytes, 10))
		}
		for k, v := range t.Configs {
			cfg[k] = kadm.StringPtr(v)
		}
		if logAppendTime(t) {
			// The copy keeps the source's timestamps (its append
			// times); a LogAppendTime target would stamp the copy's
			// own. The type is set once the copy is done.
			cfg[timestampType] = kadm.StringPtr("CreateTime")
		}
		r, err := dst.CreateTopic(ctx, int32(len(t.Partitions)), rf, cfg, t.Topic)
		if err == nil {
			err = r.Err
		}
		if err != nil {
			msg := ""
			if r.ErrMessage != "" {
				msg = ": " + r.ErrMessage
			}
			return fmt.Errorf("target: create topic %s: %w%s", t.Topic, err, msg)
		}
		st.Created[t.Topic] = true
		if err := st.Save(); err != nil {
			return err
		}
	}
	return nil
}

// partRun is one partition's copy in this run.
type partRun struct {
	ps      *PartState
	skip    int64               // records the target holds past ps.TargetNext
	held    [][sha256.Size]byte // those records' sums, compared before skipping
	pending []int64             // committed source offsets not translated yet, sorted
}

// translate maps every pending offset at or below src to target offset to.
func (pr *partRun) translate(src, to int64) {
	for len(pr.pending) > 0 && pr.pending[0] <= src {
		pr.ps.Translated[pr.pending[0]] = to
		pr.pending = pr.pending[1:]
	}
}

func (m *Migrator) copy(ctx context.Context, dst *kadm.Client, plan *Plan, st *State) error {
	var names []string
	for _, t := range plan.Topics {
		names = append(names, t.Topic)
	}
	targetEnds, err := listWithRetry(ctx, func() (kadm.ListedOffsets, error) { return dst.ListEndOffsets(ctx, names...) })
	if err != nil {
		return fmt.Errorf("target: end offsets: %w", err)
	}
	wanted := map[string][]int64{}
	for _, g := range plan.Groups {
		for _, o := range g.Offsets {
			k := partKey(o.Topic, o.Partition)
			wanted[k] = append(wanted[k], o.Source)
		}
	}
	runs := map[string]*partRun{}
	spans := map[string]map[int32]span{}
	var total int64
	for _, t := range plan.Topics {
		spans[t.Topic] = map[int32]span{}
		for _, p := range t.Partitions {
			ps := st.part(t.Topic, p.Partition)
			if ps.SourceNext < 0 {
				ps.SourceNext, ps.TargetNext = p.Start, 0
			}
			e, ok := listed(targetEnds, t.Topic, p.Partition)
			if !ok {
				return fmt.Errorf("target: no end offset for %s/%d", t.Topic, p.Partition)
			}
			if e < ps.TargetNext {
				return fmt.Errorf("target %s/%d ends at %d, before the %d records the state file %s says were copied", t.Topic, p.Partition, e, ps.TargetNext, st.Path())
			}
			// A translation made past the copied end (an offset beyond
			// the last stable one) is made again: a catch-up run copies
			// the records between.
			for c := range ps.Translated {
				if c > ps.SourceNext {
					delete(ps.Translated, c)
				}
			}
			k := partKey(t.Topic, p.Partition)
			pr := &partRun{ps: ps, skip: e - ps.TargetNext}
			for _, c := range wanted[k] {
				if _, done := ps.Translated[c]; !done {
					pr.pending = append(pr.pending, c)
				}
			}
			sort.Slice(pr.pending, func(i, j int) bool { return pr.pending[i] < pr.pending[j] })
			runs[k] = pr
			// What came since an earlier run is copied (catch-up);
			// the records before ps.SourceNext are on the target.
			if ps.SourceNext < p.Stable {
				spans[t.Topic][p.Partition] = span{ps.SourceNext, p.Stable}
				total += p.Stable - max(ps.SourceNext, p.Start)
			}
		}
	}

	if err := m.translateCopied(ctx, runs, plan); err != nil {
		return err
	}
	if err := m.readHeld(ctx, runs, plan); err != nil {
		return err
	}

	limits, err := batchLimits(ctx, dst, names)
	if err != nil {
		return err
	}
	prod, err := kgo.NewClient(append(append([]kgo.Opt(nil), m.Target...), producerOpts(limits)...)...)
	if err != nil {
		return err
	}
	defer prod.Close()

	var (
		mu       sync.Mutex
		firstErr error
		copied   int64
		bytes    int64
		lastSave = time.Now()
	)
	save := func(force bool) error {
		mu.Lock()
		defer mu.Unlock()
		if !force && time.Since(lastSave) < time.Second {
			return nil
		}
		lastSave = time.Now()
		// Saved first: a progress writer that kills the process (a
		// closed pipe) leaves the state of what was acknowledged.
		err := st.Save()
		if m.Progress != nil {
			m.Progress(Progress{Copied: copied, Total: total, Bytes: bytes, Done: force})
		}
		return err
	}
	err = readSpans(ctx, m.Source, spans, func(r *kgo.Record) error {
		pr := runs[partKey(r.Topic, r.Partition)]
		if r.Attrs.IsControl() {
			return nil
		}
		mu.Lock()
		if firstErr != nil {
			mu.Unlock()
			return firstErr
		}
		if pr.skip > 0 {
			// Written by an earlier run after its last saved state: the
			// target's next record is this one.
			if recordSum(r, false) != pr.held[0] {
				mu.Unlock()
				return fmt.Errorf("%w: %s/%d offset %d on the target is not the source's record at offset %d; an earlier write failed before it or something else wrote there",
					ErrTargetNotEmpty, r.Topic, r.Partition, pr.ps.TargetNext, r.Offset)
			}
			pr.held = pr.held[1:]
			pr.skip--
			to := pr.ps.TargetNext
			pr.translate(r.Offset, to)
			pr.ps.SourceNext, pr.ps.TargetNext = r.Offset+1, to+1
			pr.ps.Copied++
			mu.Unlock()
			return nil
		}
		mu.Unlock()
		so := r.Offset
		rec := &kgo.Record{
			Topic: r.Topic, Partition: r.Partition,
			Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp,
		}
		prod.Produce(ctx, rec, func(w *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("target: write %s/%d (source offset %d): %w", w.Topic, w.Partition, so, err)
				}
				return
			}
			if firstErr != nil {
				return // nothing after a failed record counts as copied
			}
			pr.translate(so, w.Offset)
			pr.ps.SourceNext, pr.ps.TargetNext = so+1, w.Offset+1
			pr.ps.Copied++
			copied++
			bytes += recordBytes(w)
		})
		return save(false)
	})
	if ferr := prod.Flush(context.WithoutCancel(ctx)); ferr != nil && err == nil {
		err = ferr
	}
	mu.Lock()
	if err == nil {
		err = firstErr
	}
	mu.Unlock()
	if err != nil {
		if serr := save(true); serr != nil {
			return errors.Join(err, serr)
		}
		return err
	}
	if runsLeftToSkip(runs) {
		// The target holds more than the source has to give: something
		// else wrote there.
		return fmt.Errorf("%w: the target holds records past what the source has; they were not written by this migration", ErrTargetNotEmpty)
	}
	for _, t := range plan.Topics {
		for _, p := range t.Partitions {
			pr := runs[partKey(t.Topic, p.Partition)]
			// Offsets past the last copied record resume at the end.
			for _, c := range pr.pending {
				pr.ps.Translated[c] = pr.ps.TargetNext
			}
			pr.pending = nil
			pr.ps.SourceNext = max(pr.ps.SourceNext, p.Stable)
			pr.ps.Done = true
		}
	}
	return save(true)
}

func recordBytes(r *kgo.Record) int64 {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return int64(n)
}

// translateCopied translates the pending offsets below a partition's
// SourceNext: records an earlier run already copied (a group named only in
// this run, or one whose offset changed between runs). The copy reads on
// from SourceNext, so the first record it sees is not the group's next one;
// instead the source is read again from the lowest such offset up to
// SourceNext, and an offset followed there by k records is TargetNext-k on
// the target (the copy wrote exactly those records, in order, ending at
// TargetNext).
func (m *Migrator) translateCopied(ctx context.Context, runs map[string]*partRun, plan *Plan) error {
	type back struct {
		pr    *partRun
		below []int64 // pending offsets < SourceNext, sorted
		at    []int64 // records read before the first at or after below[i]
		seen  int64
	}
	backs := map[string]*back{}
	spans := map[string]map[int32]span{}
	for _, t := range plan.Topics {
		for _, p := range t.Partitions {
			k := partKey(t.Topic, p.Partition)
			pr := runs[k]
			i := 0
			for i < len(pr.pending) && pr.pending[i] < pr.ps.SourceNext {
				i++
			}
			if i == 0 {
				continue
			}
			b := &back{pr: pr, below: pr.pending[:i]}
			pr.pending = pr.pending[i:]
			backs[k] = b
			if spans[t.Topic] == nil {
				spans[t.Topic] = map[int32]span{}
			}
			spans[t.Topic][p.Partition] = span{b.below[0], pr.ps.SourceNext}
		}
	}
	if len(backs) == 0 {
		return nil
	}
	err := readSpans(ctx, m.Source, spans, func(r *kgo.Record) error {
		if r.Attrs.IsControl() {
			return nil
		}
		b := backs[partKey(r.Topic, r.Partition)]
		for len(b.at) < len(b.below) && b.below[len(b.at)] <= r.Offset {
			b.at = append(b.at, b.seen)
		}
		b.seen++
		return nil
	})
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	for _, b := range backs {
		for i, c := range b.below {
			after := int64(0) // no record left before SourceNext
			if i < len(b.at) {
				after = b.seen - b.at[i]
			}
			if after > b.pr.ps.TargetNext {
				return fmt.Errorf("source holds more records past offset %d than the target got from the earlier run; the source changed since", c)
			}
			b.pr.ps.Translated[c] = b.pr.ps.TargetNext - after
		}
	}
	return nil
}

// defaultBatchBytes is kgo's default batch limit, kept for topics whose
// limit the target does not say.
const defaultBatchBytes = 1000012

// batchLimits reads each target topic's max.message.bytes: a batch, and so
// a record, may be as large as the topic takes, not only kgo's default
// 1 MB (a source topic with a larger max.message.bytes holds larger
// records, and its config is copied), and no batch may be larger than a
// topic with a smaller limit takes.
func batchLimits(ctx context.Context, dst *kadm.Client, names []string) (map[string]int32, error) {
	cfgs, err := dst.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("target: topic configs: %w", err)
	}
	limits := map[string]int32{}
	for _, name := range names {
		rc, err := cfgs.On(name, nil)
		if err != nil {
			continue
		}
		for _, c := range rc.Configs {
			if c.Key != "max.message.bytes" || c.Value == nil {
				continue
			}
			if v, err := strconv.ParseInt(*c.Value, 10, 32); err == nil {
				limits[name] = int32(min(max(v, 512), 1<<30))
			}
		}
	}
	return limits, nil
}

// maxBufferedBytes bounds what the producer holds unacknowledged, so that
// big records do not multiply by kgo's 10,000 buffered records.
const maxBufferedBytes = 64 << 20

func producerOpts(limits map[string]int32) []kgo.Opt {
	largest := int64(defaultBatchBytes)
	for _, l := range limits {
		largest = max(largest, int64(l))
	}
	return []kgo.Opt{
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.ProducerBatchMaxBytesFn(func(topic string) int32 {
			if l, ok := limits[topic]; ok {
				return l
			}
			return defaultBatchBytes
		}),
		// A request carries at least one batch of the largest topic.
		kgo.BrokerMaxWriteBytes(int32(min(max(100<<20, largest+1<<20), 1<<30))),
		kgo.MaxBufferedBytes(int(max(maxBufferedBytes, 2*largest))),
	}
}

// readHeld reads the records the target holds past what the state file
// says was copied: an earlier run wrote them after its last save, and they
// are skipped only if they are the source's next records, one by one. A
// write that failed while later ones of the same partition succeeded (a
// record the target refused, a timeout) leaves a gap there, and counting
// alone would then skip a record never copied. Timestamps are left out:
// a LogAppendTime target sets its own.
func (m *Migrator) readHeld(ctx context.Context, runs map[string]*partRun, plan *Plan) error {
	spans := map[string]map[int32]span{}
	held := map[string]*partRun{}
	for _, t := range plan.Topics {
		for _, p := range t.Partitions {
			k := partKey(t.Topic, p.Partition)
			pr := runs[k]
			if pr.skip == 0 {
				continue
			}
			if spans[t.Topic] == nil {
				spans[t.Topic] = map[int32]span{}
			}
			spans[t.Topic][p.Partition] = span{pr.ps.TargetNext, pr.ps.TargetNext + pr.skip}
			held[k] = pr
		}
	}
	if len(held) == 0 {
		return nil
	}
	err := readSpans(ctx, m.Target, spans, func(r *kgo.Record) error {
		if !r.Attrs.IsControl() {
			pr := held[partKey(r.Topic, r.Partition)]
			pr.held = append(pr.held, recordSum(r, false))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	for k, pr := range held {
		if int64(len(pr.held)) != pr.skip {
			return fmt.Errorf("%w: %s holds %d records past the state file's offset %d, of %d offsets; they were not written by this migration",
				ErrTargetNotEmpty, k, len(pr.held), pr.ps.TargetNext, pr.skip)
		}
	}
	return nil
}

func runsLeftToSkip(runs map[string]*partRun) bool {
	for _, pr := range runs {
		if pr.skip > 0 {
			return true
		}
	}
	return false
}

// listWithRetry retries a listing that a freshly created topic may not
// answer yet (its leader is still being elected on a cluster).
func listWithRetry(ctx context.Context, fn func() (kadm.ListedOffsets, error)) (kadm.ListedOffsets, error) {
	for i := 0; ; i++ {
		l, err := fn()
		if err == nil {
			err = l.Error()
		}
		if err == nil || i >= 50 || !isRetriable(err) {
			return l, err
		}
		select {
		case <-ctx.Done():
			return l, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func isRetriable(err error) bool {
	return errors.Is(err, kerr.LeaderNotAvailable) || errors.Is(err, kerr.NotLeaderForPartition) ||
		errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.CoordinatorLoadInProgress) ||
		errors.Is(err, kerr.CoordinatorNotAvailable) || errors.Is(err, kerr.NotCoordinator)
}

// ErrGroupsChanged is returned by Execute when a group's committed offsets
// on the source moved while the records were copied.
var ErrGroupsChanged = errors.New("group offsets changed on the source during the copy")

// recheckGroups reads the planned groups again on the source just before
// their offsets are committed on the target: a consumer started during a
// long copy moves a position the plan read at its start, and committing
// the planned one would make it read again on the target what it already
// read on the source. A run again plans the new positions (records already
// copied are translated too).
func recheckGroups(ctx context.Context, src *kadm.Client, plan *Plan, st *State) error {
	var todo []GroupPlan
	for _, g := range plan.Groups {
		if !st.upToDate(g) {
			todo = append(todo, g)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	listed, err := src.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("source: list groups: %w", err)
	}
	moving := map[string]bool{}
	for _, t := range plan.Topics {
		for _, p := range t.Partitions {
			moving[partKey(t.Topic, p.Partition)] = true
		}
	}
	var moved []string
	for _, g := range todo {
		if l, ok := listed[g.Group]; ok && active(l.State) {
			return fmt.Errorf("%w: %s (%s) since the copy started; stop its consumers and run again", ErrActiveGroups, g.Group, l.State)
		}
		fetched, err := src.FetchOffsets(ctx, g.Group)
		if err != nil {
			return fmt.Errorf("source: offsets of group %q: %w", g.Group, err)
		}
		planned := map[string]int64{}
		for _, o := range g.Offsets {
			planned[partKey(o.Topic, o.Partition)] = o.Source
		}
		now := map[string]int64{}
		fetched.Each(func(r kadm.OffsetResponse) {
			if moving[partKey(r.Topic, r.Partition)] && r.Err == nil && r.At >= 0 {
				now[partKey(r.Topic, r.Partition)] = r.At
			}
		})
		for k, at := range now {
			if p, ok := planned[k]; !ok || p != at {
				moved = append(moved, fmt.Sprintf("%s %s: %d planned, %d now", g.Group, k, planned[k], at))
			}
		}
		for k, p := range planned {
			if _, ok := now[k]; !ok {
				moved = append(moved, fmt.Sprintf("%s %s: %d planned, none now", g.Group, k, p))
			}
		}
	}
	if len(moved) > 0 {
		sort.Strings(moved)
		return fmt.Errorf("%w: %s; run again to move the new positions", ErrGroupsChanged, strings.Join(moved, ", "))
	}
	return nil
}

// commitGroups commits every planned group's translated offsets on the
// target, and writes the translations into the plan.
func commitGroups(ctx context.Context, dst *kadm.Client, plan *Plan, st *State) error {
	// One listing for all groups, and the state saved about once a second:
	// per group, 10,000 groups cost 10,000 listings of 10,000 groups and
	// as many fsyncs. A crash before a save commits the same offsets again.
	var targetGroups kadm.ListedGroups
	lastSave := time.Now()
	for gi := range plan.Groups {
		g := &plan.Groups[gi]
		offs := kadm.Offsets{}
		for oi := range g.Offsets {
			o := &g.Offsets[oi]
			ps := st.Partitions[partKey(o.Topic, o.Partition)]
			to, ok := ps.Translated[o.Source]
			if !ok {
				return fmt.Errorf("no translation of group %s's offset %d on %s/%d", g.Group, o.Source, o.Topic, o.Partition)
			}
			o.Target, o.Exact = to, true
			offs.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: to, LeaderEpoch: -1, Metadata: o.Metadata})
		}
		if st.upToDate(*g) {
			continue
		}
		if targetGroups == nil {
			l, err := dst.ListGroups(ctx)
			if err != nil {
				return fmt.Errorf("target: list groups: %w", err)
			}
			targetGroups = l
		}
		// A group with members on the target: their commits would race
		// the migrated ones.
		if tg, ok := targetGroups[g.Group]; ok && active(tg.State) {
			return fmt.Errorf("%w: group %s is %s on the target; stop its consumers there first", ErrActiveGroups, g.Group, tg.State)
		}
		if err := unchangedOnTarget(ctx, dst, g.Group, st.CommittedAt[g.Group]); err != nil {
			return errors.Join(err, st.Save())
		}
		var err error
		for i := 0; i < 50; i++ {
			var resp kadm.OffsetResponses
			resp, err = dst.CommitOffsets(ctx, g.Group, offs)
			if err == nil {
				err = resp.Error()
			}
			if err == nil || !isRetriable(err) {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
		if err != nil {
			return errors.Join(fmt.Errorf("target: commit offsets of group %s: %w", g.Group, err), st.Save())
		}
		st.Committed[g.Group] = true
		at := map[string]Commit{}
		for _, o := range g.Offsets {
			at[partKey(o.Topic, o.Partition)] = Commit{Source: o.Source, Target: o.Target}
		}
		st.CommittedAt[g.Group] = at
		if time.Since(lastSave) >= time.Second {
			if err := st.Save(); err != nil {
				return err
			}
			lastSave = time.Now()
		}
	}
	return st.Save()
}

// ErrGroupMovedOnTarget is returned when a group an earlier run committed
// on the target has committed other offsets there since: it consumes on
// the target now, and committing its source position again would move it
// back (or past what it read).
var ErrGroupMovedOnTarget = errors.New("group moved on the target since the migration committed it")

// unchangedOnTarget checks that group's offsets on the target are still
// the ones an earlier run committed (prev; nothing to check without one).
func unchangedOnTarget(ctx context.Context, dst *kadm.Client, group string, prev map[string]Commit) error {
	if len(prev) == 0 {
		return nil
	}
	fetched, err := dst.FetchOffsets(ctx, group)
	if err != nil {
		return fmt.Errorf("target: offsets of group %s: %w", group, err)
	}
	now := map[string]int64{}
	fetched.Each(func(r kadm.OffsetResponse) {
		if r.Err == nil {
			now[partKey(r.Topic, r.Partition)] = r.At
		}
	})
	var moved []string
	for k, c := range prev {
		if at, ok := now[k]; ok && at != c.Target {
			moved = append(moved, fmt.Sprintf("%s at %d, committed %d", k, at, c.Target))
		}
	}
	if len(moved) > 0 {
		sort.Strings(moved)
		return fmt.Errorf("%w: %s: %s; it consumes on the target now: leave it out (--group) or reset it there", ErrGroupMovedOnTarget, group, strings.Join(moved, ", "))
	}
	return nil
}
