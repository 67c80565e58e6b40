package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/rewindhq/rewind/storage"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fuzzing the request path: arbitrary bytes are written to a real
// connection of a running broker (loopback TCP). Each input must not crash
// the broker (a panic in any of its goroutines fails the fuzz run), every
// response it sends must answer one of the requests in the input, in
// order, and decode with kmsg for that request's version, and afterwards a
// fresh connection must still be served.
//
//	FuzzConnFrames  the raw byte stream: framing, headers, pipelining
//	FuzzRequests    one well-framed request of a registered API and
//	                version with an arbitrary body: the decoders and
//	                handlers
//
// Seed corpora are in testdata/fuzz/<Target>; regenerate them with
// REWIND_WRITE_FUZZ_SEEDS=1 go test -run TestWriteFuzzSeeds ./broker/

var (
	fuzzOnce   sync.Once
	fuzzBroker *Broker
	fuzzErr    error
)

// fuzzTarget starts one broker per fuzzing process, with a topic the seeds
// use. Storage runs with fsync=never: durability is not what is fuzzed.
func fuzzTarget(f *testing.F) *Broker {
	fuzzOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rewind-fuzz")
		if err != nil {
			fuzzErr = err
			return
		}
		// Short group sessions: the seeds share one group, and a member a
		// JoinGroup seed left behind must expire before a later seed's
		// join waits for it to rejoin (the rebalance timeout), well within
		// exchange's 10 s.
		b, err := New(WithListen("127.0.0.1:0"), WithDataDir(dir), WithFsync(storage.FsyncNever),
			WithGroupInitialRebalanceDelay(0), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
			func(c *Config) { c.GroupMinSessionTimeout = 100 * time.Millisecond })
		if err != nil {
			fuzzErr = err
			return
		}
		if err := b.Start(); err != nil {
			fuzzErr = err
			return
		}
		if _, err := b.reg.create("fuzz", 2, nil, false, false, nil); err != nil {
			fuzzErr = err
			return
		}
		fuzzBroker = b
	})
	if fuzzErr != nil {
		f.Fatal(fuzzErr)
	}
	return fuzzBroker
}

type sentRequest struct {
	key, ver int16
	corr     int32
	noReply  bool // an acks=0 produce: never answered
}

// acksZero reports whether frame is a produce with acks=0.
func acksZero(frame []byte) bool {
	r := kbin.Reader{Src: frame}
	key, ver := r.Int16(), r.Int16()
	r.Int32()
	r.NullableString()
	if key != 0 || !r.Ok() {
		return false
	}
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(ver)
	if req.IsFlexible() {
		skipTags(&r)
	}
	return r.Ok() && req.ReadFrom(r.Src) == nil && req.Acks == 0
}

// requestsIn parses the frames of data the way the broker does, up to the
// first one it would refuse.
func requestsIn(data []byte) []sentRequest {
	var out []sentRequest
	for len(data) >= 4 {
		size := int32(binary.BigEndian.Uint32(data))
		if size < 8 || int64(size) > int64(len(data)-4) {
			break
		}
		f := data[4 : 4+size]
		out = append(out, sentRequest{
			key:     int16(binary.BigEndian.Uint16(f)),
			ver:     int16(binary.BigEndian.Uint16(f[2:])),
			corr:    int32(binary.BigEndian.Uint32(f[4:])),
			noReply: acksZero(f),
		})
		data = data[4+size:]
	}
	return out
}

// exchange writes data on a fresh connection, closes the write side, and
// checks every response until the broker closes the connection.
func exchange(t *testing.T, addr string, data []byte) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		c.(*net.TCPConn).CloseWrite()
		werr <- err
	}()
	sent := requestsIn(data)
	next := 0
	var size [4]byte
	for {
		if _, err := io.ReadFull(c, size[:]); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the broker neither answered nor closed the connection in 10s")
			}
			break
		}
		n := binary.BigEndian.Uint32(size[:])
		if n < 4 || n > 200<<20 {
			t.Fatalf("response frame of %d bytes", n)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(c, body); err != nil {
			t.Fatalf("truncated response: %v", err)
		}
		corr := int32(binary.BigEndian.Uint32(body))
		for next < len(sent) && sent[next].noReply {
			next++
		}
		if next == len(sent) || sent[next].corr != corr {
			t.Fatalf("response with correlation id %d is not the answer to the next request (sent %+v, next %d)", corr, sent, next)
		}
		checkResponse(t, sent[next], body[4:])
		next++
	}
	<-werr
}

