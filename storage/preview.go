package storage

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// RecordPreview is a record as a bounded reader shows it (the admin
// message browser): keys, values and header values cut to a limit, with
// their whole lengths.
type RecordPreview struct {
	Offset    int64
	Timestamp int64    // milliseconds since the epoch (the batch's for LogAppendTime)
	Key       []byte   // nil: no key
	KeyLen    int      // whole length (-1: no key)
	Value     []byte   // nil: null value (a tombstone)
	ValueLen  int      // whole length (-1: null)
	Headers   []Header // the first PreviewLimits.MaxHeaders
	NHeaders  int      // how many the record has
}

// PreviewLimits bounds PreviewBatch.
type PreviewLimits struct {
	MaxField   int   // bytes kept of a key, value, header key or header value
	MaxHeaders int   // headers kept per record
	MaxDecoded int64 // bytes of records read (decompressed) at most
}

// ErrDecodeLimit is returned when a preview reaches PreviewLimits.MaxDecoded.
var ErrDecodeLimit = errors.New("storage: records to decode exceed the limit")

// PreviewBatch reads the records of the batch at the start of b whose
// offset is at least from and calls fn with each, in order, until fn
// returns false. It streams: compressed records are decompressed through
// the bounded, budgeted decoders of the append path, and only what the
// limits keep is copied (the previews are the caller's). It returns the
// bytes of records read, which count against lim.MaxDecoded, and
// ErrDecodeLimit when they reach it: after the records it could read, or
// at once when the payload states a decoded size above the limit (zstd
// content size, snappy block lengths).
func PreviewBatch(b []byte, from int64, lim PreviewLimits, fn func(RecordPreview) bool) (int64, error) {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return 0, err
	}
	body := b[BatchHeaderSize:h.Size()]
	var r io.Reader = bytes.NewReader(body)
	if c := h.Compression(); c != CodecNone {
		dr, release, err := decompressor(c, body, lim.MaxDecoded)
		if errors.Is(err, errTooBig) {
			return 0, ErrDecodeLimit
		}
		if err != nil {
			return 0, wrapErr(ErrCorruptMessage, "decompressing %s batch at offset %d: %v", codecName(c), h.BaseOffset, err)
		}
		defer release()
		r = dr
	}
	br := bufReaders.Get().(*bufio.Reader)
	br.Reset(io.LimitReader(r, lim.MaxDecoded+1))
	defer func() {
		br.Reset(nil)
		bufReaders.Put(br)
	}()
	c := &countingReader{r: br, limit: lim.MaxDecoded}
	for i := int32(0); i < h.NumRecords; i++ {
		p, err := previewRecord(c, &h, lim)
		if err != nil {
			if c.n > c.limit {
				return c.n, ErrDecodeLimit
			}
			return c.n, wrapErr(ErrCorruptMessage, "batch at offset %d, record %d: %v", h.BaseOffset, i, err)
		}
		if p.Offset >= from && !fn(p) {
			break
		}
	}
	return c.n, nil
}

// BatchSource gives PreviewRecords the record batches of one partition.
type BatchSource struct {
	// Read returns the batches from the one that holds offset on, empty
	// at the end of what is to be read. PreviewRecords keeps nothing of
	// them past the next call.
	Read func(offset int64) ([]byte, error)
	// Partial: a read may end with a batch cut short (a Fetch response),
	// so a batch that does not parse ends that read, and the next starts
	// after the last whole batch, instead of failing the call.
	Partial bool
	// SkipControl passes over control batches (transaction markers).
	SkipControl bool
}

