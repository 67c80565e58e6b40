package storage

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
)

func benchLog(b *testing.B, policy Fsync) *Log {
	b.Helper()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 64 << 20
	cfg.RetentionBytes = 256 << 20
	l, err := Open(b.TempDir(), cfg, Options{Fsync: policy, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

// BenchmarkAppend appends batches of 10 records of 100 B or 1 KiB. Under
// fsync=always the appenders run in parallel and each waits for its
// append to be durable, as Produce with acks=all does: one fsync serves
// every append waiting (group commit).
func BenchmarkAppend(b *testing.B) {
	for _, recSize := range []int{100, 1024} {
		for _, policy := range []Fsync{FsyncNever, FsyncAlways} {
			b.Run(fmt.Sprintf("record=%dB/fsync=%v", recSize, policy), func(b *testing.B) {
				l := benchLog(b, policy)
				proto := batch(10, recSize, 1)
				b.SetBytes(int64(len(proto)))
				b.ReportAllocs()
				if policy == FsyncNever {
					buf := bytes.Clone(proto)
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if _, err := l.Append(buf); err != nil {
							b.Fatal(err)
						}
						if i%4096 == 4095 {
							l.ApplyRetention()
						}
					}
					return
				}
				b.SetParallelism(16)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					buf := bytes.Clone(proto)
					ctx := context.Background()
					for pb.Next() {
						res, err := l.Append(buf)
						if err != nil {
							b.Error(err)
							return
						}
						if err := l.WaitDurable(ctx, res.LastOffset+1); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkRead reads up to 1 MiB from a random offset of a 50 MiB log,
// copying the bytes out (copy) or only resolving the byte ranges (ranges,
// what a sendfile fetch path would do).
func BenchmarkRead(b *testing.B) {
	l := benchLog(b, FsyncNever)
	proto := batch(10, 500, 1)
	buf := bytes.Clone(proto)
	for l.Size() < 50<<20 {
		if _, err := l.Append(buf); err != nil {
			b.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	for _, mode := range []string{"copy", "ranges"} {
		b.Run(mode, func(b *testing.B) {
			var dst []byte
			rng := rand.New(rand.NewPCG(1, 2))
			b.ReportAllocs()
			var total int64
			for i := 0; i < b.N; i++ {
				r, err := l.Read(rng.Int64N(leo), 1<<20, true)
				if err != nil {
					b.Fatal(err)
				}
				total += r.Size
				if mode == "copy" {
					if dst, err = r.AppendTo(dst[:0]); err != nil {
						b.Fatal(err)
					}
				}
				r.Release()
			}
			b.SetBytes(total / int64(b.N))
		})
	}
}

// BenchmarkValidateCompressed is the append-path cost of checking a
// compressed batch's records (decompressing them, streamed): 100 records
// of 1 KiB of half-compressible text. SetBytes counts uncompressed bytes.
func BenchmarkValidateCompressed(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	recs := make([]Record, 100)
	for i := range recs {
		v := make([]byte, 1024)
		for j := range v {
			if j%2 == 0 {
				v[j] = byte('a' + rng.IntN(26))
			} else {
				v[j] = 'x'
			}
		}
		recs[i] = Record{Timestamp: int64(i), Key: []byte(fmt.Sprint(i)), Value: v}
	}
	plain := BuildBatch(0, recs)
	for _, c := range []int{CodecNone, CodecGzip, CodecSnappy, CodecLz4, CodecZstd} {
		cb := plain
		if c != CodecNone {
			cb = compressBatch(b, plain, c)
		}
		b.Run(codecName(c), func(b *testing.B) {
			h, err := ParseBatchHeader(cb)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(plain)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := validateBatch(&h, cb, 1<<20, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
