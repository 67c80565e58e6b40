package acl

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// MaxPerRequest is the most ACLs one CreateAcls or DeleteAcls filter may
// add or remove, Kafka's MAX_RECORDS_PER_USER_OP.
const MaxPerRequest = 10000

// Config is an Authorizer's static configuration.
type Config struct {
	// SuperUsers are principals ("User:admin") allowed everything
	// (super.users).
	SuperUsers []string
	// AllowIfNoACL allows an operation on a resource no ACL matches
	// (allow.everyone.if.no.acl.found).
	AllowIfNoACL bool
}

// Authorizer holds the ACLs and answers authorization questions. Reads
// take no lock: they use the published snapshot, replaced whole (after it
// is on disk) by each change.
type Authorizer struct {
	cfg   Config
	super map[string]bool
	path  string // "" = in memory only (tests)

	mu  sync.Mutex // serializes changes: read, write the file, publish
	cur atomic.Pointer[snapshot]
}

// snapshot is an immutable set of ACLs with its index.
type snapshot struct {
	gen uint64 // one more at each change
	all []Binding
	// byType: per resource type, the LITERAL ACLs by name (the wildcard
	// under "*") and the PREFIXED ones.
	byType map[kmsg.ACLResourceType]*typeIndex
}

type typeIndex struct {
	literal  map[string][]*Binding
	prefixed []*Binding
}

func newSnapshot(all []Binding) *snapshot {
	s := &snapshot{all: all, byType: map[kmsg.ACLResourceType]*typeIndex{}}
	for i := range s.all {
		b := &s.all[i]
		ti := s.byType[b.ResourceType]
		if ti == nil {
			ti = &typeIndex{literal: map[string][]*Binding{}}
			s.byType[b.ResourceType] = ti
		}
		if b.PatternType == kmsg.ACLResourcePatternTypePrefixed {
			ti.prefixed = append(ti.prefixed, b)
		} else {
			ti.literal[b.Name] = append(ti.literal[b.Name], b)
		}
	}
	return s
}

// Open loads the ACLs stored at path (none if the file does not exist).
// An empty path keeps them in memory only.
func Open(path string, cfg Config) (*Authorizer, error) {
	a := &Authorizer{cfg: cfg, super: map[string]bool{}, path: path}
	for _, u := range cfg.SuperUsers {
		a.super[u] = true
	}
	var all []Binding
	if path != "" {
		var err error
		if all, err = readFile(path); err != nil {
			return nil, err
		}
	}
	s := newSnapshot(all)
	// Generations of different runs differ: a regex resolution stored
	// under one run's ACLs is never taken for another's.
	s.gen = uint64(time.Now().UnixNano())
	a.cur.Store(s)
	return a, nil
}

// Authorize reports whether principal, connected from host (the client's
// IP address), may do op on the resource of type rt named name.
func (a *Authorizer) Authorize(principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	if a.super[principal] {
		return true
	}
	ti := a.cur.Load().byType[rt]
	if ti == nil {
		return a.cfg.AllowIfNoACL
	}
	found, allow := false, false
	check := func(acls []*Binding) bool { // false: denied
		for _, b := range acls {
			found = true
			switch applies(b, principal, host, op) {
			case -1:
				return false
			case 1:
				allow = true
			}
		}
		return true
	}
	if !check(ti.literal[name]) || !check(ti.literal[Wildcard]) {
		return false
	}
	for _, b := range ti.prefixed {
		if strings.HasPrefix(name, b.Name) && !check([]*Binding{b}) {
			return false
		}
	}
	if allow {
		return true
	}
	return !found && a.cfg.AllowIfNoACL
}

