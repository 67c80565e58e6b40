package storage

import (
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/rewindhq/rewind/storage/vfs"
)

// Fsync is the durability policy of a log.
type Fsync int

const (
	// FsyncAlways fsyncs before an append is durable (WaitDurable) and
	// before it is visible to readers (HighWatermark). One fsync covers
	// every append waiting for it (group commit).
	FsyncAlways Fsync = iota
	// FsyncInterval fsyncs in the background every Options.FsyncInterval;
	// appends are visible and "durable" as soon as they are written.
	FsyncInterval
	// FsyncNever leaves flushing to the operating system (and Close).
	FsyncNever
)

func (f Fsync) String() string {
	switch f {
	case FsyncAlways:
		return "always"
	case FsyncInterval:
		return "interval"
	case FsyncNever:
		return "never"
	}
	return fmt.Sprintf("Fsync(%d)", int(f))
}

// ParseFsync parses "always", "interval" or "never".
func ParseFsync(s string) (Fsync, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "always":
		return FsyncAlways, nil
	case "interval":
		return FsyncInterval, nil
	case "never":
		return FsyncNever, nil
	}
	return 0, fmt.Errorf("storage: unknown fsync policy %q (want always, interval or never)", s)
}

// Config is the per-topic configuration of a log, named after Kafka's topic
// configs. Zero values are replaced by defaults (see DefaultConfig), except
// IndexIntervalBytes where 0 means an index entry per batch.
type Config struct {
	SegmentBytes       int64 // segment.bytes (default 1 GiB, at most MaxInt32)
	SegmentMs          int64 // segment.ms (default 7 days)
	RetentionMs        int64 // retention.ms, -1 = infinite, 0 = each sealed segment once its records are past (default 7 days)
	RetentionBytes     int64 // retention.bytes, < 0 = infinite, 0 = every sealed segment (default -1)
	MaxMessageBytes    int32 // max.message.bytes (default 1048588): max size of one record batch, 0 = every batch refused
	IndexIntervalBytes int32 // index.interval.bytes (default 4096)
	LogAppendTime      bool  // message.timestamp.type=LogAppendTime

	// CheckTimestamps refuses a batch with a record whose timestamp is
	// more than TimestampBeforeMaxMs before or TimestampAfterMaxMs after
	// the log's clock (message.timestamp.before.max.ms and
	// message.timestamp.after.max.ms); records without a timestamp (-1)
	// pass. Off in the zero Config; ignored with LogAppendTime, as in Kafka.
	CheckTimestamps      bool
	TimestampBeforeMaxMs int64
	TimestampAfterMaxMs  int64

	// ProducerIDExpirationMs is producer.id.expiration.ms (default one
	// day): idempotent producer state unused for this long is dropped by
	// ApplyRetention. -1 keeps it forever.
	ProducerIDExpirationMs int64

	// RequireKeys refuses a batch holding a record without a key
	// (cleanup.policy with compact: a keyless record could never be
	// compacted), with a *KeyError naming them, as Kafka's LogValidator.
	RequireKeys bool

	// CompressionType is the topic's compression.type: "" or "producer"
	// stores batches as produced; uncompressed, gzip, snappy, lz4 or zstd
	// rewrites every batch in another codec into it (recompress.go).
	CompressionType string
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:           1 << 30,
		SegmentMs:              7 * 24 * 3600 * 1000,
		RetentionMs:            7 * 24 * 3600 * 1000,
		RetentionBytes:         -1,
		MaxMessageBytes:        1048588,
		IndexIntervalBytes:     4096,
		ProducerIDExpirationMs: 24 * 3600 * 1000,
	}
}

// normalize fills zero values with defaults and clamps to supported ranges;
// a zero RetentionMs, RetentionBytes or MaxMessageBytes is kept, as it is a
// value Kafka's retention.ms and retention.bytes (delete what is sealed) and
// max.message.bytes (refuse every batch) take: start from DefaultConfig to
// keep data and accept writes.
func (c Config) normalize() Config {
	d := DefaultConfig()
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = d.SegmentBytes
	}
	if c.SegmentBytes > math.MaxInt32 {
		// Index positions are 32-bit, as in Kafka.
		c.SegmentBytes = math.MaxInt32
	}
	if c.SegmentMs <= 0 {
		c.SegmentMs = d.SegmentMs
	}
	if c.MaxMessageBytes < 0 {
		c.MaxMessageBytes = d.MaxMessageBytes
	}
	if c.IndexIntervalBytes < 0 {
		c.IndexIntervalBytes = d.IndexIntervalBytes
	}
	if c.ProducerIDExpirationMs == 0 {
		c.ProducerIDExpirationMs = d.ProducerIDExpirationMs
	}
	return c
}

// Options are the process-level settings of a log (not per topic).
type Options struct {
	FS            vfs.FS        // nil = vfs.Default
	Fsync         Fsync         // default FsyncAlways
	FsyncInterval time.Duration // for FsyncInterval (default 1s)
	Logger        *slog.Logger  // nil = slog.Default()
	Now           func() time.Time
	// OpenedAll, if not nil, holds back the checkpoint Open writes in the
	// background after a clean shutdown (and with it every change to the
	// log) until it is closed. A broker opening thousands of logs closes
	// it once all are open, so their fsyncs do not slow the opening.
	OpenedAll <-chan struct{}
	// Journal, under FsyncAlways, makes the log's appends durable through
	// a journal shared with other logs instead of fsyncing its segment
	// for them (see Journal); JournalPartition is the log's number in it,
	// unique among the journal's open logs. Ignored under FsyncInterval
	// and FsyncNever, whose appends wait for no fsync.
	Journal          *Journal
	JournalPartition int32
	// Handles bounds the segment files open at once; logs sharing one
	// share the bound (a broker passes one to every log). Nil means a
	// process-wide default of DefaultMaxOpenFiles.
	Handles *Handles
}

func (o Options) normalize() Options {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.FsyncInterval <= 0 {
		o.FsyncInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Handles == nil {
		o.Handles = defaultHandles()
	}
	return o
}
