package differential

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// quotaEnt builds an AlterClientQuotas entry: comps are type, name pairs
// ("<default>" for a null name), ops key=value or key=remove.
func quotaEnt(comps []string, ops ...string) kmsg.AlterClientQuotasRequestEntry {
	e := kmsg.NewAlterClientQuotasRequestEntry()
	for i := 0; i+1 < len(comps); i += 2 {
		c := kmsg.NewAlterClientQuotasRequestEntryEntity()
		c.Type = comps[i]
		if comps[i+1] != "<default>" {
			n := comps[i+1]
			c.Name = &n
		}
		e.Entity = append(e.Entity, c)
	}
	for _, o := range ops {
		k, v, _ := strings.Cut(o, "=")
		op := kmsg.NewAlterClientQuotasRequestEntryOp()
		op.Key = k
		if v == "remove" {
			op.Remove = true
		} else {
			fmt.Sscan(v, &op.Value)
		}
		e.Ops = append(e.Ops, op)
	}
	return e
}

func alterQuotasReq(validateOnly bool, es ...kmsg.AlterClientQuotasRequestEntry) *kmsg.AlterClientQuotasRequest {
	r := kmsg.NewPtrAlterClientQuotasRequest()
	r.Entries, r.ValidateOnly = es, validateOnly
	return r
}

func describeQuotasReq(strict bool, comps ...kmsg.DescribeClientQuotasRequestComponent) *kmsg.DescribeClientQuotasRequest {
	r := kmsg.NewPtrDescribeClientQuotasRequest()
	r.Components, r.Strict = comps, strict
	return r
}

func quotaComp(typ string, match kmsg.QuotasMatchType, name *string) kmsg.DescribeClientQuotasRequestComponent {
	c := kmsg.NewDescribeClientQuotasRequestComponent()
	c.EntityType, c.MatchType, c.Match = typ, match, name
	return c
}

