package acl

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	topic   = kmsg.ACLResourceTypeTopic
	group   = kmsg.ACLResourceTypeGroup
	lit     = kmsg.ACLResourcePatternTypeLiteral
	pre     = kmsg.ACLResourcePatternTypePrefixed
	allow   = kmsg.ACLPermissionTypeAllow
	deny    = kmsg.ACLPermissionTypeDeny
	opRead  = kmsg.ACLOperationRead
	opWrite = kmsg.ACLOperationWrite
	opDesc  = kmsg.ACLOperationDescribe
)

func bind(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) Binding {
	return Binding{ResourceType: rt, Name: name, PatternType: pt, Principal: principal, Host: host, Operation: op, Permission: perm}
}

func newAuth(t *testing.T, cfg Config, bs ...Binding) *Authorizer {
	t.Helper()
	a, err := Open("", cfg)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := a.Create(bs)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e != nil {
			t.Fatalf("ACL %v: %v", bs[i], e)
		}
	}
	return a
}

// TestAuthorize is StandardAuthorizer's semantics, case by case.
func TestAuthorize(t *testing.T) {
	type q struct {
		principal, host string
		op              kmsg.ACLOperation
		rt              kmsg.ACLResourceType
		name            string
		want            bool
	}
	cases := []struct {
		name string
		cfg  Config
		acls []Binding
		qs   []q
	}{
		{"no ACLs: default deny", Config{}, nil, []q{{"User:a", "1.2.3.4", opRead, topic, "t", false}}},
		{"no ACLs: allow.everyone.if.no.acl.found", Config{AllowIfNoACL: true}, nil, []q{{"User:a", "1.2.3.4", opRead, topic, "t", true}}},
		{"ACLs on the resource for someone else: denied even with allow.everyone", Config{AllowIfNoACL: true},
			[]Binding{bind(topic, "t", lit, "User:b", "*", opRead, allow)},
			[]q{{"User:a", "h", opRead, topic, "t", false}, {"User:a", "h", opRead, topic, "other", true}, {"User:b", "h", opRead, topic, "t", true}}},
		{"super user", Config{SuperUsers: []string{"User:admin"}},
			[]Binding{bind(topic, "t", lit, "User:*", "*", kmsg.ACLOperationAll, deny)},
			[]q{{"User:admin", "h", opWrite, topic, "t", true}, {"User:a", "h", opWrite, topic, "t", false}}},
		{"READ, WRITE, DELETE, ALTER imply DESCRIBE", Config{},
			[]Binding{
				bind(topic, "r", lit, "User:a", "*", opRead, allow),
				bind(topic, "w", lit, "User:a", "*", opWrite, allow),
				bind(topic, "d", lit, "User:a", "*", kmsg.ACLOperationDelete, allow),
				bind(topic, "al", lit, "User:a", "*", kmsg.ACLOperationAlter, allow),
				bind(topic, "c", lit, "User:a", "*", kmsg.ACLOperationCreate, allow),
				bind(topic, "ac", lit, "User:a", "*", kmsg.ACLOperationAlterConfigs, allow),
			},
			[]q{
				{"User:a", "h", opDesc, topic, "r", true}, {"User:a", "h", opDesc, topic, "w", true},
				{"User:a", "h", opDesc, topic, "d", true}, {"User:a", "h", opDesc, topic, "al", true},
				{"User:a", "h", opDesc, topic, "c", false}, {"User:a", "h", opWrite, topic, "r", false},
				{"User:a", "h", kmsg.ACLOperationDescribeConfigs, topic, "ac", true},
				{"User:a", "h", opDesc, topic, "ac", false},
				{"User:a", "h", kmsg.ACLOperationDescribeConfigs, topic, "r", false},
			}},
		{"DENY wins; DENY READ does not deny DESCRIBE", Config{},
			[]Binding{
				bind(topic, "t", lit, "User:*", "*", kmsg.ACLOperationAll, allow),
				bind(topic, "t", lit, "User:a", "*", opRead, deny),
			},
			[]q{{"User:a", "h", opRead, topic, "t", false}, {"User:a", "h", opDesc, topic, "t", true}, {"User:b", "h", opRead, topic, "t", true}}},
		{"DENY on a prefix beats ALLOW literal", Config{},
			[]Binding{
				bind(topic, "orders", lit, "User:a", "*", opRead, allow),
				bind(topic, "ord", pre, "User:a", "*", opRead, deny),
			},
			[]q{{"User:a", "h", opRead, topic, "orders", false}}},
		{"prefixed and wildcard", Config{},
			[]Binding{
				bind(topic, "app-", pre, "User:a", "*", opWrite, allow),
				bind(group, "*", lit, "User:a", "*", opRead, allow),
			},
			[]q{
				{"User:a", "h", opWrite, topic, "app-1", true}, {"User:a", "h", opWrite, topic, "app-", true},
				{"User:a", "h", opWrite, topic, "app", false}, {"User:a", "h", opWrite, topic, "xapp-1", false},
				{"User:a", "h", opRead, group, "anything", true}, {"User:a", "h", opRead, topic, "anything", false},
			}},
		{"literal name is not a prefix", Config{},
			[]Binding{bind(topic, "app", lit, "User:a", "*", opWrite, allow)},
			[]q{{"User:a", "h", opWrite, topic, "app-1", false}, {"User:a", "h", opWrite, topic, "app", true}}},
		{"host", Config{},
			[]Binding{bind(topic, "t", lit, "User:a", "10.0.0.1", opRead, allow)},
			[]q{{"User:a", "10.0.0.1", opRead, topic, "t", true}, {"User:a", "10.0.0.2", opRead, topic, "t", false}}},
		{"DENY from one host only", Config{},
			[]Binding{bind(topic, "t", lit, "User:a", "*", opRead, allow), bind(topic, "t", lit, "User:a", "10.0.0.9", opRead, deny)},
			[]q{{"User:a", "10.0.0.1", opRead, topic, "t", true}, {"User:a", "10.0.0.9", opRead, topic, "t", false}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := newAuth(t, c.cfg, c.acls...)
			for _, q := range c.qs {
				if got := a.Authorize(q.principal, q.host, q.op, q.rt, q.name); got != q.want {
					t.Errorf("%s from %s %s %s:%s = %v, want %v", q.principal, q.host, q.op, q.rt, q.name, got, q.want)
				}
			}
		})
	}
}

