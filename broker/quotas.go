package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rewindhq/rewind/internal/atomicfile"
)

// Client quotas: what DescribeClientQuotas lists and AlterClientQuotas
// changes (48_describe_client_quotas.go, 49_alter_client_quotas.go), and
// what the quota managers enforce (quota_rate.go).
//
// As in Kafka, an entity is a combination of user, client-id and ip, each
// a name or the type's default; the keys a user/client-id entity takes are
// producer_byte_rate, consumer_byte_rate, request_percentage and
// controller_mutation_rate, an ip entity connection_creation_rate. The
// whole set lives in DataDir/QuotasFile, replaced atomically (temporary
// file, fsync, rename, directory fsync) before AlterClientQuotas answers,
// and read again at start.

// QuotasFile is where client quotas live, relative to the data directory.
const QuotasFile = "client-quotas.json"

const (
	quotaUser     = "user"
	quotaClientID = "client-id"
	quotaIP       = "ip"

	keyProducerByteRate       = "producer_byte_rate"
	keyConsumerByteRate       = "consumer_byte_rate"
	keyRequestPercentage      = "request_percentage"
	keyControllerMutationRate = "controller_mutation_rate"
	keyConnectionCreationRate = "connection_creation_rate"
)

// quotaValueType is the ConfigDef type of a quota key, which decides the
// values it accepts (ClientQuotaControlManager.validateQuotaKeyValue).
type quotaValueType int

const (
	quotaLong quotaValueType = iota
	quotaInt
	quotaDouble
)

var (
	userClientQuotaKeys = map[string]quotaValueType{
		keyProducerByteRate:       quotaLong,
		keyConsumerByteRate:       quotaLong,
		keyRequestPercentage:      quotaDouble,
		keyControllerMutationRate: quotaDouble,
	}
	ipQuotaKeys = map[string]quotaValueType{keyConnectionCreationRate: quotaInt}
)

// entityName is one component of an entity: absent, the default (a null
// name on the wire), or a name.
type entityName struct {
	set  bool
	def  bool
	name string
}

func named(s string) entityName { return entityName{set: true, name: s} }

var defaultName = entityName{set: true, def: true}

func (n entityName) wire() *string {
	if n.def {
		return nil
	}
	return &n.name
}

// quotaEntity is comparable: it keys the quota set.
type quotaEntity struct {
	user, client, ip entityName
}

// components lists the entity's parts in a stable order.
func (e quotaEntity) components() []struct {
	typ  string
	name entityName
} {
	var out []struct {
		typ  string
		name entityName
	}
	for _, c := range []struct {
		typ  string
		name entityName
	}{{quotaUser, e.user}, {quotaClientID, e.client}, {quotaIP, e.ip}} {
		if c.name.set {
			out = append(out, c)
		}
	}
	return out
}

// quotaSet is an immutable snapshot of every entity's quotas: readers
// load it without a lock; an alteration replaces it.
type quotaSet struct {
	m map[quotaEntity]map[string]float64
	// has counts the entities per key: a quota type none sets costs its
	// requests nothing (Kafka's quotasEnabled).
	has map[string]int
	// ips are the connection_creation_rate of ip entities by address
	// (a host name resolved when the set is made, as Kafka resolves it
	// when the quota changes); ipDefault that of the default ip.
	ips       map[string]float64
	ipDefault *float64
}

func newQuotaSet(m map[quotaEntity]map[string]float64) *quotaSet {
	s := &quotaSet{m: m, has: map[string]int{}, ips: map[string]float64{}}
	for e, vals := range m {
		for k := range vals {
			s.has[k]++
		}
		v, ok := vals[keyConnectionCreationRate]
		switch {
		case !ok || !e.ip.set:
		case e.ip.def:
			s.ipDefault = &v
		default:
			for _, a := range resolveIPEntity(e.ip.name) {
				s.ips[a] = v
			}
		}
	}
	return s
}

// ipRate is the connection_creation_rate that applies to ip.
func (s *quotaSet) ipRate(ip net.IP) (float64, bool) {
	if v, ok := s.ips[ip.String()]; ok {
		return v, true
	}
	if s.ipDefault != nil {
		return *s.ipDefault, true
	}
	return 0, false
}

