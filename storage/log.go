package storage

import (
	"context"
	"errors"
	"io"

	"github.com/rewindhq/rewind/storage/vfs"
)

// Work in progress: the API is final, the implementation lands next.

var errNotYet = errors.New("storage: not implemented yet")

// Log is one partition's durable log.
type Log struct{}

// AppendResult describes a successful Append.
type AppendResult struct {
	BaseOffset, LastOffset int64 // offsets assigned (of the first and last record)
	LogAppendTime          int64 // -1 unless LogAppendTime
	LogStartOffset         int64
	Duplicate              bool // idempotent retry: offsets are those of the original append, nothing written
}

func Open(dir string, cfg Config, opts Options) (*Log, error) { return nil, errNotYet }

func (l *Log) Append(records []byte) (AppendResult, error)      { return AppendResult{}, errNotYet }
func (l *Log) WaitDurable(ctx context.Context, end int64) error { return errNotYet }
func (l *Log) HighWatermark() int64                             { return 0 }
func (l *Log) LogStartOffset() int64                            { return 0 }
func (l *Log) LogEndOffset() int64                              { return 0 }
func (l *Log) Changed() <-chan struct{}                         { return nil }
func (l *Log) Read(offset int64, maxBytes int32, minOne bool) (*ReadResult, error) {
	return nil, errNotYet
}
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, err error) {
	return -1, -1, errNotYet
}
func (l *Log) MaxTimestamp() (offset, timestamp int64, err error)              { return -1, -1, errNotYet }
func (l *Log) DeleteRecordsBefore(offset int64) (newLogStart int64, err error) { return 0, errNotYet }
func (l *Log) ApplyRetention() error                                           { return errNotYet }
func (l *Log) SetConfig(cfg Config)                                            {}
func (l *Log) Size() int64                                                     { return 0 }
func (l *Log) Close() error                                                    { return errNotYet }
func (l *Log) Delete() error                                                   { return errNotYet }

// Chunk is a byte range of a segment file.
type Chunk struct {
	File     vfs.File
	Pos, Len int64
}

// ReadResult is the result of Read.
type ReadResult struct {
	Size                                        int64
	HighWatermark, LogStartOffset, LogEndOffset int64
}

func (r *ReadResult) Chunks() []Chunk                     { return nil }
func (r *ReadResult) AppendTo(dst []byte) ([]byte, error) { return dst, nil }
func (r *ReadResult) WriteTo(w io.Writer) (int64, error)  { return 0, nil }
func (r *ReadResult) Release()                            {}
