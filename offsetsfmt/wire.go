package offsetsfmt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
)

// The primitives Kafka's message format is made of, for the codecs that
// gen generates from Kafka's definitions (consumergroup_gen.go). kmsg has
// the same internally but does not export it, and it covers only the
// classic records (see the package doc).
//
// Non-flexible versions use int16-length strings and int32-length bytes
// and arrays (-1 is null); flexible versions use unsigned varints of
// length+1 (0 is null) and end every struct with tagged fields:
//
//	uvarint count | { uvarint tag | uvarint size | size bytes }*count   (tags ascending)

// ErrMalformed marks a record that does not decode with its definition
// (truncated, a length past its end, a null where none is allowed, bytes
// left over); test with errors.Is.
var ErrMalformed = errors.New("offsetsfmt: malformed record")

// RawTag is a tagged field kept as its bytes.
type RawTag struct {
	Tag  uint32
	Data []byte
}

// generatedRecord is what every generated key and value implements.
type generatedRecord interface {
	AppendTo([]byte) []byte
	ReadFrom([]byte) error
}

func errRecordType(name string, got, want int16) error {
	return fmt.Errorf("%w: %s: record type %d, want %d", ErrMalformed, name, got, want)
}

func errVersion(name string, ver int16) error {
	return fmt.Errorf("%w: %s: unknown version %d", ErrMalformed, name, ver)
}

func appendInt16(b []byte, v int16) []byte { return binary.BigEndian.AppendUint16(b, uint16(v)) }
func appendInt32(b []byte, v int32) []byte { return binary.BigEndian.AppendUint32(b, uint32(v)) }
func appendInt64(b []byte, v int64) []byte { return binary.BigEndian.AppendUint64(b, uint64(v)) }
func appendFloat64(b []byte, v float64) []byte {
	return binary.BigEndian.AppendUint64(b, math.Float64bits(v))
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendString(b []byte, s string, flexible bool) []byte {
	if flexible {
		b = appendUvarint(b, uint64(len(s))+1)
	} else {
		b = appendInt16(b, int16(len(s)))
	}
	return append(b, s...)
}

func appendNullableString(b []byte, s *string, flexible bool) []byte {
	if s != nil {
		return appendString(b, *s, flexible)
	}
	if flexible {
		return append(b, 0)
	}
	return appendInt16(b, -1)
}

func appendBytes(b, v []byte, null, flexible bool) []byte {
	switch {
	case null && flexible:
		return append(b, 0)
	case null:
		return appendInt32(b, -1)
	case flexible:
		b = appendUvarint(b, uint64(len(v))+1)
	default:
		b = appendInt32(b, int32(len(v)))
	}
	return append(b, v...)
}

// appendArrayLen writes an array's length; n < 0 is null.
func appendArrayLen(b []byte, n int, flexible bool) []byte {
	if flexible {
		return appendUvarint(b, uint64(n+1))
	}
	return appendInt32(b, int32(n))
}

// appendTags writes the tagged-field section: known and unknown tags
// together in ascending order, as Kafka writes them.
func appendTags(b []byte, known, unknown []RawTag) []byte {
	all := known
	if len(unknown) > 0 {
		all = append(append([]RawTag(nil), known...), unknown...)
		sort.SliceStable(all, func(i, j int) bool { return all[i].Tag < all[j].Tag })
	}
	b = appendUvarint(b, uint64(len(all)))
	for _, t := range all {
		b = appendUvarint(b, uint64(t.Tag))
		b = appendUvarint(b, uint64(len(t.Data)))
		b = append(b, t.Data...)
	}
	return b
}

// reader decodes from b; the first error sticks and later reads return
// zero values, so generated code checks once at the end.
type reader struct {
	b   []byte
	err error
}

func (r *reader) setErr(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, what)
	}
}

// fail wraps the sticky error with the record's name.
func (r *reader) fail(name string) error { return fmt.Errorf("%s: %w", name, r.err) }