// checkResponse decodes a response body as the answer to req.
func checkResponse(t *testing.T, req sentRequest, body []byte) {
	api, ok := apis[req.key]
	if !ok && unservedResponse(req.key, req.ver) == nil {
		t.Fatalf("answered unknown API key %d", req.key)
	}
	if !ok {
		api = apiDef{min: 0, max: req.ver} // answered UNSUPPORTED_VERSION at its version: unserved.go
	}
	resp := kmsg.ResponseForKey(req.key)
	ver := req.ver
	if req.key == 18 && (ver < api.min || ver > api.max) {
		ver = 0 // KIP-511 fallback
	}
	resp.SetVersion(ver)
	if resp.IsFlexible() && req.key != 18 {
		r := kbin.Reader{Src: body}
		skipTags(&r)
		if !r.Ok() {
			t.Fatalf("%s v%d response: bad header tags", kmsg.NameForKey(req.key), ver)
		}
		body = r.Src
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("%s v%d response does not decode: %v", kmsg.NameForKey(req.key), ver, err)
	}
}

// stillServes checks that a fresh connection gets an ApiVersions answer.
func stillServes(t *testing.T, addr string) {
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "fuzz", "1"
	var f kmsg.RequestFormatter
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("broker no longer accepts connections: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write(f.AppendRequest(nil, req, 77))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("broker no longer serves: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil || int32(binary.BigEndian.Uint32(body)) != 77 {
		t.Fatalf("broker no longer serves: %v", err)
	}
}

func FuzzConnFrames(f *testing.F) {
	b := fuzzTarget(f)
	for _, s := range frameSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		exchange(t, b.Addr(), data)
		stillServes(t, b.Addr())
	})
}

