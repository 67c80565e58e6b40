package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Decoding a request is charged to --max-request-memory before it happens.
//
// kmsg makes every array element of a request a Go value (a 16-byte string
// header for a 1-byte empty compact string, a struct of tens of bytes for
// an element of a few, a map for an element carrying an unknown tagged
// field) and bounds an array's declared length only by the bytes left in
// the frame, so a frame of tiny elements allocates up to 92 times its
// size while decoded. Counting only the frame would let one 100 MiB frame
// take 9 GB. A frame larger than decodeThreshold of any API but
// Produce is therefore charged decodeCharge = (1 + decodeAmplification)
// times its size, reserved like the frame itself (the extra after the
// frame's last chunk, as part of the same frame for the deadlock check) and
// held until its handler is done. A frame whose charge could never be
// granted is refused as an oversized one is: the connection is closed,
// with the flag to raise in the log.
//
// Produce is not charged decodeAmplification: its bulk is record batches,
// one []byte per partition that kmsg does not copy, and charging 97 times
// a legitimate 100 MiB produce would refuse it. Its remaining structure
// (topics, partitions, tags) amplifies like any other request's (up to 80
// times), so once a large Produce frame has arrived, its elements are
// counted and their cost charged as the last chunk (produceskim.go), if
// the frames being read still can all complete with it; otherwise, or if
// it can never fit, the connection is closed.
//
// TestDecodeAmplificationAllAPIs measures decodeAmplification for every API
// the broker serves at its newest version.

// decodeThreshold is the frame size up to which decoding is not charged:
// frames that fit a connection's read buffer (Metadata, heartbeats,
// commits), so ordinary requests are untouched. It takes one connection
// at most about 5 MiB.
const decodeThreshold = 64 << 10

// decodeAmplification is the most bytes decoding allocates per frame byte,
// for any API but Produce, with headroom over the measured 92 (a
// CreatePartitions v3 whose topic has empty assignments each carrying an
// unknown tag; 80 for a Fetch v12 of empty topics each with one).
const decodeAmplification = 96

// decodeCharge is the --max-request-memory a frame of size bytes of API key
// holds while it is decoded and handled, known before it is read (for a
// large Produce, its frame until it is read: produceDecodeCharge).
func decodeCharge(key int16, size int64) int64 {
	if key == 0 || size <= decodeThreshold {
		return size
	}
	return size * (1 + decodeAmplification)
}

// maxCharge is the largest charge a large frame can be granted: the pool
// without its reserve (0 = unlimited).
func (p *memPool) maxCharge() int64 {
	if p.limit <= 0 {
		return 0
	}
	return p.limit - p.reserve
}

// checkCharge refuses a frame whose charge can never be granted.
func (c *conn) checkCharge(key int16, size, charge int64) error {
	most := c.b.reqMem.maxCharge()
	if most == 0 || charge <= most {
		return nil
	}
	return fmt.Errorf("%s request of %d bytes would take up to %d bytes while decoded (%d times its size), more than --max-request-memory %d allows any request of more than %d bytes (%d without its reserve for small requests): larger %s requests need a larger --max-request-memory",
		kmsg.NameForKey(key), size, charge, charge/size, c.b.cfg.MaxRequestMemory, decodeThreshold, most, kmsg.NameForKey(key))
}