// resolveIPEntity is the addresses an ip entity names.
func resolveIPEntity(name string) []string {
	if ip := net.ParseIP(name); ip != nil {
		return []string{ip.String()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	addrs, _ := net.DefaultResolver.LookupHost(ctx, name)
	out := addrs[:0]
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip != nil {
			out = append(out, ip.String())
		}
	}
	return out
}

func (s *quotaSet) get(e quotaEntity, key string) (float64, bool) {
	v, ok := s.m[e][key]
	return v, ok
}

// quotaStore holds the current set and writes it through.
type quotaStore struct {
	path string
	cur  atomic.Pointer[quotaSet]
	// alterMu serializes alterations (admin requests, rare): each
	// computes the next set from the current one and writes it before
	// publishing it. Readers never take it.
	alterMu sync.Mutex
}

type quotaFileEntity struct {
	Type string  `json:"type"`
	Name *string `json:"name"` // null: the type's default
}

type quotaFileEntry struct {
	Entity []quotaFileEntity  `json:"entity"`
	Values map[string]float64 `json:"values"`
}

type quotaFile struct {
	Version int              `json:"version"` // 1
	Entries []quotaFileEntry `json:"entries"`
}

func openQuotaStore(dataDir string) (*quotaStore, error) {
	s := &quotaStore{path: filepath.Join(dataDir, QuotasFile)}
	m := map[quotaEntity]map[string]float64{}
	data, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("client quotas: %w", err)
	default:
		var f quotaFile
		if err := json.Unmarshal(data, &f); err != nil {
			return nil, fmt.Errorf("client quotas %s: %w", s.path, err)
		}
		if f.Version != 1 {
			return nil, fmt.Errorf("client quotas %s: unknown format version %d", s.path, f.Version)
		}
		for _, fe := range f.Entries {
			var e quotaEntity
			for _, c := range fe.Entity {
				n := defaultName
				if c.Name != nil {
					n = named(*c.Name)
				}
				switch c.Type {
				case quotaUser:
					e.user = n
				case quotaClientID:
					e.client = n
				case quotaIP:
					e.ip = n
				default:
					return nil, fmt.Errorf("client quotas %s: unknown entity type %q", s.path, c.Type)
				}
			}
			if len(fe.Values) > 0 {
				m[e] = fe.Values
			}
		}
	}
	s.cur.Store(newQuotaSet(m))
	return s, nil
}

func (s *quotaStore) load() *quotaSet { return s.cur.Load() }

// write replaces the file with m, atomically.
func (s *quotaStore) write(m map[quotaEntity]map[string]float64) error {
	f := quotaFile{Version: 1}
	for e, vals := range m {
		var fe quotaFileEntry
		for _, c := range e.components() {
			fe.Entity = append(fe.Entity, quotaFileEntity{Type: c.typ, Name: c.name.wire()})
		}
		fe.Values = vals
		f.Entries = append(f.Entries, fe)
	}
	sort.Slice(f.Entries, func(i, j int) bool {
		a, _ := json.Marshal(f.Entries[i].Entity)
		b, _ := json.Marshal(f.Entries[j].Entity)
		return string(a) < string(b)
	})
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(s.path, data, 0o600); err != nil {
		return fmt.Errorf("client quotas: %w", err)
	}
	return nil
}

// quotaChange is one key of one entity set (value) or removed (nil).
type quotaChange struct {
	e     quotaEntity
	key   string
	value *float64
}

// apply writes the changes and publishes the new set.
func (s *quotaStore) apply(changes []quotaChange) error {
	if len(changes) == 0 {
		return nil
	}
	cur := s.load()
	m := make(map[quotaEntity]map[string]float64, len(cur.m)+1)
	for e, vals := range cur.m {
		m[e] = vals
	}
	copied := map[quotaEntity]bool{}
	for _, c := range changes {
		if vals, ok := m[c.e]; !ok || !copied[c.e] {
			nv := make(map[string]float64, len(vals)+1)
			for k, v := range vals {
				nv[k] = v
			}
			m[c.e], copied[c.e] = nv, true
		}
		if c.value == nil {
			delete(m[c.e], c.key)
		} else {
			m[c.e][c.key] = *c.value
		}
		if len(m[c.e]) == 0 {
			delete(m, c.e)
		}
	}
	if err := s.write(m); err != nil {
		return err
	}
	s.cur.Store(newQuotaSet(m))
	return nil
}