// registeredKeys lists the API keys the broker serves, sorted.
func registeredKeys() []int16 {
	keys := make([]int16, 0, len(apis))
	for k := range apis {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// requestFrame frames body as a request of key and version, with header
// v2 (tags) where the version is flexible.
func requestFrame(key, ver int16, corr int32, body []byte) []byte {
	hdr := binary.BigEndian.AppendUint16(nil, uint16(key))
	hdr = binary.BigEndian.AppendUint16(hdr, uint16(ver))
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(corr))
	hdr = append(hdr, 0, 4, 'f', 'u', 'z', 'z')
	r := kmsg.RequestForKey(key)
	if r != nil {
		r.SetVersion(ver)
		if r.IsFlexible() {
			hdr = append(hdr, 0)
		}
	}
	out := binary.BigEndian.AppendUint32(nil, uint32(len(hdr)+len(body)))
	return append(append(out, hdr...), body...)
}

func FuzzRequests(f *testing.F) {
	b := fuzzTarget(f)
	keys := registeredKeys()
	for _, s := range requestSeeds() {
		f.Add(s.key, s.ver, s.body)
	}
	f.Fuzz(func(t *testing.T, key uint8, ver uint8, body []byte) {
		k := keys[int(key)%len(keys)]
		api := apis[k]
		v := api.min + int16(ver)%(api.max-api.min+1)
		exchange(t, b.Addr(), requestFrame(k, v, 1, body))
		stillServes(t, b.Addr())
	})
}

type requestSeed struct {
	key, ver uint8 // as FuzzRequests takes them: index into registeredKeys, offset from min
	body     []byte
}

// sampleRequests returns, for every registered API, requests at its lowest
// and highest versions: default-valued, and for the common APIs with
// content naming the "fuzz" topic, so the handlers' paths are reached.
func sampleRequests() []kmsg.Request {
	batch := storage.BuildBatch(1000, []storage.Record{{Timestamp: 1000, Key: []byte("k"), Value: []byte("v")}})
	var out []kmsg.Request
	for _, k := range registeredKeys() {
		api := apis[k]
		for _, v := range []int16{api.min, api.max} {
			r := kmsg.RequestForKey(k)
			r.SetVersion(v)
			out = append(out, r)
			c := kmsg.RequestForKey(k)
			switch req := c.(type) {
			case *kmsg.ProduceRequest:
				req.Acks, req.TimeoutMillis = -1, 1000
				rt := kmsg.NewProduceRequestTopic()
				rt.Topic = "fuzz"
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Records = batch
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
			case *kmsg.FetchRequest:
				req.MaxWaitMillis, req.MaxBytes = 10, 1<<20
				ft := kmsg.NewFetchRequestTopic()
				ft.Topic = "fuzz"
				fp := kmsg.NewFetchRequestTopicPartition()
				fp.PartitionMaxBytes = 1 << 20
				ft.Partitions = append(ft.Partitions, fp)
				req.Topics = append(req.Topics, ft)
			case *kmsg.ListOffsetsRequest:
				rt := kmsg.NewListOffsetsRequestTopic()
				rt.Topic = "fuzz"
				rp := kmsg.NewListOffsetsRequestTopicPartition()
				rp.Timestamp = -1
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
			case *kmsg.MetadataRequest:
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr("fuzz")
				req.Topics = append(req.Topics, rt)
			case *kmsg.CreateTopicsRequest:
				rt := kmsg.NewCreateTopicsRequestTopic()
				rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "fuzz-created", 1, 1
				req.Topics = append(req.Topics, rt)
			case *kmsg.JoinGroupRequest:
				req.Group, req.ProtocolType, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = "fuzz-group", "consumer", 1000, 1000
				p := kmsg.NewJoinGroupRequestProtocol()
				p.Name = "range"
				req.Protocols = append(req.Protocols, p)
			case *kmsg.OffsetCommitRequest:
				req.Group, req.Generation = "fuzz-group", -1
				rt := kmsg.NewOffsetCommitRequestTopic()
				rt.Topic = "fuzz"
				rp := kmsg.NewOffsetCommitRequestTopicPartition()
				rp.Offset = 1
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
			case *kmsg.OffsetFetchRequest:
				req.Group = "fuzz-group"
			case *kmsg.FindCoordinatorRequest:
				req.CoordinatorKey = "fuzz-group"
				req.CoordinatorKeys = []string{"fuzz-group"}
			default:
				continue
			}
			c.SetVersion(v)
			out = append(out, c)
		}
	}
	return out
}

func requestSeeds() []requestSeed {
	keys := registeredKeys()
	index := map[int16]uint8{}
	for i, k := range keys {
		index[k] = uint8(i)
	}
	var out []requestSeed
	for _, r := range sampleRequests() {
		api := apis[r.Key()]
		body := r.AppendTo(nil)
		out = append(out, requestSeed{key: index[r.Key()], ver: uint8(r.GetVersion() - api.min), body: body})
	}
	return out
}

func frameSeeds() [][]byte {
	var f kmsg.RequestFormatter
	var all []byte
	var out [][]byte
	for i, r := range sampleRequests() {
		fr := f.AppendRequest(nil, r, int32(i))
		out = append(out, fr)
		all = append(all, fr...)
	}
	out = append(out, all) // every API pipelined on one connection
	bad := [][]byte{
		binary.BigEndian.AppendUint32(nil, 200<<20),
		binary.BigEndian.AppendUint32(nil, 0xfffffff0),
		{0, 0, 0, 3, 0, 0, 0},
		append(binary.BigEndian.AppendUint32(nil, 100), 0, 18, 0, 0),
		requestFrame(0x7f00, 0, 1, nil),
		requestFrame(18, 99, 1, nil),
		requestFrame(3, 9, 1, []byte{0x80, 0x80, 0x80, 0x80}),
	}
	return append(out, bad...)
}

func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("REWIND_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set REWIND_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz")
	}
	write := func(target string, i int, vals ...string) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "go test fuzz v1\n"
		for _, v := range vals {
			body += v + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%03d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bs := func(b []byte) string { return "[]byte(" + strconv.Quote(string(b)) + ")" }
	// Only the seeds written before go (there may be fewer now): the
	// corpus also holds the fuzzer's findings, committed beside them.
	for _, target := range []string{"FuzzConnFrames", "FuzzRequests"} {
		removeWrittenSeeds(t, filepath.Join("testdata", "fuzz", target))
	}
	for i, s := range frameSeeds() {
		write("FuzzConnFrames", i, bs(s))
	}
	for i, s := range requestSeeds() {
		write("FuzzRequests", i, fmt.Sprintf("byte(%d)", s.key), fmt.Sprintf("byte(%d)", s.ver), bs(s.body))
	}
}

// writtenSeed is the name of a file TestWriteFuzzSeeds writes (seed-NNN);
// the fuzzer names its findings by hash.
var writtenSeed = regexp.MustCompile(`^seed-[0-9]{3,}$`)

