package sarama_test

import (
	"strings"
	"testing"

	"github.com/IBM/sarama"
)

// What the CLI's help says of Sarama's defaults is checked against the
// Sarama this module builds with: a Sarama that changes a default fails
// here until the text follows.
func TestHelpClaimsMatchSaramaDefaults(t *testing.T) {
	cfg := sarama.NewConfig()
	if cfg.Producer.RequiredAcks != sarama.WaitForLocal || cfg.Producer.Idempotent {
		t.Fatalf("Sarama's producer defaults changed (acks %d, idempotent %v): update `rewind produce --help` and the README",
			cfg.Producer.RequiredAcks, cfg.Producer.Idempotent)
	}
	if cfg.Consumer.Offsets.Initial != sarama.OffsetNewest || !cfg.Consumer.Group.ResetInvalidOffsets {
		t.Fatalf("Sarama's consumer defaults changed (initial %d, reset invalid %v): update `rewind group explain`",
			cfg.Consumer.Offsets.Initial, cfg.Consumer.Group.ResetInvalidOffsets)
	}
	produce := cli.Must(t, "", "produce", "--help")
	for _, want := range []string{"Sarama defaults to acks=1, WaitForLocal, without idempotence"} {
		if !strings.Contains(strings.Join(strings.Fields(produce), " "), want) {
			t.Errorf("rewind produce --help lacks %q:\n%s", want, produce)
		}
	}
	if strings.Contains(produce, "Sarama do by default") {
		t.Errorf("rewind produce --help still claims acks=all and idempotence are Sarama's defaults:\n%s", produce)
	}
	explain := cli.Must(t, "", "group", "explain", "--help")
	if !strings.Contains(explain, "Sarama Consumer.Offsets.Initial\n(OffsetNewest by default)") {
		t.Errorf("rewind group explain --help no longer names Sarama's initial offset default:\n%s", explain)
	}
}
