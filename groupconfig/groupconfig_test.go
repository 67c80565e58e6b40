package groupconfig

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestValidate(t *testing.T) {
	b := DefaultBounds()
	for _, c := range []struct {
		cfgs map[string]string
		want string // "" valid
	}{
		{map[string]string{ShareAutoOffsetReset: "earliest"}, ""},
		{map[string]string{ShareAutoOffsetReset: "by_duration:P1DT2H"}, ""},
		{map[string]string{ShareAutoOffsetReset: "by_duration:-PT1H"}, "Invalid value by_duration:-PT1H for configuration share.auto.offset.reset: Invalid value `by_duration:-PT1H` for configuration share.auto.offset.reset. The value must be either 'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'."},
		{map[string]string{"nope": "1"}, "Unknown group config name: nope"},
		{map[string]string{consumerSession: "1000"}, "consumer.session.timeout.ms must be in the range 45000 to 60000 inclusive."},
		{map[string]string{consumerSession: "x"}, "Invalid value x for configuration consumer.session.timeout.ms: Not a number of type INT"},
		{map[string]string{consumerSession: "99999999999"}, "Invalid value 99999999999 for configuration consumer.session.timeout.ms: Not a number of type INT"},
		{map[string]string{ShareRecordLock: "10"}, "Invalid value 10 for configuration share.record.lock.duration.ms: Value must be at least 1000"},
		{map[string]string{ShareRecordLock: "10000"}, "share.record.lock.duration.ms must be in the range 15000 to 60000 inclusive."},
		{map[string]string{ShareIsolationLevel: "x"}, "Invalid value x for configuration share.isolation.level: String must be one of: read_committed, read_uncommitted"},
		{map[string]string{ShareRenewAck: "yes"}, "Invalid value yes for configuration share.renew.acknowledge.enable: Expected value to be either true or false"},
		{map[string]string{"streams.num.standby.replicas": "3"}, "streams.num.standby.replicas must be less than or equal to 2"},
		{map[string]string{"streams.task.offset.interval.ms": "100"}, "streams.task.offset.interval.ms must be greater than or equal to 15000"},
		{map[string]string{"streams.assignor.name": "x"}, "streams.assignor.name 'x' is not a registered task assignor. Registered assignors are: sticky."},
		{map[string]string{"errors.deadletterqueue.topic.name": "__x"}, "errors.deadletterqueue.topic.name: DLQ topic name must not start with '__'"},
		// A session above the broker's heartbeat passes; a heartbeat set
		// at or above a session does not.
		{map[string]string{consumerSession: "45000", consumerHeartbeat: "15000"}, ""},
		{map[string]string{shareHeartbeat: "15000", shareSession: "45000"}, ""},
	} {
		err := Validate(c.cfgs, b)
		got := ""
		if err != nil {
			got = err.Msg
			if err.Err != kerr.InvalidConfig {
				t.Errorf("%v: error %v, want INVALID_CONFIG", c.cfgs, err.Err)
			}
		}
		if got != c.want {
			t.Errorf("%v:\n got %q\nwant %q", c.cfgs, got, c.want)
		}
	}
	// With a broker whose heartbeat range reaches its session timeout.
	nb := DefaultBounds()
	nb.Ranges[consumerHeartbeat] = Range{1, 60000}
	if err := Validate(map[string]string{consumerHeartbeat: "45000"}, nb); err == nil || err.Msg != "consumer.session.timeout.ms must be greater than consumer.heartbeat.interval.ms" {
		t.Errorf("heartbeat at the session timeout: %v", err)
	}
}

