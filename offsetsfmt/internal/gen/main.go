// Command gen generates Go codecs for Kafka's coordinator records from the
// message definitions Kafka ships (group-coordinator's
// common/message/*.json, in Kafka's own JSON schema language). It reads
// every *.json file of -in and writes one Go file, -out, in package -pkg.
//
//	go run ./internal/gen -in schema -out consumergroup_gen.go -pkg offsetsfmt
//
// The schema language is the one of Kafka's generator (generator/ in the
// Kafka tree): a message has an apiKey (the record type), a type
// (coordinator-key or coordinator-value), validVersions, flexibleVersions
// and fields; a field has a name, a type (int8/16/32/64, bool, float64,
// string, bytes, uuid, a struct name, or [] of any of those), versions,
// and optionally nullableVersions, taggedVersions with a tag, a default,
// and inline fields for struct types; commonStructs declare structs shared
// by several fields. Only what the coordinator records use is supported;
// anything else stops the generator with an error rather than producing a
// codec that would be silently wrong.
//
// The generated code calls a small hand-written reader and writer in the
// output package (wire.go): the generator emits only the per-field calls.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

type message struct {
	APIKey           int         `json:"apiKey"`
	Type             string      `json:"type"`
	Name             string      `json:"name"`
	ValidVersions    string      `json:"validVersions"`
	FlexibleVersions string      `json:"flexibleVersions"`
	Fields           []field     `json:"fields"`
	CommonStructs    []structDef `json:"commonStructs"`
}

type structDef struct {
	Name     string  `json:"name"`
	Versions string  `json:"versions"`
	Fields   []field `json:"fields"`
}

type field struct {
	Name             string          `json:"name"`
	Type             string          `json:"type"`
	Versions         string          `json:"versions"`
	NullableVersions string          `json:"nullableVersions"`
	TaggedVersions   string          `json:"taggedVersions"`
	Tag              *int            `json:"tag"`
	Default          json.RawMessage `json:"default"`
	Ignorable        bool            `json:"ignorable"`
	About            string          `json:"about"`
	Fields           []field         `json:"fields"`
}

// versions is an inclusive range; hi < 0 means open ("N+"), empty means
// "none".
type versions struct {
	lo, hi int
	none   bool
}

func parseVersions(s string) (versions, error) {
	switch {
	case s == "" || s == "none":
		return versions{none: true}, nil
	case strings.HasSuffix(s, "+"):
		n, err := strconv.Atoi(strings.TrimSuffix(s, "+"))
		return versions{lo: n, hi: -1}, err
	case strings.Contains(s, "-"):
		a, b, _ := strings.Cut(s, "-")
		lo, err1 := strconv.Atoi(a)
		hi, err2 := strconv.Atoi(b)
		if err1 != nil || err2 != nil {
			return versions{}, fmt.Errorf("bad versions %q", s)
		}
		return versions{lo: lo, hi: hi}, nil
	}
	n, err := strconv.Atoi(s)
	return versions{lo: n, hi: n}, err
}

// cond is the Go condition "version is in v" (over variable ver).
func (v versions) cond() string {
	switch {
	case v.none:
		return "false"
	case v.hi < 0 && v.lo == 0:
		return "true"
	case v.hi < 0:
		return fmt.Sprintf("ver >= %d", v.lo)
	case v.lo == v.hi:
		return fmt.Sprintf("ver == %d", v.lo)
	}
	return fmt.Sprintf("ver >= %d && ver <= %d", v.lo, v.hi)
}

type gen struct {
	buf     bytes.Buffer
	structs map[string]structDef // common structs of the current message
	emitted map[string]bool
	pending []pendingStruct
}

type pendingStruct struct {
	goName string
	fields []field
	about  string
}

func (g *gen) p(format string, args ...any) { fmt.Fprintf(&g.buf, format+"\n", args...) }