// TestClientQuotas: AlterClientQuotas refusing each invalid entity, key
// and value as Kafka's controller does (one entry per request, then a
// request mixing valid and invalid entries, validate_only), then
// DescribeClientQuotas with every filter kind and its invalid forms, at
// each version both serve.
func TestClientQuotas(t *testing.T) {
	p := newPair(t)
	lo, hi, ok := p.common(kmsg.NewPtrAlterClientQuotasRequest())
	if !ok {
		t.Fatal("AlterClientQuotas: no common version")
	}
	u := func(s string) string { return s + suffix }
	bad := map[string]kmsg.AlterClientQuotasRequestEntry{
		"no-entity":          quotaEnt(nil, "producer_byte_rate=100"),
		"unknown-type":       quotaEnt([]string{"group", "g"}, "producer_byte_rate=100"),
		"empty-user":         quotaEnt([]string{"user", ""}, "producer_byte_rate=100"),
		"empty-client":       quotaEnt([]string{"client-id", ""}, "producer_byte_rate=100"),
		"ip-with-user":       quotaEnt([]string{"ip", "1.2.3.4", "user", u("u")}, "connection_creation_rate=5"),
		"ip-unresolvable":    quotaEnt([]string{"ip", "no-such-host.invalid"}, "connection_creation_rate=5"),
		"ip-user-key":        quotaEnt([]string{"ip", "1.2.3.4"}, "producer_byte_rate=100"),
		"user-ip-key":        quotaEnt([]string{"user", u("u")}, "connection_creation_rate=5"),
		"unknown-key":        quotaEnt([]string{"user", u("u")}, "nonsense=5"),
		"zero":               quotaEnt([]string{"user", u("u")}, "producer_byte_rate=0"),
		"negative":           quotaEnt([]string{"client-id", u("c")}, "request_percentage=-1"),
		"fraction-long":      quotaEnt([]string{"user", u("u")}, "consumer_byte_rate=1.5"),
		"fraction-int":       quotaEnt([]string{"ip", "1.2.3.4"}, "connection_creation_rate=2.5"),
		"int-too-large":      quotaEnt([]string{"ip", "1.2.3.4"}, fmt.Sprintf("connection_creation_rate=%d", int64(math.MaxInt32)+1)),
		"long-too-large":     quotaEnt([]string{"user", u("u")}, "producer_byte_rate=1e300"),
		"duplicate-key":      quotaEnt([]string{"user", u("u")}, "producer_byte_rate=100", "producer_byte_rate=200"),
		"remove-unset":       quotaEnt([]string{"user", u("nobody")}, "producer_byte_rate=remove"),
		"duplicate-type":     quotaEnt([]string{"user", u("x"), "user", u("y")}, "producer_byte_rate=remove"),
		"fraction-double-ok": quotaEnt([]string{"client-id", u("c")}, "request_percentage=12.5"),
	}
	for v := lo; v <= hi; v++ {
		for name, e := range bad {
			p.compare("ClientQuotas/alter/"+name, alterQuotasReq(true, e), v, nil)
		}
	}
	// Mixed: valid and invalid entries, an entity named twice.
	mixed := alterQuotasReq(true,
		quotaEnt([]string{"user", u("m1")}, "producer_byte_rate=1000"),
		quotaEnt([]string{"user", u("m2")}, "producer_byte_rate=0"),
		quotaEnt([]string{"user", u("m1")}, "consumer_byte_rate=1000"),
		quotaEnt([]string{"client-id", u("m3"), "user", u("m3")}, "request_percentage=50"))
	p.compare("ClientQuotas/alter/mixed", mixed, hi, sortQuotaEntries)

	// Set quotas on both, wait until Kafka's broker lists them, then
	// describe with each filter.
	set := alterQuotasReq(false,
		quotaEnt([]string{"user", u("alice")}, "producer_byte_rate=1024", "request_percentage=25"),
		quotaEnt([]string{"user", u("alice"), "client-id", u("app")}, "consumer_byte_rate=4096"),
		quotaEnt([]string{"user", u("alice"), "client-id", "<default>"}, "consumer_byte_rate=2048"),
		quotaEnt([]string{"user", u("bob")}, "producer_byte_rate=512"),
		quotaEnt([]string{"client-id", u("app")}, "producer_byte_rate=100000"),
		quotaEnt([]string{"ip", "127.0.0.2"}, "connection_creation_rate=7"))
	p.compare("ClientQuotas/alter/set", set, hi, sortQuotaEntries)
	t.Cleanup(func() {
		for _, e := range set.Entries {
			var ops []string
			for _, op := range e.Ops {
				ops = append(ops, op.Key+"=remove")
			}
			var comps []string
			for _, c := range e.Entity {
				n := "<default>"
				if c.Name != nil {
					n = *c.Name
				}
				comps = append(comps, c.Type, n)
			}
			p.both(alterQuotasReq(false, quotaEnt(comps, ops...)), hi)
		}
	})
	alice, app := u("alice"), u("app")
	exact := kmsg.QuotasMatchTypeExact
	def := kmsg.QuotasMatchTypeDefault
	anyT := kmsg.QuotasMatchTypeAny
	aliceExact := describeQuotasReq(false, quotaComp("user", exact, &alice))
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		k, _, err, _ := p.both(aliceExact, hi)
		if err == nil && len(k.(*kmsg.DescribeClientQuotasResponse).Entries) == 3 {
			break
		}
	}
	empty := ""
	filters := map[string]*kmsg.DescribeClientQuotasRequest{
		"user-exact":             aliceExact,
		"user-exact-strict":      describeQuotasReq(true, quotaComp("user", exact, &alice)),
		"user-client-exact":      describeQuotasReq(true, quotaComp("user", exact, &alice), quotaComp("client-id", exact, &app)),
		"user-client-default":    describeQuotasReq(false, quotaComp("user", exact, &alice), quotaComp("client-id", def, nil)),
		"user-client-specified":  describeQuotasReq(false, quotaComp("user", exact, &alice), quotaComp("client-id", anyT, nil)),
		"client-exact":           describeQuotasReq(false, quotaComp("client-id", exact, &app)),
		"client-exact-strict":    describeQuotasReq(true, quotaComp("client-id", exact, &app)),
		"ip-exact":               describeQuotasReq(false, quotaComp("ip", exact, strPtr("127.0.0.2"))),
		"empty-type":             describeQuotasReq(false, quotaComp("", exact, &alice)),
		"unknown-type":           describeQuotasReq(false, quotaComp("group", exact, &alice)),
		"type-twice":             describeQuotasReq(false, quotaComp("user", exact, &alice), quotaComp("user", anyT, nil)),
		"exact-null":             describeQuotasReq(false, quotaComp("user", exact, nil)),
		"default-with-match":     describeQuotasReq(false, quotaComp("user", def, &alice)),
		"specified-with-match":   describeQuotasReq(false, quotaComp("user", anyT, &alice)),
		"unknown-match":          describeQuotasReq(false, quotaComp("user", kmsg.QuotasMatchType(7), nil)),
		"ip-with-user":           describeQuotasReq(false, quotaComp("ip", anyT, nil), quotaComp("user", exact, &alice)),
		"exact-empty-name":       describeQuotasReq(false, quotaComp("user", exact, &empty)),
		"user-exact-nonexistent": describeQuotasReq(false, quotaComp("user", exact, strPtr(u("nobody")))),
	}
	dlo, dhi, ok := p.common(kmsg.NewPtrDescribeClientQuotasRequest())
	if !ok {
		t.Fatal("DescribeClientQuotas: no common version")
	}
	for v := dlo; v <= dhi; v++ {
		for name, f := range filters {
			p.compare("ClientQuotas/describe/"+name, f, v, sortQuotaEntries)
		}
	}
}