// PreviewRecords reads up to max records from offset on through src,
// keeping of each what lim allows (see PreviewBatch). The batches'
// records are streamed, never decompressed whole, and lim.MaxDecoded
// bounds the bytes of records read for the whole call: past it the
// records end early, or ErrDecodeLimit is returned if there are none yet.
// The previews are the caller's.
func PreviewRecords(src BatchSource, offset int64, max int, lim PreviewLimits) ([]RecordPreview, error) {
	var out []RecordPreview
	budget := lim.MaxDecoded
	for len(out) < max {
		data, err := src.Read(offset)
		if err != nil {
			return out, err
		}
		if len(data) == 0 {
			return out, nil
		}
		next := offset
		for len(data) > 0 && len(out) < max {
			h, err := ParseBatchHeader(data)
			if err != nil {
				if src.Partial {
					break // read again from next
				}
				return out, err
			}
			batch := data[:h.Size()]
			data = data[len(batch):]
			if h.LastOffset() < offset {
				continue
			}
			next = h.LastOffset() + 1
			if src.SkipControl && h.IsControl() {
				// Passed over, but not for free: a run of markers
				// counts against the budget as the records read do.
				if budget -= int64(len(batch)); budget <= 0 {
					if len(out) > 0 {
						return out, nil
					}
					return out, ErrDecodeLimit
				}
				continue
			}
			lim.MaxDecoded = budget
			n, err := PreviewBatch(batch, offset, lim, func(p RecordPreview) bool {
				if len(out) >= max {
					return false
				}
				out = append(out, p)
				return true
			})
			budget -= n
			if errors.Is(err, ErrDecodeLimit) && len(out) > 0 {
				return out, nil
			}
			if err != nil {
				return out, err
			}
		}
		if next <= offset {
			return out, nil
		}
		offset = next
	}
	return out, nil
}

// previewRecord reads one record from c, keeping what lim allows.
func previewRecord(c *countingReader, h *BatchHeader, lim PreviewLimits) (RecordPreview, error) {
	l, err := c.varint()
	if err != nil {
		return RecordPreview{}, err
	}
	if l <= 0 {
		return RecordPreview{}, errors.New("bad length")
	}
	end := c.n + l
	bytesField := func(keep int) ([]byte, int, error) {
		k, err := c.varint()
		if err != nil {
			return nil, 0, err
		}
		if k < -1 || k > end-c.n {
			return nil, 0, errors.New("bad field length")
		}
		if k < 0 {
			return nil, -1, nil
		}
		n := int(min(k, int64(keep)))
		out := make([]byte, n)
		m, err := io.ReadFull(c.r, out)
		c.n += int64(m)
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		if err != nil {
			return nil, 0, c.fail(err)
		}
		return out, int(k), c.skip(k - int64(n))
	}
	if err := c.skip(1); err != nil { // attributes
		return RecordPreview{}, err
	}
	tsDelta, err := c.varint()
	if err != nil {
		return RecordPreview{}, err
	}
	offDelta, err := c.varint()
	if err != nil {
		return RecordPreview{}, err
	}
	p := RecordPreview{Offset: h.BaseOffset + offDelta, Timestamp: h.FirstTimestamp + tsDelta}
	if h.IsLogAppendTime() {
		p.Timestamp = h.MaxTimestamp
	}
	if p.Key, p.KeyLen, err = bytesField(lim.MaxField); err != nil {
		return RecordPreview{}, err
	}
	if p.Value, p.ValueLen, err = bytesField(lim.MaxField); err != nil {
		return RecordPreview{}, err
	}
	nh, err := c.varint()
	if err != nil {
		return RecordPreview{}, err
	}
	if nh < 0 || nh > end-c.n {
		return RecordPreview{}, errors.New("bad header count")
	}
	p.NHeaders = int(nh)
	for j := 0; j < p.NHeaders; j++ {
		keep := lim.MaxField
		if j >= lim.MaxHeaders {
			keep = 0
		}
		k, _, err := bytesField(keep)
		if err != nil {
			return RecordPreview{}, err
		}
		v, _, err := bytesField(keep)
		if err != nil {
			return RecordPreview{}, err
		}
		if j < lim.MaxHeaders {
			p.Headers = append(p.Headers, Header{Key: string(k), Value: v})
		}
	}
	if c.n != end {
		return RecordPreview{}, errors.New("fields do not fill the record's length")
	}
	return p, nil
}
