package differential

import (
	"bufio"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// self stands for the answering broker's own node id after normalize, so
// "the leader is this broker" compares equal whatever the ids are.
const self = int32(-1000)

// Fields that legitimately differ between two brokers, zeroed before the
// comparison: who and where the broker is, how long to back off, and the
// free text Kafka puts beside an error code.
var zeroed = map[string]bool{
	"ThrottleMillis": true,
	"ClusterID":      true,
	"Host":           true,
	"Port":           true,
	"Rack":           true,
	"ErrorMessage":   true,
	"UnknownTags":    true,
}

// Node-id fields and lists: the broker's own id becomes self.
var nodeFields = map[string]bool{
	"NodeID": true, "Leader": true, "LeaderID": true, "ControllerID": true, "CoordinatorID": true,
	"Replicas": true, "ISR": true, "OfflineReplicas": true, "ELR": true, "LastKnownELR": true,
}

// Random ids: only whether one is set is compared.
var idFields = map[string]bool{"TopicID": true}

// Fields that identify an element of an unordered list, by priority; lists
// of structs with one of them are sorted by the first present and matched
// element by element (a coordinator by its Key, not by its NodeID).
var keyFields = []string{"ApiKey", "Topic", "Name", "Partition", "Group", "Key", "ResourceName", "NodeID"}

// normalize rewrites a response in place (v is a pointer to it).
func normalize(v any, node int32) { normalizeValue(reflect.ValueOf(v), node) }

func normalizeValue(v reflect.Value, node int32) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			normalizeValue(v.Elem(), node)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f, fv := t.Field(i), v.Field(i)
			if !fv.CanSet() {
				continue
			}
			switch {
			case zeroed[f.Name]:
				fv.SetZero()
			case nodeFields[f.Name]:
				mapNode(fv, node)
			case idFields[f.Name] && fv.Kind() == reflect.Array:
				if !fv.IsZero() {
					for j := range fv.Len() {
						fv.Index(j).SetUint(0xff)
					}
				}
			default:
				normalizeValue(fv, node)
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			normalizeValue(v.Index(i), node)
		}
		sortByKey(v)
	}
}

func mapNode(v reflect.Value, node int32) {
	switch v.Kind() {
	case reflect.Int32:
		if int32(v.Int()) == node {
			v.SetInt(int64(self))
		}
	case reflect.Slice:
		for i := range v.Len() {
			mapNode(v.Index(i), node)
		}
	}
}

// key is the identity of a list element: its key fields, or "" when it has
// none (then the list's order is compared as it is).
func key(v reflect.Value) string {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return ""
	}
	for _, k := range keyFields {
		f := v.FieldByName(k)
		if !f.IsValid() {
			continue
		}
		switch f.Kind() {
		case reflect.String:
			if id := v.FieldByName("TopicID"); f.String() == "" && id.IsValid() && id.Kind() == reflect.Array {
				// From Produce v13 and Fetch v13 topics come by id
				// alone, which are random: whether one is set (a topic
				// the broker knows) is what tells them apart.
				if id.IsZero() {
					return "TopicID=unknown"
				}
				return "TopicID=known"
			}
			return k + "=" + strings.TrimSuffix(f.String(), suffix)
		case reflect.Int16, reflect.Int32, reflect.Int64:
			return fmt.Sprintf("%s=%d", k, f.Int())
		case reflect.Pointer:
			if f.Type().Elem().Kind() == reflect.String {
				if f.IsNil() {
					return k + "=null"
				}
				return k + "=" + strings.TrimSuffix(f.Elem().String(), suffix)
			}
		}
	}
	return ""
}

func sortByKey(v reflect.Value) {
	if v.Len() < 2 || key(v.Index(0)) == "" {
		return
	}
	keys := make([]string, v.Len())
	for i := range keys {
		keys[i] = key(v.Index(i))
	}
	idx := make([]int, v.Len())
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return keys[idx[a]] < keys[idx[b]] })
	sorted := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
	for i, j := range idx {
		sorted.Index(i).Set(v.Index(j))
	}
	reflect.Copy(v, sorted)
}

func valueOf(v any) reflect.Value { return reflect.ValueOf(v) }

// difference is one field that differs.
type difference struct {
	path          string
	kafka, rewind string
}

// diff compares two normalised responses field by field.
func diff(kafka, rewind any) []difference {
	var out []difference
	diffValue("", reflect.ValueOf(kafka), reflect.ValueOf(rewind), &out)
	return out
}

func diffValue(path string, k, r reflect.Value, out *[]difference) {
	if k.Kind() != r.Kind() {
		*out = append(*out, difference{path, show(path, k), show(path, r)})
		return
	}
	switch k.Kind() {
	case reflect.Pointer, reflect.Interface:
		if k.IsNil() || r.IsNil() {
			if k.IsNil() != r.IsNil() {
				*out = append(*out, difference{path, show(path, k), show(path, r)})
			}
			return
		}
		diffValue(path, k.Elem(), r.Elem(), out)
	case reflect.Struct:
		t := k.Type()
		for i := range t.NumField() {
			if !t.Field(i).IsExported() || t.Field(i).Name == "Version" {
				continue
			}
			diffValue(join(path, t.Field(i).Name), k.Field(i), r.Field(i), out)
		}
	case reflect.Slice:
		if k.Type().Elem().Kind() == reflect.Uint8 {
			if string(k.Bytes()) != string(r.Bytes()) {
				*out = append(*out, difference{path, show(path, k), show(path, r)})
			}
			return
		}
		diffList(path, k, r, out)
	default:
		if !reflect.DeepEqual(k.Interface(), r.Interface()) {
			*out = append(*out, difference{path, show(path, k), show(path, r)})
		}
	}
}

