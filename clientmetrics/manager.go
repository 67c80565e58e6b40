package clientmetrics

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rewindhq/rewind/internal/atomicfile"
	"github.com/twmb/franz-go/pkg/kerr"
)

// FileName is where the subscriptions live, relative to the data directory.
const FileName = "clientmetrics/subscriptions.json"

const formatVersion = 1

// Limits of what the clients' pushes may make the broker hold. A client
// chooses its instance id and its metric names, so each is bounded; past
// a bound the oldest instance, or the new series, is dropped.
const (
	// DefaultMaxBytes is Kafka's telemetry.max.bytes: the largest push
	// payload, compressed, a client is told to send and the broker takes.
	DefaultMaxBytes = 1 << 20
	// maxDecoded bounds what one push may decompress to.
	maxDecoded = 8 << 20
	// MaxInstances is how many client instances are remembered.
	MaxInstances = 4096
	// MaxSeries is how many series one instance keeps, and
	// MaxTotalSeries how many all instances keep together (about 200
	// bytes each).
	MaxSeries      = 2000
	MaxTotalSeries = 100000
	// minExpiry is how long an instance that stopped talking is kept, at
	// least (3 push intervals when longer), as Kafka's cache does.
	minExpiry = 60 * time.Second
)

// AcceptedCompression are the codecs a push may use (Kafka's order:
// zstd, lz4, gzip, snappy, as CompressionType ids).
var AcceptedCompression = []int8{4, 3, 1, 2}

// ClientInfo is what the broker knows of the connection a telemetry
// request came on.
type ClientInfo struct {
	ClientID        string
	SoftwareName    string // from ApiVersions v3+
	SoftwareVersion string
	Address         string
	Port            int
	Principal       string
}

// Subscribed is the answer to GetTelemetrySubscriptions.
type Subscribed struct {
	InstanceID     [16]byte
	SubscriptionID int32
	Metrics        []string
	IntervalMs     int32
	MaxBytes       int32
}

// Manager holds the subscriptions (durable) and the client instances that
// asked for them (in memory), and decodes what they push.
type Manager struct {
	path     string // "" keeps subscriptions in memory only
	maxBytes int
	now      func() time.Time

	mu        sync.Mutex
	subs      map[string]Subscription
	version   int // bumped on every subscription change
	instances map[[16]byte]*instance
	series    int // kept by all instances
}

type instance struct {
	id         [16]byte
	info       ClientInfo
	subID      int32
	version    int
	metrics    []string
	intervalMs int
	lastGet    time.Time
	lastPush   time.Time
	seen       time.Time // last request of either kind
	terminated bool
	lastErr    *kerr.Error
	pushes     int64
	series     map[string]*Point
	dropped    int64 // series not kept (MaxSeries)
}

