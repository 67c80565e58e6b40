package broker

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeClientQuotas: v0-1 (v1 is flexible).
//
// Needs DESCRIBE_CONFIGS on the cluster (with an authorizer; else
// CLUSTER_AUTHORIZATION_FAILED). The filter is checked as Kafka's
// ClientQuotasImage.describe checks it: an empty entity type, a type
// named twice, exact with a null match, default or specified with a
// match, an unknown match type, ip combined with user or client-id are
// INVALID_REQUEST; a type other than user, client-id and ip is
// UNSUPPORTED_VERSION. Every entity that matches each component (exact:
// that name, default: the type's default, specified: any name or the
// default) is listed with its keys; strict lists only entities with no
// other component.

func init() { regKey(48, 0, 1, handleDescribeClientQuotas) }

func handleDescribeClientQuotas(r *request) (reply, error) {
	req := r.kreq.(*kmsg.DescribeClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	fail := func(code int16, msg string) (reply, error) {
		resp.ErrorCode = code
		if msg != "" {
			resp.ErrorMessage = strp(msg)
		}
		resp.Entries = nil
		return now(resp)
	}
	if !r.allowedCluster(kmsg.ACLOperationDescribeConfigs) {
		return fail(kerr.ClusterAuthorizationFailed.Code, "")
	}
	exact := map[string]*string{} // type → name, nil: the default
	specified := map[string]bool{}
	for _, c := range req.Components {
		switch _, dup := exact[c.EntityType]; {
		case c.EntityType == "":
			return fail(kerr.InvalidRequest.Code, "Invalid empty entity type.")
		case dup || specified[c.EntityType]:
			return fail(kerr.InvalidRequest.Code, "Entity type "+c.EntityType+" cannot appear more than once in the filter.")
		}
		if c.EntityType != quotaIP && c.EntityType != quotaUser && c.EntityType != quotaClientID {
			return fail(kerr.UnsupportedVersion.Code, "Unsupported entity type "+c.EntityType)
		}
		switch c.MatchType {
		case kmsg.QuotasMatchTypeExact:
			if c.Match == nil {
				return fail(kerr.InvalidRequest.Code, "Request specified MATCH_TYPE_EXACT, but set match string to null.")
			}
			exact[c.EntityType] = c.Match
		case kmsg.QuotasMatchTypeDefault:
			if c.Match != nil {
				return fail(kerr.InvalidRequest.Code, "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.")
			}
			exact[c.EntityType] = nil
		case kmsg.QuotasMatchTypeAny:
			if c.Match != nil {
				return fail(kerr.InvalidRequest.Code, "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.")
			}
			specified[c.EntityType] = true
		default:
			return fail(kerr.InvalidRequest.Code, "Unknown match type "+strconv.Itoa(int(c.MatchType)))
		}
	}
	has := func(t string) bool {
		_, ok := exact[t]
		return ok || specified[t]
	}
	if has(quotaIP) && (has(quotaUser) || has(quotaClientID)) {
		return fail(kerr.InvalidRequest.Code, "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.")
	}
	set := r.c.b.quotas.store.load()
	// Null only with an error: the Java admin reads an empty list as
	// none, but fails on a null one (DescribeClientQuotasResponse.complete).
	resp.Entries = []kmsg.DescribeClientQuotasResponseEntry{}
	for e, vals := range set.m {
		comps := e.components()
		if req.Strict && len(comps) != len(exact)+len(specified) {
			continue
		}
		byType := map[string]entityName{}
		for _, c := range comps {
			byType[c.typ] = c.name
		}
		match := true
		for t, want := range exact {
			got, ok := byType[t]
			switch {
			case !ok:
				match = false
			case want == nil:
				match = match && got.def
			default:
				match = match && !got.def && got.name == *want
			}
		}
		for t := range specified {
			if _, ok := byType[t]; !ok {
				match = false
			}
		}
		if !match {
			continue
		}
		en := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, c := range comps {
			ent := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			ent.Type, ent.Name = c.typ, c.name.wire()
			en.Entity = append(en.Entity, ent)
		}
		for _, k := range slices.Sorted(maps.Keys(vals)) {
			v := kmsg.NewDescribeClientQuotasResponseEntryValue()
			v.Key, v.Value = k, vals[k]
			en.Values = append(en.Values, v)
		}
		resp.Entries = append(resp.Entries, en)
	}
	slices.SortFunc(resp.Entries, func(a, b kmsg.DescribeClientQuotasResponseEntry) int {
		return strings.Compare(describeEntityKey(a.Entity), describeEntityKey(b.Entity))
	})
	return now(resp)
}

func describeEntityKey(es []kmsg.DescribeClientQuotasResponseEntryEntity) string {
	var b strings.Builder
	for _, e := range es {
		b.WriteString(e.Type)
		b.WriteByte(0)
		if e.Name != nil {
			b.WriteString(*e.Name)
		}
		b.WriteByte(0)
	}
	return b.String()
}
