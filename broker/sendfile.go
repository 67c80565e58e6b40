package broker

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/rewindhq/rewind/storage"
	"github.com/rewindhq/rewind/storage/vfs"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Zero-copy Fetch responses.
//
// A Fetch response is mostly record batches, and those are byte ranges of
// segment files (storage.ReadResult). Rather than copy them into memory to
// encode the response, the fetch handler returns a splicedResponse: the
// kmsg response with a short placeholder in each partition's RecordBatches,
// and the file ranges that stand in for them. The connection's writer
// encodes the response with kmsg as usual, finds the placeholders (in
// order, each right after its length prefix), computes the frame size with
// the real lengths, and writes the encoded pieces with the file ranges in
// between, each range with sendfile(2) straight from the page cache to the
// socket.

// splicedResponse is a response whose bytes fields hold placeholders for
// file data sent in their place.
type splicedResponse struct {
	kmsg.Response
	splices []splice // in encoding order
}

// splice is one placeholder and the file data it stands for.
type splice struct {
	mark []byte
	data *storage.ReadResult
}

// markPrefix starts every placeholder: random per process, so no encoded
// field a client controls (a topic name) can forge one.
var markPrefix = func() [12]byte {
	var p [12]byte
	rand.Read(p[:])
	return p
}()

// newMark returns the placeholder of the i-th splice of a response.
func newMark(i int) []byte {
	m := make([]byte, 16)
	copy(m, markPrefix[:])
	binary.BigEndian.PutUint32(m[12:], uint32(i))
	return m
}

// release lets go of the files; called once the response is written or
// dropped.
func (r *splicedResponse) release() {
	for _, s := range r.splices {
		s.data.Release()
	}
}

func releaseResponse(resp kmsg.Response) {
	if r, ok := resp.(*splicedResponse); ok {
		r.release()
	}
}

// bytesPrefix is how kmsg frames a (nullable) bytes field of length n:
// int32, or uvarint n+1 in flexible versions.
func bytesPrefix(dst []byte, n int64, flexible bool) []byte {
	if flexible {
		return kbin.AppendUvarint(dst, uint32(n+1))
	}
	return kbin.AppendInt32(dst, int32(n))
}

// writeSpliced writes s, whose response is r, to bw: encoded with the
// placeholders into buf, then written piece by piece with the file data
// in place of each placeholder. It returns buf for reuse. An error leaves
// a partial frame behind: the caller must close the connection.
func (c *conn) writeSpliced(bw *bufio.Writer, buf []byte, s *slot, r *splicedResponse) ([]byte, error) {
	buf = appendResponse(buf[:0], s)
	flexible := r.IsFlexible()
	type cut struct{ start, end int } // a placeholder field, its length prefix included
	cuts := make([]cut, len(r.splices))
	size := int64(len(buf) - 4)
	var pre []byte
	from := 0
	for i, sp := range r.splices {
		j := bytes.Index(buf[from:], sp.mark)
		pre = bytesPrefix(pre[:0], int64(len(sp.mark)), flexible)
		if j < 0 || from+j < len(pre) || !bytes.Equal(buf[from+j-len(pre):from+j], pre) {
			return buf, fmt.Errorf("encoding a spliced %s response: placeholder %d not found", kmsg.NameForKey(s.key), i)
		}
		j += from
		cuts[i] = cut{j - len(pre), j + len(sp.mark)}
		size += len64(bytesPrefix(pre[:0], sp.data.Size, flexible)) + sp.data.Size - int64(cuts[i].end-cuts[i].start)
		from = cuts[i].end
	}
	binary.BigEndian.PutUint32(buf, uint32(size))

	prev := 0
	for i, cu := range cuts {
		data := r.splices[i].data
		if _, err := bw.Write(buf[prev:cu.start]); err != nil {
			return buf, err
		}
		if _, err := bw.Write(bytesPrefix(pre[:0], data.Size, flexible)); err != nil {
			return buf, err
		}
		if err := c.writeFileData(bw, data); err != nil {
			return buf, err
		}
		prev = cu.end
	}
	_, err := bw.Write(buf[prev:])
	return buf, err
}

func len64(b []byte) int64 { return int64(len(b)) }

// fromOSFiles reports whether every chunk of rr is in an OS file.
func fromOSFiles(rr *storage.ReadResult) bool {
	for _, ch := range rr.Chunks() {
		if vfs.OSFile(ch.File) == nil {
			return false
		}
	}
	return true
}

// sendfileMin is the smallest chunk worth a flush and a sendfile call;
// smaller ones are copied into the write buffer.
const sendfileMin = 16 << 10

// writeFileData writes the chunks of rr: large ones with sendfile when
// both ends are OS files, the rest copied through bw.
func (c *conn) writeFileData(bw *bufio.Writer, rr *storage.ReadResult) error {
	dst, _ := c.nc.(syscall.Conn)
	for _, ch := range rr.Chunks() {
		if f := vfs.OSFile(ch.File); f != nil && dst != nil && ch.Len >= sendfileMin {
			if err := bw.Flush(); err != nil {
				return err
			}
			err := sendfile(dst, f, ch.Pos, ch.Len)
			if !errors.Is(err, errors.ErrUnsupported) {
				if err != nil {
					return fmt.Errorf("sendfile: %w", err)
				}
				continue
			}
		}
		if _, err := bw.ReadFrom(io.NewSectionReader(ch.File, ch.Pos, ch.Len)); err != nil {
			return err
		}
	}
	return nil
}