// removeWrittenSeeds removes the seed files of the corpus dir, keeping
// every other file in it.
func removeWrittenSeeds(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Type().IsRegular() && writtenSeed.MatchString(e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// FuzzOAuthBearerMessage feeds arbitrary OAUTHBEARER client messages to
// the parser and to both validators (unsecured, and JWKS with one ES256
// key): no panic; what parses has a token of the RFC 6750 characters that
// appears in the message after "auth=<scheme> ", and parses the same once
// written again; the JWKS validator accepts no token but the one the seed
// signed with its key.
func FuzzOAuthBearerMessage(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	jwk := jose.JSONWebKey{Key: key, KeyID: "k1", Algorithm: string(jose.ES256), Use: "sig"}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk.Public()}})
	file := filepath.Join(f.TempDir(), "jwks.json")
	if err := os.WriteFile(file, set, 0o600); err != nil {
		f.Fatal(err)
	}
	cfg := DefaultOAuthBearerConfig()
	cfg.JWKSEndpointURL, cfg.JWKSRefresh = file, 0
	jv, err := newJWKSValidator(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	uv := &unsecuredValidator{cfg: DefaultOAuthBearerConfig()}
	now := time.Now()
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	jws, _ := signer.Sign(fmt.Appendf(nil, `{"sub":"alice","iat":%d,"exp":%d}`, now.Unix(), now.Add(time.Hour).Unix()))
	signed, _ := jws.CompactSerialize()
	unsigned := unsecuredJWT(map[string]any{"sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})

	f.Add([]byte("n,,\x01auth=Bearer " + signed + "\x01\x01"))
	f.Add([]byte("n,,\x01auth=Bearer " + unsigned + "\x01\x01"))
	f.Add([]byte("n,a=alice,\x01auth=bearer " + unsigned + "\x01ext=v a l\x01\x01"))
	f.Add([]byte("n,a=a=2Cb=3D,\x01auth=Bearer abc==\x01\x01"))
	f.Add([]byte("n,,\x01auth=Basic abc\x01\x01"))
	f.Add([]byte("n,,\x01auth=Bearer a.b.c\x01auth=Bearer d\x01\x01"))
	f.Add([]byte("n,,\x01\x01"))
	f.Add([]byte{1})
	f.Add([]byte("y,,\x01auth=Bearer x\x01\x01"))
	// Kafka's OAuthBearerClientInitialResponse patterns, which
	// matchFirstMessage and matchAuthValue check by hand.
	first := regexp.MustCompile(`^n,(?:a=((?:[\x01-\x2B\x2D-\x3C\x3E-\x7F]|=2C|=3D)+))?,\x01((?:[A-Za-z]+=[\x21-\x7E \t\r\n]+\x01)*)\x01$`)
	authValue := regexp.MustCompile(`^(\w+) +([-_~+/.a-zA-Z0-9]+=*)$`)
	f.Add([]byte("n,a=\x01x=2C,\x01auth=Bearer x\x01k=v=w\x01\x01"))
	f.Add([]byte("n,a=x=2,\x01auth=Bearer x\x01\x01"))
	f.Add([]byte("Bearer  abc.def_-~+/=="))
	f.Add([]byte("bearer a=b"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		az, kv, ok := matchFirstMessage(msg)
		re := first.FindSubmatch(msg)
		if ok != (re != nil) || ok && (string(az) != string(re[1]) || string(kv) != string(re[2])) {
			t.Fatalf("%q: matchFirstMessage %q %q %v, Kafka's pattern %q", msg, az, kv, ok, re)
		}
		sc, tok, ok := matchAuthValue(string(msg))
		ra := authValue.FindStringSubmatch(string(msg))
		if ok != (ra != nil) || ok && (sc != ra[1] || tok != ra[2]) {
			t.Fatalf("%q: matchAuthValue %q %q %v, Kafka's pattern %q", msg, sc, tok, ok, ra)
		}
		m, err := parseOAuthMessage(msg)
		if err != nil {
			return
		}
		if m.token == "" || strings.Trim(m.token, "-_~+/.=abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
			t.Fatalf("%q: token %q has characters outside RFC 6750's b64token", msg, m.token)
		}
		if !strings.Contains(string(msg), " "+m.token+"\x01") || !strings.Contains(string(msg), "auth=") {
			t.Fatalf("%q: token %q is not the auth value's", msg, m.token)
		}
		again := "n," + map[bool]string{true: "a=" + m.authzid, false: ""}[m.authzid != ""] + ",\x01auth=Bearer " + m.token + "\x01"
		for k, v := range m.extensions {
			again += k + "=" + v + "\x01"
		}
		m2, err := parseOAuthMessage([]byte(again + "\x01"))
		if err != nil || m2.token != m.token || m2.authzid != m.authzid || len(m2.extensions) != len(m.extensions) {
			t.Fatalf("%q parsed as %+v, written again %q parses as %+v (%v)", msg, m, again, m2, err)
		}
		uv.validate(m.token, now)
		if tok, terr := jv.validate(m.token, now); terr == nil && m.token != signed {
			t.Fatalf("JWKS validator accepted %q (principal %q) it never signed", m.token, tok.principal)
		}
	})
}
