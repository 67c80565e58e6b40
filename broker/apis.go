package broker

import "github.com/twmb/franz-go/pkg/kmsg"

// handler serves one decoded request. An error closes the connection.
type handler func(r *request) (reply, error)

type apiDef struct {
	min, max int16
	// advertisedMin is the minimum version ApiVersions reports, when it must
	// differ from min (see Produce).
	advertisedMin int16
	fn            handler
}

// apis is every API the broker implements, registered by each API's file
// with the version range its code handles. ApiVersions is built from it,
// so the broker can never advertise a version nobody wrote.
var apis = map[int16]apiDef{}

func regKey(key, min, max int16, fn handler) {
	if _, dup := apis[key]; dup {
		panic("broker: API key registered twice: " + kmsg.NameForKey(key))
	}
	apis[key] = apiDef{min: min, max: max, advertisedMin: min, fn: fn}
}

// advertiseFrom makes ApiVersions report versions from min for key while
// requests below the key's real minimum are still refused.
func advertiseFrom(key, min int16) {
	a := apis[key]
	a.advertisedMin = min
	apis[key] = a
}
