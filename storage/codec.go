package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"golang.org/x/sync/semaphore"
)

// Decompression is bounded three ways, so that neither a crafted batch nor
// many connections sending them at once can take the broker's memory:
//
//   - Size: a batch may decompress to at most DecompressLimit(max.message.bytes)
//     bytes (64 times the limit, at least 64 MiB, at most 1 GiB). Clients
//     bound their batches before compression (franz-go, librdkafka, Sarama
//     and kafka-python by their max batch bytes, about 1 MB by default), or
//     after it by an estimated ratio (the Java producer's batch.size); 64
//     times is far past the ratios of real data.
//   - Per decoder: a zstd frame may declare a window of at most 128 MiB,
//     the most Kafka's own decoder accepts (zstd-jni keeps zstd's default
//     windowLogMax of 27). Clients declare at most that: the Java producer
//     streams at its zstd level's window (2 MiB at the default level 3,
//     128 MiB at level 22); librdkafka, franz-go (64 KiB), Sarama and
//     kafka-python compress whole batches of known size, with a window no
//     larger than the batch. The history kept is further cut to the size
//     limit (a frame can refer back no further than it has decoded), and to
//     the frame's content size when the frame states it. Raw snappy blocks
//     cannot stream and are decoded whole, but snappy cannot expand more
//     than 64/3 times, so a block declaring more is refused before anything
//     is allocated.
//   - Together: every decoder's buffers (zstd history, lz4 blocks, snappy
//     blocks) are reserved from one broker-wide budget before they are
//     allocated, and a decode waits for its share; only decoders with a
//     history of at most 2 MiB are pooled for reuse.
//
// A batch past a bound is refused as CORRUPT_MESSAGE, like any other batch
// whose payload does not decompress to its declared records.

const (
	decompressRatio    = 64
	minDecompressLimit = 64 << 20
	maxDecompressLimit = 1 << 30
	// storedDecompressLimit bounds reads of stored batches (compaction,
	// DecodeRecords), which were checked on append against the limit of
	// their topic at the time (256 MiB before limits followed the topic).
	storedDecompressLimit = 256 << 20

	maxZstdWindow   = 128 << 20
	smallZstdWindow = 2 << 20

	// snappyMaxRatio is above what the snappy format can express (a
	// 3-byte copy of 64 bytes), with room for the length header.
	snappyMaxRatio = 22

	// decodeBudget is the memory all decoders may hold at once.
	decodeBudget = 64 << 20
)

// DecompressLimit is the most a batch of a topic with the given
// max.message.bytes may decompress to.
func DecompressLimit(maxMessageBytes int32) int64 {
	return min(max(int64(maxMessageBytes)*decompressRatio, minDecompressLimit), maxDecompressLimit)
}

var decodeMem = semaphore.NewWeighted(decodeBudget)

// reserveDecode waits until n bytes of decoder memory are free and takes
// them; the returned function gives them back. A decode larger than the
// whole budget takes all of it.
func reserveDecode(n int64) func() {
	n = min(max(n, 1), decodeBudget)
	decodeMem.Acquire(context.Background(), n) // cannot fail: no deadline, n <= size
	return func() { decodeMem.Release(n) }
}

var errTooBig = errors.New("decompressed batch exceeds the size limit")

func tooBig(limit int64) error {
	return fmt.Errorf("%w of %d MiB", errTooBig, limit>>20)
}

func codecName(c int) string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLz4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec %d", c)
}

var (
	gzipReaders      sync.Pool // *gzip.Reader
	lz4Readers       = sync.Pool{New: func() any { return lz4.NewReader(nil) }}
	smallZstdReaders sync.Pool // *zstd.Decoder, synchronous, window <= smallZstdWindow
)

// decompressor returns a streaming reader of body's decompressed bytes
// (gzip, lz4 frame, zstd, xerial-framed snappy) and a function that
// releases it and its share of the decode budget. Raw snappy, which has
// no streaming form, is decoded whole into the reader's buffer. The caller
// bounds how much it reads (limit is used to size decoders, not enforced).
func decompressor(codec int, body []byte, limit int64) (io.Reader, func(), error) {
	switch codec {
	case CodecGzip:
		src := bytes.NewReader(body)
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(src)
		} else {
			err = zr.Reset(src)
		}
		if err != nil {
			return nil, func() {}, err
		}
		// A gzip reader holds a 32 KiB window and tables: small and fixed,
		// like the rest of a connection's state.
		return zr, func() { gzipReaders.Put(zr) }, nil
	case CodecLz4:
		// The frame descriptor names the block size the reader allocates
		// twice (decoded and compressed): 64 KiB to 4 MiB.
		release := reserveDecode(2 * lz4BlockSize(body))
		lr := lz4Readers.Get().(*lz4.Reader)
		lr.Reset(bytes.NewReader(body))
		return lr, func() { lr.Reset(nil); lz4Readers.Put(lr); release() }, nil
	case CodecZstd:
		return zstdReader(body, limit)
	case CodecSnappy:
		return snappyReader(body, limit)
	}
	return nil, func() {}, errors.New("unknown compression codec")
}

