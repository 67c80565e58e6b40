package offsettool

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// isoDuration is java.time.Duration's text form, which
// kafka-consumer-groups.sh --by-duration takes: PnDTnHnMn.nS, each part
// optional but one, an optional sign in front, days the largest unit.
var isoDuration = regexp.MustCompile(`^([-+]?)P(?:([-+]?[0-9]+)D)?(T(?:([-+]?[0-9]+)H)?(?:([-+]?[0-9]+)M)?(?:([-+]?[0-9]+)(?:[.,]([0-9]{0,9}))?S)?)?$`)

// ParseDuration reads a duration as Go writes it (90m, 1h30m, 36h) or as
// ISO 8601 / java.time.Duration does (PT3H, P1DT2H, PT0.5S), so
// kafka-consumer-groups.sh users' --by-duration values work unchanged.
func ParseDuration(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	m := isoDuration.FindStringSubmatch(strings.ToUpper(s))
	if m == nil || (m[2] == "" && m[3] == "") || m[3] == "T" {
		return 0, fmt.Errorf("%q is not a duration: write 90m or 1h30m (Go), or PT90M or P1DT2H (ISO 8601, as kafka-consumer-groups.sh)", s)
	}
	var total float64
	for i, unit := range map[int]time.Duration{2: 24 * time.Hour, 4: time.Hour, 5: time.Minute, 6: time.Second} {
		if m[i] == "" {
			continue
		}
		n, err := strconv.ParseInt(m[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q: %v", s, err)
		}
		total += float64(n) * float64(unit)
	}
	if m[7] != "" {
		frac, _ := strconv.ParseFloat("0."+m[7], 64)
		if strings.HasPrefix(m[6], "-") {
			frac = -frac
		}
		total += frac * float64(time.Second)
	}
	if m[1] == "-" {
		total = -total
	}
	if math.Abs(total) > math.MaxInt64 {
		return 0, fmt.Errorf("%q is longer than %s", s, time.Duration(math.MaxInt64))
	}
	return time.Duration(total), nil
}