// Open loads the subscriptions stored under dataDir ("" for none, kept in
// memory). maxBytes is the largest push accepted (0: DefaultMaxBytes).
func Open(dataDir string, maxBytes int) (*Manager, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	m := &Manager{maxBytes: maxBytes, now: time.Now, subs: map[string]Subscription{}, instances: map[[16]byte]*instance{}}
	if dataDir == "" {
		return m, nil
	}
	m.path = filepath.Join(dataDir, FileName)
	data, err := os.ReadFile(m.path)
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("client metrics: %w", err)
	}
	var f struct {
		Version       int                          `json:"version"`
		Subscriptions map[string]map[string]string `json:"subscriptions"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("client metrics: %s: %w", m.path, err)
	}
	if f.Version != formatVersion {
		return nil, fmt.Errorf("client metrics: %s: format version %d, this build reads %d", m.path, f.Version, formatVersion)
	}
	for name, cfgs := range f.Subscriptions {
		s, perr := Parse(name, cfgs)
		if perr != nil {
			return nil, fmt.Errorf("client metrics: %s: subscription %q: %s", m.path, name, perr.Msg)
		}
		m.subs[name] = s
	}
	return m, nil
}

// MaxBytes is the largest push payload accepted.
func (m *Manager) MaxBytes() int { return m.maxBytes }

// Configs returns the configs set on subscription name (nil when none).
func (m *Manager) Configs(name string) map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.subs[name]
	if !ok {
		return nil
	}
	out := make(map[string]string, len(s.Configs))
	for k, v := range s.Configs {
		out[k] = v
	}
	return out
}

// Names lists the subscriptions, sorted.
func (m *Manager) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.subs))
	for n := range m.subs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Set replaces the configs of subscription name (an empty map removes
// it, as Kafka does when every config is deleted), durably before it
// returns; validateOnly checks without changing anything.
func (m *Manager) Set(name string, configs map[string]string, validateOnly bool) *Error {
	s, perr := Parse(name, configs)
	if perr != nil {
		return perr
	}
	if validateOnly {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old, had := m.subs[name]
	if len(configs) == 0 {
		if !had {
			return nil
		}
		delete(m.subs, name)
	} else {
		m.subs[name] = s
	}
	if err := m.saveLocked(); err != nil {
		if had {
			m.subs[name] = old
		} else {
			delete(m.subs, name)
		}
		return &Error{kerr.UnknownServerError, "storing the client metrics subscriptions: " + err.Error()}
	}
	m.version++
	return nil
}

func (m *Manager) saveLocked() error {
	if m.path == "" {
		return nil
	}
	f := struct {
		Version       int                          `json:"version"`
		Subscriptions map[string]map[string]string `json:"subscriptions"`
	}{formatVersion, map[string]map[string]string{}}
	for n, s := range m.subs {
		f.Subscriptions[n] = s.Configs
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(m.path, data, 0o600)
}

func attrs(id [16]byte, info ClientInfo) map[string]string {
	a := map[string]string{
		MatchInstanceID: uuidString(id),
		MatchClientID:   info.ClientID,
	}
	if info.SoftwareName != "" {
		a[MatchSoftwareName] = info.SoftwareName
		a[MatchSoftwareVersion] = info.SoftwareVersion
	}
	if info.Address != "" {
		a[MatchSourceAddress] = info.Address
		a[MatchSourcePort] = strconv.Itoa(info.Port)
	}
	return a
}

// instanceLocked returns the instance of id, created or re-evaluated
// against the subscriptions when they changed since it was, as Kafka's
// ClientMetricsManager.clientInstance does (re-evaluation starts its
// request timestamps afresh, so the client gets the new subscription at
// once).
func (m *Manager) instanceLocked(id [16]byte, info ClientInfo, now time.Time) *instance {
	in := m.instances[id]
	if in != nil && in.version == m.version {
		in.seen = now
		return in
	}
	fresh := &instance{id: id, info: info, version: m.version, intervalMs: DefaultIntervalMs, seen: now, series: map[string]*Point{}}
	if in != nil {
		fresh.info, fresh.series, fresh.pushes, fresh.dropped = in.info, in.series, in.pushes, in.dropped
	}
	a := attrs(id, fresh.info)
	set := map[string]bool{}
	all := false
	names := make([]string, 0, len(m.subs))
	for n := range m.subs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := m.subs[n]
		if !s.matches(a) {
			continue
		}
		for _, mt := range s.Metrics {
			all = all || mt == AllMetrics
			set[mt] = true
		}
		fresh.intervalMs = min(fresh.intervalMs, s.IntervalMs)
	}
	if all {
		fresh.metrics = []string{AllMetrics}
	} else {
		for mt := range set {
			fresh.metrics = append(fresh.metrics, mt)
		}
		sort.Strings(fresh.metrics)
	}
	fresh.subID = subscriptionID(fresh.metrics, fresh.intervalMs, id)
	if in == nil {
		m.evictLocked(now)
	}
	m.instances[id] = fresh
	return fresh
}

// subscriptionID identifies an instance's subscription set: a CRC32C of
// the metrics and the interval, with the instance id folded in, so a push
// made for an older set is recognised (UNKNOWN_SUBSCRIPTION_ID).
func subscriptionID(metrics []string, intervalMs int, id [16]byte) int32 {
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	h.Write([]byte("[" + strings.Join(metrics, ", ") + "]" + strconv.Itoa(intervalMs)))
	h.Write(id[:])
	return int32(h.Sum32())
}

// evictLocked makes room for one more instance: first those expired
// (silent for max(minExpiry, 3 intervals)), then the least recently seen.
func (m *Manager) evictLocked(now time.Time) {
	if len(m.instances) < MaxInstances {
		return
	}
	var oldest *instance
	for id, in := range m.instances {
		if in.expired(now) {
			m.forgetLocked(id)
			continue
		}
		if oldest == nil || in.seen.Before(oldest.seen) {
			oldest = in
		}
	}
	if len(m.instances) >= MaxInstances && oldest != nil {
		m.forgetLocked(oldest.id)
	}
}

func (m *Manager) forgetLocked(id [16]byte) {
	if in := m.instances[id]; in != nil {
		m.series -= len(in.series)
		delete(m.instances, id)
	}
}

func newInstanceID() [16]byte {
	var id [16]byte
	rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80
	return id
}

// reserved are the ids no client may use (Kafka's Uuid.RESERVED: zero and
// the metadata topic id).
func reserved(id [16]byte) bool {
	return id == [16]byte{} || id == [16]byte{15: 1}
}

// GetSubscriptions answers GetTelemetrySubscriptions for the instance id
// the client sent (zero: a new one is made), or the error Kafka gives: a
// second request within the push interval is THROTTLING_QUOTA_EXCEEDED.
func (m *Manager) GetSubscriptions(id [16]byte, info ClientInfo) (Subscribed, *Error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if id == [16]byte{} {
		for id = newInstanceID(); m.instances[id] != nil || reserved(id); id = newInstanceID() {
		}
	}
	in := m.instanceLocked(id, info, now)
	last := in.lastGet
	if in.lastPush.After(last) {
		last = in.lastPush
	}
	if !last.IsZero() && now.Sub(last) < time.Duration(in.intervalMs)*time.Millisecond {
		return Subscribed{}, &Error{kerr.ThrottlingQuotaExceeded, fmt.Sprintf("Request from the client [%s] arrived before the next push interval time", uuidString(id))}
	}
	in.lastGet = now
	in.lastErr = nil
	return Subscribed{
		InstanceID: id, SubscriptionID: in.subID, Metrics: append([]string(nil), in.metrics...),
		IntervalMs: int32(in.intervalMs), MaxBytes: int32(m.maxBytes),
	}, nil
}

// Push takes one PushTelemetry: its checks in Kafka's order (reserved
// instance id INVALID_REQUEST; after a terminating push INVALID_REQUEST;
// within the interval THROTTLING_QUOTA_EXCEEDED; a stale subscription id
// UNKNOWN_SUBSCRIPTION_ID; a codec not accepted
// UNSUPPORTED_COMPRESSION_TYPE; over telemetry.max.bytes
// TELEMETRY_TOO_LARGE), then the OTLP metrics are decoded into the
// instance's series; a payload that does not decode is INVALID_RECORD.
func (m *Manager) Push(id [16]byte, info ClientInfo, subID int32, terminating bool, codec int8, payload []byte) *Error {
	if reserved(id) {
		return invalidRequest("Invalid request from the client [%s], invalid client instance id", uuidString(id))
	}
	now := m.now()
	m.mu.Lock()
	in := m.instanceLocked(id, info, now)
	perr := m.checkPushLocked(in, subID, terminating, codec, len(payload), now)
	in.terminated = terminating // as Kafka: the flag of the latest push
	in.lastErr = nil
	if perr != nil {
		in.lastErr = perr.Err
	}
	m.mu.Unlock()
	if perr != nil || len(payload) == 0 {
		return perr
	}
	// Decoded outside the lock: it is the costly part, bounded by the
	// payload limits.
	points, err := decode(int(codec), payload)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		in.lastErr = kerr.InvalidRecord
		return &Error{kerr.InvalidRecord, "client metrics: " + err.Error()}
	}
	in.pushes++
	for _, p := range points {
		k := p.key()
		if cur, ok := in.series[k]; ok {
			*cur = p
			continue
		}
		if len(in.series) >= MaxSeries || m.series >= MaxTotalSeries {
			in.dropped++
			continue
		}
		p := p
		in.series[k] = &p
		m.series++
	}
	return nil
}

func (m *Manager) checkPushLocked(in *instance, subID int32, terminating bool, codec int8, n int, now time.Time) *Error {
	ids := uuidString(in.id)
	if in.terminated {
		return invalidRequest("Client [%s] sent the previous request with state terminating to TRUE, can not acceptany requests after that", ids)
	}
	// A push right after a GetTelemetrySubscriptions is accepted whatever
	// the time: clients jitter the interval.
	ok := in.lastGet.After(in.lastPush) || in.lastPush.IsZero() ||
		now.Sub(in.lastPush) >= time.Duration(in.intervalMs)*time.Millisecond
	if !ok && !terminating {
		return &Error{kerr.ThrottlingQuotaExceeded, fmt.Sprintf("Request from the client [%s] arrived before the next push interval time", ids)}
	}
	if ok {
		in.lastPush = now
	}
	if subID != in.subID {
		return &Error{kerr.UnknownSubscriptionID, fmt.Sprintf("Unknown client subscription id for the client [%s]", ids)}
	}
	if codec < 0 || codec > 4 {
		return &Error{kerr.UnsupportedCompressionType, fmt.Sprintf("Unknown compression type [%d] is received in telemetry request from [%s]", codec, ids)}
	}
	if n > m.maxBytes {
		return &Error{kerr.TelemetryTooLarge, fmt.Sprintf("Telemetry request from [%s] is larger than the maximum allowed size [%d]", ids, m.maxBytes)}
	}
	return nil
}

// Disconnected forgets the instance that used a connection now closed, as
// Kafka's ClientMetricsManager does: a client that reconnects starts
// afresh (its series included).
func (m *Manager) Disconnected(id [16]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forgetLocked(id)
}

// expired: silent for longer than max(minExpiry, 3 push intervals).
func (in *instance) expired(now time.Time) bool {
	return now.Sub(in.seen) > max(minExpiry, 3*time.Duration(in.intervalMs)*time.Millisecond)
}

// uuidString prints an id as Kafka prints a Uuid: URL-safe base64
// without padding.
func uuidString(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// Client is one client instance as the console and /metrics show it.
type Client struct {
	InstanceID      string    `json:"client_instance_id"`
	ClientID        string    `json:"client_id"`
	SoftwareName    string    `json:"client_software_name,omitempty"`
	SoftwareVersion string    `json:"client_software_version,omitempty"`
	Address         string    `json:"client_address,omitempty"`
	Principal       string    `json:"principal,omitempty"`
	Subscribed      []string  `json:"subscribed_metrics"`
	IntervalMs      int       `json:"push_interval_ms"`
	LastPush        time.Time `json:"last_push,omitzero"`
	Pushes          int64     `json:"pushes"`
	Terminated      bool      `json:"terminated"`
	LastError       string    `json:"last_error,omitempty"`
	DroppedSeries   int64     `json:"dropped_series,omitempty"`
	Series          []Point   `json:"series"`
}

// Clients returns every remembered instance, by client id then instance
// id, with its series sorted by name and attributes.
func (m *Manager) Clients() []Client {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Client, 0, len(m.instances))
	for id, in := range m.instances {
		if in.expired(now) {
			m.forgetLocked(id)
			continue
		}
		c := Client{
			InstanceID: uuidString(in.id), ClientID: in.info.ClientID,
			SoftwareName: in.info.SoftwareName, SoftwareVersion: in.info.SoftwareVersion,
			Principal: in.info.Principal, Subscribed: append([]string{}, in.metrics...),
			IntervalMs: in.intervalMs, LastPush: in.lastPush, Pushes: in.pushes,
			Terminated: in.terminated, DroppedSeries: in.dropped,
		}
		if in.info.Address != "" {
			c.Address = in.info.Address + ":" + strconv.Itoa(in.info.Port)
		}
		if in.lastErr != nil {
			c.LastError = in.lastErr.Message
		}
		c.Series = make([]Point, 0, len(in.series))
		for _, p := range in.series {
			c.Series = append(c.Series, *p)
		}
		sort.Slice(c.Series, func(i, j int) bool { return c.Series[i].key() < c.Series[j].key() })
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ClientID != out[j].ClientID {
			return out[i].ClientID < out[j].ClientID
		}
		return out[i].InstanceID < out[j].InstanceID
	})
	return out
}