func strPtr(s string) *string { return &s }

// sortQuotaEntries orders the entries of both answers by entity (and an
// entity's components by type): Kafka lists both from hash maps.
func sortQuotaEntries(k, r kmsg.Response) {
	name := func(n *string) string {
		if n == nil {
			return "\x00"
		}
		return *n
	}
	for _, resp := range []kmsg.Response{k, r} {
		switch resp := resp.(type) {
		case *kmsg.AlterClientQuotasResponse:
			for i := range resp.Entries {
				slices.SortFunc(resp.Entries[i].Entity, func(a, b kmsg.AlterClientQuotasResponseEntryEntity) int { return strings.Compare(a.Type, b.Type) })
			}
			key := func(e kmsg.AlterClientQuotasResponseEntry) string {
				var sb strings.Builder
				for _, c := range e.Entity {
					sb.WriteString(c.Type + "=" + name(c.Name) + ";")
				}
				return sb.String()
			}
			slices.SortFunc(resp.Entries, func(a, b kmsg.AlterClientQuotasResponseEntry) int { return strings.Compare(key(a), key(b)) })
		case *kmsg.DescribeClientQuotasResponse:
			for i := range resp.Entries {
				slices.SortFunc(resp.Entries[i].Entity, func(a, b kmsg.DescribeClientQuotasResponseEntryEntity) int { return strings.Compare(a.Type, b.Type) })
				slices.SortFunc(resp.Entries[i].Values, func(a, b kmsg.DescribeClientQuotasResponseEntryValue) int { return strings.Compare(a.Key, b.Key) })
			}
			key := func(e kmsg.DescribeClientQuotasResponseEntry) string {
				var sb strings.Builder
				for _, c := range e.Entity {
					sb.WriteString(c.Type + "=" + name(c.Name) + ";")
				}
				return sb.String()
			}
			slices.SortFunc(resp.Entries, func(a, b kmsg.DescribeClientQuotasResponseEntry) int { return strings.Compare(key(a), key(b)) })
		}
	}
}