func TestAuthorizeByResourceType(t *testing.T) {
	for _, c := range []struct {
		name string
		acls []Binding
		want bool
	}{
		{"none", nil, false},
		{"literal allow", []Binding{bind(topic, "t", lit, "User:a", "*", opWrite, allow)}, true},
		{"literal allow, same literal denied", []Binding{bind(topic, "t", lit, "User:a", "*", opWrite, allow), bind(topic, "t", lit, "User:a", "*", opWrite, deny)}, false},
		{"prefix allow dominated by shorter deny prefix", []Binding{bind(topic, "abc", pre, "User:a", "*", opWrite, allow), bind(topic, "ab", pre, "User:a", "*", opWrite, deny)}, false},
		{"prefix allow, longer deny prefix", []Binding{bind(topic, "ab", pre, "User:a", "*", opWrite, allow), bind(topic, "abc", pre, "User:a", "*", opWrite, deny)}, true},
		{"wildcard deny", []Binding{bind(topic, "t", lit, "User:a", "*", opWrite, allow), bind(topic, "*", lit, "User:*", "*", opWrite, deny)}, false},
		{"other operation", []Binding{bind(topic, "t", lit, "User:a", "*", opRead, allow)}, false},
		{"ALL", []Binding{bind(topic, "t", lit, "User:*", "*", kmsg.ACLOperationAll, allow)}, true},
	} {
		a := newAuth(t, Config{}, c.acls...)
		if got := a.AuthorizeByResourceType("User:a", "h", opWrite, topic); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func sp(s string) *string { return &s }

func TestFilterMatches(t *testing.T) {
	litT := bind(topic, "orders", lit, "User:a", "*", opRead, allow)
	preT := bind(topic, "ord", pre, "User:a", "*", opRead, allow)
	wild := bind(topic, "*", lit, "User:b", "*", opWrite, deny)
	grp := bind(group, "orders", lit, "User:a", "*", opRead, allow)
	all := []Binding{litT, preT, wild, grp}
	anyF := Filter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}
	for _, c := range []struct {
		name string
		f    func(f *Filter)
		want []Binding
	}{
		{"any", func(*Filter) {}, all},
		{"topic", func(f *Filter) { f.ResourceType = topic }, []Binding{litT, preT, wild}},
		{"ANY pattern with name: exact names only", func(f *Filter) { f.Name = sp("orders") }, []Binding{litT, grp}},
		{"MATCH: every ACL that applies to the name", func(f *Filter) {
			f.ResourceType = topic
			f.Name = sp("orders")
			f.PatternType = kmsg.ACLResourcePatternTypeMatch
		}, []Binding{litT, preT, wild}},
		{"PREFIXED with name", func(f *Filter) { f.Name = sp("ord"); f.PatternType = pre }, []Binding{preT}},
		{"LITERAL", func(f *Filter) { f.PatternType = lit }, []Binding{litT, wild, grp}},
		{"principal", func(f *Filter) { f.Principal = sp("User:b") }, []Binding{wild}},
		{"host", func(f *Filter) { f.Host = sp("10.0.0.1") }, nil},
		{"operation", func(f *Filter) { f.Operation = opWrite }, []Binding{wild}},
		{"permission", func(f *Filter) { f.Permission = allow }, []Binding{litT, preT, grp}},
	} {
		f := anyF
		c.f(&f)
		a := newAuth(t, Config{}, all...)
		got := a.ACLs(f)
		if len(got) != len(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	ok := bind(topic, "t", lit, "User:a", "*", opRead, allow)
	for _, c := range []struct {
		name string
		f    func(b *Binding)
	}{
		{"ANY resource type", func(b *Binding) { b.ResourceType = kmsg.ACLResourceTypeAny }},
		{"MATCH pattern", func(b *Binding) { b.PatternType = kmsg.ACLResourcePatternTypeMatch }},
		{"ANY operation", func(b *Binding) { b.Operation = kmsg.ACLOperationAny }},
		{"ANY permission", func(b *Binding) { b.Permission = kmsg.ACLPermissionTypeAny }},
		{"empty name", func(b *Binding) { b.Name = "" }},
		{"cluster not kafka-cluster", func(b *Binding) { b.ResourceType = kmsg.ACLResourceTypeCluster; b.Name = "c" }},
		{"principal without type", func(b *Binding) { b.Principal = "alice" }},
	} {
		b := ok
		c.f(&b)
		if err := b.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", c.name, err)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestStoreSurvivesReopen: created and deleted ACLs are on disk when the
// call returns, a duplicate is stored once, and a failed write changes
// nothing.
func TestStoreSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	a, err := Open(path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	b1 := bind(topic, "t", lit, "User:a", "*", opRead, allow)
	b2 := bind(group, "g", pre, "User:a", "*", opRead, allow)
	if _, err := a.Create([]Binding{b1, b2, b1}); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.ACLs(Filter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}); len(got) != 2 {
		t.Fatalf("reopened: %v, want 2 ACLs", got)
	}
	removed, errs, err := r.Delete([]Filter{{ResourceType: group, PatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}})
	if err != nil || errs[0] != nil || len(removed[0]) != 1 || removed[0][0] != b2 {
		t.Fatalf("delete: %v %v %v", removed, errs, err)
	}
	r2, err := Open(path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !r2.Authorize("User:a", "h", opRead, topic, "t") || r2.Authorize("User:a", "h", opRead, group, "g1") {
		t.Fatal("reopened after delete: wrong ACLs")
	}
	// The directory made read-only: the write fails and nothing changes.
	dir := filepath.Dir(path)
	if os.Geteuid() != 0 {
		os.Chmod(dir, 0o500)
		defer os.Chmod(dir, 0o700)
		if _, err := r2.Create([]Binding{b2}); err == nil {
			t.Fatal("create in a read-only directory succeeded")
		}
		if r2.Authorize("User:a", "h", opRead, group, "g1") {
			t.Fatal("a failed create was published")
		}
	}
	os.WriteFile(path, []byte("{garbage"), 0o600)
	if _, err := Open(path, Config{}); err == nil {
		t.Fatal("a damaged ACL file was accepted")
	}
}

// TestStoreWriteFailureChangesNothing: when the file cannot be written the
// change is refused whole and the ACLs in force stay those before it.
func TestStoreWriteFailureChangesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	a, err := Open(path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	b1 := bind(topic, "t", lit, "User:a", "*", opRead, allow)
	if _, err := a.Create([]Binding{b1}); err != nil {
		t.Fatal(err)
	}
	// The security directory replaced by a file: no temporary file can be
	// made beside acls.json.
	sec := filepath.Dir(path)
	if err := os.RemoveAll(sec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sec, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Create([]Binding{bind(group, "g", lit, "User:a", "*", opRead, allow)}); err == nil {
		t.Fatal("create succeeded without a place to store it")
	}
	if _, _, err := a.Delete([]Filter{{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}}); err == nil {
		t.Fatal("delete succeeded without a place to store it")
	}
	if !a.Authorize("User:a", "h", opRead, topic, "t") || a.Authorize("User:a", "h", opRead, group, "g") {
		t.Fatal("a change that was not stored is in force, or a stored ACL was lost")
	}
}

// TestDeleteBound: a filter matching more than MaxPerRequest ACLs removes
// none (Kafka's MAX_RECORDS_PER_USER_OP).
func TestDeleteBound(t *testing.T) {
	a, _ := Open("", Config{})
	bs := make([]Binding, MaxPerRequest+1)
	for i := range bs {
		bs[i] = bind(topic, "t"+string(rune('a'+i%26))+string(rune(i)), lit, "User:a", "*", opRead, allow)
	}
	if _, err := a.Create(bs); err != nil {
		t.Fatal(err)
	}
	anyF := Filter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}
	n := len(a.ACLs(anyF))
	removed, errs, err := a.Delete([]Filter{anyF})
	if err != nil || !errors.Is(errs[0], ErrInvalid) || len(removed[0]) != 0 {
		t.Fatalf("delete of %d ACLs: %v %v %d", n, err, errs, len(removed[0]))
	}
	if got := len(a.ACLs(anyF)); got != n {
		t.Fatalf("%d ACLs left of %d", got, n)
	}
}
