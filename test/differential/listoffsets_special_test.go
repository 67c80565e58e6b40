package differential

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestListOffsetsSpecialTimestamps: every negative timestamp at every
// version both serve: -5 (latest tiered, v9+) and -6 (earliest pending
// upload, v11+) are no offset without tiered storage; a special timestamp
// below its version and any other negative one are UNSUPPORTED_VERSION.
func TestListOffsetsSpecialTimestamps(t *testing.T) {
	p := newPair(t)
	tp := name("lospecial")
	p.mustCreate(tp, 1)
	p.mustProduce(tp, 0, 1000, 2000)
	lo, hi, _ := p.common(kmsg.NewPtrListOffsetsRequest())
	for _, ts := range []int64{-3, -4, -5, -6, -7, -100} {
		for v := lo; v <= hi; v++ {
			p.compare(fmt.Sprintf("ListOffsets/timestamp %d", ts), listReq(tp, 0, ts, -1, 0), v, nil)
		}
	}
	p.compare("ListOffsets/read_committed latest tiered", listReq(tp, 0, -5, -1, 1), -1, nil)
}
