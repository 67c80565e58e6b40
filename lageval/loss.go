package lageval

import (
	"fmt"
	"math"
	"time"
)

// LossInput is what TimeToLoss needs to know about one partition of a
// group: its backlog, how fast the group moves through it, and the topic's
// retention.
type LossInput struct {
	// Lag is the log end minus the committed offset; Age is how old the
	// first unconsumed record is (LagTime).
	Lag int64
	Age time.Duration
	// ConsumeRate is how many records a second the group's commits
	// advance (CommitRate); 0 when it does not move.
	ConsumeRate float64
	// Retention is retention.ms (<= 0: none); RetentionBytes is
	// retention.bytes (<= 0: none), with BytesPerRecord the log's average
	// record size (its size over its record count; 0 when unknown).
	Retention      time.Duration
	RetentionBytes int64
	BytesPerRecord float64
}

// Loss is a forecast: in In, at the current pace, retention deletes a
// record the group has not read. By names the limit (retention.ms or
// retention.bytes) and Why says it in words.
type Loss struct {
	In  time.Duration `json:"in"`
	By  string        `json:"by"`
	Why string        `json:"why"`
	// Lost counts the unread records retention deleted already (the
	// committed offset is below the log start); In is then 0.
	Lost int64 `json:"lost,omitempty"`
}

// Lost is the loss that already happened: the committed offset is below
// the log start, so retention (or DeleteRecords) removed logStart -
// committed records the group never read.
func Lost(committed, logStart int64) Loss {
	return Loss{By: "retention", Lost: logStart - committed, Why: fmt.Sprintf(
		"offsets %d-%d were deleted before the group read them (its committed offset %d is below the log start %d); its next fetch fails with OFFSET_OUT_OF_RANGE and the consumer's reset policy (auto.offset.reset, Sarama's Consumer.Offsets.Initial) picks where it resumes",
		committed, logStart-1, committed, logStart)}
}

// TimeToLoss forecasts when retention deletes the first record the group
// has not read, if the group and its producers keep their pace; ok is
// false when it never does at that pace (no lag, no retention, or the
// group catches up).
//
// The backlog's records were produced over Age, so they arrive at
// Lag/Age a second (the produce rate over the backlog). The group reads
// them at ConsumeRate. By time: the first unread record ages by one second
// a second and gets younger by 1/(produce rate) per record read, so it
// reaches retention.ms after (retention - Age) / (1 - ConsumeRate/rate).
// By size: the backlog grows by (rate - ConsumeRate) records a second and
// is deleted once it alone is retention.bytes.
//
// Retention deletes whole segments, once their newest record is past
// retention.ms or once the log without them still holds retention.bytes:
// the forecast is the earliest the loss can happen, reached when the
// segments are small.
func TimeToLoss(in LossInput) (Loss, bool) {
	if in.Lag <= 0 {
		return Loss{}, false
	}
	var best Loss
	found := false
	consider := func(l Loss) {
		if !found || l.In < best.In {
			best, found = l, true
		}
	}
	rate := math.Inf(1) // records produced a second, over the backlog
	if in.Age > 0 {
		rate = float64(in.Lag) / in.Age.Seconds()
	}
	if in.Retention > 0 {
		switch {
		case in.Age >= in.Retention:
			consider(Loss{In: 0, By: "retention.ms", Why: fmt.Sprintf("the first unread record is %s old, past retention.ms (%s): the next retention check deletes its segment once the segment's newest record is that old too",
				HumanDuration(in.Age), HumanDuration(in.Retention))})
		case in.ConsumeRate < rate:
			slow := 1 - in.ConsumeRate/rate
			in2 := time.Duration(float64(in.Retention-in.Age) / slow)
			consider(Loss{In: in2, By: "retention.ms", Why: fmt.Sprintf("the first unread record is %s old and retention.ms is %s; the group reads %s while %s arrive, so it ages %.2f s a second",
				HumanDuration(in.Age), HumanDuration(in.Retention), perSecond(in.ConsumeRate), perSecond(rate), slow)})
		}
	}
	if in.RetentionBytes > 0 && in.BytesPerRecord > 0 {
		backlog := float64(in.Lag) * in.BytesPerRecord
		switch {
		case backlog >= float64(in.RetentionBytes):
			consider(Loss{In: 0, By: "retention.bytes", Why: fmt.Sprintf("the unread records alone take about %s, past retention.bytes (%s)",
				bytesHuman(backlog), bytesHuman(float64(in.RetentionBytes)))})
		case in.ConsumeRate < rate && !math.IsInf(rate, 1):
			grow := (rate - in.ConsumeRate) * in.BytesPerRecord
			in2 := time.Duration((float64(in.RetentionBytes) - backlog) / grow * float64(time.Second))
			consider(Loss{In: in2, By: "retention.bytes", Why: fmt.Sprintf("the unread records take about %s of retention.bytes (%s) and grow by %s a second",
				bytesHuman(backlog), bytesHuman(float64(in.RetentionBytes)), bytesHuman(grow))})
		}
	}
	return best, found
}

// Say is the forecast for people: "at this pace retention deletes unread
// records in about 2h40m (why)".
func (l Loss) Say() string {
	if l.Lost > 0 {
		return fmt.Sprintf("retention already deleted %d unread record(s): %s", l.Lost, l.Why)
	}
	if l.In <= 0 {
		return fmt.Sprintf("retention (%s) deletes unread records now: %s", l.By, l.Why)
	}
	return fmt.Sprintf("at this pace retention (%s) deletes unread records in about %s: %s", l.By, HumanDuration(l.In), l.Why)
}

// CommitRate is how many records a second a partition's committed offset
// advanced over its window (st.Start to st.End), or 0 when it did not move
// or stopped committing (the time since its last commit is longer than the
// window spans, as Burrow's STOP).
func CommitRate(st PartitionStatus, now time.Time) float64 {
	if st.Start == nil || st.End == nil {
		return 0
	}
	span := st.End.Time.Sub(st.Start.Time)
	if span <= 0 || st.End.Offset <= st.Start.Offset || now.Sub(st.End.Time) > span {
		return 0
	}
	return float64(st.End.Offset-st.Start.Offset) / span.Seconds()
}

func perSecond(r float64) string {
	switch {
	case math.IsInf(r, 1):
		return "all at once"
	case r == 0:
		return "nothing"
	case r >= 10:
		return fmt.Sprintf("%.0f records/s", r)
	}
	return fmt.Sprintf("%.2g records/s", r)
}

func bytesHuman(b float64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%.0f B", b)
	}
	div, exp := float64(unit), 0
	for n := b / unit; n >= unit && exp < 4; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", b/div, "KMGTP"[exp])
}
