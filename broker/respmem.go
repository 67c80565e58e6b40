package broker

import (
	"fmt"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Response memory (--max-response-memory).
//
// Many APIs answer one element per element of the request: a group per
// group name, a coordinator per key, a partition per partition. An element
// costs one byte of request (an empty compact string) but a hundred or more
// bytes of response in memory (a kmsg struct, then its encoding, both alive
// until the response is written), so a 4 MiB DescribeGroups could ask for
// over a GiB. --max-request-memory counts only frames; this pool counts
// what the responses they cause take.
//
// Every handler whose answer grows with its request therefore:
//
//  1. deduplicates what the request names, as Kafka does where it does
//     (a Set of topics in Metadata, one answer per partition in Produce,
//     Fetch, ListOffsets and DeleteRecords; INVALID_REQUEST for names given
//     twice in CreateTopics, DeleteTopics, CreatePartitions and the config
//     APIs), and also where Kafka answers every repetition (DescribeGroups,
//     FindCoordinator keys, DescribeConfigs resources, OffsetFetch groups):
//     the repeated answers would be identical, and clients match answers by
//     name;
//  2. before building anything, computes an upper bound of the memory the
//     response will hold (respSize), from the counts left after step 1, and
//     reserves it with reserveResponse. The reservation is held until the
//     response is written to the socket, as --max-fetch-memory is. At the
//     limit the connection's read loop waits (as at --max-request-memory),
//     so other connections' requests keep being answered as memory frees.
//     A response below respFree is not counted, so ordinary requests never
//     wait behind a large one.
//  3. refuses a request whose response alone would exceed the whole pool
//     (respTooLarge): with INVALID_REQUEST where the response has a
//     top-level error code, otherwise by closing the connection, as Kafka
//     closes one whose request it cannot take (a frame above
//     socket.request.max.bytes), with a log line naming the flag.
//
// What the response describes of the broker's own state (every topic of a
// Metadata request for all topics, the members of a described group, the
// committed offsets of a group) is bounded by what exists, and after step 1
// each thing appears once per request.

// respFree is the size below which a response is not counted.
const respFree = 64 << 10

// respSize adds up an upper bound of the memory a response will hold: each
// element's Go struct, plus twice its encoding (the buffer a response is
// encoded into grows by doubling, so up to twice its final size is
// allocated at once), plus twice the bytes of strings that the encoding
// copies.
type respSize int64

// elems adds n elements whose Go struct is goSize bytes and whose encoding
// takes at most wire bytes besides the strings added with str.
func (s *respSize) elems(n int, goSize uintptr, wire int) {
	*s += respSize(int64(n) * (int64(goSize) + 2*int64(wire)))
}

// str adds n bytes of strings copied into the encoding.
func (s *respSize) str(n int) { *s += respSize(2 * int64(n)) }

// set adds the memory of a map or slice of n entries used to deduplicate
// the request while the response is built.
func (s *respSize) set(n int) { *s += respSize(int64(n) * setEntry) }

// setEntry bounds the memory per entry of a Go map keyed by a string or a
// small struct (key, value and the table's slack).
const setEntry = 64

func sizeOf[T any]() uintptr {
	var z T
	return unsafe.Sizeof(z)
}

// respTooLarge is the error of a request whose response alone would need
// more than the whole --max-response-memory.
type respTooLarge struct {
	api         string
	need, limit int64
}

func (e *respTooLarge) Error() string {
	return fmt.Sprintf("%s request would need %d bytes of response memory, more than --max-response-memory %d: refused", e.api, e.need, e.limit)
}

// message is the text put in a response's error message.
func (e *respTooLarge) message() *string {
	return strp(fmt.Sprintf("the response would need %d bytes, more than the broker's --max-response-memory %d; send fewer or deduplicated names", e.need, e.limit))
}

// invalidRequest is the code a response with a top-level error code carries
// for a request refused with respTooLarge.
var invalidRequest = kerr.InvalidRequest.Code

// reserveResponse reserves n bytes of --max-response-memory for r's
// response, waiting while the pool is full; they are returned once the
// response is written. It returns *respTooLarge, holding nothing, when n
// exceeds the whole pool, and the connection's error if it closes while
// waiting.
func (r *request) reserveResponse(api string, n respSize) error {
	if n < respFree {
		return nil
	}
	p := r.c.b.respMem
	if p.limit > 0 && int64(n) > p.limit {
		return &respTooLarge{api: api, need: int64(n), limit: p.limit}
	}
	if err := p.acquire(r.c.ctx, int64(n)); err != nil {
		return err
	}
	r.s.respBytes += int64(n)
	return nil
}

// dedupStrings removes repeated strings from xs in place, keeping the first
// of each in order.
func dedupStrings(xs []string) []string {
	if len(xs) < 2 {
		return xs
	}
	seen := make(map[string]struct{}, min(len(xs), 1024))
	out := xs[:0]
	for _, x := range xs {
		if _, dup := seen[x]; dup {
			continue
		}
		seen[x] = struct{}{}
		out = append(out, x)
	}
	clear(xs[len(out):]) // do not keep the dropped strings alive
	return out
}

// tpKey names one partition of a request.
type tpKey struct {
	topic string
	part  int32
}

// dedupTopicParts makes a request's topics distinct and each (topic,
// partition) appear once, as Kafka's handlers do by putting the request
// into a map keyed by partition: a partition keeps its first position and
// the values of its last repetition (the last one wins), and a topic named
// twice keeps the first position with the partitions of both. topic
// returns an element's name and its partitions; part returns a partition's
// index. It returns the keys that were repeated (nil if none), for the APIs
// that refuse repetitions.
func dedupTopicParts[T, P any](ts []T, topic func(*T) (string, *[]P), part func(*P) int32) ([]T, map[tpKey]bool) {
	if !maybeRepeats(ts, topic, part) {
		return ts, nil
	}
	var (
		out      []T
		topicAt  = make(map[string]int)
		partAt   = make(map[tpKey]int)
		repeated = make(map[tpKey]bool)
	)
	for i := range ts {
		name, ps := topic(&ts[i])
		ti, seen := topicAt[name]
		if !seen {
			ti = len(out)
			topicAt[name] = ti
			out = append(out, ts[i])
			_, ops := topic(&out[ti])
			*ops = nil
		}
		_, ops := topic(&out[ti])
		for _, p := range *ps {
			k := tpKey{name, part(&p)}
			if pi, dup := partAt[k]; dup {
				(*ops)[pi] = p
				repeated[k] = true
				continue
			}
			partAt[k] = len(*ops)
			*ops = append(*ops, p)
		}
	}
	if len(repeated) == 0 {
		repeated = nil
	}
	return out, repeated
}

// maybeRepeats reports whether ts may name a topic or partition twice:
// small requests (what clients send) are checked without allocating.
func maybeRepeats[T, P any](ts []T, topic func(*T) (string, *[]P), part func(*P) int32) bool {
	if len(ts) > 16 {
		return true
	}
	for i := range ts {
		name, ps := topic(&ts[i])
		if len(*ps) > 16 {
			return true
		}
		for j := range i {
			if other, _ := topic(&ts[j]); other == name {
				return true
			}
		}
		for a := range *ps {
			for b := range a {
				if part(&(*ps)[a]) == part(&(*ps)[b]) {
					return true
				}
			}
		}
	}
	return false
}

// countParts returns the partitions of a request's topics.
func countParts[T, P any](ts []T, topic func(*T) (string, *[]P)) int {
	n := 0
	for i := range ts {
		_, ps := topic(&ts[i])
		n += len(*ps)
	}
	return n
}
