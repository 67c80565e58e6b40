package storage

import (
	"bytes"
	"errors"
	"testing"

	"github.com/rewindhq/rewind/internal/codecbomb"
)

// TestRequireKeys: with RequireKeys (a compacted topic) a batch holding
// records without a key is refused with a *KeyError naming them, as an
// INVALID_RECORD, whatever its codec (the compressed ones are walked on the
// streaming and the snappy block paths); keyed records and tombstones
// pass, and without RequireKeys keyless ones do.
func TestRequireKeys(t *testing.T) {
	recs := []Record{{Key: []byte("a"), Value: []byte("1")}, {Value: []byte("2")}, {Key: []byte("b")}, {Value: []byte("4")}}
	plain := BuildBatch(1000, recs)
	records := plain[BatchHeaderSize:]
	for _, codec := range []int{CodecNone, CodecGzip, CodecSnappy, CodecLz4, CodecZstd} {
		b := plain
		if codec != CodecNone {
			b = codecbomb.Batch(codec, codecbomb.Compress(codec, bytes.NewReader(records)), int32(len(recs)))
		}
		h, err := ParseBatchHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := validateBatch(&h, b, 1<<20, nil); err != nil {
			t.Fatalf("codec %d without RequireKeys: %v", codec, err)
		}
		err = validateBatch(&h, b, 1<<20, &recordChecks{keyed: true})
		var ke *KeyError
		if !errors.As(err, &ke) || !errors.Is(err, ErrInvalidRecord) || ke.Count != 2 || len(ke.Records) != 2 || ke.Records[0] != 1 || ke.Records[1] != 3 {
			t.Fatalf("codec %d with RequireKeys: %v (%+v), want a KeyError naming records 1 and 3", codec, err, ke)
		}
	}
	keyed := BuildBatch(1000, []Record{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b")}})
	h, _ := ParseBatchHeader(keyed)
	if err := validateBatch(&h, keyed, 1<<20, &recordChecks{keyed: true}); err != nil {
		t.Fatalf("keyed records and a tombstone: %v", err)
	}

	l, err := Open(t.TempDir(), func() Config { c := DefaultConfig(); c.RequireKeys = true; return c }(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(BuildBatch(1000, recs)); !errors.As(err, new(*KeyError)) {
		t.Fatalf("Append of keyless records: %v", err)
	}
	if l.LogEndOffset() != 0 {
		t.Fatalf("a refused batch moved the log end to %d", l.LogEndOffset())
	}
	c := DefaultConfig()
	l.SetConfig(c)
	if _, err := l.Append(BuildBatch(1000, recs)); err != nil {
		t.Fatalf("Append after RequireKeys is turned off: %v", err)
	}
}