// AuthorizeByResourceType reports whether principal may do op on at least
// one resource of type rt, as Kafka's Authorizer.authorizeByResourceType
// (used for the idempotent producer's WRITE on any topic): some ALLOW
// pattern that no DENY literal of the same name or DENY prefix of it
// covers.
func (a *Authorizer) AuthorizeByResourceType(principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType) bool {
	// A name no ACL will have: super users, and allow.everyone.if.no.acl.found
	// where the type has no ACL at all.
	if a.Authorize(principal, host, op, rt, "hardcode") {
		return true
	}
	denyLit, denyPre := map[string]bool{}, map[string]bool{}
	var allowLit, allowPre []string
	for _, b := range a.cur.Load().all {
		if b.ResourceType != rt || (b.Host != host && b.Host != Wildcard) ||
			(b.Principal != principal && b.Principal != WildcardPrincipal) ||
			(b.Operation != op && b.Operation != kmsg.ACLOperationAll) {
			continue
		}
		lit := b.PatternType == kmsg.ACLResourcePatternTypeLiteral
		if b.Permission == kmsg.ACLPermissionTypeDeny {
			if lit && b.Name == Wildcard {
				return false
			}
			if lit {
				denyLit[b.Name] = true
			} else {
				denyPre[b.Name] = true
			}
			continue
		}
		if lit && b.Name == Wildcard {
			return true
		}
		if lit {
			allowLit = append(allowLit, b.Name)
		} else {
			allowPre = append(allowPre, b.Name)
		}
	}
	dominated := func(name string) bool {
		for i := 1; i <= len(name); i++ {
			if denyPre[name[:i]] {
				return true
			}
		}
		return false
	}
	for _, n := range allowLit {
		if !denyLit[n] && !dominated(n) {
			return true
		}
	}
	for _, n := range allowPre {
		if !dominated(n) {
			return true
		}
	}
	return false
}

// ACLs returns the ACLs f matches.
func (a *Authorizer) ACLs(f Filter) []Binding {
	var out []Binding
	for _, b := range a.cur.Load().all {
		if f.Matches(b) {
			out = append(out, b)
		}
	}
	return out
}

// Create adds ACLs, stored before it returns; an ACL already there is not
// added twice. It returns an error per binding (nil: created or present),
// and a non-nil error when the store could not be written (then nothing
// changed).
func (a *Authorizer) Create(bs []Binding) ([]error, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.cur.Load().all
	next := slices.Clone(cur)
	errs := make([]error, len(bs))
	for i, b := range bs {
		if errs[i] = b.Validate(); errs[i] != nil {
			continue
		}
		if !slices.Contains(next, b) {
			next = append(next, b)
		}
	}
	if len(next) == len(cur) {
		return errs, nil
	}
	if err := a.store(next); err != nil {
		return nil, err
	}
	return errs, nil
}

// Delete removes the ACLs each filter matches, stored before it returns.
// It returns per filter the ACLs removed or an error (an invalid filter,
// or one matching more than MaxPerRequest ACLs), and a non-nil error when
// the store could not be written (then nothing changed).
func (a *Authorizer) Delete(fs []Filter) ([][]Binding, []error, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.cur.Load().all
	gone := make([]bool, len(cur))
	removed := make([][]Binding, len(fs))
	errs := make([]error, len(fs))
	any := false
	for i, f := range fs {
		if errs[i] = f.Validate(); errs[i] != nil {
			continue
		}
		var idx []int
		for j, b := range cur {
			if f.Matches(b) {
				idx = append(idx, j)
			}
		}
		if len(idx) > MaxPerRequest {
			errs[i] = invalid("Cannot remove more than %d acls in a single delete operation.", MaxPerRequest)
			continue
		}
		for _, j := range idx {
			removed[i] = append(removed[i], cur[j])
			any = any || !gone[j]
			gone[j] = true
		}
	}
	if !any {
		return removed, errs, nil
	}
	var next []Binding
	for j, b := range cur {
		if !gone[j] {
			next = append(next, b)
		}
	}
	if err := a.store(next); err != nil {
		return nil, nil, err
	}
	return removed, errs, nil
}

// store writes next and publishes it (a.mu held: only ACL changes wait
// for this fsync, never an authorization).
func (a *Authorizer) store(next []Binding) error {
	if a.path != "" {
		if err := writeFile(a.path, next); err != nil {
			return err
		}
	}
	s := newSnapshot(next)
	s.gen = a.cur.Load().gen + 1
	a.cur.Store(s)
	return nil
}

// Generation changes whenever the ACLs do, so that what was decided by
// them (a regex subscription's topics) can be decided again.
func (a *Authorizer) Generation() uint64 { return a.cur.Load().gen }
