package offsettool

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The record formats of `rewind consume` are kcat's (-f and -J), so that
// a kcat user's format strings and JSON readers work unchanged.

// CheckFormat reports the first verb of format that FormatRecord does not
// know, as kcat refuses an unsupported formatter before consuming.
func CheckFormat(format string) error {
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		if i+1 == len(format) {
			return fmt.Errorf("--format %q ends with a lone %%: write %%%% for a percent sign", format)
		}
		i++
		if !strings.ContainsRune("stkpoTdDvhSKR%", rune(format[i])) {
			return fmt.Errorf("--format %q: unsupported verb %%%c (kcat's: %%s value, %%k key, %%t topic, %%p partition, %%o offset, %%T timestamp in ms, %%h headers, %%S and %%K lengths, %%R binary length; also %%D RFC 3339 time, %%v value, %%d ms)", format, format[i])
		}
	}
	return nil
}

// FormatRecord renders r with kcat's -f format: %s value, %k key, %t
// topic, %p partition, %o offset, %T timestamp in Unix milliseconds, %h
// headers (k=v,k=v; a null value is NULL), %S and %K the value and key
// lengths (-1 for null), %R the value length as a 4-byte big-endian
// integer, %% a percent sign; Rewind's own %v (value), %d (ms) and %D
// (RFC 3339 time) besides. Escapes as kcat's: \n \r \t, \xHH (hex),
// \NNN (decimal, or octal with a leading 0), and \c for any other c.
// Unknown verbs are printed as they are (CheckFormat refuses them first).
func FormatRecord(format string, r *kgo.Record) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		ch := format[i]
		if (ch != '%' && ch != '\\') || i+1 == len(format) {
			b.WriteByte(ch)
			continue
		}
		i++
		next := format[i]
		if ch == '\\' {
			i = escape(&b, format, i)
			continue
		}
		switch next {
		case 't':
			b.WriteString(r.Topic)
		case 'p':
			b.WriteString(strconv.Itoa(int(r.Partition)))
		case 'o':
			b.WriteString(strconv.FormatInt(r.Offset, 10))
		case 'k':
			b.Write(r.Key)
		case 's', 'v':
			b.Write(r.Value)
		case 'S':
			b.WriteString(strconv.Itoa(length(r.Value)))
		case 'K':
			b.WriteString(strconv.Itoa(length(r.Key)))
		case 'R':
			b.Write(binary.BigEndian.AppendUint32(nil, uint32(int32(length(r.Value)))))
		case 'T', 'd':
			b.WriteString(strconv.FormatInt(r.Timestamp.UnixMilli(), 10))
		case 'D':
			b.WriteString(r.Timestamp.UTC().Format(time.RFC3339Nano))
		case 'h':
			for j, h := range r.Headers {
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteString(h.Key + "=")
				if h.Value == nil {
					b.WriteString("NULL")
				} else {
					b.Write(h.Value)
				}
			}
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(next)
		}
	}
	return b.String()
}

// escape writes the escape whose letter is at format[i] and returns the
// index of its last byte.
func escape(b *strings.Builder, format string, i int) int {
	switch c := format[i]; {
	case c == 'n':
		b.WriteByte('\n')
	case c == 'r':
		b.WriteByte('\r')
	case c == 't':
		b.WriteByte('\t')
	case c == 'x' || (c >= '0' && c <= '9'):
		// As kcat's strtoul: \x is hex, a leading 0 octal, else decimal;
		// the longest run of digits of that base.
		base, from := 10, i
		switch {
		case c == 'x':
			base, from = 16, i+1
		case c == '0':
			base = 8
		}
		j := from
		for j < len(format) && digit(format[j], base) {
			j++
		}
		if j == from { // "\x" without digits: kcat writes a NUL
			b.WriteByte(0)
			return i
		}
		n, err := strconv.ParseUint(format[from:j], base, 64)
		if err != nil {
			n = 0xff
		}
		b.WriteByte(byte(n))
		return j - 1
	default:
		b.WriteByte(c)
	}
	return i
}

func digit(c byte, base int) bool {
	switch {
	case c >= '0' && c <= '7':
		return true
	case c == '8' || c == '9':
		return base >= 10
	case (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'):
		return base == 16
	}
	return false
}

func length(b []byte) int {
	if b == nil {
		return -1
	}
	return len(b)
}

// KcatJSON is a record as kcat -J prints it (one object a line): the
// timestamp type and milliseconds, the leader that served it, headers as
// alternating names and values (only when there are any), and key and
// payload as strings or null.
type KcatJSON struct {
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	TSType    string    `json:"tstype"`
	TS        int64     `json:"ts"`
	Broker    int32     `json:"broker"`
	Headers   []*string `json:"headers,omitempty"`
	Key       *string   `json:"key"`
	Payload   *string   `json:"payload"`
}

// ToKcatJSON converts r; broker is the id of the partition's leader (-1
// when unknown).
func ToKcatJSON(r *kgo.Record, broker int32) KcatJSON {
	j := KcatJSON{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, TSType: "create", TS: r.Timestamp.UnixMilli(), Broker: broker}
	if r.Attrs.TimestampType() == 1 {
		j.TSType = "logappend"
	}
	str := func(b []byte) *string {
		if b == nil {
			return nil
		}
		s := string(b)
		return &s
	}
	for _, h := range r.Headers {
		k := h.Key
		j.Headers = append(j.Headers, &k, str(h.Value))
	}
	j.Key, j.Payload = str(r.Key), str(r.Value)
	return j
}

// Leaders maps each partition of topic to its leader's node id, for
// KcatJSON's broker field.
func (c *Client) Leaders(ctx context.Context, topic string) (map[int32]int32, error) {
	tds, err := c.adm.ListTopicsWithInternal(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("metadata: %s", oneLine(err))
	}
	out := map[int32]int32{}
	for p, pd := range tds[topic].Partitions {
		out[p] = pd.Leader
	}
	return out, nil
}
