package broker

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The request log (--log-requests, at --log-level debug): one line per
// request answered, with its API, version, client id, how long it took
// from its header being read to its response being ready (a long poll or
// a produce waiting for fsync included) and the first non-zero error code
// of the response, so a user sees what their client asked and what Rewind
// answered. Nothing is computed unless debug is enabled and the request
// passes the filter, so the default path pays one comparison.
//
// The filter is "all" (the default: every request, at --log-level debug),
// "none", or comma-separated key=value terms, values separated by |:
//
//	api=Produce|Fetch       only these APIs (Kafka's names, any case)
//	client=my-app|console   only these client ids
//
// Both terms must match when both are given.

// requestFilter says which requests the request log shows.
type requestFilter struct {
	apis    map[int16]bool  // nil: every API
	clients map[string]bool // nil: every client id
}

// parseRequestFilter parses a --log-requests value; "none" is no request
// log (nil).
func parseRequestFilter(s string) (*requestFilter, error) {
	f := &requestFilter{}
	s = strings.TrimSpace(s)
	switch s {
	case "none":
		return nil, nil
	case "", "all", "*":
		return f, nil
	}
	names := map[string]int16{}
	for k := int16(0); k < 200; k++ {
		if n := kmsg.NameForKey(k); n != "" && n != "Unknown" {
			names[strings.ToLower(n)] = k
		}
	}
	for _, term := range strings.Split(s, ",") {
		key, vals, ok := strings.Cut(strings.TrimSpace(term), "=")
		if !ok || vals == "" {
			return nil, fmt.Errorf("--log-requests: %q is not key=value (api=Produce|Fetch, client=my-app)", term)
		}
		switch strings.ToLower(key) {
		case "api":
			if f.apis == nil {
				f.apis = map[int16]bool{}
			}
			for _, v := range strings.Split(vals, "|") {
				k, ok := names[strings.ToLower(strings.TrimSpace(v))]
				if !ok {
					return nil, fmt.Errorf("--log-requests: unknown API %q (Kafka's names: Produce, Fetch, Metadata, ...)", v)
				}
				f.apis[k] = true
			}
		case "client":
			if f.clients == nil {
				f.clients = map[string]bool{}
			}
			for _, v := range strings.Split(vals, "|") {
				f.clients[v] = true
			}
		default:
			return nil, fmt.Errorf("--log-requests: unknown key %q (api, client)", key)
		}
	}
	return f, nil
}

func (f *requestFilter) match(key int16, clientID string) bool {
	return (f.apis == nil || f.apis[key]) && (f.clients == nil || f.clients[clientID])
}

// logRequest reports whether a request of key from clientID goes to the
// request log.
func (c *conn) logRequest(key int16, clientID string) bool {
	f := c.b.reqFilter
	return f != nil && f.match(key, clientID) && c.log.Enabled(context.Background(), slog.LevelDebug)
}

// logAnswered writes the request log line of a slot whose response is
// ready.
func (c *conn) logAnswered(s *slot) {
	args := []any{"api", kmsg.NameForKey(s.key), "version", s.ver, "client_id", s.logClient,
		"correlation_id", s.corr, "latency", time.Since(s.logStart)}
	switch {
	case s.err != nil:
		args = append(args, "outcome", "connection closed", "err", s.err)
	case s.resp == nil:
		args = append(args, "outcome", "no response (acks=0)")
	default:
		code, n := responseErrors(s.resp)
		args = append(args, "error_code", code)
		if n > 1 {
			args = append(args, "errors", n)
		}
	}
	c.log.Debug("request", args...)
}

// maxErrorScan bounds the values responseErrors looks at, so that the
// request log of a huge response costs little.
const maxErrorScan = 1 << 14

// responseErrors returns the first non-zero ErrorCode of a response (0 if
// none) and how many non-zero ones it holds, looking at most at
// maxErrorScan values.
func responseErrors(resp kmsg.Response) (first int16, n int) {
	if sr, ok := resp.(*splicedResponse); ok {
		resp = sr.Response
	}
	budget := maxErrorScan
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		if budget <= 0 {
			return
		}
		budget--
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			t := v.Type()
			for i := range t.NumField() {
				f := v.Field(i)
				if t.Field(i).Name == "ErrorCode" && f.Kind() == reflect.Int16 {
					if c := int16(f.Int()); c != 0 {
						if n == 0 {
							first = c
						}
						n++
					}
					continue
				}
				switch f.Kind() {
				case reflect.Struct, reflect.Slice, reflect.Pointer:
					walk(f)
				}
			}
		case reflect.Slice:
			if v.Type().Elem().Kind() == reflect.Uint8 {
				return // bytes: records, metadata
			}
			for i := 0; i < v.Len() && budget > 0; i++ {
				walk(v.Index(i))
			}
		}
	}
	walk(reflect.ValueOf(resp))
	return first, n
}
