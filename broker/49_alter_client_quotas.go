package broker

import (
	"context"
	"maps"
	"math"
	"net"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterClientQuotas: v0-1 (v1 is flexible).
//
// Needs ALTER_CONFIGS on the cluster (with an authorizer; else every
// entity gets CLUSTER_AUTHORIZATION_FAILED). Each entry is checked as
// Kafka's ClientQuotaControlManager checks it, every failure being
// INVALID_REQUEST for that entity: no component, an unknown entity type,
// an empty name, ip combined with user or client-id, an ip that is neither
// an address nor a resolvable host, a key the entity type does not take,
// a value not above 0, a fraction for an integral key or one too large
// for its type, a key named twice in the entry, an entity named in two
// entries. A component named twice in an entity is kept once, the last
// (Kafka reads the entity into a map). Removing a key that is not set is
// a no-op. The valid changes of the whole request are written together
// (QuotasFile, fsynced) before the answer, unless validate_only, and the
// quota managers use them from the next request on.

func init() { regKey(49, 0, 1, handleAlterClientQuotas) }

func handleAlterClientQuotas(r *request) (reply, error) {
	req := r.kreq.(*kmsg.AlterClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)

	// Read each entry's entity as Kafka does (a map: the last of a type
	// wins), keeping the first appearance's order for the response.
	type entry struct {
		e     quotaEntity
		comps []kmsg.AlterClientQuotasRequestEntryEntity
		ops   []kmsg.AlterClientQuotasRequestEntryOp
		bad   string // an entity type Rewind does not know
	}
	entries := make([]entry, len(req.Entries))
	for i, re := range req.Entries {
		en := entry{ops: re.Ops}
		seen := map[string]int{}
		for _, c := range re.Entity {
			if j, ok := seen[c.Type]; ok {
				en.comps[j] = c
			} else {
				seen[c.Type] = len(en.comps)
				en.comps = append(en.comps, c)
			}
		}
		for _, c := range en.comps {
			n := defaultName
			if c.Name != nil {
				n = named(*c.Name)
			}
			switch c.Type {
			case quotaUser:
				en.e.user = n
			case quotaClientID:
				en.e.client = n
			case quotaIP:
				en.e.ip = n
			default:
				en.bad = c.Type
			}
		}
		entries[i] = en
	}
	// Entities are told apart by all their components, unknown types
	// included.
	type result struct {
		comps []kmsg.AlterClientQuotasRequestEntryEntity
		code  int16
		msg   *string
	}
	var order []string
	results := map[string]*result{}
	keyOf := func(comps []kmsg.AlterClientQuotasRequestEntryEntity) string {
		m := map[string]*string{}
		for _, c := range comps {
			m[c.Type] = c.Name
		}
		k := ""
		for _, t := range slices.Sorted(maps.Keys(m)) {
			k += t + "\x00"
			if m[t] == nil {
				k += "\x01"
			} else {
				k += "=" + *m[t]
			}
			k += "\x00"
		}
		return k
	}
	put := func(comps []kmsg.AlterClientQuotasRequestEntryEntity, code int16, msg string) {
		k := keyOf(comps)
		res, ok := results[k]
		if !ok {
			res = &result{comps: comps}
			results[k] = res
			order = append(order, k)
		}
		res.code = code
		res.msg = nil
		if msg != "" {
			res.msg = strp(msg)
		}
	}

	if !r.allowedCluster(kmsg.ACLOperationAlterConfigs) {
		for _, en := range entries {
			put(en.comps, kerr.ClusterAuthorizationFailed.Code, "")
		}
	} else {
		b := r.c.b
		b.quotas.store.alterMu.Lock()
		defer b.quotas.store.alterMu.Unlock()
		cur := b.quotas.store.load()
		var changes []quotaChange
		for _, en := range entries {
			k := keyOf(en.comps)
			dupKey := false
			keys := map[string]bool{}
			for _, op := range en.ops {
				if keys[op.Key] {
					dupKey = true
				}
				keys[op.Key] = true
			}
			if dupKey {
				put(en.comps, kerr.InvalidRequest.Code, "Duplicate quota key, not updating quota for this entity")
			}
			if _, ok := results[k]; ok {
				put(en.comps, kerr.InvalidRequest.Code, "Ignoring duplicate entity")
				continue
			}
			ch, msg := alterEntity(cur, en.e, en.comps, en.bad, en.ops)
			if msg != "" {
				put(en.comps, kerr.InvalidRequest.Code, msg)
				continue
			}
			changes = append(changes, ch...)
			put(en.comps, 0, "")
		}
		if !req.ValidateOnly {
			if err := b.quotas.store.apply(changes); err != nil {
				b.storageErrs.error("client quotas cannot be written", "err", err)
				for _, k := range order {
					if results[k].code == 0 {
						results[k].code, results[k].msg = kerr.UnknownServerError.Code, strp(err.Error())
					}
				}
			}
		}
	}
	for _, k := range order {
		res := results[k]
		re := kmsg.NewAlterClientQuotasResponseEntry()
		re.ErrorCode, re.ErrorMessage = res.code, res.msg
		for _, c := range res.comps {
			ent := kmsg.NewAlterClientQuotasResponseEntryEntity()
			ent.Type, ent.Name = c.Type, c.Name
			re.Entity = append(re.Entity, ent)
		}
		resp.Entries = append(resp.Entries, re)
	}
	return now(resp)
}

// alterEntity checks one entry against the current set and returns its
// changes, or the reason it is refused.
func alterEntity(cur *quotaSet, e quotaEntity, comps []kmsg.AlterClientQuotasRequestEntryEntity, unknownType string, ops []kmsg.AlterClientQuotasRequestEntryOp) ([]quotaChange, string) {
	if len(comps) == 0 {
		return nil, "Invalid empty client quota entity"
	}
	for _, c := range comps {
		if c.Type == unknownType {
			return nil, "Unhandled client quota entity type: " + c.Type
		}
		if c.Name != nil && *c.Name == "" {
			return nil, "Empty " + c.Type + " not supported"
		}
	}
	keys := userClientQuotaKeys
	if e.ip.set {
		if e.user.set || e.client.set {
			return nil, "Invalid quota entity combination, IP entity should not be combined with User or ClientId"
		}
		if !e.ip.def && !validIPEntity(e.ip.name) {
			return nil, e.ip.name + " is not a valid IP or resolvable host."
		}
		keys = ipQuotaKeys
	}
	var out []quotaChange
	for _, op := range ops {
		if op.Remove {
			if _, ok := cur.get(e, op.Key); ok {
				out = append(out, quotaChange{e: e, key: op.Key})
			}
			continue
		}
		if msg := validQuotaValue(keys, op.Key, op.Value); msg != "" {
			return nil, msg
		}
		if old, ok := cur.get(e, op.Key); !ok || old != op.Value {
			v := op.Value
			out = append(out, quotaChange{e: e, key: op.Key, value: &v})
		}
	}
	return out, ""
}

func validQuotaValue(keys map[string]quotaValueType, key string, v float64) string {
	typ, ok := keys[key]
	if !ok {
		return "Invalid configuration key " + key
	}
	if !(v > 0) {
		// NaN too, which Kafka stores; JSON cannot.
		return "Quota " + key + " must be greater than 0"
	}
	if math.IsInf(v, 1) && typ == quotaDouble {
		return "Quota " + key + " must be finite"
	}
	switch typ {
	case quotaInt:
		if v > math.MaxInt32 {
			return "Proposed value for " + key + " is too large for an INT."
		}
	case quotaLong:
		if v > math.MaxInt64 {
			return "Proposed value for " + key + " is too large for a LONG."
		}
	default:
		return ""
	}
	if math.Abs(math.Mod(v, 1)) > 1e-6 {
		return key + " cannot be a fractional value."
	}
	return ""
}

// validIPEntity is Java's InetAddress.getByName succeeding: an address,
// or a host name that resolves.
func validIPEntity(s string) bool {
	if net.ParseIP(s) != nil {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, s)
	return err == nil && len(addrs) > 0
}