// diffList matches keyed elements by key (an element only one broker has
// is one difference) and others by position.
func diffList(path string, k, r reflect.Value, out *[]difference) {
	keyed := (k.Len() > 0 && key(k.Index(0)) != "") || (r.Len() > 0 && key(r.Index(0)) != "")
	if !keyed {
		if k.Len() != r.Len() {
			*out = append(*out, difference{path + ".len", fmt.Sprint(k.Len()), fmt.Sprint(r.Len())})
		}
		for i := range min(k.Len(), r.Len()) {
			diffValue(fmt.Sprintf("%s[%d]", path, i), k.Index(i), r.Index(i), out)
		}
		return
	}
	// A key can repeat (a config's synonyms of one name at two sources):
	// the n-th element of a key is matched with the other side's n-th,
	// and named key#n from the second on.
	keys := func(l reflect.Value) []string {
		n := map[string]int{}
		out := make([]string, l.Len())
		for i := range l.Len() {
			kk := key(l.Index(i))
			n[kk]++
			if n[kk] > 1 {
				kk = fmt.Sprintf("%s#%d", kk, n[kk])
			}
			out[i] = kk
		}
		return out
	}
	kkeys, rkeys := keys(k), keys(r)
	rk := map[string]int{}
	for i, kk := range rkeys {
		rk[kk] = i
	}
	seen := map[string]bool{}
	for i, kk := range kkeys {
		seen[kk] = true
		p := fmt.Sprintf("%s[%s]", path, kk)
		j, ok := rk[kk]
		if !ok {
			*out = append(*out, difference{p, "present", "absent"})
			continue
		}
		diffValue(p, k.Index(i), r.Index(j), out)
	}
	for _, kk := range rkeys {
		if !seen[kk] {
			*out = append(*out, difference{fmt.Sprintf("%s[%s]", path, kk), "absent", "present"})
		}
	}
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// show prints a value; error codes also by name.
func show(path string, v reflect.Value) string {
	if !v.IsValid() {
		return "<none>"
	}
	if (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) && v.IsNil() {
		return "null"
	}
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if strings.HasSuffix(path, "ErrorCode") && v.Kind() == reflect.Int16 {
		code := int16(v.Int())
		if code == 0 {
			return "0"
		}
		if e := kerr.ErrorForCode(code); e != nil {
			if ke, ok := e.(*kerr.Error); ok {
				return fmt.Sprintf("%d (%s)", code, ke.Message)
			}
		}
		return fmt.Sprint(code)
	}
	if v.Kind() == reflect.Int32 && int32(v.Int()) == self && strings.Contains(path, "ID") {
		return "self"
	}
	s := fmt.Sprintf("%+v", v.Interface())
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// knownDiffs is known_differences.txt: differences Rewind keeps, each with
// its reason. A line is
//
//	<scenario> <field path> <reason...>
//
// separated by tabs; * in a scenario or path matches any run of
// characters; # starts a comment.
type knownDiffs struct {
	entries []knownDiff
}

type knownDiff struct {
	scenario, path, reason string
	used                   bool
}

var (
	knownOnce sync.Once
	known     *knownDiffs
	knownErr  error
)

func loadKnown(t testing.TB) *knownDiffs {
	t.Helper()
	knownOnce.Do(func() {
		known = &knownDiffs{}
		f, err := os.Open("known_differences.txt")
		if err != nil {
			knownErr = err
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
				continue
			}
			parts := strings.SplitN(line, "\t", 3)
			if len(parts) != 3 || strings.TrimSpace(parts[2]) == "" {
				knownErr = fmt.Errorf("known_differences.txt:%d: want <scenario> TAB <path> TAB <reason>", n)
				return
			}
			known.entries = append(known.entries, knownDiff{scenario: parts[0], path: parts[1], reason: strings.TrimSpace(parts[2])})
		}
		knownErr = sc.Err()
	})
	if knownErr != nil {
		t.Fatal(knownErr)
	}
	return known
}

// matches is a glob where * stands for any run of characters (and
// nothing else is special: paths are full of brackets).
func matches(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(s, part)
		if i < 0 {
			return false
		}
		s = s[i+len(part):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

func (k *knownDiffs) match(scenario, path string) (string, bool) {
	for i, e := range k.entries {
		if matches(e.scenario, scenario) && matches(e.path, path) {
			k.entries[i].used = true
			return e.reason, true
		}
	}
	return "", false
}

// unused are the entries no difference of this run matched: fixed in
// Rewind (remove them), or of scenarios this run did not reach (-run).
func (k *knownDiffs) unused() []knownDiff {
	var out []knownDiff
	for _, e := range k.entries {
		if !e.used {
			out = append(out, e)
		}
	}
	return out
}

// results collects every scenario's outcome for the table TestMain prints
// (and writes to $REWIND_DIFF_REPORT when set).
var (
	resultsMu sync.Mutex
	results   []result
)

type result struct {
	scenario string
	diffs    []difference
	reasons  []string // "" for an unexplained difference
}

func record(scenario string, ds []difference, k *knownDiffs) {
	r := result{scenario: scenario, diffs: ds}
	for _, d := range ds {
		why, _ := k.match(scenario, d.path)
		r.reasons = append(r.reasons, why)
	}
	resultsMu.Lock()
	results = append(results, r)
	resultsMu.Unlock()
}