func main() {
	in := flag.String("in", "schema", "directory of Kafka message definitions (*.json)")
	out := flag.String("out", "", "Go file to write")
	pkg := flag.String("pkg", "offsetsfmt", "package of the generated file")
	flag.Parse()
	if err := run(*in, *out, *pkg); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(in, out, pkg string) error {
	files, err := filepath.Glob(filepath.Join(in, "*.json"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	var msgs []message
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var m message
		if err := json.Unmarshal(stripComments(b), &m); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if m.Type != "coordinator-key" && m.Type != "coordinator-value" {
			return fmt.Errorf("%s: type %q is not a coordinator record", f, m.Type)
		}
		if m.Type == "coordinator-value" {
			// A value's schema version is its Go field Version (as in
			// kmsg); a Kafka field of that name is VersionField.
			for i := range m.Fields {
				if m.Fields[i].Name == "Version" {
					m.Fields[i].Name = "VersionField"
				}
			}
		}
		msgs = append(msgs, m)
	}
	g := &gen{}
	g.p("// Code generated by offsetsfmt/internal/gen from Apache Kafka's message definitions in schema/; DO NOT EDIT.")
	g.p("")
	g.p("package %s", pkg)
	g.p("")
	g.p("import \"bytes\"")
	g.p("")
	g.p("var _ = bytes.Equal")
	g.p("")
	for _, m := range msgs {
		if err := g.message(m); err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
	}
	g.recordTypes(msgs)
	src, err := format.Source(g.buf.Bytes())
	if err != nil {
		os.Stderr.Write(g.buf.Bytes())
		return err
	}
	if out == "" {
		_, err = os.Stdout.Write(src)
		return err
	}
	return os.WriteFile(out, src, 0o644)
}

// stripComments removes the // line comments Kafka's definitions carry
// (the license header and notes between fields); JSON has none. A "//"
// inside a string would be kept: only text after whitespace at a line's
// start, or after a JSON token outside strings, is a comment.
func stripComments(b []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.Split(b, []byte("\n")) {
		inStr, esc := false, false
		cut := len(line)
		for i := 0; i < len(line); i++ {
			c := line[i]
			switch {
			case esc:
				esc = false
			case inStr && c == '\\':
				esc = true
			case c == '"':
				inStr = !inStr
			case !inStr && c == '/' && i+1 < len(line) && line[i+1] == '/':
				cut = i
				i = len(line)
			}
		}
		out.Write(line[:cut])
		out.WriteByte('\n')
	}
	return out.Bytes()
}

func (g *gen) message(m message) error {
	valid, err := parseVersions(m.ValidVersions)
	if err != nil || valid.none || valid.hi < 0 {
		return fmt.Errorf("validVersions %q: need a closed range", m.ValidVersions)
	}
	flex, err := parseVersions(m.FlexibleVersions)
	if err != nil {
		return err
	}
	g.structs = map[string]structDef{}
	g.emitted = map[string]bool{}
	for _, s := range m.CommonStructs {
		g.structs[s.Name] = s
	}
	isKey := m.Type == "coordinator-key"
	kind := "value"
	if isKey {
		kind = "key"
	}
	g.p("// %s is Kafka's %s record %s (record type %d, versions %s, flexible %s).", m.Name, kind, m.Name, m.APIKey, m.ValidVersions, m.FlexibleVersions)
	if isKey {
		g.p("// Its encoding starts with the record type as a big-endian int16 and")
		g.p("// has the fields of version %d after it.", valid.hi)
	} else {
		g.p("// Its encoding starts with Version as a big-endian int16.")
	}
	g.p("type %s struct {", m.Name)
	if !isKey {
		g.p("// Version is the schema version the value is encoded with.")
		g.p("Version int16")
	}
	if err := g.fieldsDecl(m.Name, m.Fields, !flex.none); err != nil {
		return err
	}
	g.p("}")
	g.p("")
	// Top-level entry points.
	g.p("// Default sets every field to its default from the definition.")
	g.p("func (v *%s) Default() {", m.Name)
	if !isKey {
		g.p("v.Version = %d", valid.hi)
	}
	g.p("v.defaults(%d)", valid.hi)
	g.p("}")
	g.p("")
	verExpr := "v.Version"
	if isKey {
		verExpr = strconv.Itoa(valid.hi)
	}
	g.p("// AppendTo appends the record's encoding to dst.")
	g.p("func (v *%s) AppendTo(dst []byte) []byte {", m.Name)
	if isKey {
		g.p("dst = appendInt16(dst, %d)", m.APIKey)
	} else {
		g.p("dst = appendInt16(dst, v.Version)")
	}
	g.p("return v.appendTo(dst, %s)", verExpr)
	g.p("}")
	g.p("")
	g.p("// ReadFrom decodes src, which must hold exactly one encoded record.")
	g.p("func (v *%s) ReadFrom(src []byte) error {", m.Name)
	g.p("r := reader{b: src}")
	g.p("ver := r.int16()")
	g.p("if r.err != nil { return r.fail(%q) }", m.Name)
	if isKey {
		g.p("if ver != %d { return errRecordType(%q, ver, %d) }", m.APIKey, m.Name, m.APIKey)
		g.p("ver = %d", valid.hi)
	} else {
		g.p("if !(%s) { return errVersion(%q, ver) }", valid.cond(), m.Name)
		g.p("v.Version = ver")
	}
	g.p("v.readFrom(&r, ver)")
	g.p("return r.done(%q)", m.Name)
	g.p("}")
	g.p("")
	if err := g.structBody(m.Name, m.Fields, flex); err != nil {
		return err
	}
	for len(g.pending) > 0 {
		ps := g.pending[0]
		g.pending = g.pending[1:]
		g.p("// %s is a struct of %s.", ps.goName, m.Name)
		if ps.about != "" {
			g.p("// %s", ps.about)
		}
		g.p("type %s struct {", ps.goName)
		if err := g.fieldsDecl(ps.goName, ps.fields, !flex.none); err != nil {
			return err
		}
		g.p("}")
		g.p("")
		if err := g.structBody(ps.goName, ps.fields, flex); err != nil {
			return err
		}
	}
	return nil
}

// typeInfo describes a field's type.
type typeInfo struct {
	array    bool
	elem     string // Kafka element type (int32, string, a struct name, ...)
	isStruct bool
}

var primitives = map[string]string{
	"bool": "bool", "int8": "int8", "int16": "int16", "int32": "int32",
	"int64": "int64", "float64": "float64", "string": "string",
	"bytes": "[]byte", "uuid": "[16]byte",
}

func parseType(t string) typeInfo {
	ti := typeInfo{elem: t}
	if strings.HasPrefix(t, "[]") {
		ti.array, ti.elem = true, t[2:]
	}
	_, prim := primitives[ti.elem]
	ti.isStruct = !prim
	return ti
}

// structName is the Go name of a struct-typed field's struct: common
// structs and inline ones are named after their owner, as kmsg does.
func (g *gen) structName(owner string, f field) (string, error) {
	ti := parseType(f.Type)
	if common, ok := g.structs[ti.elem]; ok {
		name := g.topName(owner) + ti.elem
		if !g.emitted[name] {
			g.emitted[name] = true
			g.pending = append(g.pending, pendingStruct{goName: name, fields: common.Fields})
		}
		return name, nil
	}
	if len(f.Fields) == 0 {
		return "", fmt.Errorf("field %s: struct type %s has no fields and is no common struct", f.Name, ti.elem)
	}
	name := owner + ti.elem
	if !g.emitted[name] {
		g.emitted[name] = true
		g.pending = append(g.pending, pendingStruct{goName: name, fields: f.Fields, about: f.About})
	}
	return name, nil
}

// topName is the message name an owner's name starts with (common structs
// are named after the message, not the nested struct using them).
func (g *gen) topName(owner string) string {
	for _, suffix := range []string{"Key", "Value"} {
		if i := strings.Index(owner, suffix); i >= 0 {
			return owner[:i+len(suffix)]
		}
	}
	return owner
}

func nullableAny(f field) bool {
	v, _ := parseVersions(f.NullableVersions)
	return !v.none
}

func (g *gen) goType(owner string, f field) (string, error) {
	ti := parseType(f.Type)
	var elem string
	if ti.isStruct {
		n, err := g.structName(owner, f)
		if err != nil {
			return "", err
		}
		elem = n
	} else {
		elem = primitives[ti.elem]
	}
	if ti.array {
		return "[]" + elem, nil
	}
	if nullableAny(f) && (ti.elem == "string" || ti.isStruct) {
		return "*" + elem, nil
	}
	return elem, nil
}

func (g *gen) fieldsDecl(owner string, fields []field, flexible bool) error {
	for _, f := range fields {
		t, err := g.goType(owner, f)
		if err != nil {
			return err
		}
		if f.About != "" {
			g.p("// %s", f.About)
		}
		if f.TaggedVersions != "" {
			g.p("// Tagged field %d (versions %s).", *f.Tag, f.TaggedVersions)
		}
		if nullableAny(f) {
			g.p("// Nullable in versions %s (nil).", f.NullableVersions)
		}
		g.p("%s %s", f.Name, t)
		g.p("")
	}
	if flexible {
		g.p("// UnknownTags are tagged fields this definition does not know, kept")
		g.p("// so that re-encoding a record loses nothing.")
		g.p("UnknownTags []RawTag")
	}
	return nil
}

// defaultLit is the Go expression of a field's default, or "" for the
// type's zero value.
func defaultLit(f field) (string, error) {
	if len(f.Default) == 0 || string(f.Default) == "null" {
		return "", nil
	}
	var s any
	if err := json.Unmarshal(f.Default, &s); err != nil {
		return "", err
	}
	switch d := s.(type) {
	case float64:
		return strconv.FormatFloat(d, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(d), nil
	case string:
		if d == "" {
			return "", nil
		}
		if _, err := strconv.ParseInt(d, 0, 64); err == nil {
			return d, nil
		}
		if f.Type == "string" {
			return strconv.Quote(d), nil
		}
	}
	return "", fmt.Errorf("field %s: unsupported default %s", f.Name, f.Default)
}

func (g *gen) structBody(goName string, fields []field, flex versions) error {
	// defaults
	g.p("func (v *%s) defaults(ver int16) {", goName)
	g.p("_ = ver")
	for _, f := range fields {
		lit, err := defaultLit(f)
		if err != nil {
			return err
		}
		t, _ := g.goType(goName, f)
		switch {
		case lit != "" && strings.HasPrefix(t, "*"):
			return fmt.Errorf("field %s: non-null default of a nullable field", f.Name)
		case lit != "":
			g.p("v.%s = %s", f.Name, lit)
		default:
			var zero string
			switch {
			case strings.HasPrefix(t, "*") || strings.HasPrefix(t, "[]"):
				zero = "nil"
			case t == "string":
				zero = `""`
			case t == "bool":
				zero = "false"
			case t == "[16]byte":
				zero = "[16]byte{}"
			case primitives[f.Type] != "":
				zero = "0"
			default:
				zero = t + "{}"
			}
			g.p("v.%s = %s", f.Name, zero)
			ti := parseType(f.Type)
			if ti.isStruct && !ti.array && !strings.HasPrefix(t, "*") {
				g.p("v.%s.defaults(ver)", f.Name)
			}
		}
	}
	if !flex.none {
		g.p("v.UnknownTags = nil")
	}
	g.p("}")
	g.p("")

	// append
	g.p("func (v *%s) appendTo(dst []byte, ver int16) []byte {", goName)
	g.p("flexible := %s", flex.cond())
	g.p("_ = flexible")
	var tagged []field
	for _, f := range fields {
		fv, err := parseVersions(f.Versions)
		if err != nil {
			return err
		}
		if f.TaggedVersions != "" {
			tv, _ := parseVersions(f.TaggedVersions)
			if f.Tag == nil {
				return fmt.Errorf("field %s: taggedVersions without tag", f.Name)
			}
			if tv != fv {
				return fmt.Errorf("field %s: taggedVersions %s differ from versions %s", f.Name, f.TaggedVersions, f.Versions)
			}
			tagged = append(tagged, f)
			continue
		}
		g.p("if %s {", fv.cond())
		if err := g.writeField(goName, f, "v."+f.Name, "dst"); err != nil {
			return err
		}
		g.p("}")
	}
	if !flex.none {
		sort.Slice(tagged, func(i, j int) bool { return *tagged[i].Tag < *tagged[j].Tag })
		g.p("if flexible {")
		g.p("var tags []RawTag")
		for _, f := range tagged {
			fv, _ := parseVersions(f.Versions)
			nonDefault, err := g.nonDefault(goName, f)
			if err != nil {
				return err
			}
			g.p("if (%s) && %s {", fv.cond(), nonDefault)
			g.p("var b []byte")
			if ti := parseType(f.Type); ti.isStruct && !ti.array {
				// A struct in a tagged field has a varint presence marker:
				// 0 for null, 1 before the struct (Kafka's generator).
				g.p("if v.%s == nil { b = append(b, 0) } else { b = append(b, 1); b = v.%s.appendTo(b, ver) }", f.Name, f.Name)
			} else if err := g.writeField(goName, f, "v."+f.Name, "b"); err != nil {
				return err
			}
			g.p("tags = append(tags, RawTag{Tag: %d, Data: b})", *f.Tag)
			g.p("}")
		}
		g.p("dst = appendTags(dst, tags, v.UnknownTags)")
		g.p("}")
	} else if len(tagged) > 0 {
		return fmt.Errorf("tagged fields in a message without flexible versions")
	}
	g.p("return dst")
	g.p("}")
	g.p("")

	// read
	g.p("func (v *%s) readFrom(r *reader, ver int16) {", goName)
	g.p("v.defaults(ver)")
	g.p("flexible := %s", flex.cond())
	g.p("_ = flexible")
	for _, f := range fields {
		if f.TaggedVersions != "" {
			continue
		}
		fv, _ := parseVersions(f.Versions)
		g.p("if %s {", fv.cond())
		if err := g.readField(goName, f, "v."+f.Name, "r"); err != nil {
			return err
		}
		g.p("}")
	}
	if !flex.none {
		g.p("if flexible {")
		g.p("r.tags(func(tag uint32, tr *reader) bool {")
		g.p("switch tag {")
		for _, f := range tagged {
			fv, _ := parseVersions(f.Versions)
			g.p("case %d:", *f.Tag)
			g.p("if !(%s) { return false }", fv.cond())
			if ti := parseType(f.Type); ti.isStruct && !ti.array {
				name, err := g.structName(goName, f)
				if err != nil {
					return err
				}
				g.p("switch tr.uvarint() {")
				g.p("case 0: v.%s = nil", f.Name)
				g.p("case 1: s := new(%s); s.readFrom(tr, ver); v.%s = s", name, f.Name)
				g.p("default: tr.setErr(%q)", "bad presence marker of "+f.Name)
				g.p("}")
			} else if err := g.readField(goName, f, "v."+f.Name, "tr"); err != nil {
				return err
			}
			g.p("return true")
		}
		g.p("}")
		g.p("return false")
		g.p("}, &v.UnknownTags)")
		g.p("}")
	}
	g.p("}")
	g.p("")
	return nil
}

// nonDefault is the condition under which a tagged field is written:
// Kafka writes a tagged field only when it differs from its default.
func (g *gen) nonDefault(owner string, f field) (string, error) {
	t, _ := g.goType(owner, f)
	lit, err := defaultLit(f)
	if err != nil {
		return "", err
	}
	switch {
	case strings.HasPrefix(t, "*") && parseType(f.Type).isStruct:
		// Kafka writes a tagged struct unless it equals an empty struct of
		// its type (its defaults), so a null one is written, as a null
		// marker; compare encodings to decide as Kafka's equals does.
		name := strings.TrimPrefix(t, "*")
		return fmt.Sprintf("(v.%s == nil || !bytes.Equal(v.%s.appendTo(nil, ver), func() []byte { var d %s; d.defaults(ver); return d.appendTo(nil, ver) }()))", f.Name, f.Name, name), nil
	case strings.HasPrefix(t, "*"):
		return "v." + f.Name + " != nil", nil
	case strings.HasPrefix(t, "[]"):
		if nullableAny(f) {
			return "v." + f.Name + " != nil", nil
		}
		return "len(v." + f.Name + ") != 0", nil
	case t == "string":
		if lit == "" {
			lit = `""`
		}
		return "v." + f.Name + " != " + lit, nil
	case t == "bool":
		if lit == "" {
			lit = "false"
		}
		return "v." + f.Name + " != " + lit, nil
	case primitives[f.Type] != "" && t != "[16]byte":
		if lit == "" {
			lit = "0"
		}
		return "v." + f.Name + " != " + lit, nil
	}
	return "", fmt.Errorf("field %s: tagged field of type %s is not supported", f.Name, f.Type)
}

// nullCond is the Go condition "the field may be null at ver".
func nullCond(f field) string {
	v, _ := parseVersions(f.NullableVersions)
	return v.cond()
}

func (g *gen) writeField(owner string, f field, expr, dst string) error {
	ti := parseType(f.Type)
	nullable := nullableAny(f)
	if ti.array {
		g.p("if %s == nil && (%s) {", expr, nullCond(f))
		g.p("%s = appendArrayLen(%s, -1, flexible)", dst, dst)
		g.p("} else {")
		g.p("%s = appendArrayLen(%s, len(%s), flexible)", dst, dst, expr)
		g.p("for i := range %s {", expr)
		if err := g.writeElem(owner, f, ti, expr+"[i]", dst); err != nil {
			return err
		}
		g.p("}")
		g.p("}")
		return nil
	}
	if ti.isStruct {
		if nullable {
			// Nullable structs are written with a presence byte (-1 null,
			// 1 present), as Kafka's generator does.
			g.p("if %s == nil {", expr)
			g.p("%s = append(%s, 0xff)", dst, dst)
			g.p("} else {")
			g.p("%s = append(%s, 1)", dst, dst)
			g.p("%s = %s.appendTo(%s, ver)", dst, expr, dst)
			g.p("}")
			return nil
		}
		g.p("%s = %s.appendTo(%s, ver)", dst, expr, dst)
		return nil
	}
	switch ti.elem {
	case "string":
		if nullable {
			g.p("%s = appendNullableString(%s, %s, flexible)", dst, dst, expr)
		} else {
			g.p("%s = appendString(%s, %s, flexible)", dst, dst, expr)
		}
	case "bytes":
		g.p("%s = appendBytes(%s, %s, %s && (%s), flexible)", dst, dst, expr, expr+" == nil", nullCond(f))
	default:
		return g.writeElem(owner, f, ti, expr, dst)
	}
	return nil
}

func (g *gen) writeElem(owner string, f field, ti typeInfo, expr, dst string) error {
	if ti.isStruct {
		g.p("%s = %s.appendTo(%s, ver)", dst, expr, dst)
		return nil
	}
	switch ti.elem {
	case "bool":
		g.p("%s = appendBool(%s, %s)", dst, dst, expr)
	case "int8":
		g.p("%s = append(%s, byte(%s))", dst, dst, expr)
	case "int16":
		g.p("%s = appendInt16(%s, %s)", dst, dst, expr)
	case "int32":
		g.p("%s = appendInt32(%s, %s)", dst, dst, expr)
	case "int64":
		g.p("%s = appendInt64(%s, %s)", dst, dst, expr)
	case "float64":
		g.p("%s = appendFloat64(%s, %s)", dst, dst, expr)
	case "uuid":
		g.p("%s = append(%s, %s[:]...)", dst, dst, expr)
	case "string":
		g.p("%s = appendString(%s, %s, flexible)", dst, dst, expr)
	case "bytes":
		g.p("%s = appendBytes(%s, %s, false, flexible)", dst, dst, expr)
	default:
		return fmt.Errorf("field %s: type %s not supported", f.Name, f.Type)
	}
	return nil
}

// minSize is the fewest bytes one element of an array takes, so an array
// length can be checked against what is left before allocating.
func minSize(ti typeInfo) int {
	switch ti.elem {
	case "bool", "int8":
		return 1
	case "int16":
		return 2
	case "int32":
		return 4
	case "int64", "float64":
		return 8
	case "uuid":
		return 16
	}
	return 1
}

func (g *gen) readField(owner string, f field, expr, r string) error {
	ti := parseType(f.Type)
	nullable := nullableAny(f)
	if ti.array {
		t, err := g.goType(owner, f)
		if err != nil {
			return err
		}
		g.p("if n, null := %s.arrayLen(flexible, %d); null {", r, minSize(ti))
		g.p("if !(%s) { %s.setErr(%q) }", nullCond(f), r, "null "+f.Name)
		g.p("%s = nil", expr)
		g.p("} else {")
		g.p("a := make(%s, n)", t)
		g.p("for i := range a {")
		if err := g.readElem(owner, f, ti, "a[i]", r); err != nil {
			return err
		}
		g.p("}")
		g.p("%s = a", expr)
		g.p("}")
		return nil
	}
	if ti.isStruct {
		name, err := g.structName(owner, f)
		if err != nil {
			return err
		}
		if nullable {
			g.p("if %s.int8() < 0 {", r)
			g.p("%s = nil", expr)
			g.p("} else {")
			g.p("s := new(%s)", name)
			g.p("s.readFrom(%s, ver)", r)
			g.p("%s = s", expr)
			g.p("}")
			return nil
		}
		g.p("%s.readFrom(%s, ver)", expr, r)
		return nil
	}
	switch ti.elem {
	case "string":
		if nullable {
			g.p("%s = %s.nullableString(flexible)", expr, r)
			g.p("if %s == nil && !(%s) { %s.setErr(%q) }", expr, nullCond(f), r, "null "+f.Name)
		} else {
			g.p("%s = %s.string(flexible)", expr, r)
		}
	case "bytes":
		g.p("%s = %s.bytes(flexible)", expr, r)
		if nullable {
			g.p("if %s == nil && !(%s) { %s.setErr(%q) }", expr, nullCond(f), r, "null "+f.Name)
		}
	default:
		return g.readElem(owner, f, ti, expr, r)
	}
	return nil
}

func (g *gen) readElem(owner string, f field, ti typeInfo, expr, r string) error {
	if ti.isStruct {
		g.p("%s.readFrom(%s, ver)", expr, r)
		return nil
	}
	switch ti.elem {
	case "bool":
		g.p("%s = %s.bool()", expr, r)
	case "int8":
		g.p("%s = %s.int8()", expr, r)
	case "int16":
		g.p("%s = %s.int16()", expr, r)
	case "int32":
		g.p("%s = %s.int32()", expr, r)
	case "int64":
		g.p("%s = %s.int64()", expr, r)
	case "float64":
		g.p("%s = %s.float64()", expr, r)
	case "uuid":
		g.p("%s = %s.uuid()", expr, r)
	case "string":
		g.p("%s = %s.string(flexible)", expr, r)
	case "bytes":
		g.p("%s = %s.bytes(flexible)", expr, r)
		g.p("if %s == nil { %s.setErr(%q) }", expr, r, "null element of "+f.Name)
	default:
		return fmt.Errorf("field %s: type %s not supported", f.Name, f.Type)
	}
	return nil
}

// recordTypes emits the table of record types: which key and value types
// each record type number has.
func (g *gen) recordTypes(msgs []message) {
	type pair struct{ key, value string }
	byType := map[int]*pair{}
	var keys []int
	for _, m := range msgs {
		p := byType[m.APIKey]
		if p == nil {
			p = &pair{}
			byType[m.APIKey] = p
			keys = append(keys, m.APIKey)
		}
		if m.Type == "coordinator-key" {
			p.key = m.Name
		} else {
			p.value = m.Name
		}
	}
	sort.Ints(keys)
	g.p("// Record types (the int16 a key starts with) of the generated records.")
	g.p("const (")
	for _, k := range keys {
		g.p("RecordType%s int16 = %d", strings.TrimSuffix(byType[k].key, "Key"), k)
	}
	g.p(")")
	g.p("")
	g.p("// newGeneratedKey returns an empty key of record type t, or nil.")
	g.p("func newGeneratedKey(t int16) generatedRecord {")
	g.p("switch t {")
	for _, k := range keys {
		if byType[k].key != "" {
			g.p("case %d: return new(%s)", k, byType[k].key)
		}
	}
	g.p("}")
	g.p("return nil")
	g.p("}")
	g.p("")
	g.p("// newGeneratedValue returns an empty value of record type t, or nil.")
	g.p("func newGeneratedValue(t int16) generatedRecord {")
	g.p("switch t {")
	for _, k := range keys {
		if byType[k].value != "" {
			g.p("case %d: return new(%s)", k, byType[k].value)
		}
	}
	g.p("}")
	g.p("return nil")
	g.p("}")
}