func TestParseDuration(t *testing.T) {
	for s, want := range map[string]time.Duration{
		"PT1H": time.Hour, "P1D": 24 * time.Hour, "PT1.5S": 1500 * time.Millisecond, "P1DT2H3M4S": 26*time.Hour + 3*time.Minute + 4*time.Second,
		"pt10m": 10 * time.Minute, "-PT1M": -time.Minute,
	} {
		if got, ok := ParseDuration(s); !ok || got != want {
			t.Errorf("%s: %v %v, want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "P", "PT", "1h", "PT1H2", "P1W"} {
		if _, ok := ParseDuration(s); ok {
			t.Errorf("%q parsed", s)
		}
	}
}

func TestValuesClamp(t *testing.T) {
	s, err := Open("", DefaultBounds())
	if err != nil {
		t.Fatal(err)
	}
	if e := s.Set("g", map[string]string{ShareRecordLock: "20000"}, false); e != nil {
		t.Fatal(e)
	}
	v := s.Values("g")
	if got := v.Millis(ShareRecordLock); got != 20*time.Second {
		t.Errorf("lock %v", got)
	}
	if got := v.Int(ShareDeliveryCount); got != 5 {
		t.Errorf("delivery limit %d, want the broker's 5", got)
	}
	// A narrower broker bound later clamps the stored value.
	s.bounds.Ranges[ShareRecordLock] = Range{15000, 16000}
	if got := s.Values("g").Millis(ShareRecordLock); got != 16*time.Second {
		t.Errorf("clamped lock %v", got)
	}
}

func TestStore(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, DefaultBounds())
	if err != nil {
		t.Fatal(err)
	}
	if e := s.Set("", map[string]string{ShareAutoOffsetReset: "earliest"}, false); e == nil || e.Err != kerr.InvalidRequest {
		t.Errorf("empty name: %v", e)
	}
	if e := s.Set("g1", map[string]string{ShareAutoOffsetReset: "earliest"}, true); e != nil || s.Configs("g1") != nil {
		t.Errorf("validate only: %v, stored %v", e, s.Configs("g1"))
	}
	if e := s.Set("g1", map[string]string{ShareAutoOffsetReset: "earliest"}, false); e != nil {
		t.Fatal(e)
	}
	if e := s.Set("g2", map[string]string{consumerSession: "50000"}, false); e != nil {
		t.Fatal(e)
	}
	if e := s.Set("g3", map[string]string{consumerSession: "1"}, false); e == nil || s.Configs("g3") != nil {
		t.Errorf("invalid change stored: %v", e)
	}
	// Reopened: what was stored is there, and removing every config
	// removes the group.
	s, err = Open(dir, DefaultBounds())
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(s.Groups()); got != "[g1 g2]" {
		t.Fatalf("groups after reopen %s", got)
	}
	if s.Values("g1").Get(ShareAutoOffsetReset) != "earliest" {
		t.Errorf("g1 %v", s.Configs("g1"))
	}
	if e := s.Set("g1", nil, false); e != nil {
		t.Fatal(e)
	}
	s, _ = Open(dir, DefaultBounds())
	if got := fmt.Sprint(s.Groups()); got != "[g2]" {
		t.Errorf("groups after removing g1: %s", got)
	}
	// A value past MaxValueBytes, and a group past MaxGroups.
	long := make([]byte, MaxValueBytes+1)
	for i := range long {
		long[i] = 'a'
	}
	if e := s.Set("g4", map[string]string{"errors.deadletterqueue.topic.name": string(long)}, false); e == nil {
		t.Error("oversized value stored")
	}
	mem, _ := Open("", DefaultBounds())
	for i := 0; i < MaxGroups; i++ {
		mem.groups[fmt.Sprint("m", i)] = map[string]string{ShareAutoOffsetReset: "earliest"}
	}
	if e := mem.Set("one-more", map[string]string{ShareAutoOffsetReset: "earliest"}, false); e == nil || e.Err != kerr.PolicyViolation {
		t.Errorf("past MaxGroups: %v", e)
	}
	if e := mem.Set("m1", map[string]string{ShareAutoOffsetReset: "latest"}, false); e != nil {
		t.Errorf("changing a group at MaxGroups: %v", e)
	}
	// A corrupt file is an error at Open, not an empty store.
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, DefaultBounds()); err == nil {
		t.Error("corrupt file opened")
	}
}
