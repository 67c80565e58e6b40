package lageval

import (
	"slices"
	"time"
)

// Append adds c to the window w (oldest first) as Burrow's storage does and
// returns the new window: a commit less than cfg.MinDistance after the
// newest one replaces it, keeping the newest one's time (so a consumer
// committing faster than MinDistance still moves its window on); otherwise c
// is appended and the oldest commit falls out beyond cfg.Intervals.
// w's backing array may be reused.
func Append(w []Commit, c Commit, cfg Config) []Commit {
	cfg = cfg.normalize()
	if n := len(w); n > 0 && c.Time.Sub(w[n-1].Time) < cfg.MinDistance {
		c.Time = w[n-1].Time
		w[n-1] = c
		return w
	}
	w = append(w, c)
	if len(w) > cfg.Intervals {
		w = append(w[:0], w[len(w)-cfg.Intervals:]...)
	}
	return w
}

// AppendLogEnd adds a log-end sample to les (oldest first): a sample less
// than cfg.BrokerInterval after the newest replaces its offset (keeping its
// time, so samples stay at least BrokerInterval apart), and at most
// cfg.Intervals samples are kept.
func AppendLogEnd(les []LogEnd, le LogEnd, cfg Config) []LogEnd {
	cfg = cfg.normalize()
	if n := len(les); n > 0 && le.Time.Sub(les[n-1].Time) < cfg.BrokerInterval {
		les[n-1].Offset = le.Offset
		return les
	}
	les = append(les, le)
	if len(les) > cfg.Intervals {
		les = append(les[:0], les[len(les)-cfg.Intervals:]...)
	}
	return les
}

// EstimateLags fills the unknown lags of w from logEndAt, which returns the
// partition's log end offset at a past time (from the time index: the first
// offset whose record timestamp is after it), or -1 when it cannot tell.
// Used for commits read back from __consumer_offsets, whose lag was not seen
// when they were made. The estimate is as good as the records' timestamps.
func EstimateLags(w []Commit, logEndAt func(time.Time) int64) {
	for i := range w {
		if w[i].Lag >= 0 {
			continue
		}
		if le := logEndAt(w[i].Time); le >= 0 {
			w[i].Lag = Lag(le, w[i].Offset)
		}
	}
}

// CurrentLag is logEnd minus the last commit of w, 0 when negative or when
// w is empty.
func CurrentLag(w []Commit, logEnd int64) int64 {
	if len(w) == 0 {
		return 0
	}
	return Lag(logEnd, w[len(w)-1].Offset)
}

// PartitionFrom builds what EvaluatePartition needs to judge tp from its
// window w and its log end now (logEnd at now). The recent log ends are
// samples (the broker's, oldest first; nil for a tool that has none), those
// the window's known lags imply (a commit at offset o with lag l saw the log
// end at o+l: what Burrow would have sampled then) and the log end now. The
// broker's recorder and `rewind group describe` judge through it, so they
// agree whenever they know the same lags.
func PartitionFrom(tp TopicPartition, w []Commit, samples []LogEnd, logEnd int64, now time.Time, cfg Config) Partition {
	all := make([]LogEnd, 0, len(samples)+len(w)+1)
	all = append(all, samples...)
	for _, c := range w {
		if c.Lag >= 0 {
			all = append(all, LogEnd{Offset: c.Offset + c.Lag, Time: c.Time})
		}
	}
	slices.SortStableFunc(all, func(a, b LogEnd) int { return a.Time.Compare(b.Time) })
	var les []LogEnd
	for _, le := range all {
		les = AppendLogEnd(les, le, cfg)
	}
	les = AppendLogEnd(les, LogEnd{Offset: logEnd, Time: now}, cfg)
	return Partition{Topic: tp.Topic, Partition: tp.Partition, Commits: w, LogEnds: les, CurrentLag: CurrentLag(w, logEnd)}
}