// lz4BlockSize reads the block maximum size of an lz4 frame descriptor
// (4 MiB, the largest, if it cannot be read: the reader then fails).
func lz4BlockSize(body []byte) int64 {
	if len(body) >= 6 && binary.LittleEndian.Uint32(body) == 0x184D2204 {
		if id := body[5] >> 4 & 7; id >= 4 {
			return 64 << 10 << (2 * (id - 4))
		}
	}
	return 4 << 20
}

// zstdPlan is how a zstd payload will be decoded: the history window to
// keep and, when it is smaller than the one the frame declares, the frame
// header rewritten to declare it.
type zstdPlan struct {
	window uint64
	header []byte
}

// planZstd inspects the first frame header. A window above maxZstdWindow,
// a dictionary (Kafka has none), or a stated content size above limit is
// refused. A declared window larger than the frame can use (its content
// size, or limit) is cut to the smallest window descriptor covering that
// use: zstd matches refer back at most as far as the frame has decoded, so
// the frame decodes identically within limit, and a frame going past limit
// is refused anyway.
func planZstd(body []byte, limit int64) (zstdPlan, error) {
	var h zstd.Header
	if err := h.Decode(body); err != nil {
		return zstdPlan{}, err
	}
	if h.Skippable {
		// Decoders skip it; the frames after it get the small window.
		return zstdPlan{window: smallZstdWindow}, nil
	}
	if h.DictionaryID != 0 {
		return zstdPlan{}, fmt.Errorf("frame needs dictionary %d", h.DictionaryID)
	}
	if h.HasFCS && h.FrameContentSize > uint64(limit) {
		return zstdPlan{}, fmt.Errorf("frame content of %d bytes: %w", h.FrameContentSize, tooBig(limit))
	}
	if h.SingleSegment {
		return zstdPlan{window: max(h.FrameContentSize, zstd.MinWindowSize)}, nil
	}
	if h.WindowSize > maxZstdWindow {
		return zstdPlan{}, fmt.Errorf("frame window of %d MiB exceeds the %d MiB a Kafka broker decodes", h.WindowSize>>20, maxZstdWindow>>20)
	}
	p := zstdPlan{window: h.WindowSize}
	use := uint64(limit)
	if h.HasFCS {
		use = h.FrameContentSize
	}
	if w, desc := zstdWindowCovering(use); p.window > smallZstdWindow && w < p.window {
		// The window descriptor follows the 4-byte magic and the frame
		// header descriptor.
		p.window = w
		p.header = bytes.Clone(body[:6])
		p.header[5] = desc
	}
	return p, nil
}

// zstdWindowCovering returns the smallest window a frame descriptor can
// declare that is at least n (at least 1 KiB), and its descriptor byte:
// exponent (log2 - 10) in the high five bits, eighths to add in the low
// three.
func zstdWindowCovering(n uint64) (uint64, byte) {
	n = max(n, zstd.MinWindowSize)
	k := bits.Len64(n-1) - 1 // 1<<k < n <= 2<<k
	base := uint64(1) << k
	m := (n - base + base/8 - 1) / (base / 8)
	if m == 8 {
		k, base, m = k+1, base<<1, 0
	}
	return base + base/8*m, byte(k-10)<<3 | byte(m)
}

// zstdRing is what the streaming decoder allocates for a window: the
// window plus two blocks of room.
func zstdRing(window uint64) int64 {
	return int64(window) + 2*int64(min(window, 128<<10)+16) + 64<<10
}

func zstdReader(body []byte, limit int64) (io.Reader, func(), error) {
	p, err := planZstd(body, limit)
	if err != nil {
		return nil, func() {}, err
	}
	var src io.Reader = bytes.NewReader(body)
	if p.header != nil {
		src = io.MultiReader(bytes.NewReader(p.header), bytes.NewReader(body[len(p.header):]))
	}
	if p.window <= smallZstdWindow {
		// Pooled decoders keep a history of up to smallZstdWindow: count
		// that much whatever this frame needs.
		release := reserveDecode(zstdRing(smallZstdWindow))
		zr, _ := smallZstdReaders.Get().(*zstd.Decoder)
		if zr == nil {
			zr, err = zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxWindow(smallZstdWindow), zstd.WithDecoderMaxMemory(smallZstdWindow))
		} else {
			err = zr.Reset(src)
		}
		if err != nil {
			if zr != nil {
				zr.Close()
			}
			release()
			return nil, func() {}, err
		}
		return zr, func() { zr.Reset(nil); smallZstdReaders.Put(zr); release() }, nil
	}
	// A larger history is allocated for this frame and dropped with it:
	// a pooled decoder would keep it.
	release := reserveDecode(zstdRing(p.window))
	zr, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(p.window), zstd.WithDecoderMaxMemory(p.window))
	if err != nil {
		release()
		return nil, func() {}, err
	}
	return zr, func() { zr.Close(); release(); bigDecoderFreed(zstdRing(p.window)) }, nil
}

