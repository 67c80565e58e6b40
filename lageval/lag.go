package lageval

import (
	"fmt"
	"time"
)

// Lag and lag in time, as every view shows them (the CLI's describe and lag,
// the console, /metrics): computed here only, so that they never disagree.

// Lag is how many records a consumer whose committed offset is committed has
// yet to read of a log ending at logEnd: logEnd minus committed, 0 when the
// commit is at or past the log end (kadm and kafka_exporter count such a
// commit, after a truncation, as no lag).
func Lag(logEnd, committed int64) int64 { return max(0, logEnd-committed) }

// FirstUnconsumed is the offset of the first record a consumer at committed
// will read: committed, or the log start once retention deleted the records
// below it. Its timestamp dates the lag (LagTime).
func FirstUnconsumed(committed, logStart int64) int64 { return max(committed, logStart) }

// LagTime is the lag in time at now: how long the first record not yet
// consumed has waited (now minus its timestamp first, never negative), 0
// without lag. ok is false when there is lag but first is unknown (zero):
// callers then show nothing rather than a guess.
func LagTime(lag int64, first, now time.Time) (d time.Duration, ok bool) {
	if lag <= 0 {
		return 0, true
	}
	if first.IsZero() {
		return 0, false
	}
	return max(0, now.Sub(first)), true
}

// HumanDuration rounds a duration to what a person reads at a glance, at
// most two units: 0s, 850ms, 45s, 2m5s, 5m, 5h3m, 5h, 2d4h, 2d. It is used
// for the LAG-TIME column and in the verdicts' reasons.
func HumanDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	// Each unit is tried after rounding, so that 59.6s is "1m", not "60s".
	if r := d.Round(time.Millisecond); r < time.Second {
		return r.String()
	}
	if r := d.Round(time.Second); r < time.Hour {
		return twoUnits(r, time.Minute, "m", time.Second, "s")
	}
	if r := d.Round(time.Minute); r < 24*time.Hour {
		return twoUnits(r, time.Hour, "h", time.Minute, "m")
	}
	return twoUnits(d.Round(time.Hour), 24*time.Hour, "d", time.Hour, "h")
}

// twoUnits prints d, a whole number of small units, as big and small units,
// leaving out a zero one.
func twoUnits(d, big time.Duration, bigName string, small time.Duration, smallName string) string {
	b, s := int64(d/big), int64(d%big/small)
	switch {
	case b == 0:
		return fmt.Sprintf("%d%s", s, smallName)
	case s == 0:
		return fmt.Sprintf("%d%s", b, bigName)
	}
	return fmt.Sprintf("%d%s%d%s", b, bigName, s, smallName)
}
