package broker

import (
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// raceBuild reports whether the test binary has the race detector, whose
// shadow memory changes what allocations weigh.
func raceBuild() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// TestDecodeAmplificationAllAPIs checks decodeAmplification, the factor
// decoding is charged (decodemem.go), against every API the broker serves
// at its newest version: for every array of the request (nested ones up to
// three levels, their parents holding one element), a request whose array
// holds many zero elements, and the same with an unknown tagged field in
// each element where the version has tags, is encoded and decoded by
// kmsg, and what the decode allocates is divided by the body's size. The
// worst of every API must not exceed decodeAmplification. Produce is
// measured too, but charged its frame only (decodemem.go says why).
func TestDecodeAmplificationAllAPIs(t *testing.T) {
	if raceBuild() {
		t.Skip("the race detector changes what allocations weigh")
	}
	keys := make([]int16, 0, len(apis))
	for k := range apis {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	overall := 0.0
	for _, key := range keys {
		ver := apis[key].max
		typ := reflect.TypeOf(kmsg.RequestForKey(key)).Elem()
		worst, worstShape := 0.0, ""
		for _, path := range arrayPaths(typ, nil, 0) {
			for _, tag := range []bool{false, true} {
				req := reflect.New(typ)
				if !fillArray(req.Elem(), path, 50_000, tag) && tag {
					continue // no tags in these elements
				}
				kr := req.Interface().(kmsg.Request)
				kr.SetVersion(ver)
				body := kr.AppendTo(nil)
				amp, err := decodeAlloc(key, ver, body)
				if err != nil {
					t.Errorf("%s v%d %v: %v", kmsg.NameForKey(key), ver, fieldNames(typ, path), err)
					continue
				}
				if amp > worst {
					worst = amp
					worstShape = fieldNames(typ, path)
					if tag {
						worstShape += " (unknown tag each)"
					}
				}
			}
		}
		overall = max(overall, worst)
		charged := "charged"
		if decodeCharge(key, decodeThreshold+1) == decodeThreshold+1 {
			charged = "not charged"
		}
		t.Logf("%-28s v%-2d worst %5.1f× %s: %s", kmsg.NameForKey(key), ver, worst, charged, worstShape)
		if worst > decodeAmplification {
			t.Errorf("%s v%d: decoding %s takes %.1f times its size, above the %d charged", kmsg.NameForKey(key), ver, worstShape, worst, decodeAmplification)
		}
	}
	t.Logf("worst of all APIs: %.1f× (charged %d×, plus the frame)", overall, decodeAmplification)
}

// decodeAlloc decodes body as a request of key at ver and returns the
// bytes allocated per body byte, with the collector off.
func decodeAlloc(key, ver int16, body []byte) (float64, error) {
	dec := kmsg.RequestForKey(key)
	dec.SetVersion(ver)
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := dec.ReadFrom(body)
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(dec)
	return float64(after.TotalAlloc-before.TotalAlloc) / float64(len(body)), err
}

// arrayPaths lists the slice fields reachable from struct type typ, each as
// the field indexes leading to it, through slices of structs up to three
// levels deep and through struct and pointer-to-struct fields.
func arrayPaths(typ reflect.Type, prefix []int, depth int) [][]int {
	var out [][]int
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		path := append(slices.Clone(prefix), i)
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.Uint8:
			out = append(out, path)
			if ft.Elem().Kind() == reflect.Struct && depth < 2 {
				out = append(out, arrayPaths(ft.Elem(), path, depth+1)...)
			}
		case ft.Kind() == reflect.Struct && ft != reflect.TypeFor[kmsg.Tags]():
			out = append(out, arrayPaths(ft, path, depth)...)
		case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct:
			out = append(out, arrayPaths(ft.Elem(), path, depth)...)
		}
	}
	return out
}

// fillArray makes the slice at path hold n zero elements (its parents one
// each), with an unknown tag in each element if tag; it reports whether
// the elements have tags.
func fillArray(v reflect.Value, path []int, n int, tag bool) bool {
	f := v.Field(path[0])
	switch f.Kind() {
	case reflect.Pointer:
		f.Set(reflect.New(f.Type().Elem()))
		f = f.Elem()
	case reflect.Slice:
		if len(path) > 1 {
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
			f = f.Index(0)
		}
	}
	if len(path) > 1 {
		return fillArray(f, path[1:], n, tag)
	}
	f.Set(reflect.MakeSlice(f.Type(), n, n))
	if f.Type().Elem().Kind() != reflect.Struct {
		return false
	}
	tags, ok := f.Type().Elem().FieldByName("UnknownTags")
	if !ok || tags.Type != reflect.TypeFor[kmsg.Tags]() {
		return false
	}
	if tag {
		for i := range n {
			f.Index(i).FieldByIndex(tags.Index).Addr().Interface().(*kmsg.Tags).Set(99, nil)
		}
	}
	return true
}

func fieldNames(typ reflect.Type, path []int) string {
	s := ""
	for _, i := range path {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		f := typ.Field(i)
		if s != "" {
			s += "."
		}
		s += f.Name
		typ = f.Type
	}
	return s
}