// done is the result of decoding a whole record: the sticky error, or an
// error if bytes are left over.
func (r *reader) done(name string) error {
	if r.err == nil && len(r.b) > 0 {
		r.setErr(fmt.Sprintf("%d bytes after the record", len(r.b)))
	}
	if r.err != nil {
		return r.fail(name)
	}
	return nil
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.setErr(fmt.Sprintf("need %d bytes, %d left", n, len(r.b)))
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

func (r *reader) int8() int8 {
	if s := r.take(1); s != nil {
		return int8(s[0])
	}
	return 0
}

func (r *reader) bool() bool { return r.int8() != 0 }

func (r *reader) int16() int16 {
	if s := r.take(2); s != nil {
		return int16(binary.BigEndian.Uint16(s))
	}
	return 0
}

func (r *reader) int32() int32 {
	if s := r.take(4); s != nil {
		return int32(binary.BigEndian.Uint32(s))
	}
	return 0
}

func (r *reader) int64() int64 {
	if s := r.take(8); s != nil {
		return int64(binary.BigEndian.Uint64(s))
	}
	return 0
}

func (r *reader) float64() float64 { return math.Float64frombits(uint64(r.int64())) }

func (r *reader) uuid() (u [16]byte) {
	copy(u[:], r.take(16))
	return u
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > math.MaxInt32 {
		// Kafka's lengths and tags are unsigned varints of at most 32 bits.
		r.setErr("bad unsigned varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// length reads a string's or bytes' length; -1 is null.
func (r *reader) length(flexible, int32Len bool) int {
	switch {
	case flexible:
		return int(r.uvarint()) - 1
	case int32Len:
		return int(r.int32())
	}
	return int(r.int16())
}

func (r *reader) nullableString(flexible bool) *string {
	n := r.length(flexible, false)
	if n < 0 {
		if n < -1 {
			r.setErr("negative string length")
		}
		return nil
	}
	s := string(r.take(n))
	return &s
}

func (r *reader) string(flexible bool) string {
	s := r.nullableString(flexible)
	if s == nil {
		r.setErr("null string in a non-nullable field")
		return ""
	}
	return *s
}

// bytes returns nil for null, and a copy otherwise (records outlive the
// buffers they are read from).
func (r *reader) bytes(flexible bool) []byte {
	n := r.length(flexible, true)
	if n < 0 {
		if n < -1 {
			r.setErr("negative bytes length")
		}
		return nil
	}
	return append([]byte{}, r.take(n)...)
}

// arrayLen reads an array length. An array whose elements (of at least
// minElem bytes each) cannot fit in what is left is malformed, which bounds
// what a lying length can make the decoder allocate.
func (r *reader) arrayLen(flexible bool, minElem int) (n int, null bool) {
	if flexible {
		n = int(r.uvarint()) - 1
	} else {
		n = int(r.int32())
	}
	if r.err != nil {
		return 0, false
	}
	if n < 0 {
		if n < -1 {
			r.setErr("negative array length")
		}
		return 0, true
	}
	if n > len(r.b)/minElem {
		r.setErr(fmt.Sprintf("array of %d elements in %d bytes", n, len(r.b)))
		return 0, false
	}
	return n, false
}

// tags reads a tagged-field section. known decodes a tag it knows from its
// own reader (which must be consumed exactly) and reports whether it knew
// it; the others are kept in unknown.
func (r *reader) tags(known func(tag uint32, tr *reader) bool, unknown *[]RawTag) {
	n := r.uvarint()
	last := int64(-1)
	for i := uint64(0); i < n && r.err == nil; i++ {
		tag := r.uvarint()
		data := r.take(int(r.uvarint()))
		if r.err != nil {
			return
		}
		if int64(tag) <= last {
			r.setErr("tagged fields out of order")
			return
		}
		last = int64(tag)
		tr := &reader{b: data}
		if known(uint32(tag), tr) {
			if err := tr.done("tagged field"); err != nil {
				r.err = err
			}
			continue
		}
		*unknown = append(*unknown, RawTag{Tag: uint32(tag), Data: append([]byte{}, data...)})
	}
}