// bigFreed counts the bytes of large decoder histories dropped since the
// last collection they caused, and gcPending is set while one runs.
var (
	bigFreed  atomic.Int64
	gcPending atomic.Bool
)

// bigDecoderFreed collects garbage once the large histories dropped add
// up to the decode budget. Go's pacing would let garbage grow as large as
// the live heap before collecting; histories of tens of MiB dropped one
// after another (frames declaring large windows, which only a Java
// producer at zstd level 20 or more, or an attacker, sends) would then
// hold several budgets' worth of memory.
func bigDecoderFreed(n int64) {
	if bigFreed.Add(n) >= decodeBudget && gcPending.CompareAndSwap(false, true) {
		bigFreed.Store(0)
		go func() {
			runtime.GC()
			gcPending.Store(false)
		}()
	}
}

var xerialMagic = []byte{130, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// snappyBlocks splits a snappy payload into its raw blocks: the chunks
// after the 16-byte xerial header (magic, version, compatible version),
// each a big-endian length and a block, as the Java producer writes them,
// or the whole payload as one block (librdkafka, franz-go, Sarama). It
// returns the largest decoded block length, checked against limit and
// against what snappy can encode in the block's size.
func snappyBlocks(src []byte, limit int64) (blocks [][]byte, largest int, err error) {
	if len(src) >= 16 && bytes.HasPrefix(src, xerialMagic) {
		for src = src[16:]; len(src) > 0; {
			if len(src) < 4 {
				return nil, 0, errors.New("malformed xerial framing")
			}
			n := binary.BigEndian.Uint32(src)
			src = src[4:]
			if uint64(n) > uint64(len(src)) {
				return nil, 0, errors.New("malformed xerial framing")
			}
			blocks = append(blocks, src[:n])
			src = src[n:]
		}
	} else {
		blocks = [][]byte{src}
	}
	var total int64
	for _, b := range blocks {
		l, err := s2.DecodedLen(b)
		if err != nil {
			return nil, 0, err
		}
		if int64(l) > snappyMaxRatio*int64(len(b))+16 {
			return nil, 0, fmt.Errorf("block of %d bytes declares %d decoded bytes, more than snappy can encode in it", len(b), l)
		}
		if total += int64(l); total > limit {
			return nil, 0, tooBig(limit)
		}
		largest = max(largest, l)
	}
	return blocks, largest, nil
}

// snappyStream reads the decoded bytes of snappy blocks, one block at a
// time, reusing one buffer.
type snappyStream struct {
	blocks [][]byte
	buf    []byte
	off    int
}

func (s *snappyStream) Read(p []byte) (int, error) {
	for s.off == len(s.buf) {
		if len(s.blocks) == 0 {
			return 0, io.EOF
		}
		out, err := s2.Decode(s.buf[:cap(s.buf)], s.blocks[0])
		if err != nil {
			return 0, err
		}
		s.blocks, s.buf, s.off = s.blocks[1:], out, 0
	}
	n := copy(p, s.buf[s.off:])
	s.off += n
	return n, nil
}

var snappyBufs = sync.Pool{New: func() any { return new([]byte) }}

func snappyReader(body []byte, limit int64) (io.Reader, func(), error) {
	blocks, largest, err := snappyBlocks(body, limit)
	if err != nil {
		return nil, func() {}, err
	}
	release := reserveDecode(int64(largest))
	bp := snappyBufs.Get().(*[]byte)
	if cap(*bp) < largest {
		*bp = make([]byte, largest)
	}
	s := &snappyStream{blocks: blocks, buf: (*bp)[:0]}
	return s, func() {
		if cap(*bp) <= 1<<20 { // keep small buffers only
			snappyBufs.Put(bp)
		}
		release()
	}, nil
}

// decompress returns the whole decompressed payload of a stored batch,
// for readers that need the records at once (compaction, DecodeRecords).
func decompress(codec int, src []byte) ([]byte, error) {
	return decompressAll(codec, src, storedDecompressLimit)
}

// Decompress returns src decompressed with a Kafka codec (CodecGzip,
// CodecSnappy, CodecLz4, CodecZstd, or CodecNone for a copy), failing
// once the output would pass limit bytes; it shares the decode memory
// budget of record batches.
func Decompress(codec int, src []byte, limit int64) ([]byte, error) {
	if codec == CodecNone {
		if int64(len(src)) > limit {
			return nil, tooBig(limit)
		}
		return bytes.Clone(src), nil
	}
	return decompressAll(codec, src, limit)
}

func decompressAll(codec int, src []byte, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	if err := decompressInto(&buf, codec, src, limit); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decompressInto appends the decompressed src to buf, in at most limit
// bytes.
func decompressInto(buf *bytes.Buffer, codec int, src []byte, limit int64) error {
	r, release, err := decompressor(codec, src, limit)
	if err != nil {
		return err
	}
	defer release()
	start := buf.Len()
	if _, err := buf.ReadFrom(io.LimitReader(r, limit+1)); err != nil {
		return err
	}
	if int64(buf.Len()-start) > limit {
		return tooBig(limit)
	}
	return nil
}
